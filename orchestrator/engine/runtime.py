"""DBOS Transact on the store's own database: the SQLite file by default, PostgreSQL when
several machines work (DBOS keeps its tables beside the store's: in the same SQLite file, or in
the schema `dbos` of the same PostgreSQL database). One engine per process; every process that
runs workflows is an executor with its own id and a heartbeat (heartbeat.py)."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import threading

from orchestrator.engine.heartbeat import Heartbeat

# name: (worker concurrency (None: no limit; a timer mostly sleeps), seconds between polls,
# PostgreSQL only)
QUEUES = {
    "fullbars-rollouts": (1, 0.5, False),  # one rollout at a time per executor: waves already run devices in parallel
    "fullbars-timers": (None, 0.5, False),
    # A plan's device builds (engine/builds.py): one at a time, since a build is mostly Python and
    # threads share one core (a machine builds on as many cores as it runs workers); a worker takes
    # the next only at a poll, and a plan has hundreds of builds, some of a fraction of a second.
    # Only on PostgreSQL (a SQLite store's plans build here), so a SQLite file is not polled 20 times
    # a second.
    "fullbars-builds": (1, 0.05, True),
}
# DBOS runs (and recovers) a workflow only on executors of the version it was started under; by
# default that is a hash of the workflows' code, so every release would strand the timers of held
# suspensions. Raise this when a workflow's steps change so that an older run could not follow.
ENGINE_VERSION = "fullbars-engine-1"
HEARTBEAT_S = float(os.environ.get("FULLBARS_HEARTBEAT", "1"))
DEAD_AFTER_S = float(os.environ.get("FULLBARS_DEAD_AFTER", "10"))

_lock = threading.Lock()
_state: dict = {}


def executor_id(role: str) -> str:
    return f"{role}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


def launch(url: str, role: str = "command", executor: str | None = None, watch: bool = False,
           heartbeat: float = HEARTBEAT_S, dead_after: float = DEAD_AFTER_S, fenced=None) -> str:
    """Start the engine in this process (once; again only for another database) and return the
    executor's id. role worker: listens to every queue. watch: also watches the other executors
    and recovers the dead ones' workflows."""
    from dbos import DBOS

    from orchestrator.engine import builds, change_rollout, workflows  # noqa: F401 - registers the workflows before launch

    with _lock:
        if _state.get("url") == url:
            return _state["executor"]
        if _state:
            _shutdown()
        eid = executor or executor_id(role)
        for h in logging.getLogger("dbos").handlers:  # DBOS's own, made on import on whatever sys.stderr
            if h.name == "__dbos_console_log_handler__":  # was then (a test runner's capture, closed since)
                h.stream = sys.__stderr__
        DBOS(config={"name": "fullbars", "system_database_url": url, "executor_id": eid, "log_level": "WARNING",
                     "application_version": ENGINE_VERSION,
                     "notification_listener_polling_interval_sec": 0.2})
        if role != "worker":  # a command runs what it starts; the queues are the workers'
            DBOS.listen_queues([])
        DBOS.launch()
        for name in queues(url):
            limit, poll, _ = QUEUES[name]
            DBOS.register_queue(name, worker_concurrency=limit, polling_interval_sec=poll)
        beat = Heartbeat(url, eid, role, heartbeat, dead_after,
                         recover=(lambda ids: DBOS._recover_pending_workflows(ids)) if watch else None,
                         fenced=fenced)
        beat.start()
        _state.update(url=url, executor=eid, heartbeat=beat)
        return eid


def _shutdown() -> None:
    from dbos import DBOS

    beat = _state.get("heartbeat")
    try:  # nothing left to recover: no row left behind for the watchers (a command on a store no worker watches)
        left = DBOS.list_workflows(status=["PENDING"], executor_id=_state["executor"], load_input=False,
                                   load_output=False)
    except Exception:  # noqa: BLE001 - unknown: keep the row, a watcher recovers whatever is there
        left = [None]
    DBOS.destroy(workflow_completion_timeout_sec=0)
    if beat is not None:
        beat.stop(forget=not left)
    _state.clear()


def shutdown() -> None:
    with _lock:
        if _state:
            _shutdown()


def url() -> str:
    """The database of this process's engine: the one a workflow it runs is stored in (so a
    workflow's input never carries a URL, which may hold a password)."""
    return _state["url"]


def queues(url: str) -> list[str]:
    """The queues an executor on url takes work from."""
    from sqlalchemy.engine import make_url

    pg = make_url(url).get_backend_name() == "postgresql"
    return [name for name, (_, _, pg_only) in QUEUES.items() if pg or not pg_only]


def running(url: str) -> bool:
    """Whether this process's engine runs on url."""
    return _state.get("url") == url


def executor() -> str:
    """This process's executor id (as its heartbeat row and the workflows it runs name it)."""
    return _state["executor"]


def heartbeat() -> Heartbeat | None:
    return _state.get("heartbeat")
