"""Campus5G: one enterprise's private 5G network at a campus site (after ONF Aether's enterprise
objects): cells on the site's gNBs, slices with their S-NSSAI, DNN, UE pool and AMBR on the core's
AMF/SMF and the edge UPF, and local breakout of the slices' traffic into the enterprise LAN at
the PE."""

from __future__ import annotations

from fractions import Fraction

import netaddr

from orchestrator.errors import FullbarsError, Problem, some
from orchestrator.network.model import bps, rate_text, route_distinguisher
from orchestrator.services import campus5g_checks
from orchestrator.services.base import CrossCheck, Placement, Service
from orchestrator.services.campus5g_attach import UE, Attach, Refusal, Site

IMSI_DIGITS = 15
IMSI_BLOCKS_MAX = 1000  # blocks one given IMSI range may hold


def _overlap(a: netaddr.IPNetwork, b: netaddr.IPNetwork) -> bool:
    return a.first <= b.last and b.first <= a.last


def _where(intent, lst: str, name: str, leaf: str) -> dict:
    """Problem location of a leaf of a list entry, by the entry's position in the YAML."""
    items = intent.spec
    for part in lst.split("."):
        items = items[part]
    idx = [x["name"] for x in list(items)].index(name)
    return intent.where(f"spec.{lst}[{idx}].{leaf}")


def sd_hex(value: int) -> str:
    return f"{value:06X}"


def shown_campus(purpose: str, pool: str, value: str, network) -> tuple[str, str]:
    """A campus allocation as the plan shows it, not the index kept: a route distinguisher's
    AS:number, an SD in hex, an IMSI block as its first and last IMSI, a cell's local id with
    the gNB it is on (the id alone names no cell: each gNB counts its own from 1)."""
    kind, _, key = pool.partition(":")
    if kind == "cell":
        return purpose, f"{key}/{value}"
    if kind == "rd":
        return purpose, f"{key}:{value}"
    if kind == "sd":
        return purpose, sd_hex(int(value))
    if kind == "imsi" and network is not None:
        site = next((c for c in network.campus.values() if f"{c.mcc}{c.mnc}" == key), None)
        if site is not None:
            digits, first = IMSI_DIGITS - len(key), int(value) * site.imsi_block
            return purpose, f"{key}{first:0{digits}d}-{key}{first + site.imsi_block - 1:0{digits}d}"
    return purpose, value


def link(prefix: str, index: int) -> tuple[str, str, int]:
    """The two host addresses of the index-th /30 of a prefix."""
    net = netaddr.IPNetwork(prefix)
    base = int(net.network) + 4 * index
    return str(netaddr.IPAddress(base + 1)), str(netaddr.IPAddress(base + 2)), 30


def site_links(site) -> dict:
    """The site's own links (network-owned): N6 UPF-PE first, then N3 per gNB in order.
    Interface names are the ones the lab wires (15 characters at most)."""
    upf_n6, pe_n6, plen = link(site.transport, 0)
    n3 = {}
    for i, g in enumerate(site.gnbs, start=1):
        gnb_ip, upf_ip, _ = link(site.transport, i)
        n3[g["name"]] = {"gnb_if": "n3", "gnb_ip": gnb_ip, "upf_if": f"n3-{i}", "upf_ip": upf_ip, "plen": plen}
    return {"n6": {"upf_if": "n6", "upf_ip": upf_n6, "pe_if": "n6-upf", "pe_ip": pe_n6, "plen": plen}, "n3": n3}


