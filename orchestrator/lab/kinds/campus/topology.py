"""The part of a plan's lab that campus 5G services need: the site's transport links between
gNB, UPF and PE, a UE per slice on the gNB the plan gave the slice (one carrying the tenant's
cells, where the UPF routes the slice's UE pool; a radio leg of that gNB), and an enterprise LAN
behind the PE port the service breaks out to. A gNB of the site without cells is no device of
the plan, so it is not in the lab; the UPF's N3 port towards it stays unwired."""

from __future__ import annotations


def add(manifest: dict, nodes: dict, links: list) -> None:
    seen = set()
    legs: dict[str, int] = {}
    for svc, s in sorted(manifest["services"].items()):
        r = s.get("resources", {})
        if s.get("kind") != "Campus5G":
            continue
        for a, b in r["links"]:
            if a.split(":")[0] in nodes and b.split(":")[0] in nodes and (a, b) not in seen:
                seen.add((a, b))
                links.append({"endpoints": [a, b]})
        for sl in sorted(r["slices"]):
            gnb = r["slices"][sl]["gnb"]
            ue = f"ue-{svc}-{sl}"
            legs[gnb] = legs.get(gnb, 0) + 1
            nodes[ue] = {"kind": "linux", "image": "fullbars/host:latest",
                         "labels": {"fullbars.kind": "host", "fullbars.role": "ue", "fullbars.service": svc,
                                    "fullbars.slice": sl}}
            links.append({"endpoints": [f"{gnb}:ue{legs[gnb]}", f"{ue}:eth1"]})
        b = r["breakout"]
        lan = f"lan-{svc}"
        nodes[lan] = {"kind": "linux", "image": "fullbars/host:latest",
                      "labels": {"fullbars.kind": "host", "fullbars.role": "enterprise", "fullbars.service": svc}}
        links.append({"endpoints": [f"{b['pe']}:{b['interface']}", f"{lan}:eth1"]})
