"""Coverage prediction: the RSRP of every cell at every point within reach, found with a
spatial index (scipy cKDTree) so the work grows with the pairs that matter, not cells x points."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from orchestrator.radio.cells import Cells
from orchestrator.radio.propagation import MAX_D, rsrp

REACH_M = MAX_D  # beyond the model's range a cell is not counted at a point


def pairs(cells: Cells, points_xy: np.ndarray, env: str, reach: float = REACH_M):
    """(cell index, point index, RSRP dBm) of every cell-point pair closer than reach."""
    if len(cells) == 0 or len(points_xy) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    m = cKDTree(cells.xy).sparse_distance_matrix(cKDTree(points_xy), reach, output_type="coo_matrix")
    c, p = m.row.astype(np.int64), m.col.astype(np.int64)
    d = points_xy[p] - cells.xy[c]
    r = rsrp(cells.power_re[c], env, d[:, 0], d[:, 1], cells.height[c], cells.azimuth[c], cells.tilt[c],
             cells.fc_ghz[c], cells.gain[c])
    return c, p, r


def dense(cells: Cells, points_xy: np.ndarray, env: str, reach: float = REACH_M) -> np.ndarray:
    """(cells, points) received power in mW per resource element; 0 beyond reach."""
    out = np.zeros((len(cells), len(points_xy)))
    c, p, r = pairs(cells, points_xy, env, reach)
    out[c, p] = 10 ** (r / 10)
    return out


def serving(cells: Cells, points_xy: np.ndarray, env: str, arfcn: int):
    """Per point the best RSRP (mW) and the total power (mW) of the cells on one carrier, and
    which cell serves it (-1: none in reach)."""
    on = np.flatnonzero(cells.arfcn == arfcn)
    best = np.zeros(len(points_xy))
    total = np.zeros(len(points_xy))
    who = np.full(len(points_xy), -1)
    c, p, r = pairs(cells.take(on), points_xy, env)
    if len(c):
        mw = 10 ** (r / 10)
        np.add.at(total, p, mw)
        order = np.lexsort((-mw, p))  # per point, strongest first
        first = order[np.r_[True, p[order][1:] != p[order][:-1]]]
        best[p[first]] = mw[first]
        who[p[first]] = on[c[first]]
    return best, total, who
