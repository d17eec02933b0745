"""A coverage fill checked in the lab: the PCIs, NR cell identities and NRCellRelations are read
back over NETCONF from every gNB of the fill's running config, and the rules the plan checked
(orchestrator/services/coverage_checks.py: PCI collision and confusion, mod 3 among co-sited cells,
relation targets that exist and carry the target's PCI and NR cell identity, relations both
ways, NR cell identities unique) are run again over what the devices hold. What the plan knew
(the bundle's intended configs: its cells, and the cells on air of gNBs outside the plan, as
ExternalNRCellCU, and each relation with its handover flags) must be what the devices hold too:
a PCI changed on one device by hand is named with the device, the cell and the rule, even where it
happens to break no other rule."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from orchestrator.netconf.session import read_running, rpc_error_text
from orchestrator.services import coverage_checks


def _identities(f: dict) -> dict[tuple[str | None, str], tuple[int, int | None]]:
    """{(None, cell): (pci, nci)} of a gNB's own cells and {(gnb, cell): (pci, nci)} of its externals."""
    out = {(None, c): (pci, f["ncis"].get(c)) for c, (pci, _) in f["cells"].items()}
    out.update({k: (pci, f["external_ncis"].get(k)) for k, pci in f["externals"].items()})
    return out


def _planned(plan_dir: str | None, dev: str) -> dict | None:
    """The facts of the device's intended config in the bundle (None when the bundle lacks it)."""
    p = Path(plan_dir or "") / f"{dev}.xml"
    if not plan_dir or not p.is_file():
        return None
    return coverage_checks.facts("gnb", etree.parse(str(p))) or None


def _against_plan(dev: str, live: dict, planned: dict) -> list[str]:
    out = []
    have, want = _identities(live), _identities(planned)
    for key in sorted(want, key=lambda k: (k[0] or "", k[1])):
        where = f"{dev} cell {key[1]}" if key[0] is None else f"{dev}: ExternalNRCellCU {key[0]} {key[1]}"
        if key not in have:
            out.append(f"{where}: planned, not on the device")
            continue
        for i, what in enumerate(("PCI", "NR cell identity")):
            if have[key][i] != want[key][i]:
                out.append(f"{where}: {what} {have[key][i]} on the device, {want[key][i]} planned "
                           f"(rule: {what} as planned)")
    for key in sorted(set(have) - set(want), key=lambda k: (k[0] or "", k[1])):
        out.append(f"{dev} cell {key[1]} is on the device, not in the plan" if key[0] is None else
                   f"{dev}: ExternalNRCellCU {key[0]} {key[1]} is on the device, not in the plan")
    planned_rels = {(c, *r) for c, rs in planned["relations"].items() for r in rs}
    live_rels = {(c, *r) for c, rs in live["relations"].items() for r in rs}
    for c, g, t in sorted(planned_rels - live_rels, key=str):
        out.append(f"{dev} cell {c}: the NRCellRelation to {g or dev} {t} is planned, not on the device")
    for c, g, t in sorted(live_rels - planned_rels, key=str):
        out.append(f"{dev} cell {c}: an NRCellRelation to {g or dev} {t} is on the device, not in the plan")
    for key in sorted(planned_rels & live_rels, key=str):
        for flag, got, want in zip(coverage_checks.RELATION_FLAGS, live["rel_flags"][key], planned["rel_flags"][key]):
            if got != want:
                out.append(f"{dev} cell {key[0]}: the NRCellRelation to {key[1] or dev} {key[2]} has {flag} {got}, "
                           f"{want} planned (rule: relation flags as planned)")
    return out


def verify(m: dict, st: dict, kind: str, only: list[str] | None = None) -> list[dict]:
    from orchestrator.lab.endpoints import lab_endpoints

    fills = [(k, v) for k, v in sorted(m["services"].items())
             if v.get("kind") == kind and v.get("serving", True) and (not only or k in only)]
    if not fills:
        return []
    eps = lab_endpoints(st)
    rows = []
    for svc, s in fills:
        row = {"service": svc, "problems": [], "gnbs": {}}
        live = {}
        for dev in sorted(s["devices"]):
            if dev not in eps:
                row["problems"].append(f"{dev}: not in the lab")
                continue
            try:
                tree = etree.fromstring(read_running(eps[dev], st["nodes"][dev]["kind"]).encode())
            except Exception as e:
                row["problems"].append(f"{dev}: cannot read its running config: {rpc_error_text(e)}")
                continue
            live[dev] = coverage_checks.facts("gnb", tree)
            if not live[dev]:
                row["problems"].append(f"{dev}: runs no GNBCUCPFunction (the fill's cells are not on it)")
                continue
            f = live[dev]
            row["gnbs"][dev] = {"cells": {c: {"pci": pci, "nci": f["ncis"].get(c)} for c, (pci, _) in
                                          sorted(f["cells"].items())},
                                "relations": sum(len(r) for r in f["relations"].values()),
                                "externals": len(f["externals"])}
            planned = _planned(m.get("dir"), dev)
            if planned is not None:
                row["problems"] += _against_plan(dev, f, planned)
        row["problems"] += [p.message for p in coverage_checks.check(
            {d: {"coverage": f} for d, f in live.items() if f})]
        row["problems"] = list(dict.fromkeys(row["problems"]))  # one wrong cell is met by every relation to it
        row["cells"] = sum(len(g["cells"]) for g in row["gnbs"].values())
        row["relations"] = sum(g["relations"] for g in row["gnbs"].values())
        row["summary"] = (f"{len(row['gnbs'])} gNB(s), {row['cells']} cell(s), {row['relations']} relation(s) "
                          f"read from running")
        row["ok"] = not row["problems"]
        rows.append(row)
    return rows
