"""The intents of a plan, as a mapping that notes which names a placement looks up.

A service that names another (an FTTR service its line, a line the upgrades raising it) must be
placed again when that other changes, though it may live on devices the plan does not touch.
Looking a name up (``intents[name]``, ``intents.get(name)``, ``name in intents``) is such a
reference, present or not; going over every intent is not: those are checks among neighbours on
one device, which the plan places again with the device. ``quiet(name)`` looks a name up
without noting it (the plan's own bookkeeping)."""

from __future__ import annotations

from orchestrator.intents.loader import StoredIntent


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

    def note(self, name: str) -> None:
        """Note a reference to a service found by going over a kind (an upgrade that covers a
        line, found among the overlays): a plan that changes it, or where it reaches, places the
        line again."""
        if self._log is not None:
            self._log.add(name)

    def load(self, names) -> None:
        """Read these now, in a few queries, before asking about each (every one is here already)."""

    def quiet(self, name):
        """The intent named so, or None; not noted as a lookup."""
        return dict.get(self, name)

    def of_kind(self, kind: str) -> list:
        return [it for it in dict.values(self) if it.kind == kind]

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


class StoredReads(NamedReads):
    """The store's intents read as they are asked for: by name (a plan of one line in a large
    inventory reads the lines it places, not every row), by kind (an overlay's intents), or all at
    once the first time something goes over every intent. An intent the plan sets or deletes here
    is what the plan has, whatever the store's row says."""

    __slots__ = ("_fetch", "_all", "_absent", "_kinds", "created")

    def __init__(self, fetch, created: dict):
        """fetch(names=None, kind=None): the rows (name, kind, spec, digest, source, parent,
        created_at) of these names, of this kind, or of every intent; created: filled with each
        row's created_at as it is read."""
        super().__init__()
        self._fetch, self._all, self._absent, self._kinds, self.created = fetch, False, set(), set(), created

    def _take(self, rows) -> set[str]:
        found = set()
        for name, kind, spec, digest, source, parent, created_at in rows:
            found.add(name)
            self.created[name] = created_at  # the stored row's, whether the plan has its own intent or not
            if not dict.__contains__(self, name) and name not in self._absent:
                dict.__setitem__(self, name, StoredIntent(name, kind, spec, source or "(store)", digest, parent))
        return found

    def load(self, names) -> None:
        if self._all:
            return
        todo = {n for n in names if not dict.__contains__(self, n) and n not in self._absent}
        if todo:
            self._absent |= todo - self._take(self._fetch(names=todo))

    def _one(self, name) -> None:
        if not self._all and not dict.__contains__(self, name) and name not in self._absent:
            self.load((name,))

    def _load_all(self) -> None:
        if not self._all:
            self._take(self._fetch())
            self._all = True

    def quiet(self, name):
        self._one(name)
        return dict.get(self, name)

    def dropped(self, name) -> bool:
        """Deleted by this plan (or asked for and not in the store)."""
        return name in self._absent and not dict.__contains__(self, name)

    def of_kind(self, kind: str) -> list:
        if not self._all and kind not in self._kinds:
            self._take(self._fetch(kind=kind))
            self._kinds.add(kind)
        return super().of_kind(kind)

    def __getitem__(self, name):
        self._one(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        self._one(name)
        return super().get(name, default)

    def __contains__(self, name):
        self._one(name)
        return super().__contains__(name)

    def __setitem__(self, name, value):
        self._absent.discard(name)
        super().__setitem__(name, value)

    def __delitem__(self, name):
        super().__delitem__(name)
        self._absent.add(name)

    def __iter__(self):
        self._load_all()
        return super().__iter__()

    def __len__(self):
        self._load_all()
        return super().__len__()

    def keys(self):
        self._load_all()
        return super().keys()

    def values(self):
        self._load_all()
        return super().values()

    def items(self):
        self._load_all()
        return super().items()
