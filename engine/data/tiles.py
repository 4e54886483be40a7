"""256² training tiles: cutting rasters into tiles, nodata/ignore handling, spill oversampling, normalisation.

Every source (OSD and SOS folders, labelled user scenes) ends as a :class:`TileSet`: σ0 in dB
(float16, to halve memory), a validity mask and a label raster with :data:`IGNORE_INDEX` where there
is no usable label, plus the scene each tile came from (for the split by scene).

Two input domains are derived from the same dB tiles, both from the model card's ``InputSpec``:

- the **segmenter** input, ``(clip(dB, db_range) - mean) / std`` (:func:`clip_standardise_db`), the same
  normalisation detection applies to scenes;
- the **diffusion** domain of SAR-JointNet, ``clip(dB, db_range)`` mapped linearly to [-1, 1]
  (:func:`db_to_diffusion`), as JointNet maps 8-bit images. b is computed in this domain.

Notes:
    Invalid pixels (nodata, outside the scene) hold ``db_range[0]`` in the image, are False in
    ``valid`` and :data:`IGNORE_INDEX` in the labels, so losses and metrics skip them.
    Labels may also hold :data:`NOT_OIL_INDEX` ("any class but oil", a partial label); binary and
    five-class labels meet a model of the other kind in :func:`fold_labels`, and only there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.classes import IGNORE_INDEX, NOT_OIL, NOT_OIL_INDEX, SegClass
from engine.contract import TILE_SIZE_PX
from engine.detectors.base import InputSpec
from engine.errors import InputError


@dataclass
class TileSet:
    """Tiles in memory with their labels and origin.

    Attributes:
        images_db: float16 (N, H, W) σ0 in dB; invalid pixels hold the clip floor.
        valid: bool (N, H, W), False on nodata.
        labels: uint8 (N, H, W) class ids, IGNORE_INDEX where unlabelled or invalid, NOT_OIL_INDEX
            where the labels say only "not oil".
        scene_ids: the scene (file, raster) each tile came from; the split keeps scenes whole.
        classes: the class scheme the label ids refer to.
        origins: (row, col) of each tile's top-left pixel in its scene.
    """

    images_db: np.ndarray
    valid: np.ndarray
    labels: np.ndarray
    scene_ids: list[str]
    classes: tuple[SegClass, ...]
    origins: list[tuple[int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.images_db.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of classes in the label scheme."""
        return len(self.classes)

    def subset(self, indices: Sequence[int] | np.ndarray) -> TileSet:
        """Return a new TileSet with the tiles at ``indices`` (copies)."""
        index = np.asarray(indices, dtype=np.int64)
        origins = [self.origins[i] for i in index] if self.origins else []
        return TileSet(
            self.images_db[index],
            self.valid[index],
            self.labels[index],
            [self.scene_ids[i] for i in index],
            self.classes,
            origins,
        )

    def scenes(self) -> list[str]:
        """Distinct scene ids in first-seen order."""
        return list(dict.fromkeys(self.scene_ids))

    def class_pixel_counts(self) -> dict[str, int]:
        """Labelled pixels per class name (the model card's data summary), plus ``not oil`` for partial labels.

        Pixels labelled only "not oil" are counted apart: they belong to no single class, and
        counting them as sea would misreport what the model was taught.
        """
        counts = np.bincount(self.labels.ravel(), minlength=256)
        result = {c.name: int(counts[c.id]) for c in self.classes}
        if counts[NOT_OIL_INDEX]:
            result[NOT_OIL.name] = int(counts[NOT_OIL_INDEX])
        return result

    def has_partial_labels(self) -> bool:
        """Return True when some pixels are labelled only "not oil" (:data:`NOT_OIL_INDEX`)."""
        return bool((self.labels == NOT_OIL_INDEX).any())

    def with_classes(self, classes: tuple[SegClass, ...]) -> TileSet:
        """Return the same tiles with labels for a model of ``classes`` (:func:`fold_labels`); images are shared."""
        if _names(classes) == _names(self.classes):
            return self
        labels = fold_labels(self.labels, self.classes, classes)
        return TileSet(self.images_db, self.valid, labels, self.scene_ids, tuple(classes), self.origins)

    def summary(self) -> dict[str, object]:
        """Tiles, scenes and labelled pixels per class."""
        return {
            "tiles": len(self),
            "scenes": len(self.scenes()),
            "tile_size_px": int(self.images_db.shape[-1]),
            "class_pixels": self.class_pixel_counts(),
        }


