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
#: Folder names (lower case) that only one data set's layout has: another ``--data-format`` is refused on them.
#: Without this, ``sos`` read an OSD folder (``images/`` and ``labels/`` are SOS names too), its colour labels as
#: masks, and scored it differently without a word.
LAYOUT_MARKERS: dict[str, tuple[str, ...]] = {"osd": ("labels_1d",), "sos": ("sat", "gt")}
#: The split of a root read when ``--split`` is not given (None); a split folder given directly is then read as it
#: is (see :func:`split_folder`). Scripts rely on it, so it stays train, and ``dakd evaluate`` says so.
DEFAULT_SPLIT = "train"


def load_dataset(
    key: str,
    folder: str | Path,
    split: str | None = None,
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
        split: the sub-folder of the root (``train``, ``test``); None (not given): ``folder`` itself when it is a
            split folder, else its :data:`DEFAULT_SPLIT` sub-folder.
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

    ``split`` None means not given: a split folder (one holding the images) given directly is read as it is, a
    root's :data:`DEFAULT_SPLIT` folder is read. A ``split`` given on a split folder must be its own name; another
    one is refused, as reading the folder anyway scored training tiles as held-out ones (``--split test`` on
    ``train/``) or trained on the held-out ones (``--split train`` on ``test/``).

    Raises:
        InputError: an unknown data set, a folder laid out as another data set, a split that is not there
            (naming the splits that are), or no split folder (:func:`~engine.data.split.resolve_split_folder`).
    """
    dataset = registered(key)
    folder = Path(folder)
    refuse_other_layout(key, folder)
    check_split(dataset, folder, split)
    resolved = resolve_split_folder(folder, split or DEFAULT_SPLIT, dataset.image_folders, dataset.name)
    refuse_other_layout(key, resolved)
    return resolved


def check_split(dataset: FolderDataset, folder: Path, split: str | None) -> None:
    """Refuse a ``split`` that ``folder`` does not hold, in one line naming the splits it does hold.

    None (not given) accepts a split folder as it is and asks a root for its :data:`DEFAULT_SPLIT` folder.
    """
    if not folder.is_dir():
        return
    images = find_subfolder(folder, dataset.image_folders)
    if images is not None:
        if split and split.lower() != folder.name.lower():
            sibling = find_subfolder(folder.resolve().parent, (split.lower(),))
            raise InputError(
                f"{folder}: it holds {images.name}/ itself (one split, with no {split}/ folder in it), so --split "
                f"{split} cannot be read from it; give {sibling or f'the {split} folder'} as --dataset, or leave out "
                "--split to read this folder as it is"
            )
        return
    split = split or DEFAULT_SPLIT
    if find_subfolder(folder, (split,)) is not None:
        return
    splits = [p.name for p in sorted(folder.iterdir()) if p.is_dir() and find_subfolder(p, _all_image_folders())]
    if splits:
        raise InputError(
            f"{folder}: no {split}/ split folder; the splits here are {', '.join(splits)}: give one of them as "
            "--split, or another data-set folder as --dataset"
        )


def _all_image_folders() -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for dataset in DATASETS.values() for name in dataset.image_folders))


def refuse_other_layout(key: str, folder: Path) -> None:
    """Refuse a folder laid out as another registered data set (:data:`LAYOUT_MARKERS`), naming its --data-format.

    Marker folders that ``key``'s own data set reads (a declared copy of SOS reads ``sat/``) are no sign against it.
    """
    if not folder.is_dir():
        return
    dataset = registered(key)
    names = {p.name.lower(): p.name for p in folder.iterdir() if p.is_dir()}
    own = {*dataset.image_folders, *dataset.label_folders}
    if set(names) & set(LAYOUT_MARKERS.get(key, ())):
        return
    for other, markers in LAYOUT_MARKERS.items():
        found = [names[m] + "/" for m in markers if m in names and m not in own]
        if other != key and found:
            raise InputError(
                f"{folder}: a folder of the {DATASETS[other].name} data set ({', '.join(found)}), not "
                f"{dataset.name}; use --data-format {other}"
            )


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
