"""The Deep-SAR Oil Spill (SOS) layout of Zhu et al. (2022): 256² images with binary masks, white = oil.

A split folder holds an image folder and a mask folder. Their names vary between copies of the
data set, so any of ``sat``, ``images``, ``image``, ``img`` and ``gt``, ``masks``, ``mask``,
``labels``, ``label`` is accepted; images and masks pair by file name (a ``_sat``/``_mask`` tag is
dropped). Classes are :data:`BINARY_CLASSES` (0 sea, 1 oil).

Notes:
    Some SOS masks are not strictly binary (Dong et al. 2023 found grey values). A mask pixel is oil
    when its grey value is above 127.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.classes import BINARY_CLASSES
from engine.data.folders import find_subfolder, pair_files, read_grey
from engine.data.osd import DEFAULT_DB_RANGE
from engine.data.tiles import TILE_SIZE_PX, TileSet, byte_to_db, concat_tilesets, cut_tiles, empty_tileset
from engine.errors import InputError
from engine.progress import Progress

IMAGE_FOLDER_NAMES = ("sat", "images", "image", "img", "imgs")
MASK_FOLDER_NAMES = ("gt", "masks", "mask", "labels", "label")


def load_sos(
    folder: str | Path,
    split: str | None = "train",
    db_range: tuple[float, float] = DEFAULT_DB_RANGE,
    tile_px: int = TILE_SIZE_PX,
    limit: int | None = None,
    progress: Progress | None = None,
) -> TileSet:
    """Read an SOS folder (split folder, or root with ``split``) into binary-labelled tiles.

    Raises:
        InputError: missing folders, unreadable files or size mismatches.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: data-set folder not found")
    if find_subfolder(root, IMAGE_FOLDER_NAMES) is None and split and find_subfolder(root, (split,)):
        root = find_subfolder(root, (split,))  # type: ignore[assignment]
    image_dir = find_subfolder(root, IMAGE_FOLDER_NAMES)
    mask_dir = find_subfolder(root, MASK_FOLDER_NAMES)
    if image_dir is None or mask_dir is None:
        raise InputError(
            f"{root}: an SOS folder needs an image folder ({'/'.join(IMAGE_FOLDER_NAMES)}) and a mask "
            f"folder ({'/'.join(MASK_FOLDER_NAMES)})"
        )
    pairs = pair_files(image_dir, mask_dir)[:limit]
    parts = []
    with (progress or Progress()).stage("read SOS", len(pairs)) as stage:
        for image_path, mask_path in pairs:
            pixels = read_grey(image_path)
            mask = read_grey(mask_path)
            if mask.shape != pixels.shape:
                raise InputError(
                    f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is "
                    f"{pixels.shape[1]}x{pixels.shape[0]}; they must match"
                )
            labels = (mask > 127).astype(np.uint8)
            parts.append(
                cut_tiles(
                    byte_to_db(pixels, db_range),
                    np.ones(pixels.shape, bool),
                    labels,
                    image_path.stem,
                    BINARY_CLASSES,
                    db_range[0],
                    tile_px,
                )
            )
            stage.advance()
    return concat_tilesets(parts) if parts else empty_tileset(BINARY_CLASSES, tile_px)
