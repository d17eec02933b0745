"""What an OLT's and a BNG's committed configs mean for the lab's data plane.

* OLT (BBF): each line whose ONU is present (a CPE with that serial hangs on one of the OLT's
  PON legs) gets a bridge joining that PON leg to a VXLAN on the uplink the line's forwarder
  names; the VXLAN id is the S/C-VLAN pair the user sub-interface pushes (the kernel here has
  no 802.1Q devices, so each pair rides its own VXLAN). htb shapes the PON leg to the
  downstream rate (the olt-v-enet's shaper profile) and the VXLAN to the upstream rate (the
  T-CONT's traffic descriptor). An ONU whose chains end on different onu-v-enets (the line's, its
  cameras') has a leg per UNI in the lab: a chain takes the leg labelled with the onu-v-enet the
  link table joins to its olt-v-enet, else the ONU's main leg (the CPE's).
* BNG (fullbars-bng-subscriber): each subscriber interface becomes a VXLAN with the pair it
  names on its parent port, holding the gateway address; DHCP lines are served by dnsmasq.
A wrong VLAN in either template means different VXLAN ids: no reachability. A wrong rate means
a wrong shaper: a wrong measurement.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from orchestrator.lab import netns
from orchestrator.lab.dataplane import EntryPlane, ip, shape, shape_ingress, unshape, vni
from orchestrator.plan.crosscheck import NS

NS = dict(NS, qos="urn:bbf:yang:bbf-qos-traffic-mngt", shp="urn:bbf:yang:bbf-qos-shaping",
          fwd="urn:bbf:yang:bbf-l2-forwarding", ani="urn:bbf:yang:bbf-xponani", lt="urn:bbf:yang:bbf-link-table")
ONU_LABEL = "fullbars.onu-serial"
UNI_LABEL = "fullbars.onu-uni"  # a host on a UNI of its own of an ONU: the onu-v-enet it stands for


@dataclass(frozen=True)
class OltLine:
    serial: str
    s: int
    c: int
    uplink: str
    down_bps: int
    up_bps: int
    uni: str = ""  # the onu-v-enet the link table joins to the chain's olt-v-enet
    tcont: str = ""  # the T-CONT its GEM port rides: chains on one T-CONT share its upstream


@dataclass(frozen=True)
class BngLine:
    ifname: str
    parent: str
    s: int
    c: int
    address: str  # gateway/prefix
    dhcp_client: str | None
    down_bps: int
    up_bps: int
    service_id: str = ""


def _t(el, path):
    return el.findtext(path, namespaces=NS)


def _enabled(itf) -> bool:
    return _t(itf, "if:enabled") != "false"  # ietf-interfaces: enabled defaults to true


def _tags(el, path: str) -> dict[int, int]:
    out = {}
    for tag in el.iterfind(path, NS):
        vid = _t(tag, "tag:dot1q-tag/tag:vlan-id")
        if vid is not None and vid.isdigit():
            out[int(_t(tag, "tag:index"))] = int(vid)
    return out


def olt_lines(root) -> tuple[list[OltLine], dict[str, str]]:
    """The lines the OLT forwards, and per ONU serial (or user sub-interface) why one it holds is
    not forwarded. A line forwards only when its whole chain agrees: user sub-interface pushing an
    S and a C tag, its olt-v-enet, the v-ANI with the ONU's serial, a GEM port on that olt-v-enet
    whose T-CONT sits on that v-ANI with a traffic descriptor, a shaper profile, a forwarder to a
    network-side sub-interface that matches the same S/C pair, and every interface of it enabled."""
    itfs = {_t(i, "if:name"): i for i in root.iterfind(".//if:interfaces/if:interface", NS)}
    shaper = {_t(p, "shp:name"): int(_t(p, "shp:single-token-bucket/shp:pir") or 0) * 1000
              for p in root.iterfind(".//qos:tm-profiles/shp:shaper-profile", NS)}
    tdp = {_t(p, "gt:name"): int(_t(p, "gt:maximum-bandwidth") or 0)
           for p in root.iterfind(".//gt:traffic-descriptor-profiles/gt:traffic-descriptor-profile", NS)}
    tconts = {_t(t, "gt:name"): t for t in root.iterfind(".//gt:tconts/gt:tcont", NS)}
    gems = {}
    for g in root.iterfind(".//gt:gemports/gt:gemport", NS):
        gems.setdefault(_t(g, "gt:interface"), []).append(g)
    lower = {n: _t(i, "subif:subif-lower-layer/subif:interface") for n, i in itfs.items()}
    uni = {_t(ln, "lt:to-interface"): _t(ln, "lt:from-interface")
           for ln in root.iterfind(".//lt:link-table/lt:link-table", NS)}
    fwd_peer = {}
    for f in root.iterfind(".//fwd:forwarders/fwd:forwarder", NS):
        subs = [_t(p, "fwd:sub-interface") for p in f.iterfind("fwd:ports/fwd:port", NS)]
        for a in subs:
            for b in subs:
                if a != b:
                    fwd_peer[a] = b
    out, held = [], {}
    for name, i in itfs.items():
        venet = lower.get(name)
        if venet is None or venet not in itfs or itfs[venet].find("vani:olt-v-enet", NS) is None:
            continue
        vani = _t(itfs[venet], "vani:olt-v-enet/vani:lower-layer-interface")
        serial = _t(itfs[vani], "vani:v-ani/vani:expected-serial-number") if vani in itfs else None
        why = _chain_fault(name, i, venet, vani, serial, itfs, lower, fwd_peer, gems, tconts, tdp, shaper)
        if isinstance(why, str):
            held[serial or name] = why
            continue
        s, c, uplink, down, up, tcont = why
        out.append(OltLine(serial, s, c, uplink, down, up, uni.get(venet) or "", tcont))
    return sorted(out, key=lambda x: x.serial), held


def _chain_fault(name, i, venet, vani, serial, itfs, lower, fwd_peer, gems, tconts, tdp, shaper):
    """Why the chain of user sub-interface `name` does not forward (a sentence naming the
    interface and leaf), or (S, C, uplink, down bit/s, up bit/s, T-CONT) when it does."""
    if serial is None:
        return f"olt-v-enet {venet} names v-ANI {vani}, which is no v-ANI with an expected serial"
    tags = _tags(i, ".//subif:ingress-rewrite/tag:push-tag")
    if 0 not in tags or 1 not in tags:
        return f"user sub-interface {name} pushes no S and C tag (push-tag index 0 and 1)"
    for what, itf in (("user sub-interface", name), ("olt-v-enet", venet), ("v-ANI", vani)):
        if not _enabled(itfs[itf]):
            return f"{what} {itf} is disabled (enabled false)"
    net = fwd_peer.get(name)
    if net is None or net not in itfs:
        return f"no forwarder joins user sub-interface {name} to a network-side sub-interface"
    if not _enabled(itfs[net]):
        return f"network-side sub-interface {net} is disabled (enabled false)"
    match = _tags(itfs[net], "subif:inline-frame-processing/subif:ingress-rule/subif:rule/"
                             "subif:flexible-match/tag:match-criteria/tag:tag")
    if (match.get(0), match.get(1)) != (tags[0], tags[1]):
        return (f"network-side sub-interface {net} matches S{match.get(0)}/C{match.get(1)}, but user "
                f"sub-interface {name} pushes S{tags[0]}/C{tags[1]}")
    tcont_of_vani = {n: t for n, t in tconts.items() if _t(t, "gt:interface-reference") == vani}
    if not tcont_of_vani:
        return f"no T-CONT on v-ANI {vani} (tcont interface-reference)"
    gem = next((g for g in gems.get(venet, []) if _t(g, "gt:tcont-ref") in tcont_of_vani), None)
    if gem is None:
        return f"no GEM port on olt-v-enet {venet} whose T-CONT is on v-ANI {vani} (gemport interface, tcont-ref)"
    tcont = tcont_of_vani[_t(gem, "gt:tcont-ref")]
    profile = _t(tcont, "gt:traffic-descriptor-profile-ref")
    if not tdp.get(profile):
        return f"T-CONT {_t(tcont, 'gt:name')} has no traffic descriptor with a maximum bandwidth ({profile})"
    sname = _t(itfs[venet], "qos:tm-root/shp:shaper-name")
    # no shaper at all: a chain that only sends upstream (cameras) is not shaped downstream
    if sname is not None and not shaper.get(sname):
        return f"olt-v-enet {venet} names shaper profile {sname}, which has no pir"
    return tags[0], tags[1], lower.get(net) or "", shaper.get(sname, 0), tdp[profile], _t(tcont, "gt:name")


def bng_lines(root) -> tuple[list[BngLine], dict[str, str]]:
    """The subscribers the BNG serves, and per service-id why one it holds is not served."""
    out, held = [], {}
    for i in root.iterfind(".//if:interfaces/if:interface", NS):
        sub = i.find("fbs:subscriber", NS)
        if sub is None:
            continue
        sid = _t(sub, "fbs:service-id") or ""
        if not _enabled(i):  # a suspended line: no data plane at all
            held[sid] = f"sub-interface {_t(i, 'if:name')} is disabled (enabled false)"
            continue
        addr = i.find("ip:ipv4/ip:address", NS)
        out.append(BngLine(_t(i, "if:name"), _t(sub, "fbs:parent-interface"), int(_t(sub, "fbs:outer-vlan")),
                           int(_t(sub, "fbs:inner-vlan")),
                           f"{_t(addr, 'ip:ip')}/{_t(addr, 'ip:prefix-length')}" if addr is not None else "",
                           _t(sub, "fbs:dhcp-server/fbs:client-address"),
                           int(_t(sub, "fbs:rates/fbs:downstream") or 0), int(_t(sub, "fbs:rates/fbs:upstream") or 0),
                           sid))
    return sorted(out, key=lambda x: x.ifname), held


def _rates_only(old, new) -> bool:
    """Only the rates differ: the shapers change, the line's path stays (a bulk upgrade must not
    tear down a thousand subscribers)."""
    return replace(old, down_bps=new.down_bps, up_bps=new.up_bps) == new


class OltPlane(EntryPlane):
    what = "olt line"

    def wanted(self, root) -> dict:
        lines, self.held = olt_lines(root)
        return {f"{x.s}.{x.c}": x for x in lines}

    def _leg(self, x: OltLine) -> str | None:
        """The ONU's leg for this chain: its UNI's own, else the ONU's main leg."""
        legs = [(me[1], self.lab["nodes"][other[0]]["labels"]) for me, other in self.legs()
                if self.lab["nodes"][other[0]]["labels"].get(ONU_LABEL) == x.serial]
        own = [leg for leg, labels in legs if x.uni and labels.get(UNI_LABEL) == x.uni]
        main = [leg for leg, labels in legs if UNI_LABEL not in labels]
        return (own or main or [None])[0]

    def make(self, key: str, x: OltLine) -> str:
        leg = self._leg(x)
        if leg is None:
            return f"ONU {x.serial} absent"
        vx = self.vxlan(f"vx{key}", vni(x.s, x.c), x.uplink)
        br = f"br{key}"
        ip(self.ns, "link", "del", br, check=False)
        ip(self.ns, "link", "add", br, "type", "bridge")
        ip(self.ns, "link", "set", vx, "master", br)
        ip(self.ns, "link", "set", leg, "master", br, "mtu", "1500", "up")
        ip(self.ns, "link", "set", br, "up")
        return self._shape(key, x)

    def _shape(self, key: str, x: OltLine) -> str:
        leg = self._leg(x)
        if x.down_bps:
            shape(self.ns, leg, x.down_bps)  # downstream: the olt-v-enet's shaper profile
        else:
            unshape(self.ns, leg)
        shape(self.ns, f"vx{key}", x.up_bps)  # upstream: the T-CONT's traffic descriptor
        return f"ONU {x.serial} on {leg}: S{x.s}/C{x.c} via {x.uplink}, {x.down_bps} down / {x.up_bps} up"

    def update(self, key: str, old: OltLine, new: OltLine) -> str | None:
        if not _rates_only(old, new) or self._leg(new) is None:
            return None
        return self._shape(key, new)

    def remove(self, key: str, x: OltLine) -> None:
        ip(self.ns, "link", "del", f"vx{key}", check=False)
        ip(self.ns, "link", "del", f"br{key}", check=False)
        leg = self._leg(x)
        if leg:
            unshape(self.ns, leg)


