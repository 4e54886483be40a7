"""Wind around a slick: the CMOD5.N inversion, the flags, and the estimator on a real raster."""

import numpy as np
import pytest

from engine.data.synth.cmod5n import cmod5n_sigma0
from engine.io import open_scene
from engine.io.raster import write_raster
from engine.wind import (
    ASSUMED_INCIDENCE_DEG,
    LOW_WIND_FLAG,
    MAX_SPEED_MS,
    MIN_SPEED_MS,
    STRONG_WIND_FLAG,
    check_wind_dir,
    invert_cmod5n,
    speed_range,
    wind_estimator,
    wind_flag,
)

UTM = ("EPSG:32633", (10, 0, 500000, 0, -10, 6000000))


def test_inversion_round_trip_within_0_2_ms_over_3_to_20_ms_and_20_to_46_deg():
    speeds, incidences, directions = np.meshgrid(
        np.arange(3.0, 20.01, 0.25), np.arange(20.0, 46.01, 1.0), np.arange(0.0, 360.0, 22.5), indexing="ij"
    )
    sigma0 = cmod5n_sigma0(speeds, directions, incidences)
    recovered = invert_cmod5n(sigma0, incidences, directions)
    assert np.abs(recovered - speeds).max() < 0.2
    assert np.abs(recovered - speeds).max() < 1e-3  # bisection is exact to the forward model


def test_inversion_clamps_beyond_the_model_range():
    low = cmod5n_sigma0(MIN_SPEED_MS, 0.0, 35.0) / 10.0
    high = cmod5n_sigma0(MAX_SPEED_MS, 90.0, 35.0) * 10.0
    np.testing.assert_allclose(invert_cmod5n([low, high], 35.0, [0.0, 90.0]), [MIN_SPEED_MS, MAX_SPEED_MS], atol=1e-6)


def test_speed_range_spans_every_direction_upwind_lowest():
    sigma0 = float(cmod5n_sigma0(7.0, 60.0, 38.0))
    low, high = speed_range(sigma0, 38.0)
    assert low < 7.0 < high
    assert low == pytest.approx(float(invert_cmod5n(sigma0, 38.0, 0.0)), abs=1e-6)  # upwind: brightest sea
    assert high - low > 1.0  # why the direction matters


@pytest.mark.parametrize(
    ("low", "high", "flag"),
    [
        (1.0, 2.5, LOW_WIND_FLAG),
        (2.0, 4.0, None),
        (5.0, 8.0, None),
        (9.0, 12.0, None),
        (10.5, 14.0, STRONG_WIND_FLAG),
        (None, None, None),
    ],
)
def test_flag_only_when_the_whole_estimate_is_beyond_a_limit(low, high, flag):
    assert wind_flag(low, high) == flag


@pytest.mark.parametrize("value", [-1.0, 361.0, float("nan"), float("inf")])
def test_bad_wind_direction_is_named(value):
    assert "--wind-dir must be" in check_wind_dir(value)


def test_plain_raster_assumes_the_incidence_and_gives_the_range(tmp_path):
    sigma0 = float(cmod5n_sigma0(6.0, 45.0, ASSUMED_INCIDENCE_DEG))
    path = write_raster(tmp_path / "sea.tif", np.full((16, 16), sigma0, np.float32), *UTM)
    scene = open_scene(str(path))
    try:
        estimator = wind_estimator(scene, wind_dir_deg=None)
        given = wind_estimator(scene, wind_dir_deg=270.0)
    finally:
        scene.close()
    wind = estimator.attributes(sigma0, 8.0, 8.0)
    assert wind["incidence_deg"] == ASSUMED_INCIDENCE_DEG and wind["wind_speed_ms"] is None
    assert wind["wind_speed_min_ms"] < 6.0 < wind["wind_speed_max_ms"] and wind["wind_flag"] is None
    assert "assumed 38" in estimator.reason
    # A plain raster has no look direction, so a known wind direction cannot be used: still the range, and said.
    assert given.attributes(sigma0, 8.0, 8.0) == wind and "not usable" in given.reason
    assert estimator.attributes(None, 8.0, 8.0)["wind_speed_min_ms"] is None


