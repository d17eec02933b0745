"""containerlab topology files, read as containerlab reads them (defaults < kinds < groups <
node), checked against containerlab's own JSON schema and against what fullbars needs.

A node says what it is with labels: `fullbars.kind` (a device kind from the registry, or
`host` for an endpoint), and for hosts `fullbars.role` (one the intent kinds' lab parts
declare: cpe, server, room, ue, enterprise), `fullbars.service`, and whatever labels that part
reads (`fullbars.onu-serial`, `fullbars.room`, `fullbars.room-serial`, `fullbars.slice`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orchestrator.errors import FullbarsError, Problem
from orchestrator.lab.kinds.registry import LAB_KINDS
from orchestrator.once import once_per_key

HOST_ROLES = LAB_KINDS.host_roles()
IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}\Z")


@dataclass
class Node:
    name: str
    kind: str  # a device kind, or "host"
    labels: dict
    mgmt_ipv4: str | None = None
    role: str = ""


@dataclass
class Link:
    a: tuple[str, str]  # (node, interface)
    b: tuple[str, str]


@dataclass
class Topology:
    name: str
    file: str
    nodes: dict[str, Node]
    links: list[Link]
    mgmt_subnet: str | None
    raw: dict = field(repr=False, default_factory=dict)

    def peer(self, node: str, ifname: str) -> tuple[str, str] | None:
        for ln in self.links:
            if ln.a == (node, ifname):
                return ln.b
            if ln.b == (node, ifname):
                return ln.a
        return None

    def interfaces(self, node: str) -> list[tuple[str, tuple[str, str]]]:
        """(local interface, (peer node, peer interface)) of a node's data links."""
        out = []
        for ln in self.links:
            if ln.a[0] == node:
                out.append((ln.a[1], ln.b))
            elif ln.b[0] == node:
                out.append((ln.b[1], ln.a))
        return out


def schema_path() -> Path:
    env = os.environ.get("FULLBARS_CLAB_SCHEMA")
    if env:
        return Path(env)
    from orchestrator import settings

    for root in settings.yang_path():
        p = root.parent / "containerlab" / "clab.schema.json"
        if p.exists():
            return p
    raise FullbarsError("containerlab's JSON schema was not found",
                        fix="set FULLBARS_CLAB_SCHEMA to clab.schema.json (in ../shared/containerlab)")


@once_per_key
def _validator():
    import jsonschema
    import regex

    schema = json.loads(schema_path().read_text())

    # containerlab's patterns use \\p{L} and \\p{N}, which Python's re lacks: check patterns with `regex`.
    def pattern(validator, pat, instance, schema):
        if isinstance(instance, str) and not regex.search(pat, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pat!r}")

    cls = jsonschema.validators.extend(jsonschema.validators.validator_for(schema), {"pattern": pattern})
    return cls(schema)


def schema_problems(data: dict, file: str) -> list[Problem]:
    out = []
    for e in sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in e.absolute_path) or "(top)"
        out.append(Problem(f"not valid for containerlab: {e.message}", file=file, path=path,
                           fix="see containerlab's topology schema"))
    return out


def _merged(topo: dict, name: str, node: dict) -> dict:
    layers = [topo.get("defaults") or {}]
    kind = node.get("kind") or (topo.get("groups", {}).get(node.get("group"), {}) or {}).get("kind") \
        or layers[0].get("kind")
    layers.append((topo.get("kinds") or {}).get(kind) or {})
    layers.append((topo.get("groups") or {}).get(node.get("group")) or {})
    layers.append(node or {})
    out: dict = {}
    for layer in layers:
        for k, v in layer.items():
            if k == "labels":
                out.setdefault("labels", {}).update(v or {})
            else:
                out[k] = v
    return out


def load(path: str | Path) -> Topology:
    from orchestrator.devices.registry import KINDS

    file = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise FullbarsError("no such file", file=file) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise FullbarsError(f"malformed YAML: {getattr(exc, 'problem', exc)}", file=file,
                            line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise FullbarsError("a topology file is a mapping with name and topology", file=file)
    problems = schema_problems(data, file)
    if problems:
        raise FullbarsError(problems)
    topo = data.get("topology") or {}
    nodes: dict[str, Node] = {}
    for name, raw in (topo.get("nodes") or {}).items():
        cfg = _merged(topo, name, raw or {})
        labels = {k: str(v) for k, v in (cfg.get("labels") or {}).items()}
        kind = labels.get("fullbars.kind")
        where = f"topology.nodes.{name}"
        if not kind:
            problems.append(Problem(f"node {name} has no label fullbars.kind", file=file, path=where,
                                    fix=f"add labels: {{fullbars.kind: ...}} with one of: host, {', '.join(KINDS.names())}"))
            continue
        if kind == "host":
            role = labels.get("fullbars.role", "")
            if role not in HOST_ROLES:
                problems.append(Problem(f"host {name} needs fullbars.role {' or '.join(HOST_ROLES)}", file=file,
                                        path=where))
        else:
            try:
                role = KINDS.get(kind).role
            except FullbarsError as e:
                problems.append(Problem(f"node {name}: {e.problems[0].message}", file=file, path=where,
                                        fix=e.problems[0].fix))
                continue
        nodes[name] = Node(name, kind, labels, cfg.get("mgmt-ipv4"), role)
    links, seen = [], {}
    for i, ln in enumerate(topo.get("links") or []):
        eps = ln.get("endpoints")
        if not eps or len(eps) != 2 or not all(isinstance(e, str) and ":" in e for e in eps):
            problems.append(Problem("a link needs endpoints: [node:interface, node:interface]", file=file,
                                    path=f"topology.links[{i}]"))
            continue
        ends = [tuple(e.split(":", 1)) for e in eps]
        for node, ifname in ends:
            if node not in nodes and node not in (topo.get("nodes") or {}):
                problems.append(Problem(f"link endpoint {node}:{ifname} names an unknown node", file=file,
                                        path=f"topology.links[{i}]"))
            elif not IFNAME.match(ifname) or ifname in ("lo", "eth0"):
                problems.append(Problem(f"interface name {ifname!r} cannot be used in the lab", file=file,
                                        path=f"topology.links[{i}]",
                                        fix="1 to 15 letters, digits, '.', '-' or '_'; eth0 is the management port"))
            elif (node, ifname) in seen:
                problems.append(Problem(f"{node}:{ifname} is used by two links", file=file,
                                        path=f"topology.links[{i}]"))
            seen[(node, ifname)] = i
        links.append(Link(ends[0], ends[1]))
    mgmt = (data.get("mgmt") or {}).get("ipv4-subnet")
    if mgmt:
        net = ipaddress.ip_network(mgmt, strict=False)
        if not net.subnet_of(ipaddress.ip_network("198.18.0.0/15")):
            problems.append(Problem(f"management subnet {mgmt} is outside the lab range 198.18.0.0/15", file=file,
                                    path="mgmt.ipv4-subnet", fix="lab traffic stays on private test ranges"))
    if problems:
        raise FullbarsError(problems)
    return Topology(data["name"], file, nodes, links, mgmt, data)
