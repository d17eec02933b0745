"""The durable engine (orchestrator/engine/): a rollout of 8 waves handed to 2 `fullbars worker`
processes sharing one PostgreSQL; the worker running it is SIGKILLed in the middle of a wave
(its devices committed, the confirming commit not yet sent); the other worker sees its heartbeat
stop, recovers the workflow and finishes it: the killed wave's transaction is undone by recover
and the wave applied once, no wave is applied twice, and every device runs the upgrade.

The lab is this test's own (topology s4e..., management subnet 198.18.244.0/24, devsim agents)
and so is the PostgreSQL server (a UNIX socket in a private directory)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from lxml import etree
from sqlalchemy import create_engine, text

from conftest import REPO, cli, read_running
from pg_server import postgres
from test_lab import _require_lab_tools

OLTS, PER_OLT = 8, 2
SHP = "urn:bbf:yang:bbf-qos-shaping"
FBS = "urn:fullbars:yang:fullbars-bng-subscriber"
FULLBARS = [str(Path(sys.executable).parent / "fullbars")]


@pytest.fixture(scope="module")
def pg():
    with postgres(5447, prefix="s4e-pg-") as url:
        yield url


@pytest.fixture(scope="module")
def lab8(pg, tmp_path_factory):
    """8 OLTs and 2 BNGs, all on devsim, their lines applied from a store on PostgreSQL."""
    _require_lab_tools()
    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.runtime import open_lab
    from orchestrator.network.generate import generate, lines
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    tmp = tmp_path_factory.mktemp("s4e-engine")
    os.environ["FULLBARS_LAB_DIR"] = str(tmp / "labs")
    net = tmp / "network.yaml"
    net.write_text(generate(OLTS, 2, 2, sites=2, name="s4e-engine"))
    (tmp / "lines.yaml").write_text(lines(PER_OLT, OLTS, 2))
    store = Store(pg)
    write(plan(store, str(net), [str(tmp / "lines.yaml")]), tmp / "plan")
    store.engine.dispose()
    doc = yaml.safe_load(from_plan(tmp / "plan", f"s4e{os.getpid() % 100000}", cpes=False))
    doc["mgmt"] = {"ipv4-subnet": "198.18.244.0/24"}
    for node in doc["topology"]["nodes"].values():
        if node["labels"].get("fullbars.kind", "").startswith("bng"):
            node["labels"]["fullbars.agent"] = "devsim"
    topo = tmp / "s4e-engine.clab.yml"
    topo.write_text(yaml.safe_dump(doc, sort_keys=False))
    lab = open_lab(topo)
    lab.up(timeout=120)
    try:
        r = cli("apply", str(tmp / "lines.yaml"), "--target", "lab", "--lab", str(topo), db=pg)
        assert r.exit_code == 0, r.stdout + r.stderr
        yield {"tmp": tmp, "topo": topo}
    finally:
        lab.down()


def _running(topo: Path, device: str):
    from orchestrator.rollout.targets import lab_target

    return read_running(lab_target(topo).endpoint(device))


def _rows(db: str, sql: str, **params) -> list[tuple]:
    eng = create_engine(db)
    try:
        with eng.connect() as c:
            return [tuple(r) for r in c.execute(text(sql), params)]
    finally:
        eng.dispose()


def _until(what: str, fn, timeout: float, procs=()):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = fn()
        if got:
            return got
        for p in procs:
            if p.poll() is not None:
                pytest.fail(f"waiting for {what}: a process ended early (exit {p.returncode}): "
                            f"{p.stderr.read() if p.stderr else ''}")
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def _worker(db: str, name: str, log: Path, **env) -> subprocess.Popen:
    return subprocess.Popen(FULLBARS + ["worker", "--db", db, "--id", name, "--heartbeat", "0.5", "--dead-after", "4"],
                            env={**os.environ, **env}, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=REPO)


def test_a_rollout_survives_the_death_of_its_worker(pg, lab8):
    tmp, topo = lab8["tmp"], lab8["topo"]
    up = tmp / "to-500m.yaml"  # 8 waves: a canary of one OLT, then one OLT a wave
    up.write_text(yaml.safe_dump({"apiVersion": "fullbars.io/v1", "kind": "SpeedUpgrade", "metadata": {"name": "to-500m"},
                                  "spec": {"selector": {"downstream": "300M"}, "rates": {"downstream": "500M"},
                                           "rollout": {"canary": 1, "waves": 7}}}))
    # a: pauses in the 4th wave just before journalling `confirming` (devices committed, not confirmed)
    a = _worker(pg, "s4e-a", tmp / "a.log", FULLBARS_FAULT_PAUSE="confirming:600:4")
    b = rollout = None
    try:
        _until("worker a", lambda: _rows(pg, "SELECT id FROM engine_executors WHERE id = 's4e-a' AND beat > 0"), 60, [a])
        rollout = subprocess.Popen(FULLBARS + ["rollout", str(up), "--target", "lab", "--lab", str(topo), "--workers",
                                               "--json", "--db", pg], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, cwd=REPO)
        wid = _until("worker a taking the rollout", lambda: _rows(
            pg, "SELECT workflow_uuid FROM dbos.workflow_status WHERE name = 'fullbars.rollout' "
                "AND executor_id = 's4e-a' AND status = 'PENDING'"), 60, [a, rollout])[0][0]
        b = _worker(pg, "s4e-b", tmp / "b.log")
        paused = _until("the 4th wave committed and not confirmed", lambda: len(_rows(
            pg, "SELECT id FROM transactions WHERE kind = 'rollout' AND state = 'committed'")) == 3 and _rows(
            pg, "SELECT id FROM transactions WHERE kind = 'rollout' AND state = 'verifying'"), 240, [a, b, rollout])
        time.sleep(1)  # past the running checks: a is held just before journalling `confirming`
        assert _rows(pg, "SELECT id FROM transactions WHERE kind = 'rollout' AND state = 'verifying'") == paused
        killed_tx = paused[0][0]
        a.send_signal(signal.SIGKILL)
        a.wait()

        out, errs = rollout.communicate(timeout=400)
        assert rollout.returncode == 0, out + errs
    finally:
        for p in (a, b, rollout):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(timeout=60)

    rep = json.loads(out)
    assert rep["outcome"] == "committed" and len(rep["waves"]) == 8 and len(rep["reached"]) == OLTS
    assert rep["workflow"] == wid
    assert _rows(pg, "SELECT status, executor_id FROM dbos.workflow_status WHERE workflow_uuid = :w", w=wid) == \
        [("SUCCESS", "s4e-b")]
    assert "recovering their workflows" in (tmp / "b.log").read_text()

    # the journal: the killed wave's transaction was undone by recover on every device it had
    # committed, then the wave was applied once more; every OLT is in exactly one committed
    # transaction, confirmed there; every wave was recorded once
    assert _rows(pg, "SELECT state FROM transactions WHERE id = :t", t=killed_tx) == [("rolled-back",)]
    assert {s for (s,) in _rows(pg, "SELECT state FROM transaction_devices WHERE tx = :t", t=killed_tx)} == {"rolled-back"}
    committed = _rows(pg, "SELECT t.id, d.device, d.state FROM transactions t JOIN transaction_devices d ON d.tx = t.id "
                          "WHERE t.kind = 'rollout' AND t.state = 'committed'")
    assert len({tx for tx, _, _ in committed}) == 8
    for i in range(1, OLTS + 1):
        assert [st for _, dev, st in committed if dev == f"olt-{i}"] == ["confirmed"], f"olt-{i}"
    retry = [tx for tx, _, _ in committed if tx.startswith(killed_tx[:-1])]
    assert retry and retry[0] != killed_tx
    assert len(_rows(pg, "SELECT subject FROM audit WHERE action = 'rollout-wave'")) == 8
    assert _rows(pg, "SELECT count(*) FROM transactions WHERE kind = 'rollout'") == [(9,)]

    # the devices: every OLT's lines point at the 500M shaper; every line on the BNGs has 500M
    for i in range(1, OLTS + 1):
        assert {e.text for e in _running(topo, f"olt-{i}").iter(f"{{{SHP}}}shaper-name")} == {"down-500M"}, f"olt-{i}"
    rates = [int(s.findtext(f"{{{FBS}}}rates/{{{FBS}}}downstream"))
             for bng in ("bng-1", "bng-2") for s in _running(topo, bng).iter(f"{{{FBS}}}subscriber")]
    assert len(rates) == OLTS * PER_OLT and set(rates) == {500_000_000}
    r = cli("drift", "--target", "lab", "--lab", str(topo), db=pg)
    assert r.exit_code == 0, r.stdout + r.stderr
