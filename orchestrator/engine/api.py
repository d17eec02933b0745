"""The engine's API, for any face (the CLI, the REST server) and for `fullbars worker`.

    run_rollout(store, change_file, target, ...)     plan the change (a bulk change, or a service whose
                                                     devices roll out in waves), run its waves, return the report
    start_rollout(store, change_file, target, ...)   the same, handed to the workers; returns the workflow id
    status(url, workflow_id)                         its state, executor and steps so far
    wait(url, workflow_id, on_step=None)             block until it ends; its result
    pause / resume(url, workflow_id)                 stop at the next step boundary / go on from there
    start_change(url, job)                           a change request's rollout, run in this process
    hold_until_due(url, line, target, due, ...)      the durable timer of a held suspension
    carry_out_due(store, target, ...)                the held suspensions due now (`suspend --due`)
    work(url, ...)                                   run an executor until stopped (`fullbars worker`)
    schedule_plan_due(url, folder, cron)             the daily plan of what time alone changes (`--plan-due`)

A workflow started here is durable: if this process dies, a worker that sees its heartbeat stop
recovers it (orchestrator/engine/heartbeat.py)."""

from __future__ import annotations

import datetime as dt
import secrets
import signal
import threading
import time

from orchestrator.engine import runtime
from orchestrator.errors import FullbarsError

ROLLOUTS, TIMERS = "fullbars-rollouts", "fullbars-timers"


def _rollout_job(store, change_file: str, target, network_file: str | None, confirm_timeout: int,
                 pause: float) -> tuple[str, dict]:
    from orchestrator.rollout.waves import prepare

    change, wp = prepare(store, network_file, change_file, target.label)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    wid = f"rollout:{change}:{stamp}:{secrets.token_hex(3)}"
    return wid, {"change": change, "plan": wp, "target": target.label,
                 "confirm_timeout": confirm_timeout, "pause": pause}


def run_rollout(store, change_file: str, target, network_file: str | None = None, confirm_timeout: int = 120,
                pause: float = 0.0, say=None, progress=None) -> dict:
    """Run in this process, as a durable workflow (a worker recovers it if this process dies)."""
    from dbos import DBOS, SetWorkflowID

    from orchestrator.engine import workflows

    wid, job = _rollout_job(store, change_file, target, network_file, confirm_timeout, pause)
    runtime.launch(store.url)
    workflows.listen(wid, say, progress)
    with SetWorkflowID(wid):
        handle = DBOS.start_workflow(workflows.rollout, job)
    return handle.get_result()


def start_rollout(store, change_file: str, target, network_file: str | None = None, confirm_timeout: int = 120,
                  pause: float = 0.0) -> str:
    """Hand the rollout to the workers (queue fullbars-rollouts); returns its workflow id. Refused
    when no worker runs on this store, before anything is planned."""
    from orchestrator.engine import workflows
    from orchestrator.engine.heartbeat import live_workers

    if not live_workers(store.url):
        raise FullbarsError("no `fullbars worker` runs on this store to take the rollout",
                            fix="start one (fullbars worker --db URL, on any machine), or run the rollout "
                                "here without --workers")

    wid, job = _rollout_job(store, change_file, target, network_file, confirm_timeout, pause)
    _enqueue(store.url, ROLLOUTS, wid, workflows.rollout, job)
    return wid


def _enqueue(url: str, queue: str, wid: str, fn, job: dict) -> None:
    from dbos import DBOS, SetWorkflowID

    runtime.launch(url)
    with SetWorkflowID(wid):  # a workflow id already there: DBOS attaches to it, nothing new runs
        DBOS.enqueue_workflow(queue, fn, job)


def status(url: str, workflow_id: str) -> dict:
    from dbos import DBOS

    runtime.launch(url)
    st = DBOS.get_workflow_status(workflow_id)
    if st is None:
        raise FullbarsError(f"no workflow {workflow_id}", fix="workflow ids are printed when a workflow starts")
    return {"workflow": workflow_id, "status": st.status, "executor": st.executor_id,
            "steps": [{"step": s["function_name"], "output": s["output"], "error": str(s["error"] or "")}
                      for s in DBOS.list_workflow_steps(workflow_id)]}


def wait(url: str, workflow_id: str, on_step=None, poll: float = 0.5):
    """Block until the workflow ends (whichever executor runs it); on_step(step) for each step
    recorded meanwhile. Its result, or FullbarsError if it failed or was cancelled."""
    from dbos import DBOS

    runtime.launch(url)
    told = 0
    while True:
        st = DBOS.get_workflow_status(workflow_id)
        steps = DBOS.list_workflow_steps(workflow_id)
        for s in steps[told:]:
            if on_step is not None:
                on_step(s)
        told = len(steps)
        if st.status == "SUCCESS":
            return DBOS.retrieve_workflow(workflow_id).get_result()
        if st.status in ("ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"):
            raise FullbarsError(f"workflow {workflow_id} ended {st.status}: {st.error or 'no error recorded'}",
                                fix="waves already committed stay; run the rollout again to carry on")
        time.sleep(poll)