class Campus5G(Service):
    kind = "Campus5G"
    template = "campus5g"
    module = "fullbars-campus5g"
    top = "campus5g"
    cross_check = CrossCheck("campus", campus5g_checks.facts, campus5g_checks.check)

    def identity(self, spec: dict) -> dict:
        return {"enterprise": spec["enterprise"], "site": spec["site"]}

    def network_changed(self, old, new, alloc) -> list[Problem]:
        """A site's tenants hold route distinguishers of its AS: another AS would renumber them
        all (and hand each tenant's to another, by the order they are placed again)."""
        out = []
        for name, site in sorted(new.campus.items()):
            was = old.campus.get(name)
            if was is not None and was.asn != site.asn and (who := sorted(alloc.owners(f"rd:{was.asn}"))):
                out.append(Problem(f"campus site {name}: asn {site.asn} (was {was.asn}) would give {len(who)} "
                                   f"service(s) other route distinguishers: {some(who)}", file=new.file,
                                   path=f"spec.campus-site[{name}].asn",
                                   fix="keep the AS number until those services are deleted"))
        return out

    # --- rules -------------------------------------------------------------------------
    def check(self, intent, ctx) -> list[Problem]:
        net, spec, out = ctx.network, intent.spec, []
        site = net.campus.get(spec["site"])
        if site is None:
            return [Problem(f"no campus site {spec['site']!r} in the network description", **intent.where("spec.site"),
                            fix="campus sites: " + (", ".join(sorted(net.campus)) or "none (add campus-site)"))]
        gnbs = [g["name"] for g in site.gnbs]
        for c in spec["cells"].get("cell") or []:
            if "gnb" in c and c["gnb"] not in gnbs:
                out.append(Problem(f"cell {c['name']} names gNB {c['gnb']!r}, which site {site.name} does not have",
                                   **_where(intent, "cells.cell", c["name"], "gnb"),
                                   fix="gNBs of the site: " + (", ".join(gnbs) or "none") + "; or leave gnb out"))
        slices = spec["slice"]
        dnns = {}
        for s in slices:
            if s["dnn"] in dnns:
                out.append(Problem(f"DNN {s['dnn']} is used by slices {dnns[s['dnn']]} and {s['name']}",
                                   **_where(intent, "slice", s['name'], "dnn"),
                                   fix="give every slice its own data network"))
            dnns[s["dnn"]] = s["name"]
        given = {}
        for s in slices:
            if "sd" in s:
                key = (s["sst"], s["sd"].upper())
                if key in given:
                    out.append(Problem(f"slices {given[key]} and {s['name']} have the same S-NSSAI "
                                       f"(SST {s['sst']}, SD {s['sd']})", **_where(intent, "slice", s['name'], "sd"),
                                       fix="leave sd out to have one allocated, or give another"))
                given[key] = s["name"]
        for a in spec.get("application", []):
            for d in a["dnn"]:
                if d not in dnns:
                    out.append(Problem(f"application {a['name']} names DNN {d!r}, which no slice of this intent uses",
                                       **_where(intent, "application", a['name'], "dnn"),
                                       fix="DNNs of this intent: " + ", ".join(sorted(dnns))))
        out += self._subnets(intent, ctx, site)
        out += self._others(intent, ctx, dnns)
        hosts = 2 ** (32 - site.ue_block_length) - 2
        devices = {s["name"]: 0 for s in slices}
        for g in spec.get("device-group", []):
            devices[g["slice"]] += g["devices"]
        for s in slices:
            need = max(s["expected-ues"], devices[s["name"]])
            if need > hosts:
                out.append(Problem(f"slice {s['name']} expects {need} devices; a UE pool of /{site.ue_block_length} "
                                   f"holds {hosts}", **_where(intent, "slice", s["name"], "expected-ues"),
                                   fix="lower expected-ues or the device groups, or give the site a shorter "
                                       "ue-pool block-length"))
        out += self._imsi_ranges(intent, site)
        for g in spec.get("device-group", []):
            if "imsi-first" not in g and g["devices"] > site.imsi_block:
                out.append(Problem(f"device group {g['name']} needs {g['devices']} IMSIs; one block holds "
                                   f"{site.imsi_block}", **_where(intent, "device-group", g['name'], "devices"),
                                   fix="split the group, or raise imsi-block in the network description"))
        return out

    @staticmethod
    def _imsi_ranges(intent, site) -> list[Problem]:
        out, seen = [], []
        plmn = f"{site.mcc}{site.mnc}"
        for g in intent.spec.get("device-group", []):
            if "imsi-first" not in g:
                continue
            first, where = int(g["imsi-first"]), _where(intent, "device-group", g["name"], "imsi-first")
            last = first + g["devices"] - 1
            if not g["imsi-first"].startswith(plmn) or not str(last).zfill(15).startswith(plmn):
                out.append(Problem(f"device group {g['name']}: IMSIs {g['imsi-first']}..{last:015d} are not all in "
                                   f"the site's PLMN {site.mcc}-{site.mnc}", **where,
                                   fix=f"IMSIs of this site start with {plmn}"))
            elif (last // site.imsi_block) - (first // site.imsi_block) >= IMSI_BLOCKS_MAX:
                out.append(Problem(f"device group {g['name']}: {g['devices']} IMSIs span more than {IMSI_BLOCKS_MAX} "
                                   f"blocks of {site.imsi_block}", **where,
                                   fix="split the group, or raise imsi-block in the network description"))
            for other, a, b in seen:
                if a <= last and first <= b:
                    out.append(Problem(f"device groups {other} and {g['name']} share IMSIs "
                                       f"({max(a, first):015d}..{min(b, last):015d})", **where,
                                       fix="give each device group its own IMSIs"))
            seen.append((g["name"], first, last))
        return out

    def _subnets(self, intent, ctx, site) -> list[Problem]:
        """Application subnets must stay clear of the site's own ranges and of each other."""
        out = []
        ranges = [("the site's UE pool range", site.ue_pool), ("the site's transport links", site.transport),
                  ("the site's enterprise links", site.enterprise_links)]
        apps = list(intent.spec.get("application", []))
        for i, a in enumerate(apps):
            na = netaddr.IPNetwork(a["subnet"])
            where = _where(intent, "application", a['name'], "subnet")
            if na.ip != na.network:  # the PE would route a prefix nobody meant
                out.append(Problem(f"application {a['name']} subnet {a['subnet']} has host bits set",
                                   **where, fix=f"did you mean {na.cidr}? A subnet names its first address"))
            for what, prefix in ranges:
                if _overlap(na, netaddr.IPNetwork(prefix)):
                    out.append(Problem(f"application {a['name']} subnet {a['subnet']} overlaps {what} {prefix}",
                                       **where, fix="the enterprise subnet must not use the carrier's ranges"))
            for b in apps[i + 1:]:
                if _overlap(na, netaddr.IPNetwork(b["subnet"])):
                    out.append(Problem(f"applications {a['name']} ({a['subnet']}) and {b['name']} ({b['subnet']}) "
                                       f"overlap", **where, fix="give each application its own subnet"))
        return out

    def _others(self, intent, ctx, dnns) -> list[Problem]:
        """Other tenants at the site: their DNNs, explicit S-NSSAIs and subnets are theirs (the
        PE holds every tenant's routes in one table, so subnets may not overlap either)."""
        out = []
        spec = intent.spec
        for name, other in sorted(ctx.intents.items()):
            if name == intent.name or other.kind != self.kind or other.spec.get("site") != spec["site"]:
                continue
            theirs = {s["dnn"] for s in other.spec["slice"]}
            for d in sorted(set(dnns) & theirs):
                out.append(Problem(f"DNN {d} is already used by {other.spec['enterprise']} (service {name})",
                                   **_where(intent, "slice", dnns[d], "dnn"),
                                   fix="a DNN names one tenant's data network: choose another"))
            their_sd = {(s["sst"], s["sd"].upper()): s["name"] for s in other.spec["slice"] if "sd" in s}
            for s in spec["slice"]:
                key = (s["sst"], s.get("sd", "").upper())
                if key in their_sd:
                    out.append(Problem(f"S-NSSAI SST {s['sst']} SD {s['sd']} of slice {s['name']} is already slice "
                                       f"{their_sd[key]} of {other.spec['enterprise']} (service {name})",
                                       **_where(intent, "slice", s['name'], "sd"),
                                       fix="leave sd out to have one allocated, or choose another"))
            for a in spec.get("application", []):
                for b in other.spec.get("application", []):
                    if _overlap(netaddr.IPNetwork(a["subnet"]), netaddr.IPNetwork(b["subnet"])):
                        out.append(Problem(f"application {a['name']} subnet {a['subnet']} overlaps {b['subnet']} of "
                                           f"{other.spec['enterprise']} (service {name})",
                                           **_where(intent, "application", a['name'], "subnet"),
                                           fix="tenants at one site need distinct subnets (one routing table at the PE)"))
        return out

    # --- allocation --------------------------------------------------------------------
    def place(self, intent, ctx) -> Placement:
        net, alloc, name, spec = ctx.network, ctx.alloc, intent.name, intent.spec
        site = net.campus[spec["site"]]
        plmn = f"{site.mcc}{site.mnc}"
        tac = alloc.take_int(name, "tac", f"tac:{plmn}", *site.tac, what=f"TACs of PLMN {plmn}")
        rd = alloc.take_int(name, "rd", f"rd:{site.asn}", 1, 65535, what=f"route distinguishers of AS {site.asn}")

        slices = []
        for s in spec["slice"]:
            if "sd" in s:
                sd = int(s["sd"], 16)
                holder = alloc.take_value(name, f"sd:{s['name']}", f"sd:{plmn}", sd)
                if holder:
                    raise FullbarsError(Problem(f"SD {s['sd']} is already allocated to {holder}",
                                                **_where(intent, "slice", s['name'], "sd"),
                                                fix="leave sd out to have one allocated, or choose another"))
            else:
                sd = alloc.take_int(name, f"sd:{s['name']}", f"sd:{plmn}", *site.sd, what=f"SDs of PLMN {plmn}")
            pool = alloc.take_block(name, f"ue-pool:{s['name']}", f"ue-pool:{site.name}", site.ue_pool,
                                    site.ue_block_length)
            apps = [a for a in spec.get("application", []) if s["dnn"] in a["dnn"]]
            slices.append({"name": s["name"], "sst": s["sst"], "sd": sd_hex(sd), "dnn": s["dnn"],
                           "five_qi": s["five-qi"], "ue_pool": str(pool.cidr),
                           "down_bps": bps(s["ambr"]["downlink"]), "up_bps": bps(s["ambr"]["uplink"]),
                           "expected_ues": s["expected-ues"], "applications": [a["subnet"] for a in apps],
                           "application_names": [a["name"] for a in apps]})

        groups = self._imsi(intent, ctx, site, plmn)

        cells, before = self._cells(intent, ctx, site)
        # Each slice's UEs are served by one of the gNBs carrying the tenant's cells (every cell
        # broadcasts all the tenant's slices), the slices taken in turn over them; the UPF routes
        # the slice's UE pool to that gNB's N3 end.
        gnbs = list(dict.fromkeys(c["gnb"] for c in cells))
        for i, sl in enumerate(slices):
            sl["gnb"] = gnbs[i % len(gnbs)]
        lan = alloc.take_block(name, "enterprise-link", f"enterprise-links:{site.name}", site.enterprise_links, 30)
        pe_ip, ent_ip = (str(h) for h in list(lan.iter_hosts())[:2])
        links = site_links(site)
        snssai = [{"sst": s["sst"], "sd": s["sd"]} for s in slices]
        common = dict(service=name, enterprise=spec["enterprise"], mcc=site.mcc, mnc=site.mnc, snssai=snssai,
                      slices=slices, upf=site.upf, core=site.core, links=links)
        devices = {}
        for g in site.gnbs:
            mine = [c for c in cells if c["gnb"] == g["name"]]
            if mine or g["name"] in before:  # a gNB its cells left renders nothing of this tenant any more
                devices[g["name"]] = dict(common, gnb=g, cells=mine, tac=tac, n3=links["n3"][g["name"]])
        devices[site.core] = dict(common, upf_n4=links["n6"]["upf_ip"])
        devices[site.upf] = dict(common, gnbs=[links["n3"][g["name"]] for g in site.gnbs],
                                 ue_gnb={sl["name"]: links["n3"][sl["gnb"]] for sl in slices})
        ent_if = f"ent{rd}"
        devices[site.pe] = dict(common, ent_if=ent_if, pe_ip=pe_ip, ent_ip=ent_ip, lan_plen=lan.prefixlen,
                                applications=spec.get("application", []), pe=site.pe,
                                rd=route_distinguisher(site.asn, rd), rt=route_distinguisher(site.asn, rd))
        resources = {
            "site": site.name, "plmn": f"{site.mcc}-{site.mnc}", "tac": tac,
            "route-distinguisher": f"{site.asn}:{rd}", "route-target": f"target:{site.asn}:{rd}",
            "cells": {c["name"]: {"gnb": c["gnb"], "cell-local-id": c["local_id"], "pci": c["pci"]} for c in cells},
            "slices": {s["name"]: {"s-nssai": f"{s['sst']}-{s['sd']}", "dnn": s["dnn"], "5qi": s["five_qi"],
                                   "ue-pool": s["ue_pool"], "ambr": f"{rate_text(s['down_bps'])} down / "
                                                                    f"{rate_text(s['up_bps'])} up",
                                   "downlink-bps": s["down_bps"], "uplink-bps": s["up_bps"],
                                   "applications": s["application_names"], "gnb": s["gnb"]} for s in slices},
            "device-groups": {g["name"]: {"slice": g["slice"], "imsi": g["imsi"]} for g in groups},
            "applications": {a["name"]: a["subnet"] for a in spec.get("application", [])},
            "breakout": {"pe": site.pe, "interface": ent_if, "pe-address": pe_ip, "enterprise-address": ent_ip},
            "upf": site.upf, "core": site.core,
            "gnbs": gnbs,
            # the site's transport links (device:port pairs), for a lab of this plan
            "links": [[f"{g}:{n['gnb_if']}", f"{site.upf}:{n['upf_if']}"] for g, n in sorted(links["n3"].items())]
            + [[f"{site.upf}:{links['n6']['upf_if']}", f"{site.pe}:{links['n6']['pe_if']}"]],
        }
        return Placement(devices=devices, resources=resources)

    def shown(self, purpose: str, pool: str, value: str, network) -> tuple[str, str]:
        return shown_campus(purpose, pool, value, network)

    def check_running(self, name: str, resources: dict, running: dict) -> list[str]:
        """Each slice's UE attaches, played from the running configs (services/campus5g_attach.py)."""
        site = Site(resources["core"], resources["upf"])
        out = []
        for sl, info in sorted(resources["slices"].items()):
            if any(running.get(d) is None for d in (info["gnb"], site.core, site.upf)):
                continue  # a device this change does not hold or could not read: nothing to play against
            got = Attach(running, site).run(UE(resources["plmn"], info["s-nssai"], info["dnn"], info["gnb"]))
            if isinstance(got, Refusal):
                out.append(f"{name}/{sl}: the UE's attach is refused: {got}")
        return out

    @staticmethod
    def _imsi(intent, ctx, site, plmn: str) -> list[dict]:
        """Given ranges first (they hold every block they touch), then a block for each group
        without one, from blocks nobody holds."""
        alloc, name, bs = ctx.alloc, intent.name, site.imsi_block
        msin_digits = IMSI_DIGITS - len(plmn)
        pool = f"imsi:{plmn}"
        groups = list(intent.spec.get("device-group", []))
        ranges = {}
        for g in groups:
            want = {}
            if "imsi-first" in g:
                first = int(g["imsi-first"][len(plmn):])
                ranges[g["name"]] = first
                want = {f"imsi:{g['name']}:{k}": k for k in range(first // bs, (first + g["devices"] - 1) // bs + 1)}
            alloc.release(name, [p for p in alloc.of(name) if p.startswith(f"imsi:{g['name']}:") and p not in want])
            for purpose, k in want.items():
                holder = alloc.take_value(name, purpose, pool, k)
                if holder and holder != name:
                    raise FullbarsError(Problem(
                        f"device group {g['name']}: its IMSIs fall in the block {plmn}{k * bs:0{msin_digits}d}.."
                        f"{plmn}{(k + 1) * bs - 1:0{msin_digits}d}, which {holder} holds (a given range holds "
                        f"whole blocks of {bs})", **_where(intent, "device-group", g["name"], "imsi-first"),
                        fix="choose other IMSIs, or leave imsi-first out to have a block allocated"))
        out = []
        for g in groups:
            if g["name"] in ranges:
                alloc.release(name, [f"imsi:{g['name']}"])
                first = ranges[g["name"]]
            else:
                first = bs * alloc.take_int(name, f"imsi:{g['name']}", pool, 0, 10 ** msin_digits // bs - 1,
                                            what=f"IMSI blocks of {plmn}")
            out.append({"name": g["name"], "slice": g["slice"],
                        "imsi": f"{plmn}{first:0{msin_digits}d}-{plmn}{first + g['devices'] - 1:0{msin_digits}d}"})
        return out

    def _cells(self, intent, ctx, site) -> tuple[list[dict], set[str]]:
        """Each cell on the gNB the intent names, else on the least loaded gNB with room (cells held
        / max-cells, the site's order breaking ties), with a cellLocalId unique per gNB and a PCI no
        other cell of the site has: the intent's own first, then allocated ones around them. A cell
        keeps the gNB it holds unless the intent names another, so planning again places alike.
        Returns the cells and the gNBs this service held cells on before (they must be rendered
        again, without the cells that left them)."""
        alloc, name, spec = ctx.alloc, intent.name, intent.spec
        cfg = spec["cells"]
        listed = list(cfg.get("cell") or []) or [{"name": f"cell-{i}"} for i in range(1, cfg.get("count", 0) + 1)]
        before = {pool.split(":", 1)[1] for purpose, (pool, _) in alloc.of(name).items()
                  if purpose.startswith("cell:")}
        names = {c["name"] for c in listed}
        alloc.release(name, [p for p in alloc.of(name) if p.split(":", 1)[0] in ("cell", "pci")
                             and p.split(":", 1)[1] not in names])  # cells the intent no longer has
        pci_pool = f"pci:{site.name}"
        for c in listed:
            if "pci" in c:
                holder = alloc.take_value(name, f"pci:{c['name']}", pci_pool, c["pci"])
                if holder:
                    raise FullbarsError(Problem(f"PCI {c['pci']} of cell {c['name']} is already used at site "
                                                f"{site.name} by {holder}", **_where(intent, "cells.cell", c['name'], "pci"),
                                                fix="choose another PCI, or leave pci out to have one allocated"))
        out = []
        for c in listed:
            pci = c.get("pci")
            if pci is None:
                pci = alloc.take_int(name, f"pci:{c['name']}", pci_pool, *site.pci, what=f"PCIs at site {site.name}")
            gnb = self._gnb_for(intent, ctx, site, c)
            local_id = alloc.take_int(name, f"cell:{c['name']}", f"cell:{gnb['name']}", 1, gnb["max-cells"])
            out.append({"name": c["name"], "gnb": gnb["name"], "local_id": local_id, "pci": pci})
        return out, before

    @staticmethod
    def _gnb_for(intent, ctx, site, cell: dict) -> dict:
        alloc, name = ctx.alloc, intent.name
        held = alloc.held(name, f"cell:{cell['name']}")
        held_on = held[0].split(":", 1)[1] if held else None
        gnbs = {g["name"]: g for g in site.gnbs}
        if cell.get("gnb", held_on) == held_on and held_on in gnbs:
            return gnbs[held_on]

        def room(g) -> int:
            return g["max-cells"] - len(alloc.used(f"cell:{g['name']}"))

        if "gnb" in cell:  # check() made sure the site has it
            g = gnbs[cell["gnb"]]
            if room(g) <= 0:
                raise FullbarsError(Problem(
                    f"gNB {g['name']} of site {site.name} has no room for cell {cell['name']} (all its "
                    f"{g['max-cells']} cells are held)", **_where(intent, "cells.cell", cell["name"], "gnb"),
                    fix="name another gNB, leave gnb out to have the least loaded one chosen, or raise max-cells"))
            return g
        free = [(Fraction(g["max-cells"] - room(g), g["max-cells"]), i, g) for i, g in enumerate(site.gnbs) if room(g) > 0]
        if not free:
            raise FullbarsError(Problem(f"the gNBs of site {site.name} have no room for cell {cell['name']} "
                                        f"({sum(g['max-cells'] for g in site.gnbs)} cells in all)",
                                        **intent.where("spec.cells"),
                                        fix="add a gNB or raise max-cells in the network description"))
        return min(free, key=lambda x: x[:2])[2]
