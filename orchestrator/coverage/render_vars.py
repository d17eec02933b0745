"""What the gnb-3gpp template of a fill needs, per gNB the fill touches: the gNBs of its new
cells and of every cell a new cell becomes a neighbour of. Each such gNB is rendered whole (all
its cells, each with all its relations), so its config stands on its own."""

from __future__ import annotations

from orchestrator.coverage.fill import ANTENNA_GAIN
from orchestrator.network.radio import RadioNetwork
from orchestrator.radio.bands import BANDS


def by_gnb(plan, radio: RadioNetwork) -> dict[str, dict]:
    adj, gnb = plan.adj, plan.gnb
    ids = plan.gnb_ids
    new = range(plan.first_new, len(gnb))
    touched = {gnb[i] for i in new}
    for i in new:
        touched |= {gnb[j] for j in adj.indices[adj.indptr[i]:adj.indptr[i + 1]]}
    members: dict[str, list[int]] = {}
    for i, g in enumerate(gnb):
        if g in touched:
            members.setdefault(g, []).append(i)
    out = {}
    for g in sorted(touched):
        cells, ext = [], {}
        for i in sorted(members[g], key=lambda i: plan.local_id[i]):
            rels = []
            for j in adj.indices[adj.indptr[i]:adj.indptr[i + 1]]:
                lj = int(plan.local_id[j])
                if gnb[j] == g:
                    dn = f"ManagedElement={g},GNBCUCPFunction=CUCP-1,NRCellCU=CELL-{lj}"
                else:
                    dn = f"NRNetwork=1,ExternalGNBCUCPFunction={gnb[j]},ExternalNRCellCU=CELL-{lj}"
                    ext.setdefault(gnb[j], {})[lj] = {"name": plan.names[j], "local_id": lj, "pci": int(plan.pci[j]),
                                                      "arfcn": int(plan.arfcn[j])}
                rels.append({"name": plan.names[j], "nci": radio.nci(ids[gnb[j]], lj), "arfcn": int(plan.arfcn[j]),
                             "dn": dn})
            cells.append(_cell(plan, i, rels))
        externals = [{"name": h, "gnb_id": ids[h], "cells": [c for _, c in sorted(ext[h].items())]}
                     for h in sorted(ext)]
        out[g] = {"gnb": {"name": g, "gnb_id": ids[g]}, "gnb_id_length": radio.gnb_id_length, "mcc": radio.mcc,
                  "mnc": radio.mnc, "cells": cells, "externals": externals,
                  "xn": [str(ids[h]) for h in sorted(ext)]}
    return out


def _cell(plan, i: int, rels: list[dict]) -> dict:
    a = plan.attrs
    band = BANDS[a["band"][i]]
    power = float(a["power"][i])
    return {"name": plan.names[i], "local_id": int(plan.local_id[i]), "pci": int(plan.pci[i]), "tac": int(a["tac"][i]),
            "arfcn": int(plan.arfcn[i]), "bandwidth": int(a["bandwidth"][i]), "scs": band.scs_khz,
            "azimuth": f"{float(a['azimuth'][i]):g}", "tilt": f"{float(a['tilt'][i]):g}",
            "power_mw": int(round(10 ** (power / 10))), "eirp_dbm": int(round(power + ANTENNA_GAIN)),
            "relations": sorted(rels, key=lambda r: r["name"])}

