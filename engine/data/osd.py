"""The Oil Spill Detection (OSD) data-set layout of Krestenitis et al. (2019).

A split folder holds ``images/*.jpg`` (8-bit grey repeated in 3 channels) and either
``labels_1D/*.png`` (class ids 0-4) or ``labels/*.png`` (RGB in the OSD colours). The data-set root
holds ``train/`` and ``test/`` split folders; either the root (with ``split``) or a split folder can
be given. Each image is its own scene for the split by scene.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.classes import IGNORE_INDEX, OSD_CLASSES, SegClass
from engine.data.folders import find_subfolder, pair_files, read_grey, read_label_image
from engine.data.tiles import TILE_SIZE_PX, TileSet, byte_to_db, concat_tilesets, cut_tiles, empty_tileset
from engine.errors import InputError
from engine.progress import Progress

DEFAULT_DB_RANGE = (-35.0, 5.0)


def rgb_to_ids(rgb: np.ndarray, classes: tuple[SegClass, ...], path: Path) -> np.ndarray:
    """Map an (H, W, 3) RGB label in the class colours to ids; white (255, 255, 255) means ignore.

    Raises:
        InputError: naming the file and the first colour that is no class colour.
    """
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    lookup = {(r << 16) | (g << 8) | b: c.id for c in classes for r, g, b in [c.rgb]}
    lookup[(255 << 16) | (255 << 8) | 255] = IGNORE_INDEX
    ids = np.full(codes.shape, 254, dtype=np.uint8)
    for code, class_id in lookup.items():
        ids[codes == code] = class_id
    unknown = ids == 254
    if unknown.any():
        code = int(codes[unknown][0])
        colour = (code >> 16, (code >> 8) & 255, code & 255)
        valid = ", ".join(f"{c.name}={c.rgb}" for c in classes)
        raise InputError(
            f"{path}: {int(unknown.sum())} pixels have colour {colour}, which is no class colour "
            f"({valid}); fix the label image or use labels_1D"
        )
    return ids


def check_ids(ids: np.ndarray, classes: tuple[SegClass, ...], path: Path) -> np.ndarray:
    """Fail on label ids that are neither a class nor IGNORE_INDEX."""
    known = np.isin(ids, [c.id for c in classes] + [IGNORE_INDEX])
    if not known.all():
        bad = sorted(set(np.unique(ids[~known]).tolist()))[:5]
        raise InputError(
            f"{path}: label values {bad} are not class ids 0-{len(classes) - 1} "
            f"(or {IGNORE_INDEX} = ignore); fix the label image"
        )
    return ids


def resolve_split_folder(folder: Path, split: str | None) -> Path:
    """Return the folder holding ``images/``: ``folder`` itself or ``folder/split``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: data-set folder not found")
    if find_subfolder(folder, ("images",)) is not None:
        return folder
    if split is not None and find_subfolder(folder, (split,)) is not None:
        return find_subfolder(folder, (split,))  # type: ignore[return-value]
    raise InputError(
        f"{folder}: no images/ folder; give an OSD split folder (train/ or test/) or the root with --split train|test"
    )


def load_osd(
    folder: str | Path,
    split: str | None = "train",
    db_range: tuple[float, float] = DEFAULT_DB_RANGE,
    tile_px: int = TILE_SIZE_PX,
    stride_px: int | None = None,
    nodata_value: int | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
) -> TileSet:
    """Read an OSD folder into 256² tiles with OSD class ids.

    Args:
        folder: an OSD split folder, or the root with ``split``.
        split: ``"train"`` or ``"test"`` when ``folder`` is the root.
        db_range: the dB span that 0..255 image values represent [I].
        tile_px: tile side.
        stride_px: tile step (default: no overlap).
        nodata_value: an 8-bit value meaning nodata (None: every pixel is valid).
        limit: read at most this many images (quick runs).
        progress: reports one step per image.

    Raises:
        InputError: missing folders, unreadable files, unknown colours or ids, size mismatches.
    """
    root = resolve_split_folder(Path(folder), split)
    image_dir = find_subfolder(root, ("images",))
    label_dir = find_subfolder(root, ("labels_1d",))
    rgb = label_dir is None
    if rgb:
        label_dir = find_subfolder(root, ("labels",))
    if image_dir is None or label_dir is None:
        raise InputError(f"{root}: an OSD folder needs images/ and labels/ (RGB) or labels_1D/ (ids)")
    pairs = pair_files(image_dir, label_dir)[:limit]
    parts = []
    with (progress or Progress()).stage("read OSD", len(pairs)) as stage:
        for image_path, label_path in pairs:
            pixels = read_grey(image_path)
            raw = read_label_image(label_path)
            ids = rgb_to_ids(raw, OSD_CLASSES, label_path) if raw.ndim == 3 else check_ids(raw, OSD_CLASSES, label_path)
            if ids.shape != pixels.shape:
                raise InputError(
                    f"{label_path}: label is {ids.shape[1]}x{ids.shape[0]} but its image is "
                    f"{pixels.shape[1]}x{pixels.shape[0]}; they must match"
                )
            valid = np.ones(pixels.shape, bool) if nodata_value is None else pixels != nodata_value
            parts.append(
                cut_tiles(
                    byte_to_db(pixels, db_range),
                    valid,
                    ids,
                    image_path.stem,
                    OSD_CLASSES,
                    db_range[0],
                    tile_px,
                    stride_px,
                )
            )
            stage.advance()
    return concat_tilesets(parts) if parts else empty_tileset(OSD_CLASSES, tile_px)
