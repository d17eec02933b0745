"""BusinessBroadband's part of the lab: the planned OLT-BNG links, a CPE behind each line's ONU
leg, a server behind each BNG; the OLT's and BNG's data planes (plane.py); the line checks
(checks.py)."""

from __future__ import annotations

from orchestrator.lab.ifnames import port_if
from orchestrator.lab.kinds.base import LabKind
from orchestrator.lab.kinds.broadband import checks
from orchestrator.lab.kinds.broadband.plane import ONU_LABEL, BngPlane, OltPlane

KIND = "BusinessBroadband"


class BroadbandLab(LabKind):
    kind = KIND
    host_roles = ("cpe", "server")
    access_roles = ("cpe",)
    router_roles = ("bng",)
    planes = {"olt": OltPlane, "bng": BngPlane}
    checked_hosts = ("cpe",)

    def add(self, manifest: dict, nodes: dict, links: list, hosts: bool) -> None:
        for ln in manifest.get("links", []):
            links.append({"endpoints": [f"{ln['olt']}:{port_if(ln['uplink'])}",
                                         f"{ln['bng']}:{port_if(ln['bng-interface'])}"]})
        legs: dict[str, int] = {}
        for svc, s in sorted(manifest["services"].items()):
            r = s.get("resources", {})
            if not hosts or s.get("kind") != KIND or r.get("olt") not in nodes:
                continue
            legs[r["olt"]] = legs.get(r["olt"], 0) + 1
            cpe = f"cpe-{svc}"
            nodes[cpe] = {"kind": "linux", "image": "fullbars/host:latest",
                          "labels": {"fullbars.kind": "host", "fullbars.role": "cpe", "fullbars.service": svc,
                                     ONU_LABEL: r["onu-serial"]}}
            links.append({"endpoints": [f"{r['olt']}:onu{legs[r['olt']]}", f"{cpe}:eth1"]})
        for dev, info in sorted(manifest["devices"].items()):
            if info["kind"].startswith("bng"):
                srv = f"srv-{dev}"
                nodes[srv] = {"kind": "linux", "image": "fullbars/host:latest",
                              "labels": {"fullbars.kind": "host", "fullbars.role": "server"}}
                links.append({"endpoints": [f"{dev}:srv", f"{srv}:eth1"]})

    def check(self, manifest, st, only, rates, port0, progress=None):
        return checks.lines(manifest, st, only, rates, port0, progress)
