"""Received power per resource element from a cell at a point, after 3GPP TR 38.901:
path loss of Table 7.4.1-1 (UMa, UMi street canyon) for LOS and NLOS, the LOS probability of
Table 7.4.2-1, and the antenna element pattern of Table 7.3-1 turned to the cell's azimuth and
electrical downtilt. Vectorised over any broadcastable arrays of links.

Assumptions (see README, CoverageFill): the prediction is the median, without shadow fading;
LOS and NLOS are combined as the expected linear gain weighted by the LOS probability, so one
number per link is deterministic; the UE is at 1.5 m; the effective environment height is 1 m;
outside the models' 10 m .. 5 km range distances are clamped to it."""

from __future__ import annotations

import numpy as np

C = 299_792_458.0
H_UT = 1.5
MIN_D, MAX_D = 10.0, 5000.0

# Table 7.3-1: element pattern
THETA_3DB, PHI_3DB, SLA_V, A_MAX, G_MAX = 65.0, 65.0, 30.0, 30.0, 8.0


def los_probability(env: str, d2d):
    d = np.maximum(np.asarray(d2d, float), 1e-9)
    if env == "umi":
        p = 18 / d + np.exp(-d / 36) * (1 - 18 / d)
    else:  # uma; C'(hUT) = 0 for a UE at 1.5 m
        p = 18 / d + np.exp(-d / 63) * (1 - 18 / d)
    return np.where(d <= 18, 1.0, p)


def path_loss(env: str, d2d, h_bs, fc_ghz, h_ut: float = H_UT):
    """dB, LOS/NLOS combined by the LOS probability (expected linear gain)."""
    d2d = np.clip(np.asarray(d2d, float), MIN_D, MAX_D)
    h_bs = np.asarray(h_bs, float)
    fc = np.asarray(fc_ghz, float)
    d3d = np.sqrt(d2d ** 2 + (h_bs - h_ut) ** 2)
    dbp = 4 * (h_bs - 1.0) * (h_ut - 1.0) * fc * 1e9 / C  # d'BP, hE = 1 m
    lf = 20 * np.log10(fc)
    if env == "umi":
        pl1 = 32.4 + 21 * np.log10(d3d) + lf
        pl2 = 32.4 + 40 * np.log10(d3d) + lf - 9.5 * np.log10(dbp ** 2 + (h_bs - h_ut) ** 2)
        los = np.where(d2d <= dbp, pl1, pl2)
        nlos = np.maximum(los, 35.3 * np.log10(d3d) + 22.4 + 21.3 * np.log10(fc) - 0.3 * (h_ut - 1.5))
    else:
        pl1 = 28.0 + 22 * np.log10(d3d) + lf
        pl2 = 28.0 + 40 * np.log10(d3d) + lf - 9 * np.log10(dbp ** 2 + (h_bs - h_ut) ** 2)
        los = np.where(d2d <= dbp, pl1, pl2)
        nlos = np.maximum(los, 13.54 + 39.08 * np.log10(d3d) + lf - 0.6 * (h_ut - 1.5))
    p = los_probability(env, d2d)
    gain = p * 10 ** (-los / 10) + (1 - p) * 10 ** (-nlos / 10)
    return -10 * np.log10(gain)


def antenna_gain(dx, dy, dz, azimuth_deg, tilt_deg, g_max=G_MAX):
    """dBi towards (dx, dy, dz) metres (east, north, up) from an antenna whose boresight points
    at azimuth (degrees clockwise from north) and is tilted down by tilt degrees."""
    bearing = np.degrees(np.arctan2(dx, dy))  # clockwise from north
    phi = (bearing - azimuth_deg + 180.0) % 360.0 - 180.0
    horiz = np.hypot(dx, dy)
    theta = np.degrees(np.arctan2(horiz, dz))  # zenith angle: 90 is the horizon
    a_v = -np.minimum(12 * ((theta - 90.0 - tilt_deg) / THETA_3DB) ** 2, SLA_V)
    a_h = -np.minimum(12 * (phi / PHI_3DB) ** 2, A_MAX)
    return g_max - np.minimum(-(a_v + a_h), A_MAX)


def rsrp(power_re_dbm, env: str, dx, dy, h_bs, azimuth, tilt, fc_ghz, g_max=G_MAX):
    """RSRP (dBm per resource element) of a cell at points dx, dy metres from it."""
    d2d = np.hypot(dx, dy)
    return (power_re_dbm + antenna_gain(dx, dy, H_UT - np.asarray(h_bs, float), azimuth, tilt, g_max)
            - path_loss(env, d2d, h_bs, fc_ghz))


def noise_re_dbm(scs_khz: int, noise_figure_db: float = 9.0) -> float:
    """Thermal noise in one subcarrier at the UE (kTB at 290 K plus its noise figure)."""
    return -174.0 + 10 * np.log10(scs_khz * 1e3) + noise_figure_db
