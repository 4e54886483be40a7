"""Look-alikes (OSD class 2): dark sea features that are not oil.

What CleanSeaNet analysts most often confuse with oil (Brekke & Solberg, RSE 95, 2005, table 1;
Alpers et al., "Oil spill detection by imaging radars: challenges and pitfalls", RSE 201, 2017):

- *biogenic films*: natural surfactants from plankton and fish, a monomolecular layer that damps
  Bragg waves by only 1-3 dB, drawn out by currents into thin filaments and eddies;
- *rain cells*: the rain damps the Bragg waves in the core (dark), while the downdraft's gust front
  roughens the sea at the rim (bright, strongest downwind);
- *internal-wave packets*: curved bands of alternating bright and dark where the internal wave's
  surface currents converge and diverge, the leading wave strongest;
- *low-wind areas*: handled by the wind field (see ``wind.py``) and labelled where the wind is
  below the threshold.

Each generator returns a :class:`LookAlike` with a darkening field in dB (positive darker, negative
brighter) and its label mask: the pixels darkened by at least half the feature's peak damping (and
1 dB), i.e. what an analyst would outline. Bright parts are never labelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.data.synth.noise import Patch, band_field, lookup, patch_around, patch_field, rotated_frame, smoothstep

#: Smallest darkening (dB) that is labelled (weaker features vanish in the speckle of 10 m pixels).
MIN_LABEL_DB = 1.0


@dataclass
class LookAlike:
    """One drawn look-alike: ``darkening_db`` over ``patch`` and the pixels labelled class 2."""

    kind: str
    patch: Patch
    darkening_db: np.ndarray
    label: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def label_dark(darkening_db: np.ndarray, peak_db: float) -> np.ndarray:
    """Pixels darkened by at least half of ``peak_db`` and at least :data:`MIN_LABEL_DB`."""
    return darkening_db >= max(MIN_LABEL_DB, 0.5 * peak_db)


def draw_biogenic(
    centre_yx: tuple[float, float],
    damping_db: float,
    radius_km: float,
    pixel_size_m: float,
    shape: tuple[int, int],
    rng: np.random.Generator,
) -> LookAlike | None:
    """Draw a natural film: streaky filaments of weak damping over a faint film, in a blotchy envelope."""
    radius = radius_km * 1000.0 / pixel_size_m
    window = patch_around(centre_yx, 1.6 * radius, 1.6 * radius, shape)
    if window is None:
        return None
    stretch_deg = float(rng.uniform(0.0, 180.0))
    wavelength = float(rng.uniform(800.0, 2500.0)) / pixel_size_m
    bands = band_field(window.shape, rng, wavelength, 0.6, elongation=6.0, angle_deg=stretch_deg)
    # Filaments follow the zero crossings of the streaky band-pass field; ~50-250 m wide.
    width = np.float32(rng.uniform(0.25, 0.5))
    filaments = np.float32(0.2) + np.float32(0.8) * np.exp(-((bands / width) ** 2))
    u, v = rotated_frame(window, centre_yx, stretch_deg)
    r = np.sqrt((u / np.float32(1.0)) ** 2 + (v / np.float32(rng.uniform(0.5, 1.0))) ** 2) / np.float32(radius)
    # Blotchy edge, tapered to zero well inside the window (no straight cut at the window border).
    taper = smoothstep((1.55 - np.hypot(u, v) / np.float32(radius)) / 0.3)
    r = r + np.float32(0.25) * patch_field(window.shape, rng, beta=3.0)
    envelope = smoothstep((1.0 - r) / 0.3) * taper
    darkening = (np.float32(damping_db) * filaments * envelope).astype(np.float32)
    info = {
        "centre_px": [round(centre_yx[0], 1), round(centre_yx[1], 1)],
        "damping_db": round(damping_db, 3),
        "radius_km": round(radius_km, 3),
        "filament_wavelength_m": round(wavelength * pixel_size_m, 1),
    }
    return LookAlike("biogenic", window, darkening, label_dark(darkening, damping_db), info)


def draw_rain_cell(
    centre_yx: tuple[float, float],
    radius_km: float,
    core_damping_db: float,
    rim_db: float,
    wind_to_deg: float,
    pixel_size_m: float,
    shape: tuple[int, int],
    rng: np.random.Generator,
) -> LookAlike | None:
    """Rain cell: dark damped core, bright gust-front rim that is strongest downwind."""
    radius = radius_km * 1000.0 / pixel_size_m
    window = patch_around(centre_yx, 1.4 * radius, 1.4 * radius, shape)
    if window is None:
        return None
    u, v = rotated_frame(window, centre_yx, wind_to_deg)
    r = np.hypot(u, v) / np.float32(radius) + np.float32(0.12) * patch_field(window.shape, rng, beta=3.2)
    core = np.float32(core_damping_db) * smoothstep((0.8 - r) / 0.45)
    downwind = np.float32(0.55) + np.float32(0.45) * u / np.maximum(np.hypot(u, v), np.float32(1.0))
    rim = np.float32(rim_db) * downwind * np.exp(-(((r - 1.0) / 0.15) ** 2))
    darkening = (core - rim).astype(np.float32)
    info = {
        "centre_px": [round(centre_yx[0], 1), round(centre_yx[1], 1)],
        "radius_km": round(radius_km, 3),
        "core_damping_db": round(core_damping_db, 3),
        "rim_brightening_db": round(rim_db, 3),
    }
    return LookAlike("rain_cell", window, darkening, label_dark(darkening, core_damping_db), info)


def draw_internal_waves(
    anchor_yx: tuple[float, float],
    amplitude_db: float,
    pixel_size_m: float,
    shape: tuple[int, int],
    rng: np.random.Generator,
) -> LookAlike | None:
    """Draw a packet of curved internal-wave bands, bright then dark, leading wave strongest.

    Each soliton's surface signature is modelled as the derivative of ``sech²`` across the crest
    (convergence then divergence of the surface current), as in Alpers (Nature 314, 1985).
    """
    propagation = float(rng.uniform(0.0, 360.0))
    crest_radius = float(rng.uniform(10_000.0, 40_000.0)) / pixel_size_m
    half_crest = float(rng.uniform(3_000.0, 12_000.0)) / pixel_size_m
    waves = int(rng.integers(3, 8))
    spacing = float(rng.uniform(300.0, 1200.0)) / pixel_size_m
    soliton_width = max(2.0, spacing * float(rng.uniform(0.12, 0.25)))
    packet_length = spacing * waves
    window = patch_around(anchor_yx, max(half_crest, packet_length) + 8, max(half_crest, packet_length) + 8, shape)
    if window is None:
        return None
    # Curvature centre lies behind the packet, so crests are arcs bulging forward.
    theta = np.deg2rad(propagation)
    centre = (anchor_yx[0] + np.cos(theta) * crest_radius, anchor_yx[1] - np.sin(theta) * crest_radius)
    distance = np.hypot(window.y - np.float32(centre[0]), window.x - np.float32(centre[1]))
    ahead = distance - np.float32(crest_radius)  # 0 on the leading crest, negative behind it
    along, across = rotated_frame(window, anchor_yx, propagation)
    crest_envelope = smoothstep((1.0 - np.abs(across) / np.float32(half_crest)) / 0.4)
    # The packet's cross-crest profile is tabulated on a 0.25 px grid and looked up (the window can
    # be the whole scene, where evaluating cosh per wave and pixel is slow).
    step = 0.25
    start = float(ahead.min())
    profile_ahead = np.arange(start, float(ahead.max()) + step, step)
    profile = np.zeros(profile_ahead.shape, dtype=np.float64)
    for k in range(waves):
        # Spacing shrinks toward the rear of the packet (rank-ordered solitons).
        position = -spacing * k * (1.0 - 0.04 * k)
        s = np.clip((profile_ahead - position) / soliton_width, -20.0, 20.0)
        # d/ds sech²(s) = -2 sech² tanh: negative (brightening) ahead of the crest, positive behind.
        profile += 0.8**k * (-2.0 * np.tanh(s) / np.cosh(s) ** 2)
    signature = lookup(ahead, start, step, profile.astype(np.float32))
    # max |d/ds sech²| = 0.77, so the leading wave's darkening peaks at amplitude_db.
    darkening = (np.float32(amplitude_db / 0.77) * signature * crest_envelope).astype(np.float32)
    info = {
        "anchor_px": [round(anchor_yx[0], 1), round(anchor_yx[1], 1)],
        "propagation_deg": round(propagation, 2),
        "waves": waves,
        "spacing_m": round(spacing * pixel_size_m, 1),
        "amplitude_db": round(amplitude_db, 3),
        "crest_length_km": round(2 * half_crest * pixel_size_m / 1000.0, 2),
    }
    return LookAlike("internal_wave", window, darkening, label_dark(darkening, amplitude_db), info)
