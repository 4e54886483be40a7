import numpy as np
import pytest

from engine.data.synth import SceneConfig
from engine.data.synth.geometry import draw_geometry
from engine.data.synth.land import draw_land
from engine.preprocess import from_linear


def _land(seed: int, **changes):
    config = SceneConfig(width_px=400, height_px=400, land_probability=1.0, **changes)
    geometry = draw_geometry(400, 10.0, None, "ascending", np.random.default_rng(seed))
    return draw_land(config, (400, 400), geometry, np.random.default_rng(seed))


@pytest.mark.parametrize("fraction", [0.1, 0.3])
def test_land_fraction_and_brightness(fraction):
    land = _land(1, land_fraction=(fraction, fraction), harbour_probability=0.0)
    assert land.mask.mean() == pytest.approx(fraction, abs=0.05)
    land_db = from_linear(land.sigma0[land.mask], "db")
    assert -14.0 < float(np.median(land_db)) < -3.0  # C-band VV land cover
    assert float(land_db.std()) > 1.0  # textured, not flat


def test_coastline_is_rough():
    land = _land(2, land_fraction=(0.3, 0.3), harbour_probability=0.0)
    coast = land.mask & ~np.roll(land.mask, 1, axis=1)
    # A straight coast across 400 px would have ~400 edge pixels; a fractal one has many more.
    assert coast.sum() > 500


def test_harbour_adds_breakwater_and_moored_ships():
    for seed in range(10):
        land = _land(seed, land_fraction=(0.2, 0.2), harbour_probability=1.0)
        if land.moorings:
            break
    assert "harbour" in land.summary and land.moorings
    for mooring in land.moorings:
        assert not land.mask[int(mooring.centre_yx[0]), int(mooring.centre_yx[1])]


def test_no_land_when_probability_zero():
    config = SceneConfig(width_px=64, height_px=64, land_probability=0.0)
    geometry = draw_geometry(64, 10.0, None, "ascending", np.random.default_rng(0))
    assert draw_land(config, (64, 64), geometry, np.random.default_rng(0)) is None
