"""The lab a plan needs: its devices, their links, a CPE behind each ONU and a server behind
each BNG, as a containerlab topology file that containerlab itself could deploy."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from orchestrator.errors import FullbarsError
from orchestrator.lab import campus_lab


def from_plan(plan_dir: Path, name: str) -> str:
    mf = Path(plan_dir) / "manifest.json"
    if not mf.exists():
        raise FullbarsError(f"{plan_dir} holds no plan (manifest.json)", fix="run fullbars plan ... --out DIR first")
    m = json.loads(mf.read_text())
    nodes: dict = {}
    links = []
    for dev, info in sorted(m["devices"].items()):
        nodes[dev] = {"kind": "linux", "image": f"fullbars/{info['kind']}:latest",
                      "labels": {"fullbars.kind": info["kind"]}}
    for ln in m.get("links", []):
        links.append({"endpoints": [f"{ln['olt']}:{ln['uplink']}", f"{ln['bng']}:{ln['bng-interface']}"]})
    legs: dict[str, int] = {}
    for svc, s in sorted(m["services"].items()):
        r = s.get("resources", {})
        if s.get("kind") != "BusinessBroadband" or r.get("olt") not in nodes:
            continue
        legs[r["olt"]] = legs.get(r["olt"], 0) + 1
        cpe = f"cpe-{svc}"
        nodes[cpe] = {"kind": "linux", "image": "fullbars/host:latest",
                      "labels": {"fullbars.kind": "host", "fullbars.role": "cpe", "fullbars.service": svc,
                                 "fullbars.onu-serial": r["onu-serial"]}}
        links.append({"endpoints": [f"{r['olt']}:onu{legs[r['olt']]}", f"{cpe}:eth1"]})
    for dev, info in sorted(m["devices"].items()):
        if info["kind"].startswith("bng"):
            srv = f"srv-{dev}"
            nodes[srv] = {"kind": "linux", "image": "fullbars/host:latest",
                          "labels": {"fullbars.kind": "host", "fullbars.role": "server"}}
            links.append({"endpoints": [f"{dev}:srv", f"{srv}:eth1"]})
    campus_lab.add(m, nodes, links)
    doc = {"name": name, "topology": {"nodes": nodes, "links": links}}
    head = (f"# Lab for the plan in {plan_dir}: written by `fullbars lab generate`.\n"
            "# Deployable by containerlab as is; fullbars realizes it with network namespaces.\n")
    return head + yaml.safe_dump(doc, sort_keys=False, width=120)
