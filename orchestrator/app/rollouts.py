"""Rolling a change request out: in waves (devices that share a service go together; the first
group is the canary), each wave one network-wide confirmed commit of the bundle's exact configs;
pause, resume and abort between waves; roll back of the committed waves. `run_rollout` carries a
rollout to its end: a face starts it through `start(..., launch)` (inline for the CLI, a
durable workflow in the server: orchestrator/engine/change_rollout.py runs these same waves as its
steps), and neither face knows which."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import select

from orchestrator.acting import Actor, acting, current
from orchestrator.app import health_gate, wave_confirm
from orchestrator.app.change_states import TRANSITIONS, act, get, move
from orchestrator.app.users import require
from orchestrator.errors import FullbarsError
from orchestrator.resources.store import ChangeDeviceRow, Store, TransactionRow, TxDeviceRow

WAIT_STEP = 0.5  # seconds a paused rollout sleeps between looks at its state


def waves(bundle) -> dict[str, int]:
    """device → wave. Devices that share a service go together (a line's OLT and BNG change as
    one); the first such group is the canary (wave 1), the others follow as wave 2."""
    parent = {dev: dev for dev in bundle.devices}

    def root(d):
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    for svc in bundle.manifest.get("services", {}).values():
        devs = [d for d in svc.get("devices", []) if d in parent]
        for d in devs[1:]:
            parent[root(d)] = root(devs[0])
    groups = sorted({tuple(sorted(d for d in parent if root(d) == r)) for r in {root(d) for d in parent}})
    return {dev: 1 if i == 0 else 2 for i, g in enumerate(groups) for dev in g}


def pause(store, change_id: int) -> dict:
    return act(store, change_id, "pause")


def resume(store, change_id: int) -> dict:
    return act(store, change_id, "resume")


def abort(store, change_id: int) -> dict:
    return act(store, change_id, "abort")


def start(store, change_id: int, network, launch=None, confirm_timeout: int = 120,
          confirm_waves: bool = False) -> dict:
    """Start the rollout of an approved change. network: callable giving the network description.
    launch(job): how the rollout is carried, given job (the change, who started it, the confirm
    timeout: plain data, so a durable engine can store it); by default at once, here (run_job).
    confirm_waves: each wave waits for a NOC operator's confirm before its confirming commit
    (wave_confirm.py)."""
    view_now = act(store, change_id, "start", detail={"confirm_waves": confirm_waves,
                                                      "confirm_timeout": confirm_timeout})
    actor = current()
    job = {"change": change_id, "actor": actor.name, "roles": sorted(actor.roles), "origin": actor.origin,
           "confirm_timeout": confirm_timeout, "confirm_waves": confirm_waves}
    if launch is None:
        run_job(store, job, network)
    else:
        launch(job)
    return view_now


def job_actor(job: dict) -> Actor:
    return Actor(job["actor"], frozenset(job["roles"]), job["origin"])


def run_job(store, job: dict, network) -> str:
    """A launched rollout carried here to its end, as the user who started it."""
    with acting(job_actor(job)):
        return run_rollout(store, job["change"], network, job["confirm_timeout"], job.get("confirm_waves", False))


def stored_network(store, network_file: str | None):
    """The network description of a file, or else the one the store remembers."""
    from orchestrator.network.model import load_network

    if network_file:
        return load_network(network_file)
    with store.transaction(write=False) as s:
        row = Store.network(s)
    if row is None:
        raise FullbarsError("the server has no network description yet",
                            fix="start it with --network FILE, or plan once with fullbars plan --network FILE")
    return load_network(row.source, row.text)


def _sub_bundle(bundle, devices: set[str]):
    from orchestrator.plan.bundle import Bundle

    m = dict(bundle.manifest)
    m["devices"] = {d: v for d, v in bundle.devices.items() if d in devices}
    m["services"] = {n: v for n, v in bundle.manifest.get("services", {}).items()
                     if set(v.get("devices", [])) & devices}
    return Bundle(bundle.path, bundle.id, m)


def change_target(store, change_id: int, network):
    """Where the change goes: a lab, or an environment of the network description."""
    from orchestrator.rollout.targets import lab_target, network_target

    with store.transaction(write=False) as s:
        label_or_name = get(s, change_id).target
    if label_or_name.startswith("lab:"):
        return lab_target(label_or_name[4:])
    return network_target(label_or_name, network())


def plan_waves(store, change_id: int) -> dict[int, list[str]]:
    """wave → its devices, as fixed when the change was planned."""
    with store.transaction(write=False) as s:
        get(s, change_id)
        out: dict[int, list[str]] = {}
        for d in s.scalars(select(ChangeDeviceRow).where(ChangeDeviceRow.change_id == change_id)):
            out.setdefault(d.wave, []).append(d.device)
    return {w: sorted(devs) for w, devs in sorted(out.items())}


def run_rollout(store, change_id: int, network, confirm_timeout: int = 120, confirm_waves: bool = False) -> str:
    """Carry a started rollout to its end, wave by wave (run_wave), then finish it. Returns the
    change's final state."""
    from orchestrator.rollout.transaction import new_id

    for wave in plan_waves(store, change_id):
        if run_wave(store, change_id, wave, network, confirm_timeout, new_id(), confirm_waves) != "committed":
            return _state(store, change_id)
    return finish(store, change_id, network)


