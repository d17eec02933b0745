"""The life of a change request as one table, TRANSITIONS: (state, event) → next state; any
other move is refused (Conflict) naming what the state allows. Every move is audited, and who may
cause each event is asked of the roles' table (users.PERMISSIONS) and the four-eyes rule."""

from __future__ import annotations

import json

from orchestrator.acting import current
from orchestrator.app.errors import Conflict, NotAllowed, NotFound
from orchestrator.app.users import may, require
from orchestrator.resources.store import ChangeRow, Store, _now

# (state, event) → next state: the whole life of a change request.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("planned", "attach-passing"): "verified",
    ("planned", "attach-failing"): "lab-failed",
    ("lab-failed", "attach-passing"): "verified",
    ("lab-failed", "attach-failing"): "lab-failed",
    ("verified", "approve"): "approved",
    ("approved", "start"): "rolling-out",
    # confirm each wave: a wave's confirmed commit waits here for a NOC operator (or its timeout)
    ("rolling-out", "await-confirm"): "awaiting-confirm",
    ("paused", "await-confirm"): "awaiting-confirm",  # paused while its commit ran: the wave still asks
    ("awaiting-confirm", "await-confirm"): "awaiting-confirm",  # a recovered wave, applied again, asks again
    ("awaiting-confirm", "confirm"): "rolling-out",
    ("awaiting-confirm", "reject"): "failed",
    ("awaiting-confirm", "abort"): "aborted",
    ("awaiting-confirm", "fail"): "failed",  # nobody confirmed in time: the devices reverted by themselves
    # the health gate before a wave: a confirmed wave's device no longer runs the plan (health_gate.py)
    ("rolling-out", "gate-fail"): "paused",
    ("awaiting-confirm", "gate-fail"): "paused",
    ("rolling-out", "pause"): "paused",
    ("paused", "resume"): "rolling-out",
    ("rolling-out", "abort"): "aborted",
    ("paused", "abort"): "aborted",
    ("rolling-out", "finish"): "done",
    ("rolling-out", "fail"): "failed",
    ("paused", "fail"): "failed",
    ("done", "roll-back"): "rolled-back",
    ("failed", "roll-back"): "rolled-back",
    ("aborted", "roll-back"): "rolled-back",
    ("planned", "withdraw"): "withdrawn",
    ("lab-failed", "withdraw"): "withdrawn",
    ("verified", "withdraw"): "withdrawn",
    ("approved", "withdraw"): "withdrawn",
}
STATES = sorted({s for s, _ in TRANSITIONS} | set(TRANSITIONS.values()))
# the states in which a change's bundle may still go to devices
OPEN = ("planned", "lab-failed", "verified", "approved", "rolling-out", "paused", "awaiting-confirm")
# what each event needs of the acting user (the API asks the same table: one authority)
EVENT_PERMISSION = {"attach-passing": "changes.evidence", "attach-failing": "changes.evidence",
                    "approve": "changes.approve", "start": "changes.rollout", "pause": "changes.rollout",
                    "resume": "changes.rollout", "abort": "changes.rollout", "roll-back": "changes.rollout",
                    "confirm": "changes.rollout", "reject": "changes.rollout",
                    "withdraw": "changes.withdraw"}
def allowed(row: ChangeRow, event: str, actor=None) -> bool:
    """May this actor cause this event now? (the state machine, their role, and four-eyes)"""
    actor = actor or current()
    if event not in EVENT_PERMISSION:  # the rollout's own moves (finish, fail): no one causes them
        return False
    if (row.state, event) not in TRANSITIONS or not may(actor, EVENT_PERMISSION[event]):
        return False
    if event == "approve" and actor.name == row.submitter:
        return False
    if event == "withdraw" and actor.name != row.submitter:
        return False
    return True


def move(s, row: ChangeRow, event: str, detail: dict | None = None) -> None:
    """Apply one transition (refused unless the table has it), and audit it."""
    nxt = TRANSITIONS.get((row.state, event))
    if nxt is None:
        can = sorted(e for (st, e) in TRANSITIONS if st == row.state)
        raise Conflict(f"change {row.id} is {row.state}: it cannot {event}", path="state",
                       fix=f"in state {row.state} it can: {', '.join(can) or 'nothing more'}")
    was, row.state, row.updated_at = row.state, nxt, _now()
    Store.audit(s, f"change-{event}", f"change:{row.id}",
                {"from": was, "to": nxt, "bundle": row.bundle_id, "target": row.target, **(detail or {})})


def get(s, change_id: int) -> ChangeRow:
    row = s.get(ChangeRow, change_id)
    if row is None:
        raise NotFound(f"no change request {change_id}", path="id", fix="see the list of change requests")
    return row


def act(store, change_id: int, event: str, check=None, detail: dict | None = None) -> dict:
    """One event by the acting user, authorised, in one store transaction."""
    require(EVENT_PERMISSION[event])
    with store.transaction() as s:
        row = get(s, change_id)
        if event == "approve" and current().name == row.submitter:
            raise NotAllowed(f"{row.submitter} submitted change {row.id}: someone else must approve it (four-eyes)",
                             path="approver", fix="ask another NOC operator to approve it")
        if event == "withdraw" and current().name != row.submitter:
            raise NotAllowed(f"only {row.submitter}, who submitted change {row.id}, may withdraw it", path="submitter")
        extra = check(s, row) if check else None
        move(s, row, event, {**(detail or {}), **(extra or {})})
        return view(s, row)


def view(s, row: ChangeRow) -> dict:
    return {"id": row.id, "title": row.title, "submitter": row.submitter, "target": row.target, "state": row.state,
            "bundle_id": row.bundle_id, "bundle_dir": row.bundle_dir, "intents": sorted(json.loads(row.intents)),
            "verification_id": row.verification_id, "approver": row.approver, "error": row.error,
            "created_at": row.created_at, "updated_at": row.updated_at}
