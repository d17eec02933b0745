"""What every rollout in waves shares, by OLTs (waves.py) or by devices (device_waves.py): the
split into a canary and even waves, the stop at a failed wave, and the row of a wave that an
earlier attempt (a process that died) committed."""

from __future__ import annotations

import json


def split(units: list[str], canary: int, waves: int) -> list[list[str]]:
    """Canary first, then the rest shared as evenly as possible over at most `waves` waves."""
    if not units:
        return []
    first, rest = units[:canary], units[canary:]
    out = [first]
    if rest:
        n = min(waves, len(rest))
        size, extra = divmod(len(rest), n)
        i = 0
        for k in range(n):
            take = size + (1 if k < extra else 0)
            out.append(rest[i:i + take])
            i += take
    return out


def stopped(report: dict, wp: dict, w: dict, rep: dict, took: float, say) -> bool:
    """Whether wave w's transaction failed; then the report says so, and which waves never started."""
    if rep["outcome"] in ("committed", "unchanged"):
        return False
    report["outcome"] = "stopped"
    say(f"  {w['name']}: {rep['outcome'].upper()} in {took:.1f} s: {rep['summary']}")
    report["not_started"] = [x["name"] for x in wp["waves"] if x["wave"] > w["wave"]]
    if report["not_started"]:
        say(f"  not started: {', '.join(report['not_started'])}")
    return True


def journal_row(w: dict, tx) -> dict:
    """The report row of a wave whose transaction tx (a journal row) an earlier attempt committed:
    the wave is not applied again. Its devices are the wave's own where the wave names them, else
    those the transaction changed."""
    rep = json.loads(tx.report or "{}")
    return {"devices": sorted(rep.get("devices", {})), **w, "outcome": "committed", "tx": tx.id,
            "seconds": rep.get("wall_s", 0.0), "failed": [], "summary": tx.summary or "", "connected": [],
            "recovered": True, "device_s": {d: v.get("seconds") for d, v in rep.get("devices", {}).items()}}
