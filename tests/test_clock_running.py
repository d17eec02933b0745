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
