"""The audit trail is append-only in the database itself, on SQLite (the embedded default) and on
PostgreSQL (a throwaway server on a UNIX socket): an UPDATE or DELETE of a row is refused, a new
row is kept, and each row names who acted and from where."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from test_store_postgres import pg_url  # noqa: F401  (the fixture)


def _append_only(url: str) -> None:
    from orchestrator.acting import Actor, acting
    from orchestrator.app.audit import listing
    from orchestrator.resources.store import Store

    store = Store(url)
    with acting(Actor("nora", frozenset({"noc"}), "192.0.2.7")):
        with store.transaction() as s:
            Store.audit(s, "change-approve", "change:1", {"bundle": "b" * 64})
        rows = listing(store, actor="nora")
    assert [(r["action"], r["actor"], r["origin"], r["detail"]) for r in rows] == \
        [("change-approve", "nora", "192.0.2.7", {"bundle": "b" * 64})]
    for stmt in ("UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"):
        with pytest.raises(DatabaseError, match="append-only"):
            with store.engine.begin() as c:
                c.execute(text(stmt))
    with store.engine.connect() as c:
        assert c.execute(text("SELECT actor FROM audit")).scalars().all() == ["nora"]
    store.engine.dispose()


def test_audit_is_append_only_on_sqlite(tmp_path):
    _append_only(f"sqlite:///{tmp_path}/store.db")


def test_audit_is_append_only_on_postgresql(pg_url):  # noqa: F811
    _append_only(pg_url)
