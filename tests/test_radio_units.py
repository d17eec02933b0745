"""The radio core against the numbers of its sources: TR 38.901 path loss, LOS probability and
antenna pattern; PCI rules on small graphs; the greedy cover and its limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse

from orchestrator.radio import pci as pci_plan
from orchestrator.radio.cover import Target, greedy
from orchestrator.radio.propagation import antenna_gain, los_probability, path_loss


def _uma(d2d, h_bs, fc):
    """Table 7.4.1-1 UMa and Table 7.4.2-1, written out again from the report."""
    d3d = math.hypot(d2d, h_bs - 1.5)
    dbp = 4 * (h_bs - 1) * (1.5 - 1) * fc * 1e9 / 3e8
    los = 28 + 22 * math.log10(d3d) + 20 * math.log10(fc) if d2d <= dbp else \
        28 + 40 * math.log10(d3d) + 20 * math.log10(fc) - 9 * math.log10(dbp ** 2 + (h_bs - 1.5) ** 2)
    nlos = max(los, 13.54 + 39.08 * math.log10(d3d) + 20 * math.log10(fc))
    p = 1.0 if d2d <= 18 else 18 / d2d + math.exp(-d2d / 63) * (1 - 18 / d2d)
    return -10 * math.log10(p * 10 ** (-los / 10) + (1 - p) * 10 ** (-nlos / 10))


@pytest.mark.parametrize("d", [15.0, 100.0, 400.0, 1500.0, 4000.0])
def test_uma_path_loss_follows_the_tables(d):
    assert float(path_loss("uma", d, 25.0, 3.5)) == pytest.approx(_uma(d, 25.0, 3.5), abs=0.05)


def test_umi_loses_more_than_uma_far_out_and_los_is_certain_close_in():
    assert float(path_loss("umi", 1000.0, 10.0, 3.5)) > float(path_loss("uma", 1000.0, 25.0, 3.5))
    assert float(los_probability("umi", 10.0)) == 1.0 and float(los_probability("uma", 18.0)) == 1.0
    assert float(los_probability("umi", 200.0)) == pytest.approx(18 / 200 + math.exp(-200 / 36) * (1 - 18 / 200))


def test_antenna_pattern_of_table_7_3_1_turned_to_azimuth_and_tilt():
    # straight ahead, level with the antenna: the maximum gain
    assert float(antenna_gain(0.0, 100.0, 0.0, 0.0, 0.0)) == pytest.approx(8.0)
    # half the 65-degree beam off to the side: -3 dB
    assert float(antenna_gain(math.sin(math.radians(32.5)), math.cos(math.radians(32.5)), 0.0, 0.0, 0.0)) == \
        pytest.approx(5.0)
    # behind: front-to-back ratio 30 dB
    assert float(antenna_gain(0.0, -100.0, 0.0, 0.0, 0.0)) == pytest.approx(-22.0)
    # an azimuth of 90 points east; a 10-degree downtilt points at the ground 10 degrees down
    assert float(antenna_gain(100.0, 0.0, 0.0, 90.0, 0.0)) == pytest.approx(8.0)
    down = -100 * math.tan(math.radians(10))
    assert float(antenna_gain(100.0, 0.0, down, 90.0, 10.0)) == pytest.approx(8.0)
    assert float(antenna_gain(100.0, 0.0, 0.0, 90.0, 10.0)) < 8.0


def _graph(n, edges):
    r, c = zip(*edges)
    return sparse.coo_matrix((np.ones(2 * len(r), bool), (r + c, c + r)), shape=(n, n)).tocsr()


def _clashes(adj, pci):
    bad = []
    for c in range(adj.shape[0]):
        nb = adj.indices[adj.indptr[c]:adj.indptr[c + 1]]
        bad += [("collision", c, n) for n in nb if pci[n] == pci[c]]
        vals = [pci[n] for n in nb]
        bad += [("confusion", c)] if len(set(vals)) < len(vals) else []
    return bad


def test_pci_rules_hold_on_a_crowded_graph_and_pcis_on_air_stay():
    rng = np.random.default_rng(4)
    n = 120
    edges = {(int(a), int(b)) for a, b in rng.integers(0, n, (600, 2)) if a != b}
    adj = _graph(n, sorted(edges))
    given = np.full(n, -1)
    given[:30] = np.arange(30) * 2  # on air: kept as they are
    site = np.arange(n) // 3
    plan = pci_plan.assign(given, site, adj, np.full((n, 1), -1), np.zeros(n, bool), 0, 200)
    assert (plan.pci[:30] == given[:30]).all() and not plan.failed
    new = set(range(30, n))
    assert [b for b in _clashes(adj, plan.pci) if set(b[1:]) & new] == []
    for s in range(30 // 3, n // 3):  # co-sited: PCI mod 3 apart
        assert len({p % 3 for p in plan.pci[3 * s:3 * s + 3]}) == 3


def test_a_cell_no_pci_fits_is_reported_not_given_a_clash():
    # a star: the centre has 6 neighbours, so a new leaf must avoid 7 PCIs; only 4 exist
    adj = _graph(8, [(0, i) for i in range(1, 8)])
    given = np.array([0, 1, 2, 3, 0, 1, 2, -1])
    plan = pci_plan.assign(given, np.arange(8), adj, np.full((8, 1), -1), np.zeros(8, bool), 0, 3)
    assert plan.failed == [7] and plan.pci[7] == -1


def test_a_fourth_cell_on_a_site_shares_a_pci_mod_3_but_keeps_mod_30_apart():
    """Three cells on air at PCIs 30, 31, 32 (every mod 3 taken); the site's fourth cell must
    share a mod 3 with one, but on a band that keeps mod 30 apart it need not share that too.
    It was given 0 (0 = 30 mod 30): one flat penalty for either clash."""
    adj = _graph(4, [(i, j) for i in range(4) for j in range(i + 1, 4)])
    plan = pci_plan.assign(np.array([30, 31, 32, -1]), np.zeros(4, int), adj, np.full((4, 1), -1),
                           np.ones(4, bool), 0, 1007)
    assert plan.pci[3] >= 0 and plan.pci[3] % 30 not in (0, 1, 2), plan.pci
    assert plan.relaxed == [3]  # its mod 3 gave way, and it is reported


def test_greedy_takes_the_best_sector_first_and_keeps_to_its_limits():
    noise = 1e-13
    best0 = np.full(10, 1e-14)
    cand = np.zeros((3, 10))
    cand[0, :6] = 1e-9  # serves 6 points
    cand[1, 6:8] = 1e-9  # serves 2
    cand[2, 8:] = 1e-9  # serves 2, on another new site
    t = Target(-105, 0, 1.0, 0.5)
    f = greedy(best0, best0.copy(), cand, np.array([0, 1, 2]), noise, t, 10, 10, {0: True, 1: True, 2: True})
    assert f.chosen[0] == 0 and sorted(f.chosen) == [0, 1, 2] and f.ok_after.all() and f.stopped == "target reached"
    f = greedy(best0, best0.copy(), cand, np.array([0, 0, 2]), noise, t, 10, 1, {0: True, 2: True})
    assert f.chosen == [0, 1] and f.stopped == "limit of 1 new sites reached"
    f = greedy(best0, best0.copy(), cand, np.array([0, 1, 2]), noise, t, 1, 10, {0: True, 1: True, 2: True})
    assert f.chosen == [0] and f.stopped == "limit of 1 new cells reached"


def test_an_area_across_the_180th_meridian_is_as_wide_as_the_same_area_elsewhere():
    """Longitudes either side of the meridian (179.996, -179.996) are 0.008 degrees apart, not
    359.992: the frame's distances equal those of the same area shifted 10 degrees west."""
    from orchestrator.radio.geo import LocalFrame

    lat = np.array([-16.5, -16.49, -16.51, -16.5])
    for lon in (np.array([179.996, -179.996, 179.99, -179.99]), np.array([169.996, 170.004, 169.99, 170.01])):
        frame = LocalFrame.around(lat, lon)
        xy = frame.xy(lat, lon)
        back_lat, back_lon = frame.latlon(xy)
        assert np.allclose(back_lat, lat) and np.allclose(back_lon, lon)
        widths = np.ptp(xy[:, 0])
        assert 2000 < widths < 2200, widths  # 0.02 degrees of longitude at 16.5 S: 2.13 km
    meridian = LocalFrame.around(lat, np.array([179.996, -179.996])).xy(lat[:2], np.array([179.996, -179.996]))
    assert abs(np.hypot(*(meridian[0] - meridian[1])) - np.hypot(0.008 * 106_700, 0.01 * 111_195)) < 50
