"""The audit trail is append-only in the database itself, on SQLite (the embedded default) and on
PostgreSQL (a throwaway server on a UNIX socket): an UPDATE or DELETE of a row is refused, a new
row is kept, and each row names who acted and from where."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from test_store_postgres import fresh_database, pg_url  # noqa: F401  (pg_url: the fixture)


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


def _newest_applied(url: str) -> None:
    """The environment a plan that names none is computed against: that of the committed
    transaction whose audit row is newest (one without a row, or not committed, never counts),
    on a trail long enough that reading it back would show."""
    from orchestrator.resources.store import AuditRow, Store, TransactionRow

    store = Store(url)
    with store.transaction() as s:
        assert Store.newest_applied(s) is None
        for tx, target, state in (("t-a", "lab", "committed"), ("t-b", "staging", "committed"),
                                  ("t-c", "production", "failed"), ("t-d", "east", "committed")):
            s.add(TransactionRow(id=tx, created_at="2026-12-06T00:00:00+00:00", updated_at="2026-12-06T00:00:00+00:00",
                                 target=target, kind="apply", state=state, summary="", report="{}"))
        Store.audit_many(s, [("plan-create", f"line-{i:05d}") for i in range(2000)])
        for tx in ("t-a", "t-b", "t-c"):  # t-d: committed, no row
            Store.audit(s, "apply", tx)
    with store.transaction() as s:
        assert Store.newest_applied(s) == "staging"  # t-c's row is newer, but it failed
        Store.audit(s, "recover", "t-a")
    with store.transaction() as s:
        assert Store.newest_applied(s) == "lab"
        assert s.query(AuditRow).count() == 2004
    store.engine.dispose()


def test_the_newest_applied_environment_on_sqlite(tmp_path):
    _newest_applied(f"sqlite:///{tmp_path}/store.db")


def test_the_newest_applied_environment_on_postgresql(pg_url):  # noqa: F811
    _newest_applied(fresh_database(pg_url))


def test_since_is_a_time_whatever_its_offset_and_a_value_that_is_none_is_refused(tmp_path):
    """The trail's times are UTC text: `since` compared as written took 09:00+02:00 for a time
    after 08:30 UTC, and took 'notadate' for no bound at all (an operator missed rows unwarned)."""
    from orchestrator.acting import Actor, acting
    from orchestrator.app.audit import listing
    from orchestrator.errors import FullbarsError
    from orchestrator.resources.store import AuditRow, Store

    store = Store(f"sqlite:///{tmp_path}/store.db")
    with acting(Actor("nora", frozenset({"noc"}), "192.0.2.7")):
        with store.transaction() as s:
            s.add(AuditRow(at="2026-12-06T08:30:00+00:00", action="change-approve", subject="change:1",
                           actor="nora", origin="192.0.2.7", detail="{}"))
        for since, rows in (("2026-12-06T10:00:00+02:00", 1), ("2026-12-06T10:30:00+02:00", 1),
                            ("2026-12-06T10:30:01+02:00", 0), ("2026-12-06T03:29:00-05:00", 1),
                            ("2026-12-06T03:31:00-05:00", 0), ("2026-12-06", 1), ("2026-12-06T08:30:00", 1),
                            ("2026-12-06T08:30:00.5Z", 0)):
            assert len(listing(store, since=since)) == rows, since
        for bad in ("notadate", "2026-13-45", "yesterday"):
            with pytest.raises(FullbarsError, match=f"since '{bad}' is not a time"):
                listing(store, since=bad)
    store.engine.dispose()
