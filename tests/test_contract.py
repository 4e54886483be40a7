"""The contract between plugin and engine: standard library only, one definition, used by the engine."""

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import engine.contract as contract

CONTRACT_FILE = Path(contract.__file__)


def test_contract_imports_only_the_standard_library():
    tree = ast.parse(CONTRACT_FILE.read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_contract_loads_with_heavy_packages_blocked():
    """As the plugin loads it: a plain file in a Python where torch, numpy and the engine package are absent."""
    code = (
        "import importlib.util, json, sys\n"
        "for name in ('torch', 'numpy', 'rasterio', 'engine'): sys.modules[name] = None\n"
        f"spec = importlib.util.spec_from_file_location('c', {str(CONTRACT_FILE)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(json.dumps(module.describe()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == json.loads(json.dumps(contract.describe()))


def test_describe_is_json_and_names_every_part():
    described = contract.describe()
    assert json.loads(json.dumps(described)) == described
    assert described["schema_version"] == contract.SCHEMA_VERSION
    assert "mps" in described["devices"] and described["devices"][0] == "auto"
    assert [c["name"] for c in described["classes"]] == list(contract.CLASS_NAMES)
    assert {contract.GPU_PRESET, contract.CPU_PRESET} <= set(described["presets"]["names"])
    assert set(described["labels"]["aliases"].values()) <= set(contract.CLASS_NAMES)
    assert {"stage", "progress", "log", "done", "error"} <= set(described["events"])


def test_engine_uses_the_contract_values():
    """The engine's modules take these values from the contract (the same objects), not from copies."""
    from engine import classes, device, errors, runtimes, tiling
    from engine.cli import train as train_cli
    from engine.data import scenes
    from engine.detect import DetectParams
    from engine.detectors import METHODS
    from engine.io.landmask import DEFAULT_BUFFER_M
    from engine.train.pipeline import PRESETS

    assert device.DEVICE_CHOICES is contract.DEVICES and device.PRECISIONS is contract.PRECISIONS
    assert runtimes.BACKENDS is contract.BACKENDS and METHODS is contract.METHODS
    assert tuple(c.name for c in classes.OSD_CLASSES) == contract.CLASS_NAMES
    assert classes.VECTOR_CLASS_NAMES is contract.VECTOR_CLASS_NAMES
    assert scenes.CLASS_ALIASES is contract.CLASS_ALIASES and scenes.IGNORE_NAMES is contract.IGNORE_NAMES
    assert tuple(PRESETS) == contract.PRESETS and train_cli.PRESET_NAMES is contract.PRESETS
    params = DetectParams("in.tif", "out")
    assert (params.overlap_px, params.min_area_km2, params.land_buffer_m) == (
        contract.DEFAULT_OVERLAP_PX,
        contract.DEFAULT_MIN_AREA_KM2,
        contract.DEFAULT_LAND_BUFFER_M,
    )
    assert DEFAULT_BUFFER_M == contract.DEFAULT_LAND_BUFFER_M and tiling.DEFAULT_TILE_SIZE == contract.TILE_SIZE_PX
    assert errors.DakdError.exit_code == contract.EXIT_BAD_INPUT
    assert errors.Cancelled.exit_code == contract.EXIT_CANCELLED


def test_largest_overlap_runs_and_one_more_is_refused():
    import pytest

    from engine.errors import DakdError
    from engine.tiling import plan_grid

    plan_grid(1000, 1000, contract.TILE_SIZE_PX, contract.MAX_OVERLAP_PX)
    with pytest.raises(DakdError, match="more than half"):
        plan_grid(1000, 1000, contract.TILE_SIZE_PX, contract.MAX_OVERLAP_PX + 1)


def test_progress_events_follow_the_schema():
    """Every event kind a run writes has the fields the contract promises."""
    from engine.progress import Progress

    events = []
    progress = Progress(events.append)
    progress.log("info", "hello")
    with progress.stage("detect", 2) as stage:
        stage.advance()
    for event in events:
        assert set(contract.EVENTS[event["event"]]) <= set(event), event


def test_the_threshold_detectors_probability_bands_are_the_published_ones(tmp_path):
    """The plugin sizes a threshold run's probability output (a PNG holds at most 4 bands) by these classes: they
    must be the bands the threshold detector really writes, not the five the contract's ``classes`` list."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from engine.detect import DetectParams, run_detection
    from engine.detectors.threshold import ThresholdDetector
    from engine.io.raster import write_raster

    assert contract.describe()["threshold_classes"] == list(contract.THRESHOLD_CLASS_NAMES)
    assert tuple(c.name for c in ThresholdDetector().classes) == contract.THRESHOLD_CLASS_NAMES
    values = (0.05 * np.random.default_rng(0).gamma(4.4, 1 / 4.4, (128, 128))).astype(np.float32)
    scene = write_raster(tmp_path / "scene.tif", values, "EPSG:32633", from_origin(500000, 6000000, 10, 10))
    result = run_detection(DetectParams(str(scene), str(tmp_path / "out"), method="threshold", land_mask="none"))
    with rasterio.open(result.probability_path) as probability:
        assert probability.descriptions == contract.THRESHOLD_CLASS_NAMES


def test_the_default_detector_classes_are_those_of_the_card_auto_runs(tmp_path):
    """The plugin sizes an ``auto`` run's probability output by them: the engine's own default card's classes
    (found as ``engine.detectors`` finds it), or the threshold detector's where that card cannot be read."""
    import shutil

    from engine.detectors import BUNDLED_MODELS_DIR, DEFAULT_MODEL_CARD, choose_method
    from engine.modelcard import load_model_card

    assert contract.bundled_models_dir() == BUNDLED_MODELS_DIR
    assert BUNDLED_MODELS_DIR / contract.DEFAULT_MODEL_CARD_NAME == DEFAULT_MODEL_CARD
    assert choose_method("auto").model_path == str(DEFAULT_MODEL_CARD)
    classes = [c.name for c in load_model_card(DEFAULT_MODEL_CARD).classes]
    assert contract.describe()["default_detector_classes"] == classes == list(contract.CLASS_NAMES)

    checkout = tmp_path / "checkout"  # the layout of a checkout, with the card damaged or gone
    (checkout / "engine").mkdir(parents=True)
    shutil.copy(CONTRACT_FILE, checkout / "engine" / "contract.py")
    models = checkout / "resources" / "models"
    models.mkdir(parents=True)
    code = (
        "import importlib.util, json\n"
        f"spec = importlib.util.spec_from_file_location('c', {str(checkout / 'engine' / 'contract.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(json.dumps(module.describe()['default_detector_classes']))"
    )
    card, weights = DEFAULT_MODEL_CARD.read_text(encoding="utf-8"), DEFAULT_MODEL_CARD.with_suffix(".safetensors")
    threshold = list(contract.THRESHOLD_CLASS_NAMES)
    for card_text, weights_bytes, expected in (
        (None, None, threshold),
        (card[:1000], None, threshold),
        ('{"classes": ["sea", "oil", "ship"]}', None, threshold),
        (card, None, threshold),  # its weights missing, or damaged: auto refuses them on every backend and falls back
        (card, weights.read_bytes()[:-1], threshold),
        (card, weights.read_bytes(), classes),
    ):
        if card_text is not None:
            (models / "default.json").write_text(card_text, encoding="utf-8")
        if weights_bytes is not None:
            (models / "default.safetensors").write_bytes(weights_bytes)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert json.loads(out) == expected, (card_text and card_text[:40], weights_bytes and len(weights_bytes))


def test_the_published_model_card_format_is_the_one_the_engine_writes_and_requires(tmp_path):
    """The plugin lists (and may delete) only the files in its model folder that hold this format."""
    import pytest

    from engine import modelcard
    from engine.errors import ModelError

    assert modelcard.CARD_FORMAT == contract.MODEL_CARD_FORMAT
    assert contract.describe()["model_card_format"] == contract.MODEL_CARD_FORMAT
    card = json.loads((Path(__file__).resolve().parents[1] / "resources" / "models" / "default.json").read_text())
    assert card["format"] == contract.MODEL_CARD_FORMAT
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps({"area": "North Sea"}))
    with pytest.raises(ModelError, match="not a DAKD model card"):
        modelcard.read_card_data(notes)


def _counting_reads(monkeypatch) -> list[Path]:
    reads: list[Path] = []
    read = contract._read_sha256

    def counted(path):
        reads.append(Path(path))
        return read(path)

    monkeypatch.setattr(contract, "_read_sha256", counted)
    return reads


def test_a_settled_file_is_hashed_once_and_again_after_any_write(tmp_path, monkeypatch):
    """One detection asked for the weights' hash three times; a write that keeps the size and sets the mtime back
    (a damaged copy) still changes the ctime, so it is read again."""
    monkeypatch.setattr(contract, "_SETTLED_NS", 0)  # every file here was written a moment ago
    reads = _counting_reads(monkeypatch)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"a" * 4096)
    first = contract.file_sha256(weights)
    assert contract.file_sha256(weights) == first and len(reads) == 1
    stamp = weights.stat()
    time.sleep(0.05)  # past the file system's time tick
    weights.write_bytes(b"b" + b"a" * 4095)
    os.utime(weights, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert contract.file_sha256(weights) != first and len(reads) == 2


def test_a_file_changed_in_the_last_seconds_is_hashed_every_time(tmp_path, monkeypatch):
    reads = _counting_reads(monkeypatch)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"a" * 4096)
    assert contract.file_sha256(weights) == contract.file_sha256(weights)
    assert len(reads) == 2
