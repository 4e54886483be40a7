"""Generated (image, soft label) pairs from SAR-JointNet, as a data-set folder.

Layout::

    DIR/dataset.json            manifest: format, count, classes, dB range, b, sampler, source model
    DIR/images/000000.npy       float16 (H, W) σ0 in dB
    DIR/soft_labels/000000.npy  float16 (C, H, W) class probabilities, summing to 1 over C
    DIR/samples.png             a grid of samples and their argmax labels, for a person to judge

``.npy`` files are read with ``allow_pickle=False``, so a data-set folder from elsewhere cannot run
code. Items are read lazily (memory-mapped), so a large generated set need not fit in memory.

Notes:
    float16 rounding leaves the stored probabilities summing to 1 within about 1e-3 per pixel;
    readers renormalise in float32.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.classes import SegClass
from engine.errors import InputError
from engine.io.atomic import EngineFolder

FORMAT_NAME = "dakd-generated-pairs"
FORMAT_VERSION = 1
MANIFEST = "dataset.json"
#: A folder of generated pairs as :class:`GeneratedWriter` and ``generate_pairs`` leave it: the only kind of
#: folder ``dakd generate --overwrite`` (and a fine-tune's ``generated/``) replaces.
GENERATED_PAIRS = EngineFolder(
    "generated pair set", (MANIFEST, "images/*.npy", "soft_labels/*.npy", "samples.png"), marker=MANIFEST
)


class GeneratedWriter:
    """Appends pairs to a (temporary) data-set folder; :meth:`finish` writes the manifest."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        (self.folder / "images").mkdir(parents=True, exist_ok=True)
        (self.folder / "soft_labels").mkdir(parents=True, exist_ok=True)
        self.count = 0

    def add(self, images_db: np.ndarray, soft_labels: np.ndarray) -> None:
        """Write a batch: images (N, H, W) dB, soft labels (N, C, H, W) probabilities."""
        for image, soft in zip(images_db, soft_labels):
            name = f"{self.count:06d}.npy"
            np.save(self.folder / "images" / name, image.astype(np.float16), allow_pickle=False)
            np.save(self.folder / "soft_labels" / name, soft.astype(np.float16), allow_pickle=False)
            self.count += 1

    def finish(self, classes: tuple[SegClass, ...], metadata: dict[str, Any]) -> Path:
        """Write ``dataset.json`` and return its path."""
        manifest = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "count": self.count,
            "classes": [{"id": c.id, "name": c.name, "rgb": list(c.rgb)} for c in classes],
            "image_units": "db",
            "soft_label_dtype": "float16",
            **metadata,
        }
        path = self.folder / MANIFEST
        path.write_text(json.dumps(manifest, indent=2))
        return path


@dataclass
class GeneratedSet:
    """A generated data-set folder opened for reading."""

    folder: Path
    manifest: dict[str, Any]
    #: the stored pairs this set reads, in order (None: all of them); see :meth:`subset`
    indices: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.manifest["count"]) if self.indices is None else len(self.indices)

    def subset(self, keep: np.ndarray) -> GeneratedSet:
        """Return the same folder read through ``keep`` (positions in this set): what a consistency gate leaves."""
        positions = np.asarray(keep, dtype=np.int64)
        stored = positions if self.indices is None else self.indices[positions]
        return GeneratedSet(self.folder, self.manifest, stored)

    def _stored(self, index: int) -> int:
        return int(index if self.indices is None else self.indices[index])

    @property
    def num_classes(self) -> int:
        """Number of classes of the soft labels."""
        return len(self.manifest["classes"])

    def image_db(self, index: int) -> np.ndarray:
        """float32 (H, W) dB image of pair ``index``."""
        return self._load("images", index)

    def soft_label(self, index: int) -> np.ndarray:
        """float32 (C, H, W) probabilities of pair ``index``, renormalised to sum to 1."""
        soft = self._load("soft_labels", index)
        return soft / np.clip(soft.sum(axis=0, keepdims=True), 1e-6, None)

    def _load(self, kind: str, index: int) -> np.ndarray:
        """Read one stored array as float32; a missing or damaged file is refused by name, not an internal error."""
        path = self.folder / kind / f"{self._stored(index):06d}.npy"
        try:
            return np.load(path, allow_pickle=False).astype(np.float32)
        except (OSError, ValueError, EOFError) as error:
            raise InputError(f"{path}: cannot read this generated pair ({error}); regenerate the data set") from None


def open_generated(folder: str | Path) -> GeneratedSet:
    """Open a folder written by ``dakd generate``.

    Raises:
        InputError: when the folder or its manifest is missing or of another format.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise InputError(f"{folder}: no {MANIFEST}; give a folder written by 'dakd generate'")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: unreadable manifest ({error}); regenerate the data set") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise InputError(f"{path}: not a generated-pairs data set (format {found!r})")
    count, classes = manifest.get("count"), manifest.get("classes")
    if type(count) is not int or count < 0 or not isinstance(classes, list) or not classes:  # a bool is no count
        raise InputError(f"{path}: damaged manifest (no pair count or classes); regenerate the data set")
    missing = [i for i in (0, count - 1) if count and not (folder / "soft_labels" / f"{i:06d}.npy").is_file()]
    if missing:
        raise InputError(f"{folder}: pair {missing[0]} is missing; regenerate the data set")
    return GeneratedSet(folder, manifest)


def sample_grid_png(
    path: Path,
    images_db: np.ndarray,
    soft_labels: np.ndarray,
    classes: tuple[SegClass, ...],
    db_range: tuple[float, float],
    columns: int = 8,
) -> None:
    """Save a PNG grid: each generated image above its argmax label in the class colours."""
    from PIL import Image

    from engine.data.tiles import db_to_byte

    count = min(len(images_db), columns * 4)
    if count == 0:
        return
    columns = min(columns, count)
    rows = -(-count // columns)
    height, width = images_db.shape[-2:]
    palette = np.zeros((256, 3), np.uint8)
    for seg_class in classes:
        palette[seg_class.id] = seg_class.rgb
    canvas = np.full((rows * (2 * height + 4), columns * (width + 4), 3), 255, np.uint8)
    for index in range(count):
        row, col = divmod(index, columns)
        top, left = row * (2 * height + 4), col * (width + 4)
        grey = db_to_byte(images_db[index].astype(np.float32), db_range)
        canvas[top : top + height, left : left + width] = grey[..., None]
        ids = soft_labels[index].argmax(axis=0)
        canvas[top + height : top + 2 * height, left : left + width] = palette[ids]
    Image.fromarray(canvas).save(path)
