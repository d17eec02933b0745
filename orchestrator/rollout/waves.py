"""`fullbars rollout`: a bulk change (SpeedUpgrade) given to the network wave by wave.

The OLTs the change touches are split into a canary and then waves. Each wave is planned with
the change reaching only the OLTs of the waves so far (the BNGs get the lines of those OLTs and
no others), and applied as one network-wide confirmed commit. A wave that fails rolls back by
itself (the transaction) and the rollout stops there; the waves before it stay, and the store
remembers how far the change got, so a later plan or rollout carries on from there. The waves
run as a durable workflow (orchestrator/engine/workflows.py) over prepare and run_wave here.

A service whose kind orders its devices (a coverage fill: new sites first) rolls out in waves of
devices instead (device_waves.py), through the same workflow: prepare gives its wave plan.
"""

from __future__ import annotations

import json
import math
import statistics
import time

from sqlalchemy import select

from orchestrator.errors import FullbarsError
from orchestrator.resources import service_versions
from orchestrator.resources.store import ReachRow, Store, TransactionRow, TxDeviceRow
from orchestrator.rollout.wave_steps import journal_row, split

WAVE_KINDS = ("SpeedUpgrade",)


def device_latency(store: Store, limit: int = 20) -> tuple[dict[str, float], str]:
    """Median seconds one device of each kind took in the last committed transactions, and
    where the figures came from. Kinds differ by an order of magnitude (a netconfd BNG holding
    a thousand subscribers against a devsim OLT), so one median for all would mislead."""
    with store.transaction() as s:
        rows = list(s.scalars(select(TransactionRow).where(TransactionRow.state == "committed")
                              .order_by(TransactionRow.created_at.desc()).limit(limit)))
        kinds = {(d.tx, d.device): d.kind for d in s.scalars(select(TxDeviceRow).where(
            TxDeviceRow.tx.in_([r.id for r in rows])))}
    secs: dict[str, list[float]] = {}
    for r in rows:
        for dev, d in json.loads(r.report or "{}").get("devices", {}).items():
            if d.get("state") == "confirmed" and d.get("seconds") and (r.id, dev) in kinds:
                secs.setdefault(kinds[(r.id, dev)], []).append(d["seconds"])
    if not secs:
        return {}, "no transaction on this store has measured a device yet"
    n = sum(len(v) for v in secs.values())
    return ({k: statistics.median(v) for k, v in secs.items()},
            f"per-kind medians of {n} device(s) in the last {len(rows)} committed transaction(s)")


def estimate(waves: list[list[str]], kinds: dict[str, str], per_kind: dict[str, float], pause: float,
             parallel: int) -> float | None:
    """Devices of a wave go in parallel (bounded), so the slowest kind in it sets its pace; waves
    go one after another, with a pause between. None when a kind in the waves was never measured."""
    total = 0.0
    for wave in waves:
        by_kind: dict[str, int] = {}
        for d in wave:
            by_kind[kinds[d]] = by_kind.get(kinds[d], 0) + 1
        if any(k not in per_kind for k in by_kind):
            return None
        total += max(per_kind[k] * math.ceil(n / parallel) for k, n in by_kind.items())
    return total + pause * max(0, len(waves) - 1)


def reached(store: Store, name: str, environment: str | None) -> set[str]:
    """The OLTs the change's waves have reached in the environment."""
    with store.transaction(write=False) as s:
        return Store.reach(s, environment).get(name, set())


def record(store: Store, name: str, olts: list[str], wave: int, tx: str, environment: str) -> None:
    """Idempotent: a wave recorded once (by a run that died right after) is not recorded again."""
    with store.transaction() as s:
        if all(s.get(ReachRow, (name, environment, o)) is not None for o in olts):
            return
        for o in olts:
            if s.get(ReachRow, (name, environment, o)) is None:
                s.add(ReachRow(intent=name, environment=environment, device=o, wave=wave, tx=tx))
        Store.audit(s, "rollout-wave", name, {"wave": wave, "olts": olts, "tx": tx, "environment": environment})
        service_versions.refresh_after(s, tx, name)  # the reach is part of what tx did to it