def _state(store, change_id: int) -> str:
    with store.transaction(write=False) as s:
        return get(s, change_id).state


def end_rollout(store, change_id: int, event: str, detail: dict) -> str:
    with store.transaction() as s:
        r = get(s, change_id)
        if event == "fail":
            r.error = detail.get("error", "")
        move(s, r, event, detail)
        return r.state


def _gate(store, change_id: int) -> bool:
    """Hold while the change is paused; whether the rollout may go on (aborted: the waves done stay)."""
    # one read decides: read again, a pause just made would end the rollout instead of holding it
    while (state := _state(store, change_id)) == "paused":
        time.sleep(WAIT_STEP)
    # awaiting-confirm here: a recovered wave, undone by recover, is applied again and asks again
    return state in ("rolling-out", "awaiting-confirm")


def _healthy(store, change_id: int, network) -> bool:
    """_gate, then the health gate (health_gate.py) on every device of the change's confirmed
    waves: one that no longer runs the plan pauses the change with the reason, and the gate is
    asked again once resumed. Whether the rollout may go on."""
    from orchestrator.plan.bundle import load

    while _gate(store, change_id):
        with store.transaction(write=False) as s:
            row = get(s, change_id)
            bundle_dir = row.bundle_dir
            rows = list(s.scalars(select(ChangeDeviceRow).where(ChangeDeviceRow.change_id == change_id)))
            done = [d.device for d in rows if d.tx and (t := s.get(TransactionRow, d.tx)) is not None
                    and t.state == "committed"]
        found = health_gate.problems(load(Path(bundle_dir)), change_target(store, change_id, network), done) \
            if done else []
        with store.transaction() as s:
            r = get(s, change_id)
            if not found:
                if r.error.startswith("health gate:"):
                    r.error = ""  # put right and resumed: the reason no longer holds
                return True
            if r.state in ("rolling-out", "awaiting-confirm"):
                r.error = health_gate.said(found)
                move(s, r, "gate-fail", {"problems": found})
    return False


def fail_on(store, change_id: int, e: Exception) -> str:
    """The rollout must end in a state an operator sees, whatever stopped it."""
    said = e.render() if isinstance(e, FullbarsError) else f"{type(e).__name__}: {e}"
    if not isinstance(e, FullbarsError):
        import traceback

        traceback.print_exc()  # a bug: the details go to the log
    if _state(store, change_id) in ("rolling-out", "paused", "awaiting-confirm"):
        end_rollout(store, change_id, "fail", {"error": said})
    return _state(store, change_id)


def run_wave(store, change_id: int, wave: int, network, confirm_timeout: int, tx: str,
             confirm_waves: bool = False) -> str:
    """One wave, after any pause: its devices in one network-wide confirmed commit with id tx (the
    bundle's exact configs, pinned to the lab evidence where the environment requires it); a
    wave that fails rolls back by itself and fails the change. confirm_waves: before its
    confirming commit the wave waits for a NOC operator (wave_confirm.py). "committed", or the
    change's state when the wave did not commit (aborted before it, failed, rejected)."""
    from orchestrator.plan.bundle import check_base, load
    from orchestrator.rollout.apply import apply_bundle
    from orchestrator.rollout.promote import required_pins

    try:
        if not _healthy(store, change_id, network):
            return _state(store, change_id)
        with store.transaction(write=False) as s:
            bundle_dir = get(s, change_id).bundle_dir
        bundle = load(Path(bundle_dir))
        target = change_target(store, change_id, network)
        part = _sub_bundle(bundle, set(plan_waves(store, change_id)[wave]))
        with store.transaction(write=False) as s:
            check_base(s, part, target.label)
        pins, seen = required_pins(store, target.label, {dev: (d["kind"], part.intended(dev))
                                                         for dev, d in part.devices.items()},
                                   f"change {change_id}'s bundle")
        with store.transaction() as s:
            for dev in part.devices:
                s.get(ChangeDeviceRow, (change_id, dev)).tx = tx
        hold = wave_confirm.hold(store, change_id, wave, tx, confirm_timeout) if confirm_waves else None
        rep = apply_bundle(store, part, target, confirm_timeout, True, None, pins, tx=tx, hold=hold)
        wave_done(store, change_id, wave, tx, sorted(part.devices),
                  {"outcome": rep["outcome"], "bundle": bundle.id, "verification": seen,
                   "devices_ended": {d: r["how"] or r["state"] for d, r in rep["devices"].items()}})
        if rep["outcome"] != "committed":
            if _state(store, change_id) not in ("rolling-out", "paused", "awaiting-confirm"):
                return _state(store, change_id)  # rejected, aborted, timed out: already said
            return end_rollout(store, change_id, "fail", {"wave": wave, "tx": tx, "error": rep["summary"]})
        return "committed"
    except Exception as e:  # noqa: BLE001 - see fail_on
        return fail_on(store, change_id, e)