def _names(classes: Sequence[SegClass]) -> tuple[str, ...]:
    return tuple(c.name for c in classes)


def _oil_id(classes: Sequence[SegClass]) -> int | None:
    return next((c.id for c in classes if c.name == "oil"), None)


def is_binary(classes: Sequence[SegClass]) -> bool:
    """Return True for an oil / background scheme: two classes, one of them oil."""
    return len(classes) == 2 and _oil_id(classes) is not None


def can_fold(source: Sequence[SegClass], target: Sequence[SegClass]) -> bool:
    """Return True when labels of ``source`` classes can train or score a model of ``target`` classes."""
    if _names(source) == _names(target):
        return True
    if _oil_id(source) is None or _oil_id(target) is None:
        return False
    return is_binary(source) or is_binary(target)


def fold_labels(labels: np.ndarray, source: Sequence[SegClass], target: Sequence[SegClass]) -> np.ndarray:
    """Rewrite label ids of ``source`` classes for a model of ``target`` classes (a new array).

    - Same classes: unchanged.
    - Binary labels for a model with more classes (the default model's five): background becomes
      :data:`NOT_OIL_INDEX`, oil the model's oil. Background in a binary mask says only "not oil";
      calling it sea would teach the model to call look-alikes, ships and land sea.
    - Any labels for a binary model: oil stays oil; every other class and "not oil" become the
      model's other class, which is exactly what they say about oil.

    :data:`IGNORE_INDEX` stays everywhere.

    Raises:
        ValueError: the schemes do not fold into each other (:func:`can_fold`).
    """
    if not can_fold(source, target):
        raise ValueError(
            f"labels with classes {', '.join(_names(source))} cannot train or score a model with classes "
            f"{', '.join(_names(target))}"
        )
    if _names(source) == _names(target):
        return labels.copy()
    source_oil, target_oil = _oil_id(source), _oil_id(target)
    out = np.full(labels.shape, IGNORE_INDEX, np.uint8)
    labelled = labels != IGNORE_INDEX
    if is_binary(target):
        rest = next(c.id for c in target if c.id != target_oil)
        out[labelled] = rest
    else:  # binary labels, a larger model
        out[labelled] = NOT_OIL_INDEX
    out[labels == source_oil] = target_oil
    return out


def folding_note(source: Sequence[SegClass], target: Sequence[SegClass]) -> str | None:
    """Return one line saying how labels of ``source`` classes are scored by a model of ``target`` classes.

    None when they are scored as they are.
    """
    if _names(source) == _names(target) or not can_fold(source, target):
        return None
    if is_binary(target):
        others = ", ".join(c.name for c in source if c.name != "oil")
        return f"the model is binary (oil / {target[0].name}), so the labels' {others} are folded into not oil"
    return (
        f"the labels are binary (oil / background), so the model's {len(target)} classes are scored as oil "
        "against the rest: every predicted class but oil counts as not oil"
    )


def concat_tilesets(parts: Sequence[TileSet]) -> TileSet:
    """Join tile sets of the same class scheme and tile size."""
    if not parts:
        raise ValueError("no tile sets to join")
    classes = parts[0].classes
    for part in parts[1:]:
        if part.classes != classes:
            raise ValueError("cannot join tile sets with different class schemes")
    return TileSet(
        np.concatenate([p.images_db for p in parts]),
        np.concatenate([p.valid for p in parts]),
        np.concatenate([p.labels for p in parts]),
        [s for p in parts for s in p.scene_ids],
        classes,
        [o for p in parts for o in (p.origins or [(0, 0)] * len(p))],
    )


