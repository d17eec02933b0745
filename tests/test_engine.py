"""The durable engine (orchestrator/engine/): a rollout of 8 waves handed to 2 `fullbars worker`
processes sharing one PostgreSQL, each under a host name of its own (as on two machines); the worker running it is SIGKILLed in the middle of a wave
(its devices committed, the confirming commit not yet sent); the other worker sees its heartbeat
stop, recovers the workflow and finishes it: the killed wave's transaction is undone by recover
and the wave applied once, no wave is applied twice, and every device runs the upgrade.

The lab is this test's own (topology s4e..., management subnet 198.18.244.0/24, devsim agents)
and so is the PostgreSQL server (a UNIX socket in a private directory)."""

from __future__ import annotations

import contextlib
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
from orchestrator.engine.workflows import tx_prefix
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


@contextlib.contextmanager
def devsim_lab(tmp: Path, db: str, olts: int, per_olt: int, bngs: int, name: str, subnet: str):
    """A lab of generated OLTs and BNGs, all on devsim, on the management subnet given, with
    per_olt lines on each OLT planned in the store db and applied; the topology file."""
    _require_lab_tools()
    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.runtime import open_lab
    from orchestrator.network.generate import generate, lines
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    os.environ["FULLBARS_LAB_DIR"] = str(tmp / "labs")
    net = tmp / "network.yaml"
    net.write_text(generate(olts, 2, bngs, sites=bngs, name=name))
    (tmp / "lines.yaml").write_text(lines(per_olt, olts, bngs))
    store = Store(db)
    write(plan(store, str(net), [str(tmp / "lines.yaml")]), tmp / "plan")
    store.engine.dispose()
    doc = yaml.safe_load(from_plan(tmp / "plan", f"{name[:6]}{os.getpid() % 100000}", cpes=False))
    doc["mgmt"] = {"ipv4-subnet": subnet}
    for node in doc["topology"]["nodes"].values():
        if node["labels"].get("fullbars.kind", "").startswith("bng"):
            node["labels"]["fullbars.agent"] = "devsim"
    topo = tmp / f"{name}.clab.yml"
    topo.write_text(yaml.safe_dump(doc, sort_keys=False))
    lab = open_lab(topo)
    lab.up(timeout=120)
    try:
        r = cli("apply", str(tmp / "lines.yaml"), "--target", "lab", "--lab", str(topo), db=db)
        assert r.exit_code == 0, r.stdout + r.stderr
        yield topo
    finally:
        lab.down()


@pytest.fixture(scope="module")
def lab8(pg, tmp_path_factory):
    """8 OLTs and 2 BNGs, all on devsim, their lines applied from a store on PostgreSQL."""
    tmp = tmp_path_factory.mktemp("s4e-engine")
    with devsim_lab(tmp, pg, OLTS, PER_OLT, 2, "s4e-engine", "198.18.244.0/24") as topo:
        yield {"tmp": tmp, "topo": topo}


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


def _worker(db: str, name: str, log: Path, machine: str | None = None, **env) -> subprocess.Popen:
    """machine: run it under that host name (a UTS namespace of its own), as on another machine:
    then only its silence tells the others it died."""
    cmd = FULLBARS + ["worker", "--db", db, "--id", name, "--heartbeat", "0.5", "--dead-after", "4"]
    if machine:
        cmd = ["unshare", "--uts", "sh", "-c", f'hostname {machine} && exec "$@"', "sh", *cmd]
    return subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=REPO)


