"""Cells as columns of numpy arrays: what prediction, neighbour and PCI planning read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestrator.radio.bands import BANDS, arfcn_mhz, n_rb


@dataclass
class Cells:
    xy: np.ndarray  # (n, 2) metres
    height: np.ndarray
    azimuth: np.ndarray
    tilt: np.ndarray
    power_re: np.ndarray  # dBm per resource element
    fc_ghz: np.ndarray
    arfcn: np.ndarray
    gain: np.ndarray  # the antenna's maximum gain, dBi
    site: np.ndarray  # int: cells of one site (one gNB) share it

    def __len__(self) -> int:
        return len(self.height)

    @classmethod
    def build(cls, xy, height, azimuth, tilt, power_dbm, band, bandwidth_mhz, arfcn, gain, site) -> "Cells":
        """power_dbm: the carrier's total transmit power, spread evenly over its subcarriers."""
        band = list(band)
        re = np.array([12 * n_rb(BANDS[b], int(w)) for b, w in zip(band, bandwidth_mhz)], float)
        arfcn = np.asarray(arfcn, np.int64)
        return cls(np.asarray(xy, float).reshape(-1, 2), np.asarray(height, float), np.asarray(azimuth, float),
                   np.asarray(tilt, float), np.asarray(power_dbm, float) - 10 * np.log10(re),
                   np.array([arfcn_mhz(int(a)) / 1000 for a in arfcn]), arfcn, np.asarray(gain, float),
                   np.asarray(site, np.int64))

    def take(self, idx) -> "Cells":
        return Cells(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: list["Cells"]) -> "Cells":
        return Cells(*(np.concatenate([getattr(p, f) for p in parts]) for f in Cells.__dataclass_fields__))
