"""Per site of a dedicated line (a row `line/site`): its CE, set up as the customer's router is
for the order (its VLAN on a fibre port; at layer 3 the planned PE-CE address, a route to the
PE and the site's first LAN address; at layer 2 an address of the lab's test segment, the same
for every line so that two enterprises overlap), reaches every other site of its line (ping,
LAN to LAN), reaches no site of any other line (each other CE counts the ICMP it receives while
this one probes all their addresses: overlapping prefixes are answered inside a line, never
across), and iperf3 measures both ways to the next site at the line's CIR (0.93-1.0x, re-measured
on a busy machine: orchestrator/lab/measure.py). What the PE realized of the access (its
running config as the lab read it) must carry the CIR both ways; an access the PE holds but does
not carry fails with the reason. A line out of service (`serving: false`) must reach nothing.
With rates, a site protected at layer 2 is failed over after every other check: its primary PE's
port goes down, and it must reach its line's other sites over the protection PE within
FAILOVER_S, and again once the port is back."""

from __future__ import annotations

import ipaddress
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from orchestrator.lab.dataplane import recorded
from orchestrator.lab.kinds.broadband.plane import ONU_LABEL
from orchestrator.lab.ifnames import port_if
from orchestrator.lab.kinds.dedicated.topology import (CE_FIBRE, CE_PON, FIBRE_PORT0, KIND, PROTECTION_IF,
                                                      SITE_LABEL, link_of, stable_mac)
from orchestrator.lab.measure import measure, pings, reaches, run, wanted

# what a site's CE is set up from (a plan of an older release lacks some: plan it again)
_L3 = ("ce-address", "pe-address", "prefixes")
NEEDS = {"l2": {True: (), False: ("vlan",)}, "l3": {True: _L3, False: ("vlan", *_L3)}}  # by PON or not
L2_SEGMENT = ipaddress.ip_network("10.1.1.0/24")  # inside the example enterprises' own 10.1.0.0/16
CUSTOMER_IF = "cust"
FAILOVER_S = 3.0  # a protected site: reached over its protection PE within this of its primary port going down
FAILOVER_LIMIT = 10.0  # ... and given up on after this
UPLINKS = ("cust1", "cust2")  # a protected site's VXLANs to its primary and its protection PE


def _icmp_in(ns: str) -> int:
    """ICMP echo requests this namespace has taken in (the kernel's own count: /proc/net/snmp).
    Only echo requests are a probe that crossed over: a CE also takes in errors about its own
    traffic (destination unreachable after a rate measurement), which say nothing of isolation."""
    rows = [ln.split() for ln in run(ns, ["cat", "/proc/net/snmp"]).stdout.splitlines() if ln.startswith("Icmp:")]
    return int(dict(zip(rows[0][1:], rows[1][1:]))["InEchos"]) if len(rows) >= 2 else 0


