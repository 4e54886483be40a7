import numpy as np
import pytest

from engine.data.synth import SceneConfig
from engine.data.synth.wind import blow_vector, draw_wind


def test_blow_vector():
    dy, dx = blow_vector(270.0)  # wind from the west blows east
    assert dx == pytest.approx(1.0) and dy == pytest.approx(0.0, abs=1e-9)


def test_wind_field_limits_patches_and_lee_shadow():
    config = SceneConfig(
        wind_speed_ms=(8.0, 8.0), wind_direction_from_deg=(270.0, 270.0), low_wind_patches=(1, 1), front_probability=0.0
    )
    land = np.zeros((100, 100), np.float32)
    land[:, :20] = 1.0  # land on the west; wind from the west
    wind = draw_wind(config, (100, 100), 40.0, np.random.default_rng(0), land)
    speed = wind.speed_ms
    assert speed.min() >= config.wind_limits_ms[0] and speed.max() <= config.wind_limits_ms[1]
    assert wind.summary["low_wind_patches"][0]["calm_speed_ms"] < 3.0
    # Sheltered sea just downwind of the coast is calmer than far offshore.
    assert speed[:, 21:25].mean() < 0.7 * speed[:, 90:].mean()
    assert wind.direction_from_deg.mean() == pytest.approx(270.0, abs=5.0)