def tile_origins(length_px: int, tile_px: int, stride_px: int) -> list[int]:
    """Start offsets covering ``length_px`` with tiles of ``tile_px``, the last one flush with the edge.

    ``range(0, length - tile + 1, stride)`` plus ``length - tile`` when that leaves a gap; a side
    shorter than a tile gives one tile at 0 (padded by :func:`cut_tiles`).
    """
    if length_px <= tile_px:
        return [0]
    starts = list(range(0, length_px - tile_px + 1, stride_px))
    if starts[-1] != length_px - tile_px:
        starts.append(length_px - tile_px)
    return starts


def cut_tiles(
    image_db: np.ndarray,
    valid: np.ndarray,
    labels: np.ndarray,
    scene_id: str,
    classes: tuple[SegClass, ...],
    db_floor: float,
    tile_px: int = TILE_SIZE_PX,
    stride_px: int | None = None,
    min_valid_fraction: float = 0.5,
    min_labelled_fraction: float = 0.01,
) -> TileSet:
    """Cut one scene (already in dB, with its labels) into square tiles.

    Args:
        image_db: float (H, W) σ0 in dB.
        valid: bool (H, W).
        labels: uint8 (H, W) class ids or IGNORE_INDEX.
        scene_id: recorded on every tile.
        classes: the class scheme.
        db_floor: value written into invalid pixels (the lower end of the clip range).
        tile_px: tile side.
        stride_px: step between tiles (default ``tile_px``, no overlap except at the far edges).
        min_valid_fraction: tiles with fewer valid pixels are dropped (mostly nodata border).
        min_labelled_fraction: tiles with fewer labelled (non-ignore) pixels are dropped.

    Both fractions are of the tile's pixels inside the scene: a scene smaller than a tile is padded
    as nodata, and counting the padding dropped a whole 200 px scene as "unlabelled or nodata".

    Returns:
        The kept tiles; may be empty.
    """
    height, width = image_db.shape
    stride = stride_px or tile_px
    labels = np.where(valid, labels, IGNORE_INDEX).astype(np.uint8)
    image = np.where(valid, image_db, db_floor)
    pad_h, pad_w = max(0, tile_px - height), max(0, tile_px - width)
    if pad_h or pad_w:
        image = np.pad(image, ((0, pad_h), (0, pad_w)), constant_values=db_floor)
        valid = np.pad(valid, ((0, pad_h), (0, pad_w)), constant_values=False)
        labels = np.pad(labels, ((0, pad_h), (0, pad_w)), constant_values=IGNORE_INDEX)
    in_scene_px = max(1, min(height, tile_px) * min(width, tile_px))
    images, masks, label_tiles, origins = [], [], [], []
    for row in tile_origins(max(height, tile_px), tile_px, stride):
        for col in tile_origins(max(width, tile_px), tile_px, stride):
            window = np.s_[row : row + tile_px, col : col + tile_px]
            tile_valid = valid[window]
            tile_labels = labels[window]
            if tile_valid.sum() < min_valid_fraction * in_scene_px:
                continue
            if (tile_labels != IGNORE_INDEX).sum() < min_labelled_fraction * in_scene_px:
                continue
            images.append(image[window].astype(np.float16))
            masks.append(tile_valid.copy())
            label_tiles.append(tile_labels.copy())
            origins.append((row, col))
    if not images:
        return empty_tileset(classes, tile_px)
    return TileSet(np.stack(images), np.stack(masks), np.stack(label_tiles), [scene_id] * len(images), classes, origins)


def require_tiles(tiles: TileSet, source: str) -> TileSet:
    """Return ``tiles``, or fail when there are none: the one error every loader gives on an empty result.

    Raises:
        InputError: naming ``source`` (the folder or scene read) and what to check.
    """
    if len(tiles) == 0:
        raise InputError(
            f"{source}: no usable tile: every tile is unlabelled or nodata; "
            "check that the labels cover valid sea pixels"
        )
    return tiles


