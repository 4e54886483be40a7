"""Ships (OSD class 3): bright point targets seen through the SAR impulse response, and their wakes.

A ship is a line of point scatterers along its hull (brightest at the superstructure), convolved
with a separable impulse response whose sidelobes form the characteristic cross along range and
azimuth. Its peak pixel is drawn ``ship_brightness_db`` above the local sea.

Moving ships are displaced in azimuth: a target with line-of-sight velocity ``v_r`` appears shifted
by ``R * v_r / V`` along the flight direction (R slant range, V platform velocity; Raney, "Synthetic
aperture imaging radar and moving targets", IEEE TAES 7(3), 1971), so a ship at 5 m/s toward the
radar sits ~300 m off its own wake and oil trail, as in real S1 images. Wakes are drawn at the true
position: a dark turbulent centre-line wake (a classic look-alike) and faint bright Kelvin arms at
±19.47° (the Kelvin angle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from engine.data.synth.geometry import PLATFORM_VELOCITY_MS, ViewingGeometry, slant_range_km
from engine.data.synth.lookalikes import LookAlike, label_dark
from engine.data.synth.noise import Patch, patch_around, rotated_frame, smoothstep

#: Impulse-response main lobe (first null) in pixels: GRDH resolution ~20 x 22 m at 10 m spacing.
IRF_NULL_PX = 2.0
#: Half-length of the impulse response kernel (px).
IRF_HALF_PX = 24
#: Sidelobe level of an unweighted sinc² (dB); the configured level scales the sidelobes to it.
_SINC_PSLR_DB = -13.26
KELVIN_HALF_ANGLE_DEG = 19.47


@dataclass(frozen=True)
class ShipSpec:
    """A ship to draw: true position (row, col), course, size, speed and brightness."""

    centre_yx: tuple[float, float]
    heading_deg: float
    length_m: float
    speed_ms: float
    brightness_db: float
    wake: bool
    moored: bool = False


@dataclass
class RenderedShip:
    """The ship's added backscatter (linear power) and its label over ``patch``."""

    patch: Patch
    power: np.ndarray
    label: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def impulse_response(sidelobe_level_db: float, half_px: int = IRF_HALF_PX) -> np.ndarray:
    """1-D intensity impulse response: sinc² with its sidelobes scaled to ``sidelobe_level_db``.

    Notes:
        The 2-D response is the outer product of this with itself, so the sidelobes line up along
        the image axes (range and azimuth) and form the cross seen around bright ships.
    """
    x = np.arange(-half_px, half_px + 1, dtype=np.float64)
    response = np.sinc(x / IRF_NULL_PX) ** 2
    sidelobes = np.abs(x) >= IRF_NULL_PX
    response[sidelobes] *= 10.0 ** ((sidelobe_level_db - _SINC_PSLR_DB) / 10.0)
    return (response / response.max()).astype(np.float32)


def azimuth_shift_px(
    spec: ShipSpec, geometry: ViewingGeometry, column: int, pixel_size_m: float
) -> tuple[float, float]:
    """(row, col) displacement of a moving ship's image, along the flight direction."""
    if spec.speed_ms <= 0:
        return 0.0, 0.0
    incidence = float(geometry.incidence_deg[int(np.clip(column, 0, len(geometry.incidence_deg) - 1))])
    # Horizontal speed toward the radar (the look points away from it), projected on the line of sight.
    toward_radar = -spec.speed_ms * np.cos(np.deg2rad(spec.heading_deg - geometry.look_azimuth_deg))
    line_of_sight = toward_radar * np.sin(np.deg2rad(incidence))
    shift_m = float(slant_range_km(incidence)) * 1000.0 * line_of_sight / PLATFORM_VELOCITY_MS
    heading = np.deg2rad(geometry.heading_deg)
    return -np.cos(heading) * shift_m / pixel_size_m, np.sin(heading) * shift_m / pixel_size_m


