"""Allocation from pools, idempotent per (owner, purpose), checked in memory and kept in the store.

Every value lives in a named pool; a pool is an inclusive integer range or an IPv4 prefix cut
into equal blocks (netaddr). The store's unique constraints back up the in-memory checks.
"""

from __future__ import annotations

from collections import defaultdict

import netaddr
from sqlalchemy.orm import Session

from orchestrator.errors import FullbarsError
from orchestrator.resources.store import Store


class PoolExhausted(FullbarsError):
    pass


def _outside(owner: str, value: str, now: str) -> FullbarsError:
    """A value a service holds that the range the network description now gives no longer has
    (a PON port turned GPON, a range moved or shrunk): giving it another would renumber the
    service unasked, keeping it would configure what the range forbids."""
    return FullbarsError(f"{owner} holds {value}, outside {now}, the range the network description now gives",
                         fix=f"keep the range until {owner} is moved or deleted (a range may grow), or plan "
                             f"{owner} elsewhere")


class Allocator:
    """lazy=True: nothing is read until asked for. An owner's allocations are read the first time
    one of them is asked for or changed, a pool's the first time its values or owners are; a plan
    that touches a few devices of a large inventory reads their rows, not every row. Once an
    owner is read, this allocator's record of it is the truth (it may have taken or given back
    values the store does not have yet): a pool read later skips that owner's rows."""

    def __init__(self, session: Session, lazy: bool = False):
        self.s = session
        self.by_owner: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
        self._used: dict[str, set[str]] = defaultdict(set)
        self._lengths: dict[str, set[int]] = defaultdict(set)  # pool → the lengths of the blocks held in it
        self.members: dict[str, set[str]] = defaultdict(set)  # pool → owners
        self._all = False
        self._owners_read: set[str] = set()
        self._pools_read: set[str] = set()
        if not lazy:
            self.read_all()
        self._cursor: dict[str, int] = {}
        # per (pool, block length): blocks of another length are counted in other units
        self._block_cursor: dict[tuple[str, int], int] = {}
        self._new: list[dict] = []
        self._dirty_owners: set[str] = set()

    def read_all(self) -> None:
        """Every allocation in the store (one query): for plans that place every service."""
        if self._all:
            return
        known = self._owners_read
        for pool, value, owner, purpose in Store.allocations(self.s):
            if owner not in known:
                self._note(pool, value, owner, purpose)
        self._all = True

    def read_owners(self, owners) -> None:
        """Read these owners' allocations now, in a few queries, before asking about each."""
        if self._all:
            return
        todo = {o for o in owners if o not in self._owners_read}
        if todo:
            for row in Store.allocations_of(self.s, todo):
                self._note(*row)
            self._owners_read |= todo

    def _owner(self, owner: str) -> None:
        if not self._all and owner not in self._owners_read:
            self.read_owners((owner,))

    def read_pools(self, pools) -> set[str]:
        """Read these pools' allocations now, in a few queries; returns the owners read with them."""
        if self._all:
            return set()
        todo = {p for p in pools if p not in self._pools_read}
        if not todo:
            return set()
        known, found = self._owners_read, set()
        for row in Store.allocations_in(self.s, todo):
            found.add(row[2])
            if row[2] not in known:
                self._note(*row)
        self._pools_read |= todo
        return found

    def _pool(self, pool: str) -> None:
        if not self._all and pool not in self._pools_read:
            self.read_pools((pool,))

    def _note(self, pool, value, owner, purpose):
        self.by_owner[owner][purpose] = (pool, value)
        self._used[pool].add(value)
        if "/" in value:  # never forgotten: a length no block has any more costs a few look-ups
            self._lengths[pool].add(int(value.rsplit("/", 1)[1]))
        self.members[pool].add(owner)

    # --- queries -------------------------------------------------------------------------
    def held(self, owner: str, purpose: str) -> tuple[str, str] | None:
        self._owner(owner)
        return self.by_owner.get(owner, {}).get(purpose)

    def owners(self, pool: str) -> set[str]:
        self._pool(pool)
        return self.members.get(pool, set())

    def of(self, owner: str) -> dict[str, tuple[str, str]]:
        self._owner(owner)
        return dict(self.by_owner.get(owner, {}))

    def used(self, pool: str) -> set[str]:
        """The values of `pool` held (read only)."""
        self._pool(pool)
        return self._used[pool]

    # --- taking --------------------------------------------------------------------------
    def take_int(self, owner: str, purpose: str, pool: str, first: int, last: int,
                 what: str | None = None, held_outside: bool = False) -> int:
        """held_outside: a value held outside first..last comes back as it is (the caller says why)."""
        held = self.held(owner, purpose)
        if held and held[0] == pool:
            if not (held_outside or first <= int(held[1]) <= last):
                raise _outside(owner, f"{purpose} {held[1]} of pool {pool}", f"{first}..{last}")
            return int(held[1])
        used = self.used(pool)
        c = max(self._cursor.get(pool, first), first)
        while c <= last and str(c) in used:
            c += 1
        if c > last:
            raise PoolExhausted(f"pool {pool} is exhausted: all {last - first + 1} values of "
                                f"{what or purpose} ({first}..{last}) are in use",
                                fix="widen the range in the network description, or place the "
                                    "intent elsewhere")
        self._cursor[pool] = c + 1
        self._record(pool, str(c), owner, purpose)
        return c

    def take_value(self, owner: str, purpose: str, pool: str, value: int) -> str | None:
        """Hold a value the intent names itself; returns the owner already holding it, if any."""
        held = self.held(owner, purpose)
        if held and held == (pool, str(value)):
            return None
        if str(value) in self.used(pool):
            return (self.holding(pool, value) or ("another service", ""))[0]
        self._record(pool, str(value), owner, purpose)
        return None

    def holding(self, pool: str, value) -> tuple[str, str] | None:
        """(owner, purpose) that holds a value of a pool, if a loaded owner does."""
        return next(((o, purpose) for o in sorted(self.members.get(pool, ()))
                     for purpose, held in self.by_owner[o].items() if held == (pool, str(value))), None)

    def take_block(self, owner: str, purpose: str, pool: str, prefix: str, length: int) -> netaddr.IPNetwork:
        held = self.held(owner, purpose)
        if held and held[0] == pool:
            if netaddr.IPNetwork(held[1]) not in netaddr.IPNetwork(prefix):
                raise _outside(owner, f"{purpose} {held[1]} of pool {pool}", prefix)
            return netaddr.IPNetwork(held[1])
        net = netaddr.IPNetwork(prefix)
        size = 2 ** (32 - length)
        count = net.size // size
        used = self.used(pool)
        i = self._block_cursor.get((pool, length), 0)
        base = int(net.network)
        taken = self._block_taken(pool, length)
        while i < count and taken(base + i * size):
            i += 1
        if i >= count:
            self._block_cursor[pool, length] = count  # a line that falls through to the next pool must not rescan this one
            raise PoolExhausted(f"pool {pool} is exhausted: all {count} blocks /{length} of {net.cidr} "
                                f"are in use", fix="add a pool or a larger prefix to the network "
                                                   "description, or delete unused services")
        self._block_cursor[pool, length] = i + 1
        block = netaddr.IPNetwork(f"{netaddr.IPAddress(base + i * size)}/{length}")
        self._record(pool, str(block), owner, purpose)
        return block

    def _block_taken(self, pool: str, length: int):
        """Whether the block /length at an address overlaps a block of the pool held: one of
        the same length, or, where lines kept the blocks they had before the pool's block-length
        changed, a larger one around it or a smaller one inside it."""
        used = self.used(pool)
        others = sorted(self._lengths[pool] - {length})
        if not others:
            return lambda addr: f"{netaddr.IPAddress(addr)}/{length}" in used

        def taken(addr: int) -> bool:
            if f"{netaddr.IPAddress(addr)}/{length}" in used:
                return True
            for other in others:
                if other < length:
                    around = addr & ~(2 ** (32 - other) - 1)
                    if f"{netaddr.IPAddress(around)}/{other}" in used:
                        return True
                elif any(f"{netaddr.IPAddress(addr + j * 2 ** (32 - other))}/{other}" in used
                         for j in range(2 ** (other - length))):
                    return True
            return False
        return taken

    def _record(self, pool, value, owner, purpose):
        old = self.held(owner, purpose)
        if old:
            self._forget(owner, [purpose])
        self._note(pool, value, owner, purpose)
        self._new.append({"pool": pool, "value": value, "owner": owner, "purpose": purpose})

    # --- giving back ---------------------------------------------------------------------
    def release(self, owner: str, purposes: list[str] | None = None) -> None:
        self._forget(owner, purposes)

    def _forget(self, owner, purposes):
        self._owner(owner)
        held = self.by_owner.get(owner, {})
        for purpose in list(held if purposes is None else purposes):
            if purpose not in held:
                continue
            pool, value = held.pop(purpose)
            self._used[pool].discard(value)
            if not any(p == pool for p, _ in held.values()):
                self.members[pool].discard(owner)
            self._cursor.pop(pool, None)
            for key in [k for k in self._block_cursor if k[0] == pool]:
                del self._block_cursor[key]
            self._new = [r for r in self._new if not (r["owner"] == owner and r["purpose"] == purpose)]
        # Removing what the store had: delete by owner, then re-add survivors on flush.
        self._dirty_owners.add(owner)

    def flush(self) -> None:
        for owner in self._dirty_owners:
            Store.free_allocations(self.s, owner)
            for purpose, (pool, value) in self.by_owner.get(owner, {}).items():
                if not any(r["owner"] == owner and r["purpose"] == purpose for r in self._new):
                    self._new.append({"pool": pool, "value": value, "owner": owner, "purpose": purpose})
        Store.add_allocations(self.s, self._new)
        self._new = []
        self._dirty_owners = set()
