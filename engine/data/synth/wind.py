"""The 10 m wind field over the scene: speed and direction on a coarse grid.

The field is built from the structures that shape real SAR sea images at 1-50 km scales:

- a mean speed and direction (drawn from the config);
- mesoscale variability: a smooth fractal field (spectral slope -3.5, i.e. energy mostly at scene
  scale), a few percent of the mean;
- convective gust cells of 1-3 km (band-pass field);
- wind streaks: marine boundary-layer rolls, 0.5-1.5 km apart and aligned with the wind
  (Alpers & Brümmer, JGR 99(C6), 1994), a few percent modulation;
- optionally an atmospheric front: a wavy line across the scene with a speed jump and a veer;
- low-wind patches: calm areas where the speed drops to 2-3 m/s (look-alikes);
- the wind shadow in the lee of land, which slows the wind over a few km offshore.

Speeds are clipped to ``wind_limits_ms``. Everything is computed on a grid of ``cell_px``-pixel
cells and upsampled bilinearly by the caller: nothing in the wind varies at 10 m.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.data.synth.config import SceneConfig
from engine.data.synth.noise import band_field, fractal_field, smoothstep

#: Wind-grid cell size in pixels (40 m at GRDH spacing).
WIND_CELL_PX = 4


@dataclass
class WindField:
    """Wind on the coarse grid.

    Attributes:
        speed_ms: 10 m wind speed, float32 ``coarse_shape``.
        direction_from_deg: meteorological direction the wind comes from, clockwise from north.
        summary: drawn parameters for the JSON sidecar.
    """

    speed_ms: np.ndarray
    direction_from_deg: np.ndarray
    summary: dict[str, Any] = field(default_factory=dict)


def blow_vector(direction_from_deg: float) -> tuple[float, float]:
    """Return the unit (row, col) step the wind blows *toward* (downwind), for a 'from' direction."""
    to = np.deg2rad(direction_from_deg + 180.0)
    return float(-np.cos(to)), float(np.sin(to))


def draw_wind(
    config: SceneConfig,
    shape: tuple[int, int],
    cell_m: float,
    rng: np.random.Generator,
    land_coarse: np.ndarray | None = None,
) -> WindField:
    """Draw the wind field on a coarse grid of ``shape`` cells of ``cell_m`` metres.

    Args:
        config: ranges for the mean speed, variability, gusts, streaks, fronts, calm patches.
        shape: coarse grid shape.
        cell_m: size of one coarse cell in metres.
        rng: the wind's own random stream.
        land_coarse: land fraction per coarse cell (0-1), for the lee-side wind shadow, or None.
    """
    mean_speed = float(rng.uniform(*config.wind_speed_ms))
    mean_from = float(rng.uniform(*config.wind_direction_from_deg)) % 360.0
    summary: dict[str, Any] = {"mean_speed_ms": round(mean_speed, 3), "direction_from_deg": round(mean_from, 2)}

    # Mesoscale variability of speed and direction.
    factor = 1.0 + config.wind_variability * fractal_field(shape, rng, beta=3.5)
    direction = mean_from + config.wind_direction_variability_deg * fractal_field(shape, rng, beta=3.5)

    # Convective gust cells (1-3 km).
    gust = float(rng.uniform(*config.gust_strength))
    gust_km = float(rng.uniform(1.0, 3.0))
    if gust > 0:
        factor = factor * (1.0 + gust * band_field(shape, rng, gust_km * 1000.0 / cell_m, 0.5))
    summary["gust_strength"] = round(gust, 4)

    # Wind streaks along the wind.
    streak = float(rng.uniform(*config.streak_strength))
    streak_km = float(rng.uniform(0.5, 1.5))
    if streak > 0:
        streaks = band_field(shape, rng, streak_km * 1000.0 / cell_m, 0.25, elongation=6.0, angle_deg=mean_from + 180.0)
        factor = factor * (1.0 + streak * streaks)
    summary["streak_strength"] = round(streak, 4)

    speed = (mean_speed * factor).astype(np.float32)

    if rng.random() < config.front_probability:
        speed, direction, summary["front"] = _front(speed, direction, cell_m, rng)

    patches = int(rng.integers(config.low_wind_patches[0], config.low_wind_patches[1] + 1))
    summary["low_wind_patches"] = [_low_wind_patch(speed, cell_m, rng) for _ in range(patches)]

    if land_coarse is not None and land_coarse.any():
        speed = speed * (1.0 - 0.6 * _lee_shadow(land_coarse, mean_from, cell_m))

    speed = np.clip(speed, *config.wind_limits_ms).astype(np.float32)
    return WindField(speed, direction.astype(np.float32), summary)


def _front(
    speed: np.ndarray, direction: np.ndarray, cell_m: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Draw a wavy front through the scene: speed ratio and veer change across a 100-500 m transition."""
    h, w = speed.shape
    angle = float(rng.uniform(0.0, 180.0))
    centre = (rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w)
    theta = np.deg2rad(angle)
    yy = np.arange(h, dtype=np.float32)[:, None] - centre[0]
    xx = np.arange(w, dtype=np.float32)[None, :] - centre[1]
    distance = xx * np.float32(np.cos(theta)) + yy * np.float32(np.sin(theta))
    distance = distance + 0.05 * max(h, w) * fractal_field((h, w), rng, beta=4.0)
    width_cells = float(rng.uniform(100.0, 500.0)) / cell_m
    side = 0.5 * (1.0 + np.tanh(distance / max(width_cells, 0.5)))
    ratio = float(rng.uniform(0.6, 1.5))
    veer = float(rng.uniform(-40.0, 40.0))
    speed = speed * (1.0 + (ratio - 1.0) * side)
    direction = direction + veer * side
    info = {
        "angle_deg": round(angle, 2),
        "speed_ratio": round(ratio, 3),
        "veer_deg": round(veer, 2),
        "transition_m": round(width_cells * cell_m, 1),
    }
    return speed.astype(np.float32), direction, info


