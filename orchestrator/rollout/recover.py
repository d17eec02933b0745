"""Finish or undo transactions a dead fullbars process left in flight, from the journal.

Before the confirming step every device only holds an unconfirmed commit: cancel it (persist-id
= the transaction id), or find it already reverted by the device's own timeout. Once the
journal says `confirming`, the decision was made: confirm what is still pending; if a device
cannot be confirmed any more, undo the ones that were.
"""

from __future__ import annotations

from sqlalchemy import select

from orchestrator.netconf.compare import missing
from orchestrator.netconf.session import Session, rpc_error_text
from orchestrator.plan.diff import edits, schema_index
from orchestrator.devices.registry import KINDS
from orchestrator.resources.store import Store, TransactionRow, TxDeviceRow, _now
from orchestrator.rollout.targets import from_label

IN_FLIGHT = ("started", "editing", "committing", "verifying", "confirming")


def unfinished(store: Store) -> list[TransactionRow]:
    with store.transaction() as s:
        return list(s.scalars(select(TransactionRow).where(TransactionRow.state.in_(IN_FLIGHT))))


def recover(store: Store, network=None) -> list[dict]:
    out = []
    for tx in unfinished(store):
        with store.transaction() as s:
            rows = list(s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx == tx.id)))
        target = from_label(tx.target, network)
        notes, confirmed, stuck = {}, [], []
        for row in rows:
            try:
                sess = Session(target.endpoint(row.device), row.kind, row.intended, row.before or "")
            except Exception as e:
                notes[row.device] = f"unreachable: {rpc_error_text(e)}"
                stuck.append(row.device)
                continue
            try:
                if tx.state == "confirming":
                    try:
                        sess.commit(persist_id=tx.id)
                        notes[row.device] = "confirmed"
                        confirmed.append(row)
                    except Exception:
                        if not missing(row.intended, sess.running()):
                            notes[row.device] = "already confirmed"
                            confirmed.append(row)
                        else:
                            notes[row.device] = "had reverted"
                            stuck.append(row.device)
                else:
                    try:
                        sess.cancel(tx.id)
                        notes[row.device] = "cancel-commit: reverted"
                    except Exception:
                        if row.state in ("pending", "locked", "edited", "unchanged") or missing(row.intended, sess.running()):
                            notes[row.device] = "reverted by itself (confirm timeout) or never committed"
                        else:
                            _reverse(sess, row)
                            notes[row.device] = "reverse edit applied (no confirmed commit to cancel)"
            finally:
                sess.close()
        state = "committed" if tx.state == "confirming" and not stuck else "rolled-back"
        if tx.state == "confirming" and stuck:
            for row in confirmed:  # half confirmed: take the confirmed ones back
                try:
                    sess = Session(target.endpoint(row.device), row.kind, row.intended, row.before or "")
                    _reverse(sess, row)
                    sess.close()
                    notes[row.device] += "; undone with its reverse edit"
                except Exception as e:
                    notes[row.device] += f"; undo failed: {rpc_error_text(e)}"
                    state = "failed"
        with store.transaction() as s:
            t = s.get(TransactionRow, tx.id)
            t.state, t.updated_at = state, _now()
            t.summary = f"{tx.id}: {state} by recover (" + "; ".join(f"{d}: {n}" for d, n in sorted(notes.items())) + ")"
            for row in s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx == tx.id)):
                row.state = "rolled-back" if state == "rolled-back" else row.state
            Store.audit(s, "recover", tx.id, notes)
        out.append({"tx": tx.id, "was": tx.state, "now": state, "devices": notes})
    return out


def _reverse(sess: Session, row: TxDeviceRow) -> None:
    """Put the device back to the config it had when the transaction locked it."""
    current = sess.running_xml()
    edit, _, changed = edits(schema_index(KINDS.get(row.kind).models), current, row.before)
    if changed:
        sess.lock()
        try:
            sess.edit(edit)
            sess.commit()
        finally:
            sess.unlock()
