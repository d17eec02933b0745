"""Fault injection for tests of recovery: FULLBARS_FAULT_PAUSE=<point>[:seconds[:n]] holds this
process when it reaches <point> (an hour by default; only the n-th time it does, when n is
given), so a test can kill it, or a device, there. Points: a journal state a transaction is about
to record (rollout/transaction.py), `build` (a worker about to build a device, engine/builds.py)."""

from __future__ import annotations

import os
import time

_seen: dict[str, int] = {}  # per point: how often this process reached it


def at(point: str) -> None:
    want, _, rest = os.environ.get("FULLBARS_FAULT_PAUSE", "").partition(":")
    secs, _, nth = rest.partition(":")
    if want == point:
        _seen[point] = _seen.get(point, 0) + 1
        if not nth or int(nth) == _seen[point]:
            time.sleep(float(secs or 3600))
