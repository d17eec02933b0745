"""One writer at a time: while a command holds the store, another writer waits, says once who
holds it, and either goes on when it is free or gives up after --lock-timeout with exit 2 and
the holder's name; a reader is never held up. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from conftest import EXAMPLES, REPO, snapshot
from test_store_postgres import fresh_database, pg_url  # noqa: F401 (pg_url: the throwaway PostgreSQL server)

NETWORK = str(EXAMPLES / "network.yaml")


def _fullbars(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestrator", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ | {"PYTHONPATH": str(REPO)})


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return fresh_database(request.getfixturevalue("pg_url"))


def test_a_second_writer_names_the_holder_and_gives_up_after_the_timeout(url):
    from orchestrator.resources.store import Store

    first = _fullbars("plan", str(EXAMPLES / "intents/acme-hq.yaml"), "--network", NETWORK, "--db", url)
    assert first.wait(timeout=120) == 0, first.stderr.read()
    before = snapshot(url)
    holder = Store(url, command="fullbars test-holder")
    with holder.transaction():
        reader = _fullbars("status", "--db", url)
        assert reader.wait(timeout=120) == 0, reader.stderr.read()  # readers do not wait
        assert "acme-hq" in reader.stdout.read()
        second = _fullbars("plan", str(EXAMPLES / "intents/clinic-west.yaml"), "--db", url, "--lock-timeout", "1")
        stdout, stderr = second.communicate(timeout=120)
    holder.engine.dispose()
    who = f"`fullbars test-holder` (pid {os.getpid()} on {socket.gethostname()}, "
    assert second.returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert lines[0].startswith("waiting for the store: held by " + who), stderr
    assert lines[1].startswith("error: the store is busy: held by " + who), stderr
    assert "--lock-timeout" in stderr and "nothing was changed." in stderr
    assert sum("held by" in line for line in lines) == 2  # the notice once, then the error
    assert snapshot(url) == before


def test_a_waiting_writer_goes_on_when_the_holder_finishes(url):
    from orchestrator.resources.store import Store

    holder = Store(url, command="fullbars test-holder")
    with holder.transaction():
        waiting = _fullbars("plan", str(EXAMPLES / "intents/acme-hq.yaml"), "--network", NETWORK, "--db", url,
                            "--lock-timeout", "120")
        notice = waiting.stderr.readline()  # printed while we still hold the store
        assert notice.startswith("waiting for the store: held by `fullbars test-holder`"), notice
    holder.engine.dispose()
    stdout, stderr = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, stderr
    assert "acme-hq" in stdout and snapshot(url)["intents"]


def test_a_duplicate_the_schema_refuses_is_a_clear_error_keeping_nothing(url):
    """Were a check in the code to miss a clash, the database still refuses it, and the command
    ends with the constraint named instead of a traceback."""
    from orchestrator.errors import FullbarsError
    from orchestrator.resources.store import IntentRow, Store

    store = Store(url)
    one = {"pool": "onu-id:olt-1/1/1/1", "value": "1", "purpose": "onu-id"}
    with store.transaction() as s:
        Store.add_allocations(s, [one | {"owner": "first"}])
        s.add(IntentRow(name="first", kind="BusinessBroadband", spec="{}", digest="x", onu_serial="ACME0000A001"))
    before = snapshot(url)
    with pytest.raises(FullbarsError, match="the store refused a duplicate: .*allocations"):
        with store.transaction() as s:
            Store.audit(s, "test", "second")
            Store.add_allocations(s, [one | {"owner": "second"}])
    with pytest.raises(FullbarsError, match="the store refused a duplicate: .*onu_serial"):
        with store.transaction() as s:
            s.add(IntentRow(name="second", kind="BusinessBroadband", spec="{}", digest="y", onu_serial="ACME0000A001"))
    store.engine.dispose()
    assert snapshot(url) == before


def test_a_store_held_while_it_is_opened_is_waited_for(tmp_path, capsys):
    """Another process holding the SQLite file when this one opens it (as eight plans starting on a
    new store do) is waited for like a held lock, not refused with "database is locked"."""
    import sqlite3
    import threading

    from orchestrator.errors import FullbarsError
    from orchestrator.resources.store import Store

    def hold(path, seconds):
        c = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        c.execute("CREATE TABLE IF NOT EXISTS x(a)")
        c.execute("BEGIN EXCLUSIVE")
        t = threading.Timer(seconds, lambda: c.execute("COMMIT"))
        t.start()
        return t

    held = hold(tmp_path / "a.db", 2)
    Store(f"sqlite:///{tmp_path}/a.db", lock_timeout=60)
    held.join()
    assert "waiting for the store: held by another process" in capsys.readouterr().err

    held = hold(tmp_path / "b.db", 4)
    with pytest.raises(FullbarsError, match="the store is busy"):
        Store(f"sqlite:///{tmp_path}/b.db", lock_timeout=1)
    held.join()
