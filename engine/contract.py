"""What the plugin and the engine must agree on, defined once: choices, names, label rules, defaults, events.

The QGIS plugin never imports the engine into QGIS's process, yet its dialogs offer the engine's
choices and read its progress events. Instead of keeping copies, it reads this module: from the engine
copy it ships (loaded as a plain file) or, for another engine Python, from ``dakd describe --json``
(:func:`describe`). So this module imports nothing but the standard library (a test checks it), and the
engine modules that use these values import them from here. The plugin loads it in QGIS's own Python, which
may be older than the engine's, so it keeps to syntax that Python 3.9 runs.

Change :data:`SCHEMA_VERSION` whenever a change here or in the event schema would break a plugin that
reads the old one (a removed choice, a renamed field); adding a choice or an event field does not need it.
A plugin that meets another schema version says so in one line instead of guessing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

#: Version of this contract (choices, label rules, defaults and the progress-event schema).
SCHEMA_VERSION = 1

# --- Devices and back-ends -----------------------------------------------------------------------------------
#: Devices every command accepts with ``--device`` (``cuda:N`` is also accepted where ``cuda`` is). Choice lists
#: that the plugin offers keep their order (its Processing enums save indices): new values go at the end.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
#: ``--precision`` values of torch runs.
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
#: ``dakd detect --backend`` values: ``auto`` picks an installed one.
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnxruntime", "openvino")


def device_problem(requested: str) -> str | None:
    """Return why ``requested`` names no device (``--device``), or None.

    Torch-free, so that a run which never uses torch (the threshold detector) judges it before anything loads.
    """
    if requested.split(":", 1)[0] in DEVICES:
        return None
    return f"unknown device {requested!r}; use one of: {', '.join(DEVICES)} (or cuda:N)"


# --- Detection -------------------------------------------------------------------------------------------------
#: ``dakd detect --method`` values: ``auto`` uses the model if one is available, else the threshold detector.
#: The order is the plugin's Processing enum (saved models keep indices): add new values at the end.
METHODS: tuple[str, ...] = ("auto", "model", "threshold")
#: ``dakd detect --ships``: ``cfar`` merges CFAR targets into the network's ship class (default), ``model`` uses
#: the network's ship class alone, ``off`` folds the ship class into sea (no ship polygons).
SHIP_MODES: tuple[str, ...] = ("cfar", "model", "off")
#: Units a scene's pixels can be in (``--units`` also takes ``auto``: read from the file). ``amplitude`` and
#: ``intensity`` are uncalibrated DN. ``db-8bit`` is an 8-bit picture of σ0 linear in dB over a span the file does
#: not say (a display export), read as the data-set loaders read OSD/SOS pictures (engine.preprocess).
UNITS: tuple[str, ...] = ("linear", "db", "amplitude", "intensity", "db-8bit")
#: ``--land-mask`` keywords; any other value is a polygon layer of land.
LAND_MASKS: tuple[str, ...] = ("auto", "none")
#: Side of the square tiles detection runs on, in pixels.
TILE_SIZE_PX = 256
#: Tile overlap in pixels, and the largest the tiling takes (half a tile).
DEFAULT_OVERLAP_PX = 64
MAX_OVERLAP_PX = TILE_SIZE_PX // 2
#: Oil and look-alike regions smaller than this are dropped (SNAP's default).
DEFAULT_MIN_AREA_KM2 = 0.1
#: Sea pixels this close to the land mask are ignored too, in metres.
DEFAULT_LAND_BUFFER_M = 100.0

# --- Classes and label rules -----------------------------------------------------------------------------------
#: Segmentation classes in id order (the OSD data set's ids), and their RGB colours in label images.
CLASS_NAMES: tuple[str, ...] = ("sea", "oil", "look-alike", "ship", "land")
CLASS_RGB: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (0, 255, 255), (255, 0, 0), (153, 76, 0), (0, 153, 0))
#: Classes of the threshold detector, in id order: the bands of the probability raster a threshold run writes
#: (a model's run writes one band per class of its card, ``classes``).
THRESHOLD_CLASS_NAMES: tuple[str, ...] = ("sea", "oil")
#: Classes that become polygons in the detection output (sea and land do not).
VECTOR_CLASS_NAMES: tuple[str, ...] = ("oil", "look-alike", "ship")
#: Label value meaning "not labelled", and the partial label "any class but oil".
IGNORE_INDEX = 255
NOT_OIL_INDEX = 254
#: Label names read as "not labelled" and as "any class but oil" (case-insensitive).
IGNORE_NAMES: tuple[str, ...] = ("ignore", "unlabelled", "unlabeled", "nodata", "no data")
NOT_OIL_NAMES: tuple[str, ...] = ("not-oil", "not oil", "not_oil", "non-oil")
#: Other names the engine reads as a class (lower case).
CLASS_ALIASES: dict[str, str] = {
    "oil spill": "oil",
    "spill": "oil",
    "lookalike": "look-alike",
    "look alike": "look-alike",
    "vessel": "ship",
    "water": "sea",
    "background": "sea",
}
#: What ``--class-map VALUE=TARGET`` may map a label value to.
LABEL_TARGETS: tuple[str, ...] = (*CLASS_NAMES, "not-oil", "ignore")
#: ``--background`` values: what the pixels outside every label polygon are.
BACKGROUNDS: tuple[str, ...] = ("sea", "not-oil", "ignore")
#: ``--data-format`` values: labelled scenes, or an OSD / SOS data-set folder.
DATA_FORMATS: tuple[str, ...] = ("scenes", "osd", "sos")

# --- Model cards ------------------------------------------------------------------------------------------------
#: The ``"format"`` every DAKD model card holds: a JSON file without it is not a card (``engine.modelcard``).
MODEL_CARD_FORMAT = "dakd-model-card"
#: The card ``--method auto`` and ``model`` run without ``--model``, in :func:`bundled_models_dir`.
DEFAULT_MODEL_CARD_NAME = "default.json"


def bundled_models_dir() -> Path:
    """Return the engine's bundled ``resources/models`` folder, found from this file.

    ``<repo>/resources`` in a checkout; ``dakd_qgis/resources`` in the packaged QGIS plugin, whose copy of the
    engine lives in ``dakd_qgis/lib/engine``. The plugin loads this file from the engine it runs, so it gets
    that engine's folder (a pip-installed engine's is not the plugin's own).
    """
    engine_dir = Path(__file__).resolve().parent
    vendored = engine_dir.parent.parent / "resources" / "models"
    if engine_dir.parent.name == "lib" and vendored.is_dir():
        return vendored
    return engine_dir.parent / "resources" / "models"


#: sha256 of files already read, by what ``os.stat`` says of them (:func:`file_sha256`); a few cards' weights.
_SHA256_BY_STAT: dict[tuple[str, int, int, int, int, int], str] = {}
_SHA256_KEPT = 16
_SETTLED_NS = 3_000_000_000


def file_sha256(path: Path) -> str:
    """Return the sha256 of a file, read in 1 MB pieces (weights run to hundreds of MB), once per version of it.

    One detection asks for the weights' hash three or four times (the backend choice, the export lookup, the
    loader), and weights run to hundreds of MB. A file is read again whenever its device, inode, size, mtime or
    ctime changed: any write changes the ctime, which ``touch`` cannot set back, so a replaced or damaged file is
    hashed afresh. A file changed in the last seconds is not remembered (git's "racily clean" rule): a file system
    stamps times in ticks, and two writes within one tick would leave the same ctime.
    """
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    known = _SHA256_BY_STAT.get(key)
    if known is None:
        known = _read_sha256(path)
        if time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) < _SETTLED_NS:
            return known
        if len(_SHA256_BY_STAT) >= _SHA256_KEPT:
            _SHA256_BY_STAT.pop(next(iter(_SHA256_BY_STAT)))
        _SHA256_BY_STAT[key] = known
    return known


def _read_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_problem(card_file: Path, card: dict[str, Any]) -> str | None:
    """Return, in one line, why a card's weights cannot run it; None when they can.

    The weights are ``NAME.safetensors`` beside the card's ``NAME.json`` (``card_file``): they must be there and,
    when the card records their sha256, hash to it. Every backend asks this (``engine.runtimes``): torch loads the
    weights, but an ONNX runtime runs an export found by their hash, so without the check a missing, damaged or
    replaced weights file would run an export of other weights unseen. ``auto`` falls back to the threshold detector
    when the default card fails it (:func:`default_detector_classes`). Worded as ``engine.modelcard.load_model``
    refuses the same weights.
    """
    weights = card_file.with_suffix(".safetensors")
    if not weights.is_file():
        return f"{card_file}: weights file {weights.name} is missing; keep both files together"
    recorded = card.get("weights")
    expected = str(recorded.get("sha256") or "") if isinstance(recorded, dict) else ""
    try:
        matches = not expected or file_sha256(weights) == expected
    except OSError as error:
        return f"{weights}: cannot read the weights ({error.strerror or error}); copy the model's files again"
    if not matches:
        return (
            f"{weights}: weights do not match the card's sha256 (corrupt or from another model); "
            "copy the model's files again"
        )
    return None


def default_detector_classes() -> list[str]:
    """Return the classes of the detector ``--method auto`` runs without ``--model``: its probability bands.

    The default card's classes when it is a DAKD card that lists them and its weights pass
    :func:`weights_problem`; else the threshold detector's, which ``auto`` runs when there is no default card, when
    the card cannot be read and when its weights are missing or damaged (``engine.detectors``: it falls back to the
    threshold detector, whatever backend or export is installed). The weights are hashed (well under a second for
    the shipped model): an ONNX export beside the card is not run without them either.
    """
    card_file = bundled_models_dir() / DEFAULT_MODEL_CARD_NAME
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        card = None
    valid = isinstance(card, dict) and card.get("format") == MODEL_CARD_FORMAT and not weights_problem(card_file, card)
    classes = card.get("classes") if valid else None
    if not isinstance(classes, list) or not classes:
        return list(THRESHOLD_CLASS_NAMES)
    return [str(entry.get("name")) if isinstance(entry, dict) else str(entry) for entry in classes]


# --- Fine-tuning -----------------------------------------------------------------------------------------------
#: ``dakd finetune --preset`` names, from the smallest run a GPU needs to the largest, then the CPU ones (the
#: order of the plugin's Processing enums, as for every choice list here that the plugin offers: append only).
PRESETS: tuple[str, ...] = ("quick", "standard", "paper", "cpu-default", "tiny")
#: The preset a run starts on with a GPU, and without one.
GPU_PRESET = "quick"
CPU_PRESET = "cpu-default"

# --- Exit codes and progress events ----------------------------------------------------------------------------
#: ``dakd`` exit codes: bad input or environment, a bug, cancelled by the user.
EXIT_OK = 0
EXIT_BUG = 1
EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130
#: ``--progress json`` events (one JSON object a line, ``event`` naming its kind) and the fields each always has;
#: ``progress`` may carry more metrics (``loss``, ``step``...), ``done`` carries the command's summary.
EVENTS: dict[str, tuple[str, ...]] = {
    "stage": ("stage", "total"),
    "progress": ("stage", "done", "total", "eta_s"),
    "stage_end": ("stage", "done", "total"),
    "log": ("level", "message"),
    "done": (),
    "error": ("kind", "message"),
}


def describe() -> dict[str, Any]:
    """Return the whole contract as plain JSON-ready data (what ``dakd describe --json`` prints)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "devices": list(DEVICES),
        "precisions": list(PRECISIONS),
        "backends": list(BACKENDS),
        "methods": list(METHODS),
        "ship_modes": list(SHIP_MODES),
        "units": list(UNITS),
        "land_masks": list(LAND_MASKS),
        "detect_defaults": {
            "tile_size_px": TILE_SIZE_PX,
            "overlap_px": DEFAULT_OVERLAP_PX,
            "max_overlap_px": MAX_OVERLAP_PX,
            "min_area_km2": DEFAULT_MIN_AREA_KM2,
            "land_buffer_m": DEFAULT_LAND_BUFFER_M,
        },
        "classes": [
            {"id": class_id, "name": name, "rgb": list(rgb)}
            for class_id, (name, rgb) in enumerate(zip(CLASS_NAMES, CLASS_RGB))
        ],
        "threshold_classes": list(THRESHOLD_CLASS_NAMES),
        "vector_classes": list(VECTOR_CLASS_NAMES),
        "labels": {
            "ignore_index": IGNORE_INDEX,
            "not_oil_index": NOT_OIL_INDEX,
            "ignore_names": list(IGNORE_NAMES),
            "not_oil_names": list(NOT_OIL_NAMES),
            "aliases": dict(CLASS_ALIASES),
            "targets": list(LABEL_TARGETS),
            "backgrounds": list(BACKGROUNDS),
        },
        "data_formats": list(DATA_FORMATS),
        "model_card_format": MODEL_CARD_FORMAT,
        "default_detector_classes": default_detector_classes(),
        "presets": {"names": list(PRESETS), "gpu": GPU_PRESET, "cpu": CPU_PRESET},
        "exit_codes": {"ok": EXIT_OK, "bug": EXIT_BUG, "bad_input": EXIT_BAD_INPUT, "cancelled": EXIT_CANCELLED},
        "events": {kind: list(fields) for kind, fields in EVENTS.items()},
    }
