"""The time fullbars acts at. FULLBARS_NOW (ISO 8601 date or time, UTC) stands in for the clock,
so a policy's window can be crossed in a test or replayed by an operator."""

from __future__ import annotations

import datetime as dt
import os
import time

from orchestrator.errors import FullbarsError


def now() -> dt.datetime:
    """FULLBARS_NOW=TIME stands still at TIME; FULLBARS_NOW=TIME@EPOCH says it was TIME when the
    machine's clock read EPOCH (Unix seconds) and runs on from there, so a long-running process
    (a worker's timers) can be shown a window ending a few seconds after it starts."""
    text = os.environ.get("FULLBARS_NOW")
    if not text:
        return dt.datetime.now(dt.timezone.utc)
    when, _, epoch = text.partition("@")
    try:
        t = dt.datetime.fromisoformat(when)
        ran = time.time() - float(epoch) if epoch else 0.0
    except ValueError:
        raise FullbarsError(f"FULLBARS_NOW={text!r} is not an ISO 8601 date or time, optionally @ Unix seconds",
                            fix="write it as 2026-07-01, 2026-07-01T09:00:00 or 2026-06-30T23:59:50@1790000000") from None
    # in UTC, as the machine's clock is read: a day (`.date()`) is UTC's wherever the offset was
    return (t.astimezone(dt.timezone.utc) if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)) + dt.timedelta(seconds=ran)


def end_of_day(date: str) -> dt.datetime:
    """The last instant of a YYYY-MM-DD day, UTC."""
    d = dt.date.fromisoformat(date)
    return dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), dt.timezone.utc) - dt.timedelta(microseconds=1)


def add_months(date: str, months: int) -> str:
    d = dt.date.fromisoformat(date)
    y, m = divmod(d.month - 1 + months, 12)
    y, m = d.year + y, m + 1
    last = (dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(y, m, min(d.day, last)).isoformat()
