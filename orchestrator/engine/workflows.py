"""The durable workflows: a rollout (its waves, each wave's transaction one step: a bulk change's
waves of OLTs, or the waves of devices of a service whose kind orders them), a grace window (a
durable timer that carries out a held suspension when the window ends) and the held
suspensions due now. Each step is idempotent against the journal: a step that a dead process was
running is run again by the executor that recovers the workflow, and it first reads the journal
for the transaction that process left (its id is derived from the workflow and the wave), has
`recover` finish or undo it, and applies the wave only if nothing of it was committed."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time

from dbos import DBOS

from orchestrator.errors import FullbarsError

# What the process that started a workflow wants to hear of it (lines, per-device progress);
# a workflow run elsewhere (a worker, a recovery) says nothing here.
_listeners: dict[str, dict] = {}
_sessions: dict[str, dict] = {}  # per rollout: the NETCONF sessions its waves share, in this process
_stores: dict[str, object] = {}
_stores_lock = threading.Lock()


def listen(workflow_id: str, say=None, progress=None) -> None:
    _listeners[workflow_id] = {"say": say, "progress": progress}


def _say(text: str) -> None:
    fn = _listeners.get(DBOS.workflow_id or "", {}).get("say")
    if fn:
        fn(text)


def _progress():
    return _listeners.get(DBOS.workflow_id or "", {}).get("progress")


def _store():
    """The store of the database this process's engine runs on; one per database and process
    (opening one checks the schema)."""
    from orchestrator.engine import runtime
    from orchestrator.resources.store import Store

    url = runtime.url()
    with _stores_lock:
        if url not in _stores:
            _stores[url] = Store(url, command="fullbars engine")
        return _stores[url]


def target_for(store, label: str):
    from orchestrator.network.model import load_network
    from orchestrator.resources.store import Store
    from orchestrator.rollout.targets import from_label

    network = None
    if not label.startswith("lab:"):
        with store.transaction(write=False) as s:
            row = Store.network(s)
        network = load_network(row.source, row.text) if row is not None else None
    return from_label(label, network)


def tx_prefix(workflow_id: str, wave: int) -> str:
    return f"tx-{hashlib.sha256(workflow_id.encode()).hexdigest()[:12]}-w{wave}-a"


# --- rollout ---------------------------------------------------------------------------------

def _unit(wp: dict):
    """The module whose waves a wave plan holds: a bulk change's by OLTs, or a service's by devices
    (a plan without a unit was made by a bulk change)."""
    from orchestrator.rollout import device_waves, waves

    return device_waves if wp.get("unit") == "device" else waves


@DBOS.step(name="fullbars.rollout.wave")
def wave_step(job: dict, w: dict, workflow_id: str) -> dict:
    """A refusal (FullbarsError: a device in doubt, a plan that no longer holds) stops the rollout
    at this wave with the error as its summary, recorded like any outcome, not as a crash."""
    try:
        return _wave(job, w, workflow_id)
    except FullbarsError as e:
        return _row(w, "refused", "", e.render(limit=20))


def _row(w: dict, outcome: str, tx: str, summary: str) -> dict:
    """A wave that sent nothing; its devices are the wave's own where the wave names them."""
    return {"devices": [], **w, "outcome": outcome, "tx": tx, "failed": [], "seconds": 0.0, "summary": summary}


def _wave(job: dict, w: dict, workflow_id: str) -> dict:
    from orchestrator.rollout.journal import IN_DOUBT

    unit = _unit(job["plan"])
    store = _store()
    target = target_for(store, job["target"])
    prefix = tx_prefix(workflow_id, w["wave"])
    earlier, done, stuck = settle_earlier(store, target, prefix)
    if done:  # the devices have it: record the wave as reached, never apply it twice
        return unit.done_wave(store, job["change"], w, done[0])
    if stuck:
        return _row(w, IN_DOUBT, stuck[0].id, f"{stuck[0].id} is still unfinished after recover (a device in doubt): "
                                              f"nothing more was sent; run fullbars recover once its devices answer")
    sessions = _sessions.setdefault(workflow_id, {})
    return unit.run_wave(store, job["change"], w, target, job["confirm_timeout"], f"{prefix}{len(earlier) + 1}",
                         progress=_progress(), sessions=sessions)


