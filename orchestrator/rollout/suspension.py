"""Suspending a line and giving it back. A suspension is a fact in the store that the line's
service reads when it renders (the BNG sub-interface is disabled), so resuming renders exactly
the config the line had before. A suspension for arrears on a line an ArrearsGrace policy
covers is held, audited, and carried out by `fullbars suspend --due` once the window is over."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from orchestrator import clock
from orchestrator.errors import FullbarsError
from orchestrator.resources.store import AllocationRow, Store, SuspensionRow
from orchestrator.services.selector import covers

REASONS = ("arrears", "request", "fraud")


def _line(s, name: str):
    rows = Store.intents(s)
    row = rows.get(name)
    if row is None or row.kind != "BusinessBroadband":
        lines = sorted(n for n, r in rows.items() if r.kind == "BusinessBroadband")
        raise FullbarsError(f"no business line named {name!r} in the store",
                            fix="lines: " + (", ".join(lines[:8]) + (" ..." if len(lines) > 8 else "") if lines
                                             else "none yet; plan and apply one first"))
    return row


def covering_policy(s, name: str, spec: dict, arrears_month: str | None = None):
    """The ArrearsGrace policy (name, spec) that keeps this line in service now, if any."""
    olt = None
    for pool in s.scalars(select(AllocationRow.pool).where(AllocationRow.owner == name,
                                                           AllocationRow.purpose == "onu-id")):
        olt = pool.split(":", 1)[1].split("/", 1)[0]
    now = clock.now()
    best = None
    for pname, row in sorted(Store.intents(s).items()):
        if row.kind != "ArrearsGrace":
            continue
        p = json.loads(row.spec)
        if now > clock.end_of_day(p["keep-in-service-until"]):
            continue
        if arrears_month and not (p["arrears"]["from"] <= arrears_month <= p["arrears"]["to"]):
            continue
        if covers(p.get("selector", {}), name, spec, olt):
            if best is None or p["keep-in-service-until"] > best[1]["keep-in-service-until"]:
                best = (pname, p)
    return best


def _apply_line(store, name: str, target, confirm_timeout: int, progress):
    from orchestrator.plan.pipeline import plan
    from orchestrator.rollout.apply import apply

    result = plan(store, None, stored=[name], environment=target.label)
    result.devices = [d for d in result.devices if d.changed]
    if not result.devices:
        return {"outcome": "committed", "tx": "", "summary": "no device needed a change", "failed": []}
    return apply(store, result, target, confirm_timeout, progress=progress, kind="suspension")


def suspend(store: Store, name: str, reason: str, target, arrears_month: str | None = None,
            confirm_timeout: int = 120, progress=None) -> dict:
    if reason not in REASONS:
        raise FullbarsError(f"unknown reason {reason!r}", fix=f"use one of: {', '.join(REASONS)}")
    now = clock.now().isoformat(timespec="seconds")
    with store.transaction() as s:
        row = _line(s, name)
        active = s.scalars(select(SuspensionRow).where(SuspensionRow.line == name,
                                                       SuspensionRow.state == "active")).first()
        if active is not None:
            raise FullbarsError(f"line {name} is already suspended ({active.reason}, since {active.done_at})",
                                fix=f"fullbars resume {name} first to change the reason")
        policy = covering_policy(s, name, json.loads(row.spec), arrears_month) if reason == "arrears" else None
        if policy is not None:
            pname, p = policy
            due = clock.end_of_day(p["keep-in-service-until"]).isoformat(timespec="seconds")
            held = s.scalars(select(SuspensionRow).where(SuspensionRow.line == name,
                                                         SuspensionRow.state == "held")).first()
            if held is None:
                held = SuspensionRow(line=name, reason=reason, state="held", policy=pname, due=due, asked_at=now)
                s.add(held)
                s.flush()  # its id names its grace timer
            Store.audit(s, "suspend-held", name, {"reason": reason, "policy": pname, "until": due, "at": now})
            return {"line": name, "outcome": "held", "policy": pname, "until": p["keep-in-service-until"],
                    "repay-by": clock.add_months(p["keep-in-service-until"], p.get("repay-months", 3)),
                    "summary": f"line {name} is kept in service by policy {pname} (arrears "
                               f"{p['arrears']['from']} to {p['arrears']['to']}) until the end of "
                               f"{p['keep-in-service-until']}; the suspension is held and will be carried out "
                               f"by its grace timer (a `fullbars worker`) or `fullbars suspend --due` after that", "due": due,
                    "hold": held.id}
        held = [h.id for h in s.scalars(select(SuspensionRow).where(SuspensionRow.line == name,
                                                                     SuspensionRow.state == "held"))]
        sus = SuspensionRow(line=name, reason=reason, state="active", asked_at=now, done_at=now)
        s.add(sus)  # active while the line is planned, so it renders suspended
    try:
        rep = _apply_line(store, name, target, confirm_timeout, progress)
    except BaseException:  # stopped before any device was asked (no target, bad plan): undo the row
        with store.transaction() as s:
            s.delete(s.get(SuspensionRow, sus.id))
        raise
    with store.transaction() as s:
        if rep["outcome"] != "committed":
            row = s.get(SuspensionRow, sus.id)
            row.state, row.tx = "failed", rep["tx"]  # rolled back: the line is not suspended
            Store.audit(s, "suspend-failed", name, {"reason": reason, "tx": rep["tx"], "why": rep["summary"]})
            summary = rep["summary"]
            if held:  # the held suspension stays held: the next `suspend --due` tries again
                summary += f"; line {name} is not suspended and its held suspension stays held for the next --due"
            return {"line": name, "outcome": "failed", "summary": summary, "tx": rep["tx"]}
        s.get(SuspensionRow, sus.id).tx = rep["tx"]
        for hid in held:  # carried out now by the active row: nothing is left to hold
            s.get(SuspensionRow, hid).state = "carried-out"
        Store.audit(s, "suspend", name, {"reason": reason, "tx": rep["tx"], "at": now})
    return {"line": name, "outcome": "suspended", "tx": rep["tx"], "summary": f"line {name} suspended ({reason})"}


def resume(store: Store, name: str, target, confirm_timeout: int = 120, progress=None) -> dict:
    now = clock.now().isoformat(timespec="seconds")
    with store.transaction() as s:
        _line(s, name)
        active = s.scalars(select(SuspensionRow).where(SuspensionRow.line == name,
                                                       SuspensionRow.state == "active")).first()
        held = list(s.scalars(select(SuspensionRow).where(SuspensionRow.line == name,
                                                          SuspensionRow.state == "held")))
        for h in held:  # paid before the window ended: nothing left to carry out
            h.state = "withdrawn"
            Store.audit(s, "suspend-withdrawn", name, {"policy": h.policy, "at": now})
        if active is None:
            if held:
                return {"line": name, "outcome": "withdrawn",
                        "summary": f"line {name} was not suspended; the held suspension is withdrawn"}
            raise FullbarsError(f"line {name} is not suspended", fix="see `fullbars suspensions`")
        active.state = "ended"
        active_id = active.id
    try:
        rep = _apply_line(store, name, target, confirm_timeout, progress)
    except BaseException:  # no device was asked: the line is still suspended
        with store.transaction() as s:
            s.get(SuspensionRow, active_id).state = "active"
        raise
    with store.transaction() as s:
        row = s.get(SuspensionRow, active_id)
        if rep["outcome"] != "committed":
            row.state = "active"
            Store.audit(s, "resume-failed", name, {"tx": rep["tx"], "why": rep["summary"]})
            return {"line": name, "outcome": "failed", "summary": rep["summary"], "tx": rep["tx"]}
        Store.audit(s, "resume", name, {"tx": rep["tx"], "at": now})
    return {"line": name, "outcome": "resumed", "tx": rep["tx"], "summary": f"line {name} is back in service"}


def due(store: Store, target, confirm_timeout: int = 120, progress=None, lines: list[str] | None = None) -> list[dict]:
    """Carry out the held suspensions whose policy window is over (and no other policy covers);
    lines: only these lines' (a grace window's timer)."""
    now = clock.now()
    out = []
    with store.transaction() as s:
        held = [h for h in s.scalars(select(SuspensionRow).where(SuspensionRow.state == "held"))
                if now > dt.datetime.fromisoformat(h.due) and (lines is None or h.line in lines)]
        known = Store.intent_meta(s, {h.line for h in held})  # by key: not every intent, for a timer's one line
        for h in held:  # a line deleted meanwhile has nothing left to suspend: its hold ends here
            if h.line not in known:
                h.state = "withdrawn"
                Store.audit(s, "suspend-withdrawn", h.line, {"policy": h.policy, "why": "line deleted",
                                                             "at": now.isoformat(timespec="seconds")})
                out.append({"line": h.line, "outcome": "withdrawn",
                            "summary": f"line {h.line} was deleted: its held suspension is withdrawn"})
        ready = [(h.line, h.reason) for h in held if h.line in known]
    for line, reason in sorted(set(ready)):
        out.append(suspend(store, line, reason, target, confirm_timeout=confirm_timeout, progress=progress))
    return out


def listing(store: Store) -> list[dict]:
    with store.transaction() as s:
        return [{"line": r.line, "reason": r.reason, "state": r.state, "policy": r.policy, "due": r.due,
                 "asked": r.asked_at, "done": r.done_at, "tx": r.tx}
                for r in s.scalars(select(SuspensionRow).order_by(SuspensionRow.id))]
