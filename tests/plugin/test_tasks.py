"""The "Segment oil spills" right-click action: a QgsTask that adds styled result layers to the project."""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import Qgis, QgsProject, QgsRasterLayer, QgsTask
from qgis.PyQt.QtCore import QCoreApplication, QEvent

pytestmark = pytest.mark.qgis


def _raster(path, name="S1 scene"):
    layer = QgsRasterLayer(str(path), name)
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


def test_task_adds_styled_layers_in_a_group(qgis_iface, qgis_new_project, sar_scene, isolated_plugin_settings):
    from dakd_qgis.tasks import start_segmentation

    layer = _raster(sar_scene)
    done = []
    qgis_iface.messageBar().clearWidgets()  # earlier tests' messages (the bar is shared by the session)
    segmentation = start_segmentation(qgis_iface, layer, on_done=done.append, task_manager=False)
    assert segmentation is not None
    task = segmentation.task
    # The message bar shows a progress bar and a Cancel button while the task runs.
    assert segmentation.widget.findChild(type(segmentation.cancel_button), "dakd_cancel_segmentation") is not None
    ok = task.run()  # synchronously, in this thread; QGIS calls run() in a worker thread
    assert ok, task.error
    assert task.progress() == 100
    task.finished(ok)
    assert done == [segmentation] and segmentation.state == "done"

    group = segmentation.group
    assert group.name() == "Oil spills – S1 scene"
    names = [child.name() for child in group.children()]
    assert names == ["Oil spill polygons", "Oil probability", "Classes"]
    polygons = QgsProject.instance().mapLayersByName("Oil spill polygons")[0]
    # The bundled default model runs (no model chosen): it must find the one slick (0.34 km²) as oil; it may
    # call part of this synthetic ellipse a look-alike, so the exact area depends on the model's weights.
    oil = [f for f in polygons.getFeatures() if f["class"] == "oil"]
    assert len(oil) == 1 and 0.1 < oil[0]["area_km2"] < 0.45
    assert f"{oil[0]['detector']}" == "model"
    renderer = polygons.renderer()
    assert renderer.type() == "categorizedSymbol" and renderer.classAttribute() == "class"
    assert [c.value() for c in renderer.categories()] == ["oil", "look-alike", "ship"]
    assert polygons.labelsEnabled()
    probability = QgsProject.instance().mapLayersByName("Oil probability")[0]
    assert probability.renderer().type() == "singlebandpseudocolor"
    assert probability.renderer().band() == 2
    ramp = probability.renderer().shader().rasterShaderFunction().colorRampItemList()
    assert ramp[0].color.alpha() == 0 and ramp[-1].color.alpha() > 200  # transparent where no oil
    # Issue 12 item 15: the legend reads 0-1 (probabilities), not the stored bytes 0-250.
    from qgis.core import QgsColorRampLegendNode, QgsLayerTreeLayer

    ramps = [
        node
        for node in probability.legend().createLayerTreeModelLegendNodes(QgsLayerTreeLayer(probability))
        if isinstance(node, QgsColorRampLegendNode)
    ]
    assert [(node.settings().minimumLabel(), node.settings().maximumLabel()) for node in ramps] == [("0", "1")]
    assert not group.findLayer(QgsProject.instance().mapLayersByName("Classes")[0]).isVisible()
    # The run's files live in the cache's runs folder; the message names what was found and where.
    assert (isolated_plugin_settings.runs_dir()).iterdir()
    expected = f"S1 scene: 1 oil spill, {oil[0]['area_km2']:.1f} km², cpu"  # then threads and other classes
    assert segmentation.message.startswith(expected)
    # Issue 15 item 5: the message offers the run's report.
    (item,) = [item for item in qgis_iface.messageBar().items() if _open_report_button(item) is not None]
    assert expected.split(": ", 1)[1] in item.text()
    assert item.level() == Qgis.Success and not task.warnings  # a run without warnings is a plain success
    report = task.outcome.report_path
    assert report is not None and report.name == "report.html" and report.is_file()
    assert _open_report_button(item).toolTip() == str(report)
    opened = _clicked_url(_open_report_button(item))
    assert opened == [report.as_uri()]
    qgis_iface.messageBar().clearWidgets()


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # the point of the test
def test_a_run_with_warnings_says_them_with_its_result(qgis_iface, qgis_new_project, tmp_path):
    """A raster without a CRS is detected in pixel coordinates, its km² from an assumed pixel size: the engine
    warns, and the message bar said only "1 oil spill, 0.3 km²" as a plain success (the warning was an info
    line in the log). Now the result is a warning that names them."""
    import numpy as np
    import rasterio

    from dakd_qgis.tasks import start_segmentation

    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:256, 0:256]
    sigma0 = (10 ** (-13 / 10) * rng.gamma(4.0, 0.25, (256, 256))).astype("float32")
    sigma0[((cols - 128) / 60) ** 2 + ((rows - 128) / 18) ** 2 <= 1] *= 10 ** (-12 / 10)
    scene = tmp_path / "no-crs.tif"
    with rasterio.open(scene, "w", driver="GTiff", width=256, height=256, count=1, dtype="float32") as dataset:
        dataset.write(sigma0, 1)
        dataset.update_tags(1, units="linear")
    qgis_iface.messageBar().clearWidgets()
    segmentation = start_segmentation(qgis_iface, _raster(scene, "no crs"), task_manager=False)
    segmentation.task.finished(segmentation.task.run())
    assert segmentation.state == "done"
    assert " – warnings: " in segmentation.message and "has no CRS" in segmentation.message, segmentation.message
    (item,) = [item for item in qgis_iface.messageBar().items() if _open_report_button(item) is not None]
    assert item.level() == Qgis.Warning and "has no CRS" in item.text()
    qgis_iface.messageBar().clearWidgets()


