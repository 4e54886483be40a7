import numpy as np
import pytest
import torch

from engine.classes import IGNORE_INDEX, OSD_CLASSES
from engine.data.samples import (
    AUGMENTS,
    AugmentConfig,
    EpochPlan,
    SegmentationBatches,
    augment,
    crop_and_augment,
    export_8bit,
    radiometric,
    resample,
    sample_rng,
)
from engine.data.tiles import TileSet
from engine.detectors.base import InputSpec


def test_augment_moves_image_and_labels_together() -> None:
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    labels = (image > 7.5).astype(np.int64)
    for seed in range(8):
        out, (out_labels,) = augment(image, [labels], AugmentConfig(db_shift=0.5), sample_rng(seed, 0, 0))
        shift = out.mean() - image.mean()
        assert abs(shift) <= 0.5
        np.testing.assert_array_equal(out_labels, (out - shift > 7.5).astype(np.int64))


def test_epoch_plan_mixes_generated_pairs_at_the_ratio() -> None:
    plan = EpochPlan(np.array([1, 2, 1, 1]), num_generated=3, aug_ratio=2.0, seed=0)
    order = plan.order(0)
    assert len(order) == 5 + 8  # 4 real tiles, one twice; 2 x 4 generated from a pool of 3
    assert (order >= 4).sum() == 8 and set(order[order >= 4].tolist()) == {4, 5, 6}
    np.testing.assert_array_equal(order, plan.order(0))
    assert not np.array_equal(order, plan.order(1))


def test_segmentation_batch_normalises_and_is_deterministic() -> None:
    tiles = TileSet(
        np.full((2, 8, 8), -20, np.float16),
        np.ones((2, 8, 8), bool),
        np.zeros((2, 8, 8), np.uint8),
        ["a", "b"],
        OSD_CLASSES,
    )
    spec = InputSpec(units="db", mean=-20.0, std=2.0)
    batches = SegmentationBatches(tiles, None, spec, None, seed=0)
    batch = batches.batch(np.array([0, 1]), 0, np.array([0, 1]))
    assert batch["image"].shape == (2, 1, 8, 8) and torch.all(batch["image"] == 0)
    assert batch["soft"].shape == (2, 5, 8, 8) and not batch["generated"].any()


def test_nodata_is_zero_in_the_batch_and_its_mask_travels_with_it() -> None:
    valid = np.ones((1, 8, 8), bool)
    valid[0, :, :3] = False
    tiles = TileSet(np.full((1, 8, 8), -10, np.float16), valid, np.zeros((1, 8, 8), np.uint8), ["a"], OSD_CLASSES)
    spec = InputSpec(units="db", mean=-20.0, std=2.0)
    batch = SegmentationBatches(tiles, None, spec, None, seed=0).batch(np.array([0]), 0, np.array([0]))
    assert torch.all(batch["image"][0, 0, :, :3] == 0) and torch.all(batch["image"][0, 0, :, 3:] == 5)
    np.testing.assert_array_equal(batch["valid"][0, 0].numpy(), valid[0])


def test_radiometric_changes_are_a_gain_and_offset_of_the_db_values() -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(-20, 3, size=(32, 32)).astype(np.float32)
    config = AugmentConfig(radiometric_probability=1.0, flips=False, rotations=False)
    for seed in range(6):
        out = radiometric(image, config, sample_rng(seed, 0, 0))
        slope, _ = np.polyfit(image.ravel(), out.ravel(), 1)
        assert config.gain_range[0] - 1e-3 <= slope <= config.gain_range[1] + 1e-3
        assert np.allclose(np.polyval(np.polyfit(image.ravel(), out.ravel(), 1), image), out, atol=1e-3)


def test_an_8bit_export_leaves_at_most_256_levels() -> None:
    image = np.random.default_rng(1).normal(-20, 3, size=(64, 64)).astype(np.float32)
    config = AugmentConfig(radiometric_probability=1.0, quantise_probability=1.0)
    out = radiometric(image, config, sample_rng(3, 0, 0))
    assert len(np.unique(out)) <= 256 < len(np.unique(image))


@pytest.mark.parametrize("scale", ["db", "amplitude", "intensity"])
def test_an_8bit_export_in_any_scale_keeps_the_order_of_the_db_values(scale: str) -> None:
    ramp = np.linspace(-35.0, 0.0, 4096, dtype=np.float32).reshape(64, 64)
    config = AugmentConfig(export_scales=(scale,))
    for seed in range(8):
        out = export_8bit(ramp, ramp.ravel(), float(np.median(ramp)), config, sample_rng(seed, 0, 0))
        assert np.all(np.diff(out.ravel()) >= 0)
        assert config.read_range_db[0] <= out.min() and out.max() <= config.read_range_db[1]
        assert len(np.unique(out)) > 8


