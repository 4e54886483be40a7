import logging
import sys
import types

import numpy as np
import pytest
from affine import Affine

from engine.classes import BINARY_CLASSES
from engine.detectors import choose_method, select_detector
from engine.detectors.threshold import ThresholdConfig, ThresholdDetector, box_mean, valid_fraction, window_px
from engine.errors import DakdError, ModelError
from engine.io.scene import SceneInfo


def scene_info(pixel_m=10.0):
    return SceneInfo(
        path="x.tif",
        width=100,
        height=100,
        crs=None,
        transform=Affine.identity(),
        band=1,
        band_name=None,
        units="linear",
        units_reason="",
        nodata=None,
        pixel_size_m=(pixel_m, pixel_m),
        scene_id="x",
    )


def prepared(pixel_m=10.0, **config):
    detector = ThresholdDetector(ThresholdConfig(**config))
    detector.prepare(scene_info(pixel_m))
    return detector


def brute_box_mean(values, size):
    radius = size // 2
    padded = np.pad(values, ((0, 0), (radius, radius), (radius, radius)))
    out = np.zeros(values.shape)
    for y in range(values.shape[1]):
        for x in range(values.shape[2]):
            out[:, y, x] = padded[:, y : y + size, x : x + size].mean(axis=(1, 2))
    return out


def test_box_mean_and_valid_fraction_match_brute_force():
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 1, (2, 23, 31)).astype(np.float32)
    np.testing.assert_allclose(box_mean(values, 7), brute_box_mean(values, 7), rtol=1e-5)
    valid = np.ones((2, 23, 31), bool)
    valid[1, 5:9, 3:20] = False  # one tile with holes, one fully valid (the separable shortcut)
    np.testing.assert_allclose(valid_fraction(valid, 7), brute_box_mean(valid.astype(float), 7), rtol=1e-5)


def test_window_size_follows_snap():
    assert window_px(0.5, (10.0, 10.0)) == 51  # SNAP: 0.5 km * 1000 / 10 m = 50 px, made odd
    assert window_px(0.5, (10.0, 12.5)) == 51  # the smaller spacing decides
    assert window_px(4.5, (10.0, 10.0)) == 451
    assert window_px(0.01, (10.0, 10.0)) == 3


def test_prepare_sizes_context_and_tiles():
    small = prepared()
    assert small.background_px == 51 and small.context_px == 25 + 2
    assert small.input_spec.tile_size == 512 and small.input_spec.units == "linear"
    large = prepared(background_window_km=4.5)
    assert large.context_px == 225 + 2
    assert large.input_spec.tile_size == 1024  # keeps the needed overlap under half a tile
    assert (small.default_batch_size, large.default_batch_size) == (4, 1)  # 16 tiles of 256 px per batch at most


def test_a_window_too_large_for_any_tile_is_refused_with_the_range():
    assert prepared(background_window_km=10).input_spec.tile_size == 2048  # the largest: 1001 px at 10 m
    with pytest.raises(DakdError) as error:
        prepared(background_window_km=1000)  # asked for 524 288-pixel tiles: out of memory, exit 1
    assert str(error.value) == (
        "--background-window-km 1000 is 100001 px at this scene's 10 m pixels, more than the "
        "1001 px the threshold detector handles; use at most 10 km (SNAP's default is 0.5 km)"
    )
    with pytest.raises(DakdError, match="at this scene's 40 m pixels.* use at most 40 km"):
        prepared(pixel_m=40.0, background_window_km=41)


def brute_force_snap(values, valid, window, k_db):
    """SNAP's OilSpillDetectionOp rule, pixel by pixel: oil when v < mean_bg / 10^(k/10), nodata left out."""
    height, width = values.shape
    radius = window // 2
    oil = np.zeros_like(valid)
    for y in range(height):
        for x in range(width):
            if not valid[y, x]:
                continue
            ys, xs = slice(max(0, y - radius), y + radius + 1), slice(max(0, x - radius), x + radius + 1)
            mean = values[ys, xs][valid[ys, xs]].mean()
            oil[y, x] = values[y, x] < mean / 10 ** (k_db / 10)
    return oil


