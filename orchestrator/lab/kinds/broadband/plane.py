"""What an OLT's and a BNG's committed configs mean for the lab's data plane.

* OLT (BBF): each line whose ONU is present (a CPE with that serial hangs on one of the OLT's
  PON legs) gets a bridge joining that PON leg to a VXLAN on the uplink the line's forwarder
  names; the VXLAN id is the S/C-VLAN pair the user sub-interface pushes (the kernel here has
  no 802.1Q devices, so each pair rides its own VXLAN). htb shapes the PON leg to the
  downstream rate (the olt-v-enet's shaper profile) and the VXLAN to the upstream rate (the
  T-CONT's traffic descriptor).
* BNG (fullbars-bng-subscriber): each subscriber interface becomes a VXLAN with the pair it
  names on its parent port, holding the gateway address; DHCP lines are served by dnsmasq.
A wrong VLAN in either template means different VXLAN ids: no reachability. A wrong rate means
a wrong shaper: a wrong measurement.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.lab import netns
from orchestrator.lab.dataplane import EntryPlane, ip, shape, unshape, vni
from orchestrator.plan.crosscheck import NS

NS = dict(NS, qos="urn:bbf:yang:bbf-qos-traffic-mngt", shp="urn:bbf:yang:bbf-qos-shaping",
          fwd="urn:bbf:yang:bbf-l2-forwarding", ani="urn:bbf:yang:bbf-xponani")
ONU_LABEL = "fullbars.onu-serial"


@dataclass(frozen=True)
class OltLine:
    serial: str
    s: int
    c: int
    uplink: str
    down_bps: int
    up_bps: int


@dataclass(frozen=True)
class BngLine:
    ifname: str
    parent: str
    s: int
    c: int
    address: str  # gateway/prefix
    dhcp_client: str | None
    # The BNG's data plane here does not police (the OLT shapes), so a rate change leaves the
    # line's VXLAN alone: a bulk upgrade must not tear down a thousand subscribers.
    down_bps: int = field(compare=False)
    up_bps: int = field(compare=False)


def _t(el, path):
    return el.findtext(path, namespaces=NS)


def olt_lines(root) -> list[OltLine]:
    itfs = {_t(i, "if:name"): i for i in root.iterfind(".//if:interfaces/if:interface", NS)}
    serial = {n: _t(i, "vani:v-ani/vani:expected-serial-number") for n, i in itfs.items()
              if i.find("vani:v-ani", NS) is not None}
    shaper = {_t(p, "shp:name"): int(_t(p, "shp:single-token-bucket/shp:pir") or 0) * 1000
              for p in root.iterfind(".//qos:tm-profiles/shp:shaper-profile", NS)}
    tdp = {_t(p, "gt:name"): int(_t(p, "gt:maximum-bandwidth") or 0)
           for p in root.iterfind(".//gt:traffic-descriptor-profiles/gt:traffic-descriptor-profile", NS)}
    up_of_vani = {_t(t, "gt:interface-reference"): tdp.get(_t(t, "gt:traffic-descriptor-profile-ref"), 0)
                  for t in root.iterfind(".//gt:tconts/gt:tcont", NS)}
    lower = {n: _t(i, "subif:subif-lower-layer/subif:interface") for n, i in itfs.items()}
    fwd_peer = {}
    for f in root.iterfind(".//fwd:forwarders/fwd:forwarder", NS):
        subs = [_t(p, "fwd:sub-interface") for p in f.iterfind("fwd:ports/fwd:port", NS)]
        for a in subs:
            for b in subs:
                if a != b:
                    fwd_peer[a] = b
    out = []
    for name, i in itfs.items():
        venet = lower.get(name)
        if venet is None or venet not in itfs or itfs[venet].find("vani:olt-v-enet", NS) is None:
            continue
        tags = {}
        for pt in i.iterfind(".//subif:ingress-rewrite/tag:push-tag", NS):
            tags[int(_t(pt, "tag:index"))] = int(_t(pt, "tag:dot1q-tag/tag:vlan-id"))
        vani = _t(itfs[venet], "vani:olt-v-enet/vani:lower-layer-interface")
        net_sub = fwd_peer.get(name)
        if 0 not in tags or 1 not in tags or vani not in serial or net_sub is None:
            continue
        down = shaper.get(_t(itfs[venet], "qos:tm-root/shp:shaper-name"), 0)
        out.append(OltLine(serial[vani], tags[0], tags[1], lower.get(net_sub) or "", down, up_of_vani.get(vani, 0)))
    return sorted(out, key=lambda x: x.serial)


def bng_lines(root) -> list[BngLine]:
    out = []
    for i in root.iterfind(".//if:interfaces/if:interface", NS):
        sub = i.find("fbs:subscriber", NS)
        if sub is None or _t(i, "if:enabled") == "false":  # a suspended line: no data plane at all
            continue
        addr = i.find("ip:ipv4/ip:address", NS)
        out.append(BngLine(_t(i, "if:name"), _t(sub, "fbs:parent-interface"), int(_t(sub, "fbs:outer-vlan")),
                           int(_t(sub, "fbs:inner-vlan")),
                           f"{_t(addr, 'ip:ip')}/{_t(addr, 'ip:prefix-length')}" if addr is not None else "",
                           _t(sub, "fbs:dhcp-server/fbs:client-address"),
                           int(_t(sub, "fbs:rates/fbs:downstream") or 0), int(_t(sub, "fbs:rates/fbs:upstream") or 0)))
    return sorted(out, key=lambda x: x.ifname)


class OltPlane(EntryPlane):
    what = "olt line"

    def wanted(self, root) -> dict:
        return {f"{x.s}.{x.c}": x for x in olt_lines(root)}

    def make(self, key: str, x: OltLine) -> str:
        leg = self.leg_to(ONU_LABEL, x.serial)
        if leg is None:
            return f"ONU {x.serial} absent"
        vx = self.vxlan(f"vx{key}", vni(x.s, x.c), x.uplink)
        br = f"br{key}"
        ip(self.ns, "link", "del", br, check=False)
        ip(self.ns, "link", "add", br, "type", "bridge")
        ip(self.ns, "link", "set", vx, "master", br)
        ip(self.ns, "link", "set", leg, "master", br, "mtu", "1500", "up")
        ip(self.ns, "link", "set", br, "up")
        shape(self.ns, leg, x.down_bps)
        shape(self.ns, vx, x.up_bps)
        return f"ONU {x.serial} on {leg}: S{x.s}/C{x.c} via {x.uplink}, {x.down_bps} down / {x.up_bps} up"

    def remove(self, key: str, x: OltLine) -> None:
        ip(self.ns, "link", "del", f"vx{key}", check=False)
        ip(self.ns, "link", "del", f"br{key}", check=False)
        leg = self.leg_to(ONU_LABEL, x.serial)
        if leg:
            unshape(self.ns, leg)


class BngPlane(EntryPlane):
    what = "bng line"

    def __init__(self, lab: dict, node: str):
        super().__init__(lab, node)
        self.dnsmasq: subprocess.Popen | None = None

    def wanted(self, root) -> dict:
        return {f"{x.s}.{x.c}": x for x in bng_lines(root)}

    def make(self, key: str, x: BngLine) -> str:
        vx = self.vxlan(f"vx{key}", vni(x.s, x.c), x.parent)
        ip(self.ns, "addr", "add", x.address, "dev", vx)
        return f"{x.ifname}: S{x.s}/C{x.c} on {x.parent}, gateway {x.address}"

    def remove(self, key: str, x: BngLine) -> None:
        ip(self.ns, "link", "del", f"vx{key}", check=False)
        ip(self.ns, "link", "del", f"br{key}", check=False)

    def settle(self, want: dict) -> None:
        if self.dnsmasq and self.dnsmasq.poll() is None:
            self.dnsmasq.terminate()
            self.dnsmasq.wait()
        self.dnsmasq = None
        dhcp = [x for x in want.values() if x.dhcp_client]
        if not dhcp:
            return
        d = Path(self.n["state_dir"])
        conf = ["port=0", "bind-dynamic", "dhcp-authoritative", "no-resolv", "no-hosts",
                f"dhcp-leasefile={d / 'dnsmasq.leases'}"]
        for x in dhcp:
            net = ipaddress.ip_interface(x.address).network
            conf += [f"interface=vx{x.s}.{x.c}", f"dhcp-range={x.dhcp_client},{x.dhcp_client},{net.netmask},1h"]
        (d / "dnsmasq.conf").write_text("\n".join(conf) + "\n")
        self.dnsmasq = subprocess.Popen(netns.exec_argv(self.ns, ["dnsmasq", "-k", f"--conf-file={d / 'dnsmasq.conf'}"]),
                                        stdout=subprocess.DEVNULL, stderr=open(d / "dnsmasq.log", "ab"),
                                        start_new_session=True)
