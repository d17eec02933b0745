"""PCI planning for new cells among existing ones (PCIs 0..1007, TS 38.211 7.4.2.1):
* no collision: a cell's PCI differs from every neighbour's;
* no confusion: two neighbours of one cell never share a PCI (so a new cell's PCI differs
  from the PCIs of its neighbours' neighbours too);
* PCI mod 3 (the PSS) differs among co-sited cells and the strongest neighbours; PCI mod 30
  (the uplink DMRS/SRS group) too on bands that need it.
Cells are taken site by site; each gets the least used PCI that breaks no rule, so PCIs spread
over the whole range. Where the mod rules leave nothing, they are relaxed for the strongest
neighbours (never for co-sited cells) and the cell is reported."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

PCI_MAX = 1007


@dataclass
class PciPlan:
    pci: np.ndarray
    relaxed: list[int] = field(default_factory=list)  # cells whose mod-3/30 rule towards strongest neighbours gave way
    failed: list[int] = field(default_factory=list)  # cells no PCI fits


def assign(pci: np.ndarray, site: np.ndarray, adj: sparse.csr_matrix, strong: np.ndarray, mod30: np.ndarray,
           first: int = 0, last: int = PCI_MAX) -> PciPlan:
    """pci: per cell, its PCI or -1 for a cell to plan. adj: symmetric neighbour graph.
    strong: (cells, k) strongest neighbours (-1: none). mod30: per cell, whether its band
    keeps PCI mod 30 apart."""
    pci = np.asarray(pci, np.int64).copy()
    m = len(pci)
    adj = adj.tocsr().astype(bool)
    two = (adj + adj @ adj).tocsr()  # neighbours, and the neighbours' neighbours
    two.sort_indices()
    keep = strong >= 0
    rows = np.repeat(np.arange(m), strong.shape[1])[keep.ravel()]
    sg = sparse.coo_matrix((np.ones(2 * len(rows), bool), (np.r_[rows, strong[keep]], np.r_[strong[keep], rows])),
                           shape=(m, m)).tocsr()
    values = np.arange(first, last + 1)
    v3, v30 = values % 3, values % 30
    inside = pci[(pci >= first) & (pci <= last)] - first
    used = np.bincount(inside, minlength=len(values)).astype(float)
    order = np.flatnonzero(pci < 0)
    order = order[np.argsort(site[order], kind="stable")]
    site_order = np.argsort(site, kind="stable")
    site_sorted = site[site_order]
    plan = PciPlan(pci)
    if not len(order):
        return plan

    def strong_pcis(c):
        sp = pci[sg.indices[sg.indptr[c]:sg.indptr[c + 1]]]
        return sp[sp >= 0]

    bounds = np.r_[0, np.flatnonzero(np.diff(site[order])) + 1, len(order)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        group = order[a:b]
        lo, hi = np.searchsorted(site_sorted, site[group[0]]), np.searchsorted(site_sorted, site[group[0]], "right")
        co = site_order[lo:hi]
        want = _site_mod3(group, pci[co], strong_pcis)
        for c in group:
            near = np.r_[two.indices[two.indptr[c]:two.indptr[c + 1]], co]
            taken = pci[near]
            taken = taken[(taken >= first) & (taken <= last)] - first
            bad = np.zeros(len(values), bool)
            bad[taken] = True
            cp = pci[co]
            cp = cp[cp >= 0]
            # co-sited: mod 3 (and 30) apart unless the site has more cells than that allows; a
            # fourth cell shares a mod 3 with one, but still keeps mod 30 apart where it can
            cosite = _mask(cp % 3, 3)[v3]
            cosite30 = _mask(cp % 30, 30)[v30] if mod30[c] else np.zeros(len(values), bool)
            cosite = cosite | cosite30
            sp = strong_pcis(c)
            clash = _mask(sp % 3, 3)[v3]
            if mod30[c]:
                clash |= _mask(sp % 30, 30)[v30]
            soft = clash | (v3 != want[c]) if c in want else clash
            score = used + soft * 1e6 + cosite * 1e9 + cosite30 * 1e10
            score[bad] = np.inf
            k = int(np.argmin(score))
            if not np.isfinite(score[k]):
                plan.failed.append(int(c))
                continue
            if clash[k] or cosite[k]:
                plan.relaxed.append(int(c))
            pci[c] = values[k]
            used[k] += 1
    return plan


def _mask(vals, n: int) -> np.ndarray:
    m = np.zeros(n, bool)
    m[vals] = True
    return m


def _site_mod3(group, co_pcis, strong_pcis) -> dict:
    """The PCI mod 3 each new cell of a site should take: the site's free values, permuted so
    the fewest new cells share theirs with a strongest neighbour already planned."""
    free = [v for v in range(3) if v not in set(co_pcis[co_pcis >= 0] % 3)]
    if len(group) > len(free) or len(group) > 3:
        return {}
    from itertools import permutations

    clash = {int(c): set((strong_pcis(c) % 3).tolist()) for c in group}
    best = min(permutations(free, len(group)),
               key=lambda perm: sum(v in clash[int(c)] for c, v in zip(group, perm)))
    return {int(c): v for c, v in zip(group, best)}
