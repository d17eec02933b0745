"""What a PE's committed L2NM/L3NM config means for the lab's data plane (the kernel here has no
VRF, no 802.1Q and no MPLS: LAB-FACTS).

* An access is a VXLAN over its port's lab link: on a fibre port the VXLAN id is the access's
  VLAN (the CE tags its frames with the VLAN it ordered), on the OLT's link the S/C pair the OLT
  pushes (the OLT's plane makes the other end). A VLAN the PE holds wrongly reaches nobody.
* A VPN's core is one VXLAN to every other PE over the lab's backbone links, its id derived
  from the VPN's route targets (layer 3 and EVPN) or the pseudowires' VC id (VPWS): a PE with
  another RT or VC id is on another segment. The lab floods to every PE (the backbone's
  replication list); only those holding the id listen.
* Layer 2: a bridge per VPN joins its accesses and its core (frames from the core never go back
  into it: split horizon).
* Layer 3: a routing table per VPN (an `ip rule` per access and for the core), holding the
  PE-CE links, the sites' LAN prefixes via their CEs (at their preference), and everything else
  towards the core, where the PE holding the prefix answers ARP for it (proxy ARP looks the
  target up in the VPN's table): so overlapping prefixes of two VPNs never meet.
* Both ways each access is shaped to its committed rate (pe-to-ce on what the PE sends the CE,
  ce-to-pe through an ifb on what it receives).
* Protection (L2NM `group`, single-active): each PE says, whenever it changes, which of its
  groups' primary accesses have their port up (groups.json in its state dir, checked every tick
  of the watcher: the lab's stand-in for the EVPN routes a real PE advertises and withdraws); a PE
  holding a group's secondary keeps it out of the VPN's bridge while another PE says the primary
  is up, and puts it in when none does (its port down, or the primary gone from its config).
  What a PE said holds until it says otherwise: a watcher slowed down by a busy machine must not
  make both ends of a group forward at once.
An access on a port without a lab link is held, recorded with the reason.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import zlib
from pathlib import Path
from dataclasses import dataclass

from orchestrator.lab import netns
from orchestrator.lab.dataplane import LINK_PORT0, EntryPlane, ip, shape, shape_ingress, vni
from orchestrator.lab.ifnames import port_if
from orchestrator.lab.kinds.dedicated.topology import FIBRE_PORT0, link_of, stable_mac
from orchestrator.services import dedicated_checks

CORE_PORT = 4790  # the backbone's VXLANs, apart from the OLT links' (LINK_PORT0 + index) and the fibre ports'
RULE_PREF = 1000  # the VPN tables' rules come before the main table's (32766)
CORE_KIND = {"evpn": 1, "vpws": 2, "l3": 3}
GROUPS = "groups.json"  # in a PE's state dir: its primaries' port state, per VPN/group


def core_vni(kind: str, key: str) -> int:
    """A VPN's core segment: the kind of signalling and its key (route targets, VC id)."""
    return (CORE_KIND[kind] << 20) | (zlib.crc32(key.encode()) & 0xFFFFF)


@dataclass(frozen=True)
class Access:
    id: str
    interface: str  # as the config names it
    lab_if: str
    encap: str  # qinq or dot1q
    vni: int
    dstport: int
    out_bps: int  # pe-to-ce CIR
    in_bps: int  # ce-to-pe CIR
    pe_ip: str | None = None
    plen: int | None = None
    routes: tuple = ()  # (LAN prefix, next hop, preference)
    group: str = ""  # L2NM redundancy group
    standby: bool = False  # the group's secondary: carries frames only while no primary is up


@dataclass(frozen=True)
class Vpn:
    vpn: str
    layer: str
    core: str  # how the core id was derived, for the record
    core_vni: int
    peers: tuple[str, ...]  # the other PEs' addresses on the backbone links
    accesses: tuple[Access, ...]


def _short(vpn: str) -> str:
    return hashlib.sha1(vpn.encode()).hexdigest()[:5]


