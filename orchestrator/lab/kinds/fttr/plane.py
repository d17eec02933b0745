"""What a main FTTR unit's committed config means for the lab's data plane: its PON leg and LAN
ports form one bridge (the unit bridges the line to the customer); each room unit of the config
whose serial hangs on one of its room legs joins that bridge, htb-shaped to the room's
downstream rate on the leg and, through an ifb, to its upstream rate. A room the config does not
name gets no service."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.lab import netns
from orchestrator.lab.dataplane import EntryPlane, ip, shape, shape_ingress, unshape
from orchestrator.plan.crosscheck import NS

NS = dict(NS, fttr="urn:fullbars:yang:fullbars-fttr")
BRIDGE = "brfttr"
ROOM_LABEL = "fullbars.room-serial"
UPSTREAM_ROLES = ("olt", "cpe")  # the unit's PON leg and the line's CPE on its LAN port


@dataclass(frozen=True)
class FttrRoom:
    ifname: str
    serial: str
    down_bps: int
    up_bps: int


def _t(el, path):
    return el.findtext(path, namespaces=NS)


def fttr_rooms(root) -> list[FttrRoom]:
    out = []
    for i in root.iterfind(".//if:interfaces/if:interface", NS):
        ru = i.find("fttr:room-unit", NS)
        if ru is None or _t(i, "if:enabled") == "false":
            continue
        out.append(FttrRoom(_t(i, "if:name"), _t(ru, "fttr:expected-serial-number"),
                            int(_t(ru, "fttr:rates/fttr:downstream")), int(_t(ru, "fttr:rates/fttr:upstream"))))
    return sorted(out, key=lambda x: x.ifname)


def _ifb(leg: str) -> str:
    return f"ifb-{leg}"[:15]


class FttrPlane(EntryPlane):
    what = "fttr line"

    def wanted(self, root) -> dict:
        self._base()
        return {x.ifname: x for x in fttr_rooms(root)}

    def _base(self) -> None:
        """The main unit bridges its PON leg (towards the OLT) and its LAN ports (the line's CPE)."""
        if netns.link_exists(BRIDGE, self.ns):
            return
        ip(self.ns, "link", "add", BRIDGE, "type", "bridge")
        for me, other in self.legs():
            if self.lab["nodes"][other[0]]["role"] in UPSTREAM_ROLES:
                ip(self.ns, "link", "set", me[1], "master", BRIDGE, "mtu", "1500", "up")
        ip(self.ns, "link", "set", BRIDGE, "up")

    def make(self, key: str, x: FttrRoom) -> str:
        leg = self.leg_to(ROOM_LABEL, x.serial)
        if leg is None:
            return f"room unit {x.serial} absent"
        ip(self.ns, "link", "set", leg, "master", BRIDGE, "mtu", "1500", "up")
        shape(self.ns, leg, x.down_bps)
        shape_ingress(self.ns, leg, _ifb(leg), x.up_bps)
        return f"{x.ifname}: room unit {x.serial} on {leg}, {x.down_bps} down / {x.up_bps} up"

    def remove(self, key: str, x: FttrRoom) -> None:
        leg = self.leg_to(ROOM_LABEL, x.serial)
        if leg:
            ip(self.ns, "link", "set", leg, "nomaster", check=False)
            unshape(self.ns, leg, _ifb(leg))
