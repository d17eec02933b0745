"""Which business lines a selector (fullbars-types line-selector) covers."""

from __future__ import annotations

import difflib

from orchestrator.errors import Problem
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


def unmatched(intent, covered: list[str], lines: dict[str, dict]) -> list[Problem]:
    """Warnings for a selector that covers no line, and for each customer or line it names that
    no line has (a typo covers nobody silently), with the closest names there are.
    lines: every line's name and spec."""
    sel = intent.spec.get("selector", {})
    out = []
    known = {"customer": sorted({spec.get("customer") for spec in lines.values()} - {None}), "line": sorted(lines)}
    for key, names in known.items():
        for i, want in enumerate(sel.get(key) or []):
            if want in names:
                continue
            close = difflib.get_close_matches(want, names, n=3, cutoff=0.4)
            out.append(Problem(f"no line has {key} {want!r}", **intent.where(f"spec.selector.{key}[{i}]"),
                               fix=(f"closest {key}s: " + ", ".join(close)) if close else f"no {key} is close to it"))
    if not covered:
        out.insert(0, Problem(f"the selector ({describe(sel)}) covers no line", **intent.where("spec.selector"),
                              fix=None if out else "check the selector's criteria against `fullbars status`"))
    return out


def describe(sel: dict) -> str:
    parts = []
    for key, val in sorted(sel.items()):
        if val in (None, [], ""):
            continue
        parts.append(f"{key} {', '.join(map(str, val)) if isinstance(val, list) else val}")
    return "; ".join(parts) or "every line"
