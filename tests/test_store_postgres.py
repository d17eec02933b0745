"""The store on PostgreSQL (the production database; SQLite is the embedded default): the same
plan gives the same allocations and device configs, a second plan is a no-op, and input that
fails changes nothing. A throwaway PostgreSQL server runs on a UNIX socket for the module."""

from __future__ import annotations

import pytest

from conftest import EXAMPLES, REPO, cli, snapshot
from pg_server import postgres

INTENTS = [str(p) for p in sorted((EXAMPLES / "intents").glob("*.yaml"))]


@pytest.fixture(scope="module")
def pg_url():
    with postgres(5439) as url:
        yield url


def fresh_database(pg_url: str) -> str:
    """The URL of a new, empty database on the module's server: a store of its own for one test."""
    import uuid

    from sqlalchemy import create_engine

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return pg_url.replace("/fullbars?", f"/{name}?")


def _plan(url: str):
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    store = Store(url)
    result = plan(store, str(EXAMPLES / "network.yaml"), INTENTS)
    store.engine.dispose()
    return result


def test_postgres_store_plans_like_sqlite(pg_url, tmp_path):
    on_pg = _plan(pg_url)
    on_sqlite = _plan(f"sqlite:///{tmp_path}/s.db")
    assert [s.resources for s in on_pg.services] == [s.resources for s in on_sqlite.services]
    assert {d.device: d.intended for d in on_pg.devices} == {d.device: d.intended for d in on_sqlite.devices}
    before = snapshot(pg_url)
    assert before["allocations"] and before["intents"]
    again = _plan(pg_url)
    assert {s.action for s in again.services} == {"unchanged"}
    after = snapshot(pg_url)
    assert after["allocations"] == before["allocations"]


def test_postgres_store_is_unchanged_by_input_that_fails(pg_url):
    from conftest import cli

    case = REPO / "tests/golden/errors/upgrade-oversubscribes-pon"  # planned over what the store holds
    _plan(pg_url)
    r = cli("plan", str(case / "setup.yaml"), "--network", str(EXAMPLES / "network.yaml"), db=pg_url)
    assert r.exit_code == 0, r.stderr
    before = snapshot(pg_url)
    r = cli("plan", str(case / "intent.yaml"), db=pg_url)
    assert r.exit_code == 2 and "oversubscribes PON port olt-1 1/1/3" in r.stderr
    assert snapshot(pg_url) == before


def test_a_password_in_the_store_url_is_never_printed(pg_url):
    """The store's URL is shown by status (text and JSON) and by errors about the store: with its
    password masked, on a store that answers and on one that does not."""
    url = pg_url.replace("postgres@", "postgres:pw-never-shown@")
    assert url != pg_url
    for args in (("status",), ("status", "--format", "json"), ("history",), ("history", "--format", "json")):
        r = cli(*args, db=url)
        said = r.stdout + r.stderr
        assert r.exit_code == 0 and "pw-never-shown" not in said, said
    assert "postgres:***@" in cli("status", db=url).stdout
    r = cli("history", "--format", "json", db="postgresql+psycopg://u:pw-never-shown@127.0.0.1:1/x")
    said = r.stdout + r.stderr
    assert r.exit_code == 2 and "pw-never-shown" not in said and "u:***@127.0.0.1" in said, said
    for fmt in ("text", "json"):  # or as libpq's query parameter
        r = cli("status", "--format", fmt, db="postgresql://u@127.0.0.1:1/x?sslmode=disable&password=pw-never-shown")
        said = r.stdout + r.stderr
        assert r.exit_code == 2 and "pw-never-shown" not in said and "&password=***" in said, said
