"""Neighbour relations from predicted overlap: for each cell, the received power of the cells
around it at a point inside its own sector (along its azimuth, part way to the next site),
the N strongest become its neighbours; relations are then made symmetric and co-sited cells
are always neighbours. Vectorised over all cells at once."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from orchestrator.radio.cells import Cells
from orchestrator.radio.propagation import rsrp


def sector_points(cells: Cells) -> np.ndarray:
    """A point inside each cell's sector: 40 % of the way to the nearest other site along the
    azimuth (30 m .. 1 km), where its users overlap the neighbours' most."""
    sites, first = np.unique(cells.site, return_index=True)
    sxy = cells.xy[first]
    if len(sxy) > 1:
        d, _ = cKDTree(sxy).query(sxy, k=2)
        gap = d[:, 1]
    else:
        gap = np.full(len(sxy), 500.0)
    reach = np.clip(0.4 * gap[np.searchsorted(sites, cells.site)], 30, 1000)
    a = np.radians(cells.azimuth)
    return cells.xy + np.stack([np.sin(a) * reach, np.cos(a) * reach], axis=1)


def strongest(cells: Cells, env: str, n: int, pool: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """(cells, n) indices of each cell's n strongest other cells on its own carrier (-1 where
    fewer are in reach) and their RSRP at its sector point, strongest first."""
    m = len(cells)
    k = min(pool + 1, m)
    pts = sector_points(cells)
    _, idx = cKDTree(cells.xy).query(pts, k=k)
    idx = idx.reshape(m, k)
    d = pts[:, None, :] - cells.xy[idx]
    r = rsrp(cells.power_re[idx], env, d[..., 0], d[..., 1], cells.height[idx], cells.azimuth[idx],
             cells.tilt[idx], cells.fc_ghz[idx], cells.gain[idx])
    other = (idx != np.arange(m)[:, None]) & (cells.arfcn[idx] == cells.arfcn[:, None])
    r = np.where(other, r, -np.inf)
    top = np.argsort(-r, axis=1, kind="stable")[:, :n]
    nb = np.take_along_axis(idx, top, 1)
    power = np.take_along_axis(r, top, 1)
    nb = np.where(np.isfinite(power), nb, -1)
    if nb.shape[1] < n:
        nb = np.pad(nb, ((0, 0), (0, n - nb.shape[1])), constant_values=-1)
        power = np.pad(power, ((0, 0), (0, n - power.shape[1])), constant_values=-np.inf)
    return nb, power


def symmetric(m: int, rows: np.ndarray, cols: np.ndarray) -> sparse.csr_matrix:
    keep = (cols >= 0) & (rows != cols)
    r, c = rows[keep], cols[keep]
    a = sparse.coo_matrix((np.ones(2 * len(r), bool), (np.r_[r, c], np.r_[c, r])), shape=(m, m)).tocsr()
    a.sum_duplicates()
    a.sort_indices()
    return a


def cosited_pairs(cells: Cells) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(cells.site, kind="stable")
    s = cells.site[order]
    rows, cols = [], []
    for shift in range(1, max(len(s), 1)):  # a shift with no pair ends it: sites are runs
        same = s[shift:] == s[:-shift]
        if not same.any():
            break
        rows.append(order[shift:][same])
        cols.append(order[:-shift][same])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(cols)


def relations(cells: Cells, env: str, n: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The symmetric neighbour graph (CSR, boolean) and the n strongest per cell."""
    m = len(cells)
    nb, _ = strongest(cells, env, n)
    rows = np.repeat(np.arange(m), nb.shape[1])
    cr, cc = cosited_pairs(cells)
    return symmetric(m, np.r_[rows, cr], np.r_[nb.ravel(), cc]), nb