def _open_report_button(item):
    from qgis.PyQt.QtWidgets import QPushButton

    return item.findChild(QPushButton, "dakd_open_report")


def _clicked_url(button):
    """Click ``button`` and return the file URLs Qt was asked to open (a file-scheme handler, not a browser)."""
    from qgis.PyQt.QtCore import QObject, QUrl, pyqtSlot
    from qgis.PyQt.QtGui import QDesktopServices

    class Handler(QObject):
        def __init__(self):
            super().__init__()
            self.urls = []

        @pyqtSlot(QUrl)
        def open(self, url):  # noqa: A003 - the slot name Qt calls
            self.urls.append(url.toString())

    handler = Handler()
    QDesktopServices.setUrlHandler("file", handler, "open")
    try:
        button.click()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    return handler.urls


def test_task_in_the_task_manager_and_cancel(qgis_iface, qgis_new_project, scene_writer, tmp_path, wait_until):
    """Through QGIS's task manager (a worker thread); Cancel in the message bar stops it without output."""
    from dakd_qgis.settings import PluginSettings
    from dakd_qgis.tasks import start_segmentation

    layer = _raster(scene_writer(tmp_path / "big.tif", width=1024, height=1024), "big")
    finished = []
    segmentation = start_segmentation(qgis_iface, layer, on_done=finished.append)
    task = segmentation.task
    statuses = []
    task.statusChanged.connect(statuses.append)
    assert wait_until(
        lambda: task.stage.startswith("detect") or task.status() in (QgsTask.Complete, QgsTask.Terminated)
    )
    segmentation.cancel_button.click()
    assert wait_until(lambda: finished, 120)
    assert segmentation.state == "cancelled"  # QGIS has deleted the task by now
    assert "cancelled" in segmentation.message
    # Issue 12 item 18: a cancel is not a failure, so QGIS must not announce "Task failed" (a Terminated task).
    assert QgsTask.Terminated not in statuses and statuses[-1] == QgsTask.Complete
    assert not QgsProject.instance().mapLayersByName("Oil spill polygons")
    runs = PluginSettings.load().runs_dir()
    assert [p for p in runs.iterdir() if not p.name.startswith(".")] == []