def settle_earlier(store, target, prefix: str) -> tuple[list, list, list]:
    """What earlier attempts at one step left in the journal (transactions whose ids start with
    prefix), those a dead process left unfinished first finished or undone by recover: (all of
    them, the committed ones, the ones still unfinished: a device in doubt)."""
    from orchestrator.rollout import waves
    from orchestrator.rollout.journal import IN_DOUBT, IN_FLIGHT
    from orchestrator.rollout.lease import LEASE_S, RENEW_S, alive
    from orchestrator.rollout.recover import recover

    earlier = waves.done_before(store, prefix)
    # A process on another machine, found dead by its heartbeat, may hold its transaction's lease
    # a little longer: wait it out rather than call the wave stuck.
    deadline = time.monotonic() + LEASE_S + RENEW_S
    while any(t.state in (*IN_FLIGHT, IN_DOUBT) for t in earlier):  # left by a process that died in this step
        devices = {d for t in earlier for d in _devices_of(store, t.id)}
        recover(store, devices=sorted(devices), endpoints={d: target.endpoint(d) for d in devices
                                                             if d in target.endpoints})
        earlier = waves.done_before(store, prefix)
        if not any(t.state in IN_FLIGHT and alive(t.owner, t.lease_until) for t in earlier) \
                or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    return (earlier, [t for t in earlier if t.state == "committed"],
            [t for t in earlier if t.state in (*IN_FLIGHT, IN_DOUBT)])


def _devices_of(store, tx: str) -> list[str]:
    from orchestrator.rollout.transaction import devices_of

    return [r.device for r in devices_of(store, tx)]


@DBOS.step(name="fullbars.rollout.reached")
def reached_step(job: dict, rows: list[dict]) -> list[str]:
    return _unit(job["plan"]).reached_by(_store(), job["change"], job["plan"], rows)


@DBOS.workflow(name="fullbars.rollout")
def rollout(job: dict) -> dict:
    """job: change (a stored bulk change, or a service whose kind orders its devices), plan (its
    wave plan, made when it was started), target (label), confirm_timeout, pause (seconds between
    waves, a durable sleep)."""
    from orchestrator.rollout.wave_steps import stopped
    from orchestrator.rollout.waves import describe_plan

    wid = DBOS.workflow_id
    wp = job["plan"]
    for line in describe_plan(wp):
        _say(line)
    report = {"change": job["change"], "plan": wp, "waves": [], "outcome": "committed", "workflow": wid}
    if "unit" in wp:
        report["unit"] = wp["unit"]
    try:
        for w in wp["waves"]:
            if w is not wp["waves"][0] and job.get("pause"):
                _say(f"  pausing {job['pause']:g} s before {w['name']}")
                DBOS.sleep(job["pause"])
            row = wave_step(job, w, wid)
            report["waves"].append(row)
            if stopped(report, wp, w, row, row["seconds"], _say):
                break
            if row["outcome"] == "committed":
                _say(f"  {w['name']}: committed on {len(row['devices'])} device(s) in {row['seconds']:.1f} s "
                     f"({row['tx']}){' (finished by recover)' if row.get('recovered') else ''}")
    finally:
        _listeners.pop(wid, None)
        for s in _sessions.pop(wid, {}).values():
            s.close()
    report["reached"] = reached_step(job, report["waves"])
    return report


# --- suspensions -----------------------------------------------------------------------------

@DBOS.step(name="fullbars.clock.until")
def seconds_until(when: str) -> float:
    """Seconds from the clock's now (orchestrator/clock.py: time may be injected) until `when`."""
    from orchestrator import clock

    return (dt.datetime.fromisoformat(when) - clock.now()).total_seconds()


