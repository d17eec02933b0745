"""`fullbars apply DIR --target ENV`: a saved plan (bundle) given to an environment exactly as it
is. The bundle's files must match its manifest and its bases the environment's record (else:
re-plan); an environment that requires lab evidence takes only intended configs a passing lab
verification pinned, and each device must run, read back after the commit and before the
confirming one, the pinned canonical config (else everything rolls back)."""

from __future__ import annotations

from types import SimpleNamespace

from orchestrator.lab import evidence
from orchestrator.plan.bundle import checked
from orchestrator.resources.store import Store
from orchestrator.rollout import environments
from orchestrator.rollout.apply import apply_bundle, dry_run


def required_pins(store, environment: str, intended: dict[str, tuple[str, str]], what: str):
    """(pins, verification id) where the environment requires lab evidence, else (None, None)."""
    with store.transaction(write=False) as s:
        if environments.evidence(s, environment) == "required":
            return evidence.pinned(s, intended, environment, what)
    return None, None


def intents_pins(store, network_file: str | None, intent_files: list[str], environment: str,
                 stored: list[str] = ()) -> dict | None:
    """Where the environment requires lab evidence: the pins of what these intents (and these
    stored services) plan to, from a trial plan the store does not keep (so a refusal changes
    nothing); else None."""
    from orchestrator.plan.pipeline import plan

    with store.transaction(write=False) as s:
        if environments.evidence(s, environment) != "required":
            return None
    trial = plan(store, network_file, intent_files, environment=environment, keep=False, stored=stored)
    return required_pins(store, environment, {d.device: (d.kind, d.intended) for d in trial.devices},
                         "these intents")[0]


def apply_dir(store, plan_dir, target, confirm_timeout: int = 120, checks: bool = True, dry_run_only: bool = False,
              progress=None, say=print) -> dict:
    """The transaction's report; with dry_run_only, {"preview": per-device edits from the live devices}."""
    bundle = checked(store, plan_dir, target.label)
    pins, seen = required_pins(store, target.label, {dev: (d["kind"], bundle.intended(dev))
                                                     for dev, d in bundle.devices.items()}, f"bundle {bundle.path}")
    say(f"bundle {bundle.id} ({len(bundle.devices)} device(s)) to {target.label}"
        + (f": lab-verified by verification {seen}" if pins else ""))
    if dry_run_only:
        plans = [SimpleNamespace(device=dev, kind=d["kind"], intended=bundle.intended(dev), current="")
                 for dev, d in sorted(bundle.devices.items())]
        return {"preview": dry_run(SimpleNamespace(devices=plans), target)}
    rep = apply_bundle(store, bundle, target, confirm_timeout, checks, progress, pins)
    if rep["outcome"] == "committed":
        with store.transaction() as s:
            Store.audit(s, "apply-bundle", rep["tx"], {"bundle": bundle.id, "environment": target.label,
                                                       "pinned": pins or {}})
        for dev, sha in sorted((pins or {}).items()):
            say(f"  {dev}: running config canonical sha256 {sha} = lab-verified")
    return rep
