"""The device models' schema as an lxml walk sees it: what kind of node an element is (by its
data path without predicates), which keys a list has, and the identity of an entry among its
siblings. The plan's edits and ownership, the canonical form and devsim's datastore all match
elements by it."""

from __future__ import annotations

import copy

import libyang
from lxml import etree

from orchestrator.models.context import module_ns
from orchestrator.once import once_per_key


class SchemaIndex:
    """What kind of schema node an element is, by its data path without predicates."""

    def __init__(self, models):
        self.ctx = models.ctx
        self.ns_module = {}
        for name, _ in models.specs:
            mod = self.ctx.get_module(name)
            self.ns_module[module_ns(mod)] = name
        self._cache: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._lists: dict[tuple, bool] = {}

    def node(self, spath: str) -> tuple[str, tuple[str, ...]]:
        hit = self._cache.get(spath)
        if hit is None:
            try:
                sn = next(self.ctx.find_path(spath))
                kw = sn.keyword()
                keys = tuple(k.name() for k in sn.keys()) if kw == "list" else ()
            except (libyang.LibyangError, StopIteration):
                kw, keys = "unknown", ()
            hit = self._cache[spath] = (kw, keys)
        return hit

    def step(self, parent_spath: str, parent_ns: str | None, el) -> tuple[str, str]:
        ns, local = el.tag[1:].split("}", 1) if el.tag.startswith("{") else (None, el.tag)
        if ns != parent_ns:
            return f"{parent_spath}/{self.ns_module.get(ns, ns)}:{local}", ns
        return f"{parent_spath}/{local}", ns

    def is_list(self, parent_spath: str, parent_ns: str | None, el) -> bool:
        """Whether `el`, under the node at parent_spath, is a list entry (kept per tag there)."""
        key = (parent_spath, parent_ns, el.tag)
        hit = self._lists.get(key)
        if hit is None:
            hit = self._lists[key] = self.node(self.step(parent_spath, parent_ns, el)[0])[0] == "list"
        return hit


def identity(index: SchemaIndex, spath: str, el) -> tuple:
    kw, keys = index.node(spath)
    if kw == "list":
        return (el.tag, tuple(_key_value(el.find(child_tag(el, k))) for k in keys))
    if kw == "leaf-list":
        return (el.tag, leaf_value(el))
    return (el.tag,)


def _key_value(el) -> str:
    return "" if el is None else leaf_value(el)


def child_tag(el, local: str) -> str:
    ns = el.tag[1:].split("}", 1)[0] if el.tag.startswith("{") else None
    return f"{{{ns}}}{local}" if ns else local


def leaf_value(el) -> str:
    """A leaf's value; an identity's prefix resolved to its namespace, as agents choose prefixes."""
    return text_value(el.text or "", el.nsmap or {})


def text_value(raw: str, nsmap: dict) -> str:
    """leaf_value of an element whose text is `raw`, with these namespaces in scope."""
    text = raw.strip()
    pfx, _, val = text.partition(":")
    if val and pfx in nsmap:
        # of the default namespace, the prefix may be left out (RFC 7950 9.10.3): the same value
        return val if nsmap[pfx] == nsmap.get(None) else f"{{{nsmap[pfx]}}}{val}"
    return text


def key_shell(index: SchemaIndex, spath: str, el):
    """The element with only its list keys: enough to address it in an edit."""
    shell = etree.Element(el.tag, nsmap=el.nsmap)
    _, keys = index.node(spath)
    for k in keys:
        kel = el.find(child_tag(el, k))
        if kel is not None:
            shell.append(copy.deepcopy(kel))
    return shell


@once_per_key
def schema_index(models) -> SchemaIndex:
    return SchemaIndex(models)
