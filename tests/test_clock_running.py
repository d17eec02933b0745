"""FULLBARS_NOW=TIME@EPOCH: an injected clock that runs (a worker's timers see a window end)."""

from __future__ import annotations

import pytest

from orchestrator import clock
from orchestrator.errors import FullbarsError


def test_an_injected_clock_runs_on_from_its_epoch(monkeypatch):
    monkeypatch.setattr(clock.time, "time", lambda: 1_000_090.5)  # 90.5 s after the epoch given below
    monkeypatch.setenv("FULLBARS_NOW", "2026-06-30T23:59:00@1000000")
    assert clock.now().isoformat() == "2026-07-01T00:00:30.500000+00:00"
    assert clock.now() > clock.end_of_day("2026-06-30")
    monkeypatch.setenv("FULLBARS_NOW", "2026-06-30T23:59:00")  # without an epoch it stands still
    assert clock.now().isoformat() == "2026-06-30T23:59:00+00:00"


def test_an_injected_clock_with_a_bad_epoch_is_refused(monkeypatch):
    monkeypatch.setenv("FULLBARS_NOW", "2026-06-30T23:59:00@soon")
    with pytest.raises(FullbarsError) as e:
        clock.now()
    assert "@ Unix seconds" in e.value.render() and "2026-06-30T23:59:50@1790000000" in e.value.render()


def test_an_injected_time_with_an_offset_falls_on_utc_s_day(monkeypatch):
    """23:30 at -05:00 on the 7th is the 8th in UTC, as the machine's clock would say: the day a
    tenure or a grace window is counted on (it took the 7th, the offset's own date)."""
    import datetime as dt

    monkeypatch.setenv("FULLBARS_NOW", "2026-12-07T23:30:00-05:00")
    assert clock.now().date() == dt.date(2026, 12, 8) and clock.now().utcoffset() == dt.timedelta(0)
    monkeypatch.setenv("FULLBARS_NOW", "2026-12-08T00:30:00+01:00")
    assert clock.now().date() == dt.date(2026, 12, 7)
