"""Campus 5G service checks in the lab, per slice: its UE attaches (an address from the slice's
UE pool, as the SMF would give it, routed by the gNB over the radio leg), reaches every
application server of its slice, cannot reach any application it is not allowed (other slices',
other tenants'), and iperf3 measures its AMBR both ways between 0.93x and 1.0x.

The enterprise side is the customer's: its router address on the PE link and one server at the
first address of each application subnet are set up here, as the customer would."""

from __future__ import annotations

import ipaddress

from orchestrator.lab.measure import measure
from orchestrator.lab.measure import run as _run


def _peer(st: dict, node: str) -> tuple[str, str, str, str] | None:
    """(peer node, peer port, peer address, own address) of a host's one data link."""
    for ln in st["links"]:
        for me, other in ((ln["a"], ln["b"]), (ln["b"], ln["a"])):
            if me[0] == node:
                addr = ln.get("addr", {})
                return other[0], other[1], addr.get(other[0], "/").split("/")[0], addr.get(node, "/").split("/")[0]
    return None


def server(subnet: str) -> str:
    return str(next(ipaddress.ip_network(subnet).hosts()))


def _enterprise(st: dict, node: str, r: dict) -> None:
    ns = st["nodes"][node]["netns"]
    b = r["breakout"]
    _run(ns, ["ip", "link", "set", "lo", "up"])
    _run(ns, ["ip", "addr", "replace", f"{b['enterprise-address']}/30", "dev", "eth1"])
    for subnet in r["applications"].values():
        _run(ns, ["ip", "addr", "replace", f"{server(subnet)}/32", "dev", "lo"])
    _run(ns, ["ip", "route", "replace", "default", "via", b["pe-address"]])


def _attach(st: dict, node: str, pool: str) -> tuple[str | None, str]:
    """The UE takes the first address of its pool; the gNB routes it down the UE's radio leg."""
    link = _peer(st, node)
    if link is None:
        return None, "the UE has no radio link"
    gnb, _, gnb_ip, ue_leg_ip = link
    ue_ip = str(next(ipaddress.ip_network(pool).hosts()))
    ns, gns = st["nodes"][node]["netns"], st["nodes"][gnb]["netns"]
    _run(ns, ["ip", "addr", "replace", f"{ue_ip}/32", "dev", "eth1"])
    _run(ns, ["ip", "route", "replace", "default", "via", gnb_ip, "src", ue_ip])
    p = _run(gns, ["ip", "route", "replace", f"{ue_ip}/32", "via", ue_leg_ip])
    return ue_ip, "attached" if p.returncode == 0 else f"attach failed: {p.stderr.strip()}"


def _ping(ns: str, ip: str) -> bool:
    return _run(ns, ["ping", "-c", "2", "-i", "0.2", "-W", "1", ip]).returncode == 0


def verify(m: dict, st: dict, rates: bool = True, only: list[str] | None = None, port0: int = 15400) -> list[dict]:
    campus = [(k, v) for k, v in sorted(m["services"].items()) if v.get("kind") == "Campus5G" and (not only or k in only)]
    ues = {(n["labels"].get("fullbars.service"), n["labels"].get("fullbars.slice")): name
           for name, n in st["nodes"].items() if n["role"] == "ue"}
    lans = {n["labels"].get("fullbars.service"): name for name, n in st["nodes"].items() if n["role"] == "enterprise"}
    # Every LAN first: isolation is only proven against servers that are there to answer.
    for svc, s in sorted(m["services"].items()):
        if s.get("kind") == "Campus5G" and svc in lans:
            _enterprise(st, lans[svc], s["resources"])
    every_app = {sub: f"{svc}/{name}" for svc, s in sorted(m["services"].items()) if s.get("kind") == "Campus5G"
                 and svc in lans for name, sub in s["resources"]["applications"].items()}
    rows = []
    port = port0
    for svc, s in campus:
        r = s["resources"]
        for sl, info in sorted(r["slices"].items()):
            row = {"service": f"{svc}/{sl}", "expected_down_bps": info["downlink-bps"],
                   "expected_up_bps": info["uplink-bps"], "problems": []}
            rows.append(row)
            ue, lan = ues.get((svc, sl)), lans.get(svc)
            if ue is None or lan is None:
                row["problems"].append("no UE or enterprise LAN for this slice in the lab")
                row["ok"] = False
                continue
            addr, how = _attach(st, ue, info["ue-pool"])
            row.update(address=addr, addressing=how)
            if how != "attached":
                row["problems"].append(how)
            ns = st["nodes"][ue]["netns"]
            allowed = [r["applications"][a] for a in info["applications"]]
            unreachable = [sub for sub in allowed if not _ping(ns, server(sub))]
            row["reachable"] = bool(allowed) and not unreachable
            for sub in unreachable:
                row["problems"].append(f"the UE cannot reach its application server {server(sub)} ({sub})")
            leaks = [f"{server(sub)} ({every_app[sub]})" for sub in sorted(every_app)
                     if sub not in allowed and _ping(ns, server(sub))]
            row["isolated"] = not leaks
            for leak in leaks:
                row["problems"].append(f"isolation broken: the UE reaches {leak}")
            if rates and allowed and not unreachable:
                lan_ns, target = st["nodes"][lan]["netns"], server(allowed[0])
                port += 1
                measure(row, ns, lan_ns, target, port, ("downlink AMBR", info["downlink-bps"]),
                        ("uplink AMBR", info["uplink-bps"]))
            row["ok"] = not row["problems"]
    return rows
