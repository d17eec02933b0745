"""A change request's rollout is a durable workflow of the server's in-process engine: the server
is SIGKILLed in the middle of wave 2 (its devices committed but not confirmed; or confirmed, not
yet journalled), started again on the same store (or a `fullbars worker` is started on it),
which recovers the workflow: recover undoes the killed wave's transaction and the wave is
applied once more (or finishes it, and it is not applied again); wave 1 is not applied again,
and the change ends `done` with every device confirmed exactly once in the journal.

The lab is this file's own (topology s4r..., all devsim, management subnet 198.18.252.0/24)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from conftest import EXAMPLES
from server_helpers import make_users, production_lab, running_server
from test_server_api import _verification

INTENTS = [EXAMPLES / "intents/acme-hq.yaml", EXAMPLES / "intents/clinic-west.yaml"]
DEVICES = ("olt-1", "bng-east", "olt-3", "bng-west")
SECRET = "FULLBARS_TEST_S4R_DURABLE_PASSWORD"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server-durable")
    with production_lab(tmp, INTENTS, f"s4r{os.getpid() % 100000}", "198.18.252.0/24", SECRET, DEVICES,
                        agent="devsim") as (st, net):
        yield {"tmp": tmp, "st": st, "net": net}


def _rows(db: str, sql: str, **params) -> list[tuple]:
    eng = create_engine(db)
    try:
        with eng.connect() as c:
            return [tuple(r) for r in c.execute(text(sql), params)]
    finally:
        eng.dispose()


def _until(what: str, fn, limit: float, proc=None):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if got := fn():
            return got
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"waiting for {what}: the process ended (exit {proc.returncode})")
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


# (held before, its transaction's state then, after recover, who recovers it)
KILLS = [("confirming", "verifying", "rolled-back", "server"),  # committed, not confirmed: undone, applied again
         ("committed", "confirming", "committed", "server"),  # confirmed: recover finishes it, not applied again
         ("confirming", "verifying", "rolled-back", "worker")]  # the same, recovered by `fullbars worker`


@pytest.mark.parametrize("before,journal,after,by", KILLS, ids=[f"{k[0]}-{k[3]}" for k in KILLS])
def test_a_change_survives_the_death_of_the_server(lab, before, journal, after, by):
    tmp, env = lab["tmp"] / f"{before}-{by}", {SECRET: lab["st"]["password"]}  # a server (and store) per case
    tmp.mkdir()
    started: list = []
    with running_server(tmp, "--network", str(lab["net"]), started=started,
                        env={**env, "FULLBARS_FAULT_PAUSE": f"{before}:600:2"}) as (url, admin_pw, db):
        with httpx.Client(base_url=url, timeout=60) as client:
            tokens = make_users(client, url, admin_pw, people={"eve": ["engineer"], "nick": ["noc"]},
                                machines={"ci-bot": ["ci"]})

            def call(who, method, path, **kw):
                client.cookies.clear()
                return client.request(method, path, headers={"Authorization": f"Bearer {tokens[who]}"}, **kw)

            assert call("admin", "PUT", "api/environments/production", json={"evidence": "optional"}).status_code == 200
            r = call("eve", "POST", "api/changes", json={"title": "two lines", "target": "production",
                                                         "intents": {f.name: f.read_text() for f in INTENTS}})
            assert r.status_code == 201, r.text
            c = r.json()
            n = c["id"]
            r = call("ci-bot", "POST", f"api/changes/{n}/evidence",
                     json={"verification_id": _verification(db, c["bundle_dir"], ok=True)})
            assert r.json()["state"] == "verified", r.text
            assert call("nick", "POST", f"api/changes/{n}/approve").json()["state"] == "approved"
            assert call("nick", "POST", f"api/changes/{n}/rollout").status_code == 202

            wid = _until("the change's workflow", lambda: _rows(
                db, "SELECT workflow_uuid FROM workflow_status WHERE name = 'fullbars.change.rollout'"), 60,
                started[0])[0][0]
            from orchestrator.engine.workflows import tx_prefix
            mine = tx_prefix(wid, 0)[:16] + "%"  # this workflow's transactions
            txs = "SELECT id FROM transactions WHERE id LIKE :m AND state = :s"
            held = _until(f"wave 2 held before {before}", lambda: _rows(db, txs, m=mine, s="committed")
                          and _rows(db, txs, m=mine, s=journal), 180, started[0])
            time.sleep(1.5)  # held there, not passing by
            assert _rows(db, txs, m=mine, s=journal) == held
            started[0].send_signal(signal.SIGKILL)
            started[0].wait()
    killed_tx = held[0][0]
    assert _rows(db, "SELECT state FROM change_requests WHERE id = :n", n=n) == [("rolling-out",)]  # stuck, until ...

    finished = "SELECT status FROM workflow_status WHERE workflow_uuid = :w AND status = 'SUCCESS'"
    if by == "worker":
        with open(tmp / "worker.log", "w") as log:
            worker = subprocess.Popen([str(Path(sys.executable).parent / "fullbars"), "worker", "--db", db, "--id",
                                       f"s4r-worker-{before}"], stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
                                      env={**os.environ, **env})
        try:
            _until("the worker to finish the change", lambda: _rows(db, finished, w=wid), 240, worker)
        finally:
            worker.terminate()
            worker.wait(60)
    with running_server(tmp, "--network", str(lab["net"]), started=started, env=env) as (url, _, db):
        _until("the restarted server to finish the change", lambda: _rows(db, finished, w=wid), 240, started[1])
        with httpx.Client(base_url=url, timeout=60) as client:
            nick = {"Authorization": f"Bearer {tokens['nick']}"}
            r = client.get(f"api/changes/{n}/rollout", headers=nick).json()
            # undone again, so that the next case starts from the lab as it was
            back = client.post(f"api/changes/{n}/rollback", headers=nick)
        assert back.status_code == 200 and back.json()["state"] == "rolled-back", back.text
    assert r["state"] == "done", r
    assert [d["state"] for w in r["waves"] for d in w["devices"]] == ["confirmed"] * 4, r
    (executor,), = _rows(db, "SELECT executor_id FROM workflow_status WHERE workflow_uuid = :w", w=wid)
    assert executor == f"s4r-worker-{before}" if by == "worker" else \
        executor.startswith("server-") and f"-{started[1].pid}-" in executor, executor

    # the journal: the killed wave undone by recover and applied once more, or finished by recover
    # and not applied again; wave 1 not again either way
    assert _rows(db, "SELECT state FROM transactions WHERE id = :t", t=killed_tx) == [(after,)]
    committed = _rows(db, "SELECT d.device, d.state FROM transactions t JOIN transaction_devices d ON d.tx = t.id "
                          "WHERE t.id LIKE :m AND t.state = 'committed'", m=mine)
    assert sorted(committed) == sorted((d, "confirmed") for d in DEVICES), committed
    again = after == "rolled-back"  # the killed wave was applied a second time
    assert len(_rows(db, "SELECT id FROM transactions WHERE id LIKE :m", m=mine)) == (3 if again else 2)
    waves = _rows(db, "SELECT detail FROM audit WHERE action = 'change-wave' AND subject = :c", c=f"change:{n}")
    assert len(waves) == 2, waves
    assert len(_rows(db, "SELECT id FROM audit WHERE action = 'change-finish' AND subject = :c", c=f"change:{n}")) == 1
