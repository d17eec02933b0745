"""What a plan may take from the store instead of building again: each service's rendered
fragment per device (with the ownership nodes read from it), and each device's whole build
(intended config, edits, diff, ownership), each keyed by the sha256 of everything it is made
from. A key that matches means the same inputs, so the same bytes come out as a full build
would give; anything the key cannot describe (an unknown kind of value) is never cached.

The keys include a fingerprint of the device kind's templates and models and of the code that
places services and turns them into configs, so a new template, model, placement or plan code
never meets an old entry."""

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
_BUILDERS = ("assemble.py", "devices.py", "diff.py", "ownership.py", "splice.py", "fragcache.py",
             "crosscheck.py", "../models/schema_index.py")
# The code that gives a fragment its variables: a plan takes the fragments of the services it
# does not place again from the cache (plan/pipeline.py Standing), so a new placement is a new key.
_PLACERS = ("services/*.py", "resources/pools.py")


@once_per_key
def kind_fingerprint(kind: str) -> str:
    h = hashlib.sha256(kind.encode())
    here = Path(__file__).parent
    for name in _BUILDERS:
        h.update((here / name).read_bytes())
    for pattern in _PLACERS:
        for path in sorted(here.parent.glob(pattern)):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
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
    return zlib.compress(encoded(value).encode(), 1)


def encoded(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def pack_encoded(items: list[str]) -> bytes:
    """pack() of the list whose items these are, each encoded() already: the same bytes."""
    return zlib.compress(f"[{','.join(items)}]".encode(), 1)


def pack_piece(text: str, found: list[tuple[str, str | None]]) -> bytes:
    """One rendered fragment and its ownership nodes ((path, parent path or None), from
    ownership.nodes), NUL-separated: XML cannot hold a NUL, so neither can the text nor a path
    (whose key values come from it); a path is never empty, so '' stands for no parent. A third
    cheaper both ways than JSON, which escapes every quote of the XML."""
    return zlib.compress("\0".join([text, *[s for p, up in found for s in (p, up or "")]]).encode(), 1)


def unpack_piece(blob: bytes) -> tuple[str, list[tuple[str, str | None]]]:
    parts = zlib.decompress(blob).decode().split("\0")
    return parts[0], list(zip(parts[1::2], [up or None for up in parts[2::2]]))


def unpack(blob: bytes):
    return json.loads(zlib.decompress(blob))


# Exact plain values: the cross-device facts hold tuples, sets and tuple-keyed dicts, which JSON
# alone would bring back as lists and string keys (a VLAN pair (S, C) no longer found). Those
# become one-key objects whose key starts with NUL, which no name or path of ours does.
_TUPLE, _SET, _PAIRS = "\0t", "\0s", "\0d"
# The common large cases in one tag each (a device's addresses, its VLAN pairs), not one per item.
_FLAT_TUPLES, _FLAT_KEYS = "\0T", "\0K"


def exact(value):
    """`value` as JSON-able data that json.loads with `_tagged` (unpack_exact) turns back into
    an equal value; TypeError for a type it does not know."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list:
        if all(type(v) in _SCALARS for v in value):
            return value
        if all(type(v) is tuple and _flat(v) for v in value):
            return {_FLAT_TUPLES: [list(v) for v in value]}
        return [exact(v) for v in value]
    if kind is tuple:
        return {_TUPLE: [exact(v) for v in value]}
    if kind is dict:
        if all(type(k) is str and not k.startswith("\0") for k in value):
            return {k: exact(v) for k, v in value.items()}
        if all(type(k) is tuple and _flat(k) for k in value):
            return {_FLAT_KEYS: [[list(k), exact(v)] for k, v in value.items()]}
        return {_PAIRS: [[exact(k), exact(v)] for k, v in value.items()]}
    if kind in (set, frozenset):
        return {_SET: sorted((exact(v) for v in value), key=repr)}
    if isinstance(value, (dict, list)):  # a defaultdict comes back as a dict, equal to it
        return exact(dict(value) if isinstance(value, dict) else list(value))
    raise TypeError(f"no exact form for {kind.__name__}")


_SCALARS = frozenset((type(None), bool, int, float, str))


def _flat(values: tuple) -> bool:
    return all(type(v) in _SCALARS for v in values)


def _tagged(obj: dict):
    if len(obj) == 1:
        tag = next(iter(obj))
        if tag == _TUPLE:
            return tuple(obj[tag])
        if tag == _SET:
            return set(obj[tag])
        if tag == _PAIRS:
            return {k: v for k, v in obj[tag]}
        if tag == _FLAT_TUPLES:
            return [tuple(v) for v in obj[tag]]
        if tag == _FLAT_KEYS:
            return {tuple(k): v for k, v in obj[tag]}
    return obj


def changed_lines_of(build: list) -> tuple | None:
    """An unpacked kept build's changed_lines (devices.Built.cache_value); one kept by an older
    release has none."""
    return tuple(build[8]) if len(build) == 10 and build[8] is not None else None


def unpack_exact(blob: bytes):
    """What pack() gave `blob` for, with the values exact() encoded decoded."""
    return loads_exact(zlib.decompress(blob))


def loads_exact(text: bytes):
    """JSON text of exact() values, decoded (most hold no tag: those skip the per-object hook)."""
    return json.loads(text, object_hook=_tagged) if b"\\u0000" in text else json.loads(text)
