"""Checks of the radio a coverage fill renders, read from the gNB configs themselves (so a
broken template is caught, not only a wrong plan), over every gNB of the plan: no cell shares
its PCI with a neighbour (collision), no two neighbours of a cell share a PCI (confusion), cells
of one gNB on one carrier differ in PCI mod 3 where there are at most 3 of them, every relation
points at a cell that exists (on the gNB, or as an ExternalNRCellCU that matches the real cell
when that gNB is in the plan), relations between two gNBs of the plan go both ways, no two cells
share an NR cell identity, and a relation's nRTCI is its target's NR cell identity.
`lab verify` runs the same rules over what the lab's gNBs run (orchestrator/lab/kinds/coverage)."""

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


RELATION_FLAGS = ("isHOAllowed", "isRemoveAllowed")  # handover allowed, not removable by ANR


def _dn(dn: str) -> dict:
    return dict(part.split("=", 1) for part in dn.split(",") if "=" in part)


def nci(gnb_id: str | None, length: str | None, local_id: str | None) -> int | None:
    """The NR cell identity (TS 38.300: the gNB id in the leading gNBIdLength of 36 bits)."""
    if gnb_id is None or length is None or local_id is None:
        return None
    return (int(gnb_id) << (36 - int(length))) | int(local_id)


def facts(role: str, tree) -> dict:
    """cells: {cell id: (pci, arfcn)}; relations: {cell id: [(gnb or None for this one, cell id)]};
    externals: {(gnb, cell id): pci}; ncis: {cell id: NR cell identity}; external_ncis:
    {(gnb, cell id): its NR cell identity}; rel_ncis: {(cell id, gnb or None, cell id): nRTCI};
    rel_flags: {(cell id, gnb or None, cell id): the RELATION_FLAGS' values}.
    Empty for a gNB without a CU-CP (nothing of a fill)."""
    if role != "gnb" or tree.find(".//cucp:GNBCUCPFunction", NS) is None:
        return {}
    me = tree.findtext("me:ManagedElement/me:id", namespaces=NS)
    du = tree.find(".//du:GNBDUFunction/du:attributes", NS)
    gid, glen = (None, None) if du is None else (du.findtext("du:gNBId", namespaces=NS),
                                                 du.findtext("du:gNBIdLength", namespaces=NS))
    cells, ncis, rel_ncis, rel_flags = {}, {}, {}, {}
    for c in tree.iterfind(".//du:GNBDUFunction/celldu:NRCellDU", NS):
        cells[c.findtext("celldu:id", namespaces=NS)] = (int(c.findtext("celldu:attributes/celldu:nRPCI",
                                                                         namespaces=NS)),
                                                         c.findtext("celldu:attributes/celldu:arfcnDL", namespaces=NS))
        ncis[c.findtext("celldu:id", namespaces=NS)] = nci(gid, glen, c.findtext("celldu:attributes/celldu:cellLocalId",
                                                                                  namespaces=NS))
    relations = defaultdict(list)
    for cu in tree.iterfind(".//cucp:GNBCUCPFunction/cellcu:NRCellCU", NS):
        cid = cu.findtext("cellcu:id", namespaces=NS)
        relations[cid]  # a cell without relations is a cell too
        for r in cu.iterfind("rel:NRCellRelation", NS):
            d = _dn(r.findtext("rel:attributes/rel:adjacentNRCellRef", namespaces=NS) or "")
            if d.get("ManagedElement") == me and "NRCellCU" in d:
                rel = (None, d["NRCellCU"])
            else:
                rel = (d.get("ExternalGNBCUCPFunction", "?"), d.get("ExternalNRCellCU", "?"))
            relations[cid].append(rel)
            t = r.findtext("rel:attributes/rel:nRTCI", namespaces=NS)
            rel_ncis[(cid, *rel)] = int(t) if t is not None else None
            rel_flags[(cid, *rel)] = tuple(r.findtext(f"rel:attributes/rel:{flag}", namespaces=NS)
                                           for flag in RELATION_FLAGS)
    externals, external_ncis = {}, {}
    for g in tree.iterfind("nrnet:NRNetwork/xcp:ExternalGNBCUCPFunction", NS):
        gname = g.findtext("xcp:id", namespaces=NS)
        xid, xlen = g.findtext("xcp:attributes/xcp:gNBId", namespaces=NS), g.findtext(
            "xcp:attributes/xcp:gNBIdLength", namespaces=NS)
        for x in g.iterfind("xcell:ExternalNRCellCU", NS):
            key = (gname, x.findtext("xcell:id", namespaces=NS))
            externals[key] = int(x.findtext("xcell:attributes/xcell:nRPCI", namespaces=NS))
            external_ncis[key] = nci(xid, xlen, x.findtext("xcell:attributes/xcell:cellLocalId", namespaces=NS))
    return {"cells": cells, "relations": dict(relations), "externals": externals, "ncis": ncis,
            "external_ncis": external_ncis, "rel_ncis": rel_ncis, "rel_flags": rel_flags}


def across(network, device_facts: dict[str, dict]) -> list[Problem]:
    """check, as a plan runs it (CrossCheck): the cells' facts need no network description."""
    return check(device_facts)


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
                want = (f["ncis"].get(target) if gnb is None else
                         radio[gnb]["ncis"].get(target) if gnb in radio else f["external_ncis"].get((gnb, target)))
                got = f["rel_ncis"].get((cell, gnb, target))
                if want is not None and got != want:
                    out.append(Problem(f"{dev}: cell {cell}'s relation to {gnb or dev} {target} carries nRTCI {got}; "
                                       f"that cell's NR cell identity is {want}", path=where, fix="plan the fill again"))
                if gnb is not None and gnb in radio and f["external_ncis"].get((gnb, target)) not in (
                        None, radio[gnb]["ncis"].get(target)):
                    out.append(Problem(f"{dev}: ExternalNRCellCU {gnb} {target} has NR cell identity "
                                       f"{f['external_ncis'][(gnb, target)]}; {gnb} gives that cell "
                                       f"{radio[gnb]['ncis'].get(target)}", path=where, fix="plan the fill again"))
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
    holders = defaultdict(list)
    for dev, f in sorted(radio.items()):
        for cell, n in sorted(f["ncis"].items()):
            holders[n].append(f"{dev} {cell}")
    for n, cells in sorted(holders.items(), key=lambda kv: kv[1]):
        if n is not None and len(cells) > 1:
            out.append(Problem(f"NR cell identity {n} is held by {len(cells)} cells: {', '.join(cells)}",
                               path=cells[0].replace(" ", "/NRCellDU="), fix="give each gNB its own gNB id"))
    return out
