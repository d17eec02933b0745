"""The durable engine on the default store (one SQLite file, one machine): `fullbars rollout`
runs its waves in its own process; SIGKILLed in the middle of its second wave, the worker beside
it sees the process gone at once (same host: its heartbeat row names a pid that no longer
exists; the silence limit is set far beyond the test), recovers the workflow and finishes it.

The lab is this test's own (topology s4e..., management subnet 198.18.245.0/24, devsim agents)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import yaml

from conftest import REPO, cli
from orchestrator.engine.workflows import tx_prefix
from test_engine import FULLBARS, SHP, _rows, _running, _until, devsim_lab


@pytest.fixture(scope="module")
def lab2(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("s4e-sqlite")
    db = f"sqlite:///{tmp}/store.db"
    with devsim_lab(tmp, db, 2, 2, 1, "s4e-sqlite", "198.18.245.0/24") as topo:
        yield {"tmp": tmp, "topo": topo, "db": db}


def test_a_killed_rollout_command_is_finished_by_the_worker_beside_it(lab2):
    tmp, topo, db = lab2["tmp"], lab2["topo"], lab2["db"]
    up = tmp / "to-500m.yaml"
    up.write_text(yaml.safe_dump({"apiVersion": "fullbars.io/v1", "kind": "SpeedUpgrade", "metadata": {"name": "to-500m"},
                                  "spec": {"selector": {}, "rates": {"downstream": "500M"},
                                           "rollout": {"canary": 1, "waves": 1}}}))
    worker = subprocess.Popen(FULLBARS + ["worker", "--db", db, "--id", "s4e-sq-w", "--heartbeat", "0.5",
                                          "--dead-after", "3600"],
                              stdout=(tmp / "w.log").open("w"), stderr=subprocess.STDOUT, cwd=REPO)
    rollout = None
    try:
        _until("the worker", lambda: _rows(db, "SELECT id FROM engine_executors WHERE id = 's4e-sq-w' AND beat > 0"),
               60, [worker])
        rollout = subprocess.Popen(FULLBARS + ["rollout", str(up), "--target", "lab", "--lab", str(topo), "--db", db],
                                   env={**os.environ, "FULLBARS_FAULT_PAUSE": "confirming:600:2"},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        wid = _until("the rollout's workflow", lambda: _rows(
            db, "SELECT workflow_uuid FROM workflow_status WHERE name = 'fullbars.rollout'"), 120, [rollout])[0][0]
        mine = tx_prefix(wid, 0)[:16] + "%"
        txs = "SELECT id FROM transactions WHERE id LIKE :m AND state = :s"
        paused = _until("the second wave held before confirming", lambda: _rows(db, txs, m=mine, s="committed")
                        and _rows(db, txs, m=mine, s="verifying"), 120, [rollout])
        time.sleep(1.5)
        assert _rows(db, txs, m=mine, s="verifying") == paused
        rollout.send_signal(signal.SIGKILL)
        rollout.communicate()
        _until("the worker to finish the rollout", lambda: _rows(
            db, "SELECT status FROM workflow_status WHERE workflow_uuid = :w AND status = 'SUCCESS'", w=wid), 180,
               [worker])
    finally:
        for p in (rollout, worker):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(timeout=60)
    assert _rows(db, "SELECT executor_id FROM workflow_status WHERE workflow_uuid = :w", w=wid) == [("s4e-sq-w",)]
    assert _rows(db, "SELECT state FROM transactions WHERE id = :t", t=paused[0][0]) == [("rolled-back",)]
    assert len(_rows(db, txs, m=mine, s="committed")) == 2
    for olt in ("olt-1", "olt-2"):
        assert {e.text for e in _running(topo, olt).iter(f"{{{SHP}}}shaper-name")} == {"down-500M"}, olt
    r = cli("drift", "--target", "lab", "--lab", str(topo), db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
