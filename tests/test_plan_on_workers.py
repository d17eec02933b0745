"""FULLBARS_PLAN_BUILDS=workers: a plan's device builds are queue tasks that `fullbars worker`
processes sharing the store's PostgreSQL take (as workers on other machines would). The plan
they build is byte for byte the plan built here; each worker builds a share; what cannot build
this way is refused before anything is kept.

The PostgreSQL server is this module's own (a UNIX socket in a private directory)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from conftest import REPO, scratch_repo, snapshot
from orchestrator import settings
from orchestrator.network.generate import generate, lines
from pg_server import postgres

FULLBARS = [str(Path(sys.executable).parent / "fullbars")]
OLTS, BNGS, PER_OLT = 6, 3, 4


@pytest.fixture(scope="module")
def pg():
    with postgres(5461, prefix="fb-builds-pg-") as url:
        yield url


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("inputs")
    (tmp / "net.yaml").write_text(generate(OLTS, 4, BNGS, sites=OLTS, name="builds"))
    (tmp / "lines.yaml").write_text(lines(PER_OLT, OLTS, OLTS))
    return tmp / "net.yaml", tmp / "lines.yaml"


def _fullbars(*args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(FULLBARS + list(args), cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _alive(db: str) -> set[str]:
    eng = create_engine(db)
    try:
        with eng.connect() as c:
            return {r[0] for r in c.execute(text("SELECT id FROM engine_executors WHERE role = 'worker' "
                                                 "AND state = 'alive' AND beat > 0"))}
    except ProgrammingError:  # the first worker has not made the store's tables yet
        return set()
    finally:
        eng.dispose()


def _reset(db: str) -> None:
    eng = create_engine(db)
    with eng.begin() as c:
        c.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        c.execute(text("DROP SCHEMA IF EXISTS dbos CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    eng.dispose()


def _reset_and_plan_here(pg: str, net: Path, intents: Path, out: Path) -> None:
    """An empty PostgreSQL store, and the plan built here (SQLite, forked builders) into out."""
    _reset(pg)
    here = _fullbars("plan", "--network", str(net), str(intents), "--out", str(out),
                     "--db", f"sqlite:///{out.parent}/here.db")
    assert here.returncode == 0, here.stderr


def test_devices_built_by_two_workers_are_the_plan_built_here(pg, inputs, tmp_path):
    net, intents = inputs
    _reset_and_plan_here(pg, net, intents, tmp_path / "here")
    with _stopped_at_end() as workers:
        for name in ("builder-a", "builder-b"):  # one after the other: the first makes the engine's tables
            workers.append(_start_worker(pg, name, tmp_path / f"{name}.log"))
        there = _fullbars("plan", "--network", str(net), str(intents), "--out", str(tmp_path / "there"), "--db", pg,
                          "--format", "json", FULLBARS_PLAN_BUILDS="workers")
        assert there.returncode == 0, there.stderr
    by = json.loads(there.stdout)["built_by"]
    assert set(by) == {"builder-a", "builder-b"}, by  # each took a share
    assert sum(by.values()) == OLTS + BNGS
    assert _files(tmp_path / "there") == _files(tmp_path / "here")
    # taken results are not kept in the engine's tables, and the planner's engine stopped with it:
    # its executor row went with it, so no worker had to find it dead
    assert _rows(pg, "SELECT workflow_uuid FROM dbos.workflow_status WHERE workflow_uuid LIKE 'build:%'") == []
    assert _rows(pg, "SELECT id FROM engine_executors WHERE role <> 'worker'") == []
    assert not [w for w in ("builder-a", "builder-b") if "stopped beating" in (tmp_path / f"{w}.log").read_text()]


def _start_worker(db: str, name: str, log: Path, **env) -> subprocess.Popen:
    w = subprocess.Popen(FULLBARS + ["worker", "--db", db, "--id", name, "--heartbeat", "0.5", "--dead-after", "4"],
                         cwd=REPO, stdout=subprocess.DEVNULL, stderr=log.open("w"), env={**os.environ, **env})
    end = time.monotonic() + 60
    while name not in _alive(db):
        assert time.monotonic() < end and w.poll() is None, log.read_text()
        time.sleep(0.3)
    return w


def _rows(db: str, sql: str) -> list[tuple]:
    eng = create_engine(db)
    try:
        with eng.connect() as c:
            return [tuple(r) for r in c.execute(text(sql))]
    finally:
        eng.dispose()


@contextlib.contextmanager
def _stopped_at_end():
    """A list to put processes in; those still running at the end are stopped."""
    procs: list[subprocess.Popen] = []
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=60)


def _planner(net: Path, intents: Path, db: str, *args: str, **popen) -> subprocess.Popen:
    """A plan whose devices the workers build, running in the background."""
    return subprocess.Popen(FULLBARS + ["plan", "--network", str(net), str(intents), "--db", db, *args], cwd=REPO,
                            text=True, env={**os.environ, "FULLBARS_PLAN_BUILDS": "workers"}, **popen)


def _until_held(db: str, worker: str, planner: subprocess.Popen) -> None:
    """Until `worker` (started with FULLBARS_FAULT_PAUSE=build) holds one of the planner's builds."""
    held = "SELECT workflow_uuid FROM dbos.workflow_status WHERE workflow_uuid LIKE 'build:%' " \
           f"AND executor_id = '{worker}' AND status = 'PENDING'"
    end = time.monotonic() + 120
    while not _rows(db, held):
        assert time.monotonic() < end and planner.poll() is None, f"the planner ended {planner.returncode}"
        time.sleep(0.3)


