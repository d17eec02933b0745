"""Is what a device runs what we gave it? Compared leaf by leaf, identity prefixes resolved."""

from __future__ import annotations

from lxml import etree


def leaves(root) -> set[tuple[str, str]]:
    """(path, value) of every leaf, identity prefixes resolved to namespaces so that agents that
    print different prefixes compare equal. Paths carry no list keys: this answers "is every
    intended value there", which is what a lost commit breaks."""
    out = set()
    for el in root.iter():
        # the root is the document, no leaf: an empty config (a device whose every service was
        # deleted) has no value for a device to lack
        if el is root or not isinstance(el.tag, str) or len([c for c in el if isinstance(c.tag, str)]):
            continue
        text = (el.text or "").strip()
        pfx, _, val = text.partition(":")
        nsmap = el.nsmap or {}
        if val and pfx in nsmap and nsmap[pfx] == nsmap.get(None):
            text = val  # an agent may write an identity of the default namespace without prefix
        elif val and pfx in nsmap:
            text = f"{{{nsmap[pfx]}}}{val}"
        chain = []
        for a in el.iterancestors():
            if a is root:
                break
            chain.append(etree.QName(a).localname)
        out.add(("/".join(reversed(chain)) + "/" + etree.QName(el).localname, text))
    return out


def missing(intended_xml: str, running) -> list[str]:
    """Paths of intended values the device does not have (empty: all there)."""
    want = etree.fromstring(intended_xml.encode())
    return sorted({p for p, _ in leaves(want) - leaves(running)})
