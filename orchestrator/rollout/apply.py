"""`fullbars apply`: plan the intents, then give the devices their configs in one transaction."""

from __future__ import annotations

from orchestrator.devices.registry import KINDS
from orchestrator.errors import FullbarsError
from orchestrator.models.schema_index import schema_index
from orchestrator.netconf.session import Session, rpc_error_text
from orchestrator.plan.diff import as_config, edits, readable
from orchestrator.plan.running_checks import checker as running_checker
from orchestrator.rollout.transaction import Change, Transaction


def lab_checks(result, target):
    """Service checks in the lab before confirming, from what the change does to each service
    whose kind's lab part checks its hosts before confirming (a CPE, a room, a UE): the services it
    adds, changes or keeps get their address and reach their server; the ones it removes or
    suspends get neither; the others on the devices it changes keep their service; a campus
    slice's UE attaches from the running configs and reaches its applications only. Rates are
    left to `fullbars lab verify`."""
    from orchestrator.lab.kinds.registry import LAB_KINDS
    from orchestrator.lab.personality import wait_applied
    from orchestrator.lab.verify import check
    from orchestrator.plan.artifacts import service_facts

    def run() -> list[str]:
        st = target.lab_state
        changed = {d.device for d in result.devices}
        problems = wait_applied(st, [d for d in sorted(changed) if d in st["nodes"]]).problems(st)
        if problems:
            return problems
        roles = LAB_KINDS.checked_hosts()
        hosted = {n["labels"].get("fullbars.service") for n in st["nodes"].values() if n["role"] in roles}
        affected = result.services + [s for s in result.others if changed & set(s.devices)]
        only = [s.name for s in affected if s.name in hosted]
        if not only:
            return []
        rows = check({"services": service_facts(affected)}, st, only=only, rates=False)
        return [f"{r['service']}{' (out of service)' if r.get('serving') is False else ''}: "
                f"{'; '.join(r['problems'])}" for r in rows if not r["ok"]]
    return run


def dry_run(result, target) -> list[dict]:
    """Per device: the edit from its live running config (get-config), not from the store."""
    out = []
    for d in result.devices:
        try:
            s = Session(target.endpoint(d.device), d.kind, d.intended, d.current)
        except FullbarsError:
            raise
        except Exception as e:
            out.append({"device": d.device, "error": f"cannot connect: {rpc_error_text(e)}"})
            continue
        try:
            live = s.running_xml()
        finally:
            s.close()
        edit, _, changed = edits(schema_index(KINDS.get(d.kind).models), live, d.intended)
        out.append({"device": d.device, "changed": changed, "edit": edit,
                    "diff": readable(d.device, as_config(live), d.intended) if changed else []})
    return out


def apply(store, result, target, confirm_timeout: int = 120, checks: bool = True, progress=None,
          kind: str = "apply", sessions=None, pins: dict[str, str] | None = None, tx: str | None = None) -> dict:
    """pins: per device the canonical sha256 running must have after the commit (lab evidence).
    tx: the transaction's id (a durable workflow's step names its own, to find it after a crash)."""
    from orchestrator.resources import service_versions

    changes = [Change(d.device, d.kind, target.endpoint(d.device), d.intended, (pins or {}).get(d.device))
               for d in result.devices]
    check = lab_checks(result, target) if checks and target.lab_state else None
    afters: dict = {}
    recorded = service_versions.committed(result, service_versions.befores(store, result, afters), afters)
    return Transaction(store, changes, target.label, kind=kind, confirm_timeout=confirm_timeout,
                       checks=check, progress=progress, sessions=sessions, on_commit=recorded, tx=tx,
                       running_checks=running_checker(result.network, result.services + result.others)).run()


def _bundle_result(bundle):
    """A bundle seen as the plan it was written from, as far as the lab checks read one."""
    from types import SimpleNamespace

    from orchestrator.plan.pipeline import ServicePlan

    services = [ServicePlan(name, s["kind"], "unchanged", s.get("resources", {}), s.get("devices", []),
                            s.get("serving", True)) for name, s in sorted(bundle.manifest.get("services", {}).items())]
    return SimpleNamespace(devices=[SimpleNamespace(device=d) for d in sorted(bundle.devices)],
                           services=services, others=[])


def bundle_changes(bundle, endpoint, pins: dict[str, str] | None = None) -> list[Change]:
    """One change per device of the bundle: its whole intended config, with whose each part is."""
    return [Change(dev, d["kind"], endpoint(dev), bundle.intended(dev), (pins or {}).get(dev), bundle.owners(dev))
            for dev, d in sorted(bundle.devices.items())]


def apply_bundle(store, bundle, target, confirm_timeout: int = 120, checks: bool = True, progress=None,
                 pins: dict[str, str] | None = None, tx: str | None = None, hold=None) -> dict:
    """Exactly the bundle's whole intended configs, not planned again; each device's edit is
    computed from what it runs in this environment, under its lock. pins: per device the
    canonical sha256 running must have after the commit, or everything rolls back. hold():
    problems, asked last before the confirming commit, once every other check passed (a person's
    confirm: it may wait up to the confirm timeout)."""
    from orchestrator.resources import service_versions

    changes = bundle_changes(bundle, target.endpoint, pins)
    check = lab_checks(_bundle_result(bundle), target) if checks and target.lab_state else None
    if hold is not None:
        check = (lambda first=check: (first() if first else []) or hold())
    return Transaction(store, changes, target.label, kind="apply", confirm_timeout=confirm_timeout,
                       checks=check, progress=progress, tx=tx,
                       on_commit=service_versions.bundle_committed(bundle.devices)).run()