class Ce:
    """A site's CE in the lab: set up from the plan as the customer configures its router."""

    def __init__(self, st: dict, name: str, layer: str, index: int, r: dict):
        self.name, self.node = name, st["nodes"][name]
        self.ns, self.site, self.r = self.node["netns"], self.node["labels"][SITE_LABEL], r
        self.problems: list[str] = []
        self.protected = False  # a second uplink, to the site's protection PE
        self.dev = self._device(st)
        for cmd in (["ip", "addr", "flush", "dev", self.dev], ["ip", "route", "flush", "default"],
                    ["ip", "addr", "flush", "dev", "lo", "scope", "global"]):
            run(self.ns, cmd)
        if layer == "l3":
            ce = ipaddress.ip_interface(r["ce-address"])
            self.address = str(next(ipaddress.ip_network(r["prefixes"].split(",")[0].strip()).hosts()))
            run(self.ns, ["ip", "addr", "add", str(ce), "dev", self.dev])
            run(self.ns, ["ip", "addr", "add", f"{self.address}/32", "dev", "lo"])
            run(self.ns, ["ip", "route", "replace", "default", "via", r["pe-address"]])
            self.source = ["-I", self.address]  # LAN to LAN, as the sites' hosts talk
        else:
            self.address = str(list(L2_SEGMENT.hosts())[index])
            run(self.ns, ["ip", "addr", "add", f"{self.address}/{L2_SEGMENT.prefixlen}", "dev", self.dev])
            self.source = []

    def _device(self, st: dict) -> str:
        """eth1 behind an ONU; on a fibre port a VXLAN with the site's VLAN to the PE; a site
        protected at layer 2 (its second uplink wired) a bridge of two, to both PEs."""
        for key in ("all", "default", "eth1"):  # no IPv6 chatter: the isolation check counts ICMP
            run(self.ns, ["sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"])
        if self.node["labels"].get(ONU_LABEL):  # behind an ONU: the OLT's plane tags its frames
            return "eth1"
        for dev in (CUSTOMER_IF, *UPLINKS):
            run(self.ns, ["ip", "link", "del", dev])
        self.protected = link_of(st, self.name, PROTECTION_IF) is not None and "protection-vlan" in self.r
        if not self.protected:  # the same MAC at every verify: the PE's neighbour entry for the CE stays right
            self._uplink(st, CUSTOMER_IF, "eth1", self.r["vlan"], ["address", stable_mac(self.name)])
            return CUSTOMER_IF
        # Two uplinks in a bridge that floods (no learning): whichever PE carries the site gets
        # the frames; which one does is the PEs' business (the standby's PE keeps it out).
        run(self.ns, ["ip", "link", "add", CUSTOMER_IF, "address", stable_mac(self.name), "type", "bridge"])
        for dev, under, vlan in zip(UPLINKS, ("eth1", PROTECTION_IF), (self.r["vlan"], self.r["protection-vlan"])):
            self._uplink(st, dev, under, vlan, [])
            run(self.ns, ["ip", "link", "set", dev, "master", CUSTOMER_IF])
            run(self.ns, ["bridge", "link", "set", "dev", dev, "learning", "off"])
        run(self.ns, ["ip", "link", "set", CUSTOMER_IF, "up"])
        return CUSTOMER_IF

    def follow_carrier(self, stop: threading.Event) -> None:
        """A VLAN follows its port: an uplink whose fibre has no carrier goes down (an 802.1Q
        device would by itself; a VXLAN does not, and flooding into it fills the neighbour queue
        of a link that never answers). Runs until `stop` is set."""
        was: dict[str, bool] = {}
        while not stop.is_set():
            for dev, under in zip(UPLINKS, ("eth1", PROTECTION_IF)):
                up = "LOWER_UP" in run(self.ns, ["ip", "-o", "link", "show", "dev", under]).stdout
                if was.get(dev) != up:
                    run(self.ns, ["ip", "link", "set", dev, "up" if up else "down"])
                    was[dev] = up
            stop.wait(0.05)

    def _uplink(self, st: dict, dev: str, under: str, vlan: int, extra: list[str]) -> None:
        """A VXLAN with the site's VLAN over lab link `under` to the PE's port."""
        index, ln = link_of(st, self.name, under)
        pe = ln["a"][0] if ln["b"][0] == self.name else ln["b"][0]
        local, remote = ln["addr"][self.name].split("/")[0], ln["addr"][pe].split("/")[0]
        p = run(self.ns, ["ip", "link", "add", dev, *extra, "type", "vxlan", "id", str(vlan), "local", local,
                          "remote", remote, "dev", under, "dstport", str(FIBRE_PORT0 + index)])
        if p.returncode != 0:
            self.problems.append(f"the CE's VLAN {vlan} towards {pe} could not be set up: {p.stderr.strip()}")
        run(self.ns, ["ip", "link", "set", dev, "mtu", "1500", "up"])

    def ping(self, address: str, count: int = 2) -> bool:
        """One ping: for a check that wants no reply, or counts what arrives."""
        return pings(self.ns, address, *self.source, count=count)

    def reaches(self, address: str) -> bool:
        """For a check that wants a reply: asks again, for longer, before it says no (measure.reaches)."""
        return reaches(self.ns, address, *self.source)


