"""A device's whole intended config: its network-owned base plus every service's fragment, merged
by libyang and validated against the standard models of the device's kind."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from orchestrator.devices.registry import DeviceKind
from orchestrator.errors import Problem
from orchestrator.models.context import ValidationFailed

NC_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"


@dataclass
class DeviceConfig:
    device: str
    kind: DeviceKind
    services: list[str]
    xml: str  # the whole config as one <config> document
    pieces: list[tuple[str, str]]  # (owner, rendered fragment): the device base, then each service's


def merge(device: str, kind: DeviceKind, services: list[str], pieces: list[tuple[str, str]],
          validate: bool = True) -> tuple[DeviceConfig | None, list[Problem]]:
    """pieces: (owner, rendered fragment), the device base first → the validated whole config
    (validate=False: validated by the caller, by what changed; plan/partial.py)."""
    models = kind.models
    tree = None
    for owner, text in pieces:
        if not text.strip():
            continue
        try:
            frag = models.parse_fragment(text)
        except ValidationFailed as vf:
            return None, [Problem(f"{device}: the {kind.name} template for {owner} renders invalid config: "
                                  f"{vf.message}", path=vf.path,
                                  fix=f"correct templates/{kind.name}/ (rendered line {vf.line})")]
        if frag is None:
            continue
        if tree is None:
            tree = frag
        else:
            tree.merge(frag, with_siblings=True, destruct=True)
            # libyang may put a new top-level node before ours; the bindings drop the new head.
            tree = tree.first_sibling()
    if tree is None:
        return DeviceConfig(device, kind, services, _wrap(""), pieces), []
    try:
        if validate:
            models.validate(tree)
    except ValidationFailed as vf:
        owner = _owner(vf.path, pieces)
        tree.free()
        return None, [Problem(f"{device} ({kind.name}) config is not valid against its YANG models: "
                              f"{vf.message}", path=vf.path,
                              fix=f"the config comes from {owner}; correct its template or input")]
    body = printed(tree)
    tree.free()
    return DeviceConfig(device, kind, services, _wrap(body), pieces), []


def printed(tree) -> str:
    """A config tree (and its siblings) as a device's intended config holds it."""
    return _own_identities_unprefixed(tree.print_mem("xml", with_siblings=True, pretty=True))


_OWN_IDENTITY = re.compile(r'<([\w.-]+) xmlns:([\w.-]+)="([^"]+)">\2:([\w.-]+)</\1>')
_DEFAULT_NS = re.compile(r' xmlns="([^"]+)"')
_PREFIX_NS = re.compile(r' xmlns:[\w.-]+="([^"]+)"')


def _own_identities_unprefixed(body: str) -> str:
    """libyang writes an identity of the element's own module as <type xmlns:rt="X">rt:static</type>
    inside a default namespace X. XML tools (lxml, so ncclient) drop that repeated declaration
    when they move the element into an RPC, and the value loses its meaning on the wire. Written
    without prefix, it means the same (RFC 7950 9.10.3: the default namespace) everywhere.

    lxml finds the few elements whose value is prefixed with a namespace that is their default
    one (in C, by XPath); only their lines are rewritten, so the printed text is otherwise kept."""
    if " xmlns:" not in body:
        return body
    # A value can be its element's own only if its prefix names some element's default namespace:
    # a BNG's 10,000 ianaift:l2vlan never do, and its 14 MiB need not be parsed to find that.
    # The declarations are found first (a search for a literal, a third of the time of the
    # element pattern's): most configs declare no prefix for a default namespace at all.
    defaults = set(_DEFAULT_NS.findall(body))
    if defaults.isdisjoint(_PREFIX_NS.findall(body)) or \
            not any(m.group(3) in defaults for m in _OWN_IDENTITY.finditer(body)):
        return body
    root = etree.fromstring(f"<r>{body}</r>".encode(), _PARSER)  # "<r>" adds no line: line numbers hold
    lines = None
    for el in root.xpath("//*[contains(text(), ':')]"):
        pfx, _, value = el.text.partition(":")
        own = el.nsmap.get(None)
        if own is None or el.nsmap.get(pfx) != own:
            continue
        lines = lines or body.splitlines(keepends=True)
        i = el.sourceline - 1
        o = _OWN_IDENTITY.search(lines[i])
        if o and o.group(3) == own and o.group(2) == pfx and o.group(4) == value:
            lines[i] = lines[i].replace(o.group(0), f"<{o.group(1)}>{o.group(4)}</{o.group(1)}>")
    return body if lines is None else "".join(lines)


_PARSER = etree.XMLParser(huge_tree=True)


def _wrap(body: str) -> str:
    # The wrapper stands on lines of its own so `sed '1d;$d'` gives yanglint the bare data.
    return f'<config xmlns="{NC_NS}">\n{body.rstrip()}\n</config>\n' if body.strip() else \
        f'<config xmlns="{NC_NS}">\n</config>\n'


def _owner(path: str | None, pieces: list[tuple[str, str]]) -> str:
    """The first piece whose text mentions the last key in the error path (a hint, not proof)."""
    if path and "'" in path:
        key = path.rsplit("'", 2)[-2]
        for owner, text in pieces:
            if f">{key}<" in text:
                return owner
    return "the device base or a service"