def pause(url: str, workflow_id: str) -> None:
    """Stop at the next step boundary (a wave under way finishes); resume() goes on from there."""
    from dbos import DBOS

    runtime.launch(url)
    DBOS.cancel_workflow(workflow_id)


def resume(url: str, workflow_id: str) -> None:
    from dbos import DBOS

    runtime.launch(url)
    DBOS.resume_workflow(workflow_id)


abort = pause  # the same stop; an aborted rollout is simply never resumed (a later one carries on)


def start_change(url: str, job: dict) -> str:
    """Run a started change request's rollout (job: as app.rollouts.start makes it, with
    network_file) as a durable workflow in this process, in the background; its workflow id."""
    from dbos import DBOS, SetWorkflowID

    from orchestrator.engine.change_rollout import change_rollout

    runtime.launch(url)
    wid = f"change:{job['change']}:{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}:{secrets.token_hex(3)}"
    with SetWorkflowID(wid):
        DBOS.start_workflow(change_rollout, job)
    return wid


def hold_until_due(url: str, line: str, target_label: str, due: str, confirm_timeout: int = 120,
                   check: float = 60.0, hold: int | None = None) -> str:
    """Start the durable timer of a held suspension (once per held suspension: the workflow id
    names it, so asking again changes nothing; a later hold of the line for the same window, once
    the first was carried out or withdrawn, is a timer of its own). A worker runs it."""
    from orchestrator.engine import workflows

    wid = workflows.grace_id(line, due, hold)
    _enqueue(url, TIMERS, wid, workflows.grace_window, {"line": line, "target": target_label, "due": due,
                                                       "confirm_timeout": confirm_timeout, "check": check})
    return wid


def carry_out_due(store, target, confirm_timeout: int = 120, progress=None) -> list[dict]:
    """The held suspensions whose window is over, as a durable workflow run in this process."""
    from dbos import DBOS, SetWorkflowID

    from orchestrator.engine import workflows

    runtime.launch(store.url)
    wid = f"suspend-due:{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}:{secrets.token_hex(3)}"
    workflows.listen(wid, None, progress)
    with SetWorkflowID(wid):
        handle = DBOS.start_workflow(workflows.suspend_due, {"target": target.label,
                                                             "confirm_timeout": confirm_timeout})
    return handle.get_result()


def check_timing(heartbeat: float, dead_after: float) -> None:
    if heartbeat <= 0 or dead_after < 3 * heartbeat:
        raise FullbarsError(f"--dead-after {dead_after:g} must be at least 3 heartbeats ({3 * heartbeat:g} s), "
                            f"and --heartbeat {heartbeat:g} above 0",
                            fix="a silence of a few beats is what tells a dead executor from a slow one: "
                                "e.g. --heartbeat 1 --dead-after 10")


def work(url: str, executor: str | None = None, heartbeat: float = runtime.HEARTBEAT_S,
         dead_after: float = runtime.DEAD_AFTER_S, say=print, stop: threading.Event | None = None,
         plan_due: tuple[str, str] | None = None) -> None:
    """Run an executor until SIGTERM/SIGINT (or stop is set): it takes workflows from the queues,
    beats, and recovers the workflows of executors that stop beating."""
    import os

    check_timing(heartbeat, dead_after)
    stop = stop or threading.Event()

    def fenced():  # others took this executor for dead and run its workflows: stop at once
        say(f"worker {eid}: other executors took it for dead; stopping so no step runs twice")
        os._exit(75)

    eid = runtime.launch(url, role="worker", executor=executor, watch=True, heartbeat=heartbeat,
                         dead_after=dead_after, fenced=fenced)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    say(f"worker {eid} running on {_where(url)}; queues {', '.join(runtime.queues(url))}; heartbeat {heartbeat:g} s, "
        f"an executor silent {dead_after:g} s is recovered")
    if plan_due is not None:
        schedule_plan_due(url, *plan_due)
        say(f"worker {eid}: plans what time alone changes at {plan_due[1]!r} (UTC) into {plan_due[0]}/due-DAY")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        runtime.shutdown()
        say(f"worker {eid} stopped")


PLAN_DUE = "fullbars.plan-due"


def schedule_plan_due(url: str, folder: str, cron: str) -> None:
    """Have the engine plan, at each `cron` time (UTC), the stored services time alone has changed,
    into `folder`/due-DAY on the machine of the worker that runs it. One schedule per store: the
    last worker to set it wins."""
    from dbos import DBOS

    from orchestrator.engine import workflows

    check_cron(cron)
    runtime.launch(url)
    DBOS.apply_schedules([{"schedule_name": PLAN_DUE, "workflow_fn": workflows.plan_due, "schedule": cron,
                           "context": {"folder": folder}, "queue_name": TIMERS}])


def check_cron(cron: str) -> None:
    from croniter import croniter

    if not croniter.is_valid(cron, second_at_beginning=True):
        raise FullbarsError(f"--plan-due-at {cron!r} is not a cron expression",
                            fix="write one such as '0 2 * * *' (every day at 02:00 UTC; with six fields the first "
                                "is the second)")


def _where(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return f"{u.get_backend_name()} {u.database or ''}".strip()
