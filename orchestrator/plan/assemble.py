"""A device's whole intended config: its network-owned base plus every service's fragment, merged
by libyang and validated against the standard models of the device's kind."""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.devices.registry import DeviceKind
from orchestrator.errors import Problem
from orchestrator.models.context import ValidationFailed
from orchestrator.render.engine import render

NC_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"


@dataclass
class DeviceConfig:
    device: str
    kind: DeviceKind
    services: list[str]
    xml: str  # the whole config as one <config> document
    pieces: list[tuple[str, str]]  # (owner, rendered fragment): the device base, then each service's


def assemble(device: str, kind: DeviceKind, base_vars: dict,
             fragments: list[tuple[str, str, dict]]) -> tuple[DeviceConfig | None, list[Problem]]:
    """fragments: (service name, template name, variables), in a stable order."""
    models = kind.models
    pieces = [("device base", render(kind.name, "device", **base_vars))]
    pieces += [(svc, render(kind.name, tpl, **v)) for svc, tpl, v in fragments]
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
        return DeviceConfig(device, kind, [s for s, _, _ in fragments], _wrap(""), pieces), []
    try:
        models.validate(tree)
    except ValidationFailed as vf:
        owner = _owner(vf.path, pieces)
        tree.free()
        return None, [Problem(f"{device} ({kind.name}) config is not valid against its YANG models: "
                              f"{vf.message}", path=vf.path,
                              fix=f"the config comes from {owner}; correct its template or input")]
    body = _own_identities_unprefixed(tree.print_mem("xml", with_siblings=True, pretty=True))
    tree.free()
    return DeviceConfig(device, kind, [s for s, _, _ in fragments], _wrap(body), pieces), []


_OWN_IDENTITY = re.compile(r'<([\w.-]+) xmlns:([\w.-]+)="([^"]+)">\2:([\w.-]+)</\1>')


def _own_identities_unprefixed(body: str) -> str:
    """libyang writes an identity of the element's own module as <type xmlns:rt="X">rt:static</type>
    inside a default namespace X. XML tools (lxml, so ncclient) drop that repeated declaration
    when they move the element into an RPC, and the value loses its meaning on the wire. Written
    without prefix, it means the same (RFC 7950 9.10.3: the default namespace) everywhere."""
    out, stack = [], []
    for line in body.splitlines(keepends=True):
        m = re.match(r'\s*<([\w.-]+)(?: xmlns="([^"]+)")?[ >/]', line)
        if m and not line.lstrip().startswith("</"):
            default = m.group(2) or (stack[-1] if stack else None)
            closed = line.rstrip().endswith("/>") or f"</{m.group(1)}>" in line
            o = _OWN_IDENTITY.search(line)
            if o and o.group(3) == default:
                line = line.replace(o.group(0), f"<{o.group(1)}>{o.group(4)}</{o.group(1)}>")
            if not closed:
                stack.append(default)
        elif line.lstrip().startswith("</") and stack:
            stack.pop()
        out.append(line)
    return "".join(out)


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
