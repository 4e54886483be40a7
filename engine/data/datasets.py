"""The registry of folder data sets and the one loader they share (as timm registers its models by name).

Every folder data set (OSD, SOS, or one added to :data:`DATASETS` as a :class:`FolderDataset`) is read by
:func:`load_dataset` with the same options and the same errors: the split folder, tile stride, an
8-bit nodata value, a limit on images, one :class:`~engine.errors.InputError` when no tile is left, and
one warning when no tile holds an oil pixel (nearly always a mask-convention mistake).
The labelled-scene format (rasters with polygons) is read by :func:`engine.data.scenes.load_labelled_scenes`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from engine.data.folders import FolderDataset, find_subfolder, pair_files, read_grey
from engine.data.osd import DEFAULT_DB_RANGE, OSD
from engine.data.sos import SOS
from engine.data.split import resolve_split_folder
from engine.data.tiles import (
    TILE_SIZE_PX,
    TileSet,
    byte_to_db,
    concat_tilesets,
    cut_tiles,
    empty_tileset,
    require_tiles,
)
from engine.errors import InputError
from engine.progress import Progress

log = logging.getLogger("dakd")

#: Folder data sets by the name ``--data-format`` uses; a new one is a declaration added here.
DATASETS: dict[str, FolderDataset] = {"osd": OSD, "sos": SOS}


def load_dataset(
    key: str,
    folder: str | Path,
    split: str | None = "train",
    *,
    db_range: tuple[float, float] = DEFAULT_DB_RANGE,
    tile_px: int = TILE_SIZE_PX,
    stride_px: int | None = None,
    nodata: int | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
) -> TileSet:
    """Read a registered folder data set into tiles with its classes; each image is its own scene.

    Args:
        key: a :data:`DATASETS` name (``osd``, ``sos``).
        folder: a split folder, or the root with ``split``.
        split: the sub-folder of the root (``train``, ``test``); None: ``folder`` is the split folder.
        db_range: the dB span that 0..255 image values represent [I].
        tile_px: tile side.
        stride_px: tile step (default: no overlap).
        nodata: an 8-bit value meaning nodata (None: every pixel is valid).
        limit: read at most this many images (quick runs).
        progress: reports one step per image.

    Raises:
        InputError: missing folders, unreadable files, bad label values, size mismatches, or no usable tile.
    """
    dataset = registered(key)
    root = split_folder(key, folder, split)
    image_dir = find_subfolder(root, dataset.image_folders)
    label_dir = find_subfolder(root, dataset.label_folders)
    if image_dir is None or label_dir is None:
        images, labels = "/".join(dataset.image_folders), "/".join(dataset.label_folders)
        raise InputError(
            f"{root}: a folder of the {dataset.name} data set needs an image folder ({images}) "
            f"and a label folder ({labels})"
        )
    pairs = pair_files(image_dir, label_dir)[:limit]
    parts = []
    with (progress or Progress()).stage(f"read {dataset.name}", len(pairs)) as stage:
        for image_path, label_path in pairs:
            parts.append(_read_pair(dataset, image_path, label_path, db_range, tile_px, stride_px, nodata))
            stage.advance()
    tiles = require_tiles(concat_tilesets(parts) if parts else empty_tileset(dataset.classes, tile_px), str(root))
    warn_without_oil(tiles, root, dataset.name)
    return tiles


def registered(key: str) -> FolderDataset:
    """Return the :data:`DATASETS` entry ``key``, or fail in one line naming the known ones."""
    if key not in DATASETS:
        raise InputError(f"unknown data set {key!r}; use one of {', '.join(DATASETS)}")
    return DATASETS[key]


def split_folder(key: str, folder: str | Path, split: str | None) -> Path:
    """Return the folder :func:`load_dataset` reads for these options, so that a report can name what it scored.

    Raises:
        InputError: an unknown data set, or no split folder (:func:`~engine.data.split.resolve_split_folder`).
    """
    dataset = registered(key)
    return resolve_split_folder(Path(folder), split, dataset.image_folders, dataset.name)


def warn_without_oil(tiles: TileSet, folder: Path, name: str) -> None:
    """Warn in one line when no tile holds an oil pixel.

    A whole data set without oil is nearly always a label-convention mistake (masks read as all sea),
    which would otherwise show only as an oil IoU of 0 after a run, or as a model that never finds oil.
    """
    if tiles.class_pixel_counts().get("oil", 1) == 0:
        log.warning(
            "%s: none of the %d %s tiles read holds a pixel labelled oil; check how the labels mark oil "
            "(SOS masks: 1 or white on 0/black; OSD: class id 1 or the oil colour)",
            folder,
            len(tiles),
            name,
        )


def _read_pair(
    dataset: FolderDataset,
    image_path: Path,
    label_path: Path,
    db_range: tuple[float, float],
    tile_px: int,
    stride_px: int | None,
    nodata: int | None,
) -> TileSet:
    """Tiles of one image and its label file."""
    pixels = read_grey(image_path)
    labels = dataset.read_labels(label_path)
    if labels.shape != pixels.shape:
        raise InputError(
            f"{label_path}: label is {labels.shape[1]}x{labels.shape[0]} but its image is "
            f"{pixels.shape[1]}x{pixels.shape[0]}; they must match"
        )
    valid = np.ones(pixels.shape, bool) if nodata is None else pixels != nodata
    return cut_tiles(
        byte_to_db(pixels, db_range), valid, labels, image_path.stem, dataset.classes, db_range[0], tile_px, stride_px
    )
