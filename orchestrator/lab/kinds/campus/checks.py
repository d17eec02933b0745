"""Campus 5G service checks in the lab, per slice: its UE attaches (registration and PDU session
played from the devices' running configs: orchestrator/lab/campus_ue.py), reaches every
application server of its slice, cannot reach any application it is not allowed (other slices',
other tenants'), and iperf3 measures its AMBR both ways between 0.93x and 1.0x.

The enterprise side is the customer's: its router address on the PE link and one server at the
first address of each application subnet are set up here, as the customer would."""

from __future__ import annotations

import ipaddress

from orchestrator.lab.campus_ue import RunningConfigs, attach
from orchestrator.lab.measure import measure, pings, reaches
from orchestrator.lab.measure import run as _run
from orchestrator.services.campus5g_attach import Refusal, Site


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
    running = RunningConfigs(st)  # read once per verify: what the devices run now
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
            out, how = attach(st, ue, r["plmn"], info["s-nssai"], info["dnn"],
                              Site(r["core"], r["upf"]), running)
            row.update(address=getattr(out, "address", None), addressing=how,
                       attach=out.steps if out is not None and not isinstance(out, Refusal) else how)
            if how != "attached":
                row["problems"].append(how)
                row.update(reachable=False, ok=False)
                continue  # a UE the network refused has nothing to reach
            ns = st["nodes"][ue]["netns"]
            allowed = [r["applications"][a] for a in info["applications"]]
            unreachable = [sub for sub in allowed if not reaches(ns, server(sub))]
            row["reachable"] = bool(allowed) and not unreachable
            for sub in unreachable:
                row["problems"].append(f"the UE cannot reach its application server {server(sub)} ({sub})")
            leaks = [f"{server(sub)} ({every_app[sub]})" for sub in sorted(every_app)
                     if sub not in allowed and pings(ns, server(sub), count=2)]
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
