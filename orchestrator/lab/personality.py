"""Personalities: what a node's committed config means for its namespace's data plane.

The config decides where traffic goes and how fast, not the test:
* OLT (BBF): each line whose ONU is present (a CPE with that serial hangs on one of the OLT's
  PON legs) gets a bridge joining that PON leg to a VXLAN on the uplink the line's forwarder
  names; the VXLAN id is the S/C-VLAN pair the user sub-interface pushes (the kernel here has
  no 802.1Q devices, so each pair rides its own VXLAN). htb shapes the PON leg to the
  downstream rate (the olt-v-enet's shaper profile) and the VXLAN to the upstream rate (the
  T-CONT's traffic descriptor).
* BNG (fullbars-bng-subscriber): each subscriber interface becomes a VXLAN with the pair it
  names on its parent port, holding the gateway address; DHCP lines are served by dnsmasq.
* main FTTR unit (fullbars-fttr): its PON leg and LAN ports form one bridge (the unit bridges
  the line to the customer); each room unit of the config whose serial hangs on one of its
  room legs joins that bridge, htb-shaped to the room's downstream rate on the leg and, through
  an ifb, to its upstream rate. A room the config does not name gets no service.
A wrong VLAN in either template means different VXLAN ids: no reachability. A wrong rate means
a wrong shaper: a wrong measurement.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lxml import etree

from orchestrator.lab import netns
from orchestrator.plan.crosscheck import NS

NS = dict(NS, qos="urn:bbf:yang:bbf-qos-traffic-mngt", shp="urn:bbf:yang:bbf-qos-shaping",
          fwd="urn:bbf:yang:bbf-l2-forwarding", ani="urn:bbf:yang:bbf-xponani",
          fttr="urn:fullbars:yang:fullbars-fttr")
FTTR_BRIDGE = "brfttr"


CAMPUS_ROLES = ("gnb", "upf", "pe")  # campus 5G nodes with a data plane (orchestrator/lab/campus_personality.py)
PEOPLE = ("olt", "bng", "fttr", *CAMPUS_ROLES)  # the device roles that have a personality


def failure(node: str, tried: str, error: str) -> dict:
    """A config the personality could not realize: the node, what it tried, the command's error."""
    return {"node": node, "tried": tried, "error": error}


def vni(s: int, c: int) -> int:
    return (s << 12) | c


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


@dataclass(frozen=True)
class FttrRoom:
    ifname: str
    serial: str
    down_bps: int
    up_bps: int


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


def fttr_rooms(root) -> list[FttrRoom]:
    out = []
    for i in root.iterfind(".//if:interfaces/if:interface", NS):
        ru = i.find("fttr:room-unit", NS)
        if ru is None or _t(i, "if:enabled") == "false":
            continue
        out.append(FttrRoom(_t(i, "if:name"), _t(ru, "fttr:expected-serial-number"),
                            int(_t(ru, "fttr:rates/fttr:downstream")), int(_t(ru, "fttr:rates/fttr:upstream"))))
    return sorted(out, key=lambda x: x.ifname)


def _ip(ns: str, *args: str, check: bool = True):
    return netns._ip("-n", ns, *args, check=check)


def _tc(ns: str, *args: str):
    r = netns.netns_exec(ns, ["tc", *args], capture_output=True, text=True)
    if r.returncode != 0:  # the command and tc's own words: what the operator needs to see
        raise netns.LabError(f"tc {' '.join(args)}: {r.stderr.strip() or f'exit {r.returncode}'}")


def shape_ingress(ns: str, dev: str, ifb: str, bps: int) -> None:
    """htb at `bps` on what dev receives: redirected through an ifb whose egress is shaped."""
    _ip(ns, "link", "del", ifb, check=False)
    _ip(ns, "link", "add", ifb, "type", "ifb")
    _ip(ns, "link", "set", ifb, "up")
    netns.netns_exec(ns, ["tc", "qdisc", "del", "dev", dev, "ingress"], capture_output=True)
    _tc(ns, "qdisc", "add", "dev", dev, "handle", "ffff:", "ingress")
    _tc(ns, "filter", "add", "dev", dev, "parent", "ffff:", "protocol", "all", "u32", "match", "u32", "0", "0",
        "action", "mirred", "egress", "redirect", "dev", ifb)
    shape(ns, ifb, bps)


