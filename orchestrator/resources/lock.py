"""One writer at a time, enforced by the database.

SQLite: a writer's transaction starts with BEGIN IMMEDIATE, which takes the database's write lock
before the first read. PostgreSQL: a transaction-scoped advisory lock, taken first thing.
Either way a second writer waits, says once who holds the store and since when, and gives up
after the timeout with an error naming the holder. Readers (write=False) never wait.

Who holds the lock is shown from what the holder cannot fail to leave behind: on PostgreSQL its
session in pg_stat_activity (the connection's application_name names the command, pid, host
and user); on SQLite a small file beside the database, written once the lock is taken (a row
in the store would stay invisible until the holder commits).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import sys
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from orchestrator.acting import local_user
from orchestrator.errors import FullbarsError

PG_KEY = 0x66756C6C62617273  # "fullbars": one advisory lock per database
POLL = 0.1  # seconds between PostgreSQL attempts; SQLite waits in its own busy handler
SQLITE_BUSY = 0.5  # seconds SQLite retries by itself before we look at the holder again


def _me(command: str) -> dict:
    return {"command": command, "pid": os.getpid(), "host": socket.gethostname(), "user": local_user()}


def engine_args(url: str, command: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_BUSY}}
    if url.startswith("postgresql"):
        me = _me(command)
        # PostgreSQL keeps 63 bytes of it; the pid comes first so it survives a long host name.
        name = f"{me['command']}|{me['pid']}|{me['user']}|{me['host']}"[:63]
        return {"connect_args": {"application_name": name}}
    return {}


def _busy(exc: OperationalError) -> bool:
    """SQLite's answer when another connection holds what this one needs."""
    return "locked" in str(exc.orig) or "busy" in str(exc.orig)


def _describe(h: dict | None) -> str:
    if not h:
        return "another process"
    since = h.get("since", "")
    since = f" since {since[11:19]} UTC" if len(since) >= 19 else ""
    return f"`{h.get('command', 'fullbars')}` (pid {h.get('pid', '?')} on {h.get('host', '?')}, {h.get('user', '?')}){since}"


class StoreLock:
    def __init__(self, engine, path: Path | None, timeout: float, command: str, say=None):
        self.engine, self.timeout, self.command = engine, timeout, command
        self.holder_file = path.with_name(path.name + ".holder") if path else None
        self.say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.told = False  # one notice per command, though it may wait for several transactions

    @contextlib.contextmanager
    def held(self, conn, write: bool):
        """Begin the transaction on conn (already asked to begin by the Session) under the lock."""
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            if not write:
                conn.exec_driver_sql("BEGIN")
                yield
                return
            self._wait(lambda: self._sqlite_try(conn), self._sqlite_holder)
            self._write_holder()
            try:
                yield
            finally:
                self._clear_holder()
            return
        if write and dialect == "postgresql":
            self._wait(lambda: conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": PG_KEY}).scalar(),
                       lambda: self._pg_holder(conn))
        yield

    def opening(self, open_):
        """open_() (a store's first read and schema check), waited for like a held lock while another
        process holds the store (a new SQLite file's switch to WAL, or its creation under way)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return open_()
            except OperationalError as exc:
                if not _busy(exc):
                    raise
            self._waited(self._sqlite_holder() if self.engine.dialect.name == "sqlite" else None, deadline)
            time.sleep(POLL)

    def _waited(self, h: dict | None, deadline: float) -> None:
        """Past the deadline, refuse naming the holder; else say once that this command waits."""
        if time.monotonic() >= deadline:
            raise FullbarsError(f"the store is busy: held by {_describe(h)}; waited {self.timeout:g} s",
                                fix="run the command again when that one has finished, or wait longer "
                                    "with --lock-timeout SECONDS (FULLBARS_LOCK_TIMEOUT)")
        if not self.told:
            self.say(f"waiting for the store: held by {_describe(h)}")
            self.told = True

    def _wait(self, attempt, holder) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            if attempt():
                return
            self._waited(holder(), deadline)
            if self.engine.dialect.name != "sqlite":
                time.sleep(POLL)

    # --- SQLite ----------------------------------------------------------------------------
    @staticmethod
    def _sqlite_try(conn) -> bool:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return True
        except OperationalError as exc:
            if _busy(exc):
                return False
            raise

    def _sqlite_holder(self) -> dict | None:
        if self.holder_file is None:
            return None
        try:
            return json.loads(self.holder_file.read_text())
        except (OSError, ValueError):
            return None  # between the holder's BEGIN and its note, or a torn read: say "another process"

    def _write_holder(self) -> None:
        if self.holder_file is None:
            return
        me = _me(self.command) | {"since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        tmp = self.holder_file.with_name(f"{self.holder_file.name}.{os.getpid()}")
        try:
            tmp.write_text(json.dumps(me))
            os.replace(tmp, self.holder_file)  # a waiter never reads half a note
        except OSError:
            pass  # the note only informs; the database lock is what excludes

    def _clear_holder(self) -> None:
        if self.holder_file is None:
            return
        with contextlib.suppress(OSError):
            if json.loads(self.holder_file.read_text()).get("pid") == os.getpid():
                self.holder_file.unlink()

    # --- PostgreSQL ------------------------------------------------------------------------
    @staticmethod
    def _pg_holder(conn) -> dict | None:
        row = conn.execute(text(
            "SELECT a.application_name, a.xact_start, a.client_hostname, a.usename FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.pid <> pg_backend_pid() AND (l.classid::bigint << 32) + l.objid::bigint = :k"),
            {"k": PG_KEY}).first()
        if row is None:
            return None
        parts = (row.application_name or "").split("|")
        if len(parts) == 4:
            command, pid, user, host = parts
        else:
            command, pid, user, host = row.application_name or "?", "?", row.usename, row.client_hostname or "?"
        since = row.xact_start.astimezone(dt.timezone.utc).isoformat() if row.xact_start else ""
        return {"command": command, "pid": pid, "user": user, "host": host, "since": since}
