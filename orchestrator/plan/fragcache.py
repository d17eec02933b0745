"""What a plan may take from the store instead of building again: each service's rendered
fragment per device (with the ownership nodes read from it), and each device's whole build
(intended config, edits, diff, ownership), each keyed by the sha256 of everything it is made
from. A key that matches means the same inputs, so the same bytes come out as a full build
would give; anything the key cannot describe (an unknown kind of value) is never cached.

The keys include a fingerprint of the device kind's templates and models and of the code that
turns them into configs, so a new template, model or plan code never meets an old entry."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zlib
from pathlib import Path

from orchestrator import settings
from orchestrator.devices.registry import KINDS
from orchestrator.once import once_per_key

# The code whose output a cached entry holds: a change to any of these is a change of inputs.
_BUILDERS = ("assemble.py", "devices.py", "diff.py", "ownership.py", "fragcache.py")


@once_per_key
def kind_fingerprint(kind: str) -> str:
    h = hashlib.sha256(kind.encode())
    here = Path(__file__).parent
    for name in _BUILDERS:
        h.update((here / name).read_bytes())
    for tpl in sorted((settings.TEMPLATES / kind).glob("*.j2")):
        h.update(tpl.name.encode() + b"\0" + tpl.read_bytes())
    for m in KINDS.get(kind).models.modules:
        h.update(f"{m.name}@{m.revision}:{','.join(m.features)}\0".encode())
        if m.file:
            h.update(Path(m.file).read_bytes())
    return h.hexdigest()


class _Unkeyable(Exception):
    pass


def _plain(o):
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return {"(type)": type(o).__name__, **{f.name: getattr(o, f.name) for f in dataclasses.fields(o)}}
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=repr)
    raise _Unkeyable(type(o).__name__)


def inputs_key(kind: str, owner: str, template: str, variables: dict) -> str | None:
    """The sha256 of one fragment's inputs; None when a value has no canonical form here."""
    try:
        text = json.dumps([owner, template, variables], sort_keys=True, default=_plain, separators=(",", ":"))
    except (_Unkeyable, TypeError, ValueError):
        return None
    return hashlib.sha256(f"{kind_fingerprint(kind)}\0{text}".encode()).hexdigest()


def device_key(kind: str, device: str, role: str, piece_keys: list[tuple[str, str | None]],
               current_sha: str) -> str | None:
    """The sha256 of a device build's inputs: its pieces' keys in order and the config its edit
    starts from."""
    if any(k is None for _, k in piece_keys):
        return None
    text = json.dumps([kind_fingerprint(kind), device, role, piece_keys, current_sha], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def pack(value) -> bytes:
    return zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 1)


def unpack(blob: bytes):
    return json.loads(zlib.decompress(blob))
