"""Training samples: which tiles an epoch visits, SAR augmentations, and batches as tensors.

Everything random here is drawn from generators seeded by ``(seed, epoch, position)``, never from
global state, so an epoch's order and each sample's augmentation are the same whether a run goes
straight through, resumes from a checkpoint, or runs on several processes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from engine.classes import IGNORE_INDEX
from engine.config import ConfigBase
from engine.data.generated import GeneratedSet
from engine.data.tiles import TileSet, clip_standardise_db, db_to_diffusion, spill_repeats
from engine.detectors.base import InputSpec


@dataclass(frozen=True)
class AugmentConfig(ConfigBase):
    """SAR-appropriate augmentations, each drawn per sample from its own seeded generator.

    The basic set (the defaults) keeps the speckle statistics: flips, 90° rotations and a global dB
    shift that mimics calibration and wind differences between scenes. The robustness set
    (:data:`ROBUST_AUGMENT`) adds what changes between the scenes a model is trained on and the
    ones it meets (issue 13: 8-bit exports over an unknown dB range, speckle-filtered products,
    other pixel sizes):

    Attributes:
        flips: random left-right flip.
        rotations: random multiple of 90°.
        db_shift: uniform dB shift in ± this (when no radiometric change is drawn).
        zoom: ``(low, high)`` range of the resampling factor, drawn log-uniformly: a window of
            ``factor × crop`` px is resampled to the crop (factor > 1 is a coarser pixel: power is
            averaged, i.e. multilooked; < 1 a finer, oversampled one). None: off.
        zoom_probability: chance of resampling a sample.
        radiometric_probability: chance of an unknown dB scaling: an 8-bit export read back as the
            data-set loaders read it (:func:`export_8bit`), or a gain (log-uniform in ``gain_range``)
            around the sample's median plus an offset in ± ``offset_db``.
        gain_range: range of the free dB gain.
        offset_db: half-width of the dB offset drawn with a gain.
        quantise_probability: chance, given a radiometric change, that it is an 8-bit export (read back
            over ``read_range_db``; three times in ten it is then also given a free gain and offset).
        read_range_db: the dB span 0..255 is read as (the OSD/SOS loaders' default).
        export_scales: the scales an 8-bit export may be linear in, drawn evenly: ``db``, ``amplitude``
            (√σ0) or ``intensity`` (σ0). Many exports stretch amplitude or intensity, not dB; read
            back as dB, the dark end of such a picture is compressed and the bright end spread.
        smooth_probability: chance of a speckle filter (a median in dB or a mean in power over 3-7 px,
            as many exported products have: OSD used a 7×7 median).
    """

    flips: bool = True
    rotations: bool = True
    db_shift: float = 1.0
    zoom: tuple[float, float] | None = None
    zoom_probability: float = 0.0
    radiometric_probability: float = 0.0
    gain_range: tuple[float, float] = (0.5, 2.5)
    offset_db: float = 8.0
    quantise_probability: float = 0.0
    read_range_db: tuple[float, float] = (-35.0, 5.0)
    smooth_probability: float = 0.0
    export_scales: tuple[str, ...] = ("db",)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.export_scales) - set(EXPORT_SCALES))
        if unknown or not self.export_scales:
            raise ValueError(f"export_scales must be some of {', '.join(EXPORT_SCALES)}, not {unknown or 'none'}")


#: What an 8-bit export may be linear in: the dB value itself, amplitude (dB / 20) or intensity (dB / 10).
EXPORT_SCALES = {"db": None, "amplitude": 20.0, "intensity": 10.0}


#: The segmenter's augmentations: the basic set plus resampling, unknown dB scaling, 8-bit exports and
#: speckle filters. A third of the samples keep calibrated levels (only the ±1 dB shift).
ROBUST_AUGMENT = AugmentConfig(
    zoom=(0.5, 2.0),
    zoom_probability=0.4,
    radiometric_probability=0.65,
    quantise_probability=0.6,
    smooth_probability=0.25,
    export_scales=("db", "amplitude", "intensity"),
)
#: The robust set with resampling out to 4x coarser pixels (40 m for 10 m scenes), beyond what a tile holds at
#: the crop size: such samples are the whole tile, shrunk, with nodata around it (:func:`pad_as_nodata`).
ROBUST_WIDE_AUGMENT = replace(ROBUST_AUGMENT, zoom=(0.5, 4.0))
#: Augmentation sets by the names ``dakd finetune --augment`` takes. ``robust-db`` is the robust set as the
#: first stage of the default model was trained with: 8-bit exports linear in dB only.
AUGMENTS = {
    "robust": ROBUST_AUGMENT,
    "robust-db": replace(ROBUST_AUGMENT, export_scales=("db",)),
    "robust-wide": ROBUST_WIDE_AUGMENT,
    "basic": AugmentConfig(),
}


def augment(
    image_db: np.ndarray,
    arrays: list[np.ndarray],
    config: AugmentConfig,
    rng: np.random.Generator,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Apply the same flip/rotation to the image and to ``arrays`` (labels, masks, soft labels).

    The image is (H, W) dB; ``arrays`` have the spatial axes last. The radiometric changes touch
    only the image; ``valid`` (H, W) tells them which pixels to take statistics from.
    """
    k = int(rng.integers(0, 4)) if config.rotations else 0
    flip = bool(rng.integers(0, 2)) if config.flips else False

    def apply(array: np.ndarray) -> np.ndarray:
        out = np.rot90(array, k, axes=(-2, -1)) if k else array
        return np.flip(out, axis=-1) if flip else out

    image_db = radiometric(image_db, config, rng, valid)
    return apply(image_db), [np.ascontiguousarray(apply(a)) for a in arrays]


def radiometric(
    image_db: np.ndarray, config: AugmentConfig, rng: np.random.Generator, valid: np.ndarray | None = None
) -> np.ndarray:
    """Speckle filter, 8-bit export and dB gain/offset as ``config`` draws them, else the plain dB shift."""
    image_db = image_db.astype(np.float32)
    usable = image_db[valid] if valid is not None and valid.any() else image_db.ravel()
    if config.smooth_probability and rng.random() < config.smooth_probability:
        size = int(rng.choice([3, 5, 7]))
        if rng.random() < 0.5:
            image_db = ndimage.median_filter(image_db, size=size, mode="reflect")
        else:
            power = ndimage.uniform_filter(np.power(10.0, image_db / 10.0), size=size, mode="reflect")
            image_db = (10.0 * np.log10(np.maximum(power, 1e-10))).astype(np.float32)
    if not (config.radiometric_probability and rng.random() < config.radiometric_probability):
        shift = float(rng.uniform(-config.db_shift, config.db_shift)) if config.db_shift > 0 else 0.0
        return image_db + np.float32(shift)
    median = float(np.median(usable))
    if config.quantise_probability and rng.random() < config.quantise_probability:
        image_db = export_8bit(image_db, usable, median, config, rng)
        if rng.random() > 0.3:  # read back with the data-set loaders' convention; else by some other rule
            return image_db
        median = float(np.median(image_db[valid] if valid is not None and valid.any() else image_db))
    gain = float(np.exp(rng.uniform(np.log(config.gain_range[0]), np.log(config.gain_range[1]))))
    offset = float(rng.uniform(-config.offset_db, config.offset_db))
    return (np.float32(median + offset) + np.float32(gain) * (image_db - np.float32(median))).astype(np.float32)


def export_8bit(
    image_db: np.ndarray, usable: np.ndarray, median: float, config: AugmentConfig, rng: np.random.Generator
) -> np.ndarray:
    """Export to 8 bits and read back as ``config.read_range_db`` (what the OSD/SOS loaders do with such images).

    The export is linear in dB, amplitude or intensity (one of ``config.export_scales``). It stretches
    the sample's own percentiles (about 2-98 %, the usual picture stretch; a 10 dB span read as 40 dB
    is a gain of 4; amplitude and intensity from zero half the time) or, in dB, a fixed window of
    10-40 dB placed around the sea; then it clips and quantises to 256 levels.
    """
    scale = config.export_scales[int(rng.integers(0, len(config.export_scales)))]
    divisor = EXPORT_SCALES[scale]
    if divisor is None and rng.random() < 0.5:
        span = float(rng.uniform(10.0, 40.0))
        low = median - span * float(rng.uniform(0.3, 0.8))
        high = low + span
    else:  # a linear picture stretch clips the bright tail: a fixed 40 dB window would leave it a few grey levels
        quantiles = [rng.uniform(0.0, 0.05), rng.uniform(0.95, 1.0) if divisor is None else rng.uniform(0.95, 0.995)]
        low, high = (float(v) for v in np.quantile(usable, quantiles))
    high = max(high, low + 1.0)
    if divisor is None:
        stretched = (image_db - low) / (high - low)
    else:  # linear in amplitude or intensity between the same two dB levels; half the time from zero
        to_linear = np.float32(np.log(10.0) / divisor)
        floor, top = (0.0 if rng.random() < 0.5 else np.exp(low * to_linear)), np.exp(high * to_linear)
        stretched = (np.exp(image_db * to_linear) - floor) / (top - floor)
    levels = np.round(np.clip(stretched, 0.0, 1.0) * 255.0)
    read_low, read_high = config.read_range_db
    return (read_low + levels * ((read_high - read_low) / 255.0)).astype(np.float32)


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


def resample(image_db: np.ndarray, arrays: list[np.ndarray], size_px: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Resample a square sample to ``size_px``: power averaged (multilook) or interpolated, labels nearest.

    Integer and boolean arrays (labels, validity) take the nearest value; float arrays (soft labels)
    are interpolated like the image.
    """
    if image_db.shape[-1] == size_px and image_db.shape[-2] == size_px:
        return image_db, arrays
    shrink = image_db.shape[-1] > size_px
    power = torch.from_numpy(np.power(10.0, image_db.astype(np.float32) / 10.0))[None, None]
    if shrink:
        power = F.interpolate(power, size=(size_px, size_px), mode="bilinear", antialias=True, align_corners=False)
    else:
        power = F.interpolate(power, size=(size_px, size_px), mode="bilinear", align_corners=False)
    image_db = (10.0 * np.log10(np.maximum(power[0, 0].numpy(), 1e-10))).astype(np.float32)
    out = []
    for array in arrays:
        if array.size == 0:
            out.append(np.zeros((*array.shape[:-2], size_px, size_px), array.dtype))
            continue
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        lead = tensor.shape[:-2]
        tensor = tensor.reshape(1, -1, *tensor.shape[-2:])
        if array.dtype.kind == "f":
            resized = F.interpolate(tensor.float(), size=(size_px, size_px), mode="bilinear", align_corners=False)
        else:
            resized = F.interpolate(
                tensor.to(torch.uint8 if array.dtype == bool else torch.int64).float(),
                size=(size_px, size_px),
                mode="nearest",
            )
        out.append(resized.reshape(*lead, size_px, size_px).numpy().astype(array.dtype))
    return image_db, out


def pad_as_nodata(
    image_db: np.ndarray, arrays: list[np.ndarray], size_px: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Place a sample smaller than ``size_px`` at a random spot of a ``size_px`` square of nodata.

    The rest is what a scene edge is to the network: integer arrays (labels) are :data:`IGNORE_INDEX`
    there, boolean ones (validity) False and float ones (soft labels) 0, so no loss sees it; the image
    there holds the sample's median dB, so a speckle filter drawn later does not smear a false edge in.
    """
    height, width = image_db.shape[-2:]
    if height >= size_px and width >= size_px:
        return image_db, arrays
    row = int(rng.integers(0, size_px - height + 1))
    col = int(rng.integers(0, size_px - width + 1))
    window = np.s_[..., row : row + height, col : col + width]

    def pad(array: np.ndarray, fill: float) -> np.ndarray:
        out = np.full((*array.shape[:-2], size_px, size_px), fill, array.dtype)
        out[window] = array
        return out

    padded = [pad(a, IGNORE_INDEX if a.dtype.kind in "iu" else 0) for a in arrays]
    return pad(image_db, float(np.median(image_db))), padded


def crop_and_augment(
    image_db: np.ndarray,
    arrays: list[np.ndarray],
    crop_px: int | None,
    config: AugmentConfig | None,
    seed: int,
    epoch: int,
    position: int,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Random crop (resampled when a zoom is drawn) then augmentation of one sample, from its own generator.

    ``valid``, when given, must also be one of ``arrays`` (it is cropped with them); it only tells
    the radiometric changes which pixels to take statistics from. Pass it as the *last* array.
    """
    rng = sample_rng(seed, epoch, position)
    tile_px = min(image_db.shape[-2:])
    size = crop_px or tile_px
    if config is not None and config.zoom and rng.random() < config.zoom_probability:
        factor = float(np.exp(rng.uniform(np.log(config.zoom[0]), np.log(config.zoom[1]))))
        wanted = round(size * factor)
        image_db, arrays = random_crop(image_db, arrays, int(np.clip(wanted, 16, tile_px)), rng)
        # A factor coarser than the tile allows shrinks the whole tile below the sample size; the rest is nodata.
        image_db, arrays = resample(image_db, arrays, size if wanted <= tile_px else max(16, round(tile_px / factor)))
        image_db, arrays = pad_as_nodata(image_db, arrays, size, rng)
    else:
        image_db, arrays = random_crop(image_db, arrays, crop_px, rng)
    if config is not None:
        image_db, arrays = augment(image_db, arrays, config, rng, arrays[-1] if valid is not None else None)
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

    def sample(
        self, sample_id: int, epoch: int, position: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        """(image (H, W) normalised, valid (H, W), label (H, W), soft (C, H, W) or empty, generated?).

        Invalid pixels are 0 in the image (the normalised mean), as in detection
        (:func:`engine.preprocess.normalise_sigma0`): one nodata rule; the network also receives ``valid``.
        """
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
            image_db, (label, soft, valid) = crop_and_augment(
                image_db,
                [label, soft, valid],
                self.crop_px,
                self.augment_config,
                self.seed,
                epoch,
                position,
                valid=valid,
            )
        image = np.where(valid, clip_standardise_db(image_db, self.spec), np.float32(0.0))
        return image, valid, label, soft, is_generated

    def batch(self, sample_ids: np.ndarray, epoch: int, positions: np.ndarray) -> dict[str, torch.Tensor]:
        """Stack samples: image (N,1,H,W), valid (N,1,H,W), label (N,H,W), soft (N,C,H,W), generated (N,)."""
        images, valids, labels, softs, flags = [], [], [], [], []
        for sample_id, position in zip(sample_ids.tolist(), positions.tolist()):
            image, valid, label, soft, is_generated = self.sample(sample_id, epoch, position)
            images.append(image)
            valids.append(valid)
            labels.append(label)
            softs.append(soft if soft.shape[0] else np.zeros((self.num_classes, *label.shape), np.float32))
            flags.append(is_generated)
        return {
            "image": torch.from_numpy(np.stack(images)[:, None].astype(np.float32)),
            "valid": torch.from_numpy(np.stack(valids)[:, None]),
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
