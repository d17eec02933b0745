"""The waves of a service whose kind orders its devices (Service.wave_order; a coverage fill: its
new sites first). The devices the plan changes on the target are split into a canary and then
waves (wave_steps.split); each wave gives its devices their whole planned configs in one
network-wide confirmed commit. The waves run as the durable engine's rollout workflow
(orchestrator/engine/workflows.py), one step a wave, as a bulk change's do (waves.py): a wave that
fails rolls back by itself and stops the rollout; the waves before it stay. The store records what
each device was given, so planning again shows only the devices still to go, and running
`rollout` again carries on with them."""

from __future__ import annotations

import json
import time

from orchestrator.resources.store import Store
from orchestrator.rollout.wave_steps import journal_row, split


def wave_plan(store: Store, svc_plan, result, order: list[str]) -> dict:
    changed = {d.device for d in result.devices if d.changed}
    todo = [d for d in order if d in changed]
    with store.transaction() as s:
        how = json.loads(Store.intents(s)[svc_plan.name].spec).get("rollout", {})
    waves = split(todo, how.get("canary", 1), how.get("waves", 2))
    return {"change": svc_plan.name, "unit": "device",
            "reached": sorted(d for d in svc_plan.devices if d not in changed),
            "waves": [{"wave": i, "name": "canary" if i == 0 else f"wave {i}", "devices": w}
                      for i, w in enumerate(waves)]}


def describe(wp: dict) -> list[str]:
    out = [f"{wp['change']}: {sum(len(w['devices']) for w in wp['waves'])} device(s) to change in "
           f"{len(wp['waves'])} wave(s)" + (f"; already given their configs: {', '.join(wp['reached'])}"
                                            if wp["reached"] else "")]
    out += [f"  {w['name']:8} {len(w['devices'])} device(s): {', '.join(w['devices'])}" for w in wp["waves"]]
    return out


def run_wave(store: Store, change: str, w: dict, target, confirm_timeout: int, tx: str, progress=None,
             sessions: dict | None = None) -> dict:
    """Give the wave's devices what they lack of the service's plan, as one transaction with id tx
    (planned again here: each device's edit starts from what this target was last given, so a
    device an earlier attempt gave its config is not sent it again). The wave's report row."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.rollout.apply import apply

    t0 = time.perf_counter()
    result = plan(store, None, stored=[change], environment=target.label)
    result.devices = [d for d in result.devices if d.changed and d.device in w["devices"]]
    if not result.devices:
        return {**w, "outcome": "unchanged", "tx": "", "failed": [], "summary": "", "seconds": 0.0}
    rep = apply(store, result, target, confirm_timeout, progress=progress, kind="rollout", sessions=sessions, tx=tx)
    return {**w, "outcome": rep["outcome"], "tx": rep["tx"], "seconds": round(time.perf_counter() - t0, 2),
            "failed": rep["failed"], "summary": rep["summary"],
            "device_s": {d: v.get("seconds") for d, v in rep.get("devices", {}).items()}}


def done_wave(store: Store, change: str, w: dict, tx) -> dict:
    """The row of a wave an earlier attempt committed: the transaction (or recover finishing it)
    recorded what each device was given; nothing more to record."""
    return journal_row(w, tx)


def reached_by(store: Store, change: str, wp: dict, rows: list[dict]) -> list[str]:
    """The devices that hold the service now: those given it before, and the committed waves'."""
    done = {d for r in rows if r["outcome"] in ("committed", "unchanged") for d in r["devices"]}
    return sorted(set(wp["reached"]) | done)
