"""Validation of a device build by what its changed pieces reach, the way devsim validates a
commit (models/reach.py): libyang validates the frame, the units the changed pieces hold (old or
new), the units that reference those and what the included units reference, not the whole device.

It stands on the device's kept build: when the store's pieces of the device are exactly the ones
that build was made of (their device key is the kept build's), that merge passed libyang's whole
validation, and the new merge differs from it only inside the units of the pieces whose keys
changed. A changed piece holding anything in the frame (a leaf outside every unit, a presence
container) gets the whole validation; so does a part that fails, so every refusal is libyang's
verdict on the whole device, word for word as a full plan gives it."""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import libyang
from lxml import etree

from orchestrator.models.reach import Reach
from orchestrator.models.schema_index import SchemaIndex, child_tag, identity
from orchestrator.models.tree import Tree, body
from orchestrator.plan import fragcache

BASE = "device base"  # the owner of the network-owned piece, first in every device (devices.py)
# Above this share of a device's pieces changed, the part is most of the device: validated whole.
MOST = 0.25


def kept_pieces(job) -> dict[str, str] | None:
    """owner → key of each piece the store keeps for the device (the base first, then by owner,
    the order a build assembles them); None when it keeps no build of it."""
    if job.cached_build is None or BASE not in job.cached:
        return None
    return dict([(BASE, job.cached[BASE][0])] + sorted((o, v[0]) for o, v in job.cached.items() if o != BASE))


def made_kept_build(job, old: dict[str, str]) -> bool:
    """Whether the kept build was made of exactly these pieces: its key is their device key with
    the config the build started from, which is this build's unless the device was given config
    since (then it is read from the kept build's tail)."""
    def made_from(current_sha: str | None) -> bool:
        return current_sha is not None and fragcache.device_key(
            job.kind, job.device, job.role, list(old.items()), current_sha) == job.cached_build[0]

    return made_from(job.current_sha) or made_from(_current_sha(job.cached_build[1]))


def _current_sha(packed: bytes) -> str | None:
    """The sha of the config the kept build's edit starts from: the last item of its packed list
    (devices.Built.cache_value), read without decoding the whole build."""
    tail = zlib.decompress(packed)[-80:].decode(errors="replace")
    head, _, last = tail.rpartition(',"')
    return last[:-2] if head and tail.endswith('"]') and len(last) == 66 else None


def reach_of(job, models, index: SchemaIndex, keyed: list[tuple[str, str | None]],
             texts: Mapping[str, str], holders=None) -> tuple[dict, dict] | None:
    """(the units the changed pieces touch, those of them the new pieces hold) when the build
    may be validated by reach, else None. keyed: the new pieces' keys; texts: owner → the text of
    each new piece that changed and of those that did not, as far as a unit's test reads them;
    holders: key values → the owners, in merge order, that may hold an entry keyed by them, when
    the caller can tell (a splice knows from the kept ownership), else None: every one may."""
    old = kept_pieces(job)
    if old is None:
        return None
    new = dict(keyed)
    changed = sorted(o for o in old.keys() | new.keys() if old.get(o) != new.get(o))
    # Counted first: a full plan, or one after a template changed, reads no kept build's tail.
    if len(changed) > MOST * len(keyed) or not made_kept_build(job, old):
        return None
    reach = Reach.of(models, index)
    if reach.why_whole is not None:
        return None
    touched, present = {}, {}
    made: dict = {}  # unit key → what each changed piece made of it, before and after
    try:
        for owner in changed:
            if owner in old:  # what it held: a unit it no longer holds, or whoever referenced it
                for key, (sp, el) in units(index, reach, fragcache.unpack_piece(job.cached[owner][1])[0]).items():
                    touched[key] = sp
                    made.setdefault(key, {}).setdefault(owner, [None, None])[0] = _form(el)
            if owner in texts:
                for key, (sp, el) in units(index, reach, texts[owner]).items():
                    touched[key] = present[key] = sp
                    made.setdefault(key, {}).setdefault(owner, [None, None])[1] = _form(el)
    except FrameTouched:
        return None
    same = _as_before(index, reach, made, _Others(texts, set(changed), holders))
    return {k: sp for k, sp in touched.items() if k not in same}, present


class _Others(Mapping):
    """The texts of the pieces that did not change, read only as far as a unit's test needs them
    (a spliced device unpacks no piece it does not look at)."""

    def __init__(self, texts: Mapping[str, str], changed: set[str], holders=None):
        self.texts, self.changed, self.holders = texts, changed, holders

    def holding(self, values: list[str]):
        """The texts, in merge order, of the pieces that may hold a list entry keyed by these
        values (reach_of's `holders`)."""
        who = self.texts if self.holders is None else self.holders(values)
        return (self.texts[o] for o in who if o not in self.changed)

    def __getitem__(self, owner: str) -> str:
        if owner in self.changed:
            raise KeyError(owner)
        return self.texts[owner]

    def __iter__(self):
        return (o for o in self.texts if o not in self.changed)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _as_before(index, reach, made: dict, unchanged: Mapping[str, str]) -> set:
    """The units that are as they were although changed pieces hold them: each changed piece made
    of it before and after what it made (a merge of equal parts is that part), or what a piece
    that did not change makes of it too. A profile hundreds of lines name is one; its readers
    need not be validated again."""
    same = set()
    for key, by in made.items():
        differ = {f for before, after in by.values() if before != after for f in (before, after) if f is not None}
        if not differ or (len(differ) == 1 and _also_made(index, reach, key, differ.pop(), unchanged)):
            same.add(key)
    return same