@DBOS.step(name="fullbars.suspend.carry-out")
def due_step(job: dict, lines: list[str] | None) -> list[dict]:
    from orchestrator.rollout import suspension

    store = _store()
    try:
        return suspension.due(store, target_for(store, job["target"]), job["confirm_timeout"], progress=_progress(),
                              lines=lines)
    except FullbarsError as e:  # recorded as this attempt's outcome; the suspensions stay held
        return [{"line": ", ".join(lines or []) or "(due)", "outcome": "failed", "summary": e.render(limit=20)}]


@DBOS.workflow(name="fullbars.suspend.due")
def suspend_due(job: dict) -> list[dict]:
    """The held suspensions whose window is over, carried out now (`fullbars suspend --due`)."""
    try:
        return due_step(job, None)
    finally:
        _listeners.pop(DBOS.workflow_id or "", None)


@DBOS.workflow(name="fullbars.grace")
def grace_window(job: dict) -> list[dict]:
    """A durable timer: sleeps (durably: a restarted or recovering executor sleeps only what is
    left) until the grace window of job['line'] ends at job['due'], then carries out its held
    suspension, unless it was withdrawn or done meanwhile (or waits on for a policy that now keeps
    the line longer). The clock is asked again after each sleep, at most job['check'] seconds
    long, so an injected clock is followed."""
    due = job["due"]
    while True:
        # due is the window's last second, kept to the second: the window is over a second later
        left = seconds_until(due) + 1.0
        if left > 0:
            DBOS.sleep(min(left + 0.001, job.get("check", 60.0)))
            continue
        out = due_step(job, [job["line"]])
        longer = [r["due"] for r in out if r.get("outcome") == "held" and r.get("due")]
        if not longer:
            return out
        due = longer[0]  # a policy that covers the line longer now: wait for its end


def grace_id(line: str, due: str, hold: int | None = None) -> str:
    return f"grace:{line}:{due}" + (f":{hold}" if hold is not None else "")



# --- what time alone changes -----------------------------------------------------------------

@DBOS.step(name="fullbars.clock.today")
def today() -> str:
    from orchestrator import clock

    return clock.now().date().isoformat()


@DBOS.step(name="fullbars.plan.due")
def plan_due_step(folder: str, day: str) -> dict:
    """Plan the stored services time has changed by `day` (Service.as_of) into folder/due-DAY
    (due-DAY-2 and on for a later plan of the same day)."""
    import os
    import tempfile
    from pathlib import Path

    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan

    try:  # a plan kept with nowhere to write it would be lost to the NOC: the next run finds nothing due
        Path(folder).mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=".fullbars-due-", dir=folder))
    except OSError as e:
        return {"day": day, "outcome": "failed", "summary": f"cannot write the plan into {folder}: {e.strerror}"}
    try:
        result = plan(_store(), None, [], due=dt.date.fromisoformat(day))
    except FullbarsError as e:  # the services stay as they were planned; the next day tries again
        return {"day": day, "outcome": "failed", "summary": e.render(limit=20)}
    names = sorted(s.name for s in result.services)
    if not names:
        return {"day": day, "outcome": "nothing due", "services": []}
    out, n = Path(folder) / f"due-{day}", 2
    while out.exists():  # a schedule that runs more than once a day keeps each plan
        out, n = Path(folder) / f"due-{day}-{n}", n + 1
    write(result, out)
    return {"day": day, "outcome": "planned", "services": names, "plan": str(out)}


@DBOS.workflow(name="fullbars.plan-due")
def plan_due(scheduled_at: dt.datetime, context: dict) -> dict:
    """Run by the engine's scheduler (a `fullbars worker --plan-due DIR`): the day's plan of what
    time alone has changed (a tenure that crossed a year), written for the NOC to review and apply."""
    return plan_due_step(context["folder"], today())
