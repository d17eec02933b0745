"""Which services own each part of a device's config, recorded when a plan merges their fragments
(NSO's backpointers), so drift can name the owners of a difference instead of guessing from names.

Paths name list entries by their keys (`/interfaces/interface[name='x']/enabled`), the same way
drift names differences. Only nodes whose owners differ from their parent's are kept: a line's
interface entry is recorded once, its leaves inherit it, and a profile several lines render names
them all.
"""

from __future__ import annotations

import re

from lxml import etree

from orchestrator.models.schema_index import SchemaIndex, text_value
from orchestrator.plan.assemble import NC_NS


def step(index: SchemaIndex, path: str, spath: str, ns: str | None, el) -> tuple[str, str, str, list]:
    """(data path, schema path, namespace, key elements) of `el` under the node at `path`."""
    sp, cns, key_els = _step(index, spath, ns, el)
    p = f"{path}/{_local(el.tag)}" + "".join(f"[{_local(k.tag)}='{_key_text(index, k)}']" for k in key_els)
    return p, sp, cns, key_els


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]  # etree.QName(el).localname, without making a QName


def _key_text(index: SchemaIndex, key) -> str:
    """A key's value as one text whatever prefix the writer chose for an identity (a template
    writes rt:static, libyang and agents may leave the prefix out or pick another)."""
    return _text_key(index, key.text or "", key.nsmap or {})


def nodes(index: SchemaIndex, text: str) -> list[tuple[str, str | None]]:
    """(data path, parent's data path) of every node of one rendered fragment that is not a leaf
    (a list entry counts even when it holds only its keys), in document order. A fragment's
    nodes depend on its text alone, so the plan's fragment cache keeps them with the text.

    A template renders thousands of fragments that differ only in their text values: the same
    elements, the same namespaces. The walk is done once per such shape (the markup with every
    text left out) and kept as a program that fills in the key values of each fragment."""
    text = text.strip()
    if not text:
        return []
    if "<!" in text or "<?" in text or "&" in text or "\r" in text:
        return walk_nodes(index, text)  # comments, CDATA, entities, line ends XML rewrites: as parsed
    parts = _TEXT.split(text)
    shape = "\0".join(parts[0::2])
    programs = index.__dict__.setdefault("_node_programs", {})
    program = programs.get(shape)
    if program is None:
        if len(programs) >= _MAX_PROGRAMS:  # a template with unbounded shapes: keep memory bounded
            programs.clear()
        program = programs[shape] = _program(index, parts)
    if program is _WALK:
        return walk_nodes(index, text)
    values = parts[1::2]
    paths: list[str] = []
    out: list[tuple[str, str | None]] = []
    for up, static, keys in program:
        base = paths[up] if up >= 0 else None
        p = (base or "") + static
        if keys:
            p += "".join([f"[{k}='{_text_key(index, values[slot], nsmap)}']" for k, slot, nsmap in keys])
        paths.append(p)
        out.append((p, base))
    return out


# The text between two tags, split out with the '>' and '<' around it: what is left is the
# fragment's shape. (Lookarounds instead, to keep the brackets, split at half the speed.)
_TEXT = re.compile(r">([^<]*)<")
_MAX_PROGRAMS = 4096
_WALK = ()  # a shape whose texts are not all element text or tails: walked each time
_MARK = "\ue000{}\ue001"  # private-use characters, valid XML text that no template writes


