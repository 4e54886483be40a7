import logging

import numpy as np
import pytest
import torch
from affine import Affine

from engine.classes import BINARY_CLASSES, OSD_CLASSES
from engine.detectors import select_detector, with_ships
from engine.detectors.base import DetectorInfo, InputSpec
from engine.detectors.cfar import (
    CfarConfig,
    CfarWindows,
    ShipsDetector,
    cfar_statistic,
    discriminate,
    merge_ships,
    ship_confidence,
    shore_zone,
)
from engine.detectors.model import ModelDetector
from engine.errors import DakdError
from engine.io.scene import SceneInfo
from engine.modelcard import new_model_card, save_model_card
from engine.models import create_model
from engine.preprocess import normalise_sigma0

SEA, OIL, LOOKALIKE, SHIP, LAND = range(5)


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


def speckled_sea(shape, level=0.01, seed=0):
    """4.4-look gamma speckle around ``level`` (linear σ0), like a Sentinel-1 GRD sea."""
    return (level * np.random.default_rng(seed).gamma(4.4, 1 / 4.4, shape)).astype(np.float32)


def test_t_is_snaps_gaussian_quantile():
    # SNAP: t = sqrt(2) * inverf(1 - 2 * 10^-pfa); pfa 6.5 -> 4.98, pfa 3 -> the 0.999 quantile 3.09
    assert CfarConfig().t == pytest.approx(4.9810, abs=1e-4)
    assert CfarConfig(pfa=3).t == pytest.approx(3.0902, abs=1e-4)


def test_windows_follow_snaps_rule_made_odd():
    assert CfarWindows.for_scene(CfarConfig(), (10.0, 10.0)) == CfarWindows(3, 51, 81, (10.0, 10.0))
    assert CfarWindows.for_scene(CfarConfig(), (10.0, 10.0)).context_px == 40
    assert CfarWindows.for_scene(CfarConfig(), (20.0, 25.0)) == CfarWindows(3, 25, 41, (20.0, 25.0))
    with pytest.raises(DakdError, match="leave no guard or background ring"):
        CfarWindows.for_scene(CfarConfig(guard_window_m=40, background_window_m=50), (20.0, 20.0))
    with pytest.raises(DakdError, match="target < guard < background"):
        CfarConfig(guard_window_m=900)
    with pytest.raises(DakdError, match="pfa"):
        CfarConfig(pfa=0)
    with pytest.raises(DakdError, match="land_probability"):
        CfarConfig(land_probability=0)


def test_ring_statistics_leave_out_the_guard_window():
    # 1 m pixels: target 3, guard 11, background 21 px around the centre (50, 50).
    windows = CfarWindows.for_scene(
        CfarConfig(target_window_m=3, guard_window_m=11, background_window_m=21), (1.0, 1.0)
    )
    assert (windows.target_px, windows.guard_px, windows.background_px) == (3, 11, 21)
    values = np.full((101, 101), 5.0)
    rows = np.arange(101)[:, None] * np.ones(101)
    box = (slice(40, 61), slice(40, 61))
    values[box] = np.where(rows[box] < 50, 1.0, np.where(rows[box] > 50, 3.0, 2.0))
    values[45:56, 45:56] = 1000.0  # the guard window: must not count
    values[49:52, 49:52] = 10.0  # the target window
    # Ring: 320 px; 155 above the centre row at 1, 155 below at 3, 10 on it at 2: mean 2, variance 310 / 320.
    z = cfar_statistic(values[None].astype(np.float32), np.ones((1, 101, 101), bool), windows)
    assert z[0, 50, 50] == pytest.approx((10.0 - 2.0) / np.sqrt(310 / 320), rel=1e-5)


def test_unusable_pixels_are_left_out_of_target_and_ring():
    windows = CfarWindows(3, 11, 21, (1.0, 1.0))
    values = np.full((1, 61, 61), 1.0, np.float32)
    values[0, 1::2] = 3.0  # rows alternate 1 and 3: any ring has mean near 2
    usable = np.ones_like(values, bool)
    usable[0, :, 40:] = False  # "land"
    values[0, :, 40:] = 1e6  # very bright, but left out
    z = cfar_statistic(values, usable, windows)
    assert np.isnan(z[0, :, 40:]).all()
    assert np.nanmax(np.abs(z)) < 3  # nothing near the land edge looks bright
    assert np.isfinite(z[0, 30, 35])


