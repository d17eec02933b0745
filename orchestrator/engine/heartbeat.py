"""Executors watching each other. Every process that runs durable workflows beats in the store
(table engine_executors: a counter it raises every `interval` seconds). A watcher that sees the
counter of an executor on another machine stand still for `dead_after` seconds by its own clock
(no clock is compared across machines), or an executor's process gone on its own machine, claims it dead in one conditional update
(so only one watcher wins) and has the engine recover its workflows. An executor that finds
itself claimed dead stops at once: its workflows are being run by another."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from sqlalchemy import create_engine, delete, insert, select, update

from orchestrator.resources.store import ExecutorRow, _now

log = logging.getLogger("fullbars.engine")
T = ExecutorRow.__table__


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def live_workers(url: str) -> list[str]:
    """The workers whose last beat is on record as alive (a dead one not yet claimed counts too)."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return [r.id for r in c.execute(select(T.c.id).where(T.c.role == "worker", T.c.state == "alive"))]
    finally:
        engine.dispose()


class Heartbeat:
    def __init__(self, url: str, executor_id: str, role: str, interval: float = 1.0, dead_after: float = 10.0,
                 recover=None, fenced=None, host: str | None = None):
        """recover(executor_ids): called for executors found dead (None: this one only beats).
        fenced(): called when others have claimed this executor dead. host: the machine's name
        as recorded (default: this host's)."""
        self.id, self.role, self.interval, self.dead_after = executor_id, role, interval, dead_after
        self.recover, self.fenced = recover, fenced
        # Its own engine, outside the store's write lock: a long plan holding the lock must not
        # stop the beat, or the others would take a busy executor for a dead one.
        self.engine = create_engine(url, **({"connect_args": {"timeout": 5}} if url.startswith("sqlite") else {}))
        self.host = host or socket.gethostname()
        self.seen: dict[str, tuple[int, float]] = {}
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        with self.engine.begin() as c:
            c.execute(insert(T).values(id=self.id, host=self.host, pid=os.getpid(), role=self.role, state="alive",
                                       beat=0, started_at=_now(), beat_at=_now(), recovered_by=""))
        self.thread = threading.Thread(target=self._run, name="fullbars-heartbeat", daemon=True)
        self.thread.start()

    def stop(self, forget: bool = False) -> None:
        """A clean end: watchers still recover whatever this executor left pending; forget: it
        left nothing, so its row goes."""
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=self.interval * 5)
        with self.engine.begin() as c:
            if forget:
                c.execute(delete(T).where(T.c.id == self.id, T.c.state == "alive"))
            else:
                c.execute(update(T).where(T.c.id == self.id, T.c.state == "alive")
                          .values(state="stopped", beat_at=_now()))
        self.engine.dispose()

    def _run(self) -> None:
        while not self.stop_event.wait(self.interval):
            try:
                self.beat()
                if self.recover is not None:
                    self.watch()
            except Exception as e:  # noqa: BLE001 - the database may be away a moment; beat on
                log.warning("heartbeat: %s", e)

    def beat(self) -> None:
        with self.engine.begin() as c:
            n = c.execute(update(T).where(T.c.id == self.id, T.c.state == "alive")
                          .values(beat=T.c.beat + 1, beat_at=_now())).rowcount
        if n == 0 and self.fenced is not None:
            self.fenced()

    def watch(self) -> list[str]:
        """Claim the executors that are dead (or ended without finishing) and recover them."""
        now = time.monotonic()
        with self.engine.begin() as c:
            rows = list(c.execute(select(T.c.id, T.c.beat, T.c.state, T.c.host, T.c.pid).where(T.c.id != self.id, T.c.state.in_(("alive", "stopped")))))
        claimed = []
        for r in rows:
            if r.state == "alive" and r.host == self.host:
                # on this machine the process table is the truth: a process that lives is not taken
                # for dead however long its beat stalls (a SQLite store's write lock can hold it)
                if not _process_gone(r.pid):
                    continue
            elif r.state == "alive":
                last = self.seen.get(r.id)
                if last is None or last[0] != r.beat:
                    self.seen[r.id] = (r.beat, now)
                    continue
                if now - last[1] < self.dead_after:
                    continue
            with self.engine.begin() as c:  # one watcher wins the claim
                won = c.execute(update(T).where(T.c.id == r.id, T.c.state == r.state, T.c.beat == r.beat)
                                .values(state="dead", recovered_by=self.id, beat_at=_now())).rowcount
            if won:
                claimed.append(r.id)
        if claimed:
            log.warning("executor(s) %s stopped beating: recovering their workflows", ", ".join(claimed))
            self.recover(claimed)
            with self.engine.begin() as c:
                c.execute(delete(T).where(T.c.id.in_(claimed)))
        return claimed
