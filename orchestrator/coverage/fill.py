"""A coverage fill planned over the radio network on air: the points' state before (measured),
candidate sectors predicted at every point, the greedy choice, then for the chosen cells their
identity (gNB, cell id, NR cell identity), carrier, TAC, neighbour relations (both ways) and PCI.
A pure function of the network, the intent and the measurements, so planning again gives the
same cells."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from orchestrator.coverage.measurements import Points
from orchestrator.network.radio import RadioNetwork
from orchestrator.radio import neighbours, pci as pci_plan
from orchestrator.radio.bands import BANDS
from orchestrator.radio.cells import Cells
from orchestrator.radio.cover import Target, explain, greedy, meets, sinr_db, db
from orchestrator.radio.geo import LocalFrame, inside
from orchestrator.radio.predict import dense, serving
from orchestrator.radio.propagation import noise_re_dbm

ANTENNA_GAIN = 17.0  # dBi: the §7.3 element pattern scaled to a typical macro panel's peak


@dataclass
class NewCell:
    name: str
    gnb: str
    gnb_id: int
    local_id: int
    nci: int
    pci: int
    tac: int
    band: str
    arfcn: int
    bandwidth: int
    azimuth: float
    tilt: float
    power: float
    height: float
    latitude: float
    longitude: float
    candidate: str
    new_site: bool


@dataclass
class FillPlan:
    band: str
    target: Target
    new_cells: list[NewCell]
    # every cell considered (on air, other fills' and this one's), by index:
    names: list[str]
    gnb: list[str]
    local_id: np.ndarray
    pci: np.ndarray
    arfcn: np.ndarray
    adj: object  # scipy CSR: symmetric neighbour graph
    first_new: int  # cells from here on are this fill's
    points: Points
    frame: LocalFrame
    xy_points: np.ndarray
    cells_xy: np.ndarray
    cells_az: np.ndarray
    rsrp_before: np.ndarray
    sinr_before: np.ndarray
    rsrp_after: np.ndarray
    sinr_after: np.ndarray
    ok_before: np.ndarray
    ok_after: np.ndarray
    reasons: dict[int, str]
    stopped: str
    gnb_ids: dict = field(default_factory=dict)  # every gNB (on air, other fills', this one's) → its id
    attrs: dict = field(default_factory=dict)  # per cell (all of them): tac, band, bandwidth, power, tilt, azimuth
    relaxed: list[str] = field(default_factory=list)  # new cells whose mod-3/30 rule gave way
    unplaceable: list[str] = field(default_factory=list)  # new cells no PCI fits
    clashes: list[str] = field(default_factory=list)  # PCI clashes among cells on air
    no_gnb_id: list[str] = field(default_factory=list)  # new sites the gNB id range had no id left for

    def share(self, ok) -> float:
        return float(ok.mean()) if len(ok) else 1.0


ATTRS = ("name", "gnb", "cell-local-id", "pci", "tac", "band", "bandwidth", "power", "tilt", "azimuth", "arfcn")
REGION_M = 8000.0  # cells farther than this from every point and candidate cannot touch the fill


def existing_cells(radio: RadioNetwork, frame: LocalFrame, extra: list[NewCell]) -> tuple[Cells, dict]:
    """Cells on air plus other fills' new cells: their arrays, and their columns (ATTRS, plus
    `older`: whether the cell is another fill's)."""
    where = {g.name: (g.latitude, g.longitude, g.height) for g in radio.gnbs.values()}
    for c in extra:
        where.setdefault(c.gnb, (c.latitude, c.longitude, c.height))
    order = {g: i for i, g in enumerate(where)}
    pos = np.array(list(where.values()), float).reshape(-1, 3)
    gxy = frame.xy(pos[:, 0], pos[:, 1])
    cols = {k: radio.cells[k] + [getattr(c, k.replace("cell-local-id", "local_id")) for c in extra] for k in ATTRS}
    cols["older"] = [False] * len(radio) + [True] * len(extra)
    site = np.array([order[g] for g in cols["gnb"]], np.int64)
    n = len(site)
    cells = Cells.build(gxy[site], pos[site, 2], cols["azimuth"], cols["tilt"], cols["power"], cols["band"],
                        cols["bandwidth"], cols["arfcn"], np.full(n, ANTENNA_GAIN), site)
    return cells, cols


