"""Simulated tile data sets in the OSD and SOS folder layouts (for training and for testing the loaders).

Each tile is its own simulated scene of the tile size, drawn with seed ``tile_seed(seed, index)``
from one :class:`SceneConfig` (so spill sizes, ship counts etc. follow the config scaled to the
tile). The dB image is optionally median-filtered (the OSD authors applied a 7x7 median) and mapped
linearly to 8 bits over ``db_range``: ``byte = round((clip(dB, low, high) - low) / (high - low) * 255)``
(:func:`engine.data.tiles.db_to_byte`; the loaders invert it with ``byte_to_db``). The default range
is ``engine.data.osd.DEFAULT_DB_RANGE`` (-35 to +5 dB), the loaders' default.

Layouts (``<id>`` is ``sim_00000``, ``sim_00001``, ...)::

    osd:  images/<id>.jpg      8-bit grey repeated in 3 channels (JPEG quality 95)
          labels/<id>.png      RGB in the OSD colours; white (255, 255, 255) = ignore/nodata
          labels_1D/<id>.png   8-bit class ids 0-4; 255 = ignore/nodata
    sos:  sat/<id>_sat.jpg     8-bit grey repeated in 3 channels (JPEG quality 95)
          gt/<id>_mask.png     8-bit grey, 255 = oil, 0 = everything else (ignore -> 0)

Both write ``dataset.json`` at the root: format, encoding, seeds, config and per-tile class counts.
``dakd simulate-tiles`` turns nodata borders off (:data:`TILE_DEFAULTS`) unless the options set them.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from engine import __version__
from engine.classes import IGNORE_INDEX, OIL, OSD_CLASSES
from engine.data.osd import DEFAULT_DB_RANGE
from engine.data.synth.config import SceneConfig
from engine.data.synth.scene import MAX_SEED, SimulatedScene, check_seed, simulate_scene
from engine.data.synth.writers import label_rgb
from engine.data.tiles import db_to_byte
from engine.errors import InputError
from engine.io.atomic import EngineFolder, Inputs, atomic_output_dir
from engine.preprocess import from_linear
from engine.progress import Progress

TILE_FORMATS = ("osd", "sos")
JPEG_QUALITY = 95
MAX_TILES = 1_000_000
#: SceneConfig changes that ``dakd simulate-tiles`` starts from: 256² tiles without nodata borders.
TILE_DEFAULTS: dict[str, Any] = {"width_px": 256, "height_px": 256, "nodata_probability": 0.0}
#: A data set written by :func:`write_tiles` (either layout): the only kind of folder ``--overwrite`` replaces.
SIMULATED_TILES = EngineFolder(
    "simulated tile data set",
    (
        "dataset.json",
        "images/sim_*.jpg",
        "labels/sim_*.png",
        "labels_1D/sim_*.png",
        "sat/sim_*_sat.jpg",
        "gt/sim_*_mask.png",
    ),
    marker="dataset.json",
)


def tile_seed(seed: int, index: int) -> int:
    """Seed of tile ``index`` in a data set made with ``seed`` (53-bit, from numpy's SeedSequence)."""
    words = np.random.SeedSequence([seed, index]).generate_state(2, np.uint32)
    return int((int(words[0]) << 21 | int(words[1]) >> 11) % (MAX_SEED + 1))


def tile_image_db(scene: SimulatedScene, median_px: int = 0) -> np.ndarray:
    """Return the scene in dB, median-filtered over ``median_px`` (0 = off) within valid pixels."""
    db = from_linear(scene.sigma0, "db")
    if median_px > 1:
        db = ndimage.median_filter(db, size=median_px, mode="reflect")
    return db


def write_tiles(
    out_dir: str | os.PathLike[str],
    count: int,
    fmt: str,
    seed: int,
    config: SceneConfig,
    db_range: tuple[float, float] = DEFAULT_DB_RANGE,
    median_px: int = 0,
    overwrite: bool = False,
    progress: Progress | None = None,
    inputs: Inputs = (),
) -> dict[str, Any]:
    """Simulate ``count`` tiles and write them in the ``fmt`` layout into a new ``out_dir``.

    Args:
        out_dir: the data-set folder (replaced only with ``overwrite``, and only when complete).
        count: number of tiles.
        fmt: ``osd`` or ``sos``.
        seed: base seed; tile ``i`` uses :func:`tile_seed` ``(seed, i)``.
        config: scene ranges; its size is the tile size.
        db_range: dB span of the 8-bit images.
        median_px: median filter size applied to the dB image (0 or 1 = none).
        overwrite: replace an existing ``out_dir`` that an earlier run wrote (:data:`SIMULATED_TILES`).
        progress: one ``simulate tiles`` stage with a step per tile (cancellable).
        inputs: what the run read (``--config``); a folder holding one is never replaced.

    Returns:
        The ``dataset.json`` content.

    Raises:
        InputError: bad count, format, range or filter size.
        OutputError: ``out_dir`` exists without ``overwrite``, may not be replaced, or cannot be written.
    """
    if fmt not in TILE_FORMATS:
        raise InputError(f"--format {fmt!r} is not supported; use one of: {', '.join(TILE_FORMATS)}")
    if not isinstance(count, int) or not 1 <= count <= MAX_TILES:
        raise InputError(f"--count must be between 1 and {MAX_TILES}, got {count!r}")
    if not db_range[0] < db_range[1]:
        raise InputError(f"--db-range LOW HIGH needs LOW < HIGH, got {db_range[0]:g} {db_range[1]:g}")
    if not isinstance(median_px, int) or not 0 <= median_px <= 15:
        raise InputError(f"--median-px must be an integer from 0 to 15, got {median_px!r}")
    seed = check_seed(seed)
    config.validate()
    folders = ("images", "labels", "labels_1D") if fmt == "osd" else ("sat", "gt")
    manifest: dict[str, Any] = {
        "format": fmt,
        "simulated": True,
        "generator": "dakd simulate-tiles (engine.data.synth)",
        "engine_version": __version__,
        "count": count,
        "seed": seed,
        "tile_size_px": [config.width_px, config.height_px],
        "image_encoding": {
            "db_range": list(db_range),
            "median_px": median_px,
            "jpeg_quality": JPEG_QUALITY,
            "formula": "byte = round((clip(dB, low, high) - low) / (high - low) * 255)",
        },
        "label_ids": {c.name: c.id for c in OSD_CLASSES} | {"ignore": IGNORE_INDEX},
        "config": config.to_dict(),
        "tiles": [],
    }
    stage_context = progress.stage("simulate tiles", total=count) if progress is not None else contextlib.nullcontext()
    with stage_context as stage, atomic_output_dir(out_dir, overwrite, inputs, SIMULATED_TILES) as tmp:
        for name in folders:
            (tmp / name).mkdir()
        for index in range(count):
            scene_seed = tile_seed(seed, index)
            scene = simulate_scene(config, scene_seed)
            tile_id = f"sim_{index:05d}"
            grey = db_to_byte(tile_image_db(scene, median_px), db_range)
            grey[~scene.valid] = 0
            image = Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
            if fmt == "osd":
                image.save(tmp / "images" / f"{tile_id}.jpg", quality=JPEG_QUALITY)
                Image.fromarray(label_rgb(scene.labels), "RGB").save(tmp / "labels" / f"{tile_id}.png")
                Image.fromarray(scene.labels, "L").save(tmp / "labels_1D" / f"{tile_id}.png")
            else:
                image.save(tmp / "sat" / f"{tile_id}_sat.jpg", quality=JPEG_QUALITY)
                mask = np.where(scene.labels == OIL.id, 255, 0).astype(np.uint8)
                Image.fromarray(mask, "L").save(tmp / "gt" / f"{tile_id}_mask.png")
            manifest["tiles"].append(
                {
                    "id": tile_id,
                    "seed": scene_seed,
                    "class_pixels": scene.params["class_pixels"],
                    "ignore_pixels": scene.params["ignore_pixels"],
                }
            )
            if stage is not None:
                stage.advance()
        (Path(tmp) / "dataset.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest
