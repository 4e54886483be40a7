"""Splits: a data set's split folder (``train/``, ``test/``) and the train/validation split by scene.

Neighbouring tiles of one scene share speckle statistics, wind and often the same slick; a random
split by tile would put near-copies on both sides and overstate validation scores, so
:func:`split_by_scene` never puts one scene on both sides (no leakage).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.data.folders import find_subfolder
from engine.data.tiles import TileSet
from engine.errors import InputError


def resolve_split_folder(folder: Path, split: str | None, image_folders: tuple[str, ...], name: str) -> Path:
    """Return the folder holding the images: ``folder`` itself (a split folder) or ``folder/split`` (the root).

    Raises:
        InputError: the folder is missing, or neither it nor ``folder/split`` holds an image folder.
    """
    if not folder.is_dir():
        raise InputError(f"{folder}: data-set folder not found")
    if find_subfolder(folder, image_folders) is not None:
        return folder
    split_folder = find_subfolder(folder, (split,)) if split else None
    if split_folder is not None:
        return split_folder
    raise InputError(
        f"{folder}: no {'/'.join(image_folders)} folder; give a split folder of the {name} data set (train/ or test/) "
        "or the root with --split train|test"
    )


def split_by_scene(tiles: TileSet, validation_share: float, seed: int = 0) -> tuple[TileSet, TileSet]:
    """Split tiles into (train, validation) by whole scenes.

    With two or more scenes, ``round(share * scenes)`` scenes (at least one, and never all) go to
    validation, chosen at random from ``seed``. With a single scene the split is spatial: the
    bottom band of tile rows (about ``share`` of the tiles) is validation, and training tiles that
    overlap it are dropped, so no pixel is on both sides.

    Args:
        tiles: all labelled tiles.
        validation_share: fraction in (0, 1); 0 returns an empty validation set.
        seed: chooses the validation scenes.

    Raises:
        InputError: when the share is outside [0, 1) or there are no tiles.
    """
    if not 0.0 <= validation_share < 1.0:
        raise InputError(f"--val-share must be in [0, 1), got {validation_share}")
    if len(tiles) == 0:
        raise InputError("no labelled tiles to split; check the labels cover the rasters")
    indices = np.arange(len(tiles))
    if validation_share == 0.0:
        return tiles, tiles.subset([])
    scenes = tiles.scenes()
    if len(scenes) >= 2:
        count = min(max(1, round(validation_share * len(scenes))), len(scenes) - 1)
        chosen = set(np.random.default_rng(seed).permutation(len(scenes))[:count].tolist())
        val_scenes = {scenes[i] for i in chosen}
        is_val = np.array([s in val_scenes for s in tiles.scene_ids])
        return tiles.subset(indices[~is_val]), tiles.subset(indices[is_val])
    return _split_single_scene(tiles, validation_share)


def _split_single_scene(tiles: TileSet, validation_share: float) -> tuple[TileSet, TileSet]:
    tile_px = tiles.images_db.shape[-1]
    origins = np.array(tiles.origins if tiles.origins else [(0, 0)] * len(tiles), dtype=np.int64).reshape(-1, 2)
    indices = np.arange(len(tiles))
    for axis in (0, 1):  # bottom band of rows first, else the right band of columns
        starts = origins[:, axis]
        distinct = np.unique(starts)
        if len(distinct) < 2:
            continue
        # The last bands holding about `share` of the tiles (at least one band) become validation.
        counts = np.array([(starts == s).sum() for s in distinct])
        tail = np.cumsum(counts[::-1])[::-1]
        eligible = np.nonzero(tail <= max(validation_share * len(tiles), counts[-1]))[0]
        boundary = distinct[max(int(eligible[0]), 1)] if len(eligible) else distinct[-1]
        is_val = starts >= boundary
        overlaps = (~is_val) & (starts + tile_px > boundary)
        train = indices[~is_val & ~overlaps]
        if len(train):
            return tiles.subset(train), tiles.subset(indices[is_val])
    raise InputError(
        "one labelled scene is too small to hold separate training and validation tiles (it needs "
        f"at least two tiles of {tile_px} px side by side); add a scene or set --val-share 0"
    )
