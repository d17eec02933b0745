"""Checks of the radio a coverage fill renders, read from the gNB configs themselves (so a
broken template is caught, not only a wrong plan), over every gNB of the plan: no cell shares
its PCI with a neighbour (collision), no two neighbours of a cell share a PCI (confusion), cells
of one gNB on one carrier differ in PCI mod 3 where there are at most 3 of them, every relation
points at a cell that exists (on the gNB, or as an ExternalNRCellCU that matches the real cell
when that gNB is in the plan), and relations between two gNBs of the plan go both ways."""

from __future__ import annotations

from collections import defaultdict

from orchestrator.errors import Problem

NS = {
    "me": "urn:3gpp:sa5:_3gpp-common-managed-element",
    "du": "urn:3gpp:sa5:_3gpp-nr-nrm-gnbdufunction",
    "celldu": "urn:3gpp:sa5:_3gpp-nr-nrm-nrcelldu",
    "cucp": "urn:3gpp:sa5:_3gpp-nr-nrm-gnbcucpfunction",
    "cellcu": "urn:3gpp:sa5:_3gpp-nr-nrm-nrcellcu",
    "rel": "urn:3gpp:sa5:_3gpp-nr-nrm-nrcellrelation",
    "nrnet": "urn:3gpp:sa5:_3gpp-nr-nrm-nrnetwork",
    "xcp": "urn:3gpp:sa5:_3gpp-nr-nrm-externalgnbcucpfunction",
    "xcell": "urn:3gpp:sa5:_3gpp-nr-nrm-externalnrcellcu",
}


def _dn(dn: str) -> dict:
    return dict(part.split("=", 1) for part in dn.split(",") if "=" in part)


def facts(role: str, tree) -> dict:
    """cells: {cell id: (pci, arfcn)}; relations: {cell id: [(gnb or None for this one, cell id)]};
    externals: {(gnb, cell id): pci}. Empty for a gNB without a CU-CP (nothing of a fill)."""
    if role != "gnb" or tree.find(".//cucp:GNBCUCPFunction", NS) is None:
        return {}
    me = tree.findtext("me:ManagedElement/me:id", namespaces=NS)
    cells = {}
    for c in tree.iterfind(".//du:GNBDUFunction/celldu:NRCellDU", NS):
        cells[c.findtext("celldu:id", namespaces=NS)] = (int(c.findtext("celldu:attributes/celldu:nRPCI",
                                                                         namespaces=NS)),
                                                         c.findtext("celldu:attributes/celldu:arfcnDL", namespaces=NS))
    relations = defaultdict(list)
    for cu in tree.iterfind(".//cucp:GNBCUCPFunction/cellcu:NRCellCU", NS):
        cid = cu.findtext("cellcu:id", namespaces=NS)
        relations[cid]  # a cell without relations is a cell too
        for r in cu.iterfind("rel:NRCellRelation", NS):
            d = _dn(r.findtext("rel:attributes/rel:adjacentNRCellRef", namespaces=NS) or "")
            if d.get("ManagedElement") == me and "NRCellCU" in d:
                relations[cid].append((None, d["NRCellCU"]))
            else:
                relations[cid].append((d.get("ExternalGNBCUCPFunction", "?"), d.get("ExternalNRCellCU", "?")))
    externals = {}
    for g in tree.iterfind("nrnet:NRNetwork/xcp:ExternalGNBCUCPFunction", NS):
        gname = g.findtext("xcp:id", namespaces=NS)
        for x in g.iterfind("xcell:ExternalNRCellCU", NS):
            externals[(gname, x.findtext("xcell:id", namespaces=NS))] = int(
                x.findtext("xcell:attributes/xcell:nRPCI", namespaces=NS))
    return {"cells": cells, "relations": dict(relations), "externals": externals}


def check(device_facts: dict[str, dict]) -> list[Problem]:
    radio = {d: f["coverage"] for d, f in device_facts.items() if f.get("coverage")}
    out = []
    for dev, f in sorted(radio.items()):
        def pci_of(gnb, cell):
            if gnb is None:
                return f["cells"].get(cell, (None,))[0]
            return f["externals"].get((gnb, cell))

        for cell, rels in sorted(f["relations"].items()):
            if cell not in f["cells"]:
                out.append(Problem(f"{dev}: NRCellCU {cell} has no NRCellDU", path=f"{dev}/NRCellCU={cell}",
                                   fix="correct templates/gnb-3gpp/coverage-fill.xml.j2"))
                continue
            mine = f["cells"][cell][0]
            seen: dict[int, str] = {}
            for gnb, target in rels:
                where = f"{dev}/NRCellCU={cell}/NRCellRelation->{gnb or dev}/{target}"
                p = pci_of(gnb, target)
                if p is None:
                    out.append(Problem(f"{dev}: cell {cell}'s relation points at {gnb or dev} {target}, which this "
                                       f"config does not hold", path=where,
                                       fix="every relation's target must be a cell of the gNB or an ExternalNRCellCU"))
                    continue
                if gnb is not None and gnb in radio:
                    real = radio[gnb]["cells"].get(target)
                    if real is None:
                        out.append(Problem(f"{dev}: cell {cell}'s neighbour {gnb} {target} does not exist on {gnb}",
                                           path=where, fix="plan the fill again"))
                        continue
                    if real[0] != p:
                        out.append(Problem(f"{dev}: ExternalNRCellCU {gnb} {target} says PCI {p}; {gnb} gives that "
                                           f"cell PCI {real[0]}", path=where, fix="plan the fill again"))
                    if (None, cell) not in [(None, t) for g, t in radio[gnb]["relations"].get(target, [])
                                            if g == dev]:
                        out.append(Problem(f"{dev} cell {cell} → {gnb} cell {target} has no relation back",
                                           path=where, fix="neighbour relations go both ways"))
                elif gnb is None and (None, cell) not in f["relations"].get(target, []):
                    out.append(Problem(f"{dev} cell {cell} → cell {target} has no relation back", path=where,
                                       fix="neighbour relations go both ways"))
                if p == mine:
                    out.append(Problem(f"PCI collision: {dev} cell {cell} and its neighbour {gnb or dev} {target} "
                                       f"both have PCI {p}", path=where, fix="plan the fill again"))
                if p in seen:
                    out.append(Problem(f"PCI confusion: {dev} cell {cell} has two neighbours with PCI {p} "
                                       f"({seen[p]} and {gnb or dev} {target})", path=where,
                                       fix="plan the fill again"))
                seen[p] = f"{gnb or dev} {target}"
        by_carrier = defaultdict(list)
        for cell, (p, arfcn) in f["cells"].items():
            by_carrier[arfcn].append((cell, p))
        for arfcn, cells in sorted(by_carrier.items()):
            pcis = [p for _, p in cells]
            if len(set(pcis)) < len(pcis) or (len(cells) <= 3 and len({p % 3 for p in pcis}) < len(cells)):
                out.append(Problem(f"{dev}: cells on ARFCN {arfcn} share a PCI or a PCI mod 3: "
                                   + ", ".join(f"{c} {p}" for c, p in sorted(cells)),
                                   path=f"{dev}/GNBDUFunction", fix="plan the fill again"))
    return out
