"""Per BusinessBroadband line: the CPE gets its address (DHCP or static), reaches the server
behind its BNG, and iperf3 measures downstream and upstream between 0.93x and 1.0x of the
intent. A line out of service (removed or suspended; `serving: false` in the manifest) is
checked the other way round: its CPE gets no address by DHCP and does not reach the server."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from orchestrator.lab.measure import no_service, reach_and_measure, run, server_of

KIND = "BusinessBroadband"
UDHCPC_SCRIPT = Path(__file__).parents[2] / "udhcpc.sh"


def _address(ns: str, r: dict) -> tuple[str | None, str]:
    """Give the CPE its address the way the service says; return (address, how)."""
    run(ns, ["ip", "addr", "flush", "dev", "eth1"])
    run(ns, ["ip", "route", "flush", "default"])
    if "dhcp-address" in r:
        p = run(ns, ["udhcpc", "-i", "eth1", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s", str(UDHCPC_SCRIPT)],
                timeout=20)
        got = run(ns, ["ip", "-4", "-o", "addr", "show", "dev", "eth1"]).stdout.split()
        addr = got[3].split("/")[0] if len(got) > 3 else None
        return addr, "dhcp" if p.returncode == 0 else f"dhcp failed: {p.stderr.strip()[-200:]}"
    block = ipaddress.ip_network(r["address-block"])
    hosts = list(block.hosts())
    run(ns, ["ip", "addr", "add", f"{hosts[1]}/{block.prefixlen}", "dev", "eth1"])
    run(ns, ["ip", "route", "replace", "default", "via", str(hosts[0])])
    return str(hosts[1]), "static"


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
            addr, how = _address(cpe["netns"], r)
            row.update(address=addr, addressing=how)
            no_service(row, cpe["netns"], server, "the CPE")
        else:
            addr, how = _address(cpe["netns"], r)
            row.update(address=addr, addressing=how)
            if addr is None or how.startswith("dhcp failed"):
                row["problems"].append(f"the CPE got no address ({how})")
            reach_and_measure(row, cpe["netns"], server, port0 + i, rates, "the CPE")
        row["ok"] = not row["problems"]
        rows.append(row)
        if progress:
            progress("verify", i, len(services))
    return rows
