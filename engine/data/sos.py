"""The Deep-SAR Oil Spill (SOS) layout of Zhu et al. (2022): 256² images with binary masks, white = oil.

A split folder holds an image folder and a mask folder. Their names vary between copies of the
data set, so any of ``sat``, ``images``, ``image``, ``img`` and ``gt``, ``masks``, ``mask``,
``labels``, ``label`` is accepted; images and masks pair by file name (a ``_sat``/``_mask`` tag is
dropped). Classes are :data:`BINARY_CLASSES` (0 sea, 1 oil). Read it with
``engine.data.datasets.load_dataset("sos", folder)``.

Notes:
    Some SOS masks are not strictly binary (Dong et al. 2023 found grey values). A mask pixel is oil
    when its grey value is above 127.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.classes import BINARY_CLASSES
from engine.data.folders import FolderDataset, read_grey

IMAGE_FOLDER_NAMES = ("sat", "images", "image", "img", "imgs")
MASK_FOLDER_NAMES = ("gt", "masks", "mask", "labels", "label")


def read_sos_mask(path: Path) -> np.ndarray:
    """Class ids of one SOS mask: oil (1) where the grey value is above 127, else sea (0)."""
    return (read_grey(path) > 127).astype(np.uint8)


SOS = FolderDataset("SOS", BINARY_CLASSES, IMAGE_FOLDER_NAMES, MASK_FOLDER_NAMES, read_sos_mask)
