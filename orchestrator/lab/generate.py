"""The lab a plan needs: its devices, and whatever each intent kind's lab part adds for its
services (links, customers' hosts, servers), as a containerlab topology file that containerlab
itself could deploy."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from orchestrator.errors import FullbarsError
from orchestrator.lab.kinds.registry import LAB_KINDS


def from_plan(plan_dir: Path, name: str, cpes: bool = True) -> str:
    """cpes=False leaves the customers' hosts out: a lab for bulk changes, where the devices are the test."""
    mf = Path(plan_dir) / "manifest.json"
    if not mf.exists():
        raise FullbarsError(f"{plan_dir} holds no plan (manifest.json)", fix="run fullbars plan ... --out DIR first")
    m = json.loads(mf.read_text())
    nodes: dict = {}
    links: list = []
    for dev, info in sorted(m["devices"].items()):
        nodes[dev] = {"kind": "linux", "image": f"fullbars/{info['kind']}:latest",
                      "labels": {"fullbars.kind": info["kind"]}}
    for part in LAB_KINDS.parts():
        part.add(m, nodes, links, cpes)
    # containerlab's schema wants links non-empty when given: a lab of devices only (gNBs of a
    # coverage fill) has none
    doc = {"name": name, "topology": {"nodes": nodes, **({"links": links} if links else {})}}
    head = (f"# Lab for the plan in {plan_dir}: written by `fullbars lab generate`.\n"
            "# Deployable by containerlab as is; fullbars realizes it with network namespaces.\n")
    return head + yaml.safe_dump(doc, sort_keys=False, width=120)
