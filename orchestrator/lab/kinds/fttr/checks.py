"""Per room of each FttrWifi service: the room's station associates with its room unit (wifi.py:
from the main unit's running config; a station that does not associate leaves the host's link
down), takes the address the plan gave the room in the line's static block (the main unit
bridges rooms onto the line) and is measured, one room at a time, against min(room rate, line
rate). Co-channel overlap with the main unit is a warning."""

from __future__ import annotations

import ipaddress

from lxml import etree

from orchestrator.lab.kinds.fttr.wifi import association, overlaps
from orchestrator.lab.measure import no_service, reach_and_measure, run, server_of, wanted
from orchestrator.lab.running import RunningSource

KIND = "FttrWifi"


def rooms(m: dict, st: dict, only, rates: bool, port0: int) -> list[dict]:
    hosts = {(n["labels"].get("fullbars.service"), n["labels"].get("fullbars.room")): n
             for n in st["nodes"].values() if n["role"] == "room"}
    rows = []
    for svc, s in sorted(m["services"].items()):
        if s.get("kind") != KIND or not wanted(only, svc):
            continue
        r = s["resources"]
        gateway = next(ipaddress.ip_network(r["address-block"]).hosts())
        server = server_of(st, r["bng"])
        running = _running(st, r["main-unit"])
        for room, rr in sorted(r["rooms"].items()):
            if not wanted(only, svc, room):
                continue
            row = {"service": f"{svc}/{room}",
                   "expected_down_bps": min(rr["downstream-bps"], r["line-downstream-bps"]),
                   "expected_up_bps": min(rr["upstream-bps"], r["line-upstream-bps"]), "problems": []}
            host = hosts.get((svc, room))
            if host is None or server is None:
                row["problems"].append("no room host or server for this room in the lab")
            elif "address" not in rr:
                row["problems"].append(f"the plan gives this room no address: line {r['line']} has DHCP "
                                       "addressing, whose rooms get none in the lab (or the plan predates "
                                       "room addresses: plan again)")
            else:
                ns = host["netns"]
                if s.get("serving", True):
                    _associate(row, ns, running, r, rr)
                run(ns, ["ip", "addr", "flush", "dev", "eth1"])
                run(ns, ["ip", "addr", "add", rr["address"], "dev", "eth1"])
                run(ns, ["ip", "route", "replace", "default", "via", str(gateway)])
                row.update(address=rr["address"].split("/")[0], addressing="static (line block)")
                if s.get("serving", True) and row.get("associated"):
                    reach_and_measure(row, ns, server, port0 + len(rows) + 1, rates, "the room's host")
                elif not s.get("serving", True):
                    no_service(row, ns, server, "the room's host")
            row["ok"] = not row["problems"]
            rows.append(row)
    return rows


def _running(st: dict, unit: str):
    """The main unit's running config as its agent holds it (None when it cannot be read)."""
    if unit not in st["nodes"]:
        return None
    src = RunningSource(st, unit)
    try:
        data = src.read()
    finally:
        src.close()
    return etree.fromstring(data) if data else None


def _associate(row: dict, ns: str, running, r: dict, rr: dict) -> None:
    """The station tries to associate; the host's link is up only when it does."""
    why = ["the main unit's running config cannot be read"] if running is None else \
        association(running, r["main-unit"], rr["serial"], r.get("ssids", {}))
    row["associated"] = not why
    row["problems"] += [f"the room's station does not associate: {w}" for w in why]
    if running is not None:
        row.setdefault("warnings", []).extend(overlaps(running, rr["serial"]))
    run(ns, ["ip", "link", "set", "eth1", "up" if not why else "down"])
