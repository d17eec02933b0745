"""Which business lines a selector (fullbars-types line-selector) covers."""

from __future__ import annotations

from orchestrator.network.model import bps


def covers(sel: dict, name: str, spec: dict, olt: str | None, downstream_bps: int | None = None) -> bool:
    """Every criterion given must hold. olt is where the line is (None: not placed yet);
    downstream_bps is its rate before the change that asks (None: its own spec's)."""
    if sel.get("line") and name not in sel["line"]:
        return False
    if sel.get("customer") and spec.get("customer") not in sel["customer"]:
        return False
    for key in ("site", "building", "customer-class"):
        if sel.get(key) is not None and spec.get(key) != sel[key]:
            return False
    if sel.get("olt") and olt not in sel["olt"]:
        return False
    years = spec.get("tenure-years", 0)
    if sel.get("min-tenure-years") is not None and years < sel["min-tenure-years"]:
        return False
    if sel.get("max-tenure-years") is not None and years > sel["max-tenure-years"]:
        return False
    if sel.get("downstream") is not None:
        have = downstream_bps if downstream_bps is not None else bps(spec.get("rates", {}).get("downstream", "500M"))
        if have != bps(sel["downstream"]):
            return False
    return True


def describe(sel: dict) -> str:
    parts = []
    for key, val in sorted(sel.items()):
        if val in (None, [], ""):
            continue
        parts.append(f"{key} {', '.join(map(str, val)) if isinstance(val, list) else val}")
    return "; ".join(parts) or "every line"
