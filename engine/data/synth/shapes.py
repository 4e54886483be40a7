"""Oil-slick shapes (OSD class 1): ship discharges, platform/pipeline leaks, weathered fragments.

Each generator returns a :class:`Slick`: a soft oil-coverage field over a window of the scene plus a
relative thickness field. The renderer turns them into damping ``damping_db * thickness * coverage``
(in dB) of the sea backscatter; oil damps the short Bragg waves that C band sees, by 3-10 dB for
mineral oil (e.g. Alpers & Hühnerfuss, JGR 94(C5), 1989; Brekke & Solberg, RSE 95, 2005).

Shapes follow what CleanSeaNet analysts describe (Brekke & Solberg 2005, section 3):

- *discharge*: a long, narrow slick behind a ship, straight or gently curved, widening and breaking
  up toward the older tail; the ship may still be at the head.
- *leak*: a blob around a fixed source (platform, pipeline, seep) drifting with wind and current,
  widening downstream, with a rough fractal edge.
- *weathered*: an older slick broken into windrows parallel to the wind by Langmuir circulation,
  then into fragments.

Coordinates are scene pixels; lengths are converted from metres with ``pixel_size_m``. Edges are
soft over about one pixel, so the label is ``coverage >= 0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.data.synth.noise import Patch, patch_around, patch_field, rotated_frame, smoothstep, track_noise

#: Width (px) of the soft edge ramp.
EDGE_PX = 1.0
#: Coverage from which a pixel is labelled oil.
LABEL_COVERAGE = 0.5
#: Narrowest slick we draw (px); thinner ones would be only soft edge.
MIN_WIDTH_PX = 4.0


@dataclass
class Slick:
    """One drawn oil slick.

    Attributes:
        kind: ``discharge``, ``leak`` or ``weathered``.
        patch: where in the scene the fields lie.
        coverage: 0-1 oil coverage (soft edges), float32 ``patch.shape``.
        thickness: relative damping; scaled so that the mean damping over the labelled pixels is
            exactly ``damping_db`` before other objects and land are drawn.
        damping_db: the drawn damping of this slick.
        info: parameters for the JSON sidecar.
    """

    kind: str
    patch: Patch
    coverage: np.ndarray
    thickness: np.ndarray
    damping_db: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def damping_field_db(self) -> np.ndarray:
        """Damping (dB, positive = darker) over the patch."""
        return (np.float32(self.damping_db) * self.thickness * self.coverage).astype(np.float32)


def soft_edge(signed_distance_px: np.ndarray) -> np.ndarray:
    """Coverage from a signed distance to the edge (positive inside): 0.5 on the edge."""
    return np.clip(signed_distance_px / np.float32(EDGE_PX) + np.float32(0.5), 0.0, 1.0).astype(np.float32)


def draw_discharge(
    head_yx: tuple[float, float],
    heading_deg: float,
    drift_azimuth_deg: float,
    area_km2: float,
    damping_db: float,
    pixel_size_m: float,
    shape: tuple[int, int],
    rng: np.random.Generator,
    aspect_range: tuple[float, float] = (25.0, 150.0),
) -> Slick | None:
    """Draw a ship discharge: narrow at the ship (head), widening and breaking up along a curved tail.

    Args:
        head_yx: where the ship was when it stopped discharging (row, col).
        heading_deg: the ship's course; the tail lies behind it.
        drift_azimuth_deg: where wind and current push the oil; the tail bends that way.
        area_km2: target area (the drawn area is reported in ``info``).
        damping_db: mean damping inside the slick.
        pixel_size_m: ground pixel size.
        shape: scene shape (the window is clipped to it).
        rng: the oil stream.
        aspect_range: range of length / mean width (``SceneConfig.discharge_aspect``).
    """
    area_px = area_km2 * 1e6 / pixel_size_m**2
    aspect = float(rng.uniform(*aspect_range))
    mean_width = max(MIN_WIDTH_PX, np.sqrt(area_px / aspect))
    length = area_px / mean_width
    head_width = max(MIN_WIDTH_PX, mean_width * float(rng.uniform(0.3, 0.7)))
    tail_width = max(head_width, 2.0 * mean_width - head_width)
    tail_azimuth = heading_deg + 180.0
    # Lateral bend toward the drift: sin of the angle between the tail and the drift.
    side = np.sin(np.deg2rad(drift_azimuth_deg - tail_azimuth))
    bend = float(side * rng.uniform(0.05, 0.25) + rng.normal(0.0, 0.03))

    half_extent = length + tail_width
    window = patch_around(head_yx, half_extent, half_extent, shape)
    if window is None:
        return None
    window = _trim_to_curve(window, head_yx, tail_azimuth, length, bend, tail_width, shape)
    if window is None:
        return None
    u, v = rotated_frame(window, head_yx, tail_azimuth)
    t = np.clip(u / np.float32(length), 0.0, 1.0)
    # Along-track irregularity: width pulses and a wandering centre line, on scales of a few widths.
    samples = max(8, int(length / max(head_width, 1.0)) + 1)
    pulses = track_noise(t, samples, rng)
    wander = track_noise(t, samples, rng)
    half_width = np.float32(head_width / 2.0) + np.float32((tail_width - head_width) / 2.0) * t**0.7
    half_width = half_width * np.clip(np.float32(1.0) + np.float32(0.35) * pulses, 0.3, None)
    centreline = np.float32(bend * length) * t * t + np.float32(0.4 * mean_width) * wander * t
    edge_noise = patch_field(window.shape, rng, beta=2.6)
    # Rougher toward the tail.
    signed = half_width - np.abs(v - centreline) + edge_noise * half_width * (0.1 + 0.3 * t)
    signed = np.minimum(signed, u + np.float32(head_width / 2.0))
    signed = np.minimum(signed, (np.float32(length) - u) * np.float32(0.5))
    # The older half breaks up into patches.
    breakup = patch_field(window.shape, rng, beta=2.0)
    threshold = np.float32(-2.5) + np.float32(2.8) * smoothstep((t - 0.45) / 0.55)
    coverage = soft_edge(signed) * np.clip((breakup - threshold) / np.float32(0.3) + np.float32(0.5), 0.0, 1.0)
    thickness = np.float32(1.3) - np.float32(0.6) * t + np.float32(0.12) * patch_field(window.shape, rng, beta=3.0)
    info = {
        "length_m": round(length * pixel_size_m, 1),
        "head_width_m": round(head_width * pixel_size_m, 1),
        "tail_width_m": round(tail_width * pixel_size_m, 1),
        "heading_deg": round(heading_deg % 360.0, 2),
        "bend": round(bend, 4),
        "head_px": [round(head_yx[0], 1), round(head_yx[1], 1)],
    }
    return _finish("discharge", window, coverage, thickness, damping_db, info)


def draw_leak(
    source_yx: tuple[float, float],
    drift_azimuth_deg: float,
    area_km2: float,
    damping_db: float,
    pixel_size_m: float,
    shape: tuple[int, int],
    rng: np.random.Generator,
) -> Slick | None:
    """Draw a leak from a fixed source: a fractal-edged plume drifting and spreading downstream."""
    area_px = area_km2 * 1e6 / pixel_size_m**2
    aspect = float(rng.uniform(2.0, 8.0))
    mean_width = max(2.0 * MIN_WIDTH_PX, np.sqrt(area_px / aspect))
    length = area_px / mean_width
    source_radius = max(MIN_WIDTH_PX, mean_width * float(rng.uniform(0.15, 0.35)))
    far_half_width = max(source_radius, mean_width * 0.8)
    bend = float(rng.normal(0.0, 0.15))
    extent = length + far_half_width + source_radius
    window = patch_around(source_yx, extent, extent, shape)
    if window is None:
        return None
    window = _trim_to_curve(window, source_yx, drift_azimuth_deg, length, bend, 2.0 * far_half_width, shape)
    if window is None:
        return None
    u, v = rotated_frame(window, source_yx, drift_azimuth_deg)
    t = np.clip(u / np.float32(length), 0.0, 1.0)
    centreline = np.float32(bend * length) * t * t
    half_width = np.float32(source_radius) + np.float32(far_half_width - source_radius) * t**0.6
    edge_noise = patch_field(window.shape, rng, beta=2.8)
    signed = half_width - np.abs(v - centreline) + edge_noise * half_width * np.float32(0.35)
    signed = np.minimum(signed, u + np.float32(source_radius))
    signed = np.minimum(signed, (np.float32(length) - u) * np.float32(0.6) + np.float32(0.3) * edge_noise * half_width)
    coverage = soft_edge(signed)
    thickness = np.float32(1.35) - np.float32(0.7) * t + np.float32(0.15) * patch_field(window.shape, rng, beta=3.0)
    info = {
        "length_m": round(length * pixel_size_m, 1),
        "source_px": [round(source_yx[0], 1), round(source_yx[1], 1)],
        "drift_azimuth_deg": round(drift_azimuth_deg % 360.0, 2),
        "bend": round(bend, 4),
    }
    return _finish("leak", window, coverage, thickness, damping_db, info)


def draw_weathered(
    centre_yx: tuple[float, float],
    wind_from_deg: float,
    drift_azimuth_deg: float,
    area_km2: float,
    damping_db: float,
    pixel_size_m: float,
    shape: tuple[int, int],
    rng: np.random.Generator,
) -> Slick | None:
    """Draw a weathered slick: an envelope broken into windrows along the wind, then into fragments."""
    area_px = area_km2 * 1e6 / pixel_size_m**2
    cover_share = 0.4
    aspect = float(rng.uniform(1.5, 5.0))
    envelope_area = area_px / cover_share
    semi_minor = max(3.0 * MIN_WIDTH_PX, np.sqrt(envelope_area / (np.pi * aspect)))
    semi_major = semi_minor * aspect
    window = patch_around(centre_yx, semi_major * 1.6, semi_major * 1.6, shape)
    if window is None:
        return None
    u, v = rotated_frame(window, centre_yx, drift_azimuth_deg)
    radius = np.sqrt((u / np.float32(semi_major)) ** 2 + (v / np.float32(semi_minor)) ** 2)
    # Blotchy edge, kept inside the window (no straight cut at its border).
    radius = np.maximum(
        radius + np.float32(0.3) * patch_field(window.shape, rng, beta=3.0),
        np.hypot(u, v) / np.float32(1.5 * semi_major),
    )
    envelope = soft_edge((np.float32(1.0) - radius) * np.float32(semi_minor))

    # Windrows: stripes whose crests run along the wind, spacing 50-300 m, wavy and broken.
    spacing = float(np.clip(rng.uniform(50.0, 300.0) / pixel_size_m, 5.0, max(5.0, semi_minor / 2.0)))
    _, across_wind = rotated_frame(window, centre_yx, wind_from_deg)
    phase = 2.0 * np.pi * across_wind / np.float32(spacing) + np.float32(2.0) * patch_field(window.shape, rng, beta=3.2)
    rows = np.float32(0.6) * np.cos(phase) + np.float32(0.6) * patch_field(window.shape, rng, beta=2.6)
    # Threshold so that about cover_share of the envelope is oil; stripes are ~1 px soft.
    inside = envelope > 0.5
    level = float(np.quantile(rows[inside], 1.0 - cover_share)) if inside.any() else 0.0
    fragments = np.clip((rows - np.float32(level)) / np.float32(0.12) + np.float32(0.5), 0.0, 1.0)
    coverage = (envelope * fragments).astype(np.float32)
    thickness = np.float32(1.0) + np.float32(0.15) * patch_field(window.shape, rng, beta=3.0)
    info = {
        "semi_major_m": round(semi_major * pixel_size_m, 1),
        "semi_minor_m": round(semi_minor * pixel_size_m, 1),
        "windrow_spacing_m": round(spacing * pixel_size_m, 1),
        "centre_px": [round(centre_yx[0], 1), round(centre_yx[1], 1)],
    }
    return _finish("weathered", window, coverage, thickness, damping_db, info)


def _trim_to_curve(
    window: Patch,
    origin_yx: tuple[float, float],
    azimuth_deg: float,
    length: float,
    bend: float,
    width: float,
    shape: tuple[int, int],
) -> Patch | None:
    """Shrink a square window to the bounding box of a bent centreline (saves work on long slicks)."""
    t = np.linspace(0.0, 1.0, 17)
    theta = np.deg2rad(azimuth_deg)
    u = t * length
    v = bend * length * t * t
    ys = origin_yx[0] - u * np.cos(theta) + v * np.sin(theta)
    xs = origin_yx[1] + u * np.sin(theta) + v * np.cos(theta)
    margin = width + 4.0
    r0 = max(window.rows.start, int(np.floor(ys.min() - margin)), 0)
    r1 = min(window.rows.stop, int(np.ceil(ys.max() + margin)) + 1, shape[0])
    c0 = max(window.cols.start, int(np.floor(xs.min() - margin)), 0)
    c1 = min(window.cols.stop, int(np.ceil(xs.max() + margin)) + 1, shape[1])
    if r1 <= r0 or c1 <= c0:
        return None
    return Patch(slice(r0, r1), slice(c0, c1))


def _finish(
    kind: str, window: Patch, coverage: np.ndarray, thickness: np.ndarray, damping_db: float, info: dict[str, Any]
) -> Slick | None:
    """Normalise the thickness so the labelled pixels' mean damping equals ``damping_db``."""
    thickness = np.clip(thickness, 0.4, 1.8).astype(np.float32)
    labelled = coverage >= LABEL_COVERAGE
    if not labelled.any():
        return None
    thickness /= np.float32((thickness * coverage)[labelled].mean())
    info = dict(info, damping_db=round(damping_db, 3))
    return Slick(kind, window, coverage, thickness.astype(np.float32), damping_db, info)
