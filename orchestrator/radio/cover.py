"""The coverage fill: a greedy set cover over candidate sectors. Each round adds the sector
that brings the most points to target (RSRP and SINR both), counting the interference it adds
to every other point, until the target share holds, no sector helps, or a limit is reached.
Then every point still below target gets the reason no candidate serves it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def db(mw):
    with np.errstate(divide="ignore"):
        return 10 * np.log10(mw)


@dataclass
class Target:
    rsrp_dbm: float
    sinr_db: float
    share: float  # 0..1
    load: float = 1.0  # share of resource elements the other cells transmit on (interference)


@dataclass
class Fill:
    chosen: list[int]  # candidate indices, in the order chosen
    best: np.ndarray  # after: per point the serving power (mW)
    total: np.ndarray  # after: total co-channel power (mW)
    ok_before: np.ndarray
    ok_after: np.ndarray
    reasons: dict[int, str] = field(default_factory=dict)  # point → why it stays below target
    stopped: str = ""


def meets(best, total, noise_mw, t: Target) -> np.ndarray:
    sinr = best / np.maximum(t.load * (total - best) + noise_mw, 1e-30)
    return (best >= 10 ** (t.rsrp_dbm / 10)) & (sinr >= 10 ** (t.sinr_db / 10))


def sinr_db(best, total, noise_mw, load: float = 1.0):
    return db(best / np.maximum(load * (total - best) + noise_mw, 1e-30))


def greedy(best0, total0, cand_mw, cand_site, noise_mw, t: Target, max_cells: int, max_sites: int,
           site_is_new) -> Fill:
    """best0/total0: per point now (mW); cand_mw: (candidates, points) mW each would add;
    cand_site: site index per candidate; site_is_new: per site, whether using it adds a site."""
    best, total = best0.copy(), total0.copy()
    ok0 = meets(best, total, noise_mw, t)
    ok = ok0.copy()
    need = int(np.ceil(t.share * len(best) - 1e-9))
    chosen: list[int] = []
    sites: set[int] = set()
    free = np.ones(len(cand_mw), bool)
    stopped = "target reached" if ok.sum() >= need else ""
    while not stopped:
        if len(chosen) >= max_cells:
            stopped = f"limit of {max_cells} new cells reached"
            break
        allowed = free.copy()
        if sum(site_is_new[s] for s in sites) >= max_sites:
            allowed &= np.array([s in sites or not site_is_new[s] for s in cand_site], bool)
        idx = np.flatnonzero(allowed)
        if not len(idx):
            stopped = (f"limit of {max_sites} new sites reached" if free.any() else "every candidate sector is used")
            break
        nb = np.maximum(best[None, :], cand_mw[idx])
        nt = total[None, :] + cand_mw[idx]
        gain = meets(nb, nt, noise_mw, t).sum(axis=1) - ok.sum()
        k = int(np.argmax(gain))
        if gain[k] <= 0:
            stopped = "no candidate sector brings another point to target"
            break
        c = int(idx[k])
        chosen.append(c)
        free[c] = False
        sites.add(int(cand_site[c]))
        best, total = nb[k], nt[k]
        ok = meets(best, total, noise_mw, t)
        if ok.sum() >= need:
            stopped = "target reached"
    return Fill(chosen, best, total, ok0, ok, stopped=stopped)


def explain(fill: Fill, cand_mw, cand_name: list[str], noise_mw, t: Target) -> None:
    """Why each point below target after the fill stays there."""
    if not len(cand_mw):
        for i in np.flatnonzero(~fill.ok_after):
            fill.reasons[int(i)] = "no candidate site may serve the band"
        return
    strongest = np.argmax(cand_mw, axis=0)
    for i in np.flatnonzero(~fill.ok_after):
        c = int(strongest[i])
        p = cand_mw[c, i]
        if p < 10 ** (t.rsrp_dbm / 10):
            fill.reasons[int(i)] = (f"no candidate reaches {t.rsrp_dbm:g} dBm here (the strongest, {cand_name[c]}, "
                                    + (f"gives {db(p):.1f} dBm)" if p > 0 else "is out of range)"))
            continue
        b = max(fill.best[i], p)
        s = float(sinr_db(np.array([b]), np.array(fill.total[i] + (0 if c in fill.chosen else p)), noise_mw, t.load)[0])
        if s < t.sinr_db:
            fill.reasons[int(i)] = (f"{cand_name[c]} gives {db(b):.1f} dBm but the SINR would be {s:.1f} dB "
                                    f"(below {t.sinr_db:g} dB: interference from the cells around)")
        elif fill.stopped.startswith("no candidate"):
            fill.reasons[int(i)] = (f"{cand_name[c]} would serve it, but its interference would take at least as "
                                    f"many other points below target")
        else:
            fill.reasons[int(i)] = f"{cand_name[c]} would serve it, but the fill stopped: {fill.stopped}"