@contextlib.contextmanager
def killed_mid_rollout(db: str, change: Path, topo: Path, tmp: Path, a_id: str, b_id: str, before: str, journal: str,
                       wave: int, machines: tuple[str, str] | None = None):
    """Two workers on db (a, then b; under the host names in machines, as on two machines, or
    both on this one); the rollout of change handed to them (`rollout --workers --json`) and taken
    by a, held in its wave-th wave just before it journals `before` (the journal then says
    `journal`) and SIGKILLed there. Yields (the rollout command's process, its workflow id, the
    killed wave's transaction, a LIKE pattern of this rollout's transactions); the processes are
    stopped at the end. Logs: tmp/a-BEFORE.log, tmp/b-BEFORE.log."""
    dbos = "" if db.startswith("sqlite") else "dbos."
    procs = [_worker(db, a_id, tmp / f"a-{before}.log", machines and machines[0],
                     FULLBARS_FAULT_PAUSE=f"{before}:600:{wave}")]
    a = procs[0]
    try:
        _until("worker a", lambda: _rows(db, "SELECT id FROM engine_executors WHERE id = :a AND beat > 0", a=a_id), 60, [a])
        procs.append(subprocess.Popen(FULLBARS + ["rollout", str(change), "--target", "lab", "--lab", str(topo),
                                                  "--workers", "--json", "--db", db], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, cwd=REPO))
        rollout = procs[1]
        wid = _until("worker a taking the rollout", lambda: _rows(
            db, f"SELECT workflow_uuid FROM {dbos}workflow_status WHERE name = 'fullbars.rollout' "
                "AND executor_id = :a AND status = 'PENDING'", a=a_id), 60, [a, rollout])[0][0]
        mine = tx_prefix(wid, 0)[:16] + "%"  # this rollout's transactions
        procs.append(_worker(db, b_id, tmp / f"b-{before}.log", machines and machines[1]))
        txs = "SELECT id FROM transactions WHERE id LIKE :m AND state = :s"
        paused = _until(f"wave {wave} held before {before}", lambda: len(_rows(db, txs, m=mine, s="committed"))
                        == wave - 1 and _rows(db, txs, m=mine, s=journal), 240, procs)
        time.sleep(1.5)  # a is held there, not passing by
        assert _rows(db, txs, m=mine, s=journal) == paused
        a.send_signal(signal.SIGKILL)
        a.wait()
        yield rollout, wid, paused[0][0], mine
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=60)


# (killed just before journalling this, what the journal then says, the wave's rate)
KILLS = [("confirming", "verifying", 500),  # committed on the devices, not confirmed: recover undoes it, applied again
         ("committed", "confirming", 800)]  # confirmed on the devices: recover finishes it, not applied again


@pytest.mark.parametrize("before,journal,rate", KILLS, ids=[k[0] for k in KILLS])
def test_a_rollout_survives_the_death_of_its_worker(pg, lab8, before, journal, rate):
    tmp, topo = lab8["tmp"], lab8["topo"]
    up = tmp / f"to-{rate}m.yaml"  # 8 waves: a canary of one OLT, then one OLT a wave
    up.write_text(yaml.safe_dump({"apiVersion": "fullbars.io/v1", "kind": "SpeedUpgrade", "metadata": {"name": f"to-{rate}m"},
                                  "spec": {"selector": {}, "rates": {"downstream": f"{rate}M"},
                                           "rollout": {"canary": 1, "waves": 7}}}))
    a_id, b_id = f"s4e-a-{before}", f"s4e-b-{before}"
    r = cli("rollout", str(up), "--target", "lab", "--lab", str(topo), "--workers", db=pg)
    assert r.exit_code == 2 and "no `fullbars worker` runs on this store" in r.stderr, r.stdout + r.stderr
    with killed_mid_rollout(pg, up, topo, tmp, a_id, b_id, before, journal, 4,
                            ("s4e-machine-a", "s4e-machine-b")) as (rollout, wid, killed_tx, mine):
        killed_at = time.monotonic()
        _until("the other worker to recover the killed wave", lambda: not _rows(
            pg, "SELECT id FROM transactions WHERE id = :t AND state = :s", t=killed_tx, s=journal), 120, [rollout])
        print(f"killed wave recovered {time.monotonic() - killed_at:.1f} s after the SIGKILL (silence limit 4 s)")
        out, errs = rollout.communicate(timeout=400)
        assert rollout.returncode == 0, out + errs

    rep = json.loads(out)
    assert rep["outcome"] == "committed" and len(rep["waves"]) == 8 and len(rep["reached"]) == OLTS
    assert rep["workflow"] == wid
    assert _rows(pg, "SELECT status, executor_id FROM dbos.workflow_status WHERE workflow_uuid = :w", w=wid) == \
        [("SUCCESS", b_id)]
    assert f"{a_id} stopped beating: recovering their workflows" in (tmp / f"b-{before}.log").read_text()
    assert [w["outcome"] for w in rep["waves"]] == ["committed"] * 8

    # the journal: recover undid the killed wave's transaction on every device (then the wave was
    # applied once more), or finished it (and it was not applied again); every OLT is in exactly
    # one committed transaction of this rollout, confirmed there; every wave was recorded once
    again = before == "confirming"
    assert _rows(pg, "SELECT state FROM transactions WHERE id = :t", t=killed_tx) == \
        [("rolled-back" if again else "committed",)]
    assert {s for (s,) in _rows(pg, "SELECT state FROM transaction_devices WHERE tx = :t", t=killed_tx)} == \
        {"rolled-back" if again else "confirmed"}
    committed = _rows(pg, "SELECT t.id, d.device, d.state FROM transactions t JOIN transaction_devices d ON d.tx = t.id "
                          "WHERE t.id LIKE :m AND t.state = 'committed'", m=mine)
    assert len({tx for tx, _, _ in committed}) == 8
    for i in range(1, OLTS + 1):
        assert [st for _, dev, st in committed if dev == f"olt-{i}"] == ["confirmed"], f"olt-{i}"
    assert len(_rows(pg, "SELECT id FROM transactions WHERE id LIKE :m", m=mine)) == (9 if again else 8)
    assert rep["waves"][3]["tx"] == (killed_tx[:-1] + "2" if again else killed_tx)
    assert len(_rows(pg, "SELECT subject FROM audit WHERE action = 'rollout-wave' AND subject = :c", c=f"to-{rate}m")) == 8

    # the devices: every OLT's lines point at the new shaper; every line on the BNGs has the new rate
    for i in range(1, OLTS + 1):
        assert {e.text for e in _running(topo, f"olt-{i}").iter(f"{{{SHP}}}shaper-name")} == {f"down-{rate}M"}, f"olt-{i}"
    rates = [int(s.findtext(f"{{{FBS}}}rates/{{{FBS}}}downstream"))
             for bng in ("bng-1", "bng-2") for s in _running(topo, bng).iter(f"{{{FBS}}}subscriber")]
    assert len(rates) == OLTS * PER_OLT and set(rates) == {rate * 1_000_000}
    r = cli("drift", "--target", "lab", "--lab", str(topo), db=pg)
    assert r.exit_code == 0, r.stdout + r.stderr