class PePlane(EntryPlane):
    what = "vpn"

    def __init__(self, lab: dict, node: str):
        super().__init__(lab, node)
        self.active: dict[str, bool] = {}  # a standby access's device: in its bridge (True) or not
        self.said: dict[str, bool] | None = None  # what the other PEs last said of their primaries
        self.mine: dict[str, bool] | None = None  # what this PE last said of its own
        self.unheard: dict[str, int] = {}  # a standby access's device: ticks without its primary said up
        # IPv6 would add router solicitations and MLD to the customers' segments: the isolation
        # check counts what reaches a CE.
        for key in ("all", "default"):
            netns.netns_exec(self.ns, ["sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"], capture_output=True)

    def backbone(self) -> tuple[str, ...]:
        """The other PEs' addresses on this PE's backbone links (nodes of the same kind)."""
        out = []
        for me, other in self.legs():
            if self.lab["nodes"][other[0]]["kind"] == self.n["kind"]:
                under = self.underlay(me[1])
                if under:
                    out.append(under[1])
        return tuple(sorted(out))

    def wanted(self, root) -> dict:
        self.held = {}
        peers = self.backbone()
        out = {}
        for node in dedicated_checks.facts("pe", root):
            vpn = node["vpn"]
            if node["layer"] == "l2" and node["peers"]:
                vcs = sorted({vc for _, vc in node["peers"] if vc})
                kind, key = "vpws", ",".join(vcs)
            else:
                kind, key = ("l3" if node["layer"] == "l3" else "evpn"), ",".join(node["route_targets"])
            if not key:
                self.held[vpn] = "no route target (vpn-target) nor VC id: the VPN has no core"
            accesses = []
            for a in node["accesses"]:
                acc = self._access(vpn, node["layer"], a)
                if acc is not None:
                    accesses.append(acc)
            out[vpn] = Vpn(vpn, node["layer"], f"{kind} {key}", core_vni(kind, key) if key else 0, peers,
                           tuple(accesses))
        return out

    def _access(self, vpn: str, layer: str, a: dict) -> Access | None:
        where = f"{vpn}/{a['id']}"
        standby = a["precedence"] != "primary"
        if standby and not (layer == "l2" and a["group"]):
            self.held[where] = f"standby: the {a['precedence']} access of its group"
            return None
        lab_if = port_if(a["interface"] or "")
        found = link_of(self.lab, self.node, lab_if)
        if found is None:
            self.held[where] = f"port {a['interface']} has no link in the lab"
            return None
        if not a["vlan"]:
            self.held[where] = f"access on {a['interface']} has no VLAN (connection encapsulation)"
            return None
        if a["vlan"][0] == "qinq":
            vid, port = vni(a["vlan"][1], a["vlan"][2]), LINK_PORT0 + found[0]  # the OLT's end pushes this pair
        else:
            vid, port = a["vlan"][1], FIBRE_PORT0 + found[0]
        if layer == "l3" and not (a["pe_ip"] and a["plen"]):
            self.held[where] = f"access on {a['interface']} has no PE address (ip-connection ipv4 local-address)"
            return None
        return Access(a["id"], a["interface"], lab_if, a["vlan"][0], vid, port, a["rates"][0], a["rates_in"][0],
                      a["pe_ip"], a["plen"], tuple(tuple(r) for r in a["routes"]), a["group"], standby)

    # --- making ---------------------------------------------------------------------------
    def make(self, key: str, v: Vpn) -> str:
        h = _short(key)
        if v.layer == "l2":
            ip(self.ns, "link", "del", f"b{h}", check=False)
            ip(self.ns, "link", "add", f"b{h}", "type", "bridge")
            ip(self.ns, "link", "set", f"b{h}", "up")
        core = self._core(h, v) if v.core_vni else None
        table = self._table(key)
        if v.layer == "l2" and core:
            ip(self.ns, "link", "set", core, "master", f"b{h}")
        elif v.layer == "l3":
            ip(self.ns, "route", "flush", "table", str(table), check=False)
            if core:
                for knob, value in (("conf", "proxy_arp=1"), ("neigh", "proxy_delay=0")):
                    netns.netns_exec(self.ns, ["sysctl", "-qw", f"net.ipv4.{knob}.{core}.{value}"], check=True)
                ip(self.ns, "route", "replace", "default", "dev", core, "table", str(table))
                self._rule(core, table)
        done = []
        for i, a in enumerate(v.accesses):
            dev = self.vxlan(f"a{h}{i:02d}", a.vni, a.lab_if, a.dstport)
            if a.standby:  # out of the bridge until tick() finds no primary of its group up
                ip(self.ns, "link", "set", dev, "down")
                self.active.pop(dev, None)
            elif v.layer == "l2":
                ip(self.ns, "link", "set", dev, "master", f"b{h}")
            else:
                net = ipaddress.ip_interface(f"{a.pe_ip}/{a.plen}")
                ip(self.ns, "addr", "add", str(net), "dev", dev)
                self._rule(dev, table)
                ip(self.ns, "route", "replace", str(net.network), "dev", dev, "table", str(table))
                for lan, hop, pref in a.routes:
                    ip(self.ns, "route", "replace", lan, "via", hop, "dev", dev, "metric", str(pref),
                       "table", str(table))
            shape(self.ns, dev, a.out_bps)
            shape_ingress(self.ns, dev, f"i{h}{i:02d}", a.in_bps)
            done.append(f"{a.id} on {a.interface} ({a.encap} {a.vni}) {a.out_bps} out / {a.in_bps} in"
                        + (f", standby in group {a.group}" if a.standby else ""))
        return f"{v.layer} {v.core} (core {v.core_vni} to {len(v.peers)} PEs): " + "; ".join(done)

    # --- protection ------------------------------------------------------------------------
    def _port_up(self, ifname: str) -> bool:
        out = netns.netns_exec(self.ns, ["ip", "-o", "link", "show", "dev", ifname], capture_output=True, text=True)
        return "LOWER_UP" in out.stdout and ",UP" in out.stdout

    def _peers_primaries(self) -> dict[str, bool]:
        """VPN/group -> up, of every primary the other PEs say they hold."""
        up = {}
        for name, n in self.lab["nodes"].items():
            if name == self.node or n["kind"] != self.n["kind"]:
                continue
            try:
                said = json.loads((Path(n["state_dir"]) / GROUPS).read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                continue
            for g, ok in said.get("primaries", {}).items():
                up[g] = up.get(g, False) or ok
        return up

    def tick(self) -> None:
        """Say which of this PE's primaries are up; put each standby access in or out of its VPN."""
        mine, standby = {}, []
        for key, v in self.applied.items():
            for i, a in enumerate(v.accesses):
                if a.group and a.standby:
                    standby.append((f"{v.vpn}/{a.group}", f"a{_short(key)}{i:02d}", f"b{_short(key)}"))
                elif a.group:
                    mine[f"{v.vpn}/{a.group}"] = self._port_up(a.lab_if)
        if mine != self.mine:
            out = Path(self.n["state_dir"]) / GROUPS
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps({"primaries": mine}))
            tmp.replace(out)  # whole or not at all: a reader never sees half of it
            self.mine = mine
        said = self._peers_primaries()
        if self.said is not None and said != self.said:
            self._forget_moved()
        self.said = said
        for group, dev, bridge in standby:
            # into the VPN only when no primary was said up two ticks running: PEs say in turn,
            # and one that has not spoken yet must not leave both ends of a group forwarding
            self.unheard[dev] = 0 if said.get(group, False) else self.unheard.get(dev, 0) + 1
            active = self.unheard[dev] >= 2
            if self.active.get(dev) == active:
                continue
            if active:
                ip(self.ns, "link", "set", dev, "master", bridge, check=False)
                ip(self.ns, "link", "set", dev, "up", check=False)
            else:
                ip(self.ns, "link", "set", dev, "nomaster", check=False)
                ip(self.ns, "link", "set", dev, "down", check=False)
            self.active[dev] = active

    def _forget_moved(self) -> None:
        """A group changed hands somewhere: forget the cores' learned MACs, as a real PE drops the
        MAC routes the other PEs withdraw. (A VXLAN that relearns a moved MAC keeps the old
        remote's cached route and sends to the new one over the wrong link.)"""
        for key, v in self.applied.items():
            if v.core_vni:
                netns.netns_exec(self.ns, ["bridge", "fdb", "flush", "dev", f"c{_short(key)}", "self", "dynamic"],
                                 capture_output=True)

    def _core(self, h: str, v: Vpn) -> str:
        name = f"c{h}"
        # The same MAC whenever the VPN is made again, and neighbours that age in seconds and are
        # then asked by broadcast: the other PEs must not keep sending a prefix to a PE that no
        # longer answers for it (after a config change, as a withdrawn route would tell them).
        ip(self.ns, "link", "del", name, check=False)
        ip(self.ns, "link", "add", name, "address", stable_mac(f"{self.node}/{v.vpn}"), "type", "vxlan",
           "id", str(v.core_vni), "dstport", str(CORE_PORT))
        for knob in ("base_reachable_time_ms=2000", "delay_first_probe_time=1", "ucast_solicit=0"):
            netns.netns_exec(self.ns, ["sysctl", "-qw", f"net.ipv4.neigh.{name}.{knob}"], check=True)
        ip(self.ns, "link", "set", name, "mtu", "1500", "up")
        for peer in v.peers:  # head-end replication to every PE of the backbone
            netns.netns_exec(self.ns, ["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", name, "dst", peer],
                             check=True)
        return name

    def _table(self, key: str) -> int:
        return 100 + int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 60000

    def _rule(self, dev: str, table: int) -> None:
        ip(self.ns, "rule", "del", "pref", str(RULE_PREF), "iif", dev, check=False)
        ip(self.ns, "rule", "add", "pref", str(RULE_PREF), "iif", dev, "lookup", str(table))

    def remove(self, key: str, v: Vpn) -> None:
        h = _short(key)
        devs = [f"a{h}{i:02d}" for i in range(len(v.accesses))] + [f"c{h}"]
        for dev in devs:
            self.active.pop(dev, None)
            self.unheard.pop(dev, None)
            ip(self.ns, "rule", "del", "pref", str(RULE_PREF), "iif", dev, check=False)
            ip(self.ns, "link", "del", dev, check=False)
        for i in range(len(v.accesses)):
            ip(self.ns, "link", "del", f"i{h}{i:02d}", check=False)
        ip(self.ns, "link", "del", f"b{h}", check=False)
        if v.layer == "l3":
            ip(self.ns, "route", "flush", "table", str(self._table(key)), check=False)
