import numpy as np
import torch

from engine.classes import OSD_CLASSES
from engine.data.samples import AugmentConfig, EpochPlan, SegmentationBatches, augment, sample_rng
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
