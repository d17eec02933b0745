"""Environments: their description (whether applying needs lab evidence), their drift, history,
suspensions, and undoing one of their transactions."""

from __future__ import annotations

from orchestrator.app.errors import Conflict, NotFound
from orchestrator.app.users import require
from orchestrator.errors import FullbarsError, one_line


def describe(store, label: str, evidence: str | None = None, description: str | None = None) -> dict:
    """{environment, evidence, description, default}; with evidence or description, changed first."""
    from orchestrator.rollout.environments import describe as do

    change = evidence is not None or description is not None
    require("environments.write" if change else "read")
    from orchestrator.app.changes import ENV_NAME

    if label.startswith("env:") and not ENV_NAME.match(label[4:]):  # (read too: no such name is ever made)
        raise FullbarsError(f"{label[4:]!r} is not an environment name", path="environment",
                            fix="lower-case letters, digits and '-', starting with a letter (as a change's target)")
    if bad := one_line(description, "description", "description"):
        raise FullbarsError(bad)
    with store.transaction(write=change) as s:
        d = do(s, label, evidence, description)
        if change:
            from orchestrator.resources.store import Store

            Store.audit(s, "environment", label, {"evidence": d["evidence"], "description": d["description"]})
    return d


def known(store) -> list[str]:
    """Every environment the store knows of: described, given configs, or applied to."""
    from orchestrator.resources.store import Store

    require("read")
    with store.transaction(write=False) as s:
        return sorted(Store.environments(s))


def drift(store, label: str, network) -> list[dict]:
    """Per device of the environment (env:NAME, or a lab's label): in sync, or its differences
    (reads the devices). network(): the description env: devices are addressed by. Only an
    environment the store knows: a lab's label names a file on this machine, which a face must
    not open for whoever asks (it would read any file, and say so); it is an absolute path as the
    CLI records it, anything else came from no lab."""
    from orchestrator.rollout.drift import check
    from orchestrator.rollout.targets import from_label

    require("read")
    if label not in known(store) or (label.startswith("lab:") and not label[4:].startswith("/")):
        raise NotFound(f"no environment {label!r} is known here", path="environment",
                       fix="one of the environments listed (the overview, GET /api/environments)")
    return check(store, from_label(label, None if label.startswith("lab:") else network()))


def suspensions(store) -> list[dict]:
    from orchestrator.rollout.suspension import listing

    require("read")
    return listing(store)


def history(store, limit: int = 20, environment: str | None = None):
    from orchestrator.rollout.transaction import history as hist

    require("read")
    return hist(store, limit, environment)


def _refuse_if_changed_since(store, row) -> None:
    """A transaction is undone only while its devices still have what it gave them. Once a later
    one changed them, the configs from before it would also undo the later change on the
    devices (a line it deleted would come back), while the store keeps the later change: the two
    would disagree. Undone newest first, each rollback finds its devices as it left them."""
    from sqlalchemy import select

    from orchestrator.resources.store import Store, TransactionRow, TxDeviceRow
    from orchestrator.rollout.revert import differs

    with store.transaction() as s:
        mine = list(s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx == row.id)))
        live = _standing_since(s, row, {d.device for d in mine})
        if live:
            # Later changes that left the devices as this one did (a rate and back) are no less
            # there: the store keeps their services as they made them.
            touched = sorted({d for t in live.values() for d in t})
            raise Conflict(
                f"{', '.join(touched)} {'was' if len(touched) == 1 else 'were'} changed after {row.id} "
                f"(by {', '.join(live)}): the configs from before {row.id} would undo that later change on the "
                "devices too, while the store keeps it",
                fix=f"roll back {next(iter(live))} first (the newest first), then {row.id}; or plan the change you want")
        now = Store.device_configs(s, row.target, [d.device for d in mine])
        moved = sorted(d.device for d in mine if d.device in now and now[d.device].config != d.intended
                       and differs(d.kind, now[d.device].config, d.intended))
        if not moved:
            return
        later = list(s.execute(
            select(TransactionRow.id, TxDeviceRow.device).join(TxDeviceRow, TxDeviceRow.tx == TransactionRow.id)
            .where(TransactionRow.target == row.target, TransactionRow.state == "committed",
                   TransactionRow.created_at > row.created_at, TxDeviceRow.device.in_(moved))
            .order_by(TransactionRow.created_at.desc())))
    newer = list(dict.fromkeys(t for t, _ in later))
    if all(d.before and not differs(d.kind, now[d.device].config, d.before) for d in mine if d.device in moved):
        raise Conflict(f"{row.id} is undone already: its devices have the configs from before it"
                            + (f" again (since {newer[0]})" if newer else ""),
                            fix="nothing to roll back; `fullbars history` says what each transaction did")
    raise Conflict(
        f"{', '.join(moved)} {'was' if len(moved) == 1 else 'were'} changed after {row.id}"
        + (f" (by {', '.join(newer)})" if newer else "") + f": the configs from before {row.id} would undo "
        "that later change on the devices too, while the store keeps it",
        fix=(f"roll back {newer[0]} first (the newest first), then {row.id}; or plan the change you want"
             if newer else "plan the change you want"))


