"""FULLBARS_PLAN_BUILDS=workers: a plan's device builds are queue tasks that `fullbars worker`
processes sharing the store's PostgreSQL take (as workers on other machines would). The plan
they build is byte for byte the plan built here; each worker builds a share; what cannot build
this way is refused before anything is kept.

The PostgreSQL server is this module's own (a UNIX socket in a private directory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from conftest import REPO, snapshot
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


def test_devices_built_by_two_workers_are_the_plan_built_here(pg, inputs, tmp_path):
    net, intents = inputs
    _reset(pg)
    here = _fullbars("plan", "--network", str(net), str(intents), "--out", str(tmp_path / "here"),
                     "--db", f"sqlite:///{tmp_path}/here.db")
    assert here.returncode == 0, here.stderr
    workers = []
    try:
        for name in ("builder-a", "builder-b"):  # one after the other: the first makes the engine's tables
            workers.append(subprocess.Popen(FULLBARS + ["worker", "--db", pg, "--id", name, "--heartbeat", "0.5",
                                                        "--dead-after", "4"], cwd=REPO, stdout=subprocess.DEVNULL,
                                            stderr=(tmp_path / f"{name}.log").open("w")))
            end = time.monotonic() + 60
            while name not in _alive(pg):
                assert time.monotonic() < end and workers[-1].poll() is None, (tmp_path / f"{name}.log").read_text()
                time.sleep(0.3)
        there = _fullbars("plan", "--network", str(net), str(intents), "--out", str(tmp_path / "there"), "--db", pg,
                          "--format", "json", FULLBARS_PLAN_BUILDS="workers")
        assert there.returncode == 0, there.stderr
        by = json.loads(there.stdout)["built_by"]
        assert set(by) == {"builder-a", "builder-b"}, by  # each took a share
        assert sum(by.values()) == OLTS + BNGS
        assert _files(tmp_path / "there") == _files(tmp_path / "here")
        eng = create_engine(pg)
        with eng.connect() as c:  # taken results are not kept in the engine's tables
            assert c.execute(text("SELECT count(*) FROM dbos.workflow_status WHERE workflow_uuid LIKE 'build:%'"
                                  )).scalar() == 0
        eng.dispose()
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)


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
