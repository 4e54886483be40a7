"""Acceptance checks of issue 3 on simulated scenes (small scenes; each test runs in about a second)."""

import numpy as np
import pytest

from engine.classes import IGNORE_INDEX, LAND, LOOKALIKE, OIL, SEA, SHIP
from engine.data.synth import cmod5n_sigma0, simulate_scene
from engine.data.synth.geometry import ORBIT_HEADING_DEG
from engine.data.synth.lookalikes import MIN_LABEL_DB
from engine.data.synth.sensor import speckle
from engine.errors import Cancelled, InputError
from engine.preprocess import from_linear
from engine.progress import Progress

#: Look direction of an ascending pass (heading + 90): wind from there is upwind (phi = 0).
ASCENDING_LOOK_DEG = ORBIT_HEADING_DEG["ascending"] + 90.0


def column_mean_db(values: np.ndarray, incidence: np.ndarray, target_deg: float) -> float:
    """Mean (in linear power, then dB) over the columns within 0.05 deg of ``target_deg``."""
    columns = np.abs(incidence - target_deg) < 0.05
    assert columns.any()
    return float(from_linear(values[:, columns].mean(), "db"))


@pytest.mark.parametrize(
    ("speed_ms", "phi_deg", "incidence_deg", "expected_db"),
    [
        (8.0, 0.0, 30.0, -10.1),
        (8.0, 0.0, 45.0, -16.6),
        (8.0, 90.0, 35.0, -16.3),
        (5.0, 0.0, 35.0, -16.1),
        (3.0, 0.0, 35.0, -19.2),
    ],
)
def test_simulated_sea_mean_before_speckle_matches_cmod5n(
    speed_ms, phi_deg, incidence_deg, expected_db, plain_sea_config
):
    config = plain_sea_config(
        width_px=640,
        height_px=64,
        incidence_deg=(29.0, 47.0),
        orbit_direction="ascending",
        wind_speed_ms=(speed_ms, speed_ms),
        wind_direction_from_deg=(ASCENDING_LOOK_DEG + phi_deg,) * 2,
    )
    scene = simulate_scene(config, seed=1)
    incidence = scene.layers.incidence_deg
    clean_db = column_mean_db(scene.layers.clean_sigma0, incidence, incidence_deg)
    assert clean_db == pytest.approx(expected_db, abs=0.5)
    model_db = float(from_linear(cmod5n_sigma0(speed_ms, phi_deg, incidence_deg), "db"))
    assert clean_db == pytest.approx(model_db, abs=0.05)
    # After the thermal noise floor and speckle: unit-mean speckle keeps the mean of (sea + NESZ).
    with_noise = scene.layers.clean_sigma0 + 10 ** (scene.layers.nesz_db[None, :] / 10)
    assert float(from_linear(scene.sigma0.mean() / with_noise.mean(), "db")) == pytest.approx(0.0, abs=0.1)


def test_enl_on_homogeneous_sea(plain_sea_config):
    config = plain_sea_config(width_px=256, height_px=256, incidence_deg=(35.0, 35.0), wind_speed_ms=(8.0, 8.0))
    sea = simulate_scene(config, seed=2).sigma0
    enl = float(sea.mean() ** 2 / sea.var())
    assert enl == pytest.approx(4.4, abs=0.5)


def _contrast_db(scene, ring_mask) -> float:
    """Mean dB of the sea ring around the slick minus the mean dB inside the oil label."""
    oil = scene.labels == OIL.id
    ring = ring_mask(scene.layers.oil_coverage > 0.01, 3, 12) & (scene.labels == SEA.id)
    db = from_linear(scene.sigma0, "db")
    assert oil.sum() > 300 and ring.sum() > 300
    return float(db[ring].mean() - db[oil].mean())


def _spill_config(plain_sea_config, kind: str, **changes):
    values = {
        "width_px": 320,
        "height_px": 320,
        "wind_speed_ms": (12.0, 12.0),
        "orbit_direction": "ascending",
        "wind_direction_from_deg": (ASCENDING_LOOK_DEG,) * 2,
        "incidence_deg": (30.0, 32.0),
        "spills": (1, 1),
        "spill_kind_weights": {kind: 1.0},
        "damping_db": (3.0, 10.0),
        "ship_with_discharge_probability": 0.0,
    }
    values.update(changes)
    return plain_sea_config(**values)


@pytest.mark.parametrize("kind", ["discharge", "leak", "weathered"])
@pytest.mark.parametrize("seed", [10, 11])
def test_oil_contrast_is_the_configured_damping(kind, seed, plain_sea_config, ring_mask):
    # Thermal noise removed (NESZ -60 dB), as after SNAP's ThermalNoiseRemoval; speckle kept.
    scene = simulate_scene(_spill_config(plain_sea_config, kind, nesz_mean_db=(-60.0, -60.0)), seed)
    damping_db = scene.params["spills"][0]["damping_db"]
    assert 3.0 <= damping_db <= 10.0
    assert _contrast_db(scene, ring_mask) == pytest.approx(damping_db, abs=1.0)


def test_noise_floor_lowers_the_contrast_as_expected(plain_sea_config, ring_mask):
    scene = simulate_scene(
        _spill_config(
            plain_sea_config, "leak", damping_db=(9.0, 9.0), incidence_deg=(40.0, 42.0), wind_speed_ms=(6.0, 6.0)
        ),
        seed=3,
    )
    oil = scene.labels == OIL.id
    ring = ring_mask(scene.layers.oil_coverage > 0.01, 3, 12) & (scene.labels == SEA.id)
    power = scene.layers.clean_sigma0 + 10 ** (scene.layers.nesz_db[None, :] / 10)
    expected = float(from_linear(power, "db")[ring].mean() - from_linear(power, "db")[oil].mean())
    measured = _contrast_db(scene, ring_mask)
    assert measured == pytest.approx(expected, abs=0.5)
    assert measured < 9.0 - 1.0  # a dark sea near the noise floor hides part of the damping


