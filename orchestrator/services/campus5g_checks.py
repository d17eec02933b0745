"""Cross-domain checks of a campus 5G site, read from the rendered configs (so a broken template
is caught, not only a wrong allocation): the S-NSSAIs are the same in the gNBs' cells, the AMF,
SMF, NRF and UPF; every DNN is served by the SMF and the UPF alike; the gNB's N3 end point and
the UPF's agree; the UE pools are routed at the PE towards the UPF's N6 address and the
applications towards the enterprise; no two cells share a PCI; no pools overlap. Each failure
names both sides."""

from __future__ import annotations

import netaddr

from orchestrator.errors import Problem

NS = {
    "me": "urn:3gpp:sa5:_3gpp-common-managed-element",
    "du": "urn:3gpp:sa5:_3gpp-nr-nrm-gnbdufunction",
    "cell": "urn:3gpp:sa5:_3gpp-nr-nrm-nrcelldu",
    "cuup": "urn:3gpp:sa5:_3gpp-nr-nrm-gnbcuupfunction",
    "nrep": "urn:3gpp:sa5:_3gpp-nr-nrm-ep",
    "amf": "urn:3gpp:sa5:_3gpp-5gc-nrm-amffunction",
    "smf": "urn:3gpp:sa5:_3gpp-5gc-nrm-smffunction",
    "nrf": "urn:3gpp:sa5:_3gpp-5gc-nrm-nrffunction",
    "upf": "urn:3gpp:sa5:_3gpp-5gc-nrm-upffunction",
    "cep": "urn:3gpp:tsg:sa5:nrm:_3gpp-5gc-nrm-ep",
    "fbsd": "urn:fullbars:yang:fullbars-smf-dnn",
    "fbu": "urn:fullbars:yang:fullbars-upf-dnn",
    "rt": "urn:ietf:params:xml:ns:yang:ietf-routing",
    "v4": "urn:ietf:params:xml:ns:yang:ietf-ipv4-unicast-routing",
    "l3nm": "urn:ietf:params:xml:ns:yang:ietf-l3vpn-ntw",
}


def _t(el, path):
    return el.findtext(path, namespaces=NS)


def _nssai(el) -> str:
    """'SST-SD' as people read an S-NSSAI (SD upper case, '-' when absent)."""
    return f"{_t(el, '{*}sst')}-{(_t(el, '{*}sd') or '-').upper()}"


def _endpoints(fn, tag: str) -> dict[str, tuple[str, str]]:
    return {_t(ep, "{*}id"): (_t(ep, "{*}attributes/{*}localAddress/{*}ipAddress"),
                              _t(ep, "{*}attributes/{*}remoteAddress"))
            for ep in fn.iterfind(tag, NS)}


def static_routes(root) -> dict[str, str]:
    """destination prefix → next-hop address, from ietf-routing static routes or from the
    static routing of RFC 9182 L3VPN network accesses (cascaded LAN prefixes)."""
    out = {}
    for r in root.iterfind(".//rt:control-plane-protocol/rt:static-routes/v4:ipv4/v4:route", NS):
        out[_t(r, "v4:destination-prefix")] = _t(r, "v4:next-hop/v4:next-hop-address")
    for r in root.iterfind(".//l3nm:vpn-network-access/l3nm:routing-protocols/l3nm:routing-protocol/l3nm:static/"
                           "l3nm:cascaded-lan-prefixes/l3nm:ipv4-lan-prefixes", NS):
        out[_t(r, "l3nm:lan")] = _t(r, "l3nm:next-hop")
    return out


def l3nm_addresses(root) -> list[tuple[str, str]]:
    """(interface, address/prefix-length) of the L3VPN network accesses, each once."""
    out = set()
    for a in root.iterfind(".//l3nm:vpn-network-access", NS):
        v4 = a.find("l3nm:ip-connection/l3nm:ipv4", NS)
        if v4 is not None and _t(v4, "l3nm:local-address"):
            out.add((_t(a, "l3nm:interface-id"), f"{_t(v4, 'l3nm:local-address')}/{_t(v4, 'l3nm:prefix-length')}"))
    return sorted(out)


