"""Checks of dedicated lines across devices, read from the rendered configs (a broken template is
caught, not only a wrong allocation): the S/C-VLAN pairs an OLT carries towards a PE are the
ones the PE's accesses on that link take; every access of one VPN has the same rates, at layer
2 the same VLAN and on a VPWS the same VC id with peers that are PEs of the line; no two sites of
one L3 VPN route overlapping prefixes; the committed rates on a PE fit its ports and uplink."""

from __future__ import annotations

from collections import defaultdict

import netaddr

from orchestrator.errors import Problem
from orchestrator.network.model import Network, rate_text

L2 = "urn:ietf:params:xml:ns:yang:ietf-l2vpn-ntw"
L3 = "urn:ietf:params:xml:ns:yang:ietf-l3vpn-ntw"
FIX = "the PE and OLT templates disagree; correct the one that is wrong"
FIX_PE = "the PE template renders the line's ends differently; correct it"


def _text(el, path: str, ns: str) -> str | None:
    return el.findtext(path.replace("{}", "{" + ns + "}"))


def _vlan(acc, ns: str):
    enc = "{}connection/{}encapsulation/"
    svlan = _text(acc, enc + "{}qinq/{}svlan-id", ns)
    if svlan is not None:
        return ("qinq", int(svlan), int(_text(acc, enc + "{}qinq/{}cvlan-id", ns)))
    cvlan = _text(acc, enc + "{}dot1q/{}cvlan-id", ns)
    return ("dot1q", int(cvlan)) if cvlan is not None else None


def _rates(acc, ns: str) -> tuple[int, int]:
    if ns == L2:
        bw = "{}service/{}svc-pe-to-ce-bandwidth/{}pe-to-ce-bandwidth/"
        return int(_text(acc, bw + "{}cir", ns) or 0), int(_text(acc, bw + "{}pir", ns) or 0)
    cir = int(_text(acc, "{}service/{}pe-to-ce-bandwidth", ns) or 0)
    return cir, cir


def _routing(acc, ns: str) -> dict:
    """What the lab needs to carry an access: its rates from the CE, its redundancy role (L2NM
    group precedence), and at layer 3 the PE's address on the PE-CE link and the LAN routes
    (prefix, next hop, preference)."""
    ip = "{}ip-connection/{}ipv4/"
    routes = [(_text(p, "{}lan", ns), _text(p, "{}next-hop", ns), int(_text(p, "{}preference", ns) or 0))
              for p in acc.iterfind(f".//{{{ns}}}cascaded-lan-prefixes/{{{ns}}}ipv4-lan-prefixes")]
    plen = _text(acc, ip + "{}prefix-length", ns)
    if ns == L2:
        bw = "{}service/{}svc-ce-to-pe-bandwidth/{}ce-to-pe-bandwidth/"
        rates_in = int(_text(acc, bw + "{}cir", ns) or 0), int(_text(acc, bw + "{}pir", ns) or 0)
    else:
        rates_in = (int(_text(acc, "{}service/{}ce-to-pe-bandwidth", ns) or 0),) * 2
    return {"rates_in": rates_in, "precedence": _text(acc, "{}group/{}precedence", ns) or "primary",
            "group": _text(acc, "{}group/{}group-id", ns) or "",
            "pe_ip": _text(acc, ip + "{}local-address", ns), "plen": int(plen) if plen else None, "routes": routes}


def facts(role: str, tree) -> list[dict]:
    """Per VPN node on a PE: its service, layer, router-id, pseudowire peers and accesses."""
    if role != "pe":
        return []
    out = []
    for ns, layer in ((L2, "l2"), (L3, "l3")):
        for svc in tree.iterfind(f".//{{{ns}}}vpn-services/{{{ns}}}vpn-service"):
            for node in svc.iterfind(f"{{{ns}}}vpn-nodes/{{{ns}}}vpn-node"):
                peers = [(_text(p, "{}peer-addr", ns), _text(p, "{}vc-id", ns)) for p in node.iterfind(
                    f"{{{ns}}}signaling-option/{{{ns}}}ldp-or-l2tp/{{{ns}}}pw-peer-list")]
                accesses = []
                for acc in node.iterfind(f"{{{ns}}}vpn-network-accesses/{{{ns}}}vpn-network-access"):
                    prefixes = [(_text(p, "{}lan", ns), _text(p, "{}lan-tag", ns)) for p in acc.iterfind(
                        f".//{{{ns}}}cascaded-lan-prefixes/{{{ns}}}ipv4-lan-prefixes")]
                    accesses.append({"id": _text(acc, "{}id", ns), "interface": _text(acc, "{}interface-id", ns),
                                     "vlan": _vlan(acc, ns), "rates": _rates(acc, ns), "prefixes": prefixes,
                                     **_routing(acc, ns)})
                out.append({"vpn": _text(svc, "{}vpn-id", ns), "layer": layer,
                            "router_id": _text(node, "{}router-id", ns), "peers": peers, "accesses": accesses,
                            "route_targets": sorted(t.text for t in svc.iterfind(f".//{{{ns}}}route-target"))})
    return out


def check(network: Network, device_facts: dict[str, dict]) -> list[Problem]:
    nodes = {d: f.get("dedicated", []) for d, f in device_facts.items() if f.get("dedicated")}
    if not nodes:
        return []
    return (_olt_links(network, device_facts, nodes) + _vpns(network, nodes) + _capacity(network, nodes))