def test_amplitude_and_intensity_exports_squeeze_the_dark_end_more_than_a_db_export() -> None:
    """Linear in σ0, the darkest 10 dB of a 35 dB ramp get far fewer grey levels than linear in dB."""
    ramp = np.linspace(-35.0, 0.0, 4096, dtype=np.float32).reshape(64, 64)
    dark = ramp < -25.0
    levels = {}
    for scale in ("db", "amplitude", "intensity"):
        config = AugmentConfig(export_scales=(scale,))
        outs = [export_8bit(ramp, ramp.ravel(), -17.5, config, sample_rng(seed, 0, 0)) for seed in range(8)]
        levels[scale] = np.mean([len(np.unique(out[dark])) for out in outs])
    assert levels["intensity"] < levels["amplitude"] < levels["db"]


def test_export_scales_are_checked_and_robust_db_is_the_first_stage_set() -> None:
    with pytest.raises(ValueError, match="export_scales"):
        AugmentConfig(export_scales=("log",))
    assert set(AUGMENTS["robust"].export_scales) == {"db", "amplitude", "intensity"}
    assert AUGMENTS["robust-db"].export_scales == ("db",)
    # a card written before export_scales existed reads back as the dB-only set it was trained with
    old = {k: v for k, v in AUGMENTS["robust"].to_dict().items() if k != "export_scales"}
    assert AugmentConfig.from_dict(old) == AUGMENTS["robust-db"]


def test_resampling_multilooks_power_and_keeps_labels_exact() -> None:
    image = np.full((64, 64), -20.0, np.float32)
    image[:, 32:] = -10.0
    labels = np.zeros((64, 64), np.int64)
    labels[:, 32:] = 2
    valid = np.ones((64, 64), bool)
    out, (out_labels, out_valid) = resample(image, [labels, valid], 32)
    assert out.shape == out_labels.shape == out_valid.shape == (32, 32)
    assert set(np.unique(out_labels).tolist()) == {0, 2} and out_valid.dtype == bool and out_valid.all()
    assert np.isclose(out[:, :10], -20.0, atol=1e-3).all() and np.isclose(out[:, -10:], -10.0, atol=1e-3).all()


def test_a_zoom_coarser_than_the_tile_allows_shrinks_the_tile_into_nodata() -> None:
    """robust-wide reaches 4x coarser pixels from 256 px tiles at 128 px crops: the rest of the crop is nodata."""
    image = np.full((256, 256), -22.0, np.float32)
    image[:, :128] = -30.0  # a dark half, labelled oil
    labels = np.zeros((256, 256), np.int64)
    labels[:, :128] = 1
    valid = np.ones((256, 256), bool)
    config = AugmentConfig(zoom=(4.0, 4.0), zoom_probability=1.0, flips=False, rotations=False, db_shift=0.0)
    out, (out_labels, out_valid) = crop_and_augment(image, [labels, valid], 128, config, 0, 0, 3, valid=valid)
    assert out.shape == out_labels.shape == out_valid.shape == (128, 128)
    assert out_valid.sum() == 64 * 64  # the whole 256 px tile at 4x the pixel size
    assert (out_labels[~out_valid] == IGNORE_INDEX).all() and set(np.unique(out_labels[out_valid])) == {0, 1}
    assert (out_labels[out_valid] == 1).sum() == 32 * 64  # the labels keep their share
    # the image around the shrunk tile holds its median, not a bright false edge
    assert out[~out_valid].min() >= -30.0 and out[~out_valid].max() <= -22.0
    # within the tile's reach nothing is padded, as before
    near = AugmentConfig(zoom=(2.0, 2.0), zoom_probability=1.0)
    assert crop_and_augment(image, [labels, valid], 128, near, 0, 0, 3, valid=valid)[1][1].all()
    assert AUGMENTS["robust-wide"].zoom == (0.5, 4.0)


def test_a_zoomed_crop_has_the_crop_size_and_is_reproducible() -> None:
    image = np.random.default_rng(2).normal(-20, 3, size=(256, 256)).astype(np.float32)
    labels = (image > -20).astype(np.int64)
    config = AugmentConfig(zoom=(0.5, 2.0), zoom_probability=1.0)
    first = crop_and_augment(image, [labels], 128, config, seed=0, epoch=0, position=5)
    again = crop_and_augment(image, [labels], 128, config, seed=0, epoch=0, position=5)
    assert first[0].shape == first[1][0].shape == (128, 128)
    np.testing.assert_array_equal(first[0], again[0])
