"""Land (OSD class 4): a fractal coastline, textured bright land with relief, and harbours.

The coastline is a level set of a fractal field (spectral slope 3.4, fractal dimension ≈ 1.3, close
to measured rocky coastlines) added to a ramp, so land lies on one side of the scene with capes,
bays and islands; the threshold is the quantile that gives the drawn land fraction. Land backscatter
is what C-band VV typically shows over mixed land cover (about -12 to -5 dB): a fractal texture,
field-like parcels, relief that brightens slopes facing the radar, and a bright town behind the
harbour. A harbour is a breakwater (man-made, bright, labelled land) enclosing a basin, with moored
ships along it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from engine.data.synth.config import SceneConfig
from engine.data.synth.geometry import ViewingGeometry
from engine.data.synth.noise import block_mean, coarse_shape, fractal_field, patch_around, smoothstep, upsample
from engine.data.synth.ships import ShipSpec

#: Land-model grid cell in pixels.
LAND_CELL_PX = 4


@dataclass
class LandLayer:
    """Land over the scene.

    Attributes:
        mask: True on land (including breakwaters), full resolution.
        sigma0: land backscatter (linear, float32), valid where ``mask``.
        moorings: ships moored in the harbour (not moving, no wake).
        summary: drawn parameters for the JSON sidecar.
    """

    mask: np.ndarray
    sigma0: np.ndarray
    moorings: list[ShipSpec] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def draw_land(
    config: SceneConfig, shape: tuple[int, int], geometry: ViewingGeometry, rng: np.random.Generator
) -> LandLayer | None:
    """Draw a coast (or None, with probability ``1 - land_probability``)."""
    if rng.random() >= config.land_probability:
        return None
    fraction = float(rng.uniform(*config.land_fraction))
    if fraction <= 0.0:
        return None
    cshape = coarse_shape(shape, LAND_CELL_PX)

    # 1. Coastline: ramp toward the land side + fractal field, thresholded at the land-fraction quantile.
    land_azimuth = float(rng.uniform(0.0, 360.0))
    theta = np.deg2rad(land_azimuth)
    yy = np.arange(cshape[0], dtype=np.float32)[:, None] / max(cshape)
    xx = np.arange(cshape[1], dtype=np.float32)[None, :] / max(cshape)
    ramp = xx * np.float32(np.sin(theta)) - yy * np.float32(np.cos(theta))
    ramp = (ramp - ramp.mean()) / max(float(ramp.std()), 1e-6)
    roughness = float(rng.uniform(0.5, 1.2))
    height_field = ramp + roughness * fractal_field(cshape, rng, beta=3.4)
    threshold = float(np.quantile(height_field, 1.0 - fraction))

    fine = upsample(height_field, LAND_CELL_PX, shape)
    grad = np.hypot(*np.gradient(height_field))
    near_coast = np.abs(height_field - threshold) < 0.2
    step = float(np.median(grad[near_coast])) / LAND_CELL_PX if near_coast.any() else 0.0
    detail = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), 1.0)
    fine += detail * np.float32(3.0 * step / max(float(detail.std()), 1e-6))
    mask = fine > threshold

    # 2. Backscatter in dB: base level, texture, parcels, relief facing the radar.
    base_db = float(rng.uniform(-11.0, -6.0))
    texture = 1.8 * fractal_field(cshape, rng, beta=3.0)
    parcels = np.floor(2.5 * fractal_field(cshape, rng, beta=2.6, min_wavelength_px=6.0)) * 1.2
    inland = np.clip(height_field - threshold, 0.0, None)
    relief_m = 400.0 * float(rng.uniform(0.0, 1.0)) * inland * (1.0 + 0.5 * fractal_field(cshape, rng, beta=4.0))
    slope_range = np.gradient(relief_m, axis=1) / (LAND_CELL_PX * config.pixel_size_m)
    if not geometry.near_range_left:
        slope_range = -slope_range
    incidence = np.deg2rad(geometry.incidence_deg[::LAND_CELL_PX][None, : cshape[1]])
    local = incidence - np.arctan(slope_range)
    relief_db = 10.0 * np.log10(np.clip(np.cos(local), 0.05, None) / np.cos(incidence))
    land_db = (base_db + texture + parcels + np.clip(relief_db, -8.0, 8.0)).astype(np.float32)
    sigma0 = (10.0 ** (upsample(land_db, LAND_CELL_PX, shape) / 10.0)).astype(np.float32)

    summary: dict[str, Any] = {
        "land_fraction_target": round(fraction, 4),
        "land_side_azimuth_deg": round(land_azimuth, 2),
        "base_db": round(base_db, 2),
    }
    moorings: list[ShipSpec] = []
    if rng.random() < config.harbour_probability:
        harbour = _harbour(mask, sigma0, config, rng)
        if harbour is not None:
            summary["harbour"], moorings = harbour
    summary["land_fraction"] = round(float(mask.mean()), 4)
    return LandLayer(mask, sigma0, moorings, summary)


def _harbour(
    mask: np.ndarray, sigma0: np.ndarray, config: SceneConfig, rng: np.random.Generator
) -> tuple[dict[str, Any], list[ShipSpec]] | None:
    """Add an L-shaped breakwater, a bright town and moored ships at a random coast point (in place)."""
    pixel_size_m = config.pixel_size_m
    coarse = block_mean(mask, LAND_CELL_PX) > 0.5
    smooth = ndimage.gaussian_filter(coarse.astype(np.float32), 3.0)
    edge = coarse & ~ndimage.binary_erosion(coarse)
    h, w = coarse.shape
    margin = 4
    edge[:margin, :] = edge[-margin:, :] = False
    edge[:, :margin] = edge[:, -margin:] = False
    candidates = np.argwhere(edge)
    if len(candidates) == 0:
        return None
    cy, cx = candidates[rng.integers(len(candidates))]
    gy, gx = np.gradient(smooth)
    norm = float(np.hypot(gy[cy, cx], gx[cy, cx]))
    if norm < 1e-6:
        return None
    out_y, out_x = -gy[cy, cx] / norm, -gx[cy, cx] / norm  # seaward
    root = ((cy + 0.5) * LAND_CELL_PX, (cx + 0.5) * LAND_CELL_PX)
    arm_out_px = float(rng.uniform(300.0, 900.0)) / pixel_size_m
    arm_along_px = float(rng.uniform(300.0, 1000.0)) / pixel_size_m
    turn = 1.0 if rng.random() < 0.5 else -1.0
    along_y, along_x = -out_x * turn, out_y * turn
    corner = (root[0] + out_y * arm_out_px, root[1] + out_x * arm_out_px)
    tip = (corner[0] + along_y * arm_along_px, corner[1] + along_x * arm_along_px)
    width_px = float(rng.uniform(20.0, 40.0)) / pixel_size_m
    wall_db = float(rng.uniform(-3.0, 4.0))
    for start, end in ((root, corner), (corner, tip)):
        _draw_wall(mask, sigma0, start, end, width_px, wall_db, rng)

    # A bright town behind the harbour root: dense point scatterers (+5..+15 dB) on land.
    town_radius = float(rng.uniform(300.0, 1200.0)) / pixel_size_m
    town_centre = (root[0] - out_y * town_radius * 0.8, root[1] - out_x * town_radius * 0.8)
    patch = patch_around(town_centre, town_radius, town_radius, mask.shape)
    if patch is not None:
        r = np.hypot(patch.y - town_centre[0], patch.x - town_centre[1]) / town_radius
        density = 0.25 * smoothstep((1.0 - r) / 0.5)
        bright = (rng.random(patch.shape) < density) & mask[patch.rows, patch.cols]
        gain = 10.0 ** (rng.uniform(5.0, 15.0, patch.shape) / 10.0)
        sigma0[patch.rows, patch.cols] = np.where(
            bright, sigma0[patch.rows, patch.cols] * gain, sigma0[patch.rows, patch.cols]
        ).astype(np.float32)

    # Moored ships along the inner side of the outer arm.
    moorings = []
    heading = float(np.rad2deg(np.arctan2(along_x, -along_y)) % 360.0)
    for k in range(int(rng.integers(1, 4))):
        t = (k + 0.5) / 3.0
        offset = width_px + 3.0
        centre = (
            corner[0] + along_y * arm_along_px * t - out_y * offset,
            corner[1] + along_x * arm_along_px * t - out_x * offset,
        )
        inside = 0 <= centre[0] < mask.shape[0] and 0 <= centre[1] < mask.shape[1]
        if inside and not mask[int(centre[0]), int(centre[1])]:
            moorings.append(
                ShipSpec(
                    centre,
                    heading,
                    float(rng.uniform(40.0, 150.0)),
                    0.0,
                    float(rng.uniform(*config.ship_brightness_db)),
                    wake=False,
                    moored=True,
                )
            )
    info = {
        "root_px": [round(root[0], 1), round(root[1], 1)],
        "corner_px": [round(corner[0], 1), round(corner[1], 1)],
        "tip_px": [round(tip[0], 1), round(tip[1], 1)],
        "moored_ships": len(moorings),
    }
    return info, moorings


def _draw_wall(
    mask: np.ndarray,
    sigma0: np.ndarray,
    start: tuple[float, float],
    end: tuple[float, float],
    width_px: float,
    wall_db: float,
    rng: np.random.Generator,
) -> None:
    """Rasterise a thick bright segment (a breakwater) into the land mask and backscatter."""
    half = width_px / 2.0 + 1.0
    centre = ((start[0] + end[0]) / 2.0, (start[1] + end[1]) / 2.0)
    extent = np.hypot(end[0] - start[0], end[1] - start[1]) / 2.0 + half
    patch = patch_around(centre, extent, extent, mask.shape)
    if patch is None:
        return
    distance = _segment_distance(patch.y, patch.x, start, end)
    wall = distance <= width_px / 2.0
    level = 10.0 ** ((wall_db + rng.normal(0.0, 2.0, patch.shape)) / 10.0)
    mask[patch.rows, patch.cols] |= wall
    sigma0[patch.rows, patch.cols] = np.where(wall, level, sigma0[patch.rows, patch.cols]).astype(np.float32)


def _segment_distance(y: np.ndarray, x: np.ndarray, start: tuple[float, float], end: tuple[float, float]) -> np.ndarray:
    """Distance (px) from pixel centres to the segment start-end."""
    sy, sx = start
    dy, dx = end[0] - sy, end[1] - sx
    length2 = max(dy * dy + dx * dx, 1e-9)
    t = np.clip(((y - sy) * dy + (x - sx) * dx) / length2, 0.0, 1.0)
    return np.hypot(y - (sy + t * dy), x - (sx + t * dx))
