"""Login throttling per peer address: after each failed password the peer's next attempt waits
longer (BASE seconds, doubling per failure, at most CAP); a successful login clears the count.
Attempts from one address are taken one at a time, so opening many connections at once gains
an attacker nothing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("fullbars.devsim")

BASE, CAP = 0.5, 8.0
FORGET_AFTER = 600.0  # a peer quiet this long starts afresh


class LoginThrottle:
    def __init__(self, base: float = BASE, cap: float = CAP, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable] = asyncio.sleep):
        self.base, self.cap, self.clock, self.sleep = base, cap, clock, sleep
        self.failures: dict[str, int] = {}
        self.not_before: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def delay(self, failures: int) -> float:
        return min(self.base * 2 ** (failures - 1), self.cap) if failures > 0 else 0.0

    async def attempt(self, peer: str, user: str, check: Callable[[], bool]) -> bool:
        """Run one login check for `peer`, after the wait its earlier failures earned."""
        lock = self._locks.setdefault(peer, asyncio.Lock())
        async with lock:
            wait = self.not_before.get(peer, 0.0) - self.clock()
            if wait > 0:
                await self.sleep(wait)
            if check():
                self.failures.pop(peer, None)
                self.not_before.pop(peer, None)
                return True
            self._forget_quiet_peers()
            n = self.failures[peer] = self.failures.get(peer, 0) + 1
            self.not_before[peer] = self.clock() + self.delay(n)
            log.warning("login failed for user %r from %s (failure %d): its next attempt waits %.1f s",
                        user, peer, n, self.delay(n))
            return False

    def _forget_quiet_peers(self) -> None:
        now = self.clock()
        for peer in [p for p, t in self.not_before.items() if now - t > FORGET_AFTER]:
            self.failures.pop(peer, None)
            self.not_before.pop(peer, None)
            lock = self._locks.get(peer)
            if lock is not None and not lock.locked():
                del self._locks[peer]