def gnb_facts(root) -> dict:
    cells, ngu = [], {}
    for me in root.iterfind("me:ManagedElement", NS):
        for du in me.iterfind("du:GNBDUFunction", NS):
            for c in du.iterfind("cell:NRCellDU", NS):
                a = c.find("cell:attributes", NS)
                cells.append({"id": f"{_t(du, 'du:id')}/{_t(c, 'cell:id')}", "pci": _t(a, "cell:nRPCI"),
                              "label": _t(a, "cell:userLabel") or "",
                              "snssai": sorted({_nssai(p) for p in a.iterfind("cell:pLMNInfoList", NS)})})
        for cu in me.iterfind("cuup:GNBCUUPFunction", NS):
            for k, v in _endpoints(cu, "nrep:EP_NgU").items():
                ngu[f"{_t(cu, 'cuup:id')}/EP_NgU={k}"] = v
    return {"cells": cells, "ngu": ngu}


def core_facts(root) -> dict:
    out = {"amf": {}, "smf": {}, "nrf": {}, "smf_dnn": {}}
    for me in root.iterfind("me:ManagedElement", NS):
        for key, tag in (("amf", "amf:AMFFunction"), ("smf", "smf:SMFFunction"), ("nrf", "nrf:NRFFunction")):
            for fn in me.iterfind(tag, NS):
                out[key][_t(fn, "{*}id")] = sorted({_nssai(s) for s in fn.iterfind("{*}attributes/{*}sNSSAIList")})
        for fn in me.iterfind("smf:SMFFunction", NS):
            for d in fn.iterfind("fbsd:dnn", NS):
                out["smf_dnn"][_t(d, "fbsd:name")] = {
                    "smf": _t(fn, "smf:id"), "snssai": _nssai(d.find("fbsd:s-nssai", NS)),
                    "pool": _t(d, "fbsd:ue-pool"), "upf": _t(d, "fbsd:upf")}
    return out


def upf_facts(root) -> dict:
    out = {"functions": {}, "dnn": {}, "n3": {}, "n6": {}, "routes": static_routes(root)}
    for me in root.iterfind("me:ManagedElement", NS):
        for fn in me.iterfind("upf:UPFFunction", NS):
            fid = _t(fn, "upf:id")
            out["functions"][f"ManagedElement={_t(me, 'me:id')},UPFFunction={fid}"] = \
                sorted({_nssai(s) for s in fn.iterfind("upf:attributes/upf:sNSSAIList", NS)})
            n6 = _endpoints(fn, "cep:EP_EP_N6")
            out["n3"].update(_endpoints(fn, "cep:EP_N3"))
            out["n6"].update(n6)
            for d in fn.iterfind("fbu:dnn", NS):
                out["dnn"][_t(d, "fbu:name")] = {
                    "upf": fid, "snssai": _nssai(d.find("fbu:s-nssai", NS)), "pool": _t(d, "fbu:ue-pool"),
                    "applications": [a.text for a in d.iterfind("fbu:application", NS)],
                    "n6": n6.get(_t(d, "fbu:n6-endpoint"), (None, None))[0]}
    return out


def pe_facts(root) -> dict:
    return {"routes": static_routes(root)}


READERS = {"gnb": gnb_facts, "core": core_facts, "upf": upf_facts, "pe": pe_facts}


def facts(role: str, tree) -> dict:
    return READERS[role](tree) if role in READERS else {}


def check(network, device_facts: dict[str, dict]) -> list[Problem]:
    problems = []
    for site in network.campus.values():
        f = {d: device_facts[d]["campus"] for d in [g["name"] for g in site.gnbs] + [site.core, site.upf, site.pe]
             if d in device_facts}
        if not f:
            continue
        # A plan renders only the gNBs its services touch; the others keep what was checked when
        # they were planned, so checks that need every cell run only when all are in view.
        gnbs = [g["name"] for g in site.gnbs if g["name"] in f]
        problems += _snssai(site, f, gnbs, all_in_view=len(gnbs) == len(site.gnbs)) + _pci(f, gnbs)
        if site.core in f and site.upf in f:
            problems += _dnn(site, f[site.core], f[site.upf])
        if site.upf in f:
            problems += _n3(site, f, gnbs) + _pools(site, f[site.upf])
            if site.pe in f:
                problems += _breakout(site, f[site.upf], f[site.pe])
    return problems


