"""The services in the store: what each holds, where it is, whether suspended or being removed."""

from __future__ import annotations

from orchestrator.app.users import require

STATES = ("not applied", "in service", "suspended", "pending removal")


def status(store) -> dict:
    """{store, services: [{name, kind, held, suspended, pending_removal, state, devices}]};
    devices: environment → the devices whose config as that environment last gave it has a part
    the service owns. state: suspended, pending removal, not applied (on no environment's devices,
    and no transaction left it applied), or in service."""
    from orchestrator.network.model import load_network
    from orchestrator.resources.service_versions import last_carried, pending_removals
    from orchestrator.resources.store import Store
    from orchestrator.services.registry import SERVICES

    require("read")
    with store.transaction(write=False) as s:
        rows = Store.intents(s)
        allocs = Store.allocations(s)
        reach, suspended = Store.reach_by_environment(s), Store.suspended(s)
        pending = pending_removals(s)
        carried = last_carried(s)
        net_row = Store.network(s)
    network = load_network(net_row.source, net_row.text) if net_row else None
    on = devices(store)
    held: dict[str, list[str]] = {}
    for pool, value, owner, purpose in allocs:
        label, shown = SERVICES.by_kind(rows[owner].kind).shown(purpose, pool, value, network) \
            if owner in rows else (purpose, value)
        held.setdefault(owner, []).append(f"{label}={shown}")
    for name, where in reach.items():
        for environment, reached in sorted(where.items()):  # a lab's rollout reaches no production device
            at = f"@{environment}" if environment else ""
            held.setdefault(name, []).append(f"reached{at}={','.join(sorted(reached))}")
    for name in suspended:
        held.setdefault(name, []).append("SUSPENDED")
    for name in pending:
        held.setdefault(name, []).append("PENDING-REMOVAL")

    def state(n: str) -> str:
        if n in suspended:
            return "suspended"
        if n in pending:
            return "pending removal"
        # A rollout's bundle records no services, and a config read back after a rollback has no
        # ownership recorded: either signal of being applied is enough.
        return "in service" if n in on or carried.get(n) is not None else "not applied"

    states = {n: state(n) for n in rows}
    for n, row in rows.items():  # an order has no devices of its own: it is in service once a product is
        if row.parent in states and states[n] != "not applied" and states[row.parent] == "not applied":
            states[row.parent] = "in service"
    return {"store": store.shown, "services": [
        {"name": n, "kind": rows[n].kind, "held": sorted(held.get(n, [])), "suspended": n in suspended,
         "pending_removal": n in pending, "state": states[n], "devices": on.get(n, {})} for n in sorted(rows)]}


def devices(store) -> dict[str, dict[str, list[str]]]:
    """service → environment → the devices whose config, as that environment last gave it, has a
    part the service owns (the plan's record of who owns what)."""
    from orchestrator.resources.store import DeviceConfigRow, Store
    from sqlalchemy import select

    require("read")
    out: dict[str, dict[str, set[str]]] = {}
    with store.transaction(write=False) as s:
        for row in s.scalars(select(DeviceConfigRow)):
            for owners in (Store.owners(s, row.device, row.config) or {}).values():
                for name in owners:
                    out.setdefault(name, {}).setdefault(row.environment, set()).add(row.device)
    return {n: {e: sorted(d) for e, d in envs.items()} for n, envs in out.items()}
