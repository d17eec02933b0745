"""What the journal says about devices: which transactions are not finished, which devices are
in doubt because of them, and the store's record of what each device was last given (written
with a transaction's outcome, never apart from it)."""

from __future__ import annotations

from sqlalchemy import select, update

from orchestrator.resources.store import DeviceConfigRow, Store, TransactionRow, TxDeviceRow, _chunks, _insert, _now
from orchestrator.rollout import lease

# a process was running these when it stopped: recover finishes or undoes them
IN_FLIGHT = ("started", "editing", "committing", "verifying", "confirming")
# rolled back except on devices that could not be reached: recover takes those back
IN_DOUBT = "in-doubt"


def unfinished(store: Store) -> list[TransactionRow]:
    with store.transaction() as s:
        return list(s.scalars(select(TransactionRow).where(TransactionRow.state.in_((*IN_FLIGHT, IN_DOUBT)))
                              .order_by(TransactionRow.created_at)))


def in_doubt(store: Store, devices) -> dict[str, str]:
    """{device: transaction} for the given devices that an unfinished transaction may have left
    running something else than the journal says."""
    with store.transaction() as s:
        return {row.device: tx.id for tx, row in _unfinished_on(s, devices, (*IN_FLIGHT, IN_DOUBT))
                if tx.state in IN_FLIGHT or row.state == IN_DOUBT}


def running(store: Store, devices, before: str | None = None) -> dict[str, tuple[str, str]]:
    """{device: (transaction, its owner)} for the given devices that a live process is changing
    now: recover leaves those alone, and another transaction waits for them to end. before: only
    transactions begun before that instant (those a transaction just begun must yield to)."""
    with store.transaction(write=False) as s:
        rows = _unfinished_on(s, devices, IN_FLIGHT, before)
        live = {tx.id for tx in {tx.id: tx for tx, _ in rows}.values() if lease.alive(tx.owner, tx.lease_until)}
        return {row.device: (tx.id, tx.owner) for tx, row in rows if tx.id in live}


def _unfinished_on(s, devices, states, before: str | None = None) -> list[tuple[TransactionRow, TxDeviceRow]]:
    """(transaction, its device row) in these states on these devices, latest first: a dict built
    from them keeps, per device, the earliest transaction."""
    q = (select(TransactionRow, TxDeviceRow).join(TxDeviceRow, TxDeviceRow.tx == TransactionRow.id)
         .where(TransactionRow.state.in_(states)))
    if before is not None:
        q = q.where(TransactionRow.created_at < before)
    out = []
    for chunk in _chunks(list(devices)):
        out += s.execute(q.where(TxDeviceRow.device.in_(chunk))).all()
    return sorted(out, key=lambda r: (r[0].created_at, r[0].id), reverse=True)


def remember_configs(s, tx: str, kind: str, environment: str, configs: list[tuple[str, str, str]],
                     owners: dict[str, str] | None = None) -> None:
    """What each device of one environment now runs (device, kind, config) becomes that
    environment's baseline of later plans and drift checks; no other environment's record moves.
    owners: device → the ownership (JSON) its plan recorded for that config, kept where the store
    no longer holds it (a bundle applied after a later plan of its devices). Called inside the
    store transaction that records the outcome."""
    # One query for the records there are, then one INSERT and one UPDATE for all the devices: a
    # wave of hundreds waits for this write, not for a query per device.
    devices = [d for d, _, _ in configs]
    known = set()
    for chunk in _chunks(devices):  # IN lists the database's limit on parameters allows
        known.update(s.scalars(select(DeviceConfigRow.device).where(
            DeviceConfigRow.environment == environment, DeviceConfigRow.device.in_(chunk))))
    now = _now()
    rows = [{"environment": environment, "device": device, "kind": dkind, "config": config, "digest": tx,
             "updated_at": now} for device, dkind, config in configs]
    _insert(s, DeviceConfigRow, [r for r in rows if r["device"] not in known])
    if known:
        s.execute(update(DeviceConfigRow), [r for r in rows if r["device"] in known])
    for device, dkind, config in configs:
        if device in (owners or {}):
            Store.keep_owners(s, device, config, owners[device])
    Store.audit(s, kind, tx, {"devices": devices})