def test_a_rollout_run_by_the_command_itself_is_a_durable_workflow(pg, lab8):
    """Without --workers, `fullbars rollout` runs the workflow in its own process (an executor
    with a heartbeat, so a worker would recover it if the command died) and reports as before."""
    tmp, topo = lab8["tmp"], lab8["topo"]
    up = tmp / "to-900m.yaml"
    up.write_text(yaml.safe_dump({"apiVersion": "fullbars.io/v1", "kind": "SpeedUpgrade", "metadata": {"name": "to-900m"},
                                  "spec": {"selector": {}, "rates": {"downstream": "900M"},
                                           "rollout": {"canary": 1, "waves": 1}}}))
    r = cli("rollout", str(up), "--target", "lab", "--lab", str(topo), "--json", db=pg)
    assert r.exit_code == 0, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert [w["outcome"] for w in rep["waves"]] == ["committed", "committed"] and len(rep["reached"]) == OLTS
    assert "canary: committed on 2 device(s)" in r.stderr  # the waves are told as they end
    (status, executor), = _rows(pg, "SELECT status, executor_id FROM dbos.workflow_status WHERE workflow_uuid = :w",
                                w=rep["workflow"])
    assert status == "SUCCESS" and executor.startswith("command-")
    assert _rows(pg, "SELECT state FROM engine_executors WHERE id = :e", e=executor) == []  # ended, nothing left
    assert {e.text for e in _running(topo, "olt-8").iter(f"{{{SHP}}}shaper-name")} == {"down-900M"}


def _subscriber_enabled(topo: Path, line: str) -> bool | None:
    """Whether the BNG sub-interface of the line is enabled (None: no BNG carries it)."""
    itf_ns = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
    for bng in ("bng-1", "bng-2"):
        for itf in _running(topo, bng).iter(f"{{{itf_ns}}}interface"):
            if itf.findtext(f"{{{FBS}}}subscriber/{{{FBS}}}service-id") == line:
                return itf.findtext(f"{{{itf_ns}}}enabled") != "false"
    return None


def _grace_policy(db: str, tmp: Path, name: str, line: str) -> None:
    """An ArrearsGrace policy keeping one line in service until the end of 2026-06-30, planned."""
    pol = tmp / f"{name}.yaml"
    pol.write_text(f"apiVersion: fullbars.io/v1\nkind: ArrearsGrace\nmetadata:\n  name: {name}\nspec:\n"
                   f"  selector:\n    line:\n    - {line}\n  arrears:\n    from: 2026-03\n    to: 2026-05\n"
                   "  keep-in-service-until: 2026-06-30\n  repay-months: 3\n")
    r = cli("plan", str(pol), db=db)
    assert r.exit_code == 0, r.stdout + r.stderr


