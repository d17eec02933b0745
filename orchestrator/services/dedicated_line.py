"""DedicatedLine: an enterprise's sites joined at layer 2 (RFC 9291 L2NM: a VPWS pseudowire
between two sites, EVPN multipoint otherwise) or layer 3 (RFC 9182 L3NM: one VRF), each site
reached by a direct fibre on a PE port or by an ONU on a PON port whose OLT links to a PE."""

from __future__ import annotations

from orchestrator.devices.registry import KINDS
from orchestrator.errors import FullbarsError, Problem
from orchestrator.network.model import bps, rate_text, route_distinguisher
from orchestrator.services import dedicated_access as access
from orchestrator.services import dedicated_checks
from orchestrator.services.base import SERIAL_POOL, CrossCheck, Placement, Service
from orchestrator.services.business_broadband import C_VLANS, vlan_pair

MODEL = {"l2": "ietf-l2vpn-ntw", "l3": "ietf-l3vpn-ntw"}
ID_LAST = 65535  # route distinguisher/target assigned numbers, EVIs (a 4-byte AS leaves 16 bits: RFC 8294 type 2)
VC_LAST = 2 ** 32 - 1


def rates(spec: dict) -> tuple[int, int]:
    """(CIR, PIR) in bit/s; the PIR defaults to the CIR."""
    r = spec["rates"]
    return bps(r["cir"]), bps(r.get("pir") or r["cir"])


