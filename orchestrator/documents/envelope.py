"""The Kubernetes-like envelope every fullbars YAML document has: apiVersion, kind, metadata, spec."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

import yaml

from orchestrator.documents.yamlsrc import line_of, mapping_items
from orchestrator.errors import FullbarsError, Problem

API_VERSION = "fullbars.io/v1"
NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?\Z")
ENVELOPE_KEYS = ("apiVersion", "kind", "metadata", "spec")


@dataclass
class Document:
    file: str
    line: int
    kind: str
    name: str
    spec_node: yaml.Node
    labels: dict = field(default_factory=dict)
    name_line: int | None = None  # where metadata.name is written: a clash of names is said there


def read_envelope(node: yaml.Node, file: str, kinds: list[str]) -> Document:
    if not isinstance(node, yaml.MappingNode):
        raise FullbarsError("a fullbars document is a mapping with apiVersion, kind, metadata and spec",
                            file=file, line=line_of(node), fix="start the file with `apiVersion: fullbars.io/v1`")
    items = {k: (v, ln) for k, v, ln in mapping_items(node, file, "")}
    problems = []
    for key, (_, ln) in items.items():
        if key not in ENVELOPE_KEYS:
            problems.append(Problem(f"unknown key {key!r}", file=file, line=ln, path=key,
                                    fix=f"allowed keys here: {', '.join(ENVELOPE_KEYS)}"))
    for key in ENVELOPE_KEYS:
        if key not in items:
            problems.append(Problem(f"missing {key!r}", file=file, line=line_of(node), path=key,
                                    fix=f"add `{key}:` at the top level"))
    if problems:
        raise FullbarsError(problems)

    def scalar(key):
        v, ln = items[key]
        if not isinstance(v, yaml.ScalarNode) or not v.value:
            raise FullbarsError(f"{key} must be a single word", file=file, line=ln, path=key)
        return v.value, ln

    api, ln = scalar("apiVersion")
    if api != API_VERSION:
        problems.append(Problem(f"unsupported apiVersion {api!r}", file=file, line=ln, path="apiVersion",
                                fix=f"use apiVersion: {API_VERSION}"))
    kind, kln = scalar("kind")
    if kind not in kinds:
        problems.append(Problem(f"unknown kind {kind!r}", file=file, line=kln, path="kind",
                                fix=f"use one of: {', '.join(kinds)}"))
    meta, mln = items["metadata"]
    name, labels, name_line = None, {}, None
    if not isinstance(meta, yaml.MappingNode):
        problems.append(Problem("metadata must be a mapping with a name", file=file, line=mln, path="metadata"))
    else:
        for k, v, ln in mapping_items(meta, file, "metadata"):
            if k == "name":
                name, name_line = (v.value if isinstance(v, yaml.ScalarNode) else None), ln
                if not name or not NAME.match(name) or len(name) > 48:
                    problems.append(Problem(f"invalid name {name!r}", file=file, line=ln, path="metadata.name",
                                            fix="lower-case letters, digits and '-', at most 48 characters, "
                                                "starting and ending with a letter or digit"))
            elif k == "labels" and isinstance(v, yaml.MappingNode):
                labels = {lk: lv.value for lk, lv, _ in mapping_items(v, file, "metadata.labels")
                          if isinstance(lv, yaml.ScalarNode)}
            else:
                problems.append(Problem(f"unknown key {k!r}", file=file, line=ln, path=f"metadata.{k}",
                                        fix="allowed keys here: name, labels"))
        if name is None and not any(p.path == "metadata.name" for p in problems):
            problems.append(Problem("missing 'name'", file=file, line=mln, path="metadata.name",
                                    fix="add `name:` under metadata"))
    if problems:
        raise FullbarsError(problems)
    return Document(file=file, line=line_of(node), kind=kind, name=name, spec_node=items["spec"][0],
                    labels=labels, name_line=name_line)


def spec_digest(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