def _snssai(site, f, gnbs, all_in_view: bool) -> list[Problem]:
    """The core functions and the UPF list the same S-NSSAIs; every cell's S-NSSAIs are among
    them (a cell broadcasts only its tenant's); every one of them is broadcast by some cell."""
    fix = ("the S-NSSAI must be the same in the gNB's PLMN info, AMF, SMF, NRF and UPF; correct the "
           "template that lost or changed it")
    core: list[tuple[str, set]] = []
    if site.core in f:
        for key, name in (("amf", "AMF"), ("smf", "SMF"), ("nrf", "NRF")):
            for fid, ss in f[site.core][key].items():
                core.append((f"{site.core} {name} {fid}", set(ss)))
    if site.upf in f:
        for dn, ss in f[site.upf]["functions"].items():
            core.append((f"{site.upf} UPF {dn.rsplit('=', 1)[-1]}", set(ss)))
    cells = [(f"{g} cell {c['id']}", set(c["snssai"])) for g in gnbs for c in f[g]["cells"]]
    problems = []
    everything = set().union(*(s for _, s in core)) if core else set()
    for x in sorted(everything):
        has = next(n for n, s in core if x in s)
        for name, s in core:
            if x not in s:
                problems.append(Problem(f"S-NSSAI {x} is in {has} but not in {name}", path=name.split(" ")[0], fix=fix))
        if cells and all_in_view and not any(x in s for _, s in cells):
            problems.append(Problem(f"S-NSSAI {x} is in {has} but no cell of site {site.name} broadcasts it",
                                    path=has.split(" ")[0], fix=fix))
    for cell, s in cells:
        for x in sorted(s):
            for name, cs in core:
                if x not in cs:
                    problems.append(Problem(f"S-NSSAI {x} is in {cell} but not in {name}", path=cell.split(" ")[0],
                                            fix=fix))
    return problems


def _pci(f, gnbs) -> list[Problem]:
    seen: dict[str, str] = {}
    problems = []
    for g in gnbs:
        for c in f[g]["cells"]:
            where = f"{g} cell {c['id']} ({c['label']})"
            if c["pci"] in seen:
                problems.append(Problem(f"PCI {c['pci']} is used by {seen[c['pci']]} and by {where}", path=g,
                                        fix="cells of one site need distinct PCIs; check the allocation and template"))
            else:
                seen[c["pci"]] = where
    return problems


def _dnn(site, core, upf) -> list[Problem]:
    problems = []
    smf, up = core["smf_dnn"], upf["dnn"]
    for dnn in sorted(set(smf) | set(up)):
        a, b = smf.get(dnn), up.get(dnn)
        if b is None:
            problems.append(Problem(f"DNN {dnn} is served by {site.core} SMF {a['smf']} but {site.upf} has no "
                                    f"DNN {dnn}", path=site.upf, fix="every slice's DNN needs an SMF and a UPF"))
            continue
        if a is None:
            problems.append(Problem(f"DNN {dnn} is served by {site.upf} UPF {b['upf']} but no SMF of {site.core} "
                                    f"serves it", path=site.core, fix="every slice's DNN needs an SMF and a UPF"))
            continue
        for what in ("snssai", "pool"):
            if a[what] != b[what]:
                label = {"snssai": "S-NSSAI", "pool": "UE pool"}[what]
                problems.append(Problem(f"DNN {dnn}: {site.core} SMF {a['smf']} has {label} {a[what]} but "
                                        f"{site.upf} UPF {b['upf']} has {b[what]}", path=site.core,
                                        fix="the SMF and the UPF must agree; correct the template that differs"))
        if a["upf"] not in upf["functions"]:
            problems.append(Problem(f"DNN {dnn}: {site.core} SMF {a['smf']} selects {a['upf']}, which {site.upf} "
                                    f"does not have (it has {', '.join(upf['functions']) or 'none'})",
                                    path=site.core, fix="the SMF must select the site's UPF"))
    return problems


