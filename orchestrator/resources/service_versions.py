"""What each committed transaction did to each service it carried: the service's state before and
after (its intent, allocations, overlay reach and pending removal), written with the transaction's
outcome. `rollback TX` puts each of TX's services back to its state before TX, so the store and the
devices agree again and the next plan is a no-op. Removals planned by `delete` are pending until a
transaction that carries them commits: then the service's intent and allocations go."""

from __future__ import annotations

import json

from sqlalchemy import delete, func, select

from orchestrator.errors import FullbarsError, Problem
from orchestrator.resources.store import (AllocationRow, IntentRow, PendingRemovalRow, ReachRow, Store,
                                          TxDeviceRow, TxServiceRow)

# A service present on the devices before a transaction that was never recorded (applied before
# fullbars recorded services, or given by `lab push`): rollback cannot know its state then.
UNKNOWN = {"unknown": True}
_INTENT = ("name", "kind", "spec", "digest", "source", "onu_serial", "created_at", "updated_at")


def snapshot(s, name: str) -> dict | None:
    """The service as a transaction leaves it on the devices. A pending removal is not part of
    it: a rollback returns the service as the devices had it, in service."""
    row = s.get(IntentRow, name)
    if row is None:
        return None
    return {"intent": {c: getattr(row, c) for c in _INTENT},
            "allocations": sorted([r.pool, r.value, r.purpose]
                                  for r in s.scalars(select(AllocationRow).where(AllocationRow.owner == name))),
            "reach": sorted([r.device, r.wave, r.tx, r.at, r.environment]
                            for r in s.scalars(select(ReachRow).where(ReachRow.intent == name)))}


def restore(s, name: str, snap: dict | None) -> None:
    """The service exactly as the snapshot has it (None: gone, with everything it held)."""
    Store.bump_generation(s)
    remove(s, name)
    s.flush()  # its old values leave before the snapshot's come back (unique constraints)
    if snap is None:
        return
    s.add(IntentRow(**snap["intent"]))
    Store.add_allocations(s, [{"pool": p, "value": v, "owner": name, "purpose": u} for p, v, u in snap["allocations"]])
    s.add_all(_reach_rows(name, snap["reach"]))


def _reach_rows(name: str, reach: list, undone: frozenset = frozenset()) -> list[ReachRow]:
    """A snapshot's reach (device, wave, tx, at, environment) as rows, but what `undone`
    transactions reached; snapshots kept before migration 0013 have no environment."""
    return [ReachRow(intent=name, environment=environment[0] if environment else "", device=device, wave=wave,
                     tx=tx, at=at)
            for device, wave, tx, at, *environment in reach if tx not in undone]


def remove(s, name: str) -> None:
    """The intent and everything it held are gone."""
    Store.free_allocations(s, name)
    Store.forget_reach(s, name)
    s.execute(delete(PendingRemovalRow).where(PendingRemovalRow.service == name))
    s.execute(delete(IntentRow).where(IntentRow.name == name))


def removed(s, names: list[str]) -> None:
    """Removals applied: the others stand where they were placed (one look at the placement
    state before and after them all, not one per service)."""
    if names:
        with Store.placed_through(s):
            for name in names:
                remove(s, name)


def pending_removals(s) -> dict[str, list[str]]:
    return {r.service: json.loads(r.devices) for r in s.scalars(select(PendingRemovalRow))}


def mark_removal(s, name: str, devices: list[str]) -> None:
    row = s.get(PendingRemovalRow, name)
    if row is None:
        s.add(PendingRemovalRow(service=name, devices=json.dumps(sorted(devices))))
    else:
        row.devices = json.dumps(sorted(devices))


def cancel_removal(s, name: str) -> None:
    s.execute(delete(PendingRemovalRow).where(PendingRemovalRow.service == name))


def applied_digest(s, name: str) -> str | None:
    """The digest of the intent the last transaction that carried the service left (None: none
    carried it, or it took the service off)."""
    row = _last_applied(s, name)
    after = json.loads(row.after) if row is not None else None
    return (after.get("intent") or {}).get("digest") if after else None


