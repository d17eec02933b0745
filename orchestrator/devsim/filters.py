"""<filter> for get and get-config: subtree (RFC 6241 section 6) and XPath (:xpath capability)."""

from __future__ import annotations

import copy

from lxml import etree

from orchestrator.devsim.rpcerror import RpcError
from orchestrator.models.schema_index import SchemaIndex, child_tag, identity, key_shell


def _leaf(el) -> bool:
    return len([c for c in el if isinstance(c.tag, str)]) == 0


def subtree(root, flt, out, lookup=None) -> None:
    """The parts of `root` that subtree filter `flt` selects, into `out`. lookup(d, f, content),
    if given, finds the children of d a list-entry filter node f selects by key (KeyLookup), or
    says it cannot (None)."""
    shapes: dict = {"lookup": lookup}
    for f in flt:
        if not isinstance(f.tag, str):
            continue
        for d in _candidates(root, f, shapes):
            r = _match(d, f, shapes)
            if r is not None:
                out.append(r)


class KeyLookup:
    """A datastore's list entries found by their keys in its key index (tree.Tree.find), for
    filter nodes that give every key of their list as a content match (without prefixes, whose
    meaning the index resolves and a subtree filter does not)."""

    def __init__(self, tree, index: SchemaIndex):
        self.tree, self.index = tree, index

    def __call__(self, d, f, content):
        if any(":" in c.text for c in content):
            return None
        chain = []
        x = d
        while x is not None and x is not self.tree.root:
            chain.append(x)
            x = x.getparent()
        if x is None:
            return None  # not in this datastore
        sp, ns = "", None
        for el in reversed(chain):
            sp, ns = self.index.step(sp, ns, el)
        fsp, _ = self.index.step(sp, ns, f)
        kw, keys = self.index.node(fsp)
        if kw != "list" or not {child_tag(f, k) for k in keys} <= {c.tag for c in content}:
            return None
        hit = self.tree.find(d, sp, ns, identity(self.index, fsp, f))
        return [] if hit is None else [hit]


def _shape(f, shapes: dict):
    """(leaf?, content-match nodes, the other nodes) of filter node f, read once per filter."""
    hit = shapes.get(f)
    if hit is None:
        kids = [c for c in f if isinstance(c.tag, str)]
        content = [c for c in kids if _leaf(c) and (c.text or "").strip()]
        hit = shapes[f] = (not kids, content, [c for c in kids if c not in content])
    return hit


def _candidates(d, f, shapes: dict):
    """The children of d that filter node f may select. With content-match nodes (a list entry
    asked for by key), libxml2's XPath narrows them first, so that one entry of a list of
    thousands costs no walk in Python; _match still decides exactly (normalize-space() lets
    through every child whose value, stripped, is the asked one, and perhaps some more)."""
    _, content, _ = _shape(f, shapes)
    if not content:
        return d.iterchildren(f.tag)
    lookup = shapes.get("lookup")
    found = None if lookup is None else lookup(d, f, content)
    if found is not None:
        return found
    ns = {f"n{i}": etree.QName(c).namespace or "" for i, c in enumerate([f, *content])}
    conds = " and ".join(f"n{i + 1}:{etree.QName(c).localname}[normalize-space() = normalize-space($v{i})]" for i, c in enumerate(content))
    return d.xpath(f"n0:{etree.QName(f).localname}[{conds}]", namespaces=ns,
                   **{f"v{i}": c.text.strip() for i, c in enumerate(content)})


def _match(d, f, shapes: dict):
    leaf, content, others = _shape(f, shapes)
    if leaf:
        text = (f.text or "").strip()
        if text and (d.text or "").strip() != text:
            return None
        return copy.deepcopy(d)
    for c in content:
        if not any((x.text or "").strip() == c.text.strip() for x in d.iterchildren(c.tag)):
            return None
    if not others:
        return copy.deepcopy(d)
    res = etree.Element(d.tag, nsmap=d.nsmap)
    picked = [(x, copy.deepcopy(x)) for x in d.iterchildren(*{c.tag for c in content})] if content else []
    found = False
    for c in others:
        for x in _candidates(d, c, shapes):
            r = _match(x, c, shapes)
            if r is not None:
                picked.append((x, r))
                found = True
    if not found:
        return None
    if len(picked) > 1:  # in the datastore's order, not the filter's: a list entry's keys first (RFC 7950 7.8.5)
        order = {x: i for i, x in enumerate(d)}
        picked.sort(key=lambda xr: order.get(xr[0], len(order)))
    for _, r in picked:
        res.append(r)
    return res


def _rooted(expr: str) -> str:
    """The datastore's top-level nodes sit under our <data> element: root each absolute path there."""
    parts, depth, cur = [], 0, ""
    for ch in expr:
        depth += ch in "[(" and 1 or (ch in "])" and -1 or 0)
        if ch == "|" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return "|".join("/*" + p.strip() if p.strip().startswith("/") else p for p in parts)


def xpath(root, expr: str, nsmap: dict, index: SchemaIndex, out) -> None:
    ns = {k: v for k, v in nsmap.items() if k}
    try:
        hits = root.xpath(_rooted(expr), namespaces=ns)
    except etree.XPathError as exc:
        raise RpcError("invalid-value", f"bad XPath filter {expr!r}: {exc}", type="protocol",
                       info={"bad-attribute": "select", "bad-element": "filter"}) from None
    if not isinstance(hits, list):
        raise RpcError("invalid-value", "the XPath filter must select nodes", type="protocol")
    for hit in hits:
        if not isinstance(hit, etree._Element) or hit is root:
            if hit is root:
                for c in root:
                    out.append(copy.deepcopy(c))
            continue
        chain = []
        a = hit
        while a is not None and a is not root:
            chain.append(a)
            a = a.getparent()
        chain.reverse()
        parent, spath, cns = out, "", None
        for i, el in enumerate(chain):
            spath, cns = index.step(spath, cns, el)
            if i == len(chain) - 1:
                parent.append(copy.deepcopy(el))
                break
            shell = key_shell(index, spath, el)
            existing = next((x for x in parent if x.tag == shell.tag and _same_keys(x, shell)), None)
            if existing is None:
                parent.append(shell)
                existing = shell
            parent = existing


def _same_keys(a, b) -> bool:
    kb = {(k.tag, (k.text or "").strip()) for k in b}
    return all(any(x.tag == t and (x.text or "").strip() == v for x in a) for t, v in kb)
