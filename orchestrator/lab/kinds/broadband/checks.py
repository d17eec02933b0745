"""Per BusinessBroadband line: the CPE takes the address its BNG's running config serves it (by
DHCP, or the static block the BNG's gateway sits in), which must be the planned one; it reaches
the server behind its BNG; iperf3 measures downstream and upstream between 0.93x and 1.0x of the
intent, and the rates the OLT shapes and the BNG polices (as the lab realized their running
configs) must be the intent's. Where an OLT or BNG holds the line but cannot carry it, the check
says why, naming the interface and leaf. A line out of service (removed or suspended;
`serving: false` in the manifest) is checked the other way round: its CPE gets no address by
DHCP and does not reach the server."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from orchestrator.lab.dataplane import recorded
from orchestrator.lab.measure import no_service, reach_and_measure, run, server_of

KIND = "BusinessBroadband"
UDHCPC_SCRIPT = Path(__file__).parents[2] / "udhcpc.sh"


def _dhcp(ns: str, tries: int = 5) -> tuple[str | None, str]:
    p = run(ns, ["udhcpc", "-i", "eth1", "-n", "-q", "-f", "-t", str(tries), "-T", "1", "-s", str(UDHCPC_SCRIPT)],
            timeout=tries + 15)
    got = run(ns, ["ip", "-4", "-o", "addr", "show", "dev", "eth1"]).stdout.split()
    addr = got[3].split("/")[0] if len(got) > 3 else None
    return addr, "dhcp" if p.returncode == 0 else f"dhcp failed: {p.stderr.strip()[-200:]}"


def _static(ns: str, gateway: ipaddress.IPv4Interface) -> str:
    """The customer's router on the block the gateway sits in: its first address that is not the gateway."""
    cpe = next(h for h in gateway.network.hosts() if h != gateway.ip)
    run(ns, ["ip", "addr", "add", f"{cpe}/{gateway.network.prefixlen}", "dev", "eth1"])
    run(ns, ["ip", "route", "replace", "default", "via", str(gateway.ip)])
    return str(cpe)


def _flush(ns: str) -> None:
    run(ns, ["ip", "addr", "flush", "dev", "eth1"])
    run(ns, ["ip", "route", "flush", "default"])


def _planned_gateway(r: dict) -> ipaddress.IPv4Interface:
    block = ipaddress.ip_network(r["address-block"])
    return ipaddress.ip_interface(f"{next(block.hosts())}/{block.prefixlen}")


def planned_address(r: dict) -> str:
    return r["dhcp-address"] if "dhcp-address" in r else str(list(ipaddress.ip_network(r["address-block"]).hosts())[1])


def _entry(rec: dict, **match) -> dict | None:
    return next((v for v in rec.get("config", {}).values() if all(v.get(k) == x for k, x in match.items())), None)


def cpe_address(ns: str, svc: str, r: dict, bng: dict) -> tuple[str | None, str, list[str]]:
    """The CPE's address from what the BNG's running config serves: (address, how, problems)."""
    _flush(ns)
    if "dhcp-address" in r:
        addr, how = _dhcp(ns)
        if not (addr and how == "dhcp") and _entry(bng, service_id=svc, dhcp_client=r["dhcp-address"]):
            # the BNG's running config serves this lease: a server slow to answer on a busy
            # machine (CI saw 5 discovers go unanswered) must not fail a good config, so ask once
            # more, for longer
            _flush(ns)
            addr, how = _dhcp(ns, tries=15)
        problems = [] if addr and how == "dhcp" else [f"the CPE got no address ({how})"]
    else:
        line = _entry(bng, service_id=svc)
        if line is None or not line.get("address"):
            return None, "static", [f"{r['bng']} serves no address block to this line"]
        gateway = ipaddress.ip_interface(line["address"])
        addr, how, problems = _static(ns, gateway), "static", []
    if addr and addr != planned_address(r):
        source = "by DHCP" if how == "dhcp" else f"static, in the block of {r['bng']}'s gateway {gateway}"
        problems.append(f"the CPE's address {addr} ({source}) is not the planned {planned_address(r)}")
    return addr, how, problems


