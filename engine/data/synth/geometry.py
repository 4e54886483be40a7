"""Sentinel-1 IW viewing geometry: incidence across range, look direction, slant range.

The scene grid is north-up with columns along range (east-west) and rows along azimuth, which is
what a GRD product geocoded to UTM looks like once the ~10 deg track tilt is ignored. Sentinel-1 is
right-looking: on an ascending pass it flies roughly north and looks east, so near range is on the
left; on a descending pass it looks west and near range is on the right.

Incidence versus ground range uses a spherical Earth (radius ``EARTH_RADIUS_KM``) and the orbit
height: by the law of sines, ``sin(look) = R / (R + H) * sin(incidence)`` and the Earth-centre angle
between nadir and the pixel is ``incidence - look``, so ground range from nadir is
``R * (incidence - look)``. With the IW swath limits below this gives 259 km across the swath; the
real S1B product in ``tests/data/sentinel1`` (annotation geolocation grid) spans 261 km over the same angles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EARTH_RADIUS_KM = 6371.0
#: Sentinel-1 mean orbit height.
ORBIT_HEIGHT_KM = 693.0
#: Effective platform velocity used for the moving-target azimuth shift (S1: ~7.6 km/s orbital).
PLATFORM_VELOCITY_MS = 7600.0
#: IW incidence at the near edge of IW1 and the far edge of IW3 (real S1B annotation: 30.31 / 46.08).
IW_NEAR_DEG = 30.3
IW_FAR_DEG = 46.1
#: Incidence at the IW1/IW2 and IW2/IW3 boundaries (from the same product's noise vectors).
SUBSWATH_BOUNDARIES_DEG = (36.28, 41.67)
#: Platform heading (deg from north) on each pass at mid latitudes; the look is heading + 90.
ORBIT_HEADING_DEG = {"ascending": -12.0, "descending": 192.0}


def ground_range_km(incidence_deg: np.ndarray | float) -> np.ndarray:
    """Ground distance from nadir (km) at which the beam meets the surface at ``incidence_deg``."""
    incidence = np.deg2rad(np.asarray(incidence_deg, dtype=np.float64))
    look = np.arcsin(EARTH_RADIUS_KM / (EARTH_RADIUS_KM + ORBIT_HEIGHT_KM) * np.sin(incidence))
    return EARTH_RADIUS_KM * (incidence - look)


def incidence_from_ground_range(ground_km: np.ndarray) -> np.ndarray:
    """Inverse of :func:`ground_range_km` over 15-60 deg (table lookup, monotonic)."""
    table_deg = np.linspace(15.0, 60.0, 4501)
    return np.interp(ground_km, ground_range_km(table_deg), table_deg)


def slant_range_km(incidence_deg: np.ndarray | float) -> np.ndarray:
    """Distance from the satellite to the pixel (km), for the moving-ship azimuth shift."""
    beta = ground_range_km(incidence_deg) / EARTH_RADIUS_KM
    r, rh = EARTH_RADIUS_KM, EARTH_RADIUS_KM + ORBIT_HEIGHT_KM
    return np.sqrt(r * r + rh * rh - 2.0 * r * rh * np.cos(beta))


@dataclass(frozen=True)
class ViewingGeometry:
    """What the sensor geometry means for one scene.

    Attributes:
        orbit_direction: ``ascending`` or ``descending``.
        incidence_deg: incidence per column, float32 ``(width,)``.
        look_azimuth_deg: horizontal direction the radar looks, clockwise from north.
        heading_deg: platform heading (flight direction), clockwise from north.
        near_range_left: True when incidence grows from left to right.
    """

    orbit_direction: str
    incidence_deg: np.ndarray
    look_azimuth_deg: float
    heading_deg: float
    near_range_left: bool

    def summary(self) -> dict[str, float | str]:
        """Facts for the JSON sidecar."""
        return {
            "orbit_direction": self.orbit_direction,
            "look_azimuth_deg": round(self.look_azimuth_deg, 2),
            "heading_deg": round(self.heading_deg, 2),
            "incidence_first_column_deg": round(float(self.incidence_deg[0]), 3),
            "incidence_last_column_deg": round(float(self.incidence_deg[-1]), 3),
        }


def draw_geometry(
    width_px: int,
    pixel_size_m: float,
    incidence_range_deg: tuple[float, float] | None,
    orbit_direction: str,
    rng: np.random.Generator,
) -> ViewingGeometry:
    """Place the scene in the IW swath (or stretch a given incidence range across it).

    Args:
        width_px: scene columns (range direction).
        pixel_size_m: ground pixel size.
        incidence_range_deg: ``(near, far)`` to stretch linearly across the scene, or None for the
            physical placement at a random position inside the 30.3-46.1 deg swath.
        orbit_direction: ``ascending``, ``descending`` or ``random``.
        rng: random generator for the pass and the swath position.
    """
    if orbit_direction == "random":
        orbit_direction = "ascending" if rng.random() < 0.5 else "descending"
    heading = ORBIT_HEADING_DEG[orbit_direction]
    look_azimuth = (heading + 90.0) % 360.0
    near_left = orbit_direction == "ascending"
    if incidence_range_deg is None:
        swath_near_km = float(ground_range_km(IW_NEAR_DEG))
        swath_far_km = float(ground_range_km(IW_FAR_DEG))
        scene_km = width_px * pixel_size_m / 1000.0
        start_km = swath_near_km + rng.random() * max(0.0, swath_far_km - swath_near_km - scene_km)
        ground_km = start_km + (np.arange(width_px) + 0.5) * pixel_size_m / 1000.0
        incidence = incidence_from_ground_range(ground_km)
    else:
        near, far = incidence_range_deg
        incidence = np.linspace(near, far, width_px) if width_px > 1 else np.array([near])
    if not near_left:
        incidence = incidence[::-1]
    return ViewingGeometry(orbit_direction, incidence.astype(np.float32), look_azimuth, heading, near_left)
