"""Wind around each slick: CMOD5.N inverted on the background σ0, and the flags analysts act on.

Oil shows in SAR only in a window of wind speeds: below about 3 m/s the whole sea is dark and natural
films, wind shadows and calm patches look like oil (look-alikes are likely); above about 10 m/s waves
break and mix the oil into the water, so slicks are rarely visible (docs/reference/detection.md,
wind context, for the literature). A slick detected at such a wind is less certain, so the wind feeds
the A/B confidence class (:func:`engine.vectorize.confidence`).

The speed comes from the σ0 *around* the slick (the threshold detector's background: the same window
and bright-target guard, :func:`engine.detectors.threshold.guarded_background_mean`), inverted through
CMOD5.N (:func:`engine.data.synth.cmod5n.cmod5n_sigma0`, the simulator's forward model) at the slick's
incidence angle:

* **Incidence.** Sentinel-1 products give it per position (the annotation's geolocation grid, with the
  radar look direction, ``Sentinel1Scene.viewing_geometry``). A plain raster carries neither, so
  :data:`ASSUMED_INCIDENCE_DEG` (mid IW swath) is assumed, and the summary and the report say so.
* **Direction.** CMOD5.N needs the wind direction relative to the look direction. With ``--wind-dir``
  (the direction the wind blows from, clockwise from north, e.g. from a weather model) and a look
  direction the speed is ``wind_speed_ms``. Otherwise the speed is given as the range over all
  directions: ``wind_speed_min_ms`` (upwind, the brightest case) to ``wind_speed_max_ms`` (crosswind).
* **Flags.** ``wind_flag`` is set only when the whole estimate is on one side of a limit (a range
  below 3 m/s, or above 10 m/s), so a flag is never raised by the direction being unknown.

Uncalibrated inputs (``amplitude``, ``intensity``: DN, not σ0) give no wind: their σ0 scale is unknown.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.data.synth.cmod5n import cmod5n_sigma0

#: Below this speed (m/s) the sea is dark almost everywhere: look-alikes are likely.
LOW_WIND_MS = 3.0
#: Above this speed (m/s) breaking waves mix oil into the water: slicks are rarely visible.
STRONG_WIND_MS = 10.0
LOW_WIND_FLAG = "low wind, < 3 m/s: look-alikes likely"
STRONG_WIND_FLAG = "strong wind, > 10 m/s: slicks rarely visible"
#: Incidence assumed for rasters that do not carry it: the middle of Sentinel-1 IW's 30-46° swath.
ASSUMED_INCIDENCE_DEG = 38.0
#: Inversion bounds (m/s): CMOD5.N's lower limit, and the speed above which its σ0 stops growing
#: monotonically at some incidences and directions (checked over 18-58° and 0-180°), so the inverse is unique.
MIN_SPEED_MS = 0.2
MAX_SPEED_MS = 25.0
#: Relative directions (deg) searched for the speed range when the direction is unknown.
_DIRECTIONS_DEG = np.arange(0.0, 181.0, 5.0)
_BISECTION_STEPS = 40  # (25 - 0.2) / 2^40: far below any σ0 precision
#: Units whose values are σ0 (calibrated); DN inputs give no wind.
CALIBRATED_UNITS = ("linear", "db")


def invert_cmod5n(
    sigma0: np.ndarray | float, incidence_deg: np.ndarray | float, relative_direction_deg: np.ndarray | float
) -> np.ndarray:
    """Wind speed (m/s) whose CMOD5.N σ0 equals ``sigma0`` (linear), by bisection on the monotonic forward model.

    Bisection, not a fitted inverse, so the inverse is exact to the forward model the simulator uses.
    σ0 below the model's value at :data:`MIN_SPEED_MS` gives that speed, σ0 above its value at
    :data:`MAX_SPEED_MS` gives that speed (both limits are reported as such by the callers' flags).

    Args:
        sigma0: linear σ0 (VV, C band).
        incidence_deg: incidence angle.
        relative_direction_deg: wind direction relative to the look direction (0 upwind, 90 crosswind).

    Returns:
        float64 array of the broadcast shape.
    """
    target, incidence, relative = np.broadcast_arrays(
        np.asarray(sigma0, np.float64),
        np.asarray(incidence_deg, np.float64),
        np.asarray(relative_direction_deg, np.float64),
    )
    low = np.full(target.shape, MIN_SPEED_MS)
    high = np.full(target.shape, MAX_SPEED_MS)
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        above = cmod5n_sigma0(middle, relative, incidence) > target
        high = np.where(above, middle, high)
        low = np.where(above, low, middle)
    return 0.5 * (low + high)


def speed_range(sigma0: float, incidence_deg: float) -> tuple[float, float]:
    """Lowest and highest speed over all relative directions for one σ0 (upwind and near crosswind)."""
    speeds = invert_cmod5n(sigma0, incidence_deg, _DIRECTIONS_DEG)
    return float(speeds.min()), float(speeds.max())


def wind_flag(low_ms: float | None, high_ms: float | None) -> str | None:
    """Return the flag for a speed or range, only when the whole estimate is beyond a limit (see the module notes)."""
    if low_ms is None or high_ms is None:
        return None
    if high_ms < LOW_WIND_MS:
        return LOW_WIND_FLAG
    if low_ms > STRONG_WIND_MS:
        return STRONG_WIND_FLAG
    return None


#: ``(cols, rows) -> (incidence_deg, look_azimuth_deg)`` at scene pixel positions (corner convention).
ViewingGeometry = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class WindEstimator:
    """Turns a region's background σ0 and position into its wind attributes, for one scene.

    Build it with :func:`wind_estimator`. ``reason`` says what the estimate rests on (summary, report).
    """

    calibrated: bool
    wind_dir_deg: float | None
    geometry: ViewingGeometry | None
    reason: str

    def attributes(self, background_sigma0: float | None, col: float, row: float) -> dict[str, Any]:
        """``wind_speed_ms``, ``wind_speed_min_ms``, ``wind_speed_max_ms``, ``wind_flag``, ``incidence_deg``.

        All None when the input is not calibrated or the region has no usable background.
        """
        empty = dict.fromkeys(("wind_speed_ms", "wind_speed_min_ms", "wind_speed_max_ms", "wind_flag", "incidence_deg"))
        if not self.calibrated or background_sigma0 is None or not background_sigma0 > 0:
            return empty
        incidence, look = ASSUMED_INCIDENCE_DEG, None
        if self.geometry is not None:
            incidences, looks = self.geometry(np.array([col]), np.array([row]))
            incidence, look = float(incidences[0]), float(looks[0])
        low, high = speed_range(background_sigma0, incidence)
        speed = None
        if self.wind_dir_deg is not None and look is not None:
            speed = float(invert_cmod5n(background_sigma0, incidence, self.wind_dir_deg - look))
            low = high = speed
        return {
            "wind_speed_ms": _round(speed),
            "wind_speed_min_ms": _round(low),
            "wind_speed_max_ms": _round(high),
            "wind_flag": wind_flag(low, high),
            "incidence_deg": round(incidence, 2),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def wind_estimator(scene: Any, wind_dir_deg: float | None) -> WindEstimator:
    """Build the estimator for ``scene`` (a :class:`~engine.io.scene.Scene`), with its one-line reason.

    A scene that knows its viewing geometry (a Sentinel-1 product) provides ``viewing_geometry``; any
    other gets :data:`ASSUMED_INCIDENCE_DEG` and, lacking a look direction, the range over directions
    even when ``wind_dir_deg`` is given.
    """
    units = scene.info.units
    geometry = getattr(scene, "viewing_geometry", None)
    if units not in CALIBRATED_UNITS:
        what = "an 8-bit picture without its dB span" if units == "db-8bit" else f"uncalibrated {units} (DN)"
        return WindEstimator(False, wind_dir_deg, geometry, f"no wind: the input is {what}, not sigma0")
    if geometry is not None:
        where = "incidence and look direction from the Sentinel-1 annotation"
    else:
        where = (
            f"incidence assumed {ASSUMED_INCIDENCE_DEG:g} deg (the raster does not carry it; mid IW swath), "
            "look direction unknown"
        )
    if wind_dir_deg is None:
        how = "direction unknown: range over all directions"
    elif geometry is None:
        how = f"--wind-dir {wind_dir_deg:g} not usable without the look direction: range over all directions"
    else:
        how = f"wind from {wind_dir_deg:g} deg (--wind-dir)"
    return WindEstimator(True, wind_dir_deg, geometry, f"CMOD5.N on the background sigma0; {where}; {how}")


def check_background_window(window_km: float, pixel_size_m: tuple[float, float]) -> str | None:
    """Return why ``--background-window-km`` is too large for the wind estimate at this pixel size, or None.

    The background σ0 is the guarded mean over that window (the threshold detector's,
    :func:`engine.detectors.threshold.window_px`), taken around each slick in chunks of rows
    (:func:`engine.vectorize.region_stats`), with any detector. Its cost grows with the window: with the model on
    the sample scene (1024 px square, 10 m pixels), the polygon step (``vectorise_s``) took 0.3 s at 0.5 km, 1.2 s
    at 1000 km, 18 s at 10,000 km and 522 s at 100,000 km; and a window far larger than the chunk is no window any
    more (at 1000 km a slick's wind came out 2.8-4.6 m/s where 0.5 km and 10 km gave 4.7-8.2). So the threshold
    detector's limit, :data:`~engine.detectors.threshold.MAX_BACKGROUND_WINDOW_PX`, holds for every detector.
    """
    from engine.detectors.threshold import MAX_BACKGROUND_WINDOW_PX, window_px

    background_px = window_px(window_km, pixel_size_m)
    if background_px <= MAX_BACKGROUND_WINDOW_PX:
        return None
    metres = min(pixel_size_m)
    pixels = background_px if background_px < 10**9 else f"{background_px:.3g}"  # 1e300 km: 300 digits
    return (
        f"--background-window-km {window_km:g} is {pixels} px at this scene's {metres:.3g} m pixels, more than the "
        f"{MAX_BACKGROUND_WINDOW_PX} px the wind estimate around each slick handles; use at most "
        f"{MAX_BACKGROUND_WINDOW_PX * metres / 1000:.3g} km (SNAP's default is 0.5 km)"
    )


def check_wind_dir(wind_dir_deg: float | None) -> str | None:
    """Return why ``--wind-dir`` is unusable (not finite or outside 0-360), or None when it is fine."""
    if wind_dir_deg is None:
        return None
    if not (math.isfinite(wind_dir_deg) and 0.0 <= wind_dir_deg <= 360.0):
        return (
            f"--wind-dir must be the direction the wind blows from, 0-360 degrees clockwise from north, got "
            f"{wind_dir_deg:g}"
        )
    return None