def wave_plan(store: Store, svc_plan, network, environment: str | None) -> dict:
    """What a rollout of this change would do in the environment: its waves over the OLTs not
    reached there yet."""
    from orchestrator.rollout.transaction import MAX_PARALLEL

    res = svc_plan.resources
    done = reached(store, svc_plan.name, environment)
    todo = [o for o in res["olts"] if o not in done]
    with store.transaction() as s:
        row = Store.intents(s)[svc_plan.name]
    how = json.loads(row.spec).get("rollout", {})
    waves = split(todo, how.get("canary", 1), how.get("waves", 2))
    bngs = [sorted({u.bng for o in w for u in network.devices[o].uplinks.values()}) for w in waves]
    per_kind, source = device_latency(store)
    lines = res["lines-per-olt"]
    devices = [w + b for w, b in zip(waves, bngs)]
    kinds = {d: network.devices[d].kind for w in devices for d in w}
    return {"change": svc_plan.name, "environment": environment, "lines": sum(lines.get(o, 0) for o in todo),
            "reached": sorted(done),
            "waves": [{"wave": i, "name": "canary" if i == 0 else f"wave {i}", "olts": w, "bngs": len(b),
                       "lines": sum(lines.get(o, 0) for o in w)} for i, (w, b) in enumerate(zip(waves, bngs))],
            "per_kind_s": per_kind, "latency_source": source,
            "estimate_s": estimate(devices, kinds, per_kind, 0.0, MAX_PARALLEL)}


def describe(wp: dict) -> list[str]:
    out = [f"{wp['change']}: {wp['lines']} line(s) on {sum(len(w['olts']) for w in wp['waves'])} OLT(s) "
           f"in {len(wp['waves'])} wave(s)" + (f"; already reached: {', '.join(wp['reached'])}" if wp["reached"] else "")]
    for w in wp["waves"]:
        out.append(f"  {w['name']:8} {len(w['olts'])} OLT(s) + {w['bngs']} BNG(s), {w['lines']} line(s): "
                   f"{', '.join(w['olts'])}")
    if wp["estimate_s"] is None:
        out.append(f"  estimated duration: unknown ({wp['latency_source']}"
                   + (f", only for {', '.join(sorted(wp['per_kind_s']))}" if wp["per_kind_s"] else "")
                   + "); the canary measures it")
    else:
        per = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(wp["per_kind_s"].items()))
        out.append(f"  estimated duration: {wp['estimate_s']:.1f} s without pauses "
                   f"(per device: {per}; {wp['latency_source']})")
    return out


def prepare(store: Store, network_file: str | None, intent_file: str, environment: str) -> tuple[str, dict]:
    """Plan the change in its file (kept in the store) and split what it has left to reach on the
    environment into waves: (its name, the wave plan). A bulk change goes by OLTs, a service whose
    kind orders its devices (device_waves.py) by devices. Bad input raises here, before any device
    is asked."""
    from orchestrator.intents.loader import load_intent_files
    from orchestrator.plan.pipeline import plan
    from orchestrator.rollout import device_waves

    # refused before planning, so nothing of a file that cannot roll out is kept in the store
    kinds = [i.kind for i in load_intent_files([intent_file])]
    if len(kinds) != 1 or kinds[0] not in (*WAVE_KINDS, *device_wave_kinds()):
        raise FullbarsError(f"a rollout takes one bulk change ({', '.join(WAVE_KINDS)}) or one service whose devices "
                            f"roll out in waves ({', '.join(device_wave_kinds())}); this file holds "
                            f"{', '.join(kinds) or 'no intent'}", file=intent_file,
                            fix="give other intents to `fullbars apply`")
    preview = plan(store, network_file, [intent_file])
    order = device_order(preview)
    if order is not None:
        svc = preview.services[0]
        # what changes on this environment: the preview's edits start from the newest one's record
        return svc.name, device_waves.wave_plan(store, svc, plan(store, None, stored=[svc.name],
                                                                 environment=environment), order)
    return preview.services[0].name, wave_plan(store, preview.services[0], preview.network, environment)


