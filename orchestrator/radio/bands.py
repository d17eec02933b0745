"""The NR bands fullbars plans cells on (3GPP TS 38.104 Table 5.2-1 and 5.4.2.3): frequency
range, subcarrier spacing, the channel bandwidths offered here, a default SSB/centre ARFCN, and
whether PCIs must also differ mod 30 among close cells (the uplink DMRS/SRS sequence group is
PCI mod 30; operators keep it apart on the TDD mid-band carriers where uplink interference
dominates)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Band:
    name: str
    duplex: str
    dl_mhz: tuple[float, float]
    scs_khz: int
    bandwidths_mhz: tuple[int, ...]
    default_bw_mhz: int
    default_arfcn: int
    mod30: bool


# Maximum transmission bandwidth in resource blocks, TS 38.104 Table 5.3.2-1 (FR1).
N_RB = {
    15: {5: 25, 10: 52, 15: 79, 20: 106, 25: 133, 30: 160, 40: 216, 50: 270},
    30: {5: 11, 10: 24, 15: 38, 20: 51, 25: 65, 30: 78, 40: 106, 50: 133, 60: 162, 70: 189, 80: 217,
         90: 245, 100: 273},
}

BANDS = {b.name: b for b in (
    Band("n1", "FDD", (2110, 2170), 15, (5, 10, 15, 20), 20, 428000, False),
    Band("n3", "FDD", (1805, 1880), 15, (5, 10, 15, 20, 25, 30), 20, 368500, False),
    Band("n28", "FDD", (758, 803), 15, (5, 10, 15, 20, 30), 20, 156100, False),
    Band("n41", "TDD", (2496, 2690), 30, (10, 20, 40, 50, 60, 80, 90, 100), 100, 504990, True),
    Band("n77", "TDD", (3300, 4200), 30, (10, 20, 40, 50, 60, 80, 90, 100), 100, 650000, True),
    Band("n78", "TDD", (3300, 3800), 30, (10, 20, 40, 50, 60, 80, 90, 100), 100, 632628, True),
)}


def arfcn_mhz(arfcn: int) -> float:
    """NR-ARFCN → frequency (TS 38.104 5.4.2.1, FR1 and the start of FR2)."""
    if arfcn < 600000:
        return arfcn * 0.005
    if arfcn < 2016667:
        return 3000 + (arfcn - 600000) * 0.015
    return 24250.08 + (arfcn - 2016667) * 0.06


def arfcn_in_band(band: Band, arfcn: int) -> bool:
    lo, hi = band.dl_mhz
    return lo <= arfcn_mhz(arfcn) <= hi


def n_rb(band: Band, bw_mhz: int) -> int:
    return N_RB[band.scs_khz][bw_mhz]
