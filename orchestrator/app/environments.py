"""Environments: their description (whether applying needs lab evidence), their drift, history,
suspensions, and undoing one of their transactions."""

from __future__ import annotations

from orchestrator.app.users import require
from orchestrator.errors import FullbarsError


def describe(store, label: str, evidence: str | None = None, description: str | None = None) -> dict:
    """{environment, evidence, description, default}; with evidence or description, changed first."""
    from orchestrator.rollout.environments import describe as do

    change = evidence is not None or description is not None
    require("environments.write" if change else "read")
    with store.transaction(write=change) as s:
        d = do(s, label, evidence, description)
        if change:
            from orchestrator.resources.store import Store

            Store.audit(s, "environment", label, {"evidence": d["evidence"], "description": d["description"]})
    return d


def known(store) -> list[str]:
    """Every environment the store knows of: described, given configs, or applied to."""
    from sqlalchemy import select

    from orchestrator.resources.store import DeviceConfigRow, EnvironmentRow, TransactionRow

    require("read")
    with store.transaction(write=False) as s:
        names = set(s.scalars(select(EnvironmentRow.name))) | set(s.scalars(select(DeviceConfigRow.environment))) \
            | set(s.scalars(select(TransactionRow.target)))
    return sorted(names)


def drift(store, target) -> list[dict]:
    """Per device of the environment: in sync, or its differences (reads the devices)."""
    from orchestrator.rollout.drift import check

    require("read")
    return check(store, target)


def suspensions(store) -> list[dict]:
    from orchestrator.rollout.suspension import listing

    require("read")
    return listing(store)


def history(store, limit: int = 20, environment: str | None = None):
    from orchestrator.rollout.transaction import history as hist

    require("read")
    return hist(store, limit, environment)


def rollback(store, tx: str, network, confirm_timeout: int = 120, progress=None) -> dict:
    """Undo a committed transaction: its devices get back the configs they had before it, and its
    services come back with them, as a new transaction. network: a callable giving the network
    description (asked only for an environment that is not a lab). {recovered: transactions a
    dead process left that were finished first, notes: warnings, report: the new transaction's}."""
    from orchestrator.resources.service_versions import rollback_hook
    from orchestrator.resources.store import TransactionRow
    from orchestrator.rollout.recover import recover, unfinished
    from orchestrator.rollout.targets import from_label
    from orchestrator.rollout.transaction import Change, Transaction, devices_of

    require("changes.rollout")
    with store.transaction() as s:
        row = s.get(TransactionRow, tx)
    if row is None or row.state != "committed":
        raise FullbarsError(f"no committed transaction {tx}", fix="see `fullbars history`")
    net = network() if not row.target.startswith("lab:") else None
    tgt = from_label(row.target, net)
    recovered = recover(store, net) if unfinished(store) else []
    changes = [Change(d.device, d.kind, tgt.endpoint(d.device), d.before) for d in devices_of(store, tx)]
    notes, services_back = rollback_hook(store, tx)  # the services return with the devices
    rep = Transaction(store, changes, row.target, kind="rollback", confirm_timeout=confirm_timeout,
                      progress=progress, on_commit=services_back).run()
    return {"recovered": recovered, "notes": notes, "report": rep}
