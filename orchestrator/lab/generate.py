"""The lab a plan needs: its devices, their links, a CPE behind each ONU (behind the main FTTR
unit when one sits at that ONU, with a host in each room), and a server behind each BNG, as a
containerlab topology file that containerlab itself could deploy."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from orchestrator.errors import FullbarsError
from orchestrator.lab import campus_lab


def from_plan(plan_dir: Path, name: str, cpes: bool = True) -> str:
    """cpes=False leaves the CPEs out: a lab for bulk changes, where the devices are the test."""
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
    units = _fttr_units(m, nodes, links)  # line → its main FTTR unit
    legs: dict[str, int] = {}
    for svc, s in sorted(m["services"].items()):
        r = s.get("resources", {})
        if not cpes or s.get("kind") != "BusinessBroadband" or r.get("olt") not in nodes:
            continue
        legs[r["olt"]] = legs.get(r["olt"], 0) + 1
        cpe = f"cpe-{svc}"
        nodes[cpe] = {"kind": "linux", "image": "fullbars/host:latest",
                      "labels": {"fullbars.kind": "host", "fullbars.role": "cpe", "fullbars.service": svc,
                                 "fullbars.onu-serial": r["onu-serial"]}}
        pon = f"{r['olt']}:onu{legs[r['olt']]}"
        if svc in units:  # the main FTTR unit sits at the ONU; the line's CPE on its LAN port
            nodes[units[svc]]["labels"]["fullbars.onu-serial"] = r["onu-serial"]
            links += [{"endpoints": [pon, f"{units[svc]}:pon"]}, {"endpoints": [f"{units[svc]}:lan1", f"{cpe}:eth1"]}]
        else:
            links.append({"endpoints": [pon, f"{cpe}:eth1"]})
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


def _fttr_units(m: dict, nodes: dict, links: list) -> dict[str, str]:
    """Per FttrWifi service of the plan: a room host behind each room leg of its main unit.
    Returns line → main unit, so the line's ONU leg goes to the unit."""
    units = {}
    for svc, s in sorted(m["services"].items()):
        r = s.get("resources", {})
        if s.get("kind") != "FttrWifi" or r.get("main-unit") not in nodes:
            continue
        units[r["line"]] = unit = r["main-unit"]
        for i, (room, rr) in enumerate(sorted(r["rooms"].items()), 1):
            host = f"room-{svc}-{room}"
            nodes[host] = {"kind": "linux", "image": "fullbars/host:latest",
                           "labels": {"fullbars.kind": "host", "fullbars.role": "room", "fullbars.service": svc,
                                      "fullbars.room": room, "fullbars.room-serial": rr["serial"]}}
            links.append({"endpoints": [f"{unit}:room{i}", f"{host}:eth1"]})
    return units