def test_task_failure_is_reported_in_one_line(qgis_iface, qgis_new_project, tmp_path):
    import numpy as np
    import rasterio
    from affine import Affine

    from dakd_qgis.tasks import start_segmentation

    empty = tmp_path / "empty.tif"
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
    segmentation = start_segmentation(qgis_iface, _raster(empty, "empty"), task_manager=False)
    ok = segmentation.task.run()
    segmentation.task.finished(ok)
    assert not ok
    assert "no valid pixels" in segmentation.message and "\n" not in segmentation.message
    assert any("no valid pixels" in text for text in qgis_iface.messageBar().get_messages(2))
    assert not Path(segmentation.task.request.out_dir).exists()  # the folder reserved for the run is released


def test_names_with_markup_read_in_the_message_bar_as_written(qgis_iface, qgis_new_project, tmp_path):
    """QGIS's message bar shows HTML: a file named ``e<b>x.tif`` showed as "ex.tif", half in bold, and a name with a
    link as a working link. File and layer names, engine errors and warnings are escaped."""
    import numpy as np
    import rasterio
    from affine import Affine
    from qgis.PyQt.QtGui import QTextDocument

    from dakd_qgis.tasks import start_segmentation

    empty = tmp_path / "e<b>x.tif"
    profile = dict(driver="GTiff", width=64, height=64, count=1, dtype="float32", crs="EPSG:32633", nodata=0)
    with rasterio.open(empty, "w", transform=Affine(10, 0, 500000, 0, -10, 6000000), **profile) as dataset:
        dataset.write(np.zeros((64, 64), "float32"), 1)
    qgis_iface.messageBar().clearWidgets()
    segmentation = start_segmentation(qgis_iface, _raster(empty, "<a href=http:x>layer</a>"), task_manager=False)
    segmentation.task.finished(segmentation.task.run())
    (shown,) = qgis_iface.messageBar().get_messages(2)
    document = QTextDocument()
    document.setHtml(shown)
    assert "e<b>x.tif" in document.toPlainText() and "no valid pixels" in document.toPlainText(), shown


def test_a_raster_inside_a_zip_is_refused_in_one_line(
    qgis_iface, qgis_new_project, zipped_scene, isolated_plugin_settings
):
    """Trust: right-click ▸ Segment on a layer of ``/vsizip/delivery.zip/scene.tif`` ran the engine on the zip."""
    from dakd_qgis.tasks import start_segmentation

    qgis_iface.messageBar().clearWidgets()
    assert start_segmentation(qgis_iface, _raster(zipped_scene, "zipped scene"), task_manager=False) is None
    messages = qgis_iface.messageBar().get_messages(2)
    assert len(messages) == 1 and messages[0].endswith(
        ":Layer 'zipped scene' is read from inside an archive or through a GDAL driver; extract it, or export it to "
        "GeoTIFF (right-click ▸ Export ▸ Save As…), and use that"
    ), messages
    runs = isolated_plugin_settings.runs_dir()
    assert not runs.exists() or not any(runs.iterdir())  # refused before a run folder is reserved


def test_two_runs_of_same_named_layers_in_one_second_get_their_own_folders(
    qgis_iface, qgis_new_project, sar_scene, isolated_plugin_settings, monkeypatch
):
    """Trust: the folder was named, not made, from the layer name and the second, and ``--overwrite`` was passed,
    so a second run on a layer of the same name (two SNAP ``Sigma0_VV_db`` exports) replaced the first's results
    while its layers were in the project. Each run now reserves its own empty folder and replaces nothing."""
    from dakd_qgis.detection import detect_arguments
    from dakd_qgis.tasks import run_output_dir, start_segmentation

    monkeypatch.setattr("dakd_qgis.tasks.time.strftime", lambda _format: "20261207-101500")
    first, second = (
        start_segmentation(qgis_iface, _raster(sar_scene, "Sigma0_VV_db"), task_manager=False) for _ in "12"
    )
    folders = [Path(run.task.request.out_dir) for run in (first, second)]
    assert folders[0] != folders[1] and all(folder.is_dir() for folder in folders)
    assert all("--overwrite" not in detect_arguments(run.task.request) for run in (first, second))
    earlier = folders[0] / "mine.txt"
    earlier.write_text("results of the first run")
    assert run_output_dir(isolated_plugin_settings, "Sigma0_VV_db") not in folders
    ok = second.task.run()
    second.task.finished(ok)
    assert ok, second.task.error
    assert earlier.read_text() == "results of the first run" and (folders[1] / "summary.json").is_file()


