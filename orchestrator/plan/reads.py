"""The intents of a plan, as a mapping that notes which names a placement looks up.

A service that names another (an FTTR service its line, a line the upgrades raising it) must be
placed again when that other changes, though it may live on devices the plan does not touch.
Looking a name up (``intents[name]``, ``intents.get(name)``, ``name in intents``) is such a
reference, present or not; going over every intent is not: those are checks among neighbours on
one device, which the plan places again with the device."""

from __future__ import annotations


class NamedReads(dict):
    __slots__ = ("_log",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._log: set[str] | None = None

    def record(self) -> set[str]:
        """Start noting the names looked up; the set returned fills until the next record()."""
        self._log = set()
        return self._log

    def stop(self) -> None:
        self._log = None

    def __getitem__(self, name):
        if self._log is not None:
            self._log.add(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        if self._log is not None:
            self._log.add(name)
        return super().get(name, default)

    def __contains__(self, name):
        if self._log is not None:
            self._log.add(name)
        return super().__contains__(name)
