"""Positions in metres: an equirectangular projection around the area's centre. Over the tens of
kilometres of one planning area its error stays below 0.1 %, far below the path-loss model's."""

from __future__ import annotations

import numpy as np

EARTH_M = 6_371_000.0


class LocalFrame:
    def __init__(self, lat0: float, lon0: float):
        self.lat0, self.lon0 = float(lat0), float(lon0)
        self._kx = np.radians(1.0) * EARTH_M * np.cos(np.radians(self.lat0))
        self._ky = np.radians(1.0) * EARTH_M

    @classmethod
    def around(cls, lat, lon) -> "LocalFrame":
        """Centred on the area; its longitudes are taken as the shortest way round from the
        first, so an area across the 180th meridian (179.99 and -179.99) is 2 km wide, not the
        whole earth."""
        lat, lon = np.asarray(lat, float), np.asarray(lon, float)
        first = lon.flat[0] if lon.size else 0.0
        east = _wrap(lon - first)
        return cls((lat.min() + lat.max()) / 2, float(_wrap(first + (east.min() + east.max()) / 2)))

    def xy(self, lat, lon) -> np.ndarray:
        """(n, 2) metres east and north of the frame's centre."""
        lat, lon = np.asarray(lat, float), np.asarray(lon, float)
        return np.stack([_wrap(lon - self.lon0) * self._kx, (lat - self.lat0) * self._ky], axis=-1)

    def latlon(self, xy) -> tuple[np.ndarray, np.ndarray]:
        xy = np.asarray(xy, float)
        return self.lat0 + xy[..., 1] / self._ky, _wrap(self.lon0 + xy[..., 0] / self._kx)


def _wrap(degrees):
    """Degrees of longitude (or a difference of two, within one turn either way) into
    [-180, 180); one already there is kept to the bit (plans stay byte-identical)."""
    d = np.asarray(degrees, float)
    return np.where(d >= 180.0, d - 360.0, np.where(d < -180.0, d + 360.0, d))[()]


def inside(polygon_xy: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Which points lie inside a polygon (even-odd rule), vectorised over the points."""
    from matplotlib.path import Path

    return Path(polygon_xy).contains_points(pts)