def test_uncalibrated_input_gives_no_wind(tmp_path):
    path = write_raster(tmp_path / "dn.tif", np.full((16, 16), 300, np.uint16), *UTM)
    scene = open_scene(str(path), units="amplitude")
    try:
        estimator = wind_estimator(scene, None)
    finally:
        scene.close()
    assert set(estimator.attributes(0.05, 1.0, 1.0).values()) == {None}
    assert "uncalibrated" in estimator.reason


def cmod_sea(tmp_path, speed_ms, name):
    """A speckled CMOD5.N sea at the assumed incidence (wind 45° off the look) with a dark slick 2 km long."""
    rng = np.random.default_rng(1)
    height, width = 400, 500
    values = float(cmod5n_sigma0(speed_ms, 45.0, ASSUMED_INCIDENCE_DEG)) * rng.gamma(4.4, 1 / 4.4, (height, width))
    rows, cols = np.mgrid[:height, :width]
    values[((cols - width / 2) / 100) ** 2 + ((rows - height / 2) / 15) ** 2 < 1] *= 0.12
    return str(write_raster(tmp_path / f"{name}.tif", values.astype(np.float32), *UTM))


@pytest.mark.parametrize(
    ("speed_ms", "flag", "expected_confidence"),
    [(7.0, None, "A"), (1.5, LOW_WIND_FLAG, "B"), (16.0, STRONG_WIND_FLAG, "B")],
)
def test_a_detected_slick_carries_the_wind_around_it_and_its_flag_decides_a_or_b(
    tmp_path, speed_ms, flag, expected_confidence
):
    import fiona

    from engine.detect import DetectParams, run_detection

    result = run_detection(DetectParams(cmod_sea(tmp_path, speed_ms, "sea"), str(tmp_path / "out"), method="threshold"))
    with fiona.open(result.spills_path) as layer:
        (oil,) = [f.properties for f in layer if f.properties["class"] == "oil"]
    assert oil["wind_speed_ms"] is None and oil["incidence_deg"] == ASSUMED_INCIDENCE_DEG
    assert oil["wind_speed_min_ms"] - 0.3 < speed_ms < oil["wind_speed_max_ms"] + 0.3  # speckle: a few % of σ0
    assert oil["wind_flag"] == flag and oil["confidence"] == expected_confidence
    assert oil["contrast_db"] < -6 and oil["mean_prob"] > 0.8  # only the wind keeps the flagged ones at B
    assert "assumed 38 deg" in result.summary["wind"]["method"]


def test_an_uncalibrated_scene_leaves_the_wind_empty_without_averaging_its_background(tmp_path, monkeypatch):
    import fiona

    import engine.vectorize
    from engine.detect import DetectParams, run_detection

    averaged = []
    real_mean = engine.vectorize.guarded_background_mean
    monkeypatch.setattr(
        engine.vectorize, "guarded_background_mean", lambda *args, **kw: averaged.append(1) or real_mean(*args, **kw)
    )
    sea = cmod_sea(tmp_path, 7.0, "sea")
    params = DetectParams(sea, str(tmp_path / "out"), method="threshold", units="intensity")
    result = run_detection(params)
    with fiona.open(result.spills_path) as layer:
        (oil,) = [f.properties for f in layer if f.properties["class"] == "oil"]
    assert oil["wind_speed_min_ms"] is None and oil["wind_flag"] is None and oil["contrast_db"] < -6
    assert averaged == []  # a DN background gives no wind: it was once averaged over every slick's ring, then dropped
    calibrated = run_detection(DetectParams(sea, str(tmp_path / "calibrated"), method="threshold"))
    assert averaged and calibrated.summary["wind"]["method"].startswith("CMOD5.N")
