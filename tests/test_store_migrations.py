"""A store written by the last release (before schema versioning) is upgraded in place by any
command, with one line saying so; its data survives and the new constraints hold. A store the
old races left with one ONU serial on two services is upgraded too, with a warning naming both and
the command that mends it.

tests/fixtures/store-0.1/ holds that release's DDL (generated from its store.py) and what it kept
after planning the examples."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from conftest import EXAMPLES, REPO, snapshot
from test_store_postgres import fresh_database, pg_url  # noqa: F401 (pg_url: the throwaway PostgreSQL server)

OLD = REPO / "tests/fixtures/store-0.1"
UPGRADED = "upgraded the store's schema from revision 0001 to"


def _fullbars(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=REPO, text=True, capture_output=True,
                          env=os.environ | {"PYTHONPATH": str(REPO)}, timeout=300)


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store(request, tmp_path) -> str:
    """A store as the last release left it: its schema, its rows, no alembic_version."""
    script = (OLD / f"schema-{request.param}.sql").read_text() + (OLD / "data.sql").read_text()
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        with sqlite3.connect(path) as c:
            c.executescript(script)
        return f"sqlite:///{path}"
    url = fresh_database(request.getfixturevalue("pg_url"))
    engine = create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql(script)
    engine.dispose()
    return url


def _rows(url: str, table: str, columns: str) -> list:
    engine = create_engine(url)
    with engine.connect() as c:
        rows = sorted(tuple(r) for r in c.execute(text(f"SELECT {columns} FROM {table}")))
    engine.dispose()
    return rows


def test_a_last_release_store_is_upgraded_in_place(old_store):
    intents = _rows(old_store, "intents", "name, kind, spec, digest, source, created_at, updated_at")
    allocations = _rows(old_store, "allocations", "pool, value, owner, purpose")
    assert intents and allocations

    r = _fullbars("status", "--db", old_store)
    assert r.returncode == 0, r.stderr
    assert [line for line in r.stderr.splitlines() if UPGRADED in line], r.stderr
    assert "acme-hq" in r.stdout and "clinic-west" in r.stdout
    assert _rows(old_store, "intents", "name, kind, spec, digest, source, created_at, updated_at") == intents
    assert _rows(old_store, "allocations", "pool, value, owner, purpose") == allocations
    assert ("acme-hq", "ACME0000A001") in _rows(old_store, "intents", "name, onu_serial")

    engine = create_engine(old_store)
    unique = [ix["column_names"] for ix in inspect(engine).get_indexes("intents") if ix["unique"]]
    assert ["onu_serial"] in unique
    with pytest.raises(IntegrityError):  # the database itself refuses a second service on one ONU
        with engine.begin() as c:
            c.execute(text("INSERT INTO intents (name, kind, spec, digest, source, created_at, updated_at, "
                           "onu_serial) VALUES ('other', 'BusinessBroadband', '{}', 'x', '', '', '', "
                           "'ACME0000A001')"))
    engine.dispose()

    again = _fullbars("status", "--db", old_store)
    assert again.returncode == 0 and UPGRADED not in again.stderr, again.stderr  # said once, when it happened

    # The upgraded store goes on planning: the examples again change nothing, and a new line with
    # acme-hq's ONU (its hex digits in lower case) is refused by the planner with file and line.
    plan = _fullbars("plan", *map(str, sorted((EXAMPLES / "intents").glob("*.yaml"))), "--db", old_store,
                     "--format", "json")
    assert plan.returncode == 0, plan.stderr
    assert '"action": "create"' not in plan.stdout and '"action": "update"' not in plan.stdout
    assert _rows(old_store, "allocations", "pool, value, owner, purpose") == allocations


def test_a_store_with_one_onu_on_two_services_is_upgraded_with_the_clash_named(old_store):
    engine = create_engine(old_store)
    with engine.begin() as c:  # what two racing plans of the last release could leave behind
        c.execute(text("INSERT INTO intents (name, kind, spec, digest, source, created_at, updated_at) "
                       "SELECT 'acme-twin', kind, replace(spec, 'ACME0000A001', 'ACME0000a001'), digest, source, "
                       "'9999', updated_at FROM intents WHERE name = 'acme-hq'"))
    engine.dispose()

    r = _fullbars("status", "--db", old_store)
    assert r.returncode == 0, r.stderr
    assert UPGRADED in r.stderr and "Traceback" not in r.stderr
    warning = [line for line in r.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and "ACME0000A001" in warning[0] and "acme-hq and acme-twin" in warning[0], r.stderr
    assert "`fullbars delete acme-twin`" in warning[0]
    assert ("acme-hq", "ACME0000A001") in _rows(old_store, "intents", "name, onu_serial")
    assert ("acme-twin", None) in _rows(old_store, "intents", "name, onu_serial")

    mend = _fullbars("delete", "acme-twin", "--db", old_store)  # the fix the warning gives works
    assert mend.returncode == 0, mend.stderr
    assert [n for (n,) in _rows(old_store, "intents", "name")] == ["acme-hq", "bakery-on-main", "clinic-west"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_migrations_build_the_schema_the_code_maps(database, tmp_path, request):
    """A table or column added to store.py without a migration would exist only in fresh test
    stores: compare what the migrations build with the ORM's tables, column by column."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from orchestrator.resources.store import Base, Store

    if database == "sqlite":
        url = f"sqlite:///{tmp_path}/store.db"
    else:
        url = fresh_database(request.getfixturevalue("pg_url"))
    store = Store(url)
    with store.engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), Base.metadata) == []
    store.engine.dispose()


def test_a_dedicated_line_s_site_serials_are_held_by_the_upgrade(tmp_path):
    """Migration 0017: a store whose dedicated lines were placed before their serials were held
    gets the rows a placement now makes (a business line's check finds them by value)."""
    from conftest import cli
    from orchestrator.resources.store import Store

    db = f"sqlite:///{tmp_path}/store.db"
    r = cli("plan", "examples/dedicated/acme-wan.yaml", "--network", "examples/networks/enterprise.yaml", db=db)
    assert r.exit_code == 0, r.output
    held = [row for row in _rows(db, "allocations", "pool, value, owner, purpose") if row[0] == "onu-serial"]
    assert held == [("onu-serial", "ACME0000D001", "acme-wan", "onu-serial:hq")], held
    engine = create_engine(db)
    with engine.begin() as c:  # as the last release left it
        c.execute(text("DELETE FROM allocations WHERE pool = 'onu-serial'"))
        c.execute(text("UPDATE alembic_version SET version_num = '0016'"))
    engine.dispose()
    Store(db)
    assert [row for row in _rows(db, "allocations", "pool, value, owner, purpose") if row[0] == "onu-serial"] == held
