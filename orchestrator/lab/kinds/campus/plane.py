"""What a campus node's committed config means for its namespace's data plane.

The lab has no GTP in the kernel: the user plane UE → gNB → UPF → PE → enterprise LAN is plain
routed veths, and the config decides every hop:
* every node: the ietf-ip addresses of its ports, and its ietf-routing static routes;
* gNB: uplink traffic goes to the address its CU-UP's EP_NgU names (the UPF's N3 end);
* UPF: per DNN (fullbars-upf-dnn), traffic from the UE pool is looked up in a table of its own
  that holds only the DNN's applications, routed to the remote address of the N6 end point the
  DNN names, and nothing else (isolation between slices and tenants); htb shapes each DNN's
  traffic to its AMBR: downlink on the N3 ports (by destination pool), uplink on the N6 port
  (by source pool);
* PE: its routes send the UE pools to the UPF and the enterprise subnets to the enterprise.
So a wrong S-NSSAI-to-pool or a wrong next hop in a template gives no reachability, a wrong
application list a broken isolation, a wrong AMBR a wrong measurement.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from orchestrator.lab import netns
from orchestrator.services.campus5g_checks import NS, gnb_facts, l3nm_addresses, static_routes, upf_facts
from orchestrator.plan.crosscheck import NS as IF_NS

TABLE0 = 100  # first routing table of a DNN on the UPF
RULE0 = 1000  # priority of its rule
UNSHAPED = 10**10  # the htb default class: traffic no DNN claims


@dataclass(frozen=True)
class Plane:
    """Everything one config asks of the data plane, comparable to what was applied last."""

    addresses: tuple  # (ifname, address/plen)
    routes: tuple  # (prefix, next hop)
    default: str | None = None
    dnns: tuple = field(default=())  # (name, pool, (applications), n6 next hop, down, up)
    n3: tuple = ()  # N3 port names (downlink shaping)
    n6: tuple = ()  # N6 port names (uplink shaping)


def addresses(root) -> tuple:
    out = []
    for itf in root.iterfind(".//if:interfaces/if:interface", IF_NS):
        name = itf.findtext("if:name", namespaces=IF_NS)
        for a in itf.iterfind("ip:ipv4/ip:address", IF_NS):
            out.append((name, f"{a.findtext('ip:ip', namespaces=IF_NS)}/{a.findtext('ip:prefix-length', namespaces=IF_NS)}"))
    return tuple(sorted(set(out) | set(l3nm_addresses(root))))


def plane(role: str, root) -> Plane:
    addrs = addresses(root)
    routes = tuple(sorted(static_routes(root).items()))
    if role == "gnb":
        ngu = gnb_facts(root)["ngu"]
        return Plane(addrs, routes, default=next(iter(sorted(ngu.values())), (None, None))[1])
    if role == "upf":
        f = upf_facts(root)
        dnns = []
        for name, d in sorted(f["dnn"].items()):
            remote = next((r for loc, r in f["n6"].values() if loc == d["n6"]), None)
            el = root.find(f".//{{{NS['fbu']}}}dnn[{{{NS['fbu']}}}name='{name}']")
            down = int(el.findtext("fbu:ambr/fbu:downlink", namespaces=NS) or 0)
            up = int(el.findtext("fbu:ambr/fbu:uplink", namespaces=NS) or 0)
            dnns.append((name, d["pool"], tuple(d["applications"]), remote, down, up))
        by_addr = {a.split("/")[0]: i for i, a in addrs}
        n3 = tuple(sorted({by_addr[loc] for loc, _ in f["n3"].values() if loc in by_addr}))
        n6 = tuple(sorted({by_addr[loc] for loc, _ in f["n6"].values() if loc in by_addr}))
        return Plane(addrs, routes, dnns=tuple(dnns), n3=n3, n6=n6)
    return Plane(addrs, routes)


def _ip(ns: str, *args: str, check: bool = True):
    return netns._ip("-n", ns, *args, check=check)


def _tc(ns: str, *args: str, check: bool = True):
    return netns.netns_exec(ns, ["tc", *args], check=check, capture_output=True)


def _links(ns: str) -> set[str]:
    out = netns.netns_exec(ns, ["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}


class CampusPlane:
    """Applies one campus node's plane; undoes exactly what it did before applying a new one.

    A port the config names but the lab lacks (the UPF's N3 port towards a gNB that is no device
    of the plan: one without cells, or another tenant's when the plan holds only some tenants)
    carries nothing here: it and the routes through it are reported and left alone. Every command
    that fails is a failure: (what, its error)."""

    def __init__(self, ns: str):
        self.ns = ns
        self.applied: Plane | None = None

    def apply(self, role: str, root) -> tuple[dict, list[tuple[str, str]]]:
        want = plane(role, root)
        if want == self.applied:
            return {"plane": "unchanged"}, []
        if self.applied is not None:
            self._undo(self.applied)
        self.failures: list[tuple[str, str]] = []
        report = self._do(want)
        self.applied = want
        return report, self.failures

    def _run(self, *argv: str) -> bool:
        r = netns.netns_exec(self.ns, list(argv), capture_output=True, text=True)
        if r.returncode != 0:
            self.failures.append((" ".join(argv), r.stderr.strip() or f"exit {r.returncode}"))
        return r.returncode == 0

    def _do(self, p: Plane) -> dict:
        ports = _links(self.ns)
        report: dict[str, str] = {}
        unwired = [(ipaddress.ip_interface(addr).network, ifname) for ifname, addr in p.addresses if ifname not in ports]

        def behind_unwired(nh: str) -> str | None:
            """The port the lab lacks that a next hop would be reached through."""
            return next((i for net, i in unwired if ipaddress.ip_address(nh) in net), None)

        for ifname, addr in p.addresses:
            if ifname not in ports:
                report[f"address {addr}"] = f"not in this lab: no port {ifname}"
                continue
            ok = self._run("ip", "addr", "replace", addr, "dev", ifname)
            report[f"address {addr}"] = ifname if ok else "failed"
        for prefix, nh in p.routes:
            if behind_unwired(nh):  # another tenant's gNB that a lab of this plan leaves out
                report[f"route {prefix}"] = f"not in this lab: via {nh} on port {behind_unwired(nh)}"
                continue
            ok = self._run("ip", "route", "replace", prefix, "via", nh)
            report[f"route {prefix}"] = f"via {nh}" if ok else "failed"
        if p.default:
            ok = self._run("ip", "route", "replace", "default", "via", p.default)
            report["uplink"] = f"via {p.default}" if ok else "failed"
        for i, (name, pool, apps, remote, down, up) in enumerate(p.dnns):
            table = str(TABLE0 + i)
            for a in apps:
                if remote:
                    self._run("ip", "route", "replace", a, "via", remote, "table", table)
            self._run("ip", "route", "replace", "unreachable", "default", "table", table)
            # a watcher started again (lab up after a crash) finds its predecessor's rule there
            _ip(self.ns, "rule", "del", "priority", str(RULE0 + i), check=False)
            self._run("ip", "rule", "add", "from", pool, "lookup", table, "priority", str(RULE0 + i))
            report[f"dnn {name}"] = f"{pool} reaches {', '.join(apps) or 'nothing'} via {remote}"
        if p.dnns:
            for dev in sorted(set(p.n3 + p.n6) - ports):
                report[f"shaping {dev}"] = f"not in this lab: no port {dev}"
            self._shape([d for d in p.n3 if d in ports], [(pool, down) for _, pool, _, _, down, _ in p.dnns], "dst")
            self._shape([d for d in p.n6 if d in ports], [(pool, up) for _, pool, _, _, _, up in p.dnns], "src")
        return report

    def _shape(self, ports, classes, direction: str) -> None:
        for dev in ports:
            self._run("tc", "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default", "2")
            self._run("tc", "class", "replace", "dev", dev, "parent", "1:", "classid", "1:2", "htb",
                      "rate", f"{UNSHAPED}bit")
            for i, (pool, bps) in enumerate(classes):
                burst = str(max(bps // 800, 32000))  # 10 ms, at least 32 kB: TCP keeps the rate
                cid = f"1:{10 + i}"
                self._run("tc", "class", "replace", "dev", dev, "parent", "1:", "classid", cid, "htb",
                          "rate", f"{bps}bit", "ceil", f"{bps}bit", "burst", burst, "cburst", burst)
                self._run("tc", "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                          "match", "ip", direction, pool, "flowid", cid)

    def _undo(self, p: Plane) -> None:
        for i, (_, pool, _, _, _, _) in enumerate(p.dnns):
            _ip(self.ns, "rule", "del", "priority", str(RULE0 + i), check=False)
            _ip(self.ns, "route", "flush", "table", str(TABLE0 + i), check=False)
        for dev in p.n3 + p.n6:
            _tc(self.ns, "qdisc", "del", "dev", dev, "root", check=False)
        if p.default:
            _ip(self.ns, "route", "del", "default", "via", p.default, check=False)
        for prefix, nh in p.routes:
            _ip(self.ns, "route", "del", prefix, "via", nh, check=False)
        for ifname, addr in p.addresses:
            _ip(self.ns, "addr", "del", addr, "dev", ifname, check=False)
