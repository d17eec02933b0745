"""SentinelFleet: digital sentinels (entrance kiosks) on an enterprise's campus 5G network. The
fleet rides one of the enterprise's slices (its cells already broadcast it) with a data network
of its own: a UE pool, a low AMBR and only the sentinel platform as destination. It renders
with the campus templates as one more DNN of the enterprise, so the core, the UPF and the PE
carry it as they carry the enterprise's own."""

from __future__ import annotations

import netaddr

from orchestrator.errors import FullbarsError, Problem
from orchestrator.network.model import bps, rate_text
from orchestrator.services.base import Placement, Service
from orchestrator.services.campus5g import IMSI_DIGITS, Campus5G, shown_campus

CAMPUS = Campus5G.kind
# PE, core and UPF config of the fleet; the gNB's cells already broadcast the slice.
ROLES = ("core", "upf", "pe")


def _overlap(a: netaddr.IPNetwork, b: netaddr.IPNetwork) -> bool:
    return a.first <= b.last and b.first <= a.last


class SentinelFleet(Service):
    kind = "SentinelFleet"
    template = "campus5g"
    module = "fullbars-sentinel-fleet"
    top = "sentinel-fleet"

    def shown(self, purpose: str, pool: str, value: str, network) -> tuple[str, str]:
        return shown_campus(purpose, pool, value, network)

    def identity(self, spec: dict) -> dict:
        return {"campus": spec["campus"], "dnn": spec["dnn"]}

    def check(self, intent, ctx) -> list[Problem]:
        spec, out = intent.spec, []
        campus = ctx.intents.get(spec["campus"])
        if campus is None or campus.kind != CAMPUS:
            names = sorted(n for n, it in ctx.intents.items() if it.kind == CAMPUS)
            return [Problem(f"no campus network {spec['campus']!r}", **intent.where("spec.campus"),
                            fix="campus networks: " + (", ".join(names[:8]) or "none (plan the Campus5G first)"))]
        site = ctx.network.campus.get(campus.spec["site"])
        slices = {s["name"]: s for s in campus.spec["slice"]}
        sl = slices.get(spec["slice"])
        if sl is None:
            return [Problem(f"{campus.name} has no slice {spec['slice']!r}", **intent.where("spec.slice"),
                            fix="its slices: " + ", ".join(slices))]
        for d in ("downlink", "uplink"):
            if bps(spec["ambr"][d]) > bps(sl["ambr"][d]):
                out.append(Problem(f"the fleet's {d} AMBR {spec['ambr'][d]} is above slice {sl['name']}'s "
                                   f"{sl['ambr'][d]}", **intent.where(f"spec.ambr.{d}"),
                                   fix=f"at most {sl['ambr'][d]}: the fleet rides that slice"))
        out += self._dnn(intent, ctx, campus)
        out += self._destinations(intent, ctx, campus, site)
        hosts = 2 ** (32 - site.ue_block_length) - 2
        if spec["devices"] > hosts:
            out.append(Problem(f"{spec['devices']} kiosks do not fit a UE pool of /{site.ue_block_length} ({hosts})",
                               **intent.where("spec.devices"), fix="split the fleet, or give the site longer pools"))
        if "imsi-first" in spec:
            plmn, last = f"{site.mcc}{site.mnc}", int(spec["imsi-first"]) + spec["devices"] - 1
            if not spec["imsi-first"].startswith(plmn) or not f"{last:015d}".startswith(plmn):
                out.append(Problem(f"IMSIs {spec['imsi-first']}..{last:015d} are not all in the site's PLMN "
                                   f"{site.mcc}-{site.mnc}", **intent.where("spec.imsi-first"),
                                   fix=f"IMSIs of this site start with {plmn}"))
        elif spec["devices"] > site.imsi_block:
            out.append(Problem(f"{spec['devices']} kiosks need more IMSIs than one block holds ({site.imsi_block})",
                               **intent.where("spec.devices"), fix="give imsi-first, or split the fleet"))
        return out

    def _dnn(self, intent, ctx, campus) -> list[Problem]:
        """A DNN names one data network at the site, whoever's it is."""
        dnn, site = intent.spec["dnn"], campus.spec["site"]
        for name, it in sorted(ctx.intents.items()):
            if name == intent.name:
                continue
            if it.kind == CAMPUS and it.spec["site"] == site:
                theirs = {s["dnn"] for s in it.spec["slice"]}
            elif it.kind == self.kind and (ctx.intents.get(it.spec["campus"]) or it).spec.get("site") == site:
                theirs = {it.spec["dnn"]}
            else:
                continue
            if dnn in theirs:
                return [Problem(f"DNN {dnn} is already used at site {site} by {name}",
                                **intent.where("spec.dnn"), fix="give the fleet a data network of its own")]
        return []

    def _destinations(self, intent, ctx, campus, site) -> list[Problem]:
        """The PE holds every tenant's routes in one table: a destination may be one of the
        enterprise's own applications, but must stay clear of the site's ranges and of others'."""
        out = []
        own = {a["subnet"] for a in campus.spec.get("application", [])}
        others = [(n, a["subnet"]) for n, it in sorted(ctx.intents.items()) if it.kind == CAMPUS and n != campus.name
                  and it.spec["site"] == site.name for a in it.spec.get("application", [])]
        ranges = [("the site's UE pool range", site.ue_pool), ("the site's transport links", site.transport),
                  ("the site's enterprise links", site.enterprise_links)]
        for fleet in sorted(ctx.intents.of_kind(self.kind), key=lambda it: it.name):  # another tenant's router
            theirs = ctx.intents.quiet(fleet.spec["campus"])
            if fleet.name != intent.name and theirs is not None and theirs.name != campus.name \
                    and theirs.spec.get("site") == site.name:
                ranges += [(f"destination {d['name']} of {fleet.name} ({theirs.name})", d["subnet"])
                           for d in fleet.spec["destination"]]
        for i, d in enumerate(intent.spec["destination"]):
            p, where = netaddr.IPNetwork(d["subnet"]), intent.where(f"spec.destination[{i}].subnet")
            if p.ip != p.network:
                out.append(Problem(f"destination {d['name']} {d['subnet']} has host bits set", **where,
                                   fix=f"did you mean {p.cidr}?"))
            for e in intent.spec["destination"][:i]:  # one route would hide the other
                if _overlap(p, netaddr.IPNetwork(e["subnet"])):
                    out.append(Problem(f"destination {d['name']} {d['subnet']} overlaps destination {e['name']} "
                                       f"{e['subnet']} of the same fleet", **where,
                                       fix="give each destination a range of its own, or one destination "
                                           "covering both"))
            if d["subnet"] in own:
                continue
            for what, prefix in ranges + [(f"an application of {n}", s) for n, s in others] + \
                    [(f"an application of {campus.name}", s) for s in sorted(own)]:
                if _overlap(p, netaddr.IPNetwork(prefix)):
                    out.append(Problem(f"destination {d['name']} {d['subnet']} overlaps {what} {prefix}", **where,
                                       fix="the PE holds the site's routes in one table: choose the platform's "
                                           "own range"))
        return out

    def place(self, intent, ctx) -> Placement:
        net, alloc, name, spec = ctx.network, ctx.alloc, intent.name, intent.spec
        campus = ctx.intents.get(spec["campus"])
        if campus is None:  # a stored fleet whose campus network is being deleted
            raise FullbarsError(Problem(f"fleet {name} rides campus network {spec['campus']}, which would no longer "
                                        "exist", **intent.where("spec.campus"),
                                        fix=f"delete {name} with it (fullbars delete {spec['campus']} {name})"))
        tenant = Campus5G().place(campus, ctx)  # idempotent: the tenant's own allocations
        site = net.campus[campus.spec["site"]]
        ride = tenant.resources["slices"].get(spec["slice"])
        if ride is None:
            raise FullbarsError(Problem(f"fleet {name} rides slice {spec['slice']}, which {campus.name} no longer has",
                                        **intent.where("spec.slice"),
                                        fix=f"keep the slice in {campus.name}, or give the fleet another slice"))
        sst, sd = ride["s-nssai"].split("-")
        pool = alloc.take_block(name, "ue-pool", f"ue-pool:{site.name}", site.ue_pool, site.ue_block_length)
        imsi = self._imsi(intent, ctx, site)
        fleet = {"name": name, "sst": int(sst), "sd": sd, "dnn": spec["dnn"], "five_qi": 9, "ue_pool": str(pool.cidr),
                 "down_bps": bps(spec["ambr"]["downlink"]), "up_bps": bps(spec["ambr"]["uplink"]),
                 "expected_ues": spec["devices"], "applications": [d["subnet"] for d in spec["destination"]],
                 "application_names": [d["name"] for d in spec["destination"]], "gnb": ride["gnb"]}
        devices = {}
        for role in ROLES:
            dev = getattr(site, role)
            v = dict(tenant.devices[dev], slices=[fleet], snssai=[{"sst": int(sst), "sd": sd}])
            if role == "upf":
                v["ue_gnb"] = {name: v["links"]["n3"][ride["gnb"]]}
            if role == "pe":
                v["applications"] = [{"name": d["name"], "subnet": d["subnet"]} for d in spec["destination"]]
            devices[dev] = v
        resources = {"campus": campus.name, "site": site.name, "slice": spec["slice"], "s-nssai": ride["s-nssai"],
                     "dnn": spec["dnn"], "ue-pool": str(pool.cidr), "imsi": imsi, "kiosks": spec["devices"],
                     "ambr": f"{rate_text(fleet['down_bps'])} down / {rate_text(fleet['up_bps'])} up",
                     "destinations": {d["name"]: d["subnet"] for d in spec["destination"]}, "gnb": ride["gnb"]}
        return Placement(devices=devices, resources=resources)

    @staticmethod
    def _imsi(intent, ctx, site) -> str:
        """The fleet's IMSIs: its own range (holding every block it touches), else a free block."""
        alloc, name, spec, bs = ctx.alloc, intent.name, intent.spec, site.imsi_block
        plmn = f"{site.mcc}{site.mnc}"
        digits, pool = IMSI_DIGITS - len(plmn), f"imsi:{plmn}"
        if "imsi-first" in spec:
            first = int(spec["imsi-first"][len(plmn):])
            want = {f"imsi:{k}": k for k in range(first // bs, (first + spec["devices"] - 1) // bs + 1)}
            alloc.release(name, [p for p in alloc.of(name) if p.startswith("imsi") and p not in want])
            for purpose, k in want.items():
                holder = alloc.take_value(name, purpose, pool, k)
                if holder and holder != name:
                    raise FullbarsError(Problem(f"the fleet's IMSIs fall in a block {holder} holds (blocks of {bs})",
                                                **intent.where("spec.imsi-first"),
                                                fix="choose other IMSIs, or leave imsi-first out"))
        else:
            alloc.release(name, [p for p in alloc.of(name) if p.startswith("imsi:")])
            first = bs * alloc.take_int(name, "imsi", pool, 0, 10 ** digits // bs - 1, what=f"IMSI blocks of {plmn}")
        return f"{plmn}{first:0{digits}d}-{plmn}{first + spec['devices'] - 1:0{digits}d}"