def _reaches_all(ce: Ce, others: list[Ce]) -> bool:
    return all(run(ce.ns, ["ping", "-c", "1", "-W", "0.3", *ce.source, o.address]).returncode == 0 for o in others)


def _until(cond, limit: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if cond():
            return time.monotonic() - start
    return None


def failover(st: dict, ce: Ce, mine: dict[str, Ce], r: dict) -> tuple[float | None, list[str]]:
    """Take the primary PE's port to the site down: the site must reach every other site of its
    line again, over its protection PE, within FAILOVER_S; the port comes back up and the site
    must be reached again (the protection back on standby). (seconds it took, problems)"""
    pe, port = r["pe"], port_if(r["port"])
    others = [o for o in mine.values() if o is not ce]
    ns = st["nodes"][pe]["netns"]
    stop = threading.Event()
    follower = threading.Thread(target=ce.follow_carrier, args=(stop,), daemon=True)
    follower.start()
    run(ns, ["ip", "link", "set", port, "down"])
    try:
        took = _until(lambda: _reaches_all(ce, others), FAILOVER_LIMIT)
    finally:
        run(ns, ["ip", "link", "set", port, "up"])
    out = []
    if took is None:
        out.append(f"with {pe} {r['port']} down, the site reaches no other site over its protection "
                   f"{r['protection-pe']} {r['protection-port']} (waited {FAILOVER_LIMIT:g} s)")
    elif took > FAILOVER_S:
        out.append(f"with {pe} {r['port']} down, the protection {r['protection-pe']} carried the site after "
                   f"{took:.1f} s, more than {FAILOVER_S:g} s")
    try:
        if _until(lambda: _reaches_all(ce, others), FAILOVER_LIMIT) is None:
            out.append(f"with {pe} {r['port']} up again, the site no longer reaches every other site")
    finally:
        stop.set()
        follower.join()
    return took, out


def _reach(ce: Ce, mine: dict[str, Ce], wanted: bool) -> dict[str, bool]:
    """site → whether `ce` reaches it; wanted: whether it should (then a site is asked again)."""
    others = [o for o in mine.values() if o is not ce]
    probe = ce.reaches if wanted else ce.ping
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip([o.site for o in others], pool.map(lambda o: probe(o.address), others)))


def _isolation(ce: Ce, others: dict[str, dict[str, Ce]]) -> list[str]:
    """Probe every site of every other line; each of their CEs must take in no ICMP meanwhile."""
    out = []
    for line, ces in sorted(others.items()):
        before = {s: _icmp_in(o.ns) for s, o in ces.items()}
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda o: ce.ping(o.address, 1), ces.values()))
        for s, o in sorted(ces.items()):
            got = _icmp_in(o.ns) - before[s]
            if got:
                out.append(f"reaches site {s} of line {line} ({o.address}): its CE took in {got} ICMP echo request(s)")
    return out


def _path(st: dict, svc: str, site: str, r: dict, cir: int, rates: bool) -> list[str]:
    """What the site's OLT (a PON site) and PE made of its access, from their running configs as
    the lab realized them."""
    pe, out = r.get("pe"), []
    if r.get("access") == "pon" and r.get("olt") in st["nodes"]:
        why = recorded(st, r["olt"]).get("held", {}).get(r["onu-serial"])
        if why:
            out.append(f"{r['olt']} does not forward ONU {r['onu-serial']}: {why}")
    if pe not in st["nodes"]:
        return out + [f"PE {pe} is not in the lab"]
    return out + pe_access(st, pe, svc, site, cir, rates)