def _standing_since(s, row, devices: set[str]) -> dict[str, set[str]]:
    """The committed transactions after `row` on its environment that gave one of `devices`
    config and are not undone, newest first, each with those of the devices it gave config. A
    rollback undoes a transaction when it gave every device of it, and only those, the config it
    found there (environments.rollback builds it so)."""
    from sqlalchemy import select

    from orchestrator.resources.store import TransactionRow, TxDeviceRow
    from orchestrator.rollout.revert import differs

    later = list(s.execute(
        select(TransactionRow.id, TransactionRow.kind, TransactionRow.created_at)
        .join(TxDeviceRow, TxDeviceRow.tx == TransactionRow.id)
        .where(TransactionRow.target == row.target, TransactionRow.state == "committed",
               TransactionRow.created_at > row.created_at, TxDeviceRow.device.in_(sorted(devices)))
        .distinct().order_by(TransactionRow.created_at.desc())))
    if not later:
        return {}
    rows: dict[str, dict[str, TxDeviceRow]] = {}
    for d in s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx.in_([t for t, _, _ in later]))):
        rows.setdefault(d.tx, {})[d.device] = d
    rollbacks = [(t, at) for t, kind, at in later if kind == "rollback"]

    def alike(back: str, found: TxDeviceRow) -> bool:  # (_as_recorded gives it as recorded, not as read)
        return back == found.before or bool(back and found.before) and not differs(found.kind, found.before, back)

    def undone(t: str, at: str) -> bool:
        gave = rows[t]
        return any(later_at > at and rows[r].keys() == gave.keys()
                   and all(alike(rows[r][dev].intended, gave[dev]) for dev in gave)
                   for r, later_at in rollbacks)

    # a reconcile gave the devices back the record's configs: it changed nothing the store keeps
    return {t: rows[t].keys() & devices for t, kind, at in later
            if kind not in ("rollback", "reconcile") and not undone(t, at)}


def _as_recorded(store, row, d) -> str:
    """The config a rollback gives a device back, as the environment's record had it when `row`
    began (the config an earlier transaction gave it, printed as plans print), when the device ran
    just that; else as read from the device. The record is what later plans diff against: the
    reply as read (one unindented line) made every later diff the whole config."""
    from sqlalchemy import select

    from orchestrator.resources.store import TransactionRow, TxDeviceRow
    from orchestrator.rollout.revert import differs

    with store.transaction(write=False) as s:
        earlier = s.scalars(
            select(TxDeviceRow.intended).join(TransactionRow, TransactionRow.id == TxDeviceRow.tx)
            .where(TxDeviceRow.device == d.device, TransactionRow.target == row.target,
                   TransactionRow.state == "committed", TransactionRow.created_at < row.created_at)
            .order_by(TransactionRow.created_at.desc()).limit(1)).first()
    if earlier and d.before and earlier != d.before and not differs(d.kind, d.before, earlier):
        return earlier
    return d.before


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
    recovered = recover(store, net) if unfinished(store) else []
    _refuse_if_changed_since(store, row)
    tgt = from_label(row.target, net)
    # what each device ran, owned as the record it then had was (a config read back has no plan)
    changes = [Change(d.device, d.kind, tgt.endpoint(d.device), _as_recorded(store, row, d),
                      owners=d.owners_before or None) for d in devices_of(store, tx)]
    notes, services_back = rollback_hook(store, tx)  # the services return with the devices
    rep = Transaction(store, changes, row.target, kind="rollback", confirm_timeout=confirm_timeout,
                      progress=progress, on_commit=services_back).run()
    return {"recovered": recovered, "notes": notes, "report": rep}