def _program(index: SchemaIndex, parts: list[str]):
    """The walk of one shape, with each text a marker naming its slot: per node (index of its
    parent node or -1, its path step without key predicates, (key name, slot, namespaces in
    scope) of each key)."""
    marked = parts[:]
    for i in range(1, len(parts), 2):
        marked[i] = f">{_MARK.format(i // 2)}<"
    try:
        root = etree.fromstring(f'<config xmlns="{NC_NS}">{"".join(marked)}</config>'.encode())
    except etree.XMLSyntaxError:  # a '>' inside an attribute value: the split cut a tag
        return _WALK
    slots = [t for el in root.iter() for t in (el.text, el.tail) if t]
    if sorted(slots) != sorted(_MARK.format(i) for i in range(len(parts) // 2)):
        return _WALK  # a text the split took from inside a tag
    program: list[tuple[int, str, list]] = []

    def walk(el, spath, ns, up):
        sp, cns, key_els = _step(index, spath, ns, el)
        keys = []
        for k in key_els:
            mark = (k.text or "").strip()
            if len(k) or not mark.startswith("\ue000"):
                raise _NotAShape
            keys.append((_local(k.tag), int(mark[1:-1]), dict(k.nsmap)))
        program.append((up, f"/{_local(el.tag)}", keys))
        me = len(program) - 1
        for c in _branches(index, sp, cns, el):
            walk(c, sp, cns, me)

    try:
        for top in root:
            if isinstance(top.tag, str):
                walk(top, "", None, -1)
    except _NotAShape:
        return _WALK
    return program


class _NotAShape(Exception):
    pass


def _branches(index: SchemaIndex, spath: str, ns: str | None, el):
    """The element children of `el` (at schema path `spath`) that are nodes of their own: not a
    leaf, which is owned with its parent (its path is not worth making), but a list entry even
    when it holds only its keys."""
    for c in el:
        if not isinstance(c.tag, str):
            continue
        if (len(c) == 0 or not any(isinstance(g.tag, str) for g in c)) and not index.is_list(spath, ns, c):
            continue
        yield c


def _step(index: SchemaIndex, spath: str, ns: str | None, el) -> tuple[str, str, list]:
    """(schema path, namespace, key elements) of `el` under the node at `spath`."""
    sp, cns = index.step(spath, ns, el)
    _, keys = index.node(sp)
    return sp, cns, [c for c in el if isinstance(c.tag, str) and _local(c.tag) in keys] if keys else []


def _text_key(index: SchemaIndex, raw: str, nsmap: dict) -> str:
    """The key text of an element whose text is `raw` with these namespaces in scope."""
    text = text_value(raw, nsmap)
    if text.startswith("{"):
        ns, local = text[1:].split("}", 1)
        return f"{index.ns_module.get(ns, ns)}:{local}"
    return text


def walk_nodes(index: SchemaIndex, text: str) -> list[tuple[str, str | None]]:
    """nodes() by walking the parsed fragment."""
    out: list[tuple[str, str | None]] = []

    def walk(el, path, spath, ns, up):
        p, sp, cns, _ = step(index, path, spath, ns, el)
        out.append((p, up))
        for c in _branches(index, sp, cns, el):
            walk(c, p, sp, cns, p)

    if text.strip():
        root = etree.fromstring(f'<config xmlns="{NC_NS}">{text}</config>'.encode())
        for top in root:
            if isinstance(top.tag, str):
                walk(top, "", "", None, None)
    return out


def elements_at(index: SchemaIndex, root, paths: set[str]) -> dict:
    """path → element of the nodes at these paths among the children of `root` (a parsed config
    or fragment), found as nodes() names them; the walk does not go below a node it finds."""
    out: dict = {}

    def walk(el, path, spath, ns):
        p, sp, cns, _ = step(index, path, spath, ns, el)
        if p in paths:
            out[p] = el
            return
        for c in _branches(index, sp, cns, el):
            walk(c, p, sp, cns)

    for top in root:
        if isinstance(top.tag, str):
            walk(top, "", "", None)
    return out


def combine(pieces: list[tuple[str, list[tuple[str, str | None]]]]) -> dict[str, list[str]]:
    """(owner, nodes of its fragment) → {path: owners} of the nodes whose owners differ from their
    parent's."""
    # A node's one owner as it is, a set only once a second owner comes: most nodes have one.
    owners: dict[str, str | set[str]] = {}
    parent: dict[str, str | None] = {}
    for owner, found in pieces:
        parent.update(found)
        for p, _ in found:
            had = owners.setdefault(p, owner)
            if had is not owner and had != owner:
                if type(had) is str:
                    owners[p] = {had, owner}
                else:
                    had.add(owner)
    return {p: [o] if type(o) is str else sorted(o) for p, o in owners.items()
            if (up := parent[p]) is None or owners[up] != o}


def record(index: SchemaIndex, pieces: list[tuple[str, str]]) -> dict[str, list[str]]:
    """pieces: (owner, rendered XML fragment) → {path: owners} of the nodes (not leaves) whose
    owners differ from their parent's."""
    return combine([(owner, nodes(index, text)) for owner, text in pieces])
