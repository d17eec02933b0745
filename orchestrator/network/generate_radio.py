"""A generated radio area (seeded, so every run writes the same files): gNB sites on a jittered
grid with holes where industrial parks lack coverage, cells with PCIs planned without clashes,
measured points in the weak spots (below target), candidate sites in and around the holes, and
a CoverageFill intent for them. For tests, examples and the bench."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import yaml

from orchestrator.radio import neighbours, pci as pci_plan
from orchestrator.radio.bands import BANDS
from orchestrator.radio.cells import Cells
from orchestrator.radio.cover import Target, meets
from orchestrator.radio.geo import LocalFrame
from orchestrator.radio.predict import serving
from orchestrator.radio.propagation import noise_re_dbm

LAT0, LON0 = 31.2000, 121.4500
BAND = "n78"
LOAD = 0.5  # the cells around transmit on half their resource elements when the points are measured


def sites_and_cells(n_cells: int, seed: int, isd: float = 450.0):
    """(site xy, cells per site, hole centres, cell arrays) in metres around (0, 0)."""
    rng = np.random.default_rng(seed)
    n_sites = -(-n_cells // 3)
    holes = int(np.clip(n_sites // 25, 1, 6))
    side = int(np.ceil(np.sqrt(n_sites * 1.3 + holes * 25))) + 2  # a hole takes about 21 grid sites
    g = (np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2) - (side - 1) / 2) * isd
    g = g + rng.uniform(-0.2, 0.2, g.shape) * isd
    centres = rng.uniform(-0.3, 0.3, (holes, 2)) * side * isd
    far = np.min(np.linalg.norm(g[:, None] - centres[None], axis=-1), axis=1) > 2.6 * isd
    g = g[far]
    g = g[np.argsort(np.linalg.norm(g, axis=1))][:n_sites]
    per_site = np.full(n_sites, 3)
    per_site[n_sites - 1] -= 3 * n_sites - n_cells
    site = np.repeat(np.arange(n_sites), per_site)
    az = (np.concatenate([np.arange(k) * 360 / 3 for k in per_site]) + np.repeat(rng.uniform(0, 120, n_sites),
                                                                               per_site)) % 360
    m = len(site)
    band = BANDS[BAND]
    cells = Cells.build(g[site], np.full(m, 25.0), np.round(az, 1), np.full(m, 6.0), np.full(m, 46.0), [BAND] * m,
                        [band.default_bw_mhz] * m, [band.default_arfcn] * m, np.full(m, 17.0), site)
    return g, per_site, centres, cells


def generate(out: Path, n_cells: int = 500, n_points: int = 2000, seed: int = 17, candidates_per_hole: int = 6,
             neighbours_n: int = 8) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    frame = LocalFrame(LAT0, LON0)
    sxy, per_site, centres, cells = sites_and_cells(n_cells, seed)
    adj, nb = neighbours.relations(cells, "uma", neighbours_n)
    pcis = pci_plan.assign(np.full(len(cells), -1), cells.site, adj, nb[:, :1], np.ones(len(cells), bool)).pci
    lat, lon = frame.latlon(sxy)
    with open(out / "sites.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "gnb-id", "latitude", "longitude", "height"])
        for i in range(len(sxy)):
            w.writerow([f"gnb-{i + 1:05d}", 1000 + i, f"{lat[i]:.7f}", f"{lon[i]:.7f}", 25])
    with open(out / "cells.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "gnb", "cell-local-id", "azimuth", "tilt", "band", "arfcn", "bandwidth", "power", "pci",
                    "tac"])
        local = np.concatenate([np.arange(k) for k in per_site])
        for i in range(len(cells)):
            s = int(cells.site[i])
            w.writerow([f"gnb-{s + 1:05d}-{local[i] + 1}", f"gnb-{s + 1:05d}", int(local[i]) + 1,
                        f"{cells.azimuth[i]:.1f}", "6", BAND, int(cells.arfcn[i]), 100, 46, int(pcis[i]), 100])
    network = {"apiVersion": "fullbars.io/v1", "kind": "Network", "metadata": {"name": f"radio-area-{seed}"},
               "spec": {"credentials": {"username": "fullbars", "secret-ref": "env:FULLBARS_NETCONF_PASSWORD"},
                        "radio": {"plmn": {"mcc": "001", "mnc": "01"}, "environment": "uma",
                                  "gnb-id": {"first": 1000, "last": 4000},
                                  "import": {"sites": "sites.csv", "cells": "cells.csv"}}}}
    (out / "network.yaml").write_text(yaml.safe_dump(network, sort_keys=False))

    # Measured points: in the holes, where the cells on air leave them below target.
    t = Target(-105.0, 0.0, 0.95, LOAD)
    noise = 10 ** (noise_re_dbm(BANDS[BAND].scs_khz) / 10)
    pts, rsrp_m, sinr_m = [], [], []
    while sum(len(p) for p in pts) < n_points:
        c = centres[rng.integers(len(centres), size=4000)]
        p = c + rng.normal(0, 330, c.shape)
        best, total, _ = serving(cells, p, "uma", BANDS[BAND].default_arfcn)
        best = best * 10 ** (rng.normal(0, 3, len(p)) / 10)  # measurement spread
        weak = ~meets(best, total, noise, t)
        pts.append(p[weak])
        rsrp_m.append(10 * np.log10(np.maximum(best[weak], 1e-16)))
        sinr_m.append(10 * np.log10(np.maximum(best[weak], 1e-16) /
                                    (LOAD * np.maximum(total[weak] - best[weak], 0) + noise)))
    pts, rsrp_m, sinr_m = (np.concatenate(a)[:n_points] for a in (pts, rsrp_m, sinr_m))
    plat, plon = frame.latlon(pts)
    with open(out / "points.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "latitude", "longitude", "band", "rsrp", "sinr", "measured-at"])
        for i in range(len(pts)):
            w.writerow([f"p{i + 1:05d}", f"{plat[i]:.7f}", f"{plon[i]:.7f}", BAND, f"{max(rsrp_m[i], -140):.1f}",
                        f"{np.clip(sinr_m[i], -20, 40):.1f}", f"2026-11-{1 + i % 28:02d}T10:00:00Z"])
    cand = []
    for h, c in enumerate(centres):
        for k in range(candidates_per_hole):
            xy = c + rng.normal(0, 300, 2) if k else c
            la, lo = frame.latlon(xy)
            cand.append({"name": f"pole-{h + 1}-{k + 1}", "latitude": round(float(la), 7),
                         "longitude": round(float(lo), 7), "height": 20 if k else 30,
                         "sectors": [0, 120, 240], "bands": [BAND]})
    intent = {"apiVersion": "fullbars.io/v1", "kind": "CoverageFill", "metadata": {"name": "weak-spots"},
              "spec": {"band": BAND, "measurements": "points.csv",
                       "target": {"rsrp": -105, "sinr": 0, "share": 95}, "load": int(LOAD * 100),
                       "candidate": cand, "limits": {"new-sites": len(cand), "new-cells": 3 * len(cand)},
                       "neighbours": neighbours_n}}
    (out / "fill.yaml").write_text(yaml.safe_dump(intent, sort_keys=False))
    return {"sites": len(sxy), "cells": len(cells), "points": len(pts), "candidates": len(cand)}
