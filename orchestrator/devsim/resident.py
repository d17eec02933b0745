"""Which devices of one devsim process keep their datastores as trees in memory.

An OLT of 1,000 subscribers takes about 70 MiB as lxml trees (running and candidate, with their
key and reference indexes) and about 0.3 MiB packed (device.Device.pack). A fleet process keeps
the devices used last unpacked, up to a budget, and packs the least recently used beyond it;
the device used last always stays unpacked, however big, so a device in steady use never pays
for unpacking (about 0.2 s for 1,000 subscribers) again."""

from __future__ import annotations

import asyncio
import ctypes
import os
from collections import OrderedDict

DEFAULT_BUDGET_MIB = 256
BUDGET_ENV = "FULLBARS_DEVSIM_RESIDENT_MIB"


def budget_from_env() -> int:
    """The budget in bytes: FULLBARS_DEVSIM_RESIDENT_MIB, else DEFAULT_BUDGET_MIB."""
    text = os.environ.get(BUDGET_ENV, "").strip()
    return (int(text) if text.isdigit() else DEFAULT_BUDGET_MIB) << 20


def give_back() -> None:
    """Return freed heap pages to the system (glibc keeps them otherwise, and RSS with them)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # another libc: the pages are reused, only RSS stays higher
        pass


class Residency:
    def __init__(self, budget: int):
        self.budget = budget
        self.sizes: OrderedDict = OrderedDict()  # device -> bytes it takes unpacked; last = used last

    def used(self, device) -> list:
        """`device` was just used: the devices to pack now, least recently used first."""
        if device.packed is not None:
            self.sizes.pop(device, None)
            return []
        self.sizes.pop(device, None)
        self.sizes[device] = device.resident_size()
        total = sum(self.sizes.values())
        out = []
        for d in list(self.sizes)[:-1]:
            if total <= self.budget:
                break
            total -= self.sizes.pop(d)
            out.append(d)
        return out

    def pack_now(self, device) -> None:
        """At start-up, before any session: pack what the budget leaves out, at once."""
        victims = self.used(device)
        for d in victims:
            d.pack()
        if victims:
            give_back()

    def after_operation(self, device, everything) -> None:
        """After an operation of `device` (on the loop): pack the devices the budget leaves out,
        each as a writer of its own guard (`everything`: the names of all its datastores), so
        that no operation of it runs meanwhile."""
        for d in self.used(device):
            asyncio.ensure_future(d.guard.run(everything, everything, _pack, d))


def _pack(device) -> None:
    if device.pack():
        give_back()


RESIDENT = Residency(budget_from_env())
