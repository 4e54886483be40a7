"""The Processing algorithm "Detect oil spills", run through processing.run and qgis_process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsRasterLayer, QgsVectorLayer

pytestmark = pytest.mark.qgis

ALGORITHM = "dakd:detectoilspills"
THRESHOLD = 2  # index of "threshold" in the Method enum
QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")
# Expected slick area: an ellipse of 60 x 18 px semi-axes at 10 m pixels (pi * a * b * 100 m²).
SLICK_KM2 = np.pi * 60 * 18 * 100 / 1e6


def _outputs(tmp_path):
    return {"OUTPUT": str(tmp_path / "out" / "spills.gpkg"), "PROBABILITY": str(tmp_path / "out" / "probability.tif"),
            "CLASSES": str(tmp_path / "out" / "classes.tif")}


def test_defaults_and_choices_match_the_engine():
    from dakd_qgis.detection import DEFAULT_MIN_AREA_KM2, DEFAULT_OVERLAP_PX, METHOD_CHOICES, UNITS_CHOICES
    from dakd_qgis.settings import DEVICES
    from engine.detect import DetectParams
    from engine.detectors import METHODS
    from engine.io.scene import UNITS

    defaults = {f.name: f.default for f in fields(DetectParams)}
    assert defaults["overlap_px"] == DEFAULT_OVERLAP_PX
    assert defaults["min_area_km2"] == DEFAULT_MIN_AREA_KM2
    assert UNITS_CHOICES == ("auto", *UNITS)
    assert set(METHOD_CHOICES) == set(METHODS)
    assert set(DEVICES) <= {"auto", "cpu", "cuda"}


def test_detect_returns_polygons_and_rasters(dakd_provider, sar_scene, tmp_path):
    import processing

    feedback = QgsProcessingFeedback()
    seen = []
    feedback.progressChanged.connect(seen.append)
    result = processing.run(ALGORITHM, {"INPUT": str(sar_scene), "METHOD": THRESHOLD, **_outputs(tmp_path)},
                            feedback=feedback)
    spills = QgsVectorLayer(result["OUTPUT"], "spills", "ogr")
    assert spills.isValid()
    assert spills.crs().authid() == "EPSG:32633"
    features = list(spills.getFeatures())
    assert [f["class"] for f in features] == ["oil"]
    assert features[0]["area_km2"] == pytest.approx(SLICK_KM2, rel=0.25)
    assert features[0].geometry().intersects(features[0].geometry().centroid())
    probability = QgsRasterLayer(result["PROBABILITY"], "p")
    classes = QgsRasterLayer(result["CLASSES"], "c")
    assert probability.isValid() and classes.isValid()
    assert (probability.width(), probability.height()) == (256, 256)
    assert probability.bandName(2).endswith("oil")
    stats = classes.dataProvider().bandStatistics(1)
    assert stats.minimumValue == 0 and stats.maximumValue == 1
    assert seen and max(seen) == 100


def test_detect_into_temporary_outputs_keeps_the_fields(dakd_provider, sar_scene):
    import processing

    result = processing.run(ALGORITHM, {"INPUT": str(sar_scene), "METHOD": THRESHOLD, "OUTPUT": "TEMPORARY_OUTPUT",
                                        "PROBABILITY": "TEMPORARY_OUTPUT", "CLASSES": "TEMPORARY_OUTPUT"})
    layer = result["OUTPUT"]
    layer = layer if isinstance(layer, QgsVectorLayer) else QgsVectorLayer(layer, "s", "ogr")
    assert layer.featureCount() == 1
    assert {"class", "area_km2", "mean_prob", "source_scene"} <= set(layer.fields().names())
    assert Path(result["PROBABILITY"]).is_file()


def test_missing_model_card_is_a_readable_error(dakd_provider, sar_scene, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException) as raised:
        processing.run(ALGORITHM, {"INPUT": str(sar_scene), "METHOD": 1, "MODEL": str(tmp_path / "nope.json"),
                                   **_outputs(tmp_path)})
    assert not (tmp_path / "out").exists()
    assert "Traceback" not in str(raised.value)


def test_bad_input_gives_one_line_reason(dakd_provider, tmp_path):
    """A raster with no valid pixel: the engine's one-line reason reaches the user, and nothing is written."""
    import processing
    import rasterio
    from affine import Affine

    empty = tmp_path / "all-nodata.tif"
    with rasterio.open(empty, "w", driver="GTiff", width=64, height=64, count=1, dtype="float32", crs="EPSG:32633",
                       transform=Affine(10, 0, 500000, 0, -10, 6000000), nodata=0) as dataset:
        dataset.write(np.zeros((64, 64), "float32"), 1)
    with pytest.raises(QgsProcessingException):
        processing.run(ALGORITHM, {"INPUT": str(empty), "METHOD": THRESHOLD, **_outputs(tmp_path)})
    assert not (tmp_path / "out").exists()


