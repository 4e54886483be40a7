"""The Deep-SAR Oil Spill (SOS) layout of Zhu et al. (2022): 256² images with binary masks, white = oil.

A split folder holds an image folder and a mask folder. Their names vary between copies of the
data set, so any of ``sat``, ``images``, ``image``, ``img`` and ``gt``, ``masks``, ``mask``,
``labels``, ``label`` is accepted; images and masks pair by file name (a ``_sat``/``_mask`` tag is
dropped). Classes are :data:`BINARY_CLASSES` (0 sea, 1 oil). Read it with
``engine.data.datasets.load_dataset("sos", folder)``.

Notes:
    Masks come in several conventions, and a wrong guess is silent (every pixel sea), so each mask
    file is read by the rule that fits it (:func:`read_sos_mask`): 0/1 values, a palette, or grey
    values. Some SOS masks are not strictly binary (Dong et al. 2023 found grey values, and JPEG
    adds noise near 0 and 255): a grey pixel is oil when its value is above 127.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from engine.classes import BINARY_CLASSES
from engine.data.folders import FolderDataset, label_values, open_picture
from engine.errors import InputError

IMAGE_FOLDER_NAMES = ("sat", "images", "image", "img", "imgs")
MASK_FOLDER_NAMES = ("gt", "masks", "mask", "labels", "label")
JPEG_SUFFIXES = (".jpg", ".jpeg")


def read_sos_mask(path: Path) -> np.ndarray:
    """Class ids of one SOS mask: oil (1) or sea (0), by the rule that fits the file.

    - A palette ("P") mask is read by its palette index: 0 is sea, any other index is oil, whatever
      colour it has (red, white). Index 0 must be black and no oil index black; otherwise the
      colours contradict the indices and the mask is refused.
    - A lossless mask (not a JPEG) whose values are all 0 or 1 (saved as 0/1, often from numpy or GIS
      tools) has 1 = oil. In a JPEG, 1 is noise around black sea.
    - Otherwise a pixel is oil when its brightest channel is above 127: white (or coloured) oil on
      black, with the JPEG noise near 0 and 255 of the distributed masks (grey masks read as before).

    Raises:
        InputError: naming the file, when it cannot be read, holds values above 255, or has an
            ambiguous palette.
    """
    with open_picture(path, "mask", "re-export it as PNG (0 = sea, 1 or 255 = oil)") as image:
        if image.mode == "P":
            return palette_oil(image, path)
        values = label_values(image, path)
    if values.ndim == 3:
        values = values.max(axis=2)
    if path.suffix.lower() not in JPEG_SUFFIXES and np.isin(values, (0, 1)).all():
        return values.astype(np.uint8)
    return (values > 127).astype(np.uint8)


def palette_oil(image: Image.Image, path: Path) -> np.ndarray:
    """Oil (1) where a palette mask's index is not 0; refuse a palette whose colours say otherwise.

    Averaging the palette colours (as a grey conversion does) made a red oil mask (255, 0, 0) grey 85,
    sea; the index is what the tool that drew the mask wrote.
    """
    indices = np.asarray(image)
    colours = np.zeros((256, 3), np.uint8)  # a short palette leaves the missing entries black
    palette = np.asarray(image.getpalette() or [], np.uint8).reshape(-1, 3)[:256]
    colours[: len(palette)] = palette
    for index in sorted({0, *np.unique(indices).tolist()}):
        if (index == 0) == bool(colours[index].any()):  # sea not black, or an oil index black
            raise InputError(
                f"{path}: palette index {index} is colour {tuple(colours[index].tolist())}, but palette masks are "
                "read by index (0 = sea, any other = oil) with sea black; save the mask as greyscale (0 = sea, "
                "255 = oil)"
            )
    return (indices != 0).astype(np.uint8)


SOS = FolderDataset("SOS", BINARY_CLASSES, IMAGE_FOLDER_NAMES, MASK_FOLDER_NAMES, read_sos_mask)