def last_carried(s) -> dict[str, dict | None]:
    """Each service a committed transaction carried → the state the last such transaction left
    (None: it took the service off)."""
    last = select(func.max(TxServiceRow.id)).group_by(TxServiceRow.service)
    return {svc: json.loads(after) for svc, after in
            s.execute(select(TxServiceRow.service, TxServiceRow.after).where(TxServiceRow.id.in_(last)))}


def _last_applied(s, name: str):
    row = s.scalars(select(TxServiceRow).where(TxServiceRow.service == name)
                    .order_by(TxServiceRow.id.desc()).limit(1)).first()
    return row


def befores(store, result, afters: dict | None = None) -> dict[str, dict | None]:
    """Each service whose change the plan carries → its state as last applied: the previous
    transaction's record of it, else absent when no device config it was last given holds it,
    else UNKNOWN. afters: filled, in the same read, with each one's state as the plan leaves it
    (what the transaction records it gave the devices, whatever another plan makes of the service
    before it commits)."""
    changed = {d.device for d in result.devices if d.changed}
    names = {sv.name for sv in result.services if sv.action != "unchanged" or changed & set(sv.devices)}
    names |= {sv.name for sv in result.carried}
    out: dict[str, dict | None] = {}
    with store.transaction(write=False) as s:
        for name in sorted(names):
            if afters is not None:
                afters[name] = snapshot(s, name)
            last = _last_applied(s, name)
            if last is not None:
                out[name] = json.loads(last.after)
                continue
            records = Store.device_configs(s, result.environment) if result.environment else {}
            out[name] = UNKNOWN if on_devices(s, name, [d.device for d in result.devices], records) else None
    return out


def committed(result, befores_: dict[str, dict | None], afters: dict[str, dict | None] | None = None):
    """The hook a transaction runs with its committed outcome: removals it carried are applied,
    and each service's before and after are recorded (afters: as befores() read them with the
    plan; without them, as the store has the service when the transaction commits)."""
    return committed_from({"removals": [sv.name for sv in result.services if sv.action == "delete"],
                           "befores": befores_, **({"afters": afters} if afters is not None else {})})


def committed_from(pending: dict):
    """The hook of committed() or rollback_hook() from its JSON form (hook.pending): the journal
    keeps it when the transaction starts confirming, so recover can write the same records for a
    transaction a dead process left committed on the devices."""
    def hook(s, tx: str) -> None:
        removed(s, pending.get("removals", []))
        if "bundle" in pending:
            _bundle_removals(s, tx, **pending["bundle"])
        gone, afters = set(pending.get("removals", [])), pending.get("afters", {})
        for name, before in pending.get("befores", {}).items():
            after = None if name in gone else afters[name] if name in afters else snapshot(s, name)
            s.add(TxServiceRow(tx=tx, service=name, before=json.dumps(before, sort_keys=True),
                               after=json.dumps(after, sort_keys=True)))
        for undone in pending.get("undone", []):  # a rollback: the suspensions it made or ended, too
            _suspensions_back(s, undone, tx)
        restored, undone = [], set(pending.get("undone", []))
        for name, before in pending.get("restore", []):  # a rollback: the services as they were
            if before == UNKNOWN:
                continue
            now = snapshot(s, name)
            if now is not None and any(r[2] in undone for r in now["reach"]):
                # a rollout's wave: the change stays, less the reach of the waves undone (the waves
                # are rolled back in any order their devices allow, each taking back its own)
                _reach_without(s, name, now, undone)
                s.add(TxServiceRow(tx=tx, service=name, before=json.dumps(now, sort_keys=True),
                                   after=json.dumps(snapshot(s, name), sort_keys=True)))
                continue
            restore(s, name, before)
            restored.append(name)
            s.add(TxServiceRow(tx=tx, service=name, before=json.dumps(now, sort_keys=True),
                               after=json.dumps(before, sort_keys=True)))
        if restored:  # the devices got back configs of them, where no plan placed them (a move undone)
            devices = [r.device for r in s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx == tx))]
            Store.keep_left(s, [(name, d) for name in restored for d in devices])
    hook.pending = pending
    return hook


