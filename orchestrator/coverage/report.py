"""A fill's before/after: the summary a plan shows, the full report (every point below target
and why), the list of new cells, and the map (matplotlib, Agg: no display needed)."""

from __future__ import annotations

import csv
import io
import json

import numpy as np

WORST = 10


def _pct(x: float) -> float:
    return round(100 * float(x), 2)


def summary(plan) -> dict:
    """What `plan` shows and the manifest keeps for the service."""
    t = plan.target
    return {
        "band": plan.band,
        "target": {"rsrp-dbm": t.rsrp_dbm, "sinr-db": t.sinr_db, "share-percent": _pct(t.share),
                   "load-percent": _pct(t.load)},
        "points": len(plan.ok_after),
        "before": {"share": _pct(plan.share(plan.ok_before)), "served": int(plan.ok_before.sum())},
        "after": {"share": _pct(plan.share(plan.ok_after)), "served": int(plan.ok_after.sum())},
        "reached": bool(plan.ok_after.mean() >= t.share - 1e-9) if len(plan.ok_after) else True,
        "stopped": plan.stopped,
        "new-sites": sorted({c.gnb for c in plan.new_cells if c.new_site}),
        "new-cells": {c.name: {"gnb": c.gnb, "gnb-id": c.gnb_id, "cell-local-id": c.local_id, "nci": c.nci,
                               "pci": c.pci, "tac": c.tac, "arfcn": c.arfcn, "bandwidth-mhz": c.bandwidth,
                               "azimuth": c.azimuth} for c in plan.new_cells},
        "unserved": len(plan.reasons),
        "worst": [{"id": plan.points.ids[i], "rsrp-dbm": round(float(plan.rsrp_after[i]), 1),
                   "sinr-db": round(float(plan.sinr_after[i]), 1)} for i in _worst(plan)],
    }


def _worst(plan) -> list[int]:
    margin = np.minimum(plan.rsrp_after - plan.target.rsrp_dbm, plan.sinr_after - plan.target.sinr_db)
    return [int(i) for i in np.argsort(margin, kind="stable")[:WORST]]


def reasons(plan) -> list[tuple[str, str]]:
    """(point id, why) for every point below target after the fill, worst first."""
    margin = np.minimum(plan.rsrp_after - plan.target.rsrp_dbm, plan.sinr_after - plan.target.sinr_db)
    return [(plan.points.ids[i], plan.reasons[i]) for i in sorted(plan.reasons, key=lambda i: (margin[i], i))]


def files(plan, name: str) -> dict:
    """Artifacts, made only when the plan is written: file name → function giving its bytes."""
    return {"report.json": lambda: _report(plan), "new-cells.csv": lambda: _cells_csv(plan),
            "map.png": lambda: _png(plan, name)}


def _report(plan) -> bytes:
    doc = summary(plan)
    doc["below-target"] = [{"id": pid, "why": why} for pid, why in reasons(plan)]
    doc["points-detail"] = [{"id": pid, "rsrp-before": round(float(a), 1), "sinr-before": round(float(b), 1),
                             "rsrp-after": round(float(c), 1), "sinr-after": round(float(d), 1)}
                            for pid, a, b, c, d in zip(plan.points.ids, plan.rsrp_before, plan.sinr_before,
                                                       plan.rsrp_after, plan.sinr_after)]
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def _cells_csv(plan) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = ["name", "gnb", "gnb-id", "cell-local-id", "nci", "pci", "tac", "band", "arfcn", "bandwidth", "azimuth",
            "tilt", "power", "height", "latitude", "longitude", "new-site"]
    w.writerow(cols)
    for c in plan.new_cells:
        w.writerow([c.name, c.gnb, c.gnb_id, c.local_id, c.nci, c.pci, c.tac, c.band, c.arfcn, c.bandwidth,
                    f"{c.azimuth:g}", f"{c.tilt:g}", f"{c.power:g}", f"{c.height:g}", f"{c.latitude:.7f}",
                    f"{c.longitude:.7f}", str(c.new_site).lower()])
    return buf.getvalue().encode()


def _png(plan, name: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 6.2), dpi=90)
    pxy = plan.xy_points / 1000
    lo, hi = pxy.min(axis=0) - 1.0, pxy.max(axis=0) + 1.0
    cxy = plan.cells_xy / 1000
    shown = np.all((cxy >= lo) & (cxy <= hi), axis=1)
    new = np.zeros(len(cxy), bool)
    new[plan.first_new:] = True
    for k, (title, rsrp, ok) in enumerate((("before (measured)", plan.rsrp_before, plan.ok_before),
                                           ("after (predicted)", plan.rsrp_after, plan.ok_after))):
        ax = fig.add_subplot(1, 2, k + 1)
        sc = ax.scatter(pxy[:, 0], pxy[:, 1], c=np.clip(rsrp, -125, -70), cmap="RdYlGn", vmin=-125, vmax=-70, s=5)
        for sel, colour, size in ((shown & ~new, "0.35", 10), (shown & new & (k == 1), "blue", 22)):
            if sel.any():
                a = np.radians(plan.cells_az[sel])
                ax.quiver(cxy[sel, 0], cxy[sel, 1], np.sin(a), np.cos(a), color=colour, scale=40, width=0.003)
                ax.scatter(cxy[sel, 0], cxy[sel, 1], c=colour, s=size, marker="^")
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal")
        ax.set_xlabel("km east")
        ax.set_ylabel("km north")
        ax.set_title(f"{name} {plan.band} {title}: {_pct(plan.share(ok))}% served")
    fig.colorbar(sc, ax=fig.axes, label="RSRP dBm (grey: sectors on air, blue: new)", shrink=0.8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
