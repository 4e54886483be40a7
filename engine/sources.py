"""Possible source of each oil slick: the nearest ship or platform at either end of it.

A ship discharging oil leaves a slick behind it and sits at, or just beyond, one end of it; a leaking
platform sits at the slick's origin. Operational services (CleanSeaNet's ``possibleSource``) report that
target with the spill. Here the targets are the run's ``ship`` polygons (the network's ship class merged
with SNAP's CFAR bright targets, :mod:`engine.detectors.cfar`; platforms are bright targets too), so a run
without a ship detector (the threshold detector) finds no source.

Rules (also in docs/reference/detection.md):

* The **ends** of a slick are the two points of its outline farthest apart along its principal axis
  (the direction of largest spread of its outline vertices).
* A ship is a candidate when its centroid lies within :data:`SOURCE_MAX_KM` of either end; the nearest
  candidate over both ends is the source. ``source_distance_km`` is that distance, ``source_bearing_deg``
  the bearing from the end to the ship (degrees clockwise from north: geodesic on WGS84 for
  georeferenced scenes, grid north for rasters without a CRS), ``source_id`` the ship's ``id``.
* A ship that is the source of one or more slicks gets ``near_spill_id``: the nearest of those slicks.

Limits: a ship that moved on (minutes between discharge and image at 10 knots are kilometres) or
one hidden in the slick's own outline is missed; any ship passing near an end is named, whether it
discharged or not. The attribute says "possible", never "polluter".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from rasterio.crs import CRS
from rasterio.warp import transform as transform_points
from shapely.geometry.base import BaseGeometry

from engine.io.geodesy import distance_bearing

#: How far from either end of a slick (km) a ship can be and still be named its possible source.
SOURCE_MAX_KM = 5.0
SOURCE_FIELDS = ("source_id", "source_distance_km", "source_bearing_deg")


class _Positions:
    """Turns output coordinates into positions distances can be measured between.

    Georeferenced outputs become (lon, lat) in WGS84 (geodesic distances and bearings); outputs without a
    CRS (x = column, y = -row) become metres east and north of the grid from the pixel size.
    """

    def __init__(self, crs: CRS | None, pixel_size_m: tuple[float, float]) -> None:
        self.crs = crs
        self.pixel_size_m = pixel_size_m

    @property
    def geographic(self) -> bool:
        return self.crs is not None

    def of(self, xy: np.ndarray) -> np.ndarray:
        """``(N, 2)`` output coordinates → ``(N, 2)`` positions."""
        if self.crs is None:
            return xy[:, :2] * np.array(self.pixel_size_m, dtype=np.float64)
        lons, lats = transform_points(self.crs, "EPSG:4326", xy[:, 0].tolist(), xy[:, 1].tolist())
        return np.column_stack([lons, lats])

    def distance_bearing(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distances (km) and bearings (deg from north) from each of ``starts`` (K, 2) to each of ``ends`` (M, 2).

        Returns two ``(K, M)`` arrays.
        """
        if self.geographic:
            pairs = [distance_bearing(lon, lat, ends[:, 0], ends[:, 1]) for lon, lat in starts]
            return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        delta = ends[None, :, :] - starts[:, None, :]
        return (
            np.hypot(delta[..., 0], delta[..., 1]) / 1000.0,
            np.degrees(np.arctan2(delta[..., 0], delta[..., 1])) % 360.0,
        )


def slick_ends(points: np.ndarray, geographic: bool) -> np.ndarray:
    """Return the two outline points farthest apart along the outline's principal axis, as ``(2, 2)`` positions.

    Geographic positions are flattened around the first point (longitude scaled by the cosine of the
    latitude) only to find the axis; the ends returned are outline points themselves.
    """
    planar = points.astype(np.float64)
    if geographic:
        lon0, lat0 = planar[0]
        planar = np.column_stack(
            [((planar[:, 0] - lon0 + 180.0) % 360.0 - 180.0) * math.cos(math.radians(lat0)), planar[:, 1] - lat0]
        )
    centred = planar - planar.mean(axis=0)
    if len(points) < 2 or not centred.any():
        return np.stack([points[0], points[0]])
    axis = np.linalg.eigh(centred.T @ centred)[1][:, -1]
    along = centred @ axis
    return np.stack([points[int(np.argmin(along))], points[int(np.argmax(along))]])


def link_sources(
    records: Sequence[tuple[BaseGeometry, dict[str, Any]]],
    crs: CRS | None,
    pixel_size_m: tuple[float, float],
    max_km: float = SOURCE_MAX_KM,
) -> int:
    """Fill ``source_*`` of oil records and ``near_spill_id`` of ship records, in place (see the module rules).

    Args:
        records: ``(geometry in the output CRS, properties)`` of one run, with ``id`` and ``class``.
        crs: the output CRS (None: x = column, y = -row).
        pixel_size_m: ground pixel size, for outputs without a CRS.
        max_km: the search radius around each end.

    Returns:
        The number of oil records given a source.
    """
    positions = _Positions(crs, pixel_size_m)
    ships = [(props, geometry) for geometry, props in records if props.get("class") == "ship"]
    for _, props in records:
        props.update(dict.fromkeys(SOURCE_FIELDS))
        props["near_spill_id"] = None
    if not ships:
        return 0
    ship_points = positions.of(np.array([geometry.centroid.coords[0][:2] for _, geometry in ships]))
    nearest_spill: dict[int, tuple[float, int]] = {}
    linked = 0
    for geometry, props in records:
        if props.get("class") != "oil":
            continue
        ends = slick_ends(positions.of(shapely.get_coordinates(geometry)), positions.geographic)
        distances, bearings = positions.distance_bearing(ends, ship_points)
        end, ship = (int(i) for i in np.unravel_index(int(np.argmin(distances)), distances.shape))
        distance = float(distances[end, ship])
        if distance > max_km:
            continue
        ship_props = ships[ship][0]
        props.update(
            source_id=ship_props["id"],
            source_distance_km=round(distance, 3),
            source_bearing_deg=round(float(bearings[end, ship]), 1),
        )
        linked += 1
        if distance < nearest_spill.get(ship, (math.inf, 0))[0]:
            nearest_spill[ship] = (distance, props["id"])
    for ship, (_, spill_id) in nearest_spill.items():
        ships[ship][0]["near_spill_id"] = spill_id
    return linked