def bundle_committed(devices):
    """The hook of a transaction that gives devices a bundle's configs as written (not planned
    again, so with no plan's removals to hand): see _bundle_removals."""
    return committed_from({"bundle": {"devices": sorted(devices)}})


def _bundle_removals(s, tx: str, devices: list[str]) -> None:
    """The removals the bundle carried are applied, as a plan's are (recorded, so a rollback
    gives the service back): those pending on its devices that no environment's record of them
    holds any more, by the ownership recorded for each. One bundle goes to the lab, then to
    production: given to the lab alone, the service stands in production, and its values stay
    held until production is given the bundle too."""
    ended = [name for name, where in sorted(pending_removals(s).items())
             if set(where) & set(devices) and not _held_anywhere(s, name, where)]
    for name in ended:
        last = _last_applied(s, name)
        before = json.loads(last.after) if last is not None else UNKNOWN
        s.add(TxServiceRow(tx=tx, service=name, before=json.dumps(before, sort_keys=True),
                           after=json.dumps(None, sort_keys=True)))
    removed(s, ended)


def _held_anywhere(s, name: str, devices: list[str]) -> bool:
    """Whether some environment's record of one of these devices holds the service (a config
    without recorded ownership may)."""
    for dev, shas in Store.config_shas(s, devices).items():
        for sha in set(shas.values()):
            owners = Store.owners_at(s, dev, sha)
            if owners is None or any(name in who for who in owners.values()):
                return True
    return False


def rollback_hook(store, tx: str):
    """(notes, hook): the hook returns TX's services to their state before TX, with the rollback
    transaction's outcome; notes say which cannot be."""
    with store.transaction(write=False) as s:
        rows = [(r.service, json.loads(r.before)) for r in
                s.scalars(select(TxServiceRow).where(TxServiceRow.tx == tx).order_by(TxServiceRow.service))]
        clashes = _clashes(s, dict(rows))
    if clashes:  # found now, before any device is touched, not when the outcome is written
        raise FullbarsError([Problem(f"rollback of {tx} would give {name} back {what}, which {other} holds now",
                                     fix=f"roll back {other}'s later change first, or delete {other}")
                             for name, what, other in clashes])
    notes = [f"service {name}: its state before {tx} was not recorded (applied before fullbars recorded "
             f"services); it is left as it is" for name, before in rows if before == UNKNOWN]
    if not rows:
        notes.append(f"{tx} recorded no service changes (a bundle applied as another environment verified it, "
                     f"whose plan recorded them, or a transaction from before fullbars recorded them): the "
                     f"services are left as the store has them; only the devices go back")

    return notes, committed_from({"restore": rows, "undone": [tx]})


def _reach_without(s, name: str, now: dict, undone: set[str]) -> None:
    """The change's reach as it is now, but for what the undone transactions reached (restoring
    the snapshot from before the oldest wave took back the later waves' reach too, and the
    canary's removed the change)."""
    Store.forget_reach(s, name)
    s.flush()
    s.add_all(_reach_rows(name, now["reach"], frozenset(undone)))


