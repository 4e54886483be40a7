"""Geodesic distance and bearing on WGS84, through GDAL's PROJ (rasterio), without pyproj.

pyproj is not an engine dependency, and where a system copy is importable without its PROJ data it
prints a warning on import, which would break the one-line error contract of ``dakd``. An azimuthal
equidistant projection centred on the start point maps every other point at its true geodesic
distance and azimuth from that start (PROJ's ellipsoidal ``aeqd``), so one transform gives both.
"""

from __future__ import annotations

import numpy as np
from rasterio.warp import transform as transform_points


def distance_bearing(lon0: float, lat0: float, lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances (km) and bearings (degrees clockwise from north, 0-360) from (``lon0``, ``lat0``) to each point."""
    local = f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +ellps=WGS84 +units=m +no_defs"
    xs, ys = transform_points("EPSG:4326", local, np.atleast_1d(lons).tolist(), np.atleast_1d(lats).tolist())
    xs, ys = np.asarray(xs), np.asarray(ys)
    return np.hypot(xs, ys) / 1000.0, np.degrees(np.arctan2(xs, ys)) % 360.0