def test_labels_match_the_rendered_classes(busy_scene, ring_mask):
    scene, layers = busy_scene, busy_scene.layers
    labels = scene.labels
    present = set(np.unique(labels).tolist())
    assert {SEA.id, OIL.id, LOOKALIKE.id, SHIP.id, LAND.id} <= present
    valid = scene.valid
    # Land is exactly the land mask (ships moored at quays may cover its edge).
    assert np.array_equal((labels == LAND.id), layers.land_mask & valid & (labels != SHIP.id))
    # Every oil pixel is covered by oil and damped in the noise-free image by at least 1 dB.
    oil = labels == OIL.id
    without_oil = layers.sea_sigma0 * 10 ** (-layers.lookalike_darkening_db / 10)
    assert np.all(layers.oil_coverage[oil] >= 0.5)
    assert np.all(from_linear(without_oil[oil], "db") - from_linear(layers.clean_sigma0[oil], "db") >= 1.0)
    # ... and darker than its surroundings in the final image.
    ring = ring_mask(oil, 2, 8) & (labels == SEA.id)
    assert from_linear(scene.sigma0, "db")[oil].mean() < from_linear(scene.sigma0, "db")[ring].mean() - 2.0
    # Oil-covered sea is labelled oil unless a ship or nodata is there (or the damping is invisible).
    covered = (layers.oil_coverage >= 0.5) & ~layers.land_mask & valid & (labels != SHIP.id)
    assert set(np.unique(labels[covered]).tolist()) <= {OIL.id, IGNORE_INDEX}
    assert np.mean(labels[covered] == OIL.id) > 0.98
    # Look-alikes are calm sea or darkened sea; sea pixels are neither.
    lookalike = labels == LOOKALIKE.id
    calm = layers.wind_speed_ms < scene.config.low_wind_threshold_ms
    assert np.all(calm[lookalike] | (layers.lookalike_darkening_db[lookalike] >= MIN_LABEL_DB))
    sea = labels == SEA.id
    assert not np.any(calm[sea])
    assert np.all(layers.oil_coverage[sea] < 0.5)
    # Ships stand out of the sea.
    ship = labels == SHIP.id
    assert np.all(layers.clean_sigma0[ship] >= layers.sea_sigma0[ship])
    # Nodata: zero image, ignore label.
    assert not valid.all() and np.all(scene.sigma0[~valid] == 0) and np.all(labels[~valid] == IGNORE_INDEX)
    assert np.all(scene.sigma0[valid] > 0)


def test_class_counts_in_params(busy_scene):
    counts = busy_scene.params["class_pixels"]
    assert sum(counts.values()) + busy_scene.params["ignore_pixels"] == busy_scene.labels.size
    assert counts["oil"] == int(np.sum(busy_scene.labels == OIL.id))


def test_fixed_seed_reproduces_the_scene_bit_for_bit(busy_scene, busy_config):
    again = simulate_scene(busy_config(), seed=5)
    assert again.sigma0.tobytes() == busy_scene.sigma0.tobytes()
    assert again.labels.tobytes() == busy_scene.labels.tobytes()
    assert again.params == busy_scene.params
    other = simulate_scene(busy_config(), seed=6)
    assert not np.array_equal(other.sigma0, busy_scene.sigma0)


def test_steps_draw_from_independent_streams(plain_sea_config):
    base = plain_sea_config(width_px=128, height_px=128, wind_variability=0.1, ships=(0, 0))
    one = simulate_scene(base, seed=9)
    more = simulate_scene(base.replace(spills=(3, 3), ships=(2, 2)), seed=9)
    assert np.array_equal(one.layers.wind_speed_ms, more.layers.wind_speed_ms)
    assert np.array_equal(one.layers.nesz_db, more.layers.nesz_db)
    untouched = (more.labels == SEA.id) & (more.layers.clean_sigma0 == one.layers.clean_sigma0)
    assert untouched.mean() > 0.5
    np.testing.assert_array_equal(one.sigma0[untouched], more.sigma0[untouched])


def test_speckle_can_be_switched_off(plain_sea_config):
    config = plain_sea_config(width_px=64, height_px=64, speckle_enl=0, incidence_deg=(35.0, 35.0))
    scene = simulate_scene(config, seed=0)
    expected = scene.layers.clean_sigma0 + 10 ** (scene.layers.nesz_db[None, :] / 10)
    np.testing.assert_allclose(scene.sigma0, expected, rtol=1e-6)
    assert speckle((8, 8), 4.4, 0.0, np.random.default_rng(0)).std() > 0


def test_progress_steps_and_cancellation(plain_sea_config):
    events = []
    simulate_scene(plain_sea_config(width_px=64, height_px=64), seed=0, progress=Progress(events.append))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "stage" and kinds[-1] == "stage_end" and kinds.count("progress") == 7
    with pytest.raises(Cancelled):
        simulate_scene(plain_sea_config(width_px=64, height_px=64), seed=0, progress=Progress(cancel=lambda: True))


@pytest.mark.parametrize("seed", [-1, 2**60, 1.5, "3"])
def test_bad_seed(seed, plain_sea_config):
    with pytest.raises(InputError, match="--seed"):
        simulate_scene(plain_sea_config(width_px=64, height_px=64), seed=seed)
