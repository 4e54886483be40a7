"""Training samples: which tiles an epoch visits, SAR augmentations, and batches as tensors.

Everything random here is drawn from generators seeded by ``(seed, epoch, position)``, never from
global state, so an epoch's order and each sample's augmentation are the same whether a run goes
straight through, resumes from a checkpoint, or runs on several processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.data.generated import GeneratedSet
from engine.data.tiles import TileSet, db_to_diffusion, normalise_db, spill_repeats
from engine.detectors.base import InputSpec


@dataclass(frozen=True)
class AugmentConfig:
    """SAR-appropriate augmentations: flips, 90° rotations and a small intensity shift in dB.

    Flips and 90° rotations keep speckle statistics; a global dB shift mimics calibration and wind
    differences between scenes. No colour jitter, blur or scaling, which would change the speckle.
    """

    flips: bool = True
    rotations: bool = True
    db_shift: float = 1.0


def augment(
    image_db: np.ndarray, arrays: list[np.ndarray], config: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Apply the same flip/rotation to the image and to ``arrays`` (labels, masks, soft labels).

    The image is (H, W) dB; ``arrays`` have the spatial axes last. The dB shift touches only the image.
    """
    k = int(rng.integers(0, 4)) if config.rotations else 0
    flip = bool(rng.integers(0, 2)) if config.flips else False
    shift = float(rng.uniform(-config.db_shift, config.db_shift)) if config.db_shift > 0 else 0.0

    def apply(array: np.ndarray) -> np.ndarray:
        out = np.rot90(array, k, axes=(-2, -1)) if k else array
        return np.flip(out, axis=-1) if flip else out

    return apply(image_db) + shift, [np.ascontiguousarray(apply(a)) for a in arrays]


