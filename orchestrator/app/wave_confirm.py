"""Confirm each wave by hand: a rollout started with confirm_waves applies each wave with a
confirmed commit and then holds, in state awaiting-confirm, until a NOC operator confirms (the
confirming commit is sent, the next wave follows) or rejects (the wave is rolled back, the change
fails). Nobody within the confirmed commit's timeout: the devices revert by themselves, and the
change fails saying so. The hold runs where the wave's transaction runs, inside its locks, before
its confirming commit (Transaction's checks); it polls the store, so whoever carries the rollout
(the CLI, the server's durable workflow after a restart) sees the same decision."""

from __future__ import annotations

import datetime as dt
import json
import time

from sqlalchemy import select

from orchestrator.acting import current
from orchestrator.app.change_states import act, get, move
from orchestrator.resources.store import AuditRow

WAIT_STEP = 0.5  # seconds between looks at the change's state while a wave awaits its confirm
# seconds left to the devices after the timeout, to take the wave back themselves before the
# transaction undoes what is left (netconfd fires its confirm timer a few seconds late)
GRACE = 5.0


def confirm(store, change_id: int) -> dict:
    """NOC: confirm the wave that awaits it; its confirming commit follows, then the next wave."""
    return act(store, change_id, "confirm", lambda s, row: {"wave": (awaiting(s, row.id) or {}).get("wave")})


def reject(store, change_id: int) -> dict:
    """NOC: reject the wave that awaits its confirm: it rolls back, and the change fails."""
    def why(s, row):
        wave = (awaiting(s, row.id) or {}).get("wave")
        row.error = f"wave {wave} was rejected by {current().name}: its devices are taken back (see the wave)"
        return {"wave": wave}
    return act(store, change_id, "reject", why)


def awaiting(s, change_id: int) -> dict | None:
    """The wave the change awaits a confirm for, its transaction and until when (UTC), or None."""
    row = get(s, change_id)
    if row.state != "awaiting-confirm":
        return None
    a = s.scalars(select(AuditRow).where(AuditRow.subject == f"change:{change_id}",
                                         AuditRow.action == "change-await-confirm")
                  .order_by(AuditRow.id.desc()).limit(1)).first()
    if a is None:
        return None
    d = json.loads(a.detail)
    return {"wave": d["wave"], "tx": d["tx"], "until": d["until"]}


def hold(store, change_id: int, wave: int, tx: str, confirm_timeout: int):
    """The check a wave's transaction runs before its confirming commit: [] once confirmed, else
    why the wave must not be confirmed (then the transaction rolls it back)."""
    def check() -> list[str]:
        until = time.monotonic() + confirm_timeout
        when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=confirm_timeout)
        with store.transaction() as s:
            row = get(s, change_id)
            if row.state not in ("rolling-out", "paused", "awaiting-confirm"):
                return [f"change {change_id} is {row.state}: wave {wave} is not confirmed"]
            move(s, row, "await-confirm", {"wave": wave, "tx": tx, "until": when.isoformat(timespec="seconds"),
                                           "confirm_timeout": confirm_timeout})
            s.flush()
            asked = _last_audit(s, change_id, "change-await-confirm")
        while time.monotonic() < until:
            state = _state(store, change_id)
            if state in ("rolling-out", "paused"):  # confirmed (and maybe paused since: the pause is for the next wave)
                return []
            if state != "awaiting-confirm":
                # Confirmed, then aborted before this look: the operator was told the wave is
                # confirmed, and an abort stops the waves after it, not this one.
                with store.transaction(write=False) as s:
                    if _last_audit(s, change_id, "change-confirm") > asked:
                        return []
                return [f"wave {wave} was not confirmed: the change is {state}"]
            time.sleep(WAIT_STEP)
        said = (f"nobody confirmed wave {wave} within its confirmed commit's {confirm_timeout} s: its devices "
                f"reverted by themselves")
        with store.transaction() as s:
            row = get(s, change_id)
            if row.state == "awaiting-confirm":
                row.error = said
                move(s, row, "fail", {"wave": wave, "tx": tx, "error": said})
        time.sleep(GRACE)
        return [said]
    return check


def _last_audit(s, change_id: int, action: str) -> int:
    """The id of the change's newest audit row of that action (0: none)."""
    from sqlalchemy import func

    return s.scalar(select(func.max(AuditRow.id)).where(AuditRow.subject == f"change:{change_id}",
                                                         AuditRow.action == action)) or 0


def _state(store, change_id: int) -> str:
    with store.transaction(write=False) as s:
        return get(s, change_id).state

