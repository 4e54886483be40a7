"""The shipped sample (resources/sample) is small, readable, and still what the simulator makes from its sidecar."""

import json
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from engine.classes import LAND, LOOKALIKE, OIL, SEA, SHIP
from engine.data.synth import SceneConfig, simulate_scene
from engine.data.synth.scene import SIMULATOR_VERSION
from engine.io.raster import open_raster
from engine.preprocess import from_linear

SAMPLE = Path(__file__).resolve().parents[3] / "resources" / "sample"
REGENERATE = "regenerate it with the command in resources/sample/README.md"


def test_sample_is_small_and_complete():
    files = {p.name: p.stat().st_size for p in SAMPLE.iterdir()}
    assert {"sample_scene.tif", "sample_labels.tif", "sample_scene.json", "README.md"} <= set(files)
    assert sum(files.values()) <= 2 * 1024 * 1024


def test_sample_matches_its_sidecar():
    sidecar = json.loads((SAMPLE / "sample_scene.json").read_text())
    assert sidecar["scene"]["simulator_version"] == SIMULATOR_VERSION, f"the simulator changed: {REGENERATE}"
    scene = simulate_scene(SceneConfig.from_dict(sidecar["config"]), sidecar["seed"])
    with rasterio.open(SAMPLE / "sample_labels.tif") as labels:
        assert np.array_equal(labels.read(1), scene.labels), f"labels differ from the simulator's: {REGENERATE}"
    with open_raster(SAMPLE / "sample_scene.tif") as raster:
        assert raster.info.units == "db"
        values, valid = raster.read_sigma0(Window(0, 0, raster.info.width, raster.info.height))
    error_db = np.abs(from_linear(values, "db") - from_linear(scene.sigma0, "db"))[valid]
    assert valid.all() and float(error_db.max()) <= 0.0051, f"image differs from the simulator's: {REGENERATE}"
    present = set(np.unique(scene.labels).tolist())
    assert {SEA.id, OIL.id, LOOKALIKE.id, SHIP.id, LAND.id} <= present
