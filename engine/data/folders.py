"""Shared reading for image/label folder data sets (OSD, SOS): the declaration, pairing files, 8-bit images.

A folder data set is declared once as a :class:`FolderDataset` (its classes, folder names and how a
label file becomes class ids) and read by :func:`engine.data.datasets.load_dataset`, which all of them share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.classes import SegClass
from engine.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
#: File-name endings that some data sets add to tell an image from its mask (``0001_sat.jpg``).
STEM_TAGS = ("_sat", "_mask", "_gt", "_label", "_img", "_image")


@dataclass(frozen=True)
class FolderDataset:
    """What makes one image/label folder data set different from another; the reading is shared.

    Attributes:
        name: shown in progress and errors (``OSD``).
        classes: the class scheme of its labels.
        image_folders: accepted names of the image folder, first match wins (case-insensitive).
        label_folders: accepted names of the label folder, first match wins.
        read_labels: reads one label file as (H, W) uint8 class ids or ``IGNORE_INDEX``, raising
            :class:`~engine.errors.InputError` naming the file on bad values.
    """

    name: str
    classes: tuple[SegClass, ...]
    image_folders: tuple[str, ...]
    label_folders: tuple[str, ...]
    read_labels: Callable[[Path], np.ndarray]


def pair_key(path: Path) -> str:
    """Return the file's stem without a tag like ``_sat`` / ``_mask``, used to pair images with labels."""
    stem = path.stem
    for tag in STEM_TAGS:
        if stem.lower().endswith(tag):
            return stem[: -len(tag)]
    return stem


def list_images(folder: Path) -> list[Path]:
    """Image files in ``folder`` (not recursive), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def pair_files(image_dir: Path, label_dir: Path) -> list[tuple[Path, Path]]:
    """Match every image with the label file of the same key; fail on images without a label.

    Raises:
        InputError: when the image folder is empty or an image has no label file.
    """
    images = list_images(image_dir)
    if not images:
        raise InputError(f"{image_dir}: no image files ({', '.join(IMAGE_SUFFIXES)}); check the data-set folder")
    labels = {pair_key(p): p for p in list_images(label_dir)}
    pairs = []
    missing = []
    for image in images:
        label = labels.get(pair_key(image))
        if label is None:
            missing.append(image.name)
        else:
            pairs.append((image, label))
    if missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise InputError(
            f"{label_dir}: no label file for {len(missing)} image(s) ({shown}); "
            "each image needs a label with the same name"
        )
    return pairs


def read_grey(path: Path) -> np.ndarray:
    """Return an 8-bit image as (H, W) uint8; RGB images (grey repeated) are averaged over channels."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB") if image.mode not in ("L", "RGB") else image)
    except OSError as error:
        raise InputError(f"{path}: cannot read the image ({error}); re-export it as JPEG or PNG") from error
    if array.ndim == 3:
        array = array[..., :3].mean(axis=2).round().astype(np.uint8)
    return array.astype(np.uint8)


def read_label_image(path: Path) -> np.ndarray:
    """Return a label image as uint8: (H, W) for single-band PNGs, (H, W, 3) for RGB/palette ones."""
    try:
        with Image.open(path) as image:
            if image.mode in ("L", "I", "I;16", "1"):
                return np.asarray(image.convert("L") if image.mode == "1" else image).astype(np.uint8)
            return np.asarray(image.convert("RGB")).astype(np.uint8)
    except OSError as error:
        raise InputError(f"{path}: cannot read the label image ({error}); labels must be PNG") from error


def find_subfolder(root: Path, names: tuple[str, ...]) -> Path | None:
    """Return the first of ``names`` that is a folder under ``root`` (case-insensitive), or None."""
    if not root.is_dir():
        return None
    children = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    for name in names:
        if name in children:
            return children[name]
    return None
