"""`fullbars rollout` of a service whose kind orders its devices for waves (Service.wave_order;
a coverage fill: its new sites first). The devices the plan changes are split into a canary and
then waves (wave_steps.split); each wave gives its devices their whole planned configs in one
network-wide confirmed commit, and a wave that fails rolls back by itself and stops the rollout.
The waves before it stay: the store records what each device was given, so planning again shows
only the devices still to go, and running `rollout` again carries on with them."""

from __future__ import annotations

import json
import time

from orchestrator.resources.store import Store
from orchestrator.rollout.wave_steps import split, stopped


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


def rollout(store: Store, svc_plan, wp: dict, target, confirm_timeout: int, pause: float, progress, say,
            sessions: dict) -> dict:
    from orchestrator.plan.pipeline import plan
    from orchestrator.rollout.apply import apply

    report = {"change": svc_plan.name, "unit": "device", "plan": wp, "waves": [], "outcome": "committed"}
    for w in wp["waves"]:
        if w is not wp["waves"][0] and pause:
            say(f"  pausing {pause:g} s before {w['name']}")
            time.sleep(pause)
        t0 = time.perf_counter()
        # planned again per wave: each device's edit starts from what this target was last given
        result = plan(store, None, stored=[svc_plan.name], environment=target.label)
        result.devices = [d for d in result.devices if d.changed and d.device in w["devices"]]
        rep = apply(store, result, target, confirm_timeout, progress=progress, kind="rollout", sessions=sessions)
        took = time.perf_counter() - t0
        report["waves"].append({"wave": w["wave"], "name": w["name"], "devices": w["devices"],
                                "outcome": rep["outcome"], "tx": rep["tx"], "seconds": round(took, 2),
                                "failed": rep["failed"], "summary": rep["summary"],
                                "device_s": {d: v.get("seconds") for d, v in rep.get("devices", {}).items()}})
        if stopped(report, wp, w, rep, took, say):
            break
        say(f"  {w['name']}: committed on {len(result.devices)} device(s) in {took:.1f} s ({rep['tx']})")
    given = {w_["tx"] for w_ in report["waves"] if w_["outcome"] == "committed"}
    report["reached"] = sorted(set(wp["reached"]) | {d for w_ in report["waves"] if w_["tx"] in given
                                                      for d in w_["devices"]})
    return report