def pe_access(st: dict, pe: str, svc: str, site: str, cir: int, rates: bool,
              what: str = "the line's CIR") -> list[str]:
    """What PE `pe` realized of access `site` of VPN `svc`: held (why), missing, or not shaped at `cir` both ways."""
    rec = recorded(st, pe)
    held = rec.get("held", {})
    for key in (f"{svc}/{site}", svc):
        if key in held:
            return [f"{pe} does not carry this site: {held[key]}"]
    vpn = rec.get("config", {}).get(svc)
    acc = next((a for a in (vpn or {}).get("accesses", []) if a["id"] == site), None)
    if acc is None:
        return [f"{pe}'s running config holds no access {site} in VPN {svc}"]
    out = []
    if rates:
        for key, how in (("out_bps", "to the CE"), ("in_bps", "from the CE")):
            if acc[key] != cir:
                out.append(f"{pe} shapes {how} at {acc[key] / 1e6:g} Mbit/s, {what} is {cir / 1e6:g}")
    return out


def lines(m: dict, st: dict, only, rates: bool, port0: int, progress=None) -> list[dict]:
    services = {k: v for k, v in sorted(m["services"].items()) if v.get("kind") == KIND}
    nodes = {(n["labels"].get("fullbars.service"), n["labels"].get(SITE_LABEL)): name
             for name, n in st["nodes"].items() if n["role"] in (CE_PON, CE_FIBRE)}
    ces: dict[str, dict[str, Ce]] = {}
    for svc, s in services.items():  # every line's CEs: the isolation checks probe them all
        r = s["resources"]
        for i, (site, sr) in enumerate(sorted(r["sites"].items())):
            if (svc, site) in nodes and all(k in sr for k in NEEDS[r["layer"]][sr.get("access") == "pon"]):
                ces.setdefault(svc, {})[site] = Ce(st, nodes[(svc, site)], r["layer"], i, sr)
    todo = [(svc, site) for svc, s in services.items() for site in sorted(s["resources"]["sites"])
            if wanted(only, svc, site)]
    rows, protected = [], []
    for n, (svc, site) in enumerate(todo, 1):
        s, r = services[svc], services[svc]["resources"]
        cir = r["cir-bps"]
        row = {"service": f"{svc}/{site}", "expected_down_bps": cir, "expected_up_bps": cir, "problems": []}
        mine = ces.get(svc, {})
        ce = mine.get(site)
        if ce is None:
            row["problems"].append("no CE for this site in the lab (a PE port carries one site's CE; a plan "
                                   "without the site's VLAN or PE-CE addresses is from an older release: plan again)")
            row.update(ok=False, reachable=False)
            rows.append(row)
            continue
        row["address"] = ce.address
        row["problems"] += ce.problems
        reach = _reach(ce, mine, s.get("serving", True))
        row["reach"] = reach
        row["reachable"] = bool(reach) and all(reach.values())
        if not s.get("serving", True):
            row.update(expected_down_bps=0, expected_up_bps=0, serving=False)
            row["problems"] += [f"still reaches site {o} ({mine[o].address}), but the line is out of service"
                                for o, ok in sorted(reach.items()) if ok]
        else:
            row["problems"] += [f"cannot reach site {o} ({mine[o].address})"
                                for o, ok in sorted(reach.items()) if not ok]
            row["problems"] += _path(st, svc, site, r["sites"][site], cir, rates)
            row["isolation"] = _isolation(ce, {k: v for k, v in ces.items() if k != svc})
            row["problems"] += row["isolation"]
            peers = sorted(mine)
            nxt = mine[peers[(peers.index(site) + 1) % len(peers)]]
            if rates and row["reachable"] and nxt is not ce:
                measure(row, ce.ns, nxt.ns, nxt.address, port0 + n, (f"from {nxt.site}", cir), (f"to {nxt.site}", cir))
            if rates and row["reachable"] and ce.protected:
                protected.append((row, ce, mine, r["sites"][site]))
        row["ok"] = not row["problems"]
        rows.append(row)
        if progress:
            progress("verify", n, len(todo))
    # failovers last: what a failover leaves in flight must not reach a CE while another site's
    # isolation check counts what it takes in
    for row, ce, mine, r in protected:
        row["failover_s"], problems = failover(st, ce, mine, r)
        row["problems"] += problems
        row["ok"] = not row["problems"]
    return rows