def test_hard_rule_equals_snap_without_speckle_filter():
    rng = np.random.default_rng(4)
    values = (0.05 * rng.gamma(4.4, 1 / 4.4, (40, 48))).astype(np.float32)
    values[10:20, 10:30] *= 0.2
    valid = np.ones_like(values, bool)
    valid[:, :3] = False
    valid[30, 30] = False
    detector = prepared(pixel_m=100.0, speckle_filter_px=1, bright_guard_db=0)  # 0.5 km at 100 m: a 5 px window
    probabilities = detector.predict(values[None, None], valid[None, None])[0]
    expected = brute_force_snap(values, valid, 5, 2.0)
    np.testing.assert_array_equal(probabilities[1] > 0.5, expected)
    assert expected.sum() > 100  # the dark patch and some speckle


def test_probability_mapping_is_logistic_in_db_beyond_k():
    detector = prepared(pixel_m=100.0, speckle_filter_px=1, softness_db=1.0)
    values = np.full((1, 1, 21, 21), 1.0, np.float32)
    values[0, 0, 10, 10] = 10 ** (-4.0 / 10)  # 4 dB darker than its surroundings (before the mean includes it)
    valid = np.ones_like(values, bool)
    probabilities = detector.predict(values, valid)
    delta = detector.contrast_db(values[:, 0], valid[:, 0])[0, 10, 10]
    assert probabilities[0, 1, 10, 10] == pytest.approx(1 / (1 + np.exp(-(delta - 2.0))), rel=1e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert probabilities.shape == (1, 2, 21, 21) and probabilities.dtype == np.float32


def test_speckle_filter_suppresses_false_alarms_on_plain_sea_and_keeps_a_slick():
    rng = np.random.default_rng(5)
    sea = (0.05 * rng.gamma(4.4, 1 / 4.4, (1, 1, 160, 160))).astype(np.float32)
    valid = np.ones_like(sea, bool)
    raw = prepared(speckle_filter_px=1).predict(sea, valid)[0, 1] > 0.5
    filtered = prepared().predict(sea, valid)[0, 1] > 0.5
    assert raw.mean() > 0.1  # SNAP's raw rule flags speckle everywhere
    assert filtered.mean() < 0.01
    slick = sea.copy()
    slick[0, 0, 60:100, 40:120] *= 0.15  # about -8 dB
    found = prepared().predict(slick, valid)[0, 1] > 0.5
    assert found[65:95, 45:115].mean() > 0.9


def test_bright_guard_removes_the_dark_ring_around_a_ship():
    rng = np.random.default_rng(6)
    sea = (0.05 * rng.gamma(4.4, 1 / 4.4, (1, 1, 120, 120))).astype(np.float32)
    sea[0, 0, 58:62, 58:62] = 0.05 * 300  # a ship, about 25 dB above the sea
    valid = np.ones_like(sea, bool)
    plain = prepared(bright_guard_db=0).predict(sea, valid)[0, 1] > 0.5
    guarded = prepared().predict(sea, valid)[0, 1] > 0.5
    assert plain[30:90, 30:90].sum() > 500  # SNAP's plain mean: a ring of false "oil" around the ship
    assert guarded.sum() < 20
    assert not guarded[58:62, 58:62].any()


def test_few_bright_pixels_are_taken_out_around_each_as_a_full_second_pass_would(monkeypatch):
    """The sparse second pass (a ship, speckle) and refiltering the whole tile give the same guarded background,
    also at tile edges, beside nodata, and where every valid pixel of a window is bright (no background: 0)."""
    import engine.detectors.threshold as threshold

    rng = np.random.default_rng(3)
    values = (0.04 * rng.gamma(4.4, 1 / 4.4, (4, 96, 96))).astype(np.float32)
    values[0, 40:43, 20:30] *= 80.0  # a ship
    values[1, :, :30] = 0.0  # a nodata border
    values[1, 0:2, 30:33] *= 60.0  # a bright target on the tile's edge, beside it
    values[2:] = 0.0
    values[2, 50, 50] = 1.0  # a lone valid pixel: never brighter than its own mean
    values[3, :, :15] = 0.04  # sea on the left; the rest nodata but for a bright pair at column 20, bright
    values[3, 40:42, 20] = 5.0  # against the sea in its windows, and the only valid pixels of windows further right
    valid = values > 0
    counts = (valid & (values > threshold.guarded_background_mean(values, valid, 15, 0.0) * 10**0.6)).sum((1, 2))
    assert counts[0] > 0 and counts.max() <= threshold.SPARSE_BRIGHT_PX  # the sparse path is the one tested
    sparse = threshold.guarded_background_mean(values, valid, 15, 6.0)
    monkeypatch.setattr(threshold, "SPARSE_BRIGHT_PX", -1)  # every tile filtered again
    full = threshold.guarded_background_mean(values, valid, 15, 6.0)
    np.testing.assert_allclose(sparse, full, rtol=1e-5, atol=1e-9)
    assert full[3, 41, 27] == 0 and full[3, 41, 21] > 0  # only bright pixels in the window: no background
    assert sparse[0, 41, 25] < 2 * np.median(values[0])  # the ship is out of its own background


def test_invalid_pixels_are_sea_and_do_not_darken_the_background():
    values = np.full((1, 1, 30, 30), 0.05, np.float32)
    valid = np.ones_like(values, bool)
    valid[0, 0, :, :10] = False  # nodata with value 0 next to the sea
    values[~valid] = 0
    probabilities = prepared(pixel_m=50.0).predict(values, valid)
    assert (probabilities[0, 0][~valid[0, 0]] == 1).all()
    assert (probabilities[0, 1][valid[0, 0]] < 0.5).all()  # homogeneous sea is not oil beside the border


def test_describe_and_config_checks():
    info = prepared().describe()
    assert info.name == "threshold" and info.device == "cpu"
    assert info.extra["background_window_px"] == 51 and info.extra["threshold_k_db"] == 2.0
    assert ThresholdDetector.classes == BINARY_CLASSES
    for wrong in (-1, 31, 1e300):  # 1e300 was accepted and found nothing
        with pytest.raises(DakdError, match="--threshold-k-db must be 0 to 30 dB"):
            ThresholdConfig(threshold_k_db=wrong)
    assert ThresholdConfig(threshold_k_db=30).threshold_k_db == 30
    with pytest.raises(DakdError, match="odd number"):
        ThresholdConfig(speckle_filter_px=4)
    with pytest.raises(DakdError, match="not prepared"):
        ThresholdDetector().predict(np.ones((1, 1, 4, 4), np.float32), np.ones((1, 1, 4, 4), bool))


def test_factory_chooses_and_explains(tmp_path, monkeypatch):
    monkeypatch.setattr("engine.detectors.DEFAULT_MODEL_CARD", tmp_path / "missing.json")
    detector, choice = select_detector("auto", None, "auto", background_window_km=1.0)
    assert isinstance(detector, ThresholdDetector) and detector.config.background_window_km == 1.0
    assert choice.method == "threshold" and "no bundled default model" in choice.reason
    assert isinstance(select_detector("threshold", threshold_k_db=3.0)[0], ThresholdDetector)
    with pytest.raises(DakdError, match="unknown --method 'magic'"):
        select_detector("magic")
    with pytest.raises(ModelError, match="--method model needs a model card"):
        select_detector("model")
    with pytest.raises(DakdError, match="has no option.*colour"):
        select_detector("threshold", colour="red")
    card = tmp_path / "default.json"
    card.write_text("{}")
    chosen = choose_method("auto", None, card)
    assert (chosen.method, chosen.model_path, chosen.from_default_card) == ("model", str(card), True)
    assert choose_method("auto", "my.json").reason == "model card my.json was given"


def test_auto_falls_back_to_threshold_when_the_default_model_cannot_load(tmp_path, monkeypatch, caplog):
    card = tmp_path / "default.json"
    card.write_text("{}")
    monkeypatch.setattr("engine.detectors.DEFAULT_MODEL_CARD", card)
    calls = []

    def refuse(model_path, device, **options):
        calls.append((model_path, device, options))
        raise ModelError("weights missing")

    with caplog.at_level(logging.WARNING, logger="dakd"):  # the real loaders, on whatever backend auto picks
        detector, choice = select_detector("auto", None, "cpu", threshold_k_db=2.5)
    assert isinstance(detector, ThresholdDetector) and detector.config.threshold_k_db == 2.5
    assert "default model could not be loaded" in choice.reason and "using the threshold detector" in caplog.text
    monkeypatch.setitem(sys.modules, "engine.detectors.model", types.SimpleNamespace(load_model_detector=refuse))
    with caplog.at_level(logging.WARNING, logger="dakd"):
        detector, choice = select_detector("auto", None, "cpu", threshold_k_db=2.5, tile_batch=3, backend="torch")
    # threshold options never reach the torch model loader; other options do (the backend is chosen before)
    assert calls == [(str(card), "cpu", {"tile_batch": 3})]
    assert isinstance(detector, ThresholdDetector) and detector.config.threshold_k_db == 2.5
    assert "default model could not be loaded (weights missing)" in choice.reason
    with pytest.raises(ModelError, match="not a DAKD model card"):  # refused before any backend is chosen
        select_detector("model", str(card), "cpu")
