"""The part of a plan's lab that dedicated lines need: a core link between every two PEs of the
lines (the provider's backbone, which the lab does not configure: each PE's VPNs ride VXLANs
over it), the link from each OLT to its PE that PON sites use, and per site a CE: behind the
ONU's leg of the OLT (a PON site) or on the PE's fibre port (a fibre site's primary access; at
layer 2 its protection fibre to a second PE is the CE's second uplink, at layer 3 it stays out).
A port or uplink whose name the lab cannot use as an interface name ("ge-0/0/1") becomes one
(`lab/ifnames.port_if`), and the planes find it by the same rule."""

from __future__ import annotations

import hashlib
import re

from orchestrator.lab.ifnames import port_if, short
from orchestrator.lab.kinds.broadband.plane import ONU_LABEL

KIND = "DedicatedLine"
CE_PON, CE_FIBRE = "ce", "ce-fibre"  # a fibre CE's link carries VXLANs (its VLAN): it is addressed
SITE_LABEL = "fullbars.site"
PROTECTION_IF = "eth2"  # a protected site's CE: its uplink to the protection PE
FIBRE_PORT0 = 20000  # a fibre access's VLAN rides a VXLAN on UDP port FIBRE_PORT0 + the link's index


def stable_mac(key: str) -> str:
    """A locally administered MAC of its own for a device made again and again under this key:
    its neighbours' ARP entries stay right."""
    return "02:" + ":".join(hashlib.sha1(key.encode()).hexdigest()[i:i + 2] for i in range(0, 10, 2))


def core_if(peer: str) -> str:
    name = f"core-{peer}"
    return name if len(name) <= 15 and re.fullmatch(r"[A-Za-z0-9_.-]+", name) else short("core", peer)


def ce_name(service: str, site: str) -> str:
    return f"ce-{service}-{site}"


def link_of(lab: dict, node: str, ifname: str) -> tuple[int, dict] | None:
    """(index, entry) of the lab link on node:ifname."""
    for i, ln in enumerate(lab["links"]):
        if [node, ifname] in (list(ln["a"]), list(ln["b"])):
            return i, ln
    return None


def add(manifest: dict, nodes: dict, links: list, hosts: bool) -> None:
    lines = [(svc, s) for svc, s in sorted(manifest["services"].items()) if s.get("kind") == KIND]
    used = {e for ln in links for e in ln["endpoints"]}

    def link(a: str, b: str) -> bool:
        if a in used or b in used:  # a port carries one link (a second site on it has no CE)
            return False
        used.update((a, b))
        links.append({"endpoints": [a, b]})
        return True

    pes = sorted({pe for _, s in lines for pe in s["resources"].get("pes", []) if pe in nodes})
    for i, a in enumerate(pes):
        for b in pes[i + 1:]:
            link(f"{a}:{core_if(b)}", f"{b}:{core_if(a)}")
    legs: dict[str, int] = {}
    standby: list[tuple[str, str]] = []
    for svc, s in lines:
        for site, r in sorted(s["resources"]["sites"].items()):
            pon = r.get("access") == "pon"
            if pon and r.get("olt") in nodes and r.get("pe") in nodes and r.get("olt-interface"):
                olt_end = f"{r['olt']}:{port_if(r['olt-interface'])}"
                if olt_end not in used:
                    link(olt_end, f"{r['pe']}:{port_if(r['pe-interface'])}")
            if not hosts or (r.get("olt") if pon else r.get("pe")) not in nodes:
                continue
            ce = ce_name(svc, site)
            labels = {"fullbars.kind": "host", "fullbars.role": CE_PON if pon else CE_FIBRE,
                      "fullbars.service": svc, SITE_LABEL: site}
            if pon:
                labels[ONU_LABEL] = r["onu-serial"]
                legs[r["olt"]] = legs.get(r["olt"], 0) + 1
                attach = f"{r['olt']}:dl{legs[r['olt']]}"
            else:
                attach = f"{r['pe']}:{port_if(r['port'])}"
            if not link(attach, f"{ce}:eth1"):
                continue  # its port is another site's: no CE the lab could reach
            nodes[ce] = {"kind": "linux", "image": "fullbars/host:latest", "labels": labels}
            if r.get("protection-pe") in nodes and s["resources"].get("layer") == "l2":
                standby.append((f"{r['protection-pe']}:{port_if(r['protection-port'])}", f"{ce}:{PROTECTION_IF}"))
    for a, b in standby:  # after every primary: a protection fibre never takes a site's own port
        link(a, b)