def plan_fill(radio: RadioNetwork, spec: dict, points: Points, others: list[NewCell]) -> FillPlan:
    band = BANDS[spec["band"]]
    env = radio.environment
    t = Target(float(spec["target"]["rsrp"]), float(spec["target"]["sinr"]), float(spec["target"]["share"]) / 100,
               float(spec["load"]) / 100)
    lat, lon, m_rsrp, m_sinr = points.arrays()
    area = spec.get("area") or []
    frame = LocalFrame.around(np.r_[lat, [float(a["latitude"]) for a in area]],
                              np.r_[lon, [float(a["longitude"]) for a in area]])
    if len(area) >= 3:
        keep = inside(frame.xy([float(a["latitude"]) for a in area], [float(a["longitude"]) for a in area]),
                      frame.xy(lat, lon))
        points = points.keep(keep)
        lat, lon, m_rsrp, m_sinr = points.arrays()
    pxy = frame.xy(lat, lon)
    noise = 10 ** (noise_re_dbm(band.scs_khz) / 10)

    cand_site, cand_name, cand_meta = [], [], []
    for k, c in enumerate(spec["candidate"]):
        if band.name not in c["bands"]:
            continue
        g = radio.gnbs.get(c.get("gnb") or "")
        la, lo = (g.latitude, g.longitude) if g else (float(c["latitude"]), float(c["longitude"]))
        for az in c["sectors"]:
            cand_meta.append((c, float(az), la, lo))
            cand_site.append(k)
            cand_name.append(f"{c['name']} sector {float(az):g}°")
    site_is_new = {k: not spec["candidate"][k].get("gnb") for k in set(cand_site)}
    cxy = frame.xy([x[2] for x in cand_meta], [x[3] for x in cand_meta]).reshape(-1, 2)

    # Only the region around the points and candidates: a national network stays cheap.
    allcells, allcols = existing_cells(radio, frame, others)
    region = _near(allcells.xy, np.r_[pxy, cxy], REGION_M)
    cells = allcells.take(region)
    cols = {k: [v[i] for i in region] for k, v in allcols.items()}

    # The carrier new cells take: the one most cells of the band near the points use.
    on_band = np.flatnonzero([b == band.name for b in cols["band"]])
    near = on_band[_near(cells.xy[on_band], pxy, 3000.0)]
    carriers = Counter((cols["arfcn"][i], cols["bandwidth"][i]) for i in near)
    arfcn, bw = carriers.most_common(1)[0][0] if carriers else (band.default_arfcn, band.default_bw_mhz)

    # Before: what was measured; interference where SINR was not, from the cells on air.
    on_air = np.flatnonzero(~np.array(cols["older"], bool))
    p_best, p_total, _ = serving(cells.take(on_air), pxy, env, arfcn)
    s0 = 10 ** (m_rsrp / 10)
    # total power such that load x (total - serving) + noise gives the measured SINR
    i0 = np.where(np.isnan(m_sinr), p_total - p_best,
                  np.maximum(s0 / 10 ** (np.nan_to_num(m_sinr) / 10) - noise, 0) / t.load)
    t0 = s0 + i0
    older = np.flatnonzero(np.array(cols["older"], bool) & (cells.arfcn == arfcn))
    if len(older):  # older fills' cells were not on air when the points were measured: add their prediction
        theirs = dense(cells.take(older), pxy, env)
        s0 = np.maximum(s0, theirs.max(axis=0))
        t0 = t0 + theirs.sum(axis=0)

    if cand_meta:
        m = len(cand_meta)
        cc = Cells.build(cxy, [float(x[0]["height"]) for x in cand_meta], [x[1] for x in cand_meta],
                         [float(x[0]["tilt"]) for x in cand_meta], [float(x[0]["power"]) for x in cand_meta],
                         [band.name] * m, [bw] * m, [arfcn] * m, np.full(m, ANTENNA_GAIN), np.array(cand_site))
        cand_mw = dense(cc, pxy, env)
    else:
        cand_mw = np.zeros((0, len(pxy)))
    f = greedy(s0, t0, cand_mw, np.array(cand_site, np.int64), noise, t, int(spec["limits"]["new-cells"]),
               int(spec["limits"]["new-sites"]), site_is_new)
    explain(f, cand_mw, cand_name, noise, t)

    new, no_gnb_id = _new_cells(radio, spec, f.chosen, cand_meta, band.name, arfcn, bw, allcols, others, frame,
                                cells, cols)
    allc = _with_new(cells, cols["gnb"], new, frame)
    for c in new:
        for k in ATTRS:
            cols[k].append(getattr(c, k.replace("cell-local-id", "local_id")))
    adj, nb = neighbours.relations(allc, env, int(spec["neighbours"]))
    first_new = len(cells)
    want = np.array(cols["pci"], np.int64)
    want[first_new:] = -1
    mod30 = np.array([BANDS[b].mod30 for b in cols["band"]], bool)
    pp = pci_plan.assign(want, allc.site, adj, nb[:, :1], mod30, *radio.pci_range)
    for i, c in enumerate(new):
        c.pci = cols["pci"][first_new + i] = int(pp.pci[first_new + i])
    names = cols["name"]
    plan = FillPlan(band.name, t, new, names, cols["gnb"], np.array(cols["cell-local-id"], np.int64), pp.pci,
                    allc.arfcn, adj, first_new, points, frame, pxy, allc.xy, allc.azimuth, db(s0),
                    sinr_db(s0, t0, noise, t.load), db(f.best), sinr_db(f.best, f.total, noise, t.load),
                    f.ok_before, f.ok_after, f.reasons, f.stopped,
                    relaxed=[names[i] for i in pp.relaxed], unplaceable=[names[i] for i in pp.failed])
    plan.clashes = _clashes_on_air(adj, pp.pci, first_new, names)
    plan.no_gnb_id = no_gnb_id
    plan.gnb_ids = {g.name: g.gnb_id for g in radio.gnbs.values()} | {c.gnb: c.gnb_id for c in others + new}
    plan.attrs = {k: cols[k] for k in ("tac", "band", "bandwidth", "power", "tilt", "azimuth")}
    return plan