def _bng_key(x: BngLine) -> str:
    """A subscriber's name on the BNG's plane: its S/C pair, told apart per OLT link (OLTs on
    one BNG may use the same pairs) by a digest of the link's name, stable while it stays.
    'vx' + key and 'ib' + key fit the 15 characters of an interface name."""
    return f"{hashlib.sha1(x.parent.encode()).hexdigest()[:4]}{x.s}.{x.c}"


class BngPlane(EntryPlane):
    """Each subscriber: a VXLAN with its pair, the gateway address, and the subscriber's rates
    policed both ways (htb on what it sends the line, htb through an ifb on what it receives)."""

    what = "bng line"

    def __init__(self, lab: dict, node: str):
        super().__init__(lab, node)
        self.dnsmasq: subprocess.Popen | None = None

    def wanted(self, root) -> dict:
        lines, self.held = bng_lines(root)
        return {_bng_key(x): x for x in lines}

    def make(self, key: str, x: BngLine) -> str:
        vx = self.vxlan(f"vx{key}", vni(x.s, x.c), x.parent)
        ip(self.ns, "addr", "add", x.address, "dev", vx)
        return self._police(key, x)

    def _police(self, key: str, x: BngLine) -> str:
        shape(self.ns, f"vx{key}", x.down_bps)
        shape_ingress(self.ns, f"vx{key}", f"ib{key}", x.up_bps)
        return f"{x.ifname}: S{x.s}/C{x.c} on {x.parent}, gateway {x.address}, {x.down_bps} down / {x.up_bps} up"

    def update(self, key: str, old: BngLine, new: BngLine) -> str | None:
        return self._police(key, new) if _rates_only(old, new) else None

    def remove(self, key: str, x: BngLine) -> None:
        ip(self.ns, "link", "del", f"vx{key}", check=False)
        ip(self.ns, "link", "del", f"ib{key}", check=False)

    def settle(self, want: dict) -> None:
        if self.dnsmasq and self.dnsmasq.poll() is None:
            self.dnsmasq.terminate()
            self.dnsmasq.wait()
        self.dnsmasq = None
        dhcp = [(key, x) for key, x in sorted(want.items()) if x.dhcp_client]
        if not dhcp:
            return
        d = Path(self.n["state_dir"])
        conf = ["port=0", "bind-dynamic", "dhcp-authoritative", "no-resolv", "no-hosts",
                f"dhcp-leasefile={d / 'dnsmasq.leases'}"]
        for key, x in dhcp:
            net = ipaddress.ip_interface(x.address).network
            conf += [f"interface=vx{key}", f"dhcp-range={x.dhcp_client},{x.dhcp_client},{net.netmask},1h"]
        (d / "dnsmasq.conf").write_text("\n".join(conf) + "\n")
        self.dnsmasq = subprocess.Popen(netns.exec_argv(self.ns, ["dnsmasq", "-k", f"--conf-file={d / 'dnsmasq.conf'}"]),
                                        stdout=subprocess.DEVNULL, stderr=open(d / "dnsmasq.log", "ab"),
                                        start_new_session=True)
        # the watcher's record, written next, tells the checks this commit is served: a discover
        # sent before dnsmasq binds goes unanswered (if it fails, its log says why and the line's
        # check reports no lease)
        netns.listening(self.ns, 67, udp=True, server=self.dnsmasq, tries=100)