def _also_made(index, reach, key, form: str, unchanged: Mapping[str, str]) -> bool:
    """Whether a piece that did not change makes `form` of the unit `key` too (the first piece
    that holds the unit's key texts decides; one that differs leaves the unit touched)."""
    values = list(key[1][1]) if len(key[1]) > 1 and isinstance(key[1][1], tuple) else []
    words = [f">{v}<" for v in values]
    if not words or any("}" in w for w in words):
        return False
    for text in unchanged.holding(values):
        if all(w in text for w in words):
            try:
                held = units(index, reach, text).get(key)
            except FrameTouched:
                return False
            if held is not None:
                return _form(held[1]) == form
    return False


def _form(el) -> str:
    return etree.tostring(el, method="c14n").decode()


class FrameTouched(Exception):
    """A changed piece holds data outside every unit."""


def units(index: SchemaIndex, reach: Reach, text: str) -> dict:
    """unit key → (list path, element) of every unit one rendered piece holds (FrameTouched if it
    holds anything else but the containers above them)."""
    if not text.strip():
        return {}
    out: dict = {}
    root = etree.fromstring(f"<r>{text}</r>".encode(), _PARSER)
    _walk(index, reach, root, (), "", None, out)
    return out


def _walk(index, reach, el, tags, sp, ns, out) -> None:
    for c in el:
        if not isinstance(c.tag, str):
            if isinstance(c, etree._Comment):
                continue
            raise FrameTouched(sp)
        csp, cns = index.step(sp, ns, c)
        if csp in reach.units:
            out[(tags, identity(index, csp, c))] = (csp, c)
        elif index.node(csp)[0] == "container" and not _presence(index, csp):
            _walk(index, reach, c, tags + (c.tag,), csp, cns, out)
        else:
            raise FrameTouched(csp)


def _presence(index: SchemaIndex, sp: str) -> bool:
    cache = index.__dict__.setdefault("_presence", {})
    hit = cache.get(sp)
    if hit is None:
        hit = cache[sp] = next(index.ctx.find_path(sp)).presence() is not None
    return hit


def valid(models, index: SchemaIndex, root, touched: dict, present: dict) -> bool:
    """Whether the part of `root` (the new config, parsed) that the touched units reach is valid.
    present: the touched units the new pieces hold, which the config must then hold. False also
    when the reach cannot be bounded: then only the whole can tell."""
    reach = Reach.of(models, index)
    cand = _OneLook(index, root)
    cand.touched = dict(touched)
    if any(cand.unit(key) is None for key in present):
        return False  # a key written differently than libyang prints it: not found, not skipped
    part = reach.part(cand, reach.refs_for(root, touched))
    if part is None:
        return False
    try:
        tree = models.ctx.parse_data_mem(body(part), "xml", strict=True, no_state=True)
    except libyang.LibyangError:
        return False
    if tree is not None:
        tree.free()
    return True


class _OneLook(Tree):
    """The new config, looked at once for a few units: an entry is found among its parent's
    children by its first key's text, indexed on first use, not by the identity of every child
    (which devsim's Tree keeps for the edits to come)."""

    def find(self, parent, parent_sp, parent_ns, ident):
        if len(ident) < 2 or not isinstance(ident[1], tuple) or not ident[1]:
            return super().find(parent, parent_sp, parent_ns, ident)
        memo = self.__dict__.setdefault("_by_text", {})
        hit = memo.get((parent, ident[0]))
        if hit is None:
            by_text, sp, key_tag = {}, None, None
            for c in parent.iterchildren(ident[0]):
                if sp is None:
                    sp = self.index.step(parent_sp, parent_ns, c)[0]
                    key_tag = child_tag(c, self.index.node(sp)[1][0])
                # libyang prints an entry's keys first: its first child, found without a search
                k = c[0] if len(c) and c[0].tag == key_tag else c.find(key_tag)
                by_text.setdefault(_last((k.text or "").strip() if k is not None else ""), []).append(c)
            hit = memo[(parent, ident[0])] = (by_text, sp)
        by_text, sp = hit
        for c in by_text.get(_last(ident[1][0]), ()):
            if identity(self.index, sp, c) == ident:
                return c
        return None


def _last(value: str) -> str:
    """What a key's text and its identity() value share whatever prefix or namespace it has."""
    return value.rpartition("}")[2].rpartition(":")[2]


_PARSER = etree.XMLParser(huge_tree=True, remove_blank_text=True)
