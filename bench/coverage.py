"""Radio planning at national scale: PCI and neighbour planning for 60,000 sites (180,000
cells), the bulk import of that network from CSV, and prediction throughput (cell x point pairs
per second, TR 38.901 with the spatial index).

Prints and writes bench/results/coverage.json: seconds per stage, neighbour relations per cell,
PCI rule checks over the result (collisions, confusions: must be 0), cells whose mod-3/30 rule
towards their strongest neighbour gave way, and peak RSS. The goal is planning in under 60 s
on 2 cores.
Usage: python bench/coverage.py [SITES]   (default 60000)
"""

from __future__ import annotations

import csv
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ISD = 500.0
NEIGHBOURS = 8


def national(sites: int, seed: int = 1):
    from orchestrator.radio.bands import BANDS
    from orchestrator.radio.cells import Cells

    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(sites)))
    g = (np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)[:sites] - side / 2) * ISD
    g = g + rng.uniform(-0.3, 0.3, g.shape) * ISD
    n = 3 * sites
    az = (np.tile([0.0, 120.0, 240.0], sites) + np.repeat(rng.uniform(0, 120, sites), 3)) % 360
    band = BANDS["n78"]
    return Cells.build(np.repeat(g, 3, axis=0), np.full(n, 25.0), np.round(az, 1), np.full(n, 6.0),
                       np.full(n, 46.0), ["n78"] * n, [100] * n, [band.default_arfcn] * n, np.full(n, 17.0),
                       np.repeat(np.arange(sites), 3))


def rule_check(adj, pci) -> tuple[int, int]:
    """Collisions (neighbours with one PCI) and confusions (a cell with two neighbours of one PCI)."""
    rows = np.repeat(np.arange(adj.shape[0]), np.diff(adj.indptr))
    collisions = int((pci[rows] == pci[adj.indices]).sum()) // 2
    key = rows.astype(np.int64) * 1024 + pci[adj.indices]
    _, counts = np.unique(key, return_counts=True)
    return collisions, int((counts > 1).sum())


def write_csv(cells, pci, folder: Path) -> Path:
    from orchestrator.radio.geo import LocalFrame

    frame = LocalFrame(31.2, 121.45)
    sxy = cells.xy[::3]
    lat, lon = frame.latlon(sxy)
    with open(folder / "sites.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "gnb-id", "latitude", "longitude", "height"])
        w.writerows([f"s{i}", i + 1, f"{lat[i]:.7f}", f"{lon[i]:.7f}", 25] for i in range(len(sxy)))
    with open(folder / "cells.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "gnb", "cell-local-id", "azimuth", "tilt", "band", "arfcn", "bandwidth", "power", "pci",
                    "tac"])
        w.writerows([f"s{i // 3}-{i % 3 + 1}", f"s{i // 3}", i % 3 + 1, f"{cells.azimuth[i]:.1f}", 6, "n78",
                     int(cells.arfcn[i]), 100, 46, int(pci[i]), 1 + i // 3000] for i in range(len(cells)))
    net = folder / "network.yaml"
    net.write_text("apiVersion: fullbars.io/v1\nkind: Network\nmetadata: {name: national}\nspec:\n"
                   "  radio:\n    import: {sites: sites.csv, cells: cells.csv}\n")
    return net


def main(sites: int) -> dict:
    from orchestrator.network.model import load_network
    from orchestrator.radio import neighbours, pci as pci_plan
    from orchestrator.radio.predict import pairs

    out: dict = {"sites": sites, "cells": 3 * sites, "cpus": os.cpu_count(), "neighbours_per_cell": NEIGHBOURS}
    cells = national(sites)
    t0 = time.perf_counter()
    adj, nb = neighbours.relations(cells, "uma", NEIGHBOURS)
    t1 = time.perf_counter()
    plan = pci_plan.assign(np.full(len(cells), -1), cells.site, adj, nb[:, :1], np.ones(len(cells), bool))
    t2 = time.perf_counter()
    col, conf = rule_check(adj, plan.pci)
    out |= {"neighbours_s": round(t1 - t0, 2), "pci_s": round(t2 - t1, 2), "planning_s": round(t2 - t0, 2),
            "relations_per_cell": round(adj.nnz / len(cells), 2), "collisions": col, "confusions": conf,
            "mod_rule_relaxed_cells": len(plan.relaxed), "unplaceable_cells": len(plan.failed),
            "distinct_pcis": int(len(np.unique(plan.pci)))}
    with tempfile.TemporaryDirectory() as d:
        net = write_csv(cells, plan.pci, Path(d))
        t3 = time.perf_counter()
        loaded = load_network(net)
        out["csv_import_s"] = round(time.perf_counter() - t3, 2)
        assert len(loaded.radio) == len(cells) and len(loaded.radio.gnbs) == sites
        del loaded
    # prediction: every cell within reach of random points in the middle of the country
    rng = np.random.default_rng(2)
    span = np.sqrt(sites) * ISD / 4
    pts = rng.uniform(-span, span, (4000, 2))
    t4 = time.perf_counter()
    c, _, r = pairs(cells, pts, "uma")
    dt = time.perf_counter() - t4
    out |= {"prediction_pairs": int(len(c)), "prediction_s": round(dt, 2),
            "prediction_pairs_per_s": int(len(c) / dt), "prediction_finite": bool(np.isfinite(r).all())}
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60000
    res = main(n)
    for k, v in res.items():
        print(f"{k:26} {v}")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "coverage.json").write_text(json.dumps(res, indent=2) + "\n")