def _n3(site, f, gnbs) -> list[Problem]:
    upf = f[site.upf]
    upf_n3 = {local: k for k, (local, _) in upf["n3"].items()}
    gnb_local, gnb_of = {}, {}
    problems = []
    for g in gnbs:
        for ep, (local, remote) in f[g]["ngu"].items():
            gnb_local[local] = f"{g} {ep}"
            gnb_of[local] = g
            if remote not in upf_n3:
                problems.append(Problem(f"{g} {ep} sends the user plane to {remote}, but {site.upf} has no N3 end "
                                        f"point there (its N3 addresses: {', '.join(sorted(upf_n3)) or 'none'})",
                                        path=g, fix="the gNB's EP_NgU and the UPF's EP_N3 must face each other"))
    # N3 ends of gNBs this plan does not render: the UPF's N3 end points face them
    unseen = {remote for _, remote in upf["n3"].values()} - set(gnb_local) if len(gnbs) < len(site.gnbs) else set()
    for d, info in sorted(upf["dnn"].items()):
        nh = upf["routes"].get(info["pool"])
        if nh is None:
            problems.append(Problem(f"{site.upf} does not route the UE pool {info['pool']} of DNN {d} towards a gNB",
                                    path=site.upf, fix="the UPF needs a route of each UE pool to the N3 side"))
        elif nh in gnb_of:
            g = gnb_of[nh]
            if not any(info["snssai"] in c["snssai"] for c in f[g]["cells"]):
                problems.append(Problem(f"{site.upf} routes the UE pool {info['pool']} of DNN {d} to {g}, but no cell "
                                        f"of {g} broadcasts its S-NSSAI {info['snssai']}", path=site.upf,
                                        fix="route the UE pool to a gNB whose cells broadcast the slice"))
        elif gnbs and nh not in unseen:
            problems.append(Problem(f"{site.upf} routes the UE pool {info['pool']} of DNN {d} to {nh}, which is no "
                                    f"gNB's N3 address ({', '.join(f'{v}: {k}' for k, v in sorted(gnb_local.items()))})",
                                    path=site.upf, fix="route the UE pool to the gNB's EP_NgU address"))
    return problems


def _pools(site, upf) -> list[Problem]:
    problems = []
    nets = sorted((netaddr.IPNetwork(i["pool"]), f"UE pool of DNN {d}") for d, i in upf["dnn"].items())
    apps = {(a, d) for d, i in upf["dnn"].items() for a in i["applications"]}
    nets += sorted((netaddr.IPNetwork(a), f"application {a} of DNN {d}") for a, d in apps)
    for i, (na, wa) in enumerate(nets):
        for nb, wb in nets[i + 1:]:
            if na.first <= nb.last and nb.first <= na.last and not (wa.startswith("application") and
                                                                     wb.startswith("application")):
                problems.append(Problem(f"on {site.upf}: {wa} ({na}) overlaps {wb} ({nb})", path=site.upf,
                                        fix="UE pools and enterprise subnets must not overlap"))
    return problems


def _breakout(site, upf, pe) -> list[Problem]:
    problems = []
    routes = pe["routes"]
    for d, info in sorted(upf["dnn"].items()):
        nh = routes.get(info["pool"])
        if nh is None:
            problems.append(Problem(f"the UE pool {info['pool']} of DNN {d} ({site.upf}) is not routed at {site.pe}",
                                    path=site.pe, fix="the PE must route every UE pool towards the UPF"))
        elif nh != info["n6"]:
            problems.append(Problem(f"{site.pe} routes the UE pool {info['pool']} of DNN {d} to {nh}, but the N6 "
                                    f"address of {site.upf} is {info['n6']}", path=site.pe,
                                    fix="route the UE pool to the UPF's N6 end point"))
        for a in info["applications"]:
            if a not in routes:
                problems.append(Problem(f"application {a} of DNN {d} ({site.upf}) is not routed at {site.pe}",
                                        path=site.pe, fix="the PE must route every enterprise subnet to the enterprise"))
    return problems

