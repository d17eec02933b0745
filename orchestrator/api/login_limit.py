"""Failed password logins slow the next ones down, per account and per client address: after a
few free failures each further one makes that account (or address) wait longer before it may
try again (BASE seconds, doubling, at most CAP), as devsim's throttle does for NETCONF logins.
A server answers a request at once, so instead of sleeping it refuses early attempts (429 with
Retry-After), right password or not: else guessing would go on at full speed and only the
answers would be slow. An attempt counts as a failure when it starts and is forgiven if the
password was right, so many attempts sent at once are counted too."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from orchestrator.acting import Actor, acting
from orchestrator.app import users
from orchestrator.errors import FullbarsError

FREE = {"user": 5, "client": 100}  # failures before any wait (an office, a proxy share an address)
BASE, CAP = 1.0, 300.0  # seconds
FORGET_AFTER = 3600.0  # a key quiet this long starts afresh
MOST_KEYS = 10_000  # unknown names are free to invent: the memory they take is bounded


class TooManyAttempts(FullbarsError):
    status = 429

    def __init__(self, wait: float):
        self.retry_after = max(1, math.ceil(wait))
        super().__init__(f"too many failed sign-ins for this user or from this address: try again in "
                         f"{self.retry_after} s", path="name",
                         fix="wait, then sign in with the right password; an admin can set a new one")


class LoginLimit:
    def __init__(self, free: dict[str, int] | None = None, base: float = BASE, cap: float = CAP,
                 clock: Callable[[], float] = time.monotonic):
        self.free, self.base, self.cap, self.clock = free or FREE, base, cap, clock
        self.failures: dict[tuple[str, str], int] = {}
        self.not_before: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def delay(self, kind: str, failures: int) -> float:
        over = failures - self.free[kind]
        return min(self.base * 2 ** (over - 1), self.cap) if over > 0 else 0.0

    def admit(self, keys: list[tuple[str, str]]) -> float:
        """0: the attempt may go on, counted as a failure until forgiven; else the seconds to wait."""
        with self._lock:
            now = self.clock()
            wait = max(self.not_before.get(k, 0.0) - now for k in keys)
            if wait > 0:
                return wait
            self._forget(now)
            for k in keys:
                n = self.failures[k] = self.failures.get(k, 0) + 1
                self.not_before[k] = now + self.delay(k[0], n)
            return 0.0

    def locks_after(self, keys: list[tuple[str, str]]) -> float:
        """The wait the attempt admitted last has earned its keys, if it fails."""
        with self._lock:
            return max(self.not_before.get(k, 0.0) - self.clock() for k in keys)

    def forgive(self, user: tuple[str, str], client: tuple[str, str]) -> None:
        """A right password: the account starts afresh; the address only loses this attempt's
        charge (else one's own account would wipe the guesses sprayed at others')."""
        with self._lock:
            self.failures.pop(user, None)
            self.not_before.pop(user, None)
            if (n := self.failures.get(client, 0) - 1) > 0:
                self.failures[client] = n
                self.not_before[client] = self.clock() + self.delay(client[0], n)
            else:
                self.failures.pop(client, None)
                self.not_before.pop(client, None)

    def _forget(self, now: float) -> None:
        quiet = [k for k, t in self.not_before.items() if now - t > FORGET_AFTER]
        if len(self.not_before) - len(quiet) >= MOST_KEYS:
            quiet += sorted(self.not_before, key=self.not_before.get)[:len(self.not_before) // 2]
        for k in quiet:
            self.failures.pop(k, None)
            self.not_before.pop(k, None)


def login(limit: LoginLimit, store, name: str, password: str, client: str) -> str:
    """users.login, refused early (TooManyAttempts) while the account or the address must wait;
    the failure that makes either wait is audited (login-locked)."""
    keys = [("user", name[:64]), ("client", client)]  # a user's name has at most 64: longer ones take no memory
    wait = limit.admit(keys)
    if wait > 0:
        raise TooManyAttempts(wait)
    try:
        token = users.login(store, name, password, client)
    except FullbarsError:
        if (wait := limit.locks_after(keys)) > 0:
            _audit_lock(store, name, client, wait, {k: limit.failures.get((k, v), 0) for k, v in keys})
        raise
    limit.forgive(*keys)
    return token


def _audit_lock(store, name: str, client: str, wait: float, failures: dict) -> None:
    from orchestrator.resources.store import Store, UserRow

    with store.transaction(write=False) as s:
        known = s.get(UserRow, name) is not None
    who = name if known else "(unknown)"  # as users.login: a mistyped password in the name field is not kept
    with acting(Actor(who, frozenset(), client)):
        with store.transaction() as s:
            Store.audit(s, "login-locked", f"user:{who}", {"seconds": round(wait, 1), "failures": failures})