def _olt_links(network, device_facts, nodes) -> list[Problem]:
    out = []
    for pe in network.edge.pes.values():
        for link in pe.olt_links.values():
            if link.olt not in device_facts or pe.name not in device_facts:
                continue
            olt = {pair: f"{link.olt} {itf}" for pair, itf in device_facts[link.olt]["vlans"]
                   .get(link.olt_interface, {}).items()}
            taken = {}
            for n in nodes.get(pe.name, []):
                for a in n["accesses"]:
                    if a["interface"] == link.pe_interface and a["vlan"] and a["vlan"][0] == "qinq":
                        taken[a["vlan"][1:]] = f"{n['vpn']} access {a['id']}"
            for pair in sorted(set(olt) - set(taken)):
                out.append(Problem(f"VLAN S{pair[0]}/C{pair[1]} is carried by {olt[pair]} towards {pe.name}, but no "
                                   f"access of {pe.name} {link.pe_interface} takes it",
                                   path=f"{link.olt}:{link.olt_interface}", fix=FIX))
            for pair in sorted(set(taken) - set(olt)):
                out.append(Problem(f"VLAN S{pair[0]}/C{pair[1]} is taken by {pe.name} {taken[pair]} on "
                                   f"{link.pe_interface}, but {link.olt} {link.olt_interface} does not carry it",
                                   path=f"{pe.name}:{link.pe_interface}", fix=FIX))
    return out


def _vpns(network, nodes) -> list[Problem]:
    out = []
    by_vpn: dict[tuple[str, str], list[tuple[str, dict]]] = defaultdict(list)
    for pe, ns in sorted(nodes.items()):
        for n in ns:
            by_vpn[(n["layer"], n["vpn"])].append((pe, n))
    router = {pe.router_id: pe.name for pe in network.edge.pes.values()}
    for (layer, vpn), members in sorted(by_vpn.items()):
        accesses = [(pe, a) for pe, n in members for a in n["accesses"]]
        first_pe, first = accesses[0] if accesses else (None, None)
        for pe, a in accesses[1:]:
            if a["rates"] != first["rates"]:
                out.append(Problem(f"VPN {vpn}: access {a['id']} on {pe} has CIR/PIR {_rates_text(a['rates'])} but "
                                   f"access {first['id']} on {first_pe} has {_rates_text(first['rates'])}",
                                   path=f"{pe}:{vpn}/{a['id']}", fix="every end of a line has the line's rates; " + FIX_PE))
        if layer == "l2":
            tagged = [(pe, a) for pe, a in accesses if a["vlan"] and a["vlan"][0] == "dot1q"]
            for pe, a in tagged[1:]:
                if a["vlan"] != tagged[0][1]["vlan"]:
                    out.append(Problem(f"VPN {vpn}: access {a['id']} on {pe} takes VLAN {a['vlan'][1]} but access "
                                       f"{tagged[0][1]['id']} on {tagged[0][0]} takes VLAN {tagged[0][1]['vlan'][1]}",
                                       path=f"{pe}:{vpn}/{a['id']}", fix="the ends of a layer 2 line carry one VLAN; "
                                                                         + FIX_PE))
            out += _pseudowires(vpn, members, router)
        else:
            out += _prefixes(vpn, accesses)
    return out


def _pseudowires(vpn, members, router) -> list[Problem]:
    out = []
    vcs = {pe: {vc for _, vc in n["peers"]} for pe, n in members if n["peers"]}
    seen = sorted(set().union(*vcs.values())) if vcs else []
    if len(seen) > 1:
        out.append(Problem(f"VPWS {vpn}: its PEs signal different VC ids ("
                           + ", ".join(f"{pe} {'/'.join(sorted(v))}" for pe, v in sorted(vcs.items())) + ")",
                           path=f"{vpn}", fix="both ends of a pseudowire use the line's VC id; " + FIX_PE))
    for pe, n in members:
        for addr, _ in n["peers"]:
            if router.get(addr) in (None, pe):
                out.append(Problem(f"VPWS {vpn}: {pe} signals a pseudowire to {addr}, which is "
                                   + ("its own router-id" if router.get(addr) == pe else "no PE's router-id"),
                                   path=f"{pe}:{vpn}", fix="a pseudowire peer is another PE of the line; " + FIX_PE))
    return out


def _prefixes(vpn, accesses) -> list[Problem]:
    out, seen = [], []
    for pe, a in accesses:
        for lan, site in a["prefixes"]:
            p = netaddr.IPNetwork(lan)
            for q, other, where in seen:
                if other != site and p.first <= q.last and q.first <= p.last:
                    out.append(Problem(f"L3VPN {vpn}: {lan} of site {site} ({pe}) overlaps {q} of site {other} "
                                       f"({where})", path=f"{pe}:{vpn}/{a['id']}",
                                       fix="one VPN routes each address to one site; check the template and the "
                                           "sites' prefixes"))
            seen.append((p, site, pe))
    return out


def _capacity(network, nodes) -> list[Problem]:
    out = []
    for pe, ns in sorted(nodes.items()):
        edge = network.edge.pes.get(pe)
        if edge is None:
            continue
        per_port: dict[str, int] = defaultdict(int)
        for n in ns:
            for a in n["accesses"]:
                per_port[a["interface"]] += a["rates"][0]
        total = sum(per_port.values())
        if total > edge.uplink_bps:
            out.append(Problem(f"{pe}: its accesses commit {rate_text(total)}, over its uplink capacity "
                               f"{rate_text(edge.uplink_bps)}", path=pe, fix="move lines to another PE or lower "
                                                                              "their CIR"))
        for itf, used in sorted(per_port.items()):
            port = edge.ports.get(itf)
            if port is not None and used > port.rate_bps:
                out.append(Problem(f"{pe} {itf}: its accesses commit {rate_text(used)}, over the port's "
                                   f"{rate_text(port.rate_bps)}", path=f"{pe}:{itf}",
                                   fix="move lines to another port or lower their CIR"))
    return out


def _rates_text(r: tuple[int, int]) -> str:
    return f"{rate_text(r[0])}/{rate_text(r[1])}"
