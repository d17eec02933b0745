"""A plan's device builds as queue tasks (FULLBARS_PLAN_BUILDS=workers): each device is a workflow
on the queue fullbars-builds, taken by whichever `fullbars worker` sharing the store's PostgreSQL
is free, on any machine. A worker builds exactly as a forked process of the planner would
(plan/devices.build), once it has checked that it holds the same templates, models and plan code
as the planner (the kind's fingerprint, which every cache key holds): what it sends back is what
the plan's keys say. Results come back through the database and are deleted once taken.

    check_ready(url)                      refuse, before a plan begins, what cannot build this way
    on_workers(url, work, tally)          enqueue every (job, piece keys); yield (built, problems)
                                          as they finish; tally[worker] counts each worker's devices
"""

from __future__ import annotations

import pickle
import secrets
import time
import zlib

from dbos import DBOS, SetWorkflowID

from orchestrator import fault_pause
from orchestrator.engine import runtime
from orchestrator.errors import FullbarsError, Problem, SetupError

BUILDS = "fullbars-builds"
ENDED = ["SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"]
NO_WORKER_FOR_S = 30.0  # no live worker this long, with builds left: the plan stops


def _pack(value) -> bytes:
    return zlib.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), 1)


def _unpack(blob: bytes):
    return pickle.loads(zlib.decompress(blob))  # noqa: S301 - the store's own database, written by fullbars


@DBOS.workflow(name="fullbars.plan.build")
def build_device(payload: bytes) -> bytes:
    """payload: (job, piece keys, the planner's fingerprint of the job's kind). Returns
    ((built, problems), the executor that built it). No step: a build reads and writes nothing
    but its input and output, so a recovered one simply builds again."""
    from orchestrator.plan import devices, fragcache

    job, keyed, fingerprint = _unpack(payload)
    me = runtime.executor()
    fault_pause.at("build")  # tests of recovery kill the worker here
    if fragcache.kind_fingerprint(job.kind) != fingerprint:
        out = (None, [Problem(f"{job.device}: worker {me} has other templates, models or plan code for "
                              f"{job.kind} than the planner", fix="run the same fullbars release, with the same "
                              "models in FULLBARS_YANG_PATH, on every worker and the planner")])
    else:
        out = devices.build(job, keyed)
    return _pack((out, me))


def check_ready(url: str) -> None:
    """SetupError unless the store is PostgreSQL and a worker beats on it."""
    from sqlalchemy.engine import make_url

    from orchestrator.engine.heartbeat import live_workers

    if make_url(url).get_backend_name() != "postgresql":
        raise SetupError("FULLBARS_PLAN_BUILDS=workers needs the store on PostgreSQL (workers on other "
                         "machines share it); this store is SQLite",
                         fix="use --db postgresql+psycopg://..., or unset FULLBARS_PLAN_BUILDS to build here")
    if not live_workers(url):
        raise SetupError("FULLBARS_PLAN_BUILDS=workers, but no `fullbars worker` runs on this store",
                         fix="start some (fullbars worker --db URL, one per core, on any machines), or unset "
                             "FULLBARS_PLAN_BUILDS to build here")


def on_workers(url: str, work: list, tally: dict | None = None, poll: float = 0.2):
    """work: (job, piece keys) per device, biggest first. Yields (built, problems) as workers
    finish them. Called with the store's write lock held (plan() holds it). Whatever is left when
    this stops early (an error, a plan refused) is cancelled and deleted, so no worker builds for a
    plan that is gone."""
    from orchestrator.engine.heartbeat import live_workers
    from orchestrator.plan import fragcache

    ours = not runtime.running(url)  # a command's engine, started for these builds, stops with them
    runtime.launch(url)
    # The planner holds the store's write lock, so no other plan is building: builds still here
    # are a killed planner's, never to be taken. Gone, with their results.
    orphans = [st.workflow_id for st in DBOS.list_workflows(workflow_id_prefix="build:", load_input=False,
                                                            load_output=False)]
    if orphans:
        DBOS.cancel_workflows(orphans)
        DBOS.delete_workflows(orphans)
    prefix = f"build:{secrets.token_hex(6)}:"
    device = {}
    for job, keyed in work:
        wid = prefix + job.device
        device[wid] = job.device
        with SetWorkflowID(wid):
            DBOS.enqueue_workflow(BUILDS, build_device, _pack((job, keyed, fragcache.kind_fingerprint(job.kind))))
    left, idle_since = set(device), time.monotonic()
    try:
        while left:
            done = DBOS.list_workflows(workflow_id_prefix=prefix, status=ENDED, load_input=False)
            done = [st for st in done if st.workflow_id in left]
            for st in done:
                if st.status != "SUCCESS":
                    raise FullbarsError(f"building {device[st.workflow_id]} on worker {st.executor_id} ended "
                                        f"{st.status}: {st.error or 'no error recorded'}",
                                        fix="nothing was kept; see that worker's log, and plan again")
                (built, problems), by = _unpack(st.output)
                left.discard(st.workflow_id)
                if tally is not None:
                    tally[by] = tally.get(by, 0) + 1
                yield built, problems
            if done:
                DBOS.delete_workflows([st.workflow_id for st in done])
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > NO_WORKER_FOR_S and not live_workers(url):
                raise FullbarsError(f"no `fullbars worker` has beaten on this store for {NO_WORKER_FOR_S:g} s, with "
                                    f"{len(left)} device(s) left to build", fix="nothing was kept; start workers "
                                    "(fullbars worker --db URL) and plan again")
            else:
                time.sleep(poll)
    finally:
        if left:
            DBOS.cancel_workflows(sorted(left))
            DBOS.delete_workflows(sorted(left))
        if ours:  # its heartbeat row goes too: no worker has to find this process dead
            runtime.shutdown()