def _suspensions_back(s, undone: str, by: str) -> None:
    """What a rolled-back suspend or resume did to the store's suspensions, undone with the
    devices: a line the suspension took out of service is in service again (the suspension is
    rolled-back), one a resume gave service back is suspended again (its suspension active)."""
    from orchestrator.resources.store import AuditRow, SuspensionRow

    for row in s.scalars(select(SuspensionRow).where(SuspensionRow.tx == undone, SuspensionRow.state == "active")):
        row.state = "rolled-back"
        Store.audit(s, "suspend-rolled-back", row.line, {"tx": undone, "by": by})
    resumed = {a.subject for a in s.scalars(select(AuditRow).where(AuditRow.action == "resume",
                                                                  AuditRow.detail.like(f'%"tx": "{undone}"%')))}
    for line in sorted(resumed):
        last = s.scalars(select(SuspensionRow).where(SuspensionRow.line == line)
                         .order_by(SuspensionRow.id.desc())).first()
        if last is not None and last.state == "ended":
            last.state = "active"
            Store.audit(s, "resume-rolled-back", line, {"tx": undone, "by": by, "suspension": last.id})
    # undone was itself such a rollback: what it did to the suspensions is undone in turn
    for a in s.scalars(select(AuditRow).where(AuditRow.action.in_(("suspend-rolled-back", "resume-rolled-back")),
                                              AuditRow.detail.like(f'%"by": "{undone}"%'))):
        detail = json.loads(a.detail)
        if a.action == "suspend-rolled-back":
            row = s.scalars(select(SuspensionRow).where(SuspensionRow.tx == detail["tx"],
                                                        SuspensionRow.state == "rolled-back")).first()
            again = "active"
        else:
            row = s.get(SuspensionRow, detail.get("suspension", -1))
            again = "ended"
        if row is not None:
            row.state = again
            Store.audit(s, f"{a.action[:-len('-rolled-back')]}-restored", row.line, {"tx": detail["tx"], "by": by})


def refresh_after(s, tx: str, name: str) -> None:
    """A service's record in tx, once more of what tx did is written (an overlay's reach)."""
    row = s.scalars(select(TxServiceRow).where(TxServiceRow.tx == tx, TxServiceRow.service == name)).first()
    if row is not None:
        row.after = json.dumps(snapshot(s, name), sort_keys=True)


def on_devices(s, name: str, devices: list[str], current: dict) -> bool:
    """Whether a config some device was last given holds the service (by the ownership its plan
    recorded); a config without recorded ownership may, so it counts."""
    for dev in devices:
        row = current.get(dev)
        if row is None:
            continue
        owners = Store.owners(s, dev, row.config)
        if owners is None or any(name in who for who in owners.values()):
            return True
    return False


def as_applied(s, digests: dict[str, str]) -> set[str]:
    """The services whose intent (by digest) is the one their last transaction left; one no
    transaction recorded counts as applied as it is (it is on the devices: the caller knows)."""
    last: dict[str, str] = {}
    names = list(digests)
    for i in range(0, len(names), 500):
        for row in s.scalars(select(TxServiceRow).where(TxServiceRow.service.in_(names[i:i + 500]))
                             .order_by(TxServiceRow.id)):
            last[row.service] = row.after
    out = set()
    for name, digest in digests.items():
        after = json.loads(last[name]) if name in last else None
        if name not in last or (after is not None and after["intent"]["digest"] == digest):
            out.add(name)
    return out


def planned_since_applied(s) -> list[str]:
    """The services planned again since a transaction last applied them (an update planned and
    not applied yet): what `apply` with no intent carries."""
    digests = {r.name: r.digest for r in s.scalars(select(IntentRow))}
    applied = as_applied(s, digests)
    recorded = set(s.scalars(select(TxServiceRow.service).distinct()))
    return sorted(n for n in digests if n in recorded and n not in applied)


def _clashes(s, befores_: dict[str, dict | None]) -> list[tuple[str, str, str]]:
    """(service, what, holder): values or ONU serials a rollback would give back that another
    service, not rolled back with it, holds now."""
    back = set(befores_)
    held = {(r.pool, r.value): r.owner for r in s.scalars(select(AllocationRow))}
    serials = {r.onu_serial: r.name for r in s.scalars(select(IntentRow).where(IntentRow.onu_serial.is_not(None)))}
    out = []
    for name, snap in sorted(befores_.items()):
        if not snap or snap == UNKNOWN:
            continue
        for pool, value, _ in snap["allocations"]:
            other = held.get((pool, value))
            if other is not None and other not in back:
                out.append((name, f"{value} of {pool}", other))
        other = serials.get(snap["intent"]["onu_serial"])
        if other is not None and other not in back:
            out.append((name, f"ONU serial {snap['intent']['onu_serial']}", other))
    return out
