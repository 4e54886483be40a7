"""Configs and scenes shared by the simulator tests (small scenes, built once per session)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data.synth import SceneConfig, simulate_scene
from engine.data.synth.scene import SimulatedScene

#: Everything off except the sea: a homogeneous wind field and the sensor.
PLAIN_SEA = {
    "wind_variability": 0.0,
    "wind_direction_variability_deg": 0.0,
    "gust_strength": (0.0, 0.0),
    "streak_strength": (0.0, 0.0),
    "front_probability": 0.0,
    "low_wind_patches": (0, 0),
    "spills": (0, 0),
    "biogenic_films": (0, 0),
    "rain_cells": (0, 0),
    "internal_waves": (0, 0),
    "ships": (0, 0),
    "land_probability": 0.0,
    "nodata_probability": 0.0,
}


def plain_sea_config(**changes: object) -> SceneConfig:
    """A scene of clean sea; ``changes`` switch things back on."""
    return SceneConfig(**{**PLAIN_SEA, **changes})  # type: ignore[arg-type]


def busy_config(**changes: object) -> SceneConfig:
    """A 384² scene with every object kind present (coast, spills, look-alikes, ships)."""
    values = {
        "width_px": 384,
        "height_px": 384,
        "land_probability": 1.0,
        "land_fraction": (0.15, 0.2),
        "spills": (3, 3),
        "ships": (3, 3),
        "biogenic_films": (1, 1),
        "rain_cells": (1, 1),
        "internal_waves": (1, 1),
        "low_wind_patches": (1, 1),
        "nodata_probability": 1.0,
        "wind_speed_ms": (6.0, 8.0),
        "harbour_probability": 1.0,
    }
    values.update(changes)
    return SceneConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(name="plain_sea_config")
def plain_sea_config_fixture():
    """:func:`plain_sea_config`, for tests (conftest modules cannot be imported with importlib mode)."""
    return plain_sea_config


@pytest.fixture(name="busy_config")
def busy_config_fixture():
    """:func:`busy_config`."""
    return busy_config


@pytest.fixture(name="ring_mask")
def ring_mask_fixture():
    """:func:`ring_mask`."""
    return ring_mask


@pytest.fixture(scope="session")
def busy_scene() -> SimulatedScene:
    """One scene with all five classes, nodata and ignore pixels possible (seed 5)."""
    return simulate_scene(busy_config(), seed=5)


def ring_mask(mask: np.ndarray, inner_px: int, outer_px: int) -> np.ndarray:
    """Pixels between ``inner_px`` and ``outer_px`` (chessboard distance) outside ``mask``."""
    from scipy import ndimage

    outer = ndimage.binary_dilation(mask, iterations=outer_px)
    inner = ndimage.binary_dilation(mask, iterations=inner_px)
    return outer & ~inner