def test_bad_input_message_through_the_algorithm(algorithm_error, tmp_path):
    import rasterio
    from affine import Affine

    empty = tmp_path / "all-nodata.tif"
    with rasterio.open(empty, "w", driver="GTiff", width=64, height=64, count=1, dtype="float32", crs="EPSG:32633",
                       transform=Affine(10, 0, 500000, 0, -10, 6000000), nodata=0) as dataset:
        dataset.write(np.zeros((64, 64), "float32"), 1)
    message = algorithm_error(ALGORITHM, {"INPUT": str(empty), "METHOD": THRESHOLD, **_outputs(tmp_path)})
    assert "no valid pixels" in message and "all-nodata.tif" in message
    assert "\n" not in message and "Traceback" not in message
    assert not (tmp_path / "out").exists()


def test_cancel_stops_the_run_and_leaves_no_output(dakd_provider, scene_writer, tmp_path):
    """Cancel as soon as the first tile batch is reported: the engine stops and nothing is written."""
    import processing

    scene = scene_writer(tmp_path / "big.tif", width=1024, height=1024)
    texts = []

    class CancelOnDetect(QgsProcessingFeedback):
        """Presses Cancel when the first tile batch is reported (as a user watching the dialog would)."""

        def setProgressText(self, text):  # noqa: N802 - QGIS API
            texts.append(text)
            if text.startswith("detect"):
                self.cancel()
            super().setProgressText(text)

    feedback = CancelOnDetect()
    with pytest.raises(QgsProcessingException):
        processing.run(ALGORITHM, {"INPUT": str(scene), "METHOD": THRESHOLD, "BATCH_SIZE": 1, **_outputs(tmp_path)},
                       feedback=feedback)
    assert any(text.startswith("detect") for text in texts)
    assert not any(text.startswith("vectorise") for text in texts), "the run went on after Cancel"
    assert not (tmp_path / "out").exists()
    from qgis.core import QgsProcessingUtils

    leftovers = list(Path(QgsProcessingUtils.tempFolder()).glob("dakd-detect-*"))
    assert leftovers == []


def _qgis_process_env(plugins_dir: Path, profile: Path) -> dict[str, str]:
    env = dict(os.environ)
    site = next(p for p in sys.path if p.endswith("site-packages") and ".venv" in p)
    env.update(QGIS_PLUGINPATH=str(plugins_dir), QGIS_CUSTOM_CONFIG_PATH=str(profile), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=site, OMP_NUM_THREADS="1")
    return env


@pytest.mark.skipif(not QGIS_PROCESS.exists(), reason="qgis_process.bin is not installed")
def test_qgis_process_runs_the_packaged_plugin(sar_scene, package_plugin, tmp_path):
    """The real plugin folder from `make package` (engine included), enabled and run by qgis_process."""
    plugins = tmp_path / "plugins"
    package_plugin.build_plugin_dir(Path(package_plugin.__file__).resolve().parents[1], plugins)
    env = _qgis_process_env(plugins, tmp_path / "profile")
    enabled = subprocess.run([str(QGIS_PROCESS), "plugins", "enable", "dakd_qgis"], env=env, capture_output=True,
                             text=True, timeout=120, check=False)
    assert enabled.returncode == 0, enabled.stderr
    outputs = _outputs(tmp_path)
    run = subprocess.run([str(QGIS_PROCESS), "--json", "run", ALGORITHM, "--", f"INPUT={sar_scene}",
                          f"METHOD={THRESHOLD}", *(f"{k}={v}" for k, v in outputs.items())],
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["algorithm_details"]["id"] == ALGORITHM
    assert Path(report["results"]["PROBABILITY"]).is_file()
    spills = QgsVectorLayer(report["results"]["OUTPUT"], "spills", "ogr")
    assert spills.isValid() and spills.featureCount() == 1
    # the engine came from the plugin's own copy, not from the repository
    assert "lib/engine" not in run.stderr or "Traceback" not in run.stderr


def test_outputs_loaded_into_the_project_are_styled(dakd_provider, sar_scene, tmp_path, qgis_new_project):
    """What the Processing dialog does at the end: load the outputs; the plugin's post-processors style them."""
    import processing
    from qgis.core import QgsProject

    processing.runAndLoadResults(ALGORITHM, {"INPUT": str(sar_scene), "METHOD": THRESHOLD, **_outputs(tmp_path)})
    layers = {layer.source().split("|")[0]: layer for layer in QgsProject.instance().mapLayers().values()}
    polygons = layers[_outputs(tmp_path)["OUTPUT"]]
    assert polygons.renderer().type() == "categorizedSymbol" and polygons.labelsEnabled()
    probability = layers[_outputs(tmp_path)["PROBABILITY"]]
    assert probability.renderer().type() == "singlebandpseudocolor" and probability.renderer().band() == 2
    classes = layers[_outputs(tmp_path)["CLASSES"]]
    assert classes.renderer().type() == "paletted"
