"""`fullbars rollout`: a bulk change (SpeedUpgrade) given to the network wave by wave.

The OLTs the change touches are split into a canary and then waves. Each wave is planned with
the change reaching only the OLTs of the waves so far (the BNGs get the lines of those OLTs and
no others), and applied as one network-wide confirmed commit. A wave that fails rolls back by
itself (the transaction) and the rollout stops there; the waves before it stay, and the store
remembers how far the change got, so a later plan or rollout carries on from there.
"""

from __future__ import annotations

import json
import math
import statistics
import time

from sqlalchemy import select

from orchestrator.errors import FullbarsError
from orchestrator.resources.store import ReachRow, Store, TransactionRow

WAVE_KINDS = ("SpeedUpgrade",)


def split(olts: list[str], canary: int, waves: int) -> list[list[str]]:
    """Canary first, then the rest shared as evenly as possible over at most `waves` waves."""
    if not olts:
        return []
    first, rest = olts[:canary], olts[canary:]
    out = [first]
    if rest:
        n = min(waves, len(rest))
        size, extra = divmod(len(rest), n)
        i = 0
        for k in range(n):
            take = size + (1 if k < extra else 0)
            out.append(rest[i:i + take])
            i += take
    return out


def device_latency(store: Store, limit: int = 20) -> tuple[float | None, str]:
    """Median seconds one device took in the last committed transactions, and where it came from."""
    with store.transaction() as s:
        rows = list(s.scalars(select(TransactionRow).where(TransactionRow.state == "committed")
                              .order_by(TransactionRow.created_at.desc()).limit(limit)))
    secs = []
    for r in rows:
        for d in json.loads(r.report or "{}").get("devices", {}).values():
            if d.get("state") == "confirmed" and d.get("seconds"):
                secs.append(d["seconds"])
    if not secs:
        return None, "no transaction on this store has measured a device yet"
    return statistics.median(secs), f"median of {len(secs)} device(s) in the last {len(rows)} committed transaction(s)"


def estimate(waves: list[list[str]], bngs_per_wave: list[int], per_device: float | None, pause: float,
             parallel: int) -> float | None:
    """Devices of a wave go in parallel (bounded), waves one after another with a pause between."""
    if per_device is None:
        return None
    total = 0.0
    for olts, bngs in zip(waves, bngs_per_wave):
        total += per_device * math.ceil((len(olts) + bngs) / parallel)
    return total + pause * max(0, len(waves) - 1)


def reached(store: Store, name: str) -> set[str]:
    with store.transaction() as s:
        return Store.reach(s).get(name, set())


def record(store: Store, name: str, olts: list[str], wave: int, tx: str) -> None:
    with store.transaction() as s:
        for o in olts:
            if s.get(ReachRow, (name, o)) is None:
                s.add(ReachRow(intent=name, device=o, wave=wave, tx=tx))
        Store.audit(s, "rollout-wave", name, {"wave": wave, "olts": olts, "tx": tx})


def wave_plan(store: Store, svc_plan, network) -> dict:
    """What a rollout of this change would do: its waves over the OLTs not reached yet."""
    from orchestrator.rollout.transaction import MAX_PARALLEL

    res = svc_plan.resources
    done = reached(store, svc_plan.name)
    todo = [o for o in res["olts"] if o not in done]
    with store.transaction() as s:
        row = Store.intents(s)[svc_plan.name]
    how = json.loads(row.spec).get("rollout", {})
    waves = split(todo, how.get("canary", 1), how.get("waves", 2))
    bngs = [len({u.bng for o in w for u in network.devices[o].uplinks.values()}) for w in waves]
    per_device, source = device_latency(store)
    lines = res["lines-per-olt"]
    return {"change": svc_plan.name, "lines": sum(lines.get(o, 0) for o in todo), "reached": sorted(done),
            "waves": [{"wave": i, "name": "canary" if i == 0 else f"wave {i}", "olts": w, "bngs": b,
                       "lines": sum(lines.get(o, 0) for o in w)} for i, (w, b) in enumerate(zip(waves, bngs))],
            "per_device_s": per_device, "latency_source": source,
            "estimate_s": estimate(waves, bngs, per_device, 0.0, MAX_PARALLEL)}


