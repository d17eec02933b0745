"""The enterprise edge of the network description: PEs where dedicated lines are built, with the
accesses they offer (direct-fibre ports, OLTs whose PON ports reach them) and the ranges the
lines are allocated from."""

from __future__ import annotations

from dataclasses import dataclass, field

import netaddr

from orchestrator.errors import Problem
from orchestrator.netconf import NETCONF_PORT


@dataclass
class PePort:
    pe: str
    name: str
    rate_bps: int
    vlan: tuple[int, int]


@dataclass
class OltLink:
    """An OLT's port towards a PE: PON sites of lines cross it as S/C-VLAN pairs."""

    olt: str
    olt_interface: str
    pe: str
    pe_interface: str
    rate_bps: int
    s_vlan: tuple[int, int]


@dataclass
class Pe:
    name: str
    router_id: str
    uplink_bps: int
    ports: dict[str, PePort] = field(default_factory=dict)
    olt_links: dict[str, OltLink] = field(default_factory=dict)  # by OLT


@dataclass
class Platform:
    """A platform customers reach through a VPN of their own (cloud video)."""

    name: str
    prefix: str
    pe: str
    port: str


@dataclass
class EnterpriseEdge:
    asn: int
    pe_ce_links: str | None
    pe_ce_length: int
    pes: dict[str, Pe] = field(default_factory=dict)
    platforms: dict[str, Platform] = field(default_factory=dict)

    def olt_link(self, olt: str) -> OltLink | None:
        """The link by which an OLT's PON sites reach a PE (the first PE listing it)."""
        for pe in self.pes.values():
            if olt in pe.olt_links:
                return pe.olt_links[olt]
        return None


def build_edge(spec: dict, file: str, devices: dict, kind_role, problems: list[Problem],
               device_cls, bps) -> EnterpriseEdge:
    e = spec.get("enterprise-edge", {})
    edge = EnterpriseEdge(e.get("asn", 64512), e.get("pe-ce-links"), e.get("pe-ce-length", 30))
    if edge.pe_ce_links and netaddr.IPNetwork(edge.pe_ce_links).prefixlen > edge.pe_ce_length:
        problems.append(Problem(f"pe-ce-links {edge.pe_ce_links} is smaller than one /{edge.pe_ce_length} link",
                                file=file, path="spec.enterprise-edge.pe-ce-links", fix="give a larger prefix"))
    for p in e.get("pe", []):
        where = f"spec.enterprise-edge.pe[{p['name']}]"
        if p["name"] in devices:
            problems.append(Problem(f"device name {p['name']} is used twice", file=file, path=where,
                                    fix="give every device its own name"))
            continue
        m = p.get("management", {})
        devices[p["name"]] = device_cls(p["name"], p["kind"], kind_role(p["name"], p["kind"], "pe"),
                                        m.get("address"), m.get("port", NETCONF_PORT), site=p.get("site"))
        pe = edge.pes[p["name"]] = Pe(p["name"], p["router-id"], bps(p["uplink-capacity"]))
        for port in p.get("port", []):
            v = port.get("vlan", {})
            pe.ports[port["name"]] = PePort(p["name"], port["name"], bps(port["rate"]),
                                            (v.get("first", 2), v.get("last", 4094)))
        for link in p.get("olt-link", []):
            sv = link.get("s-vlan", {})
            pe.olt_links[link["olt"]] = OltLink(link["olt"], link["olt-interface"], p["name"], link["pe-interface"],
                                                bps(link["rate"]), (sv.get("first", 2001), sv.get("last", 2999)))
            if link["pe-interface"] in pe.ports:
                problems.append(Problem(f"PE {p['name']}: port {link['pe-interface']} is both a fibre port and the "
                                        f"link to OLT {link['olt']}", file=file, path=f"{where}.olt-link[{link['olt']}]",
                                        fix="give the OLT link a port of its own"))
    for p in e.get("platform", []):
        where = f"spec.enterprise-edge.platform[{p['name']}]"
        edge.platforms[p["name"]] = Platform(p["name"], p["prefix"], p["pe"], p["port"])
        if p["pe"] not in edge.pes:
            problems.append(Problem(f"platform {p['name']} is attached to {p['pe']}, which is no PE of the enterprise "
                                    "edge", file=file, path=f"{where}.pe", fix="PEs: " + (", ".join(edge.pes) or "none")))
        elif p["port"] not in edge.pes[p["pe"]].ports:
            problems.append(Problem(f"platform {p['name']}: PE {p['pe']} has no port {p['port']}", file=file,
                                    path=f"{where}.port", fix="list the port under the PE's port"))
    ids = {}
    for pe in edge.pes.values():
        if pe.router_id in ids:
            problems.append(Problem(f"PEs {ids[pe.router_id]} and {pe.name} have the same router-id {pe.router_id}",
                                    file=file, path=f"spec.enterprise-edge.pe[{pe.name}].router-id",
                                    fix="a router-id is the PE's own loopback address"))
        ids[pe.router_id] = pe.name
    return edge
