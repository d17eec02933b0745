"""Who runs a transaction, so that `recover` finishes or undoes only what a dead process left.

A transaction in flight records its owner (host, boot and pid namespace, pid and the process's
start time) and a lease its process renews. On the owner's own machine, in its own pid namespace,
the process table decides: the pid runs with the same start time, or it does not (a crash, kill
-9, a reboot). From another machine (or container) only the lease can: one not renewed for
LEASE_S seconds belongs to a dead process. That compares the owner's clock with the reader's, so
the machines sharing a store must agree on the time to well within LEASE_S (NTP does). On SQLite
every process is on the store's machine, so no lease is renewed there: containers that share a
SQLite file must share a pid namespace too (or share a PostgreSQL store instead).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from functools import lru_cache

from sqlalchemy import create_engine, update

from orchestrator.resources.store import TransactionRow

log = logging.getLogger("fullbars.lease")

LEASE_S = 30.0
RENEW_S = 5.0


@lru_cache(maxsize=1)
def _boot_id() -> str:
    """This kernel's boot, and the pid namespace its pids are counted in: containers on one host
    share the boot and may share a host name, but a pid in one is not the same process in
    another (so there only the lease decides)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        return ""
    try:
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return boot


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), which a
    later process given the same pid does not share; None when no such process runs (or only its
    zombie, killed and not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def me() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}|{_boot_id()}|{pid}|{_started(pid) or ''}"


def describe(owner: str) -> str:
    host, _, pid, _ = (owner.split("|") + ["", "", "", ""])[:4]
    return f"process {pid or '?'} on {host or '?'}"


def _until(now: dt.datetime | None = None) -> str:
    return ((now or dt.datetime.now(dt.timezone.utc)) + dt.timedelta(seconds=LEASE_S)).isoformat(timespec="seconds")


def alive(owner: str, lease_until: str, now: dt.datetime | None = None) -> bool:
    """Whether the process that owns a transaction may still be running it."""
    if not owner or not lease_until:
        return False  # released by its process, or written before owners were recorded
    host, boot, pid, started = (owner.split("|") + ["", "", "", ""])[:4]
    if host == socket.gethostname() and boot == _boot_id():
        return pid.isdigit() and _started(int(pid)) == started
    try:
        until = dt.datetime.fromisoformat(lease_until)
    except ValueError:
        return False
    return until > (now or dt.datetime.now(dt.timezone.utc))


class Lease:
    """Holds one transaction's lease: taken with the journal's first write, renewed every RENEW_S
    seconds on its own connection (a long plan holding the store's write lock must not stop it),
    released when the transaction ends, or when its process gives up on it with an error."""

    def __init__(self, url, tx: str):
        self.url, self.tx = url, tx
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    @staticmethod
    def taken() -> dict:
        """The transaction row's columns that take it."""
        return {"owner": me(), "lease_until": _until()}

    def start(self) -> None:
        if self.url.get_backend_name() == "sqlite":
            return  # one machine: the process table decides
        self.thread = threading.Thread(target=self._renew, name=f"lease-{self.tx}", daemon=True)
        self.thread.start()

    def _renew(self) -> None:
        engine = create_engine(self.url)
        try:
            while not self.stop_event.wait(RENEW_S):
                try:
                    with engine.begin() as c:
                        c.execute(update(TransactionRow).where(TransactionRow.id == self.tx)
                                  .values(lease_until=_until()))
                except Exception as e:  # noqa: BLE001 - the next round tries again; the lease is long
                    log.warning("could not renew the lease of %s: %s", self.tx, e)
        finally:
            engine.dispose()

    def stop(self) -> None:
        """Stops renewing; the caller writes lease_until="" with what ends the transaction."""
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=RENEW_S + 5)
            self.thread = None