def test_a_grace_window_ending_while_no_command_runs_suspends_the_line(pg, lab8, monkeypatch):
    """The held suspension is a durable timer: a worker, started after the command ended, sleeps
    until the window ends (the injected clock runs from 8 s before it) and carries it out."""
    tmp, topo = lab8["tmp"], lab8["topo"]
    line = "line-00005"
    _grace_policy(pg, tmp, "s4e-arrears", line)
    monkeypatch.setenv("FULLBARS_NOW", "2026-06-30T22:00:00")
    r = cli("suspend", line, "--reason", "arrears", "--target", "lab", "--lab", str(topo), db=pg)
    assert r.exit_code == 1 and "held" in r.stdout, r.stdout + r.stderr
    assert _subscriber_enabled(topo, line) is True
    timer = "SELECT status FROM dbos.workflow_status WHERE name = 'fullbars.grace' AND workflow_uuid LIKE :w"
    assert _rows(pg, timer, w=f"grace:{line}:%") == [("ENQUEUED",)]  # waiting for a worker; no command runs now

    w = _worker(pg, "s4e-timers", tmp / "timers.log", FULLBARS_NOW=f"2026-06-30T23:59:51@{time.time()}")
    try:
        _until("the timer asleep on the worker", lambda: _rows(
            pg, "SELECT s.function_name FROM dbos.operation_outputs s JOIN dbos.workflow_status w "
                "ON w.workflow_uuid = s.workflow_uuid WHERE w.name = 'fullbars.grace' AND s.function_name = 'DBOS.sleep'"),
               60, [w])
        assert _rows(pg, "SELECT state FROM suspensions WHERE line = :l", l=line) == [("held",)]  # not yet
        _until("the window to end and the line to be suspended", lambda: _rows(
            pg, "SELECT state FROM suspensions WHERE line = :l AND state = 'active'", l=line), 120, [w])
        _until("the timer to finish", lambda: _rows(pg, timer, w=f"grace:{line}:%") == [("SUCCESS",)], 30, [w])
    finally:
        w.terminate()
        w.wait(timeout=60)
    assert _subscriber_enabled(topo, line) is False
    assert [a for (a,) in _rows(pg, "SELECT action FROM audit WHERE subject = :l AND action LIKE 'suspend%' ORDER BY id",
                                l=line)] == ["suspend-held", "suspend"]
    r = cli("resume", line, "--target", "lab", "--lab", str(topo), db=pg)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert _subscriber_enabled(topo, line) is True
    # in arrears again in the same window: a timer of its own (it was the first's, already done)
    r = cli("suspend", line, "--reason", "arrears", "--target", "lab", "--lab", str(topo), db=pg)
    assert r.exit_code == 1 and "held" in r.stdout, r.stdout + r.stderr
    assert sorted(_rows(pg, timer, w=f"grace:{line}:%")) == [("ENQUEUED",), ("SUCCESS",)]


def test_suspend_due_is_a_workflow_of_the_command(pg, lab8, monkeypatch):
    """`suspend --due` carries out what is due in its own process, as a durable workflow, and
    says so as before."""
    tmp, topo = lab8["tmp"], lab8["topo"]
    line = "line-00006"
    _grace_policy(pg, tmp, "s4e-arrears-due", line)
    monkeypatch.setenv("FULLBARS_NOW", "2026-06-15")
    r = cli("suspend", line, "--reason", "arrears", "--target", "lab", "--lab", str(topo), db=pg)
    assert r.exit_code == 1 and "held" in r.stdout, r.stdout + r.stderr
    r = cli("suspend", "--due", "--target", "lab", "--lab", str(topo), db=pg)
    assert r.exit_code == 0 and "no held suspension is due" in r.stdout, r.stdout + r.stderr
    monkeypatch.setenv("FULLBARS_NOW", "2026-07-01T00:00:01")
    r = cli("suspend", "--due", "--target", "lab", "--lab", str(topo), db=pg)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"line {line} suspended (arrears)" in r.stdout
    assert _subscriber_enabled(topo, line) is False
    assert _rows(pg, "SELECT status FROM dbos.workflow_status WHERE name = 'fullbars.suspend.due' "
                     "ORDER BY created_at") == [("SUCCESS",), ("SUCCESS",)]
    r = cli("resume", line, "--target", "lab", "--lab", str(topo), db=pg)
    assert r.exit_code == 0, r.stdout + r.stderr