def test_cfar_finds_the_ship_and_not_the_sea_and_leaves_out_land():
    values = speckled_sea((1, 256, 256))
    values[0, 127:130, 99:102] = 1.0  # a 3 x 3 ship 20 dB above the sea
    values[0, :, 200:] = speckled_sea((256, 56), level=0.1, seed=1)  # land 10 dB above the sea...
    values[0, 60:62, 210:212] = 10.0  # ...with a building 30 dB above the sea
    windows = CfarWindows.for_scene(CfarConfig(), (10.0, 10.0))
    usable = np.ones_like(values, bool)
    ship, building = (slice(120, 137), slice(92, 109)), (slice(55, 67), slice(205, 217))

    # The coast itself is no target (it sits in its own ring), but the building on land is.
    found = ship_confidence(values, usable, windows, CfarConfig())[0] > 0.5
    assert found[ship].sum() + found[building].sum() == found.sum()
    assert found[128, 100] and found[60, 210] and found[ship].sum() == 25  # the ship bloomed by the 3 x 3 mean

    # With land left out (the network's land class or --land-mask), only the ship is left.
    usable[0, :, 200:] = False
    confidence = ship_confidence(values, usable, windows, CfarConfig())[0]
    assert (confidence > 0.5).sum() == found[ship].sum() and confidence[:, 190:].max() == 0
    assert confidence[128, 100] > 0.99


def test_discrimination_keeps_clusters_between_the_size_limits():
    windows = CfarWindows(3, 51, 81, (10.0, 10.0))
    targets = np.zeros((1, 100, 100), bool)
    targets[0, 10, 10] = True  # one pixel: diagonal 14 m
    targets[0, 30:33, 30:34] = True  # 3 x 4 px: 50 m
    targets[0, 50:52, 5:95] = True  # 2 x 90 px: 900 m
    kept = discriminate(targets, windows, CfarConfig(min_target_m=30, max_target_m=600))
    assert kept.sum() == 12 and kept[0, 30:33, 30:34].all()


