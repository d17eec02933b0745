"""The engine's API (orchestrator/engine/api.py) on a real SQLite store, without devices: a
held suspension's timer is one workflow however often it is asked for, waits on its queue for a
worker, and can be paused (cancelled) there before any step runs."""

from __future__ import annotations

from orchestrator.engine import api, runtime
from orchestrator.resources.store import Store


def test_a_grace_timer_is_one_workflow_and_waits_for_a_worker(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    Store(url).engine.dispose()
    try:
        wid = api.hold_until_due(url, "line-1", "lab:/nowhere.clab.yml", "2099-06-30T23:59:59+00:00")
        assert api.hold_until_due(url, "line-1", "lab:/nowhere.clab.yml", "2099-06-30T23:59:59+00:00") == wid
        st = api.status(url, wid)
        assert st["status"] == "ENQUEUED" and st["steps"] == []  # a command does not take the workers' queues
        other = api.hold_until_due(url, "line-2", "lab:/nowhere.clab.yml", "2099-06-30T23:59:59+00:00")
        assert other != wid
        api.pause(url, wid)
        assert api.status(url, wid)["status"] == "CANCELLED"
        assert api.status(url, other)["status"] == "ENQUEUED"
    finally:
        runtime.shutdown()
    from dbos import DBOSClient

    client = DBOSClient(system_database_url=url)
    try:
        assert sorted(w.workflow_id for w in client.list_workflows(name="fullbars.grace")) == sorted([wid, other])
    finally:
        client.destroy()


def test_a_worker_whose_silence_limit_is_shorter_than_its_beats_is_refused(tmp_path):
    from conftest import cli

    db = f"sqlite:///{tmp_path}/store.db"
    r = cli("worker", "--heartbeat", "2", "--dead-after", "3", db=db)
    assert r.exit_code == 2
    assert "--dead-after 3 must be at least 3 heartbeats (6 s)" in r.stderr and "fix:" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "store.db").exists()
