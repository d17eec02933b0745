"""FttrWifi's part of the lab: the main unit between its line's ONU leg and the line's CPE, a
host in each room; the unit's data plane (plane.py); the room checks (checks.py)."""

from __future__ import annotations

from orchestrator.lab.kinds.base import LabKind
from orchestrator.lab.kinds.fttr import checks
from orchestrator.lab.kinds.fttr.plane import ROOM_LABEL, FttrPlane

KIND = "FttrWifi"
ONU_LABEL = "fullbars.onu-serial"


class FttrLab(LabKind):
    kind = KIND
    host_roles = ("room",)
    access_roles = ("room", "fttr")
    planes = {"fttr": FttrPlane}
    checked_hosts = ("room",)

    def add(self, manifest: dict, nodes: dict, links: list, hosts: bool) -> None:
        """A room host behind each room leg of the main unit; the unit takes the line's ONU leg
        (it sits at the customer's ONU) and the line's CPE moves to the unit's LAN port."""
        for svc, s in sorted(manifest["services"].items()):
            r = s.get("resources", {})
            unit = r.get("main-unit")
            if s.get("kind") != KIND or unit not in nodes:
                continue
            for i, (room, rr) in enumerate(sorted(r["rooms"].items()), 1):
                host = f"room-{svc}-{room}"
                nodes[host] = {"kind": "linux", "image": "fullbars/host:latest",
                               "labels": {"fullbars.kind": "host", "fullbars.role": "room", "fullbars.service": svc,
                                          "fullbars.room": room, ROOM_LABEL: rr["serial"]}}
                links.append({"endpoints": [f"{unit}:room{i}", f"{host}:eth1"]})
            cpe = next((n for n, v in nodes.items() if v["labels"].get("fullbars.role") == "cpe"
                        and v["labels"].get("fullbars.service") == r["line"]), None)
            if cpe is None:
                continue
            at = next(i for i, ln in enumerate(links) if f"{cpe}:eth1" in ln["endpoints"])
            pon = next(e for e in links[at]["endpoints"] if e != f"{cpe}:eth1")
            nodes[unit]["labels"][ONU_LABEL] = nodes[cpe]["labels"][ONU_LABEL]
            links[at:at + 1] = [{"endpoints": [pon, f"{unit}:pon"]}, {"endpoints": [f"{unit}:lan1", f"{cpe}:eth1"]}]

    def check(self, manifest, st, only, rates, port0, progress=None):
        return checks.rooms(manifest, st, only, rates, port0)
