"""The accesses of dedicated lines: their VLANs, customer prefixes and ONU serials, and the
capacity a line's committed rate needs on fibre ports, OLT links, PON ports and PE uplinks."""

from __future__ import annotations

from collections import defaultdict

import netaddr

from orchestrator.errors import FullbarsError, Problem, some
from orchestrator.network.model import bps, rate_text
from orchestrator.services.business_broadband import BusinessBroadband

KIND = "DedicatedLine"
NOT_UNICAST = [netaddr.IPNetwork(p) for p in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3")]


def legs(spec: dict):
    """(site index, site, role, fibre leg) of every fibre access of a line, backups included."""
    for i, s in enumerate(spec.get("site", [])):
        if "fibre" in s:
            yield i, s, "primary", s["fibre"]
            if "protection" in s:
                yield i, s, "backup", s["protection"]


def one_port_each(intent) -> list[Problem]:
    """Each fibre access of a line on a port of its own: two sites behind one PE port are one
    place, not two, and a layer 2 line (its sites share one VLAN) would need that VLAN twice there."""
    out, held = [], {}
    for i, s, role, leg in legs(intent.spec):
        where = f"spec.site[{i}].{'fibre' if role == 'primary' else 'protection'}"
        first = held.setdefault((leg["pe"], leg["port"]), (s["name"], role))
        if first != (s["name"], role):
            other = f"site {first[0]}" + ("'s protection" if first[1] == "backup" else "")
            out.append(Problem(f"site {s['name']}{' (its protection)' if role == 'backup' else ''} is on PE {leg['pe']} "
                               f"port {leg['port']}, as {other} is: each access of a line needs a port of its own",
                               **intent.where(f"{where}.port"), fix=f"give site {s['name']} another port of "
                                                                    f"{leg['pe']} (or of another PE)"))
    return out


def missing(intent, net) -> None:
    """A stored line is not checked again: the network description may have lost what it uses."""
    edge = net.edge
    for i, s in enumerate(intent.spec["site"]):
        for where, leg in ((f"spec.site[{i}].fibre", s.get("fibre")), (f"spec.site[{i}].protection", s.get("protection"))):
            if leg and (leg["pe"] not in edge.pes or leg["port"] not in edge.pes[leg["pe"]].ports):
                _gone(intent, net, where, f"PE {leg['pe']} port {leg['port']}")
        if "pon" in s:
            olt = net.devices.get(s["pon"]["olt"])
            if olt is None or olt.role != "olt" or edge.olt_link(olt.name) is None or \
                    (s["pon"].get("pon-port") and s["pon"]["pon-port"] not in olt.pon_ports):
                _gone(intent, net, f"spec.site[{i}].pon", f"OLT {s['pon']['olt']} (with its PON port and PE link)")


def _gone(intent, net, where: str, what: str):
    raise FullbarsError(Problem(f"{intent.kind} {intent.name} uses {what}, which the network description {net.file} "
                                "does not have", **intent.where(where),
                                fix="keep it in the network description, or change or delete the service"))


def _cir(spec: dict) -> int:
    return bps(spec["rates"]["cir"])


def _others(intent, ctx):
    return [it for n, it in sorted(ctx.intents.items()) if it.kind == KIND and n != intent.name]


def vlans_agree(intent) -> list[Problem]:
    """At layer 2 the sites exchange the customer's frames as they are: every end carries one VLAN."""
    spec = intent.spec
    if spec["layer"] != "l2":
        return []
    given = [(i, s) for i, s in enumerate(spec["site"]) if "vlan" in s]
    out = []
    for i, s in given[1:]:
        j, first = given[0]
        if s["vlan"] != first["vlan"]:
            what = "the two ends of a VPWS" if spec["topology"] == "point-to-point" else "every end of a layer 2 line"
            out.append(Problem(f"site {s['name']} has VLAN {s['vlan']} but site {first['name']} has VLAN "
                               f"{first['vlan']}: {what} must carry the same VLAN",
                               **intent.where(f"spec.site[{i}].vlan"),
                               fix=f"give VLAN {first['vlan']} at every site, or leave vlan out to have one allocated"))
    return out


def prefixes(intent, edge) -> list[Problem]:
    """An L3 line is one VPN (one VRF): each of its prefixes must lead to one site. Other
    enterprises' VPNs are separate tables, so their prefixes may be the same."""
    spec = intent.spec
    if spec["layer"] != "l3":
        return []
    if not edge.pe_ce_links:
        return [Problem("the enterprise edge has no pe-ce-links range for the PE-CE links of a layer 3 line",
                        **intent.where("spec.layer"), fix="add pe-ce-links (for example 100.64.0.0/22) under "
                                                          "enterprise-edge in the network description")]
    out, seen = [], []
    links = netaddr.IPNetwork(edge.pe_ce_links)
    for i, s in enumerate(spec["site"]):
        for k, text in enumerate(s.get("prefix", [])):
            where = intent.where(f"spec.site[{i}].prefix[{k}]")
            p = netaddr.IPNetwork(text)
            if p.ip != p.network:
                out.append(Problem(f"site {s['name']}: prefix {text} has host bits set", **where,
                                   fix=f"did you mean {p.cidr}? A prefix names its first address"))
            if any(overlap(p, bad) for bad in NOT_UNICAST):
                out.append(Problem(f"site {s['name']}: prefix {text} is not a unicast range a site can use", **where,
                                   fix="give the site's LAN prefix (private ranges such as 10.0.0.0/8 are fine)"))
            if overlap(p, links):
                out.append(Problem(f"site {s['name']}: prefix {text} overlaps the PE-CE links {edge.pe_ce_links}",
                                   **where, fix="the site's LANs must not use the carrier's link range"))
            for other, q, qtext in seen:
                if overlap(p, q):
                    out.append(Problem(f"prefix {text} of site {s['name']} overlaps {qtext} of site {other}: one "
                                       "layer 3 VPN routes each address to one site", **where,
                                       fix="give each site its own addresses (another enterprise may use the "
                                           "same ones: its VPN is another table)"))
            seen.append((s["name"], p.cidr, text))
    return out


def serials(intent, ctx) -> list[Problem]:
    """An ONU serial belongs to one access, whatever service expects it."""
    owner = {}
    for n, it in sorted(ctx.intents.items()):
        if n == intent.name:
            continue
        serial = (it.spec.get("onu") or {}).get("serial")
        if serial:
            owner[serial.upper()] = n
        if it.kind == KIND:
            for s in it.spec.get("site", []):
                if "pon" in s:
                    owner[s["pon"]["onu-serial"].upper()] = n
    out = []
    for i, s in enumerate(intent.spec["site"]):
        if "pon" not in s:
            continue
        serial = s["pon"]["onu-serial"]
        if serial.upper() in owner:
            out.append(Problem(f"ONU serial {serial} of site {s['name']} is already used by {owner[serial.upper()]}",
                               **intent.where(f"spec.site[{i}].pon.onu-serial"),
                               fix="check the serial on the ONU's label"))
        owner[serial.upper()] = f"site {s['name']} of this line"
    return out


def capacity(intent, ctx, cir: int, pir: int) -> list[Problem]:
    """The committed rate must fit every access it crosses, with what other lines commit there:
    the fibre port, the OLT's link to the PE and the PE's uplink (a backup access counts, since
    it carries the line when the primary fails). The PON port is checked when the ONU is placed."""
    net, spec = ctx.network, intent.spec
    edge = net.edge
    port_load, pe_load, link_load = defaultdict(int), defaultdict(int), defaultdict(int)
    for it in _others(intent, ctx):
        try:
            c = _cir(it.spec)
        except (KeyError, ValueError):
            continue
        for _, _, _, leg in legs(it.spec):
            port_load[(leg["pe"], leg["port"])] += c
            pe_load[leg["pe"]] += c
        for s in it.spec.get("site", []):
            link = edge.olt_link(s["pon"]["olt"]) if "pon" in s else None
            if link is not None:
                link_load[link.olt] += c
                pe_load[link.pe] += c
    out, where = [], intent.where("spec.rates.cir")
    for i, s, role, leg in legs(spec):
        port = edge.pes[leg["pe"]].ports[leg["port"]]
        used = port_load[(port.pe, port.name)]
        port_load[(port.pe, port.name)] += cir
        pe_load[port.pe] += cir
        if pir > port.rate_bps and cir <= port.rate_bps:
            out.append(Problem(f"PIR {rate_text(pir)} is more than PE {port.pe} port {port.name} carries "
                               f"({rate_text(port.rate_bps)}; site {s['name']})", **intent.where("spec.rates.pir"),
                               fix=f"ask for a PIR of at most {rate_text(port.rate_bps)}"))
        if used + cir > port.rate_bps:
            out.append(Problem(f"CIR {rate_text(cir)} does not fit PE {port.pe} port {port.name} "
                               f"({rate_text(port.rate_bps)}; site {s['name']}"
                               + (f", {role}" if role != "primary" else "") + ")"
                               + (f": other lines commit {rate_text(used)} there" if used else ""), **where,
                               fix=f"ask for a CIR of at most {rate_text(port.rate_bps - used)}, or use a faster port"))
    for i, s in enumerate(spec["site"]):
        if "pon" not in s:
            continue
        link = edge.olt_link(s["pon"]["olt"])
        used = link_load[link.olt]
        link_load[link.olt] += cir
        pe_load[link.pe] += cir
        if used + cir > link.rate_bps:
            out.append(Problem(f"CIR {rate_text(cir)} does not fit the link of OLT {link.olt} to PE {link.pe} "
                               f"({rate_text(link.rate_bps)}; site {s['name']})"
                               + (f": other lines commit {rate_text(used)} there" if used else ""), **where,
                               fix=f"ask for a CIR of at most {rate_text(link.rate_bps - used)}, or reach the site "
                                   "by fibre"))
        out += _pon_line_rate(intent, ctx, i, s, cir, pir)
    for pe, load in sorted(pe_load.items()):
        if pe in edge.pes and load > edge.pes[pe].uplink_bps and _touches(spec, pe, edge):
            out.append(Problem(f"the lines on PE {pe} would commit {rate_text(load)}, over its uplink capacity "
                               f"{rate_text(edge.pes[pe].uplink_bps)}", **where,
                               fix="lower the CIR, or place the sites on another PE"))
    return out


def _touches(spec: dict, pe: str, edge) -> bool:
    return any(leg["pe"] == pe for *_, leg in legs(spec)) or any(
        "pon" in s and edge.olt_link(s["pon"]["olt"]).pe == pe for s in spec["site"])


def _pon_line_rate(intent, ctx, i: int, s: dict, cir: int, pir: int) -> list[Problem]:
    olt = ctx.network.devices[s["pon"]["olt"]]
    ports = [olt.pon_ports[s["pon"]["pon-port"]]] if s["pon"].get("pon-port") else list(olt.pon_ports.values())
    if not ports:
        return [Problem(f"OLT {olt.name} has no PON port", **intent.where(f"spec.site[{i}].pon"),
                        fix="reach the site by fibre, or give the OLT PON ports")]
    up = max(p.up_bps for p in ports)
    down = max(p.down_bps for p in ports)
    where = f"PON port {olt.name} {ports[0].name}" if len(ports) == 1 else f"any PON port of {olt.name}"
    if cir > up:
        return [Problem(f"CIR {rate_text(cir)} is more than {where} carries upstream ({rate_text(up)} line rate; "
                        f"site {s['name']})", **intent.where("spec.rates.cir"),
                        fix=f"ask for a CIR of at most {rate_text(up)}, or reach the site by fibre")]
    if pir > down:
        return [Problem(f"PIR {rate_text(pir)} is more than {where} carries downstream ({rate_text(down)} line rate; "
                        f"site {s['name']})", **intent.where("spec.rates.pir"),
                        fix=f"ask for a PIR of at most {rate_text(down)}")]
    return []


def pon_load(ctx, skip: str, ports) -> dict[str, int]:
    """Assured upstream held on each of these PON ports (olt/port) by every placed service, but `skip`."""
    bb = BusinessBroadband()
    return {key: sum(bw for name, bw in bb.port_shares(ctx, key).items() if name.split("#", 1)[0] != skip)
            for key in ports}


def note_load(intent, ctx, shares: list[tuple[str, int]]) -> None:
    """Business lines placed later in this plan count what this service now assures (their
    running sum was taken when the first of them was placed)."""
    load = ctx.scratch.get("pon-load")
    if load is not None:
        for i, (key, bw) in enumerate(shares):
            load.put(f"{intent.name}#{i}", key, bw)


def assured(intent, ctx) -> list[tuple[str, int]]:
    """A dedicated line's PON sites: their CIR on the port each holds."""
    out = []
    for s in intent.spec.get("site", []):
        held = ctx.alloc.held(intent.name, f"onu-id:{s['name']}") if "pon" in s else None
        if held:
            out.append((held[0].split(":", 1)[1], _cir(intent.spec)))
    return out


def pon_port(intent, ctx, i: int, s: dict, cir: int):
    """The PON port of a site: the one it holds if still allowed, else the first of its OLT (or
    the one named) with a free ONU-ID and room for the CIR as assured upstream."""
    olt = ctx.network.devices[s["pon"]["olt"]]
    pinned = s["pon"].get("pon-port")
    held = ctx.alloc.held(intent.name, f"onu-id:{s['name']}")
    ports = [olt.pon_ports[pinned]] if pinned else list(olt.pon_ports.values())
    if held:
        key = held[0].split(":", 1)[1]
        ports.sort(key=lambda p: f"{p.olt}/{p.name}" != key)
    load = pon_load(ctx, intent.name, [f"{p.olt}/{p.name}" for p in ports])
    for p in ports:
        key = f"{p.olt}/{p.name}"
        free = held and held[0] == f"onu-id:{key}" or \
            len(ctx.alloc.used(f"onu-id:{key}")) < p.onu_id[1] - p.onu_id[0] + 1
        if free and load[key] + cir <= p.up_bps:
            return p
    if len(ports) == 1:
        p = ports[0]
        key = f"{p.olt}/{p.name}"
        raise FullbarsError(Problem(
            f"PON port {p.olt} {p.name} has no room for site {s['name']}: {rate_text(load[key])} of assured "
            f"upstream is in use and the line's CIR adds {rate_text(cir)}, over the line rate {rate_text(p.up_bps)}",
            **intent.where("spec.rates.cir"), fix="lower the CIR, name another PON port, or reach the site by fibre"))
    raise FullbarsError(Problem(
        f"no PON port of OLT {olt.name} has room for site {s['name']} ({rate_text(cir)} of assured upstream and an "
        f"ONU-ID; {len(ports)} port(s) checked)", **intent.where(f"spec.site[{i}].pon.olt"),
        fix="lower the CIR, use another OLT, or reach the site by fibre"))


def line_vlan(intent, ctx) -> int | None:
    """The one VLAN of a layer 2 line at its fibre accesses: the intent's, else the one its
    accesses already hold, else the lowest free on every port it uses."""
    spec, alloc = intent.spec, ctx.alloc
    given = [s["vlan"] for s in spec["site"] if "vlan" in s]
    if given:
        return given[0]
    fibre = list(legs(spec))
    if not fibre:
        return None
    pools, ports = [], []
    for _, s, role, leg in fibre:
        port = ctx.network.edge.pes[leg["pe"]].ports[leg["port"]]
        pools.append((f"vlan:{port.pe}/{port.name}", _purpose(s, role)))
        ports.append(port)
    held = [alloc.held(intent.name, purpose) for _, purpose in pools]
    if all(h and h[0] == pool for h, (pool, _) in zip(held, pools)) and len({h[1] for h in held}) == 1:
        return int(held[0][1])
    first, last = max(p.vlan[0] for p in ports), min(p.vlan[1] for p in ports)
    mine = {v for pool, _ in pools for purpose, (pl, v) in alloc.of(intent.name).items() if pl == pool}
    for v in range(first, last + 1):
        if all(str(v) not in alloc.used(pool) or str(v) in mine for pool, _ in pools):
            return v
    raise FullbarsError(Problem(f"no VLAN in {first}..{last} is free on every port of the line",
                                **intent.where("spec.site"), fix="free a VLAN on these ports, or give vlan at a site"))


def _purpose(s: dict, role: str) -> str:
    return f"vlan:{s['name']}" + ("" if role == "primary" else ":backup")


def fibre_vlan(intent, ctx, i: int, s: dict, leg: dict, role: str, common: int | None) -> int:
    """The VLAN of a fibre access on its port: the line's (layer 2), the site's, or allocated."""
    port = ctx.network.edge.pes[leg["pe"]].ports[leg["port"]]
    pool, purpose = f"vlan:{port.pe}/{port.name}", _purpose(s, role)
    want = common if common is not None else s.get("vlan")
    allocated = want is None
    if allocated:  # (a VLAN held from before the port's range was narrowed comes back as it is)
        want = ctx.alloc.take_int(intent.name, purpose, pool, *port.vlan,
                                  what=f"VLANs on PE {port.pe} port {port.name}", held_outside=True)
    named = any("vlan" in x for x in intent.spec["site"]) if common is not None else "vlan" in s
    if not port.vlan[0] <= want <= port.vlan[1]:
        span = f"{port.vlan[0]}..{port.vlan[1]}"
        if not named:  # the line holds it: the network description narrowed the port's VLANs since
            raise FullbarsError(Problem(
                f"VLAN {want}, which {intent.name} holds on PE {port.pe} port {port.name}, is outside the port's "
                f"VLANs ({span}) the network description gives now", **intent.where(f"spec.site[{i}]"),
                fix=f"give the port's VLANs back to the network description, or give site {s['name']} a vlan "
                    f"from {port.vlan[0]} to {port.vlan[1]} to move the line there"))
        raise FullbarsError(Problem(
            f"VLAN {want} is outside the VLANs of PE {port.pe} port {port.name} ({span})",
            **intent.where(f"spec.site[{i}].vlan" if "vlan" in s else f"spec.site[{i}]"),
            fix=f"give a VLAN from {port.vlan[0]} to {port.vlan[1]}, or leave vlan out to have one allocated"))
    if allocated:
        return want
    holder = ctx.alloc.take_value(intent.name, purpose, pool, want)
    if holder:
        # the holder's purpose names its site (_purpose), which may be another line's
        site = (ctx.alloc.holding(pool, want) or ("", ""))[1].split(":")[1:2]
        by = f"{holder} (its site {site[0]})" if site else holder
        if not named:  # the layer 2 line's one VLAN, allocated for its other sites: not free on this port
            raise FullbarsError(Problem(
                f"site {s['name']} would carry the line's VLAN {want} (allocated for its other sites) on PE "
                f"{port.pe} port {port.name}, where {by} uses it", **intent.where(f"spec.site[{i}]"),
                fix=f"give every site of the line the same vlan, one free on all their ports, or put site "
                    f"{s['name']} on another port"))
        raise FullbarsError(Problem(
            f"VLAN {want} on PE {port.pe} port {port.name} is already used by {by}",
            **intent.where(f"spec.site[{i}].vlan" if "vlan" in s else f"spec.site[{i}]"),
            fix="give another VLAN, or leave vlan out to have one allocated"))
    return want


def overlap(a: netaddr.IPNetwork, b: netaddr.IPNetwork) -> bool:
    return a.first <= b.last and b.first <= a.last


def edge_changed(old, new, alloc) -> list[Problem]:
    """What the enterprise edge's lines (dedicated lines, cameras) hold by its ranges: the AS of
    their route distinguishers, the PE-CE link range, and each OLT link's S-VLAN range (a pair is
    an index into it). A change that would give them other values unasked is refused."""
    out, was, now = [], old.edge, new.edge

    def held(pool: str) -> list[str]:
        return sorted(alloc.owners(pool))

    if was.asn != now.asn and (who := held(f"rd:{was.asn}")):
        out.append(Problem(f"enterprise-edge asn {now.asn} (was {was.asn}) would give {len(who)} service(s) other "
                           f"route distinguishers and targets: {some(who)}",
                           file=new.file, path="spec.enterprise-edge.asn",
                           fix="keep the AS number until those services are deleted"))
    if was.pe_ce_links and was.pe_ce_links != now.pe_ce_links and (who := held(f"pe-ce:{was.pe_ce_links}")):
        out.append(Problem(f"enterprise-edge pe-ce-links {now.pe_ce_links} (was {was.pe_ce_links}) would give "
                           f"{len(who)} service(s) other link addresses: {some(who)}", file=new.file,
                           path="spec.enterprise-edge.pe-ce-links",
                           fix="keep the range until those services are deleted"))
    for pe in was.pes.values():
        for link in pe.olt_links.values():
            moved = now.olt_link(link.olt)
            pool = f"vlan:{link.olt}/{link.olt_interface}"
            if moved is not None and (moved.olt_interface, moved.s_vlan[0]) == (link.olt_interface, link.s_vlan[0]) \
                    and moved.s_vlan[1] >= link.s_vlan[1]:
                continue  # as it was, or grown at its end
            if who := held(pool):
                out.append(Problem(f"OLT {link.olt}'s link to the PE: S-VLANs "
                                   + (f"{moved.s_vlan[0]}..{moved.s_vlan[1]} on {moved.olt_interface}"
                                      if moved else "none") + f" (were {link.s_vlan[0]}..{link.s_vlan[1]} on "
                                   f"{link.olt_interface}) would give {len(who)} service(s) other VLANs: "
                                   + some(who), file=new.file,
                                   path=f"spec.enterprise-edge.pe[{pe.name}].olt-link[{link.olt}].s-vlan",
                                   fix="keep the link's port and first S-VLAN (the range may grow at its end) until "
                                       "those services are deleted"))
    return out
