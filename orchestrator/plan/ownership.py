"""Which services own each part of a device's config, recorded when a plan merges their fragments
(NSO's backpointers), so drift can name the owners of a difference instead of guessing from names.

Paths name list entries by their keys (`/interfaces/interface[name='x']/enabled`), the same way
drift names differences. Only nodes whose owners differ from their parent's are kept: a line's
interface entry is recorded once, its leaves inherit it, and a profile several lines render names
them all.
"""

from __future__ import annotations

from lxml import etree

from orchestrator.plan.assemble import NC_NS
from orchestrator.plan.diff import SchemaIndex, _value


def step(index: SchemaIndex, path: str, spath: str, ns: str | None, el) -> tuple[str, str, str, list]:
    """(data path, schema path, namespace, key elements) of `el` under the node at `path`."""
    sp, cns = index.step(spath, ns, el)
    _, keys = index.node(sp)
    key_els = [c for c in el if isinstance(c.tag, str) and _local(c.tag) in keys] if keys else []
    p = f"{path}/{_local(el.tag)}" + "".join(f"[{_local(k.tag)}='{_key_text(index, k)}']" for k in key_els)
    return p, sp, cns, key_els


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]  # etree.QName(el).localname, without making a QName


def _key_text(index: SchemaIndex, key) -> str:
    """A key's value as one text whatever prefix the writer chose for an identity (a template
    writes rt:static, libyang and agents may leave the prefix out or pick another)."""
    text = _value(key)
    if text.startswith("{"):
        ns, local = text[1:].split("}", 1)
        return f"{index.ns_module.get(ns, ns)}:{local}"
    return text


def nodes(index: SchemaIndex, text: str) -> list[tuple[str, str | None]]:
    """(data path, parent's data path) of every node of one rendered fragment that is not a leaf
    (a list entry counts even when it holds only its keys), in document order. A fragment's
    nodes depend on its text alone, so the plan's fragment cache keeps them with the text."""
    out: list[tuple[str, str | None]] = []

    def walk(el, path, spath, ns, up):
        p, sp, cns, _ = step(index, path, spath, ns, el)
        out.append((p, up))
        for c in el:
            if not isinstance(c.tag, str):
                continue
            if (len(c) == 0 or not any(isinstance(g.tag, str) for g in c)) and not index.is_list(sp, cns, c):
                continue  # a leaf: owned with its parent (its path is not worth making)
            walk(c, p, sp, cns, p)

    if text.strip():
        root = etree.fromstring(f'<config xmlns="{NC_NS}">{text}</config>'.encode())
        for top in root:
            if isinstance(top.tag, str):
                walk(top, "", "", None, None)
    return out


def combine(pieces: list[tuple[str, list[tuple[str, str | None]]]]) -> dict[str, list[str]]:
    """(owner, nodes of its fragment) → {path: owners} of the nodes whose owners differ from their
    parent's."""
    owners: dict[str, set[str]] = {}
    parent: dict[str, str | None] = {}
    for owner, found in pieces:
        for p, up in found:
            owners.setdefault(p, set()).add(owner)
            parent[p] = up
    return {p: sorted(s) for p, s in owners.items() if parent[p] is None or owners[parent[p]] != s}


def record(index: SchemaIndex, pieces: list[tuple[str, str]]) -> dict[str, list[str]]:
    """pieces: (owner, rendered XML fragment) → {path: owners} of the nodes (not leaves) whose
    owners differ from their parent's."""
    return combine([(owner, nodes(index, text)) for owner, text in pieces])