def test_plugin_context_action_starts_a_task(qgis_iface, qgis_new_project, sar_scene, wait_until):
    from dakd_qgis.plugin import DakdPlugin

    plugin = DakdPlugin(qgis_iface)
    layer = _raster(sar_scene)
    qgis_iface.setActiveLayer(layer)
    plugin.segment_active_layer()
    assert len(plugin.segmentations) == 1
    segmentation = plugin.segmentations[0]
    assert wait_until(lambda: not plugin.segmentations, 120)
    assert segmentation.state == "done", segmentation.message
    assert QgsProject.instance().mapLayersByName("Oil spill polygons")
    QCoreApplication.processEvents()


def test_a_closed_message_and_a_plugin_reload_during_a_run_raise_nothing(
    qgis_iface, qgis_new_project, sar_scene, wait_until, monkeypatch
):
    """Audit: QGIS deletes a closed message with its progress bar and Cancel button: each progress tick then raised
    "wrapped C/C++ object has been deleted" (QGIS's Python error window), and so did the cancel of a plugin unload;
    the run then ended after unload had emptied the plugin's list, and removing it from the list raised again."""
    import sys

    from qgis.PyQt import sip

    from dakd_qgis.plugin import DakdPlugin

    raised = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, error, trace: raised.append(error))  # PyQt reports slots here
    plugin = DakdPlugin(qgis_iface)
    qgis_iface.setActiveLayer(_raster(sar_scene))
    plugin.segment_active_layer()
    (segmentation,) = plugin.segmentations
    qgis_iface.messageBar().popWidget(segmentation.widget)  # what the message's close button does: QGIS deletes it
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    assert sip.isdeleted(segmentation.progress_bar)  # with its progress bar and Cancel button
    segmentation._show_progress(10.0)  # the next progress tick
    plugin.unload()  # an upgrade or reload in the Plugin Manager cancels the run
    assert wait_until(lambda: segmentation.state != "running", 120)
    QCoreApplication.processEvents()
    assert raised == [] and segmentation.state == "cancelled", (raised, segmentation.message)