def wave_done(store, change_id: int, wave: int, tx: str, devices: list[str], detail: dict) -> None:
    """Point the wave's devices at tx and audit the wave's outcome."""
    with store.transaction() as s:
        for dev in devices:
            s.get(ChangeDeviceRow, (change_id, dev)).tx = tx
        Store.audit(s, "change-wave", f"change:{change_id}", {"wave": wave, "tx": tx, "devices": devices, **detail})


def finish(store, change_id: int, network) -> str:
    """After the last wave (any pause, and the health gate): the change is done, unless it was
    aborted meanwhile."""
    try:
        if not _healthy(store, change_id, network):
            return _state(store, change_id)
        return end_rollout(store, change_id, "finish", {"waves": len(plan_waves(store, change_id))})
    except Exception as e:  # noqa: BLE001 - see fail_on
        return fail_on(store, change_id, e)


def progress(store, change_id: int) -> dict:
    """The rollout as it stands: per wave, per device its transaction's state, error, seconds."""
    require("read")
    with store.transaction(write=False) as s:
        row = get(s, change_id)
        devs = list(s.scalars(select(ChangeDeviceRow).where(ChangeDeviceRow.change_id == change_id)
                              .order_by(ChangeDeviceRow.wave, ChangeDeviceRow.device)))
        txs = {d.tx for d in devs if d.tx}
        tx_rows = {t.id: t for t in s.scalars(select(TransactionRow).where(TransactionRow.id.in_(txs)))}
        dev_rows = {(t.tx, t.device): t for t in s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx.in_(txs)))}
        awaits = wave_confirm.awaiting(s, change_id)
    waves_out: dict[int, dict] = {}
    for d in devs:
        w = waves_out.setdefault(d.wave, {"wave": d.wave, "tx": d.tx, "state": "waiting", "devices": []})
        t = tx_rows.get(d.tx)
        if t is not None:
            w["state"] = t.state
            w["tx"] = d.tx
        r = dev_rows.get((d.tx, d.device))
        w["devices"].append({"device": d.device, "state": r.state if r else "waiting",
                             "error": r.error if r else "", "strategy": r.strategy if r else ""})
        seconds = json.loads(t.report).get("devices", {}).get(d.device, {}).get("seconds") if t else None
        w["devices"][-1]["seconds"] = seconds
    if awaits and awaits["wave"] in waves_out:
        waves_out[awaits["wave"]]["state"] = "awaiting-confirm"
    if row.state == "rolled-back":  # roll_back undid every committed wave (it fails, named, otherwise)
        for w in waves_out.values():
            if w["state"] == "committed":
                w["state"] = "rolled-back"
                for d in w["devices"]:
                    if d["state"] == "confirmed":
                        d["state"] = "rolled-back"
    return {"change": change_id, "state": row.state, "error": row.error, "waves": list(waves_out.values()),
            "awaiting": awaits}


def roll_back(store, change_id: int, network, confirm_timeout: int = 120) -> dict:
    """Undo a change's committed waves, newest first (each as a rollback transaction)."""
    from orchestrator.app.environments import rollback

    require("changes.rollout")
    with store.transaction(write=False) as s:
        row = get(s, change_id)
        if (row.state, "roll-back") not in TRANSITIONS:
            move(s, row, "roll-back")  # raises: refused by the state machine
        txs = [t for t in dict.fromkeys(d.tx for d in s.scalars(
            select(ChangeDeviceRow).where(ChangeDeviceRow.change_id == change_id)
            .order_by(ChangeDeviceRow.wave.desc())) if d.tx)]
        committed = [t for t in txs if (tr := s.get(TransactionRow, t)) is not None and tr.state == "committed"]
    reports = [rollback(store, tx, network, confirm_timeout)["report"] for tx in committed]
    failed = [r["tx"] for r in reports if r["outcome"] != "committed"]
    if failed:
        raise FullbarsError(f"rolling back change {change_id} failed in {', '.join(failed)}",
                            fix="see fullbars history; fullbars recover")
    return act(store, change_id, "roll-back", detail={"rolled_back": committed,
                                                        "by": [r["tx"] for r in reports]})