def random_crop(
    image: np.ndarray, arrays: list[np.ndarray], crop_px: int | None, rng: np.random.Generator
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Cut the same random ``crop_px`` square from the image and ``arrays`` (spatial axes last).

    Training on crops is cheaper than on whole tiles; the nets are fully convolutional, so a model
    trained on crops still runs on whole tiles. ``None`` or a crop as large as the tile is a no-op.
    """
    height, width = image.shape[-2:]
    if crop_px is None or (crop_px >= height and crop_px >= width):
        return image, arrays
    size_h, size_w = min(crop_px, height), min(crop_px, width)
    row = int(rng.integers(0, height - size_h + 1))
    col = int(rng.integers(0, width - size_w + 1))
    window = np.s_[..., row : row + size_h, col : col + size_w]
    return image[window], [a[window] for a in arrays]


def crop_and_augment(
    image_db: np.ndarray,
    arrays: list[np.ndarray],
    crop_px: int | None,
    config: AugmentConfig | None,
    seed: int,
    epoch: int,
    position: int,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Random crop then augmentation of one training sample, drawn from its own seeded generator."""
    rng = sample_rng(seed, epoch, position)
    image_db, arrays = random_crop(image_db, arrays, crop_px, rng)
    if config is not None:
        image_db, arrays = augment(image_db, arrays, config, rng)
    return image_db, arrays


def sample_rng(seed: int, epoch: int, position: int) -> np.random.Generator:
    """Return the generator for one sample of one epoch (independent of process count and resume)."""
    return np.random.default_rng([seed, epoch, position])


@dataclass
class EpochPlan:
    """Which samples an epoch visits, in what order.

    Real tiles appear once per epoch, spill tiles ``spill_oversample`` times; generated pairs add
    ``aug_ratio`` times the number of distinct real tiles, drawn without repetition until the
    generated pool is used up. Ids below ``num_real`` are real tiles, ids above are generated pairs.
    """

    real_repeats: np.ndarray
    num_generated: int
    aug_ratio: float
    seed: int

    @property
    def num_real(self) -> int:
        """Distinct real tiles."""
        return len(self.real_repeats)

    def order(self, epoch: int) -> np.ndarray:
        """Shuffled sample ids of ``epoch``."""
        rng = np.random.default_rng([self.seed, epoch, 7])
        real = np.repeat(np.arange(self.num_real), self.real_repeats)
        wanted = int(round(self.aug_ratio * self.num_real)) if self.num_generated else 0
        if wanted:
            pool = np.concatenate(
                [rng.permutation(self.num_generated) for _ in range(-(-wanted // self.num_generated))]
            )
            generated = self.num_real + pool[:wanted]
            real = np.concatenate([real, generated])
        return rng.permutation(real)


def make_plan(
    tiles: TileSet, generated: GeneratedSet | None, aug_ratio: float, spill_oversample: int, seed: int
) -> EpochPlan:
    """Return an epoch plan for real tiles (with spill oversampling) and optional generated pairs."""
    spill_ids = [c.id for c in tiles.classes if c.name == "oil"]
    repeats = spill_repeats(tiles.labels, spill_ids, spill_oversample) if len(tiles) else np.zeros(0, np.int64)
    return EpochPlan(repeats, len(generated) if generated is not None else 0, aug_ratio, seed)


class SegmentationBatches:
    """Turns sample ids into segmenter batches (normalised images, hard labels, soft labels, origin).

    Args:
        tiles: real tiles.
        generated: generated pairs, or None.
        spec: the model's input normalisation.
        augment_config: augmentations (None: none, as for validation).
        seed: augmentation seed.
    """

    def __init__(
        self,
        tiles: TileSet,
        generated: GeneratedSet | None,
        spec: InputSpec,
        augment_config: AugmentConfig | None,
        seed: int,
        crop_px: int | None = None,
    ) -> None:
        self.crop_px = crop_px
        self.tiles = tiles
        self.generated = generated
        self.spec = spec
        self.augment_config = augment_config
        self.seed = seed
        self.num_classes = tiles.num_classes

    def sample(self, sample_id: int, epoch: int, position: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """(image (H, W) normalised, label (H, W), soft (C, H, W) or empty, generated?)."""
        num_real = len(self.tiles)
        if sample_id < num_real:
            image_db = self.tiles.images_db[sample_id].astype(np.float32)
            label = self.tiles.labels[sample_id].astype(np.int64)
            valid = self.tiles.valid[sample_id]
            soft = np.zeros((0, *label.shape), np.float32)
            is_generated = False
        else:
            if self.generated is None:
                raise ValueError(
                    f"sample id {sample_id} is past the {num_real} real tiles and there is no generated set"
                )
            image_db = self.generated.image_db(sample_id - num_real)
            soft = self.generated.soft_label(sample_id - num_real)
            label = soft.argmax(axis=0).astype(np.int64)
            valid = np.ones(label.shape, bool)
            is_generated = True
        if self.augment_config is not None:  # training; validation sees whole tiles as they are
            image_db, (label, valid, soft) = crop_and_augment(
                image_db, [label, valid, soft], self.crop_px, self.augment_config, self.seed, epoch, position
            )
        image = normalise_db(image_db, self.spec)
        image = np.where(valid, image, normalise_db(np.float32(self.spec.db_range[0]), self.spec))
        return image, label, soft, is_generated

    def batch(self, sample_ids: np.ndarray, epoch: int, positions: np.ndarray) -> dict[str, torch.Tensor]:
        """Stack samples into tensors: image (N,1,H,W), label (N,H,W), soft (N,C,H,W), generated (N,)."""
        images, labels, softs, flags = [], [], [], []
        for sample_id, position in zip(sample_ids.tolist(), positions.tolist()):
            image, label, soft, is_generated = self.sample(sample_id, epoch, position)
            images.append(image)
            labels.append(label)
            softs.append(soft if soft.shape[0] else np.zeros((self.num_classes, *label.shape), np.float32))
            flags.append(is_generated)
        return {
            "image": torch.from_numpy(np.stack(images)[:, None].astype(np.float32)),
            "label": torch.from_numpy(np.stack(labels)),
            "soft": torch.from_numpy(np.stack(softs)),
            "generated": torch.tensor(flags, dtype=torch.bool),
        }


class JointBatches:
    """Turns tile ids into SAR-JointNet batches: diffusion-domain image, validity, labels."""

    def __init__(
        self,
        tiles: TileSet,
        db_range: tuple[float, float],
        augment_config: AugmentConfig | None,
        seed: int,
        crop_px: int | None = None,
    ) -> None:
        self.crop_px = crop_px
        self.tiles = tiles
        self.db_range = db_range
        self.augment_config = augment_config
        self.seed = seed

    def batch(self, sample_ids: np.ndarray, epoch: int, positions: np.ndarray) -> dict[str, torch.Tensor]:
        """Image (N,1,H,W) in [-1, 1], valid (N,1,H,W) bool, label (N,H,W) int64 with IGNORE_INDEX."""
        images, valids, labels = [], [], []
        for sample_id, position in zip(sample_ids.tolist(), positions.tolist()):
            image_db = self.tiles.images_db[sample_id].astype(np.float32)
            label = self.tiles.labels[sample_id].astype(np.int64)
            valid = self.tiles.valid[sample_id]
            image_db, (label, valid) = crop_and_augment(
                image_db, [label, valid], self.crop_px, self.augment_config, self.seed, epoch, position
            )
            images.append(db_to_diffusion(image_db, self.db_range))
            valids.append(valid)
            labels.append(label)
        return {
            "image": torch.from_numpy(np.stack(images)[:, None]),
            "valid": torch.from_numpy(np.stack(valids)[:, None]),
            "label": torch.from_numpy(np.stack(labels)),
        }