def shape(ns: str, dev: str, bps: int) -> None:
    """htb at `bps` on dev's egress; burst of 10 ms (at least 32 kB) keeps TCP at the rate."""
    burst = max(bps // 800, 32000)
    _tc(ns, "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default", "1")
    _tc(ns, "class", "replace", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", f"{bps}bit",
        "ceil", f"{bps}bit", "burst", str(burst), "cburst", str(burst))


class NodePersonality:
    """Applies one node's config; remembers what it made so a change replaces only that."""

    def __init__(self, lab: dict, node: str):
        self.lab, self.node = lab, node
        self.n = lab["nodes"][node]
        self.ns = self.n["netns"]
        self.applied: dict[str, tuple] = {}
        self.dnsmasq: subprocess.Popen | None = None
        self.campus = None  # CampusPlane of a gNB, UPF or PE

    # topology facts the config refers to
    def _underlay(self, ifname: str) -> tuple[str, str] | None:
        for ln in self.lab["links"]:
            ends = {tuple(ln["a"]), tuple(ln["b"])}
            if (self.node, ifname) in ends and ln.get("addr"):
                peer = next(e for e in ends if e != (self.node, ifname))
                return ln["addr"][self.node].split("/")[0], ln["addr"][peer[0]].split("/")[0]
        return None

    def _pon_leg(self, serial: str, label: str = "fullbars.onu-serial") -> str | None:
        for me, other in self._legs():
            if self.lab["nodes"][other[0]]["labels"].get(label) == serial:
                return me[1]
        return None

    def _legs(self):
        """(this end, other end) of every link of this node."""
        for ln in self.lab["links"]:
            for me, other in ((ln["a"], ln["b"]), (ln["b"], ln["a"])):
                if me[0] == self.node:
                    yield me, other

    def apply(self, config_xml: bytes, source_digest: str = "") -> dict:
        root = etree.fromstring(config_xml)
        role = self.n["role"]
        if role == "olt":
            want = {f"{x.s}.{x.c}": ("olt", x) for x in olt_lines(root)}
        elif role == "bng":
            want = {f"{x.s}.{x.c}": ("bng", x) for x in bng_lines(root)}
        elif role == "fttr":
            self._fttr_base()
            want = {x.ifname: ("fttr", x) for x in fttr_rooms(root)}
        elif role in CAMPUS_ROLES:
            return self._campus(role, root, source_digest)
        else:
            return {}
        for key in [k for k in self.applied if self.applied[k] != want.get(k)]:
            self._remove(key)
        report, failures = {}, []
        for key, (kind, line) in sorted(want.items()):
            if self.applied.get(key) == (kind, line):
                self.applied[key] = (kind, line)  # equal for the data plane; keep the new facts
                report[key] = "unchanged"
                continue
            try:
                report[key] = {"olt": self._olt, "bng": self._bng, "fttr": self._fttr}[kind](key, line)
                self.applied[key] = (kind, line)
            except netns.LabError as e:
                report[key] = f"failed: {e}"
                failures.append(failure(self.node, f"{kind} line {key}", str(e)))
        if role == "bng":
            self._dhcp([line for _, line in want.values()])
        return self._record({"node": self.node, "lines": report, "source_digest": source_digest,
                             "config": {k: asdict(v[1]) for k, v in self.applied.items()}, "failures": failures})

    def _campus(self, role: str, root, source_digest: str) -> dict:
        from orchestrator.lab.campus_personality import CampusPlane

        if self.campus is None:
            self.campus = CampusPlane(self.ns)
        lines, failed = self.campus.apply(role, root)
        return self._record({"node": self.node, "lines": lines, "source_digest": source_digest,
                             "failures": [failure(self.node, tried, error) for tried, error in failed]})

    def failed(self, source_digest: str, tried: str, error: Exception) -> dict:
        """The personality broke off on this config: recorded like any failure, so whoever waits
        for the lab learns why at once instead of timing out."""
        return self._record({"node": self.node, "lines": {}, "source_digest": source_digest,
                             "failures": [failure(self.node, tried, f"{type(error).__name__}: {error}")]})

    def _record(self, summary: dict) -> dict:
        """personality.json: what the watcher made of the config with this digest, and what failed;
        wait_applied, push and verify read it."""
        (Path(self.n["state_dir"]) / "personality.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
        return summary

    def _remove(self, key: str) -> None:
        kind, line = self.applied.pop(key)
        if kind == "fttr":
            leg = self._pon_leg(line.serial, "fullbars.room-serial")
            if leg:
                _ip(self.ns, "link", "set", leg, "nomaster", check=False)
                netns.netns_exec(self.ns, ["tc", "qdisc", "del", "dev", leg, "root"], capture_output=True)
                netns.netns_exec(self.ns, ["tc", "qdisc", "del", "dev", leg, "ingress"], capture_output=True)
                _ip(self.ns, "link", "del", f"ifb-{leg}"[:15], check=False)
            return
        _ip(self.ns, "link", "del", f"vx{key}", check=False)
        _ip(self.ns, "link", "del", f"br{key}", check=False)
        if kind == "olt":
            leg = self._pon_leg(line.serial)
            if leg:
                netns.netns_exec(self.ns, ["tc", "qdisc", "del", "dev", leg, "root"], capture_output=True)

    def _vxlan(self, key: str, s: int, c: int, dev: str) -> str:
        under = self._underlay(dev)
        if under is None:
            raise netns.LabError(f"{self.node}: {dev} is not a lab link between devices")
        local, remote = under
        vx = f"vx{key}"
        _ip(self.ns, "link", "del", vx, check=False)
        _ip(self.ns, "link", "add", vx, "type", "vxlan", "id", str(vni(s, c)), "local", local, "remote", remote,
            "dev", dev, "dstport", "4789")
        _ip(self.ns, "link", "set", vx, "mtu", "1500", "up")
        return vx

    def _olt(self, key: str, x: OltLine) -> str:
        leg = self._pon_leg(x.serial)
        if leg is None:
            return f"ONU {x.serial} absent"
        vx = self._vxlan(key, x.s, x.c, x.uplink)
        br = f"br{key}"
        _ip(self.ns, "link", "del", br, check=False)
        _ip(self.ns, "link", "add", br, "type", "bridge")
        _ip(self.ns, "link", "set", vx, "master", br)
        _ip(self.ns, "link", "set", leg, "master", br, "mtu", "1500", "up")
        _ip(self.ns, "link", "set", br, "up")
        shape(self.ns, leg, x.down_bps)
        shape(self.ns, vx, x.up_bps)
        return f"ONU {x.serial} on {leg}: S{x.s}/C{x.c} via {x.uplink}, {x.down_bps} down / {x.up_bps} up"

    def _fttr_base(self) -> None:
        """The main unit bridges its PON leg (towards the OLT) and its LAN ports (the line's CPE)."""
        if netns.link_exists(FTTR_BRIDGE, self.ns):
            return
        _ip(self.ns, "link", "add", FTTR_BRIDGE, "type", "bridge")
        for me, other in self._legs():
            if self.lab["nodes"][other[0]]["role"] in ("olt", "cpe"):
                _ip(self.ns, "link", "set", me[1], "master", FTTR_BRIDGE, "mtu", "1500", "up")
        _ip(self.ns, "link", "set", FTTR_BRIDGE, "up")

    def _fttr(self, key: str, x: FttrRoom) -> str:
        leg = self._pon_leg(x.serial, "fullbars.room-serial")
        if leg is None:
            return f"room unit {x.serial} absent"
        _ip(self.ns, "link", "set", leg, "master", FTTR_BRIDGE, "mtu", "1500", "up")
        shape(self.ns, leg, x.down_bps)
        shape_ingress(self.ns, leg, f"ifb-{leg}"[:15], x.up_bps)
        return f"{x.ifname}: room unit {x.serial} on {leg}, {x.down_bps} down / {x.up_bps} up"

    def _bng(self, key: str, x: BngLine) -> str:
        vx = self._vxlan(key, x.s, x.c, x.parent)
        _ip(self.ns, "addr", "add", x.address, "dev", vx)
        return f"{x.ifname}: S{x.s}/C{x.c} on {x.parent}, gateway {x.address}"

    def _dhcp(self, lines: list[BngLine]) -> None:
        import ipaddress

        if self.dnsmasq and self.dnsmasq.poll() is None:
            self.dnsmasq.terminate()
            self.dnsmasq.wait()
        self.dnsmasq = None
        dhcp = [x for x in lines if x.dhcp_client]
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


class RunningSource:
    """A node's committed config as its agent holds it: devsim's running file, or netconfd's
    running datastore over NETCONF (netconfd writes its file only once a commit is confirmed)."""

    # yuma123 netconfd checks its confirmed-commit timer only when idle: a session asking every
    # 0.2 s keeps a timed-out commit from ever reverting (tests/conformance). Ask it rarely.
    NETCONFD_INTERVAL = 2.0

    def __init__(self, lab: dict, node: str):
        self.lab, self.node = lab, node
        self.n = lab["nodes"][node]
        self.m = None
        self.last = 0.0
        self.cached: bytes | None = None

    def read(self) -> bytes | None:
        import time

        if self.n["agent"] == "devsim":
            try:
                return (Path(self.n["state_dir"]) / "running.xml").read_bytes()
            except FileNotFoundError:
                return None
        if time.monotonic() - self.last < self.NETCONFD_INTERVAL:
            return self.cached
        self.last = time.monotonic()
        self.cached = self._fetch()
        return self.cached

    def _fetch(self) -> bytes | None:
        from orchestrator.netconf.hostkeys import connect

        try:
            if self.m is None or not self.m.connected:
                self.m = connect(self.node, self.n["mgmt_ip"], 830,
                                 tuple(self.lab.get("hostkeys", {}).get(self.node, ())), "the lab's record",
                                 10, username=self.lab["user"], password=self.lab["password"])
            return self.m.get_config(source="running").data_xml.encode()
        except Exception:
            self.m = None
            return None

    def close(self) -> None:
        if self.m is not None:
            try:
                self.m.close_session()
            except Exception:
                pass
            self.m = None


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


@dataclass
class Applied:
    """What the watcher made of the nodes' running configs."""

    late: list[str]  # nodes whose current running config it has not applied yet
    failures: list[dict]  # failure() of the ones it applied

    def problems(self, lab: dict) -> list[str]:
        log = Path(lab["nodes"][self.late[0]]["state_dir"]).parents[1] / "watcher.log" if self.late else None
        return [f"{n}: the lab did not apply the commit in time (see {log})" for n in self.late] + \
            [f"{f['node']}: the lab could not apply the committed config: {f['tried']}: {f['error']}"
             for f in self.failures]


def wait_applied(lab: dict, nodes: list[str], timeout: float = 15.0) -> Applied:
    """Block until the watcher has applied each node's current running config (or failed to)."""
    import time

    end = time.monotonic() + timeout
    sources = {n: RunningSource(lab, n) for n in nodes if lab["nodes"][n]["role"] in PEOPLE}
    try:
        late = _wait(lab, sources, list(sources), end)
    finally:
        for s in sources.values():
            s.close()
    return Applied(late, [f for n in sources if n not in late for f in recorded(lab, n).get("failures", [])])


def recorded(lab: dict, node: str) -> dict:
    """The watcher's last summary of a node ({} before its first)."""
    try:
        return json.loads((Path(lab["nodes"][node]["state_dir"]) / "personality.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def recorded_failures(lab: dict) -> list[dict]:
    """Every node's failures as the watcher last recorded them."""
    return [f for n, v in sorted(lab["nodes"].items()) if v["role"] in PEOPLE for f in recorded(lab, n).get("failures", [])]


def _wait(lab, sources, todo, end) -> list[str]:
    import time

    while todo and time.monotonic() < end:
        left = []
        for n in todo:
            data = sources[n].read()
            if data is None or recorded(lab, n).get("source_digest") != _digest(data):
                left.append(n)
        todo = left
        if todo:
            time.sleep(0.05)
    return todo


def realize(p: NodePersonality, data: bytes, digest: str) -> dict:
    """One node's committed config into its data plane; whatever breaks is recorded, not raised:
    a bad config must not stop the watcher for the other nodes, nor leave its waiter guessing."""
    try:
        return p.apply(data, digest)
    except Exception as e:
        return p.failed(digest, "apply the committed config", e)


def watch(state_file: Path, interval: float = 0.2) -> None:
    """The lab's watcher process: re-apply a node's personality whenever its agent commits."""
    import time

    lab = json.loads(Path(state_file).read_text())
    people = {n: NodePersonality(lab, n) for n, v in lab["nodes"].items() if v["role"] in PEOPLE}
    sources = {n: RunningSource(lab, n) for n in people}
    seen: dict[str, str] = {}
    while Path(state_file).exists():
        for name, p in people.items():
            data = sources[name].read()
            if data is None:
                continue
            digest = _digest(data)
            if seen.get(name) != digest:
                seen[name] = digest
                summary = realize(p, data, digest)
                print(f"{name}: {json.dumps(summary.get('lines', {}))} {json.dumps(summary.get('failures', []))}",
                      flush=True)
        time.sleep(interval)