def test_a_build_whose_worker_is_killed_is_built_by_another_and_the_plan_is_whole(pg, inputs, tmp_path):
    """Worker a takes a build and is held there (FULLBARS_FAULT_PAUSE=build) and SIGKILLed; b
    sees it die, recovers its workflows and builds that device; the planner, still waiting,
    gets every device, and the plan is the plan built here."""
    net, intents = inputs
    _reset_and_plan_here(pg, net, intents, tmp_path / "here")
    with _stopped_at_end() as procs:
        procs.append(_start_worker(pg, "held-a", tmp_path / "a.log", FULLBARS_FAULT_PAUSE="build:600:1"))
        procs.append(_planner(net, intents, pg, "--out", str(tmp_path / "there"), "--format", "json",
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        _until_held(pg, "held-a", procs[1])
        procs.append(_start_worker(pg, "rescuer-b", tmp_path / "b.log"))
        procs[0].kill()
        procs[0].wait()
        out, errs = procs[1].communicate(timeout=300)
        assert procs[1].returncode == 0, errs
    assert json.loads(out)["built_by"] == {"rescuer-b": OLTS + BNGS}
    assert _files(tmp_path / "there") == _files(tmp_path / "here")
    assert "held-a stopped beating: recovering their workflows" in (tmp_path / "b.log").read_text()


def test_the_builds_of_a_killed_planner_are_dropped_by_the_next_plan(pg, inputs, tmp_path):
    """A planner SIGKILLed while its builds wait leaves them queued; the next plan (which holds
    the store's write lock, so no other plan is building) cancels and deletes them, so no worker
    builds for a plan that is gone and no result stays in the engine's tables."""
    net, intents = inputs
    _reset(pg)
    with _stopped_at_end() as procs:
        procs.append(_start_worker(pg, "held-c", tmp_path / "c.log", FULLBARS_FAULT_PAUSE="build:600:1"))
        procs.append(_planner(net, intents, pg, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _until_held(pg, "held-c", procs[1])
        # the planner enqueues its builds one by one: the worker may hold the first before the
        # last is queued (on a loaded machine one was still missing when the planner was killed)
        queued = "SELECT status FROM dbos.workflow_status WHERE workflow_uuid LIKE 'build:%'"
        end = time.monotonic() + 120
        while len(_rows(pg, queued)) < OLTS + BNGS and time.monotonic() < end and procs[1].poll() is None:
            time.sleep(0.3)
        for p in procs:
            p.kill()
            p.wait()
        left = _rows(pg, queued)
        assert len(left) == OLTS + BNGS and ("ENQUEUED",) in left, left
        procs.append(_start_worker(pg, "builder-d", tmp_path / "d.log"))
        r = _fullbars("plan", "--network", str(net), str(intents), "--db", pg, "--format", "json",
                      FULLBARS_PLAN_BUILDS="workers")
        assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["built_by"] == {"builder-d": OLTS + BNGS}  # none of them the dead plan's
    assert _rows(pg, "SELECT workflow_uuid FROM dbos.workflow_status WHERE workflow_uuid LIKE 'build:%'") == []


def test_a_worker_with_other_templates_is_refused_and_nothing_is_kept(pg, inputs, tmp_path):
    """A worker whose BNG template differs from the planner's (another release on that machine)
    sends back an error naming itself instead of a config the planner's keys do not describe;
    the plan stops, exit 2, and the store keeps nothing of it."""
    net, intents = inputs
    _reset(pg)
    other = scratch_repo(tmp_path / "other-release")
    tpl = other / "templates" / "bng-ietf" / "business-broadband.xml.j2"
    tpl.write_text(tpl.read_text() + "<!-- another release -->\n")
    with _stopped_at_end() as procs:
        # the planner's models: the copy has no ../shared beside it to find them by default
        procs.append(_start_worker(pg, "other-e", tmp_path / "e.log", PYTHONPATH=str(other),
                                   FULLBARS_YANG_PATH=":".join(str(p) for p in settings.yang_path())))
        r = _fullbars("plan", "--network", str(net), str(intents), "--db", pg, FULLBARS_PLAN_BUILDS="workers")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "worker other-e has other templates, models or plan code for bng-ietf than the planner" in r.stderr, r.stderr
    assert "nothing was changed" in r.stderr
    assert _rows(pg, "SELECT name FROM intents") == []


def test_what_cannot_build_on_workers_is_refused_and_nothing_is_kept(pg, inputs, tmp_path):
    net, intents = inputs
    sqlite = f"sqlite:///{tmp_path}/s.db"
    r = _fullbars("plan", "--network", str(net), str(intents), "--db", sqlite, FULLBARS_PLAN_BUILDS="workers")
    assert r.returncode == 2 and "needs the store on PostgreSQL" in r.stderr, r.stderr
    assert not (tmp_path / "s.db").exists() or snapshot(sqlite).get("intents", []) == []

    _reset(pg)  # and no worker runs: those of the test before were stopped
    r = _fullbars("plan", "--network", str(net), str(intents), "--db", pg, FULLBARS_PLAN_BUILDS="workers")
    assert r.returncode == 2 and "no `fullbars worker` runs on this store" in r.stderr, r.stderr
    assert snapshot(pg).get("intents", []) == []

    r = _fullbars("plan", "--network", str(net), str(intents), "--db", pg, FULLBARS_PLAN_BUILDS="elsewhere")
    assert r.returncode == 2 and "FULLBARS_PLAN_BUILDS='elsewhere'" in r.stderr, r.stderr
