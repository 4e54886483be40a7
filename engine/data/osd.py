"""The Oil Spill Detection (OSD) data-set layout of Krestenitis et al. (2019).

A split folder holds ``images/*.jpg`` (8-bit grey repeated in 3 channels) and either
``labels_1D/*.png`` (class ids 0-4) or ``labels/*.png`` (RGB in the OSD colours). The data-set root
holds ``train/`` and ``test/`` split folders; either the root (with ``split``) or a split folder can
be given. Each image is its own scene for the split by scene. Read it with
``engine.data.datasets.load_dataset("osd", folder)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.classes import IGNORE_INDEX, OSD_CLASSES, SegClass
from engine.data.folders import FolderDataset, read_label_image
from engine.errors import InputError
from engine.preprocess import PICTURE_DB_RANGE

#: The dB span 0..255 of an OSD/SOS picture is read as (the authors do not publish theirs; ``--image-db-range``).
DEFAULT_DB_RANGE = PICTURE_DB_RANGE


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


def check_ids(
    ids: np.ndarray, classes: tuple[SegClass, ...], path: Path, fix: str = "fix the label image"
) -> np.ndarray:
    """Fail on label ids that are neither a class nor IGNORE_INDEX (``fix`` ends the error line)."""
    known = np.isin(ids, [c.id for c in classes] + [IGNORE_INDEX])
    if not known.all():
        bad = sorted(set(np.unique(ids[~known]).tolist()))[:5]
        raise InputError(
            f"{path}: label values {bad} are not class ids 0-{len(classes) - 1} (or {IGNORE_INDEX} = ignore); {fix}"
        )
    return ids


def read_osd_labels(path: Path) -> np.ndarray:
    """Class ids of one OSD label file: ids (``labels_1D``) or RGB in the OSD colours (``labels``)."""
    raw = read_label_image(path)
    return rgb_to_ids(raw, OSD_CLASSES, path) if raw.ndim == 3 else check_ids(raw, OSD_CLASSES, path)


#: ``labels_1D`` (ids) is preferred to ``labels`` (RGB) when a split folder has both.
OSD = FolderDataset("OSD", OSD_CLASSES, ("images",), ("labels_1d", "labels"), read_osd_labels)
