"""The Processing algorithm "Detect oil spills", run through processing.run and qgis_process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import QCoreApplication

pytestmark = pytest.mark.qgis

ALGORITHM = "dakd:detectoilspills"
THRESHOLD = 2  # index of "threshold" in the Method enum
QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")
SENTINEL1 = Path(__file__).resolve().parents[2] / "data" / "sentinel1"
# Expected slick area: an ellipse of 60 x 18 px semi-axes at 10 m pixels (pi * a * b * 100 m²).
SLICK_KM2 = np.pi * 60 * 18 * 100 / 1e6


def _outputs(tmp_path):
    return {
        "OUTPUT": str(tmp_path / "out" / "spills.gpkg"),
        "PROBABILITY": str(tmp_path / "out" / "probability.tif"),
        "CLASSES": str(tmp_path / "out" / "classes.tif"),
    }


def test_the_overlap_parameter_stops_where_the_engine_does(dakd_provider):
    """Issue 12 item 7: the dialog offers no overlap the engine refuses (255 px used to run for ever)."""
    from engine.contract import MAX_OVERLAP_PX

    overlap = QgsApplication_algorithm().parameterDefinition("OVERLAP_PX")
    assert (overlap.minimum(), overlap.maximum()) == (0, MAX_OVERLAP_PX)


def test_detect_returns_polygons_and_rasters(dakd_provider, sar_scene, tmp_path):
    import processing

    feedback = QgsProcessingFeedback()
    seen = []
    feedback.progressChanged.connect(seen.append)
    result = processing.run(
        ALGORITHM, {"INPUT": str(sar_scene), "METHOD": THRESHOLD, **_outputs(tmp_path)}, feedback=feedback
    )
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


def test_the_report_is_an_html_output_that_outlives_the_run(dakd_provider, scene_writer, tmp_path):
    """Issue 15: the run's report.html is the HTML output "Report" (the Results Viewer lists it), kept after the run
    in Processing's temporary folder, not beside the outputs; "Wind direction" reaches the engine as --wind-dir."""
    import processing
    from qgis.core import QgsProcessingOutputHtml

    algorithm = QgsApplication_algorithm()
    report = algorithm.outputDefinition("REPORT")
    assert isinstance(report, QgsProcessingOutputHtml) and report.description() == "Report"
    assert algorithm.hasHtmlOutputs()
    wind = algorithm.parameterDefinition("WIND_DIR")
    assert wind.flags() & wind.FlagOptional and wind.defaultValue() is None
    assert (wind.minimum(), wind.maximum()) == (0, 360)
    scene = scene_writer(tmp_path / "patrol_0415.tif")
    output = tmp_path / "out" / "spills.gpkg"
    result = processing.run(
        ALGORITHM,
        {
            "INPUT": str(scene),
            "METHOD": THRESHOLD,
            "LAND_MASK": 1,
            "WIND_DIR": 200,
            "OUTPUT": str(output),
            "PROBABILITY": None,
            "CLASSES": None,
        },
    )
    path = Path(result["REPORT"])
    assert path.name == "report.html" and path.is_file()
    html = path.read_text(encoding="utf-8")
    assert "Possible oil spills: patrol_0415" in html
    # A plain raster has no look direction: the engine took the direction and says it could not use it.
    assert "--wind-dir 200 not usable without the look direction" in html
    assert sorted(p.name for p in output.parent.iterdir()) == ["spills.gpkg"]
    spills = QgsVectorLayer(str(output), "spills", "ogr")
    (oil,) = [f for f in spills.getFeatures() if f["class"] == "oil"]
    assert 0 < oil["wind_speed_min_ms"] < oil["wind_speed_max_ms"]  # the range: the direction is not usable here


def test_detect_into_temporary_outputs_keeps_the_fields(dakd_provider, sar_scene):
    import processing

    result = processing.run(
        ALGORITHM,
        {
            "INPUT": str(sar_scene),
            "METHOD": THRESHOLD,
            "OUTPUT": "TEMPORARY_OUTPUT",
            "PROBABILITY": "TEMPORARY_OUTPUT",
            "CLASSES": "TEMPORARY_OUTPUT",
        },
    )
    layer = result["OUTPUT"]
    layer = layer if isinstance(layer, QgsVectorLayer) else QgsVectorLayer(layer, "s", "ogr")
    assert layer.featureCount() == 1
    assert {"class", "area_km2", "mean_prob", "source_scene"} <= set(layer.fields().names())
    assert Path(result["PROBABILITY"]).is_file()


def test_missing_model_card_is_a_readable_error(dakd_provider, sar_scene, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException) as raised:
        processing.run(
            ALGORITHM,
            {"INPUT": str(sar_scene), "METHOD": 1, "MODEL": str(tmp_path / "nope.json"), **_outputs(tmp_path)},
        )
    assert not (tmp_path / "out").exists()
    assert "Traceback" not in str(raised.value)


def test_bad_input_gives_one_line_reason(dakd_provider, tmp_path):
    """A raster with no valid pixel: the engine's one-line reason reaches the user, and nothing is written."""
    import processing
    import rasterio
    from affine import Affine

    empty = tmp_path / "all-nodata.tif"
    with rasterio.open(
        empty,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="float32",
        crs="EPSG:32633",
        transform=Affine(10, 0, 500000, 0, -10, 6000000),
        nodata=0,
    ) as dataset:
        dataset.write(np.zeros((64, 64), "float32"), 1)
    with pytest.raises(QgsProcessingException):
        processing.run(ALGORITHM, {"INPUT": str(empty), "METHOD": THRESHOLD, **_outputs(tmp_path)})
    assert not (tmp_path / "out").exists()


def test_bad_input_message_through_the_algorithm(algorithm_error, tmp_path):
    import rasterio
    from affine import Affine

    empty = tmp_path / "all-nodata.tif"
    with rasterio.open(
        empty,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="float32",
        crs="EPSG:32633",
        transform=Affine(10, 0, 500000, 0, -10, 6000000),
        nodata=0,
    ) as dataset:
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
        processing.run(
            ALGORITHM,
            {"INPUT": str(scene), "METHOD": THRESHOLD, "BATCH_SIZE": 1, **_outputs(tmp_path)},
            feedback=feedback,
        )
    assert any(text.startswith("detect") for text in texts)
    assert not any(text.startswith("vectorise") for text in texts), "the run went on after Cancel"
    assert not (tmp_path / "out").exists()
    from qgis.core import QgsProcessingUtils

    leftovers = list(Path(QgsProcessingUtils.tempFolder()).glob("dakd-detect-*"))
    assert leftovers == []


def _qgis_process_env(plugins_dir: Path, profile: Path) -> dict[str, str]:
    env = dict(os.environ)
    site = next(p for p in sys.path if p.endswith("site-packages") and ".venv" in p)
    env.update(
        QGIS_PLUGINPATH=str(plugins_dir),
        QGIS_CUSTOM_CONFIG_PATH=str(profile),
        QT_QPA_PLATFORM="offscreen",
        PYTHONPATH=site,
        OMP_NUM_THREADS="1",
    )
    return env