def test_a_run_leaves_no_unclosed_file(qgis_iface, qgis_new_project, sar_scene):
    """Issue 12 item 18: no "ResourceWarning: unclosed file" from the engine child's pipe."""
    import gc
    import warnings

    from dakd_qgis.tasks import start_segmentation

    segmentation = start_segmentation(qgis_iface, _raster(sar_scene), task_manager=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        ok = segmentation.task.run()
        gc.collect()
    segmentation.task.finished(ok)
    assert ok, segmentation.task.error
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def _install_buttons(bar):
    from qgis.PyQt.QtWidgets import QPushButton

    return [item for item in bar.items() if item.findChild(QPushButton, "dakd_install_dependencies") is not None]


def test_missing_packages_offer_the_installer_instead_of_a_traceback(
    qgis_iface, qgis_new_project, sar_scene, monkeypatch
):
    """Issue 12 item 11: right-click and Detect… before the packages are installed name them and offer Install…."""
    from dakd_qgis import deps
    from dakd_qgis.plugin import DakdPlugin

    monkeypatch.setattr(deps, "engine_requirements", lambda: [deps.parse_requirement("affine-surely-missing>=1")])
    plugin = DakdPlugin(qgis_iface)
    bar = qgis_iface.messageBar()
    bar.clearWidgets()
    qgis_iface.setActiveLayer(_raster(sar_scene))
    plugin.segment_active_layer()
    assert plugin.segmentations == []  # nothing started
    offers = _install_buttons(bar)
    assert len(offers) == 1 and "affine-surely-missing" in offers[0].text()
    opened = []
    monkeypatch.setattr(plugin, "open_deps_dialog", lambda: opened.append(True))
    plugin.open_detect_dialog()
    assert len(_install_buttons(bar)) == 2
    bar.clearWidgets()


def test_an_engine_python_without_a_package_offers_the_installer(
    qgis_iface, qgis_new_project, sar_scene, tmp_path, isolated_plugin_settings
):
    """The engine Python set in Settings lacks a package: one sentence naming it and Install…, no red traceback."""
    from dakd_qgis.plugin import DakdPlugin

    python = tmp_path / "python-without-affine"
    python.write_text(
        "#!/bin/sh\necho 'Traceback (most recent call last):'\n"
        "echo \"ModuleNotFoundError: No module named 'affine'\"\nexit 1\n"
    )
    python.chmod(0o755)
    isolated_plugin_settings.engine_python = str(python)
    isolated_plugin_settings.save()
    plugin = DakdPlugin(qgis_iface)
    bar = qgis_iface.messageBar()
    bar.clearWidgets()
    from dakd_qgis.tasks import start_segmentation

    segmentation = start_segmentation(
        qgis_iface, _raster(sar_scene), task_manager=False, offer_installer=plugin.offer_installer
    )
    segmentation.task.finished(segmentation.task.run())
    assert segmentation.state == "failed" and "affine" in segmentation.message
    assert "Traceback" not in segmentation.message and "exit code" not in segmentation.message
    offers = _install_buttons(bar)
    assert len(offers) == 1 and "affine" in offers[0].text()
    assert not any("Traceback" in text for text in bar.get_messages(2))
    bar.clearWidgets()


def test_a_missing_default_model_is_said_and_the_model_used_is_named(
    qgis_iface, qgis_new_project, sar_scene, tmp_path, isolated_plugin_settings
):
    """Issue 12 item 14: the default model from Settings was deleted: a warning, and the success names the model."""
    import json
    from pathlib import Path

    from dakd_qgis.tasks import start_segmentation

    isolated_plugin_settings.default_model = str(tmp_path / "deleted.json")
    isolated_plugin_settings.save()
    bar = qgis_iface.messageBar()
    segmentation = start_segmentation(qgis_iface, _raster(sar_scene), task_manager=False)
    assert any("deleted.json no longer exists" in text for text in bar.get_messages(1))  # Qgis.Warning
    segmentation.task.finished(segmentation.task.run())
    bundled = json.loads((Path(__file__).resolve().parents[2] / "resources" / "models" / "default.json").read_text())
    assert segmentation.state == "done" and f"model '{bundled['name']}'" in segmentation.message


def test_a_cache_folder_that_cannot_be_made_is_one_message_everywhere(
    qgis_iface, qgis_parent, qgis_new_project, sar_scene, isolated_plugin_settings, model_card, tmp_path
):
    """Trust: a cache folder on a drive that is gone (here: a file stands where its parent should be) raised
    from every entry point, Settings… included, the window that would change it."""
    from dakd_qgis.dialogs.models_dialog import ModelsDialog
    from dakd_qgis.dialogs.settings_dialog import SettingsDialog
    from dakd_qgis.models import ModelRegistryError, list_models, register_model
    from dakd_qgis.tasks import start_segmentation

    (tmp_path / "gone").write_text("a file, not a folder")
    isolated_plugin_settings.cache_folder = str(tmp_path / "gone" / "dakd-cache")
    isolated_plugin_settings.save()
    assert [entry.bundled for entry in list_models(isolated_plugin_settings)] == [True]
    for dialog in (SettingsDialog(qgis_parent), ModelsDialog(qgis_parent)):  # they open, to change it
        dialog.reject()
        dialog.deleteLater()
    qgis_iface.messageBar().clearWidgets()
    assert start_segmentation(qgis_iface, _raster(sar_scene), task_manager=False) is None
    messages = qgis_iface.messageBar().get_messages(2)
    assert any("cache folder" in text and "choose another in Settings" in text for text in messages), messages
    with pytest.raises(ModelRegistryError, match="cannot use the cache folder .*choose another in Settings"):
        register_model(model_card, isolated_plugin_settings, validate=False)
    assert (tmp_path / "gone").read_text() == "a file, not a folder"