def render_ship(
    spec: ShipSpec,
    sea_sigma0: np.ndarray,
    geometry: ViewingGeometry,
    pixel_size_m: float,
    sidelobe_level_db: float,
    rng: np.random.Generator,
) -> RenderedShip | None:
    """Draw one ship's image (displaced if moving) with its sidelobe cross; label its hull blob."""
    shape = sea_sigma0.shape
    shift = azimuth_shift_px(spec, geometry, int(spec.centre_yx[1]), pixel_size_m)
    centre = (spec.centre_yx[0] + shift[0], spec.centre_yx[1] + shift[1])
    length_px = spec.length_m / pixel_size_m
    width_px = max(1.0, length_px / float(rng.uniform(5.0, 8.0)))
    half = length_px / 2.0 + IRF_HALF_PX + 2
    window = patch_around(centre, half, half, shape)
    if window is None or not (0 <= centre[0] < shape[0] and 0 <= centre[1] < shape[1]):
        return None

    # Point scatterers along the hull, splatted bilinearly on the pixel grid.
    count = max(3, int(length_px * 3))
    along = rng.uniform(-0.5, 0.5, count) * length_px
    across = rng.uniform(-0.5, 0.5, count) * width_px
    amplitude = rng.exponential(1.0, count)
    superstructure = float(rng.uniform(-0.4, 0.4)) * length_px
    amplitude *= 1.0 + 4.0 * np.exp(-(((along - superstructure) / max(1.0, 0.12 * length_px)) ** 2))
    heading = np.deg2rad(spec.heading_deg)
    ys = centre[0] - along * np.cos(heading) + across * np.sin(heading) - window.rows.start
    xs = centre[1] + along * np.sin(heading) + across * np.cos(heading) - window.cols.start
    reflectivity = np.zeros(window.shape, dtype=np.float32)
    _splat(reflectivity, ys, xs, amplitude)
    kernel = impulse_response(sidelobe_level_db)
    power = ndimage.convolve1d(reflectivity, kernel, axis=0, mode="constant")
    power = ndimage.convolve1d(power, kernel, axis=1, mode="constant")

    sea_level = float(np.median(sea_sigma0[window.rows, window.cols]))
    peak = float(power.max())
    if peak <= 0:
        return None
    power *= np.float32(sea_level * 10.0 ** (spec.brightness_db / 10.0) / peak)

    u, v = rotated_frame(window, centre, spec.heading_deg)
    near_hull = (np.abs(u) <= length_px / 2.0 + IRF_NULL_PX + 1.0) & (np.abs(v) <= width_px / 2.0 + IRF_NULL_PX + 1.0)
    label = near_hull & (power >= np.float32(sea_level))
    info = {
        "true_centre_px": [round(spec.centre_yx[0], 1), round(spec.centre_yx[1], 1)],
        "image_centre_px": [round(centre[0], 1), round(centre[1], 1)],
        "heading_deg": round(spec.heading_deg % 360.0, 2),
        "length_m": round(spec.length_m, 1),
        "speed_ms": round(spec.speed_ms, 2),
        "brightness_db": round(spec.brightness_db, 2),
        "moored": spec.moored,
    }
    return RenderedShip(window, power.astype(np.float32), label, info)


def draw_wake(
    spec: ShipSpec,
    damping_db: float,
    pixel_size_m: float,
    shape: tuple[int, int],
    rng: np.random.Generator,
    labelled: bool,
) -> LookAlike | None:
    """Dark turbulent wake along the track behind the ship, plus faint bright Kelvin arms."""
    length_px = float(np.clip(spec.speed_ms * rng.uniform(150.0, 400.0), 300.0, 5000.0)) / pixel_size_m
    hull_width_px = max(1.5, spec.length_m / 6.0 / pixel_size_m)
    back = spec.heading_deg + 180.0
    theta = np.deg2rad(back)
    mid = (spec.centre_yx[0] - np.cos(theta) * length_px / 2.0, spec.centre_yx[1] + np.sin(theta) * length_px / 2.0)
    window = patch_around(mid, length_px / 2.0 + 8.0, length_px / 2.0 + 8.0, shape)
    if window is None:
        return None
    u, v = rotated_frame(window, spec.centre_yx, back)
    t = np.clip(u / np.float32(length_px), 0.0, 1.0)
    behind = (u > 0) & (u < length_px)
    width = np.float32(hull_width_px) * (np.float32(1.5) + np.float32(3.0) * t)
    turbulent = np.float32(damping_db) * np.exp(-((v / width) ** 2)) * (1.0 - smoothstep(t / 1.0) * 0.8)
    turbulent = np.where(behind, turbulent, 0.0)
    kelvin_db = float(rng.uniform(0.5, 2.0))
    tan_kelvin = np.float32(np.tan(np.deg2rad(KELVIN_HALF_ANGLE_DEG)))
    arms = np.exp(-(((np.abs(v) - u * tan_kelvin) / np.float32(1.2)) ** 2)) * np.float32(kelvin_db)
    arms = np.where(behind & (u < 0.5 * length_px), arms * (1.0 - 2.0 * t), 0.0)
    darkening = (turbulent - arms).astype(np.float32)
    label = label_dark(darkening, damping_db) if labelled else np.zeros(window.shape, dtype=bool)
    info = {
        "ship_true_centre_px": [round(spec.centre_yx[0], 1), round(spec.centre_yx[1], 1)],
        "length_m": round(length_px * pixel_size_m, 1),
        "damping_db": round(damping_db, 3),
        "kelvin_brightening_db": round(kelvin_db, 3),
        "labelled": labelled,
    }
    return LookAlike("wake", window, darkening, label, info)


def _splat(grid: np.ndarray, ys: np.ndarray, xs: np.ndarray, values: np.ndarray) -> None:
    """Add point values to ``grid`` with bilinear weights (points outside are dropped)."""
    y0 = np.floor(ys).astype(int)
    x0 = np.floor(xs).astype(int)
    fy = ys - y0
    fx = xs - x0
    h, w = grid.shape
    for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        yy, xx = y0 + dy, x0 + dx
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        np.add.at(grid, (yy[inside], xx[inside]), (values * weight)[inside].astype(np.float32))