@pytest.mark.skipif(not QGIS_PROCESS.exists(), reason="qgis_process.bin is not installed")
def test_qgis_process_runs_the_packaged_plugin(sar_scene, package_plugin, tmp_path):
    """The real plugin folder from `make package` (engine included), enabled and run by qgis_process."""
    plugins = tmp_path / "plugins"
    package_plugin.build_plugin_dir(Path(package_plugin.__file__).resolve().parents[1], plugins)
    env = _qgis_process_env(plugins, tmp_path / "profile")
    enabled = subprocess.run(
        [str(QGIS_PROCESS), "plugins", "enable", "dakd_qgis"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert enabled.returncode == 0, enabled.stderr
    outputs = _outputs(tmp_path)
    run = subprocess.run(
        [
            str(QGIS_PROCESS),
            "--json",
            "run",
            ALGORITHM,
            "--",
            f"INPUT={sar_scene}",
            f"METHOD={THRESHOLD}",
            *(f"{k}={v}" for k, v in outputs.items()),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["algorithm_details"]["id"] == ALGORITHM
    assert Path(report["results"]["PROBABILITY"]).is_file()
    spills = QgsVectorLayer(report["results"]["OUTPUT"], "spills", "ogr")
    assert spills.isValid() and spills.featureCount() == 1
    assert not sar_scene.with_name("scene.tif.aux.xml").exists()  # GDAL's statistics of the input's layer
    # the engine came from the plugin's own copy, not from the repository
    assert "lib/engine" not in run.stderr or "Traceback" not in run.stderr


class _RecordingFeedback(QgsProcessingFeedback):
    """Keeps every error and warning the run reports, as the Processing dialog would show them."""

    def __init__(self):
        super().__init__()
        self.errors, self.warnings, self.infos = [], [], []

    def reportError(self, error, fatalError=False):  # noqa: N802, N803 - QGIS API
        self.errors.append(error)
        super().reportError(error, fatalError)

    def pushWarning(self, warning):  # noqa: N802 - QGIS API
        self.warnings.append(warning)
        super().pushWarning(warning)

    def pushInfo(self, info):  # noqa: N802 - QGIS API
        self.infos.append(info)
        super().pushInfo(info)


def _run_as_the_dialog_does(parameters, wait_until, succeed=True):
    """The Processing dialog's path: a QgsProcessingAlgRunnerTask, then handleAlgorithmResults loads the outputs.

    Outputs are given as the dialog gives them: definitions that load into the current project. With ``succeed``
    False the run must fail, and handleAlgorithmResults still runs, as the dialog's ``finish`` does after a failure.
    """
    from processing.core.ProcessingConfig import ProcessingConfig
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import (
        QgsApplication,
        QgsProcessingAlgRunnerTask,
        QgsProcessingContext,
        QgsProcessingOutputLayerDefinition,
        QgsProject,
    )

    ProcessingConfig.setSettingValue(ProcessingConfig.RESULTS_GROUP_NAME, "")
    parameters = {
        key: QgsProcessingOutputLayerDefinition(value, QgsProject.instance())
        if key in ("OUTPUT", "PROBABILITY", "CLASSES")
        else value
        for key, value in parameters.items()
    }
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(ALGORITHM)
    feedback = _RecordingFeedback()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    context.setFeedback(feedback)
    ok, message = algorithm.checkParameterValues(parameters, context)
    assert ok, message
    task = QgsProcessingAlgRunnerTask(algorithm, parameters, context, feedback)
    ended = []
    task.executed.connect(lambda successful, results: ended.append((successful, results)))
    QgsApplication.taskManager().addTask(task)
    assert wait_until(lambda: ended, 300)
    successful, results = ended[0]
    if not succeed:
        assert not successful, results
        handleAlgorithmResults(algorithm, context, feedback, True, parameters)
        return results, feedback
    assert successful, feedback.errors
    assert handleAlgorithmResults(algorithm, context, feedback, True, parameters)
    return results, feedback


def _result_group(project):
    groups = [node for node in project.layerTreeRoot().children() if node.name().startswith("Oil spills – ")]
    assert len(groups) == 1, [node.name() for node in project.layerTreeRoot().children()]
    return groups[0]


def test_a_successful_run_from_the_dialog_reports_no_error(dakd_provider, sar_scene, qgis_new_project, wait_until):
    """Issue 12 item 9: a run with the dialog's default outputs (temporary layers) ends without an error."""
    from qgis.core import QgsProject

    parameters = {
        "INPUT": str(sar_scene),
        "METHOD": THRESHOLD,
        "OUTPUT": "TEMPORARY_OUTPUT",
        "PROBABILITY": "TEMPORARY_OUTPUT",
        "CLASSES": "TEMPORARY_OUTPUT",
    }
    results, feedback = _run_as_the_dialog_does(parameters, wait_until)
    assert feedback.errors == []
    polygons = QgsProject.instance().mapLayer(results["OUTPUT"])
    assert polygons is not None and polygons.isValid() and polygons.featureCount() == 1
    assert any(info.startswith("Found 1 oil spill") and "threshold detector" in info for info in feedback.infos)
    assert Path(results["REPORT"]).is_file()  # the dialog puts it in the Results Viewer


def test_processing_shows_results_as_right_click_does(dakd_provider, sar_scene, qgis_new_project, wait_until):
    """Issue 12 item 15: one group per run, polygons on top, then the oil probability, the classes unchecked."""
    from qgis.core import QgsProject

    parameters = {
        "INPUT": str(sar_scene),
        "METHOD": THRESHOLD,
        "OUTPUT": "TEMPORARY_OUTPUT",
        "PROBABILITY": "TEMPORARY_OUTPUT",
        "CLASSES": "TEMPORARY_OUTPUT",
    }
    _run_as_the_dialog_does(parameters, wait_until)
    QCoreApplication.processEvents()  # QGIS removes a layer left without a tree node on the next event loop turn
    group = _result_group(QgsProject.instance())
    assert group.name() == f"Oil spills – {Path(sar_scene).stem}"
    assert QgsProject.instance().layerTreeRoot().children()[0] == group
    assert [child.name() for child in group.children()] == ["Oil spill polygons", "Oil probability", "Classes"]
    assert [child.isVisible() for child in group.children()] == [True, True, False]
    assert len(QgsProject.instance().layerTreeRoot().findLayers()) == 3  # nothing left outside the group
    polygons, probability, classes = (child.layer() for child in group.children())
    assert polygons.renderer().type() == "categorizedSymbol" and polygons.labelsEnabled()
    assert probability.renderer().type() == "singlebandpseudocolor" and probability.renderer().band() == 2
    assert classes.renderer().type() == "paletted"
    from qgis.core import QgsColorRampLegendNode, QgsLayerTreeLayer

    ramps = [
        node
        for node in probability.legend().createLayerTreeModelLegendNodes(QgsLayerTreeLayer(probability))
        if isinstance(node, QgsColorRampLegendNode)
    ]
    assert [(node.settings().minimumLabel(), node.settings().maximumLabel()) for node in ramps] == [("0", "1")]


def test_skipped_rasters_are_not_written(dakd_provider, sar_scene, tmp_path, qgis_new_project, wait_until):
    """Issue 12 item 10: the two rasters are optional outputs; skipping them writes only the polygons."""
    from qgis.core import QgsProject

    algorithm = QgsApplication_algorithm()
    for key in ("PROBABILITY", "CLASSES"):
        definition = algorithm.parameterDefinition(key)
        assert definition.flags() & definition.FlagOptional and definition.createByDefault()
    parameters = {"INPUT": str(sar_scene), "METHOD": THRESHOLD, "OUTPUT": str(tmp_path / "out" / "spills.gpkg")}
    results, feedback = _run_as_the_dialog_does(parameters, wait_until)
    assert feedback.errors == []
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["spills.gpkg"]
    assert "PROBABILITY" not in results and "CLASSES" not in results
    assert [child.name() for child in _result_group(QgsProject.instance()).children()] == ["Oil spill polygons"]


def QgsApplication_algorithm():  # noqa: N802 - reads as what it returns
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry().algorithmById(ALGORITHM)


def test_relative_output_paths_are_taken_from_the_current_folder(dakd_provider, sar_scene, tmp_path, monkeypatch):
    """Issue 12 item 18: a relative OUTPUT (its folder missing) is written, not refused with an OGR message."""
    import processing

    monkeypatch.chdir(tmp_path)
    result = processing.run(
        ALGORITHM,
        {"INPUT": str(sar_scene), "METHOD": THRESHOLD, "OUTPUT": "new/spills.gpkg", "PROBABILITY": "new/p.tif"},
    )
    assert Path(result["OUTPUT"]) == tmp_path / "new" / "spills.gpkg"
    assert QgsVectorLayer(result["OUTPUT"], "s", "ogr").featureCount() == 1
    assert (tmp_path / "new" / "p.tif").is_file() and Path(result["PROBABILITY"]).is_absolute()


@pytest.mark.parametrize(
    "content, expected", [(b"", "is an empty file"), (b"not a raster\n", "is not a raster"), (None, "does not exist")]
)
def test_unreadable_input_says_what_is_wrong(dakd_provider, tmp_path, content, expected):
    """Issue 12 item 18: an empty or non-raster .tif is not reported as "not found"."""
    import processing

    path = tmp_path / "scene.tif"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(QgsProcessingException) as raised:
        processing.run(ALGORITHM, {"INPUT": str(path), "OUTPUT": str(tmp_path / "out.gpkg")})
    assert expected in str(raised.value) and str(path) in str(raised.value)
    assert "not found" not in str(raised.value)


def test_a_file_given_as_the_input_gets_nothing_written_beside_it(
    dakd_provider, scene_writer, folder_listing, tmp_path
):
    """Trust: a file path as the input (qgis_process, batch mode, a script) became a QGIS layer, and the run left
    files in the analyst's folders: GDAL saved the layer's statistics as ``scene.tif.aux.xml``, and OGR's GML
    reader, which QGIS tried first, wrote ``manifest.gfs`` into a Sentinel-1 product."""
    import shutil

    import processing
    from qgis.core import QgsProcessingContext

    folder = tmp_path / "analyst"
    folder.mkdir()
    scene = scene_writer(folder / "scene.tif")
    product = next(SENTINEL1.glob("*.SAFE"))
    manifest = Path(shutil.copytree(product, folder / product.name)) / "manifest.safe"
    before = folder_listing(folder)
    context = QgsProcessingContext()  # GDAL writes the statistics when the layers in it close
    parameters = {"INPUT": str(scene), "METHOD": THRESHOLD, **_outputs(tmp_path)}
    assert Path(processing.run(ALGORITHM, parameters, context=context)["OUTPUT"]).is_file()
    parameters = {"INPUT": str(manifest), "METHOD": 1, "MODEL": str(tmp_path / "nope.json"), **_outputs(tmp_path)}
    with pytest.raises(QgsProcessingException, match="nope.json"):  # refused before the engine reads the product
        processing.run(ALGORITHM, parameters, context=context)
    context.temporaryLayerStore().removeAllMapLayers()
    after = folder_listing(folder)
    assert sorted(set(after) - set(before)) == []
    assert after == before


def test_the_input_is_required_unless_a_product_is_given(dakd_provider, tmp_path, qgis_iface, monkeypatch):
    """Issue 12 item 12: no "[optional]" on the main input, short labels, help without hard line breaks, a help URL."""
    import processing
    from qgis.gui import QgsBrowserGuiModel

    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)

    algorithm = QgsApplication_algorithm()
    sar = algorithm.parameterDefinition("INPUT")
    assert not sar.flags() & sar.FlagOptional
    assert sar.checkValueIsAcceptable(None)  # a product may stand in for it
    assert all(len(p.description()) <= 32 for p in algorithm.parameterDefinitions()), [
        p.description() for p in algorithm.parameterDefinitions() if len(p.description()) > 32
    ]
    assert "\n" not in algorithm.shortHelpString()
    assert "user-guide/qgis" in algorithm.helpUrl()  # tests/plugin/test_help.py checks the page and anchor exist
    dialog = processing.createAlgorithmDialog(ALGORITHM, {})
    from qgis.PyQt.QtWidgets import QLabel

    labels = [label.text() for label in dialog.findChildren(QLabel)]
    assert any(text.startswith("SAR raster layer") for text in labels)
    assert not any(text.startswith("SAR raster layer") and "optional" in text for text in labels)
    dialog.deleteLater()
    with pytest.raises(QgsProcessingException, match="Choose a SAR raster layer or a Sentinel-1 product"):
        processing.run(ALGORITHM, {"OUTPUT": str(tmp_path / "out.gpkg")})
    with pytest.raises(QgsProcessingException, match="product .*gone.zip does not exist"):
        processing.run(ALGORITHM, {"PRODUCT": str(tmp_path / "gone.zip"), "OUTPUT": str(tmp_path / "out.gpkg")})


def test_missing_packages_are_named_with_the_installer(dakd_provider, sar_scene, tmp_path, monkeypatch):
    """Issue 12 item 11: before the dependencies are installed, one sentence names them and the installer."""
    import processing

    from dakd_qgis import deps

    monkeypatch.setattr(
        deps,
        "engine_requirements",
        lambda: [deps.parse_requirement("dakd-surely-missing>=1"), deps.parse_requirement("numpy>=1")],
    )
    feedback = _RecordingFeedback()
    with pytest.raises(QgsProcessingException) as raised:
        processing.run(ALGORITHM, {"INPUT": str(sar_scene), "OUTPUT": str(tmp_path / "out.gpkg")}, feedback=feedback)
    message = str(raised.value)
    assert "dakd-surely-missing" in message and "numpy" not in message and "Check dependencies" in message
    assert "Traceback" not in message and "exit code" not in message
    assert not (tmp_path / "out.gpkg").exists()


def test_an_engine_that_cannot_import_a_package_names_it(dakd_provider, sar_scene, tmp_path, isolated_plugin_settings):
    """An engine Python set in Settings that lacks a package: the missing module is named, the traceback only logged."""
    import processing

    python = tmp_path / "python-without-affine"
    python.write_text(
        "#!/bin/sh\necho 'Traceback (most recent call last):'\necho '  File \"x.py\", line 1'\n"
        "echo \"ModuleNotFoundError: No module named 'affine'\"\nexit 1\n"
    )
    python.chmod(0o755)
    isolated_plugin_settings.engine_python = str(python)
    isolated_plugin_settings.save()
    feedback = _RecordingFeedback()
    console = []
    feedback.pushConsoleInfo = console.append
    with pytest.raises(QgsProcessingException) as raised:
        processing.run(ALGORITHM, {"INPUT": str(sar_scene), "OUTPUT": str(tmp_path / "out.gpkg")}, feedback=feedback)
    assert "affine" in str(raised.value) and "Check dependencies" in str(raised.value)
    assert not any("Traceback" in text for text in feedback.errors + feedback.infos)


def test_a_missing_default_model_is_a_warning_and_the_model_is_named(
    dakd_provider, sar_scene, tmp_path, isolated_plugin_settings
):
    """Issue 12 item 14: the default model from Settings is gone: say so, and name the model that ran."""
    import processing

    isolated_plugin_settings.default_model = str(tmp_path / "deleted-model.json")
    isolated_plugin_settings.save()
    feedback = _RecordingFeedback()
    processing.run(ALGORITHM, {"INPUT": str(sar_scene), "OUTPUT": str(tmp_path / "out.gpkg")}, feedback=feedback)
    assert any("deleted-model.json no longer exists" in warning for warning in feedback.warnings)
    bundled = json.loads((Path(__file__).resolve().parents[3] / "resources" / "models" / "default.json").read_text())
    found = [info for info in feedback.infos if info.startswith("Found ")]
    assert found and f"model '{bundled['name']}'" in found[0], feedback.infos


def test_engine_flags_are_named_as_parameters(dakd_provider, sar_scene, tmp_path):
    """Issue 12 item 16: the engine's CLI hints ("use --band 1..1") reach the analyst as the parameter's name."""
    import processing
    import rasterio

    with pytest.raises(QgsProcessingException) as raised:
        processing.run(
            ALGORITHM, {"INPUT": str(sar_scene), "BAND": 3, "METHOD": THRESHOLD, "OUTPUT": str(tmp_path / "o.gpkg")}
        )
    message = str(raised.value)
    assert "set “Band” to 1..1" in message and "--" not in message, message
    two_bands = tmp_path / "two-bands.tif"
    with rasterio.open(sar_scene) as source:
        profile, data = source.profile, source.read(1)
    profile.update(count=2)
    with rasterio.open(two_bands, "w", **profile) as dataset:
        dataset.write(np.stack([data, data]))
    feedback = _RecordingFeedback()
    processing.run(
        ALGORITHM, {"INPUT": str(two_bands), "METHOD": THRESHOLD, "OUTPUT": str(tmp_path / "o.gpkg")}, feedback=feedback
    )
    chosen = [info for info in feedback.infos if "using band 1" in info]
    assert chosen and "“Band”" in chosen[0] and "--" not in chosen[0], feedback.infos


@pytest.mark.skipif(not QGIS_PROCESS.exists(), reason="qgis_process.bin is not installed")
def test_qgis_process_runs_with_only_input_and_output(package_plugin, tmp_path):
    """Issue 12 item 10: `qgis_process run dakd:detectoilspills -- INPUT=… OUTPUT=x.gpkg` on the sample scene."""
    sample = Path(package_plugin.__file__).resolve().parents[1] / "resources" / "sample" / "sample_scene.tif"
    plugins = tmp_path / "plugins"
    package_plugin.build_plugin_dir(Path(package_plugin.__file__).resolve().parents[1], plugins)
    env = _qgis_process_env(plugins, tmp_path / "profile")
    enabled = subprocess.run(
        [str(QGIS_PROCESS), "plugins", "enable", "dakd_qgis"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert enabled.returncode == 0, enabled.stderr
    work = tmp_path / "work"
    work.mkdir()
    run = subprocess.run(
        [str(QGIS_PROCESS), "--json", "run", ALGORITHM, "--", f"INPUT={sample}", "OUTPUT=x.gpkg"],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    report = json.loads(run.stdout)
    assert Path(report["results"]["OUTPUT"]) == work / "x.gpkg"
    spills = QgsVectorLayer(str(work / "x.gpkg"), "spills", "ogr")
    assert spills.isValid() and spills.featureCount() >= 1
    assert sorted(p.name for p in work.iterdir()) == ["x.gpkg"]
    assert "Traceback" not in run.stderr


def test_a_complex_raster_is_refused_in_one_line(dakd_provider, tmp_path):
    """Issue 12 item 7: an SLC-like complex raster is refused (its imaginary part used to be dropped in silence)."""
    import processing
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(0)
    field = (rng.normal(size=(64, 64)) + 1j * rng.normal(size=(64, 64))).astype("complex64")
    slc = tmp_path / "slc.tif"
    with rasterio.open(
        slc,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="complex64",
        crs="EPSG:32633",
        transform=Affine(10, 0, 500000, 0, -10, 6000000),
    ) as dataset:
        dataset.write(field, 1)
    assert QgsRasterLayer(str(slc), "slc").isValid()  # QGIS itself opens it
    with pytest.raises(QgsProcessingException) as raised:
        processing.run(ALGORITHM, {"INPUT": str(slc), "METHOD": THRESHOLD, **_outputs(tmp_path)})
    message = str(raised.value)
    assert "slc.tif: band 1 holds complex values (complex64), as in SLC data" in message, message
    assert "\n" not in message and "Traceback" not in message
    assert not (tmp_path / "out").exists()


def test_an_output_never_replaces_an_input(dakd_provider, sar_scene, tmp_path):
    """Issue 12 item 5: the plugin's outputs follow the engine's rule: a file the run reads is never replaced.

    QGIS replaces an existing output file of the name given; here that name is the scene or the model, in a
    folder of the analyst's files. The refusal comes before any work and every file survives.
    """
    import processing

    folder = sar_scene.parent
    (folder / "notes.txt").write_text("my notes\n")
    card = folder / "my-model.json"
    card.write_text("{}")
    (folder / "my-model.safetensors").write_bytes(b"weights")

    def snapshot():
        return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}

    before = snapshot()
    cases = [
        (
            {"METHOD": THRESHOLD, "OUTPUT": str(tmp_path / "spills.gpkg"), "PROBABILITY": str(sar_scene)},
            f"Will not replace {sar_scene}: it is an input of this run; choose another file for “Class probabilities”",
        ),
        (
            {
                "METHOD": THRESHOLD,
                "OUTPUT": str(tmp_path / "spills.gpkg"),
                "PROBABILITY": "TEMPORARY_OUTPUT",
                "CLASSES": str(sar_scene),
            },
            "choose another file for “Classes”",
        ),
        (
            {"METHOD": 1, "MODEL": str(card), "OUTPUT": str(card)},
            f"Will not replace {card}: it is an input of this run; choose another file for “Oil spill polygons”",
        ),
        (
            {
                "METHOD": 1,
                "MODEL": str(card),
                "OUTPUT": str(tmp_path / "spills.gpkg"),
                "PROBABILITY": str(folder / "my-model.safetensors"),
            },
            "it is an input of this run",
        ),
    ]
    for parameters, expected in cases:
        feedback = _RecordingFeedback()
        with pytest.raises(QgsProcessingException) as raised:
            processing.run(ALGORITHM, {"INPUT": str(sar_scene), **parameters}, feedback=feedback)
        assert expected in str(raised.value), str(raised.value)
        assert not any(info.startswith("Found ") for info in feedback.infos)  # refused before the engine ran
        assert snapshot() == before
        assert not (tmp_path / "spills.gpkg").exists()

    # a Sentinel-1 product is a folder: no file inside it is replaced either
    import shutil

    shipped = Path(__file__).resolve().parents[2] / "data" / "sentinel1"
    product = shutil.copytree(next(shipped.glob("*.SAFE")), tmp_path / "product" / next(shipped.glob("*.SAFE")).name)
    measurement = next((product / "measurement").glob("*.tiff"))
    kept = measurement.read_bytes()
    with pytest.raises(QgsProcessingException, match="it lies inside the input"):
        processing.run(
            ALGORITHM,
            {
                "PRODUCT": str(product / "manifest.safe"),
                "METHOD": THRESHOLD,
                "OUTPUT": str(tmp_path / "spills.gpkg"),
                "CLASSES": str(measurement),
            },
        )
    assert measurement.read_bytes() == kept and not (tmp_path / "spills.gpkg").exists()


def test_area_of_interest_extent_and_no_land_mask_reach_the_engine(dakd_provider, sar_scene, tmp_path):
    """Issue 15 item 4: an extent in another CRS (the canvas's, here lon/lat) keeps only the pixels inside."""
    import processing
    import rasterio
    from rasterio.warp import transform

    # The scene: 256 x 256 px of 10 m from (500000, 6000000) in UTM 33N; the area: its left half, in EPSG:4326.
    lons, lats = transform("EPSG:32633", "EPSG:4326", [499000, 501280], [5997000, 6001000])
    extent = f"{lons[0]},{lons[1]},{lats[0]},{lats[1]} [EPSG:4326]"  # QGIS order: xmin,xmax,ymin,ymax [crs]
    outputs = _outputs(tmp_path)
    processing.run(
        ALGORITHM, {"INPUT": str(sar_scene), "METHOD": THRESHOLD, "LAND_MASK": 1, "AOI_EXTENT": extent, **outputs}
    )
    with rasterio.open(outputs["CLASSES"]) as classes:
        valid = classes.read(1) != 255
    assert valid[:, :125].all() and not valid[:, 132:].any()


def test_an_area_of_interest_west_of_greenwich_is_used(dakd_provider, scene_writer, tmp_path):
    """An extent with a negative longitude (any scene west of Greenwich, in the canvas's lon/lat) reaches the
    engine: it read ``--aoi -9.01,...`` as an unknown option, and the run failed with "exit code 2"."""
    import processing
    import rasterio
    from rasterio.warp import transform

    scene = scene_writer(tmp_path / "west.tif", epsg=32629)  # UTM 29N: about 9° W
    lons, lats = transform("EPSG:32629", "EPSG:4326", [499000, 501280], [5997000, 6001000])
    assert lons[0] < 0
    extent = f"{lons[0]},{lons[1]},{lats[0]},{lats[1]} [EPSG:4326]"
    outputs = _outputs(tmp_path)
    processing.run(
        ALGORITHM, {"INPUT": str(scene), "METHOD": THRESHOLD, "LAND_MASK": 1, "AOI_EXTENT": extent, **outputs}
    )
    with rasterio.open(outputs["CLASSES"]) as classes:
        valid = classes.read(1) != 255
    assert valid[:, :125].all() and not valid[:, 132:].any()


def test_selected_polygons_are_the_area_of_interest(dakd_provider, sar_scene, tmp_path):
    """Only the selected feature counts (QGIS writes the selection to a file the engine reads)."""
    import processing
    import rasterio
    from qgis.core import QgsFeature, QgsGeometry, QgsProcessingFeatureSourceDefinition, QgsProject, QgsRectangle

    layer = QgsVectorLayer("Polygon?crs=EPSG:32633", "areas", "memory")
    features = []
    for rectangle in (QgsRectangle(500000, 5998720, 501280, 6000000), QgsRectangle(501280, 5997440, 502560, 5998720)):
        feature = QgsFeature()
        feature.setGeometry(QgsGeometry.fromRect(rectangle))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    QgsProject.instance().addMapLayer(layer)
    try:
        layer.selectByIds([next(layer.getFeatures()).id()])  # the top-left quarter only
        outputs = _outputs(tmp_path)
        processing.run(
            ALGORITHM,
            {
                "INPUT": str(sar_scene),
                "METHOD": THRESHOLD,
                "LAND_MASK": 1,
                "AOI_LAYER": QgsProcessingFeatureSourceDefinition(layer.id(), True),
                **outputs,
            },
        )
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    with rasterio.open(outputs["CLASSES"]) as classes:
        valid = classes.read(1) != 255
    assert valid[:128, :128].all() and not valid[128:, :].any() and not valid[:, 128:].any()


def test_an_output_never_replaces_the_file_behind_a_selected_area_layer(dakd_provider, sar_scene, tmp_path):
    """Trust: with selected features QGIS hands the engine a copy of the area layer, so the run's inputs named the
    copy and an output given the name of the analyst's own GeoPackage replaced it. It is refused before any work."""
    import fiona
    import processing
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProject
    from shapely.geometry import box, mapping

    areas = tmp_path / "areas.gpkg"
    schema = {"geometry": "Polygon", "properties": {"name": "str"}}
    with fiona.open(areas, "w", driver="GPKG", schema=schema, crs="EPSG:32633", layer="areas") as sink:
        for name, x in (("west", 500000.0), ("east", 501280.0)):
            sink.write({"geometry": mapping(box(x, 5998720.0, x + 1280.0, 6000000.0)), "properties": {"name": name}})
    before = areas.read_bytes()
    layer = QgsVectorLayer(f"{areas}|layername=areas", "areas", "ogr")
    QgsProject.instance().addMapLayer(layer)
    try:
        layer.selectByIds([next(layer.getFeatures()).id()])
        parameters = {
            "INPUT": str(sar_scene),
            "METHOD": THRESHOLD,
            "LAND_MASK": 1,
            "AOI_LAYER": QgsProcessingFeatureSourceDefinition(layer.id(), True),
            **_outputs(tmp_path),
            "OUTPUT": str(areas),
        }
        with pytest.raises(QgsProcessingException, match="it is an input of this run"):
            processing.run(ALGORITHM, parameters)
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    assert areas.read_bytes() == before


def _polygon_file(path: Path, driver: str, boxes: list[tuple[float, float, float, float]]) -> Path:
    """Write polygons (xmin, ymin, xmax, ymax in UTM 33N) with one ``name`` field, as the analyst last saved them."""
    import fiona
    from shapely.geometry import box, mapping

    schema = {"geometry": "Polygon", "properties": {"name": "str"}}
    layer = {"layer": path.stem} if driver == "GPKG" else {}
    with fiona.open(path, "w", driver=driver, schema=schema, crs="EPSG:32633", **layer) as sink:
        for index, corners in enumerate(boxes):
            sink.write({"geometry": mapping(box(*corners)), "properties": {"name": f"saved {index}"}})
    return path


def _draw_unsaved(layer: QgsVectorLayer, corners: tuple[float, float, float, float]) -> int:
    """Add a polygon as QGIS's digitizing does (default values, a GeoPackage's fid "Autogenerate"), not saved."""
    from qgis.core import QgsGeometry, QgsRectangle, QgsVectorLayerUtils

    assert layer.isEditable() or layer.startEditing()
    feature = QgsVectorLayerUtils.createFeature(layer, QgsGeometry.fromRect(QgsRectangle(*corners)))
    assert layer.addFeature(feature)
    return feature.id()


def test_unsaved_polygons_of_the_land_and_area_layers_reach_the_engine(dakd_provider, sar_scene, tmp_path):
    """Trust: a land mask or an area of interest edited but not saved was used as last saved (QGIS hands on the
    file on disk). Here each has one polygon drawn and not saved, and the run masks and reads by both."""
    import fiona
    import processing
    import rasterio
    from qgis.core import QgsProject

    # The scene: 256 x 256 px of 10 m from (500000, 6000000). Saved: land far away, the area's top-left quarter.
    land = QgsVectorLayer(str(_polygon_file(tmp_path / "land.shp", "ESRI Shapefile", [(0, 0, 1000, 1000)])), "land")
    area = QgsVectorLayer(
        str(_polygon_file(tmp_path / "area.geojson", "GeoJSON", [(500000, 5998720, 501280, 6000000)])), "area"
    )
    assert land.isValid() and area.isValid()
    _draw_unsaved(land, (500000, 5999360, 500640, 6000000))  # the top-left 64 x 64 px are land
    _draw_unsaved(area, (501280, 5997440, 502560, 5998720))  # and the bottom-right quarter is of interest too
    QgsProject.instance().addMapLayers([land, area])
    outputs = _outputs(tmp_path)
    try:
        processing.run(
            ALGORITHM,
            {
                "INPUT": str(sar_scene),
                "METHOD": THRESHOLD,
                "LAND_MASK": 2,
                "LAND_LAYER": land.id(),
                "LAND_BUFFER_M": 0,
                "AOI_LAYER": area.id(),
                **outputs,
            },
        )
        assert land.isModified() and area.isModified()  # the analyst's edits are left unsaved, as they were
    finally:
        QgsProject.instance().removeMapLayers([land.id(), area.id()])
    with rasterio.open(outputs["CLASSES"]) as raster:
        classes = raster.read(1)
    assert (classes[128:, 128:] != 255).all()  # the unsaved area polygon was read
    assert (classes[:64, :64] >= 4).all() and (classes[64:128, 64:128] < 4).all()  # the unsaved land masked
    assert (classes[:128, 128:] == 255).all() and (classes[128:, :128] == 255).all()
    with fiona.open(tmp_path / "land.shp") as saved:
        assert len(saved) == 1


def test_selected_unsaved_polygons_of_a_geopackage_are_the_area(dakd_provider, tmp_path):
    """The copy QGIS writes of a selection dropped the GeoPackage polygons drawn but not saved; the plugin's own
    copy keeps them (no engine run: the file the engine would read is checked)."""
    import fiona
    from qgis.core import QgsProcessingContext, QgsProcessingFeatureSourceDefinition, QgsProject

    from dakd_qgis.algorithms.detect import DetectOilSpillsAlgorithm

    path = _polygon_file(tmp_path / "areas.gpkg", "GPKG", [(500000, 5998720, 501280, 6000000)])
    layer = QgsVectorLayer(f"{path}|layername=areas", "areas", "ogr")
    drawn = [_draw_unsaved(layer, (x, 5997440, x + 1000, 5998720)) for x in (501000, 502000)]
    QgsProject.instance().addMapLayer(layer)
    algorithm = DetectOilSpillsAlgorithm()
    try:
        algorithm.initAlgorithm()
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        layer.selectByIds(drawn)
        value = QgsProcessingFeatureSourceDefinition(layer.id(), True)
        copy = algorithm._layer_file({"AOI_LAYER": value}, "AOI_LAYER", context)
        with fiona.open(copy) as source:
            lefts = sorted(min(x for x, _y in feature.geometry["coordinates"][0]) for feature in source)
        assert lefts == [501000, 502000]  # the two drawn polygons, not the saved one
        whole = algorithm._layer_file({"AOI_LAYER": layer.id()}, "AOI_LAYER", context)
        with fiona.open(whole) as source:
            assert len(source) == 3 and whole != str(path)
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
        algorithm = context = None


def test_a_raster_inside_a_zip_is_refused_in_one_line(dakd_provider, zipped_scene, tmp_path):
    """Trust: a layer of ``/vsizip/delivery.zip/scene.tif`` reached the engine as the zip."""
    import processing
    from qgis.core import QgsProject

    layer = QgsRasterLayer(zipped_scene, "zipped scene", "gdal")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    feedback = _RecordingFeedback()
    try:
        with pytest.raises(QgsProcessingException) as raised:
            processing.run(
                ALGORITHM, {"INPUT": layer.id(), "METHOD": THRESHOLD, **_outputs(tmp_path)}, feedback=feedback
            )
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    message = str(raised.value)
    assert "Layer 'zipped scene' is read from inside an archive or through a GDAL driver; extract it" in message
    assert "\n" not in message and "Traceback" not in message
    assert not any(info.startswith("Found ") for info in feedback.infos) and not (tmp_path / "out").exists()


def test_a_zipped_product_manifest_typed_as_the_input_is_the_product(
    dakd_provider, zipped_scene, folder_listing, tmp_path
):
    """Audit: ``/vsizip/<zip>/<product>.SAFE/manifest.safe`` typed as the input (qgis_process, a script) was refused
    as "does not exist", since QGIS loads only paths on disk; as a layer it runs as the zip product. Typed, it is that
    layer now: the zip is the run's input (an output of its name is refused before the run, as for any input), and any
    other member of a zip is refused as the same layer added to the map is."""
    import zipfile

    import processing

    safe = next(SENTINEL1.glob("*.SAFE"))
    folder = tmp_path / "downloads"
    folder.mkdir()
    archive = folder / f"{safe.stem}.zip"
    with zipfile.ZipFile(archive, "w") as sink:
        for path in sorted(safe.rglob("*")):
            sink.write(path, path.relative_to(safe.parent).as_posix())
    before = folder_listing(folder)
    typed = f"/vsizip/{archive}/{safe.name}/manifest.safe"
    with pytest.raises(QgsProcessingException) as raised:
        processing.run(ALGORITHM, {"INPUT": typed, "METHOD": THRESHOLD, "OUTPUT": str(archive)})
    assert f"Will not replace {archive}: it is an input of this run" in str(raised.value), str(raised.value)
    assert folder_listing(folder) == before  # the zip untouched, nothing written beside it
    with pytest.raises(QgsProcessingException) as raised:
        processing.run(ALGORITHM, {"INPUT": zipped_scene, "METHOD": THRESHOLD, **_outputs(tmp_path)})
    message = str(raised.value)
    assert "is read from inside an archive or through a GDAL driver; extract it" in message, message
    assert "does not exist" not in message and not (tmp_path / "out").exists()


def test_with_a_product_the_band_counts_its_polarisations_in_manifest_order(dakd_provider, tmp_path):
    """Audit: with the product parameter, "Band" lists the layer's bands (or none), yet the engine reads the product's
    n-th polarisation as its manifest lists them (VV first), which neither the help nor the docs said. The shipped
    1SDV product lists VV and VH and keeps the VV files only: band 2 is VH."""
    import processing

    algorithm = QgsApplication_algorithm()
    assert "1 = VV, 2 = VH" in algorithm.parameterDefinition("BAND").help()
    assert "1 = VV and 2 = VH" in algorithm.shortHelpString()
    manifest = next(SENTINEL1.glob("*.SAFE")) / "manifest.safe"
    with pytest.raises(QgsProcessingException, match="lists VH but names no VH files"):
        processing.run(
            ALGORITHM, {"PRODUCT": str(manifest), "BAND": 2, "METHOD": THRESHOLD, "OUTPUT": str(tmp_path / "s.gpkg")}
        )
    assert not (tmp_path / "s.gpkg").exists()


def test_land_mask_from_polygons_needs_a_layer(dakd_provider, sar_scene, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException, match="no land polygons are chosen"):
        processing.run(ALGORITHM, {"INPUT": str(sar_scene), "METHOD": THRESHOLD, "LAND_MASK": 2, **_outputs(tmp_path)})


@pytest.mark.parametrize("suffix", [".tif", ".img"])
def test_writing_a_raster_output_never_touches_a_file_named_like_its_partial(tmp_path, suffix):
    """The analyst's own ``.classes.partial.tif`` beside the output is neither replaced nor deleted."""
    import rasterio

    from dakd_qgis.algorithms.detect import _replace_raster

    source = tmp_path / "run" / "classes.tif"
    source.parent.mkdir()
    profile = {"driver": "GTiff", "width": 4, "height": 3, "count": 1, "dtype": "uint8"}
    with rasterio.open(source, "w", **profile) as raster:
        raster.write(np.arange(12, dtype=np.uint8).reshape(1, 3, 4))
    destination = tmp_path / "out" / f"classes{suffix}"
    destination.parent.mkdir()
    theirs = [destination.with_name(f".classes.partial{suffix}"), destination.with_name(f"classes{suffix}.partial")]
    for path in theirs:
        path.write_bytes(b"the analyst's file")
    _replace_raster(source, destination)
    with rasterio.open(destination) as written:
        assert written.read(1).tolist() == np.arange(12).reshape(3, 4).tolist()
    assert all(path.read_bytes() == b"the analyst's file" for path in theirs)
    ours = {path.name for path in destination.parent.iterdir()} - {path.name for path in theirs}
    assert destination.name in ours and all(name.startswith(destination.name) for name in ours)  # sidecars follow it


def test_a_raster_output_that_cannot_be_written_is_one_line(tmp_path):
    """Trust: an output folder that cannot be written (here: a file stands where the folder should be; the same
    for a read-only or full disk) ended "Detect oil spills" in an OSError traceback after the polygons were
    written; now it is one line naming the file."""
    from qgis.core import QgsProcessingException

    from dakd_qgis.algorithms.detect import _replace_raster

    source = tmp_path / "classes.tif"
    source.write_bytes(b"raster")
    (tmp_path / "notes").write_text("the analyst's notes")
    destination = tmp_path / "notes" / "classes.tif"
    with pytest.raises(QgsProcessingException, match=r"Cannot write .*classes\.tif .*choose another folder"):
        _replace_raster(source, destination)
    assert (tmp_path / "notes").read_text() == "the analyst's notes"


def test_a_report_that_cannot_be_kept_is_one_line_not_a_failed_run(tmp_path):
    """The report is copied after the outputs are in place: a failed copy is one logged line, not a traceback."""
    from qgis.core import QgsProcessingFeedback

    from dakd_qgis.algorithms.detect import _keep_report

    class Collected(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.errors = []

        def reportError(self, error, fatalError=False):  # noqa: N802 - QGIS's name
            self.errors.append(error)

    feedback = Collected()
    assert _keep_report(tmp_path / "gone" / "report.html", feedback) is None
    assert len(feedback.errors) == 1 and "report could not be kept" in feedback.errors[0]
    report = tmp_path / "report.html"
    report.write_text("<html>the run</html>")
    kept = _keep_report(report, feedback)
    assert kept is not None and kept.read_text() == "<html>the run</html>" and kept.parent != tmp_path


def test_a_raster_format_gdal_cannot_write_is_refused_before_the_run(dakd_provider, sar_scene, tmp_path):
    """Audit: a Class probabilities output named ``prob.jpg`` failed ("GDAL cannot write … as JPEG") only after a
    full detection, with the polygons already written (over an earlier ``spills.gpkg``). JPEG takes one or three
    byte bands and the probabilities have one per class: now the run is refused before the engine starts, and
    the output folder stays as it was (empty)."""
    import processing

    out = tmp_path / "out"
    out.mkdir()
    texts = []

    class Recording(_RecordingFeedback):
        def setProgressText(self, text):  # noqa: N802 - QGIS API
            texts.append(text)
            super().setProgressText(text)

    feedback = Recording()
    parameters = {
        "INPUT": str(sar_scene),
        "METHOD": THRESHOLD,
        "OUTPUT": str(out / "spills.gpkg"),
        "PROBABILITY": str(out / "prob.jpg"),
        "CLASSES": str(out / "classes.tif"),
    }
    with pytest.raises(QgsProcessingException) as raised:
        processing.run(ALGORITHM, parameters, feedback=feedback)
    message = str(raised.value)
    assert message == f"GDAL cannot write {out / 'prob.jpg'} as JPEG; choose a .tif output.", message
    assert texts == [] and not any(info.startswith("Found ") for info in feedback.infos)  # the engine never ran
    assert list(out.iterdir()) == []
    from qgis.core import QgsProcessingUtils

    assert list(Path(QgsProcessingUtils.tempFolder()).glob("dakd-detect-*")) == []
    # a VRT would only point at the run's temporary raster, which is removed at the end
    with pytest.raises(QgsProcessingException, match=r"classes\.vrt would point at nothing\. Choose a \.tif output"):
        processing.run(ALGORITHM, {**parameters, "PROBABILITY": None, "CLASSES": str(out / "classes.vrt")})
    assert list(out.iterdir()) == []
    # the classes, one band, are a format JPEG can hold: this one is written
    parameters.update(PROBABILITY=None, CLASSES=str(out / "classes.jpg"))
    result = processing.run(ALGORITHM, parameters)
    assert QgsRasterLayer(result["CLASSES"], "c").isValid()
    assert {path.name for path in out.iterdir()} >= {"spills.gpkg", "classes.jpg"}
    assert not [path.name for path in out.iterdir() if ".partial" in path.name]


def test_a_probability_png_is_written_when_the_run_has_two_bands(dakd_provider, sar_scene, binary_model_card, tmp_path):
    """Audit: the probability output was checked as five bands (the contract's classes) whatever the method, so a
    PNG (at most four bands) was refused before a threshold run or a binary model's run, which write two (sea,
    oil). Now it is sized by the detector the run uses; a five-class model's PNG is still refused before the run.
    """
    import processing
    from osgeo import gdal

    parameters = {"INPUT": str(sar_scene), "LAND_MASK": 1, "CLASSES": None}
    for name, method, model in (("threshold", THRESHOLD, ""), ("binary", 1, str(binary_model_card))):
        out = tmp_path / name
        result = processing.run(
            ALGORITHM,
            {
                **parameters,
                "METHOD": method,
                "MODEL": model,
                "OUTPUT": str(out / "spills.gpkg"),
                "PROBABILITY": str(out / "prob.png"),
            },
        )
        written = gdal.Open(result["PROBABILITY"])
        assert (written.GetDriver().ShortName, written.RasterCount) == ("PNG", 2), name
        written = None
    out = tmp_path / "auto"
    out.mkdir()
    with pytest.raises(QgsProcessingException, match=r"GDAL cannot write .*prob\.png as PNG; choose a \.tif output"):
        processing.run(  # auto runs the bundled five-class model
            ALGORITHM, {**parameters, "OUTPUT": str(out / "spills.gpkg"), "PROBABILITY": str(out / "prob.png")}
        )
    assert list(out.iterdir()) == []


def test_an_output_that_fails_after_the_run_leaves_every_destination_as_it_was(dakd_provider, sar_scene, tmp_path):
    """Audit: the polygons were written first, then the rasters: a raster that could not be written left a new
    ``spills.gpkg`` (over the analyst's earlier one) beside the old rasters. Now the rasters are written under
    partial names first, then the polygons, then the rasters renamed: a failure at any step leaves the earlier
    outputs as they were and no partial file."""
    import processing

    out = tmp_path / "out"
    out.mkdir()
    earlier = {"spills.gpkg": b"earlier polygons", "probability.tif": b"earlier probabilities"}
    for name, content in earlier.items():
        (out / name).write_bytes(content)
    (tmp_path / "notes").write_text("the analyst's notes")  # a file where a folder is expected

    def snapshot():
        return {path.name: path.read_bytes() for path in out.iterdir()}

    # the classes cannot be written (their folder is a file): detected, but no polygons are written
    feedback = _RecordingFeedback()
    with pytest.raises(QgsProcessingException, match=r"Cannot write .*notes/classes\.tif .*choose another folder"):
        processing.run(
            ALGORITHM,
            {
                "INPUT": str(sar_scene),
                "METHOD": THRESHOLD,
                "OUTPUT": str(out / "spills.gpkg"),
                "PROBABILITY": str(out / "probability.tif"),
                "CLASSES": str(tmp_path / "notes" / "classes.tif"),
            },
            feedback=feedback,
        )
    assert any(info.startswith("Found ") for info in feedback.infos)  # the failure came after the detection
    assert snapshot() == earlier
    # the polygons cannot be written (their folder is a file): the rasters written meanwhile are not kept
    with pytest.raises(QgsProcessingException, match=r"Cannot create the folder .*notes"):
        processing.run(
            ALGORITHM,
            {
                "INPUT": str(sar_scene),
                "METHOD": THRESHOLD,
                "OUTPUT": str(tmp_path / "notes" / "spills.gpkg"),
                "PROBABILITY": str(out / "probability.tif"),
                "CLASSES": str(out / "new" / "classes.tif"),
            },
        )
    assert snapshot() == earlier  # nor the folder "new" the classes' partial file needed
    assert (tmp_path / "notes").read_text() == "the analyst's notes"


def test_a_refused_run_from_the_dialog_loads_no_earlier_file(
    dakd_provider, sar_scene, tmp_path, qgis_new_project, wait_until
):
    """The raster destinations are asked for before the run now (to check their format), which queues them for
    loading; the dialog loads what is queued even after a failure. A refused run must neither load the earlier
    ``classes.tif`` of that name as if it were its result, nor say that its layers "were not correctly generated"."""
    import shutil

    from qgis.core import QgsProject

    out = tmp_path / "out"
    out.mkdir()
    shutil.copyfile(sar_scene, out / "classes.tif")  # an earlier run's raster, under the name given
    parameters = {
        "INPUT": str(sar_scene),
        "METHOD": THRESHOLD,
        "OUTPUT": str(out / "spills.gpkg"),
        "PROBABILITY": str(out / "prob.jpg"),
        "CLASSES": str(out / "classes.tif"),
    }
    _results, feedback = _run_as_the_dialog_does(parameters, wait_until, succeed=False)
    assert len(feedback.errors) == 1 and feedback.errors[0].startswith("GDAL cannot write"), feedback.errors
    assert QgsProject.instance().mapLayers() == {}
    assert sorted(path.name for path in out.iterdir()) == ["classes.tif"]
    # run in the caller's thread (a script, a model), the queue is the caller's context itself: left as it was
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingOutputLayerDefinition

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    for key in ("OUTPUT", "PROBABILITY", "CLASSES"):
        parameters[key] = QgsProcessingOutputLayerDefinition(parameters[key], QgsProject.instance())
    with pytest.raises(QgsProcessingException, match="GDAL cannot write"):
        processing.run(ALGORITHM, parameters, context=context)
    assert context.layersToLoadOnCompletion() == {}
