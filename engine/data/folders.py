"""Shared reading for image/label folder data sets (OSD, SOS): the declaration, pairing files, 8-bit images.

A folder data set is declared once as a :class:`FolderDataset` (its classes, folder names and how a
label file becomes class ids) and read by :func:`engine.data.datasets.load_dataset`, which all of them share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageMode

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


@contextmanager
def open_picture(path: Path, what: str, fix: str) -> Iterator[Image.Image]:
    """Open an image file for reading; PIL's OSError (unreadable, truncated) becomes one line naming the file."""
    try:
        with Image.open(path) as image:
            yield image
    except OSError as error:
        raise InputError(f"{path}: cannot read the {what} ({error}); {fix}") from error


def is_8bit(image: Image.Image) -> bool:
    """Return True for 8-bit pictures (and 1-bit ones); False for 16-bit, 32-bit integer and float images."""
    return ImageMode.getmode(image.mode).typestr in ("|u1", "|b1")


def bit_depth(image: Image.Image) -> str:
    """Describe a picture's pixel type for an error line: ``16-bit``, ``32-bit float``."""
    dtype = np.dtype(ImageMode.getmode(image.mode).typestr)
    return f"{dtype.itemsize * 8}-bit" + (" float" if dtype.kind == "f" else "")


def read_grey(path: Path) -> np.ndarray:
    """Return an 8-bit image as (H, W) uint8; RGB images (grey repeated) are averaged over channels.

    16-bit and float images are refused, not squeezed into 0..255: converting them to 8-bit clips
    (a 0-4000 image became mostly 255) or zeroes them (floats), and the tiles would look valid.

    Raises:
        InputError: naming the file, when it cannot be read or is not an 8-bit picture.
    """
    with open_picture(path, "image", "re-export it as JPEG or PNG") as image:
        if not is_8bit(image):
            raise InputError(
                f"{path}: a {bit_depth(image)} image (mode {image.mode}); data-set folders "
                "hold 8-bit pictures (JPEG/PNG): export it as 8-bit, or give a calibrated 16-bit/float GeoTIFF "
                "as --scene RASTER with --labels FILE or --label-raster FILE"
            )
        array = np.asarray(image if image.mode in ("L", "RGB") else image.convert("RGB"))
    if array.ndim == 3:
        array = array[..., :3].mean(axis=2).round().astype(np.uint8)
    return array.astype(np.uint8)


def read_label_image(path: Path) -> np.ndarray:
    """Return a label image as uint8: (H, W) for single-band PNGs, (H, W, 3) for RGB/palette ones.

    Raises:
        InputError: naming the file, when it cannot be read or holds values no 8-bit class id can take.
    """
    with open_picture(path, "label image", "labels must be PNG") as image:
        return label_values(image, path)


def label_values(image: Image.Image, path: Path) -> np.ndarray:
    """Return an open label image as uint8: single-band values as they are, other modes as RGB colours.

    16-bit, 32-bit and float labels (label rasters saved wide) are kept when every value is a whole
    number 0-255 and refused otherwise: a cast to uint8 would wrap 257 to 1, a silent wrong class.
    """
    if image.mode in ("L", "1"):
        return np.asarray(image.convert("L"))
    if not is_8bit(image):
        return byte_ids(np.asarray(image), path)
    return np.asarray(image.convert("RGB"))


def byte_ids(values: np.ndarray, path: Path) -> np.ndarray:
    """Return ``values`` as uint8 class ids; refuse negative, fractional or >255 values in one line."""
    bad = (values < 0) | (values > 255) | (values != np.round(values))
    if bad.any():
        shown = np.unique(values[bad])[:3].tolist()
        raise InputError(
            f"{path}: label values {shown} do not fit an 8-bit label (whole numbers 0-255); "
            "save the labels as an 8-bit PNG"
        )
    return values.astype(np.uint8)


def find_subfolder(root: Path, names: tuple[str, ...]) -> Path | None:
    """Return the first of ``names`` that is a folder under ``root`` (case-insensitive), or None."""
    if not root.is_dir():
        return None
    children = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    for name in names:
        if name in children:
            return children[name]
    return None
