"""Finish or undo transactions that did not end cleanly, from the journal, and say per device
what really happened, read back from the device.

A transaction a dead process left before its confirming step, and the devices a failed
transaction could not reach while rolling back (in doubt), go back to the config they had:
cancel-commit with persist-id = the transaction id (a devsim agent re-arms a persistent confirmed
commit when it restarts), else an edit from what the device runs now. Once the journal says
`confirming`, the decision was made: confirm what is still pending; if a device no longer runs
the new config, undo the ones that do. A device that cannot be reached stays in doubt and its
transaction stays unfinished; later transactions refuse that device until recover reaches it.
A transaction whose process still runs (rollout/lease.py) is left alone and said to be running.
The outcome and the store's record of the devices' configs are written in one store transaction.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from orchestrator.errors import FullbarsError
from orchestrator.netconf.session import Session, rpc_error_text
from orchestrator.resources.service_versions import committed_from
from orchestrator.resources.store import Store, TransactionRow, TxDeviceRow, _now
from orchestrator.rollout.journal import IN_DOUBT, IN_FLIGHT, remember_configs, unfinished
from orchestrator.rollout.lease import alive, describe
from orchestrator.rollout.revert import NotReverted, confirm, revert
from orchestrator.rollout.targets import from_label

__all__ = ["recover", "unfinished"]

UNTOUCHED = ("pending", "not-reached")  # the journal never saw it locked: nothing of the transaction reached it


def recover(store: Store, network=None, devices=None, endpoints=None) -> list[dict]:
    """devices: only transactions touching one of them (all when None). endpoints: {device:
    Endpoint} to use instead of the transaction's recorded target (a caller that already knows
    where the devices are); a transaction whose target needs a network description that was not
    given is left for a `recover` that has it."""
    out = []
    for tx in unfinished(store):
        with store.transaction() as s:
            rows = list(s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx == tx.id)))
        if devices is not None and not {r.device for r in rows} & set(devices):
            continue
        if tx.state in IN_FLIGHT and alive(tx.owner, tx.lease_until):
            # a live process's: undoing it would pull the config from under its confirm
            out.append({"tx": tx.id, "was": tx.state, "now": tx.state, "devices": {}, "running": describe(tx.owner)})
            continue
        try:
            target = from_label(tx.target, network)
        except FullbarsError:
            if endpoints is None or not {r.device for r in rows} <= set(endpoints):
                if endpoints is None:
                    raise
                continue
            target = None
        ep = (lambda d: endpoints[d] if endpoints and d in endpoints else target.endpoint(d))
        out.append(_one(store, tx, rows, ep))
    return out


def _on_device(ep, tx: str, row: TxDeviceRow, step) -> tuple[str, str]:
    """(state, note) of step(session) on one device; unreachable or broken: in doubt."""
    try:
        sess = Session(ep(row.device), row.kind, row.intended, row.before or "")
    except Exception as e:
        return IN_DOUBT, f"in doubt: unreachable ({rpc_error_text(e)}); persist-id {tx}"
    try:
        return step(sess)
    except NotReverted as e:
        return "rollback-failed", str(e)
    except Exception as e:
        return IN_DOUBT, f"in doubt: {rpc_error_text(e)}; persist-id {tx}"
    finally:
        sess.close()


def _back(ep, tx: str, row: TxDeviceRow) -> tuple[str, str]:
    """Take one device back to its config before tx."""
    return _on_device(ep, tx, row, lambda s: ("rolled-back", revert(s, row.kind, row.before, tx)))


def _forward(ep, tx: str, row: TxDeviceRow) -> tuple[str, str]:
    """Confirm tx on one device; ("reverted", ...) when it no longer runs the new config."""
    def step(s):
        how = confirm(s, row.kind, row.intended, row.before, tx)
        return ("confirmed", how) if how else ("reverted", "had reverted by itself (confirm timeout or restart)")
    return _on_device(ep, tx, row, step)


def _one(store: Store, tx: TransactionRow, rows: list[TxDeviceRow], ep) -> dict:
    notes: dict[str, str] = {}
    states: dict[str, str] = {}
    if tx.state == "confirming":
        touched = [r for r in rows if r.state not in ("unchanged", *UNTOUCHED)]
        for r in touched:
            states[r.device], notes[r.device] = _forward(ep, tx.id, r)
        if IN_DOUBT in states.values():
            state = "confirming"  # undecidable until every device answers: try again later
        elif "reverted" in states.values():  # the new config did not hold everywhere: all go back
            for r in touched:
                st, how = _back(ep, tx.id, r)
                notes[r.device] += f"; {how}"
                states[r.device] = st
            state = _old_outcome(states)
        else:
            state = "committed"
    else:
        # a dead process's transaction: every device it touched; a failed one: those in doubt
        # (no `before`: its running config was never read, so nothing was committed to it)
        todo = [r for r in rows if r.before and (r.state == IN_DOUBT if tx.state == IN_DOUBT else r.state not in UNTOUCHED)]
        for r in todo:
            states[r.device], notes[r.device] = _back(ep, tx.id, r)
        for r in rows:
            if r.device not in states and tx.state in IN_FLIGHT:
                states[r.device], notes[r.device] = "rolled-back", "never reached"
        state = _old_outcome(states) if tx.state in IN_FLIGHT else (
            IN_DOUBT if IN_DOUBT in states.values() else _old_outcome(states))
    with store.transaction() as s:
        t = s.get(TransactionRow, tx.id)
        t.state, t.updated_at = state, _now()
        t.summary = f"{tx.id}: {state} by recover (" + "; ".join(f"{d}: {n}" for d, n in sorted(notes.items())) + ")"
        for row in s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx == tx.id)):
            if row.device in states:
                row.state = states[row.device]
        if state == "committed":
            remember_configs(s, tx.id, tx.kind, tx.target, [(r.device, r.kind, r.intended) for r in rows],
                             owners={r.device: r.owners_intended for r in rows if r.owners_intended})
            pending = json.loads(tx.report or "{}").get("services_pending")
            if pending:  # the services' records the dead process would have written with its outcome
                committed_from(pending)(s, tx.id)
        Store.audit(s, "recover", tx.id, notes)
    return {"tx": tx.id, "was": tx.state, "now": state, "devices": notes}


def _old_outcome(states: dict[str, str]) -> str:
    if IN_DOUBT in states.values():
        return IN_DOUBT
    if "rollback-failed" in states.values():
        return "failed"
    return "rolled-back"