def describe_plan(wp: dict) -> list[str]:
    """The lines of any wave plan prepare gives."""
    from orchestrator.rollout import device_waves

    return (device_waves.describe if wp.get("unit") == "device" else describe)(wp)


def done_before(store: Store, prefix: str) -> list[TransactionRow]:
    """The transactions an earlier attempt at one wave left in the journal (ids start with prefix)."""
    with store.transaction(write=False) as s:
        return list(s.scalars(select(TransactionRow).where(TransactionRow.id.like(prefix + "%"))
                              .order_by(TransactionRow.created_at)))


def run_wave(store: Store, change: str, w: dict, target, confirm_timeout: int, tx: str, progress=None,
             sessions: dict | None = None) -> dict:
    """Plan one wave (the change reaching the OLTs of the waves so far) and apply it as one
    transaction with id tx; a committed wave is recorded as reached. Returns the wave's report row."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.rollout.apply import apply

    if set(w["olts"]) <= reached(store, change, target.label):
        # another rollout of the change reached them (one run again after this one's process
        # died, before an executor took this one up): nothing to give them, nothing planned since
        return {"wave": w["wave"], "name": w["name"], "olts": w["olts"], "devices": [], "lines": w["lines"],
                "outcome": "unchanged", "seconds": 0.0, "summary": "already reached by another rollout of "
                                                                     f"{change}: nothing sent"}
    t0 = time.perf_counter()
    result = plan(store, None, stored=[change], scope={change: set(w["olts"])}, environment=target.label)
    planned = time.perf_counter() - t0
    result.devices = [d for d in result.devices if d.changed]
    if not result.devices:  # every line there is already at least this fast
        record(store, change, w["olts"], w["wave"], "", target.label)
        return {"wave": w["wave"], "name": w["name"], "olts": w["olts"], "devices": [],
                "lines": w["lines"], "outcome": "unchanged", "seconds": 0.0}
    rep = apply(store, result, target, confirm_timeout, progress=progress, kind="rollout", sessions=sessions, tx=tx)
    took = time.perf_counter() - t0
    if rep["outcome"] == "committed":
        record(store, change, w["olts"], w["wave"], rep["tx"], target.label)
    return {"wave": w["wave"], "name": w["name"], "olts": w["olts"], "devices": sorted(d.device for d in result.devices),
            "lines": w["lines"], "outcome": rep["outcome"], "tx": rep["tx"], "seconds": round(took, 2),
            "failed": rep["failed"], "summary": rep["summary"], "plan_s": round(planned, 2),
            "steps_s": rep.get("seconds", {}), "breakdown": rep.get("breakdown", {}),
            "connected": sorted(d for d, v in rep.get("devices", {}).items() if "connect" in v.get("steps", {})),
            "device_s": {d: v.get("seconds") for d, v in rep.get("devices", {}).items()}}


def done_wave(store: Store, change: str, w: dict, tx: TransactionRow) -> dict:
    """The row of a wave whose transaction an earlier attempt committed (a worker that died after
    the devices were given it), recorded as reached; the wave is not applied again."""
    record(store, change, w["olts"], w["wave"], tx.id, tx.target)
    return journal_row(w, tx)


def reached_by(store: Store, change: str, wp: dict, rows: list[dict]) -> list[str]:
    """The OLTs the change has reached in the wave plan's environment, as the store records them."""
    return sorted(reached(store, change, wp.get("environment")))  # (none: a plan made before 0013)


def device_wave_kinds() -> list[str]:
    from orchestrator.services.registry import SERVICES

    return [k for k in SERVICES.kinds() if SERVICES.by_kind(k).wave_order({}, []) is not None]


def device_order(result) -> list[str] | None:
    """The device order of a plan of one service whose kind rolls out in waves of devices, else None."""
    from orchestrator.services.registry import SERVICES

    if len(result.services) != 1:
        return None
    s = result.services[0]
    return SERVICES.by_kind(s.kind).wave_order(s.resources, s.devices)