def _near(cxy: np.ndarray, pxy: np.ndarray, r: float) -> np.ndarray:
    if not len(cxy) or not len(pxy):
        return np.zeros(0, np.int64)
    hits = cKDTree(pxy).query_ball_point(cxy, r, return_length=True)
    return np.flatnonzero(hits > 0)


def _new_cells(radio, spec, chosen, cand_meta, band, arfcn, bw, allcols, others, frame, cells, cols):
    """The chosen sectors as cells: on the candidate's gNB on air (next free cell ids) or on a
    new gNB named after the candidate (the lowest gNB id free in the network's range)."""
    used_ids = {g.gnb_id for g in radio.gnbs.values()} | {c.gnb_id for c in others}
    taken_local: dict[str, set[int]] = {}
    for g, l in zip(allcols["gnb"], allcols["cell-local-id"]):
        taken_local.setdefault(g, set()).add(l)
    taken_names = set(allcols["name"])
    # an older fill's new site keeps the id it was given: its cells and their neighbours' relations carry it
    site_ids: dict[str, int] = {c.gnb: c.gnb_id for c in others if c.new_site}
    next_id = radio.gnb_id_range[0]
    out, no_id = [], []
    tree = cKDTree(cells.xy) if len(cells) else None
    for k in sorted(chosen, key=lambda k: (cand_meta[k][0]["name"], k)):
        c, az, la, lo = cand_meta[k]
        on_air = radio.gnbs.get(c.get("gnb") or "")
        gname = on_air.name if on_air else c["name"]
        if on_air:
            gid = on_air.gnb_id
        elif gname in site_ids:
            gid = site_ids[gname]
        else:
            while next_id in used_ids:
                next_id += 1
            if next_id > radio.gnb_id_range[1]:
                no_id.append(gname)  # reported by the caller; the site is not built
                continue
            gid = site_ids[gname] = next_id
            used_ids.add(gid)
        lid = 1
        while lid in taken_local.setdefault(gname, set()):
            lid += 1
        taken_local[gname].add(lid)
        name = f"{gname}-{lid}"
        while name in taken_names:
            name += "-new"
        taken_names.add(name)
        if spec.get("tac") is not None:
            tac = int(spec["tac"])
        elif tree is not None:
            _, idx = tree.query(frame.xy(la, lo), k=min(6, len(cells)))
            tac = Counter(cols["tac"][i] for i in np.atleast_1d(idx)).most_common(1)[0][0]
        else:
            tac = 1
        out.append(NewCell(name, gname, gid, lid, radio.nci(gid, lid), -1, tac, band, arfcn, bw, az,
                           float(c["tilt"]), float(c["power"]), float(on_air.height if on_air else c["height"]),
                           la, lo, c["name"], on_air is None))
    return out, sorted(set(no_id))


def _with_new(cells: Cells, gnbs: list[str], new: list[NewCell], frame) -> Cells:
    """The region's cells (gnbs: their gNBs) with the new ones after them: a new cell on a gNB
    on air shares its site number, a new site gets one of its own."""
    if not new:
        return cells
    gpos = {g: int(s) for g, s in zip(gnbs, cells.site.tolist())}
    base = int(cells.site.max()) + 1 if len(cells) else 0
    site = []
    for c in new:
        if c.gnb not in gpos:
            gpos[c.gnb] = base + len(gpos)
        site.append(gpos[c.gnb])
    m = len(new)
    nc = Cells.build(frame.xy([c.latitude for c in new], [c.longitude for c in new]), [c.height for c in new],
                     [c.azimuth for c in new], [c.tilt for c in new], [c.power for c in new], [c.band for c in new],
                     [c.bandwidth for c in new], [c.arfcn for c in new], np.full(m, ANTENNA_GAIN), np.array(site))
    return Cells.concat([cells, nc])


def _clashes_on_air(adj, pci, first_new: int, names: list[str]) -> list[str]:
    """PCI collisions and confusions among cells on air only (the fill cannot mend them)."""
    out = []
    for c in range(first_new):
        row = adj.indices[adj.indptr[c]:adj.indptr[c + 1]]
        old = row[row < first_new]
        for n in old:
            if n > c and pci[n] == pci[c]:
                out.append(f"cells {names[c]} and {names[n]} are neighbours with the same PCI {pci[c]}")
        vals, counts = np.unique(pci[old], return_counts=True)
        for v in vals[counts > 1]:
            pair = [names[i] for i in old if pci[i] == v][:2]
            out.append(f"cells {pair[0]} and {pair[1]}, both neighbours of {names[c]}, share PCI {v}")
    return out