def empty_tileset(classes: tuple[SegClass, ...], tile_px: int = TILE_SIZE_PX) -> TileSet:
    """Return a TileSet with no tiles."""
    return TileSet(
        np.zeros((0, tile_px, tile_px), np.float16),
        np.zeros((0, tile_px, tile_px), bool),
        np.zeros((0, tile_px, tile_px), np.uint8),
        [],
        classes,
        [],
    )


def spill_repeats(labels: np.ndarray, spill_class_ids: Sequence[int], factor: int, min_pixels: int = 16) -> np.ndarray:
    """How often each tile appears per epoch: ``factor`` for tiles with a spill, 1 otherwise.

    Spills are rare (a few percent of sea tiles); repeating the tiles that contain one is the
    simplest rebalancing that keeps the loss unweighted. ``min_pixels`` ignores stray label pixels.
    """
    if factor < 1:
        raise ValueError(f"oversampling factor must be >= 1, got {factor}")
    has_spill = np.isin(labels, np.asarray(spill_class_ids)).reshape(len(labels), -1).sum(axis=1) >= min_pixels
    return np.where(has_spill, factor, 1).astype(np.int64)


def clip_standardise_db(image_db: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Segmenter input: clip dB to ``spec.db_range`` then ``(x - mean) / std`` (as detection does).

    Every pixel is transformed, nodata too (tiles hold the clip floor there); callers with a ``valid``
    mask set those pixels to 0 afterwards, as :func:`engine.preprocess.normalise_sigma0` does itself.
    """
    low, high = spec.db_range
    return ((np.clip(image_db.astype(np.float32), low, high) - spec.mean) / spec.std).astype(np.float32)


def db_to_diffusion(image_db: np.ndarray, db_range: tuple[float, float]) -> np.ndarray:
    """Diffusion domain: clip dB to ``db_range`` and map linearly to [-1, 1]."""
    low, high = db_range
    return (2.0 * (np.clip(image_db.astype(np.float32), low, high) - low) / (high - low) - 1.0).astype(np.float32)


def diffusion_to_db(image: np.ndarray, db_range: tuple[float, float]) -> np.ndarray:
    """Inverse of :func:`db_to_diffusion` (values outside [-1, 1] are clipped first)."""
    low, high = db_range
    return (np.clip(image, -1.0, 1.0) + 1.0) / 2.0 * (high - low) + low


def byte_to_db(pixels: np.ndarray, db_range: tuple[float, float]) -> np.ndarray:
    """8-bit image values (OSD/SOS JPEG/PNG) to dB, assuming 0..255 spans ``db_range`` linearly [I].

    The OSD authors map dB linearly to 8 bits, but do not publish the range; the range is
    configurable (``--image-db-range``) and recorded in the model card.
    """
    low, high = db_range
    return (pixels.astype(np.float32) / 255.0 * (high - low) + low).astype(np.float32)


def db_to_byte(image_db: np.ndarray, db_range: tuple[float, float]) -> np.ndarray:
    """Inverse of :func:`byte_to_db`, rounded and clipped to uint8 (for previews)."""
    low, high = db_range
    return np.clip(np.round((image_db - low) / (high - low) * 255.0), 0, 255).astype(np.uint8)


def fit_normalisation(
    tiles: TileSet, db_range: tuple[float, float], max_pixels: int = 4_000_000, seed: int = 0
) -> tuple[float, float]:
    """Mean and std of clipped dB over valid pixels (a random sample of at most ``max_pixels``)."""
    values = tiles.images_db[tiles.valid]
    if values.size == 0:
        raise ValueError("no valid pixels to fit the normalisation")
    if values.size > max_pixels:  # sample first: converting every pixel to float32 would cost gigabytes
        values = np.random.default_rng(seed).choice(values, max_pixels, replace=False)
    values = np.clip(values.astype(np.float32), *db_range)
    return float(values.mean()), float(max(values.std(), 1e-3))


def batch_slices(count: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``batch_size`` over ``range(count)``."""
    for start in range(0, count, batch_size):
        yield slice(start, min(start + batch_size, count))
