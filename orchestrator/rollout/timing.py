"""Where a transaction's time goes, per device and step, so the limit of an apply is visible.

The steps of one device, in order: SSH + hello (connect), discard + lock (lock), get-config
(read), the edit computed here from the kind's schema (diff: it waits for the models' compilation
if that is not done yet), edit-config (edit), the (confirmed) commit (commit), get-config again
(read-back), the confirming commit (confirm), close-session, which releases the lock, or unlock
for a session kept for the next wave (close). All but diff are round trips to the agent: the time
the agent takes is in them.
"""

from __future__ import annotations

import contextlib
import statistics
import time

STEPS = ("connect", "lock", "read", "diff", "edit", "commit", "read-back", "confirm", "close")


@contextlib.contextmanager
def timed(steps: dict[str, float], step: str):
    """Add the time the block takes to steps[step] (a step may run more than once)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        steps[step] = steps.get(step, 0.0) + time.perf_counter() - t0


def breakdown(per_device: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per step over the devices that ran it: how many, the median, the slowest and the sum."""
    out = {}
    for step in STEPS:
        secs = [s[step] for s in per_device.values() if step in s]
        if secs:
            out[step] = {"devices": len(secs), "median": round(statistics.median(secs), 4),
                         "max": round(max(secs), 4), "sum": round(sum(secs), 3)}
    return out


def describe(rep: dict) -> list[str]:
    """The breakdown of a transaction report as lines for a person."""
    b = rep.get("breakdown", {})
    if not b:
        return []
    out = [f"  {'step':10} {'devices':>7} {'median':>9} {'slowest':>9}   (seconds per device)"]
    for step, v in b.items():
        out.append(f"  {step:10} {v['devices']:>7} {v['median']:>9.4f} {v['max']:>9.4f}")
    wall = rep.get("wall_s")
    if wall:
        out.append(f"  wall {wall:.2f} s; this process used {rep.get('cpu_s', 0):.2f} s of CPU "
                   f"(the rest of the wall time it waited for agents and SSH peers)")
    return out
