"""The one registry of device kinds. Each kind is a YAML file in kinds/; duplicates are refused.

A kind says which YANG modules (and features of each) the device implements, how it takes
NETCONF changes, and what serves it in the lab. Code elsewhere asks the registry; it never
branches on a kind's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orchestrator.errors import FullbarsError
from orchestrator.models.context import ModelSet, model_set

KINDS_DIR = Path(__file__).parent / "kinds"


@dataclass(frozen=True)
class DeviceKind:
    name: str
    role: str
    description: str
    modules: tuple[tuple[str, tuple[str, ...]], ...]
    netconf: dict = field(default_factory=dict, hash=False, compare=False)
    lab: dict = field(default_factory=dict, hash=False, compare=False)
    secrets: tuple[str, ...] = ()  # schema paths of leaves holding secrets (netconf/secrets.py)

    @property
    def models(self) -> ModelSet:
        return model_set(self.modules)


class KindRegistry:
    def __init__(self):
        self._kinds: dict[str, DeviceKind] = {}

    def register(self, kind: DeviceKind, source: str = "") -> None:
        if kind.name in self._kinds:
            raise FullbarsError(f"device kind {kind.name!r} is defined twice", file=source or None,
                                fix="give each kind file a unique name")
        self._kinds[kind.name] = kind

    def get(self, name: str) -> DeviceKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise FullbarsError(f"unknown device kind {name!r}",
                                fix=f"use one of: {', '.join(sorted(self._kinds))}") from None

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def load_dir(self, folder: Path) -> "KindRegistry":
        for path in sorted(folder.glob("*.yaml")):
            data = yaml.safe_load(path.read_text())
            mods = tuple((m, tuple(f or ())) for m, f in data["modules"].items())
            self.register(DeviceKind(name=data["name"], role=data["role"],
                                     description=data.get("description", ""), modules=mods,
                                     netconf=data.get("netconf", {}), lab=data.get("lab", {}),
                                     secrets=tuple(data.get("secrets", ()))),
                          source=str(path))
        return self


KINDS = KindRegistry().load_dir(KINDS_DIR)