class DedicatedLine(Service):
    kind = "DedicatedLine"
    template = "dedicated-line"
    module = "fullbars-dedicated-line"
    top = "dedicated-line"
    cross_check = CrossCheck("dedicated", dedicated_checks.facts, dedicated_checks.check)

    def identity(self, spec: dict) -> dict:
        return {"enterprise": spec["enterprise"], "layer": spec["layer"]}

    def network_changed(self, old, new, alloc) -> list[Problem]:
        return access.edge_changed(old, new, alloc)  # (the cameras' values too: one pool each)

    # --- rules -------------------------------------------------------------------------
    def site_serials(self, spec: dict) -> list[tuple[str, str]]:
        return [(st["pon"]["onu-serial"], f"spec.site[{i}].pon.onu-serial")
                for i, st in enumerate(spec.get("site", [])) if "pon" in st]

    def check(self, intent, ctx) -> list[Problem]:
        net, spec, out = ctx.network, intent.spec, []
        edge = net.edge
        if not edge.pes:
            return [Problem("the network description has no enterprise edge PE", **intent.where("spec.site"),
                            fix=f"add enterprise-edge with its pe list to {net.file}")]
        sites = list(spec["site"])
        if spec["topology"] == "point-to-point" and len(sites) != 2:
            out.append(Problem(f"a point-to-point line joins two sites; this one has {len(sites)}",
                               **intent.where("spec.topology"), fix="use topology: multipoint, or list two sites"))
        cir, pir = rates(spec)
        if pir < cir:
            out.append(Problem(f"PIR {spec['rates']['pir']} is below the CIR {spec['rates']['cir']}",
                               **intent.where("spec.rates.pir"), fix=f"give a PIR of at least {spec['rates']['cir']}"))
        for i, s in enumerate(sites):
            out += self._site(intent, ctx, i, s)
        out += access.one_port_each(intent)
        if not out:
            out += access.vlans_agree(intent) + access.prefixes(intent, edge) + access.serials(intent, ctx)
            out += access.capacity(intent, ctx, cir, pir)
        return out

    def _site(self, intent, ctx, i: int, s: dict) -> list[Problem]:
        net, spec, out = ctx.network, intent.spec, []
        base = f"spec.site[{i}]"
        layer = spec["layer"]
        for where, acc in ((f"{base}.fibre", s.get("fibre")), (f"{base}.protection", s.get("protection"))):
            if acc is not None:
                out += self._fibre(intent, net, where, acc, layer)
        if "protection" in s:
            if "pon" in s:
                out.append(Problem(f"site {s['name']} is reached over PON, through one OLT link: it cannot be "
                                   "protected by a second PE", **intent.where(f"{base}.protection"),
                                   fix="leave protection out, or reach the site by fibre"))
            elif s["protection"]["pe"] == s["fibre"]["pe"]:
                out.append(Problem(f"site {s['name']}: the backup fibre ends on the same PE {s['fibre']['pe']}",
                                   **intent.where(f"{base}.protection.pe"),
                                   fix="protection is a second PE: name another one"))
        if "pon" in s:
            out += self._pon(intent, net, base, s)
        if layer == "l2" and s.get("prefix"):
            out.append(Problem(f"site {s['name']}: a layer 2 line routes no prefixes", **intent.where(f"{base}.prefix"),
                               fix="leave prefix out, or make the line layer: l3"))
        if layer == "l3" and not s.get("prefix"):
            out.append(Problem(f"site {s['name']}: a layer 3 line needs the site's LAN prefixes",
                               **intent.where(base), fix="add prefix: [10.1.0.0/24] (the site's LANs)"))
        return out

    @staticmethod
    def _fibre(intent, net, where: str, acc: dict, layer: str) -> list[Problem]:
        pe = net.edge.pes.get(acc["pe"])
        if pe is None:
            return [Problem(f"unknown PE {acc['pe']!r}", **intent.where(f"{where}.pe"),
                            fix="PEs of the enterprise edge: " + ", ".join(sorted(net.edge.pes)))]
        out = []
        kind = KINDS.get(net.devices[pe.name].kind)
        if MODEL[layer] not in dict(kind.modules):
            out.append(Problem(f"PE {pe.name} is a {kind.name}, which does not implement {MODEL[layer]} for a "
                               f"layer {layer[1]} line", **intent.where(f"{where}.pe"),
                               fix="choose a PE whose kind implements it (pe-vpn does)"))
        if acc["port"] not in pe.ports:
            out.append(Problem(f"PE {pe.name} has no fibre port {acc['port']!r}", **intent.where(f"{where}.port"),
                               fix="fibre ports of " + pe.name + ": " + (", ".join(pe.ports) or "none")))
        return out

    @staticmethod
    def _pon(intent, net, base: str, s: dict) -> list[Problem]:
        pon = s["pon"]
        olt = net.devices.get(pon["olt"])
        if olt is None or olt.role != "olt":
            return [Problem(f"unknown OLT {pon['olt']!r}", **intent.where(f"{base}.pon.olt"),
                            fix="OLTs linked to a PE: " + (", ".join(
                                sorted(o for p in net.edge.pes.values() for o in p.olt_links)) or "none"))]
        out = []
        if net.edge.olt_link(olt.name) is None:
            out.append(Problem(f"OLT {olt.name} has no link to a PE of the enterprise edge",
                               **intent.where(f"{base}.pon.olt"),
                               fix=f"add an olt-link for {olt.name} to a PE in {net.file}, or reach the site by fibre"))
        if pon.get("pon-port") and pon["pon-port"] not in olt.pon_ports:
            out.append(Problem(f"OLT {olt.name} has no PON port {pon['pon-port']!r}",
                               **intent.where(f"{base}.pon.pon-port"),
                               fix="PON ports: " + ", ".join(list(olt.pon_ports)[:8])))
        if "vlan" in s:
            out.append(Problem(f"site {s['name']} is reached over PON: its VLANs are the S/C pair on the OLT's "
                               "link, which fullbars allocates", **intent.where(f"{base}.vlan"),
                               fix="leave vlan out for a PON site"))
        return out

    # --- allocation --------------------------------------------------------------------
    def _place_site(self, intent, ctx, i: int, s: dict, cir: int, pir: int, common_vlan, accesses: list,
                    chains: dict, resources_sites: dict) -> None:
        """One site's access (PON or fibre, with its backup), added to the line's."""
        edge = ctx.network.edge
        shown = {}
        legs = [("primary", s.get("fibre"))] + ([("backup", s["protection"])] if "protection" in s else [])
        if "pon" in s:
            chain, a = self._pon_site(intent, ctx, i, s, cir, pir)
            chains.setdefault(chain["olt"], []).append(chain)
            accesses.append(a)
            shown.update({"access": "pon", "olt": chain["olt"], "pon-port": chain["port"].name,
                          "onu-serial": chain["serial"], "onu-id": chain["onu_id"], "alloc-id": chain["alloc_id"],
                          "gemport": chain["gemport"], "pe": a["pe"], "pe-interface": a["interface"],
                          "olt-interface": edge.olt_link(chain["olt"]).olt_interface,
                          "s-vlan": a["svlan"], "c-vlan": a["cvlan"]})
        else:
            for role, leg in legs:
                vlan = access.fibre_vlan(intent, ctx, i, s, leg, role, common_vlan)
                a = {"site": s["name"], "id": s["name"] if role == "primary" else f"{s['name']}-backup",
                     "pe": leg["pe"], "interface": leg["port"], "encap": "dot1q", "vlan": vlan,
                     "precedence": role}
                accesses.append(a)
                shown["access" if role == "primary" else "protection"] = \
                    f"fibre {leg['pe']} {leg['port']} VLAN {vlan}"
                if role == "primary":  # for the lab: where the site's CE plugs in
                    shown.update({"pe": leg["pe"], "port": leg["port"], "vlan": vlan})
                else:  # ... and its second uplink
                    shown.update({"protection-pe": leg["pe"], "protection-port": leg["port"],
                                  "protection-vlan": vlan})
        resources_sites[s["name"]] = shown

    def place(self, intent, ctx) -> Placement:
        net, alloc, name, spec = ctx.network, ctx.alloc, intent.name, intent.spec
        access.missing(intent, net)
        edge = net.edge
        cir, pir = rates(spec)
        layer, p2p = spec["layer"], spec["topology"] == "point-to-point"
        alloc.release(name, [p for p in alloc.of(name) if p not in self._purposes(spec)])  # what it no longer has
        number = alloc.take_int(name, "rd", f"rd:{edge.asn}", 1, ID_LAST,
                                what=f"route distinguishers of AS {edge.asn}")
        rd = route_distinguisher(edge.asn, number)  # the route target too
        vc = evi = None
        if layer == "l2" and p2p:
            vc = alloc.take_int(name, "vc-id", "vc-id", 1, VC_LAST, what="pseudowire VC ids")
        elif layer == "l2":
            evi = alloc.take_int(name, "evi", "evi", 1, ID_LAST, what="EVPN instances (EVIs)")
        common_vlan = access.line_vlan(intent, ctx) if layer == "l2" else None

        accesses, chains, resources_sites = [], {}, {}
        refused: list[Problem] = []  # every site's, not only the first's
        for i, s in enumerate(spec["site"]):
            try:
                self._place_site(intent, ctx, i, s, cir, pir, common_vlan, accesses, chains, resources_sites)
            except FullbarsError as e:
                refused += e.problems
        if refused:
            raise FullbarsError(refused)
        if layer == "l3":
            for a in accesses:
                s = next(x for x in spec["site"] if x["name"] == a["site"])
                suffix = "" if a["precedence"] == "primary" else ":backup"
                link = alloc.take_block(name, f"pe-ce:{a['site']}{suffix}", f"pe-ce:{edge.pe_ce_links}",
                                        edge.pe_ce_links, edge.pe_ce_length)
                hosts = [str(h) for h in link.iter_hosts()] if link.prefixlen < 31 else [str(link[0]), str(link[1])]
                a.update(pe_ip=hosts[0], ce_ip=hosts[1], plen=link.prefixlen, prefixes=list(s["prefix"]),
                         preference=10 if a["precedence"] == "primary" else 20)
                shown = resources_sites[a["site"]]
                shown["pe-ce-backup" if suffix else "pe-ce"] = f"{hosts[0]} (PE) - {hosts[1]} (CE) /{link.prefixlen}"
                if not suffix:
                    shown.update({"pe-address": hosts[0], "ce-address": f"{hosts[1]}/{link.prefixlen}"})
                shown["prefixes"] = ", ".join(s["prefix"])
        for a in accesses:
            a.update(cir=cir, pir=pir)

        access.note_load(intent, ctx, access.assured(intent, ctx))
        nodes = list(dict.fromkeys(a["pe"] for a in accesses))
        common = dict(service=name, enterprise=spec["enterprise"], layer=layer, p2p=p2p, rd=rd, rt=rd, vc=vc, evi=evi,
                      cir=cir, pir=pir, profile=f"cir-{rate_text(cir)}-pir-{rate_text(pir)}")
        devices = {}
        for pe in nodes:
            mine = [a for a in accesses if a["pe"] == pe]
            # Each PE's pseudowires reach every other PE of the line; a backup access's PE is
            # the lower-priority peer, so traffic takes the primary while it is up.
            backups = {a["pe"] for a in accesses if a["precedence"] == "backup"} - {a["pe"] for a in accesses
                                                                                  if a["precedence"] == "primary"}
            peers = [{"address": edge.pes[o].router_id, "priority": 2 if o in backups else 1}
                     for o in nodes if o != pe]
            devices[pe] = dict(common, pe=pe, router_id=edge.pes[pe].router_id, accesses=mine, peers=peers)
        for olt, mine in chains.items():
            devices[olt] = dict(common, customer=spec["enterprise"], chains=mine, link=edge.olt_link(olt))
        resources = {"enterprise": spec["enterprise"], "layer": layer, "topology": spec["topology"],
                     "vpn-id": name, "route-distinguisher": f"{edge.asn}:{number}",
                     "route-target": f"target:{edge.asn}:{number}",
                     "rates": f"CIR {rate_text(cir)} / PIR {rate_text(pir)}", "cir-bps": cir, "pir-bps": pir,
                     "pes": nodes, "sites": resources_sites}
        if vc is not None:
            resources["vc-id"] = vc
        if evi is not None:
            resources["evi"] = evi
        return Placement(devices=devices, resources=resources)

    @staticmethod
    def _purposes(spec: dict) -> set[str]:
        """What the line may hold as it is now."""
        out = {"rd", "vc-id" if spec["topology"] == "point-to-point" else "evi"} if spec["layer"] == "l2" else {"rd"}
        for s in spec["site"]:
            n = s["name"]
            out |= {f"vlan:{n}", f"pe-ce:{n}"} | ({f"vlan:{n}:backup", f"pe-ce:{n}:backup"} if "protection" in s
                                                 else set())
            out |= {f"onu-id:{n}", f"alloc-id:{n}", f"gemport:{n}", f"{SERIAL_POOL}:{n}"} if "pon" in s else set()
        return out

    @staticmethod
    def _pon_site(intent, ctx, i: int, s: dict, cir: int, pir: int) -> tuple[dict, dict]:
        """The site's ONU on a PON port with room for its CIR as assured upstream, and its S/C
        pair on the OLT's link to the PE."""
        net, alloc, name = ctx.network, ctx.alloc, intent.name
        port = access.pon_port(intent, ctx, i, s, cir)
        key, site = f"{port.olt}/{port.name}", s["name"]
        # its serial held where a business line's check finds it by value (the store's index holds lines')
        alloc.take_value(name, f"{SERIAL_POOL}:{site}", SERIAL_POOL, s["pon"]["onu-serial"].upper())
        onu_id = alloc.take_int(name, f"onu-id:{site}", f"onu-id:{key}", *port.onu_id, what=f"ONU-IDs on {key}")
        alloc_id = alloc.take_int(name, f"alloc-id:{site}", f"alloc-id:{key}", *port.alloc_id,
                                  what=f"alloc-ids on {key}")
        gem = alloc.take_int(name, f"gemport:{site}", f"gemport:{key}", *port.gemport, what=f"GEM ports on {key}")
        link = net.edge.olt_link(port.olt)
        first, last = link.s_vlan
        idx = alloc.take_int(name, f"vlan:{site}", f"vlan:{port.olt}/{link.olt_interface}", 0,
                             (last - first + 1) * C_VLANS - 1,
                             what=f"S/C-VLAN pairs on {port.olt} {link.olt_interface} (S-VLAN {first}..{last})")
        s_vlan, c_vlan = vlan_pair(link, idx)
        chain = {"name": f"{name}-{site}", "olt": port.olt, "port": port, "onu_id": onu_id, "alloc_id": alloc_id,
                 "gemport": gem, "serial": s["pon"]["onu-serial"], "s_vlan": s_vlan, "c_vlan": c_vlan,
                 # The business line's chain: its traffic descriptor assures and caps the upstream
                 # at the CIR (shared with lines of that rate by name); the PIR shapes downstream.
                 "up_bps": cir, "down_bps": pir, "tdp": f"up-{rate_text(cir)}", "shaper": f"down-{rate_text(pir)}"}
        a = {"site": site, "id": site, "pe": link.pe, "interface": link.pe_interface, "encap": "qinq",
             "svlan": s_vlan, "cvlan": c_vlan, "precedence": "primary"}
        return chain, a

    def assured_upstream(self, intent, ctx) -> list[tuple[str, int]]:
        return access.assured(intent, ctx)

    def shown(self, purpose: str, pool: str, value: str, network) -> tuple[str, str]:
        if (purpose == "vlan" or purpose.startswith("vlan:")) and pool.count("/") and network is not None:
            olt = pool.split(":", 1)[1].split("/", 1)[0]
            link = network.edge.olt_link(olt)
            if link is not None and pool == f"vlan:{olt}/{link.olt_interface}":
                return purpose.replace("vlan", "s/c-vlan", 1), "{}/{}".format(*vlan_pair(link, int(value)))
        return purpose, value