def test_merge_keeps_probabilities_summing_to_one_and_the_other_ratios():
    rng = np.random.default_rng(2)
    probabilities = rng.dirichlet(np.ones(5), size=(2, 8, 8)).transpose(0, 3, 1, 2).astype(np.float32)
    confidence = np.where(rng.random((2, 8, 8)) < 0.5, 0.0, rng.uniform(0.5, 1.0, (2, 8, 8))).astype(np.float32)
    probabilities[0, :, 0, 0] = [0, 0, 0, 1, 0]  # already certainly a ship
    merged = merge_ships(probabilities, confidence, SHIP)
    np.testing.assert_allclose(merged.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(merged[:, SHIP], np.maximum(probabilities[:, SHIP], confidence), atol=1e-7)
    np.testing.assert_allclose(
        merged[:, SEA] * probabilities[:, OIL], merged[:, OIL] * probabilities[:, SEA], atol=1e-7
    )  # sea : oil unchanged
    untouched = confidence <= probabilities[:, SHIP]
    np.testing.assert_allclose(
        merged.transpose(0, 2, 3, 1)[untouched], probabilities.transpose(0, 2, 3, 1)[untouched], atol=1e-7
    )
    assert merged[0, SHIP, 0, 0] == 1 and merged.dtype == np.float32


class ConstantNetwork:
    """A stand-in network (not what is tested): five classes, land on the right half, records its input."""

    classes = OSD_CLASSES
    input_spec = InputSpec(units="db", mean=-20.0, std=5.0, tile_size=256)
    context_px = 16
    default_batch_size = 3

    def __init__(self):
        self.seen = []
        self.prepared = None

    def prepare(self, scene):
        self.prepared = scene

    def predict(self, tiles, valid):
        self.seen.append(tiles.copy())
        out = np.zeros((len(tiles), 5, *tiles.shape[2:]), np.float32)
        out[:, SEA] = 0.7
        out[:, OIL] = 0.2
        out[:, SHIP] = 0.1
        out[:, :, :, 200:] = 0.0
        out[:, LAND, :, 200:] = 1.0
        return out

    def describe(self):
        return DetectorInfo("model", "constant", "cpu", "test", {"parameters": 0})


def test_ships_detector_runs_the_network_on_its_input_and_cfar_on_linear_sigma0():
    network = ConstantNetwork()
    detector = ShipsDetector(network)
    assert detector.input_spec == InputSpec(units="linear", tile_size=256) and detector.default_batch_size == 3
    detector.prepare(scene_info())
    assert network.prepared is not None and detector.context_px == 40  # max(16, half the 81 px background)
    values = speckled_sea((1, 1, 256, 256))
    values[0, 0, 127:130, 99:102] = 1.0  # a ship at sea
    values[0, 0, 127:130, 229:232] = 1.0  # a bright spot on the network's land
    valid = np.ones_like(values, bool)
    valid[0, 0, :, :20] = False  # nodata
    probabilities = detector.predict(values, valid)
    np.testing.assert_array_equal(network.seen[0], normalise_sigma0(values, valid, network.input_spec))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    ship = probabilities[0, SHIP]
    assert ship[128, 100] > 0.99 and probabilities[0, SEA, 128, 100] < 0.01
    assert (ship > 0.5).sum() == (ship[120:137, 92:109] > 0.5).sum() > 0  # nothing on land, nodata or plain sea
    assert ship[50, 50] == pytest.approx(0.1) and probabilities[0, SEA, 50, 50] == pytest.approx(0.7)
    info = detector.describe()
    assert info.model_id == "constant" and info.extra["ships"] == "cfar" and info.extra["parameters"] == 0
    assert info.extra["cfar"]["windows_px"] == [3, 51, 81] and info.extra["cfar"]["t"] == pytest.approx(4.981)
    assert detector.target_pixels == (ship > 0.5).sum()


def test_ships_off_folds_the_ship_class_into_sea():
    detector = ShipsDetector(ConstantNetwork(), mode="off")
    detector.prepare(scene_info())
    assert detector.context_px == 16
    values = speckled_sea((1, 1, 256, 256))
    values[0, 0, 127:130, 99:102] = 1.0
    probabilities = detector.predict(values, np.ones_like(values, bool))
    assert probabilities[:, SHIP].max() == 0 and probabilities[0, SEA, 128, 100] == pytest.approx(0.8)
    assert detector.describe().extra["ships"] == "off" and "cfar" not in detector.describe().extra


def test_a_background_window_larger_than_the_tiles_is_refused():
    with pytest.raises(DakdError, match="does not fit in 256-pixel tiles"):
        ShipsDetector(ConstantNetwork(), config=CfarConfig(guard_window_m=900, background_window_m=3000)).prepare(
            scene_info()
        )
    with pytest.raises(DakdError, match="needs a detector with sea and ship classes"):
        ShipsDetector(type("Oil", (ConstantNetwork,), {"classes": BINARY_CLASSES})())


@pytest.fixture(scope="module")
def five_class_card(tmp_path_factory):
    """A randomly initialised SAROSS-Net-XS card with the five OSD classes."""
    torch.manual_seed(0)
    model = create_model("saross_net_xs", num_classes=5)
    card = new_model_card(
        model,
        "random-5",
        OSD_CLASSES,
        input_spec=InputSpec(units="db", mean=-20.0, std=5.0),
        band="VV",
        pixel_size_m=10.0,
    )
    return save_model_card(tmp_path_factory.mktemp("models") / "random-5", model, card)


def test_the_factory_wraps_models_with_a_ship_class(five_class_card, caplog):
    detector, choice = select_detector("model", str(five_class_card), "cpu", pfa=8.0)
    assert isinstance(detector, ShipsDetector) and choice.method == "model"
    assert detector.config.pfa == 8.0 and isinstance(detector.inner, ModelDetector)
    assert isinstance(select_detector("model", str(five_class_card), "cpu", ships="model")[0], ModelDetector)
    assert select_detector("model", str(five_class_card), "cpu", ships="off")[0].mode == "off"
    with pytest.raises(DakdError, match="unknown --ships 'boats'"):
        select_detector("model", str(five_class_card), "cpu", ships="boats")
    with pytest.raises(DakdError, match="threshold detector has no option.*pfa"):
        select_detector("threshold", None, "cpu", pfa=8.0)
    with caplog.at_level(logging.WARNING, logger="dakd"):
        select_detector("threshold", None, "cpu", ships="off")
    assert "--ships off applies to models with a ship class" in caplog.text
    binary = type("Oil", (ConstantNetwork,), {"classes": BINARY_CLASSES})()
    assert with_ships(binary, "cfar") is binary  # nothing to merge into


def test_no_target_within_the_shore_buffer():
    config = CfarConfig()
    windows = CfarWindows.for_scene(config, (10.0, 10.0))
    sea = speckled_sea((1, 200, 200), seed=3)
    land = np.zeros((1, 200, 200), bool)
    land[:, :, :40] = True
    sea[:, 100, 45] = sea[:, 100, 150] = 5.0  # 50 m and 1.1 km from the coast
    shore = shore_zone(land, windows, config)
    assert shore[0, 100, 45] and not shore[0, 100, 150] and shore[0, 100, 49] and not shore[0, 100, 51]
    confidence = ship_confidence(sea[:, :, :], ~land, windows, config, shore)
    assert confidence[0, 100, 150] > 0.5 and confidence[0, 100, 45] == 0
    assert ship_confidence(sea, ~land, windows, config)[0, 100, 45] > 0.5  # without the buffer it was a ship
    with pytest.raises(DakdError, match="shore_buffer_m"):
        CfarConfig(shore_buffer_m=-1)
