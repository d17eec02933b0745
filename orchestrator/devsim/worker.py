"""Where a device's operations run: off the event loop, so one session's 50 MB edit neither holds
up another session's get-config nor a SIGTERM.

Each operation runs in a thread of its own (a daemon: a process told to stop does not wait for
an edit it will never answer). The datastores it reads and writes are guarded: one writing
operation at a time per device, and no reader of a datastore while it is being written, so a
get-config of running answers during a long edit of the candidate."""

from __future__ import annotations

import asyncio
import threading


def offload(fn, *args):
    """Run fn(*args) in a daemon thread; an awaitable of its result."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def done(ok, value):
        if not fut.done():
            (fut.set_result if ok else fut.set_exception)(value)

    def work():
        try:
            value, ok = fn(*args), True
        except BaseException as exc:  # noqa: BLE001 - carried to the awaiting coroutine
            value, ok = exc, False
        try:
            loop.call_soon_threadsafe(done, ok, value)
        except RuntimeError:
            pass  # the loop is closed: the process is stopping

    threading.Thread(target=work, daemon=True, name="devsim-op").start()
    return fut


class Guard:
    """Readers and one writer per device, by datastore name (asyncio, on the loop)."""

    def __init__(self):
        self.reading: dict[str, int] = {}
        self.writing: frozenset[str] | None = None
        self.cond: asyncio.Condition | None = None

    def _free(self, reads: frozenset, writes: frozenset | None) -> bool:
        if writes is not None:
            return self.writing is None and not any(self.reading.get(d) for d in writes)
        return self.writing is None or not (reads & self.writing)

    async def run(self, reads, writes, fn, *args):
        """fn(*args) off the loop once `reads` may be read and, unless `writes` is None, once this
        is the device's only writer and nobody reads `writes`."""
        if self.cond is None:
            self.cond = asyncio.Condition()
        reads = frozenset(reads)
        writes = None if writes is None else frozenset(writes)
        async with self.cond:
            await self.cond.wait_for(lambda: self._free(reads, writes))
            if writes is not None:
                self.writing = writes
            for d in reads:
                self.reading[d] = self.reading.get(d, 0) + 1
        try:
            return await offload(fn, *args)
        finally:
            async with self.cond:
                if writes is not None:
                    self.writing = None
                for d in reads:
                    self.reading[d] -= 1
                self.cond.notify_all()
