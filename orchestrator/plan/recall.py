"""What a plan can recall instead of computing: the last plan's placements and builds.

A plan is a function of its intents and the store. When it is given only intents the last plan
was given, unchanged, and the store is as that plan left it (the same placement state and
suspensions), every placement and device build it would make is the one that plan made. Those
are kept (each service's placement as the plan shows it in plan_placements, each device's build
in plan_builds), so such a plan reads them back for the devices it touches instead of loading
the inventory, placing every service on those devices and building them again. Any other plan
(another intent, a delete, a removal pending, an upgrade's scope, a store moved by any command,
a device given a config since) runs in full, and writes what the next one may recall.
"""

from __future__ import annotations

import hashlib
import json

from orchestrator.plan import fragcache
from orchestrator.resources.store import Store


def _as_shown(placement) -> list:
    return [placement.resources, sorted(placement.devices), placement.serving,
            [w.as_dict() for w in placement.warnings], bool(placement.artifacts)]


def digest(placement) -> str:
    """The sha256 of a placement as the plan shows it, in JSON (a tuple and a list of the same
    values are one JSON text: a placement that changed only that keeps its older packed form)."""
    text = json.dumps(_as_shown(placement), separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def memo(placement) -> str | None:
    """A placement as the plan shows it, as exact JSON text (fragcache.exact); None when a value
    in it has no exact form (it is then never recalled)."""
    try:
        return json.dumps(fragcache.exact(_as_shown(placement)), separators=(",", ":"))
    except TypeError:
        return None


def pack(text: str) -> bytes:
    return text.encode()  # a few hundred bytes: compressing them costs a recall more than it saves


def shown(packed: bytes) -> tuple[dict, list[str], bool, list[str], bool]:
    """(resources, devices, serving, warnings, has artifacts) of a placement packed from memo()."""
    return tuple(fragcache.loads_exact(bytes(packed)))


def state(placement_state: str, suspensions: list[int]) -> str:
    """The store state placements depend on: what placed_on is kept for (Store.placement_state),
    and the active suspensions (a suspend plans its line by name, so placed_on need not follow
    them)."""
    return hashlib.sha256(json.dumps([placement_state, suspensions]).encode()).hexdigest()


def readers(s, names: set[str]) -> set[str]:
    """The services that looked any of `names` up, and their readers in turn (placement_reads)."""
    out, todo = set(), set(names)
    while todo:
        todo = Store.readers_of(s, todo) - out - names
        out |= todo
    return out