def describe(wp: dict) -> list[str]:
    out = [f"{wp['change']}: {wp['lines']} line(s) on {sum(len(w['olts']) for w in wp['waves'])} OLT(s) "
           f"in {len(wp['waves'])} wave(s)" + (f"; already reached: {', '.join(wp['reached'])}" if wp["reached"] else "")]
    for w in wp["waves"]:
        out.append(f"  {w['name']:8} {len(w['olts'])} OLT(s) + {w['bngs']} BNG(s), {w['lines']} line(s): "
                   f"{', '.join(w['olts'])}")
    if wp["estimate_s"] is None:
        out.append(f"  estimated duration: unknown ({wp['latency_source']}); the canary measures it")
    else:
        out.append(f"  estimated duration: {wp['estimate_s']:.1f} s without pauses "
                   f"({wp['per_device_s']:.2f} s per device: {wp['latency_source']})")
    return out


def rollout(store: Store, network_file: str | None, intent_file: str, target, confirm_timeout: int = 120,
            pause: float = 0.0, progress=None, say=print) -> dict:
    from orchestrator.plan.pipeline import plan
    from orchestrator.rollout.apply import apply

    preview = plan(store, network_file, [intent_file])
    changes = [s for s in preview.services if s.kind in WAVE_KINDS]
    if len(changes) != 1 or len(preview.services) != 1:
        raise FullbarsError(f"{intent_file}: a rollout takes one bulk change ({', '.join(WAVE_KINDS)})",
                            file=intent_file, fix="give other intents to `fullbars apply`")
    change = changes[0]
    wp = wave_plan(store, change, preview.network)
    for line in describe(wp):
        say(line)
    report = {"change": change.name, "plan": wp, "waves": [], "outcome": "committed"}
    for w in wp["waves"]:
        if w is not wp["waves"][0] and pause:
            say(f"  pausing {pause:g} s before {w['name']}")
            time.sleep(pause)
        t0 = time.perf_counter()
        result = plan(store, None, stored=[change.name], scope={change.name: set(w["olts"])})
        planned = time.perf_counter() - t0
        result.devices = [d for d in result.devices if d.changed]
        if not result.devices:  # every line there is already at least this fast
            record(store, change.name, w["olts"], w["wave"], "")
            report["waves"].append({"wave": w["wave"], "name": w["name"], "olts": w["olts"], "devices": [],
                                    "lines": w["lines"], "outcome": "unchanged", "seconds": 0.0})
            continue
        rep = apply(store, result, target, confirm_timeout, progress=progress, kind="rollout")
        took = time.perf_counter() - t0
        row = {"wave": w["wave"], "name": w["name"], "olts": w["olts"], "devices": sorted(d.device for d in result.devices),
               "lines": w["lines"], "outcome": rep["outcome"], "tx": rep["tx"], "seconds": round(took, 2),
               "failed": rep["failed"], "summary": rep["summary"], "plan_s": round(planned, 2),
               "steps_s": rep.get("seconds", {}),
               "device_s": {d: v.get("seconds") for d, v in rep.get("devices", {}).items()}}
        report["waves"].append(row)
        if rep["outcome"] != "committed":
            report["outcome"] = "stopped"
            say(f"  {w['name']}: {rep['outcome'].upper()} in {took:.1f} s: {rep['summary']}")
            report["not_started"] = [x["name"] for x in wp["waves"] if x["wave"] > w["wave"]]
            if report["not_started"]:
                say(f"  not started: {', '.join(report['not_started'])}")
            break
        record(store, change.name, w["olts"], w["wave"], rep["tx"])
        say(f"  {w['name']}: committed on {len(result.devices)} device(s) in {took:.1f} s ({rep['tx']})")
    report["reached"] = sorted(reached(store, change.name))
    return report