def _path(r: dict, svc: str, olt: dict, bng: dict, rates: bool, row: dict) -> list[str]:
    """What the OLT and BNG make of the line, from their running configs as the lab realized them."""
    out = []
    # the ONU may carry other chains (its cameras'): the line's is the one with its S/C pair
    mine = _entry(olt, serial=r["onu-serial"], s=r["s-vlan"], c=r["c-vlan"])
    if r["onu-serial"] in olt.get("held", {}) and mine is None:
        out.append(f"{r['olt']} does not forward ONU {r['onu-serial']}: {olt['held'][r['onu-serial']]}")
    if svc in bng.get("held", {}):
        out.append(f"{r['bng']} does not serve this line: {bng['held'][svc]}")
    chains = [v for v in olt.get("config", {}).values() if v.get("serial") == r["onu-serial"]]
    # a single chain of the ONU that nothing holds back: the line's, on another pair
    o = mine or (chains[0] if len(chains) == 1 and r["onu-serial"] not in olt.get("held", {}) else None)
    b = _entry(bng, service_id=svc)
    if o is None and r["onu-serial"] not in olt.get("held", {}):
        out.append(f"{r['olt']}'s running config holds no line for ONU {r['onu-serial']}")
    if b is None and svc not in bng.get("held", {}):
        out.append(f"{r['bng']}'s running config holds no subscriber with service-id {svc}")
    if o and (o["s"], o["c"]) != (r["s-vlan"], r["c-vlan"]):
        out.append(f"{r['olt']} carries ONU {r['onu-serial']} as S{o['s']}/C{o['c']}, planned S{r['s-vlan']}/C{r['c-vlan']}")
    if b and "dhcp-address" in r and b.get("dhcp_client") != r["dhcp-address"]:
        out.append(f"{r['bng']}'s DHCP server hands out {b.get('dhcp_client') or 'nothing'} on this line, "
                   f"planned {r['dhcp-address']}")
    if b and (b["s"], b["c"]) != (r["s-vlan"], r["c-vlan"]):
        out.append(f"{r['bng']} terminates this line as S{b['s']}/C{b['c']}, planned S{r['s-vlan']}/C{r['c-vlan']}")
    if rates:
        for dev, e, how in ((r["olt"], o, "shapes"), (r["bng"], b, "polices")):
            for key, name in (("down_bps", "downstream"), ("up_bps", "upstream")):
                want = row[f"expected_{key.split('_')[0]}_bps"]
                if e and e[key] != want:
                    out.append(f"{dev} {how} {name} at {e[key] / 1e6:g} Mbit/s, the intent says {want / 1e6:g}")
    return out


def lines(m: dict, st: dict, only, rates: bool, port0: int, progress=None) -> list[dict]:
    cpes = {n["labels"].get("fullbars.service"): n for n in st["nodes"].values() if n["role"] == "cpe"}
    rows = []
    services = [(k, v) for k, v in sorted(m["services"].items()) if v.get("kind") == KIND and (not only or k in only)]
    for i, (svc, s) in enumerate(services, 1):
        r = s["resources"]
        row = {"service": svc, "expected_down_bps": r["downstream-bps"], "expected_up_bps": r["upstream-bps"],
               "problems": []}
        cpe = cpes.get(svc)
        server = server_of(st, r["bng"])
        if cpe is None or server is None:
            row["problems"].append("no CPE or server for this service in the lab")
        elif not s.get("serving", True):
            ns = cpe["netns"]
            _flush(ns)
            addr, how = _dhcp(ns) if "dhcp-address" in r else (_static(ns, _planned_gateway(r)), "static")
            row.update(address=addr, addressing=how)
            no_service(row, ns, server, "the CPE")
        else:
            olt, bng = recorded(st, r["olt"]) if r["olt"] in st["nodes"] else {}, recorded(st, r["bng"])
            addr, how, problems = cpe_address(cpe["netns"], svc, r, bng)
            row.update(address=addr, addressing=how)
            row["problems"] += problems
            if addr:
                reach_and_measure(row, cpe["netns"], server, port0 + i, rates, "the CPE")
            else:
                row["reachable"] = False  # without an address it reaches nothing (the problem says why)
            row["problems"] += _path(r, svc, olt, bng, rates, row)
        row["ok"] = not row["problems"]
        rows.append(row)
        if progress:
            progress("verify", i, len(services))
    return rows