def _low_wind_patch(speed: np.ndarray, cell_m: float, rng: np.random.Generator) -> dict[str, Any]:
    """Blend a calm patch into ``speed`` in place; returns its parameters."""
    h, w = speed.shape
    scene_km = min(h, w) * cell_m / 1000.0
    radius_km = float(np.clip(rng.uniform(0.08, 0.25) * scene_km, 0.3, 6.0))
    calm_ms = float(rng.uniform(1.0, 2.8))
    centre = (rng.uniform(0.0, h), rng.uniform(0.0, w))
    radius = radius_km * 1000.0 / cell_m
    yy = np.arange(h, dtype=np.float32)[:, None] - np.float32(centre[0])
    xx = np.arange(w, dtype=np.float32)[None, :] - np.float32(centre[1])
    stretch = float(rng.uniform(1.0, 2.0))
    theta = float(rng.uniform(0.0, np.pi))
    u = xx * np.float32(np.cos(theta)) + yy * np.float32(np.sin(theta))
    v = -xx * np.float32(np.sin(theta)) + yy * np.float32(np.cos(theta))
    r = np.sqrt((u / stretch) ** 2 + v**2) / radius
    r = r + 0.25 * fractal_field((h, w), rng, beta=3.2)
    weight = smoothstep((1.0 - r) / 0.35)
    speed *= 1.0 - weight
    speed += weight * np.float32(calm_ms)
    return {
        "centre_px": [round(centre[0] * WIND_CELL_PX, 1), round(centre[1] * WIND_CELL_PX, 1)],
        "radius_km": round(radius_km, 3),
        "calm_speed_ms": round(calm_ms, 3),
    }


def _lee_shadow(land_coarse: np.ndarray, direction_from_deg: float, cell_m: float, reach_km: float = 4.0) -> np.ndarray:
    """0-1 sheltering downwind of land, decaying exponentially over ``reach_km``."""
    dy, dx = blow_vector(direction_from_deg)
    steps = max(1, int(reach_km * 1000.0 / cell_m / 2.0))
    shadow = land_coarse.astype(np.float32).copy()
    shifted = shadow.copy()
    decay = np.float32(np.exp(-2.0 / steps))
    for k in range(1, steps + 1):
        oy, ox = int(round(2 * k * dy)), int(round(2 * k * dx))
        shifted = _shift(land_coarse, oy, ox) * np.float32(decay**k)
        np.maximum(shadow, shifted, out=shadow)
    return shadow


def _shift(array: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift by whole cells, filling with zeros (no wrap-around)."""
    out = np.zeros(array.shape, dtype=np.float32)
    h, w = array.shape
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src = array[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    out[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return out
