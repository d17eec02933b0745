"""What every rollout in waves shares, by OLTs (waves.py) or by devices (device_waves.py): the
split into a canary and even waves, and the stop at a failed wave."""

from __future__ import annotations


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
    if rep["outcome"] == "committed":
        return False
    report["outcome"] = "stopped"
    say(f"  {w['name']}: {rep['outcome'].upper()} in {took:.1f} s: {rep['summary']}")
    report["not_started"] = [x["name"] for x in wp["waves"] if x["wave"] > w["wave"]]
    if report["not_started"]:
        say(f"  not started: {', '.join(report['not_started'])}")
    return True
