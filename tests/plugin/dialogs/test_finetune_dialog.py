"""The "Fine-tune on my labels" window: its process handling, and a real tiny `dakd finetune` run."""

from __future__ import annotations

import os
import sys
import textwrap
import time

import numpy as np
import pytest
from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer

pytestmark = pytest.mark.qgis


@pytest.fixture
def dialog(qgis_iface, qgis_new_project):
    from dakd_qgis.dialogs.finetune_dialog import FinetuneDialog

    window = FinetuneDialog(qgis_iface)
    yield window
    window.shutdown()
    window.deleteLater()


def _run_script(dialog, tmp_path, body):
    """Start a scripted child process through the dialog's runner (the process handling under test)."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(body))
    dialog.started_at = time.monotonic()
    dialog._set_running(True)
    dialog.runner.start(sys.executable, [str(script)])
    finished = []
    dialog.run_finished.connect(finished.append)
    return finished


def test_events_drive_progress_plot_and_log(dialog, tmp_path, wait_until):
    finished = _run_script(
        dialog,
        tmp_path,
        """
        import json, sys
        def emit(**event): print(json.dumps(event), flush=True)
        emit(event="log", level="info", message="12 training tiles")
        emit(event="stage", stage="train SAR-JointNet", total=4)
        for step in range(1, 5):
            emit(event="progress", stage="train SAR-JointNet", done=step, total=4, eta_s=4 - step, loss=1.0 / step,
                 metric=None, step=step)
        emit(event="stage_end", stage="train SAR-JointNet", done=4, total=4)
        emit(event="stage", stage="train SAROSS-Net", total=2)
        emit(event="progress", stage="train SAROSS-Net", done=1, total=2, eta_s=65.0, loss=2.5, metric=31.5, step=1)
        print("a plain warning line", file=sys.stderr, flush=True)
        emit(event="error", kind="InputError", message="labels.gpkg: unknown class 'foo' in field 'label'")
        sys.exit(2)
    """,
    )
    assert wait_until(lambda: finished, 30)
    assert finished == [False]
    assert dialog.plot.point_count("jointnet_loss") == 4
    assert dialog.plot.point_count("segmenter_loss") == 1
    assert dialog.plot.series["segmenter_loss"].points[0][0] == 5  # after the 4 SAR-JointNet steps
    assert dialog.plot.point_count("miou") == 1
    assert dialog.progress_bar.value() == 50
    assert dialog.stage_label.text() == "Failed"
    assert dialog.eta_label.text() == "1 min 05 s left"
    log = dialog.log.toPlainText()
    assert "[info] 12 training tiles" in log and "a plain warning line" in log
    assert dialog.status.text() == "Labels.gpkg: unknown class 'foo' in field 'label'"
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_killed_process_is_reported_as_out_of_memory(dialog, tmp_path, wait_until):
    finished = _run_script(
        dialog,
        tmp_path,
        """
        import json, os, signal
        print(json.dumps({"event": "stage", "stage": "train SAR-JointNet", "total": 10}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """,
    )
    assert wait_until(lambda: finished, 30)
    assert "out of memory" in dialog.status.text()


def test_cancel_ends_the_child_process(dialog, tmp_path, wait_until):
    finished = _run_script(
        dialog,
        tmp_path,
        """
        import json, time
        print(json.dumps({"event": "stage", "stage": "train SAR-JointNet", "total": 1000}), flush=True)
        for step in range(1, 1000):
            print(json.dumps({"event": "progress", "stage": "train SAR-JointNet", "done": step, "total": 1000,
                              "loss": 1.0, "step": step}), flush=True)
            time.sleep(0.05)
    """,
    )
    assert wait_until(lambda: dialog.plot.point_count("jointnet_loss") > 2, 30)
    pid = dialog.runner.pid()
    dialog.cancel_button.click()
    assert wait_until(lambda: finished, 30)
    assert not dialog.runner.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert dialog.status.text().startswith("Cancelled")
    assert dialog.stage_label.text() == "Stopped"


def test_a_command_line_the_engine_refuses_is_said_not_an_exit_code(dialog, tmp_path, wait_until):
    """An engine that refuses its command line (an older one without an option) says why in one ``dakd: error:``
    line on stderr, with no ``error`` event: the status line says that, not "failed (exit code 2)"."""
    from dakd_qgis.engine_command import engine_command
    from dakd_qgis.paths import engine_subprocess_env
    from dakd_qgis.settings import default_python

    finished = []
    dialog.run_finished.connect(finished.append)
    arguments = engine_command(default_python(), ["finetune", "--out", str(tmp_path / "m"), "--no-such-option", "1"])
    dialog._set_running(True)
    dialog.runner.start(arguments[0], arguments[1:], engine_subprocess_env())
    assert wait_until(lambda: finished, 60)
    assert finished == [False] and dialog.stage_label.text() == "Failed"
    status = dialog.status.text()
    assert status.startswith("Unrecognized arguments: ") and "no-such-option" in status, status
    assert "exit code" not in status and "--help" not in status


def test_a_cancel_after_the_model_is_written_is_not_a_failure(
    dialog, tmp_path, wait_until, isolated_plugin_settings, model_card
):
    """Cancel pressed after the ``done`` event (the model and its report are written) while the process exits.

    The training has finished: the window must register the model and say so, not "wrote no output".
    """
    import json
    import shutil

    from dakd_qgis.finetune import FinetuneRequest

    work = tmp_path / "late.work"
    work.mkdir()
    for source in (model_card, model_card.with_suffix(".safetensors")):
        shutil.copy(source, tmp_path / source.name)
    (work / "report.json").write_text(json.dumps({"metrics": {"validation": {"miou": 55.0}, "class_names": []}}))
    dialog.request = FinetuneRequest(output=str(tmp_path / "late"), name="late-cancel")
    done = {"event": "done", "model": str(tmp_path / model_card.name), "work_dir": str(work)}
    finished = _run_script(
        dialog,
        tmp_path,
        f"""
        import json, signal, time
        print(json.dumps({done!r}), flush=True)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the engine's main() has returned: Python is exiting
        time.sleep(30)  # a slow exit (torch, CUDA)
        """,
    )
    assert wait_until(lambda: dialog.done_event, 30)
    dialog.cancel_button.click()
    assert wait_until(lambda: finished, 30)
    assert finished == [True], dialog.status.text()
    assert dialog.status.text().startswith("Done") and dialog.stage_label.text() == "Finished"
    assert dialog.registered_card == isolated_plugin_settings.models_dir() / "late-cancel.json"
    assert dialog.registered_card.is_file()


def test_start_refuses_incomplete_inputs(dialog):
    assert not dialog.start()
    assert "choose at least one SAR raster" in dialog.status.text()
    assert not dialog.runner.is_running()


def _load_inputs(dialog, labelled_scenes):
    scenes, labels = labelled_scenes
    layers = [QgsRasterLayer(str(path), path.stem) for path in scenes]
    label_layer = QgsVectorLayer(f"{labels}|layername=labels", "my labels", "ogr")
    assert all(layer.isValid() for layer in layers) and label_layer.isValid()
    QgsProject.instance().addMapLayers([*layers, label_layer])
    dialog.refresh_layers()
    dialog.set_scene_layers(layers)
    dialog.labels_combo.setLayer(label_layer)
    dialog.set_class("slick", "oil")  # not a class name: the analyst maps it
    return layers, label_layer


def _tiny_run_from_scratch(dialog, steps: int, jointnet_steps: int) -> None:
    """Set the window for the smallest real run: no base model, the tiny preset on the CPU, half for validation."""
    dialog.base_model.setCurrentIndex(dialog.base_model.findData(""))
    dialog.preset.setCurrentIndex(dialog.preset.findData("tiny"))
    dialog.device.setCurrentText("cpu")
    dialog.val_share.setValue(0.5)
    dialog.steps.setValue(steps)
    dialog.jointnet_steps.setValue(jointnet_steps)


def test_inputs_become_the_engine_command_line(dialog, labelled_scenes):
    from dakd_qgis.finetune import finetune_arguments

    layers, _ = _load_inputs(dialog, labelled_scenes)
    assert dialog.field_combo.currentField() == "label"
    assert dialog.class_map() == {"slick": "oil"}
    dialog.preset.setCurrentIndex(dialog.preset.findData("tiny"))
    dialog.val_share.setValue(0.5)
    dialog.steps.setValue(4)
    request = dialog.build_request()
    arguments = finetune_arguments(request)
    assert arguments[:2] == ["finetune", "--out"]
    assert arguments.count("--scene") == 2 and "--class-map" in arguments and "slick=oil" in arguments
    assert arguments[arguments.index("--preset") + 1] == "tiny"
    assert arguments[arguments.index("--steps") + 1] == "4"
    assert "--jointnet-steps" not in arguments  # left at "preset"


def test_a_cache_folder_that_cannot_be_written_is_one_line_at_start(
    dialog, labelled_scenes, tmp_path, isolated_plugin_settings
):
    """A cache folder on a read-only disk (here: a file stands where its training folder should be) raised
    from Start, a Python error box; now Start says it in the status line and touches nothing."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "training").write_text("a file of the analyst's")
    isolated_plugin_settings.cache_folder = str(cache)
    isolated_plugin_settings.save()
    _load_inputs(dialog, labelled_scenes)
    dialog.start_button.click()  # a slot: what it raises fails the test (exceptions_in_qt_slots)
    assert not dialog.runner.is_running()
    status = dialog.status.text()
    assert status.startswith("Cannot start: cannot use the cache folder") and "choose another in Settings" in status
    assert (cache / "training").read_text() == "a file of the analyst's"


def _draw_unsaved(layer, label: str, x: float) -> None:
    """Add a label polygon as QGIS's digitizing does (a GeoPackage's fid "Autogenerate"), without saving it."""
    from qgis.core import QgsGeometry, QgsRectangle, QgsVectorLayerUtils

    assert layer.isEditable() or layer.startEditing()
    geometry = QgsGeometry.fromRect(QgsRectangle(x, 5998000.0, x + 500.0, 5998500.0))
    assert layer.addFeature(
        QgsVectorLayerUtils.createFeature(layer, geometry, {layer.fields().indexOf("label"): label})
    )


def test_unsaved_label_polygons_are_trained_on(dialog, labelled_scenes, tmp_path):
    """Trust: polygons drawn but not saved were never trained on while the window said "Done … model registered",
    and a label layer whose polygons were all unsaved failed with "the label file has no polygons"."""
    import fiona

    scenes, labels = labelled_scenes
    _, label_layer = _load_inputs(dialog, labelled_scenes)
    _draw_unsaved(label_layer, "slick", 501000.0)
    request = dialog.build_request()
    with fiona.open(request.labels, layer=request.layer) as copy:
        assert len(copy) == 3 and request.labels != str(labels)
    with fiona.open(labels, layer="labels") as saved:
        assert len(saved) == 2  # the analyst's file is left as it was

    empty = tmp_path / "drawn.gpkg"
    schema = {"geometry": "Polygon", "properties": {"label": "str"}}
    with fiona.open(empty, "w", driver="GPKG", schema=schema, crs="EPSG:32633", layer="drawn"):
        pass
    drawn = QgsVectorLayer(f"{empty}|layername=drawn", "drawn labels", "ogr")
    QgsProject.instance().addMapLayer(drawn)
    for x in (500200.0, 505200.0):
        _draw_unsaved(drawn, "slick", x)
    dialog.labels_combo.setLayer(drawn)
    request = dialog.build_request()
    with fiona.open(request.labels, layer=request.layer) as copy:
        assert [feature["properties"]["label"] for feature in copy] == ["slick", "slick"]


def test_a_scene_inside_a_zip_is_offered_and_refused_in_one_line(dialog, labelled_scenes, zipped_scene):
    """Trust: a layer of ``/vsizip/delivery.zip/scene.tif`` went to the engine as the zip."""
    _load_inputs(dialog, labelled_scenes)
    zipped = QgsRasterLayer(zipped_scene, "zipped scene", "gdal")
    assert zipped.isValid()
    QgsProject.instance().addMapLayer(zipped)
    dialog.refresh_layers()
    dialog.set_scene_layers([zipped])
    assert dialog.scene_layers() == [zipped]  # listed, so that choosing it says why it cannot be used
    assert not dialog.start() and not dialog.runner.is_running()
    assert dialog.status.text() == (
        "Cannot start: layer 'zipped scene' is read from inside an archive or through a GDAL driver; extract it, or "
        "export it to GeoTIFF (right-click ▸ Export ▸ Save As…), and use that."
    )
    assert not list((dialog.settings.cache_dir() / "training").glob("*/labels"))  # refused before any label copy


@pytest.mark.slow
def test_polygons_without_a_class_value_are_ignored_as_the_window_says(dialog, labelled_scenes, tmp_path):
    """Trust: an empty (NULL) class value was shown as "NULL"/"None" and passed as --class-map None=ignore; the
    engine reads the file and sees no value, so it refused the whole run that the window said would ignore it."""
    import subprocess

    import fiona
    from shapely.geometry import box, mapping

    from dakd_qgis.finetune import finetune_arguments

    scenes, labels = labelled_scenes
    with fiona.open(labels, "a", layer="labels") as sink:  # an outline whose class nobody filled in
        sink.write({"geometry": mapping(box(500100.0, 5998800.0, 500400.0, 5999100.0)), "properties": {"label": None}})
    _load_inputs(dialog, labelled_scenes)
    assert dialog.class_map() == {"": "ignore", "slick": "oil"}
    shown = [dialog.mapping_table.item(row, 0).text() for row in range(dialog.mapping_table.rowCount())]
    assert "(no value)" in shown and "(no value)" in dialog.mapping_note.text()
    _tiny_run_from_scratch(dialog, steps=1, jointnet_steps=1)
    arguments = finetune_arguments(dialog.build_request())
    assert "=ignore" in arguments
    done = subprocess.run(
        [sys.executable, "-m", "engine", "-q", "--progress", "none", *arguments],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_real_finetune_updates_progress_and_registers_the_model(
    dialog, labelled_scenes, isolated_plugin_settings, wait_until
):
    from dakd_qgis.settings import PluginSettings

    _load_inputs(dialog, labelled_scenes)
    # From scratch: oil-only labels on the five-class bundled model make no generated pairs (the engine's
    # rule for partial labels), and this test follows every DAKD stage.
    _tiny_run_from_scratch(dialog, steps=4, jointnet_steps=3)
    dialog.model_name.setText("tiny test model")
    finished, progress_values, stages = [], [], []
    dialog.run_finished.connect(finished.append)
    dialog.progress_bar.valueChanged.connect(progress_values.append)
    dialog.stage_label.setText("")
    original = dialog.handle_event

    def record(event):
        if event.get("event") == "stage":
            stages.append(event["stage"])
        original(event)

    dialog.handle_event = record
    assert dialog.start(), dialog.status.text()
    assert wait_until(lambda: finished, 600), dialog.log.toPlainText()[-3000:]
    assert finished == [True], dialog.status.text() + "\n" + dialog.log.toPlainText()[-3000:]
    assert {"train SAR-JointNet", "generate pairs", "train SAROSS-Net"} <= set(stages), dialog.log.toPlainText()
    assert 100 in progress_values and any(0 < value < 100 for value in progress_values)
    # the engine throttles progress events to 5 per second, so some steps may not be plotted
    assert 1 <= dialog.plot.point_count("jointnet_loss") <= 3 and 1 <= dialog.plot.point_count("segmenter_loss") <= 4
    # registered in the plugin's model list and made the default for detection
    registered = isolated_plugin_settings.models_dir() / "tiny-test-model.json"
    assert dialog.registered_card == registered and registered.is_file()
    assert registered.with_suffix(".safetensors").is_file()
    assert PluginSettings.load().default_model == str(registered)
    metrics = {
        dialog.metrics_table.item(r, 0).text(): dialog.metrics_table.item(r, 1).text()
        for r in range(dialog.metrics_table.rowCount())
    }
    assert metrics["mIoU"].endswith("%")
    assert dialog.report.sample_grid is not None and not dialog.sample_grid.pixmap().isNull()
    assert "registered" in dialog.status.text()
    assert dialog.grab().save(str(isolated_plugin_settings.cache_dir() / "window.png"))  # renders offscreen


@pytest.mark.slow
def test_cancel_ends_a_real_training_process(dialog, labelled_scenes, wait_until):
    _load_inputs(dialog, labelled_scenes)
    dialog.base_model.setCurrentIndex(dialog.base_model.findData(""))  # from scratch: SAR-JointNet trains first
    dialog.preset.setCurrentIndex(dialog.preset.findData("tiny"))
    dialog.device.setCurrentText("cpu")
    dialog.val_share.setValue(0.5)
    finished = []
    dialog.run_finished.connect(finished.append)
    assert dialog.start(), dialog.status.text()
    pid = dialog.runner.pid()
    assert wait_until(lambda: dialog.plot.point_count("jointnet_loss") >= 1 or finished, 300)
    assert not finished, dialog.log.toPlainText()[-2000:]
    dialog.cancel()
    assert wait_until(lambda: finished, 60)
    assert finished == [False]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert dialog.status.text().startswith("Cancelled")
    assert not list(dialog.settings.models_dir().glob("*.json"))


def test_unknown_label_values_start_as_ignore_and_are_pointed_out(dialog, tmp_path):
    """Issue 12 item 13: "boat" is not mapped to oil behind the analyst's back."""
    labels = QgsVectorLayer("Polygon?crs=EPSG:32633&field=kind:string", "labels", "memory")
    provider = labels.dataProvider()
    from qgis.core import QgsFeature

    for value in ("oil", "boat", "vessel", "unsure"):
        feature = QgsFeature(labels.fields())
        feature.setAttributes([value])
        provider.addFeature(feature)
    QgsProject.instance().addMapLayer(labels)
    dialog.labels_combo.setLayer(labels)
    dialog.field_combo.setField("kind")
    assert dialog.class_map() == {"boat": "ignore", "oil": "oil", "unsure": "ignore", "vessel": "ship"}
    assert not dialog.mapping_note.isHidden()
    assert "boat" in dialog.mapping_note.text() and "unsure" in dialog.mapping_note.text()
    assert "vessel" not in dialog.mapping_note.text()
    rows = {dialog.mapping_table.item(r, 0).text(): dialog.mapping_table.item(r, 0) for r in range(4)}
    assert rows["boat"].background() != rows["oil"].background()
    dialog.set_class("boat", "ship")  # mapped by the analyst: no longer pointed out
    assert "boat" not in dialog.mapping_note.text() and "unsure" in dialog.mapping_note.text()
    assert rows["boat"].background() == rows["oil"].background()
    dialog.set_class("unsure", "sea")
    assert dialog.mapping_note.isHidden()


def test_the_window_starts_on_the_bundled_model_and_the_devices_preset(qgis_iface, qgis_new_project, wait_for_signal):
    """Issue 12 item 13: the base model is the bundled one, and a CPU-only machine gets the CPU preset."""
    from dakd_qgis.dialogs.finetune_dialog import FinetuneDialog
    from dakd_qgis.finetune import preset_for_device
    from dakd_qgis.models import bundled_model_path

    window = FinetuneDialog(qgis_iface)
    try:
        assert window.base_model.currentData() == str(bundled_model_path())
        assert window.base_model.findData("") == window.base_model.count() - 1  # "start from scratch" still offered
        assert window.preset.currentData() == "cpu-default"  # until the engine says there is a GPU
        detected = wait_for_signal(window.device_detected, 120)
        assert detected, "the engine did not report its device"
        assert window.preset.currentData() == preset_for_device(detected[0][0])
        window.device.setCurrentText("cuda")
        assert window.preset.currentData() == "quick"
        window.device.setCurrentText("cpu")
        assert window.preset.currentData() == "cpu-default"
        window.preset.setCurrentIndex(window.preset.findData("tiny"))  # the analyst's own choice is kept
        window.device.setCurrentText("cuda")
        assert window.preset.currentData() == "tiny"
    finally:
        window.shutdown()
        window.deleteLater()


def test_the_window_fits_a_small_laptop_screen(dialog):
    """Issue 12 item 13: no taller than a 1366 × 768 screen's free area (about 728 px with a task bar)."""
    from dakd_qgis.dialogs.finetune_dialog import MAX_SIZE

    dialog.show()
    assert dialog.width() <= MAX_SIZE[0] and dialog.height() <= MAX_SIZE[1]
    assert MAX_SIZE[1] <= 690 and MAX_SIZE[0] <= 1366
    assert dialog.minimumSizeHint().height() <= 680 and dialog.minimumSizeHint().width() <= 1300


def test_no_validation_means_not_the_default_without_asking(
    dialog, tmp_path, monkeypatch, isolated_plugin_settings, model_card
):
    """Issue 12 item 13: validation share 0 unticks "use the new model"; ticked anyway, the window asks first."""
    import json
    import shutil

    from qgis.PyQt.QtWidgets import QMessageBox

    from dakd_qgis.finetune import FinetuneRequest
    from dakd_qgis.settings import PluginSettings

    assert dialog.make_default.isChecked()
    dialog.val_share.setValue(0.0)
    assert not dialog.make_default.isChecked()
    dialog.val_share.setValue(0.2)
    assert dialog.make_default.isChecked()
    dialog.val_share.setValue(0.0)
    dialog.make_default.setChecked(True)  # the analyst insists: the window asks at the end
    work = tmp_path / "m.work"
    work.mkdir()
    card = tmp_path / model_card.name
    for source in (model_card, model_card.with_suffix(".safetensors")):
        shutil.copy(source, tmp_path / source.name)
    (work / "report.json").write_text(json.dumps({"metrics": {"validation": {}, "class_names": []}}))
    dialog.request = FinetuneRequest(output=str(tmp_path / "m"), name="unmeasured", val_share=0.0)
    dialog.done_event = {"event": "done", "model": str(card), "work_dir": str(work)}
    asked = []

    def answer(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.No

    monkeypatch.setattr(QMessageBox, "question", answer)
    dialog._show_results()
    assert asked and "not measured" in asked[0]
    assert PluginSettings.load().default_model == ""
    assert dialog.registered_card.is_file() and not dialog.used_for_detection


def test_the_raster_list_offers_only_scenes(dialog, sar_scene, tmp_path, qgis_iface):
    """Issue 12 item 18: detection results, RGB images and label rasters are not offered as scenes to train on."""
    import rasterio
    from affine import Affine

    from dakd_qgis.tasks import start_segmentation

    scene = QgsRasterLayer(str(sar_scene), "scene")
    QgsProject.instance().addMapLayer(scene)
    segmentation = start_segmentation(qgis_iface, scene, task_manager=False)
    segmentation.task.finished(segmentation.task.run())
    assert segmentation.state == "done", segmentation.message
    rgb = tmp_path / "photo.tif"
    with rasterio.open(
        rgb,
        "w",
        driver="GTiff",
        width=8,
        height=8,
        count=3,
        dtype="uint8",
        crs="EPSG:32633",
        transform=Affine(10, 0, 500000, 0, -10, 6000000),
    ) as dataset:
        dataset.write(np.zeros((3, 8, 8), "uint8"))
    QgsProject.instance().addMapLayer(QgsRasterLayer(str(rgb), "photo"))
    run_dir = segmentation.task.outcome.out_dir
    QgsProject.instance().addMapLayer(QgsRasterLayer(str(run_dir / "probability.tif"), "loaded by hand"))
    dialog.refresh_layers()
    offered = [dialog.scenes_list.item(row).text() for row in range(dialog.scenes_list.count())]
    assert offered == ["scene"]


def test_the_loss_curve_stays_inside_the_plot(qgis_parent):
    """Issue 12 item 13: the highest loss is drawn inside the frame, with room above it; NaN does not break it."""
    from qgis.PyQt.QtGui import QColor, QImage

    from dakd_qgis.dialogs.plot import LivePlot

    plot = LivePlot(qgis_parent)
    plot.add_series("loss", "loss", "#ff0000")
    plot.add_series("miou", "validation mIoU (%)", "#00ff00", axis="right")
    for step, loss in enumerate([3.9, 2.0, 1.0, float("nan"), 0.5, 0.4], start=1):
        plot.add_point("loss", step, loss)
    plot.add_point("miou", 6, 250.0)  # out of the right axis's range: clipped, not drawn across the window
    plot.resize(400, 240)
    image = QImage(plot.size(), QImage.Format_ARGB32)
    image.fill(QColor("white"))
    plot.render(image)
    area = plot.plot_area()
    low, high = plot.y_range()
    assert high > 3.9 and low < 0.4  # headroom above the highest and below the lowest point
    for colour in ("#ff0000", "#00ff00"):
        rows = [
            y
            for y in range(image.height())
            for x in range(0, image.width(), 2)
            if image.pixelColor(x, y).name() == colour and area.left() < x < area.right()
        ]
        assert rows, colour
        assert min(rows) >= area.top() - 1, colour
    plot.deleteLater()


def test_oil_only_labels_suggest_background_not_oil_until_the_analyst_chooses(dialog, labelled_scenes):
    from dakd_qgis.finetune import finetune_arguments

    _load_inputs(dialog, labelled_scenes)  # polygons around the oil only ("slick" mapped to oil)
    assert dialog.background.currentData() == "not-oil"
    arguments = finetune_arguments(dialog.build_request())
    assert arguments[arguments.index("--background") + 1] == "not-oil"
    dialog.set_class("slick", "look-alike")  # other classes outlined: the rest is sea again
    assert dialog.background.currentData() == "sea" and "--background" not in finetune_arguments(dialog.build_request())
    dialog.background.setCurrentIndex(dialog.background.findData("ignore"))
    dialog.background.activated.emit(dialog.background.currentIndex())  # as a click does
    dialog.set_class("slick", "oil")
    assert dialog.background.currentData() == "ignore"  # the analyst's choice is kept


@pytest.mark.slow
def test_a_binary_label_finetune_starts_from_the_bundled_model(
    dialog, labelled_scenes, isolated_plugin_settings, wait_until
):
    """Oil-only polygons and the window's own defaults (bundled base model, background suggested as not oil):
    a real tiny run keeps the five classes and trains the rest as "not oil", never as sea."""
    import json

    from dakd_qgis.models import bundled_model_path

    _load_inputs(dialog, labelled_scenes)
    assert dialog.base_model.currentData() == str(bundled_model_path())
    assert dialog.background.currentData() == "not-oil"
    dialog.preset.setCurrentIndex(dialog.preset.findData("tiny"))
    dialog.device.setCurrentText("cpu")
    dialog.val_share.setValue(0.5)
    dialog.steps.setValue(2)
    dialog.model_name.setText("binary labels")
    finished = []
    dialog.run_finished.connect(finished.append)
    assert dialog.start(), dialog.status.text()
    assert dialog.request.background == "not-oil" and dialog.request.init == str(bundled_model_path())
    assert wait_until(lambda: finished, 600), dialog.log.toPlainText()[-3000:]
    assert finished == [True], dialog.status.text() + "\n" + dialog.log.toPlainText()[-3000:]
    card = json.loads(dialog.report.model_card.read_text())
    assert [c["name"] for c in card["classes"]] == ["sea", "oil", "look-alike", "ship", "land"]
    pixels = card["training"]["data"]["train"]["class_pixels"]
    assert pixels["not oil"] > 0 and pixels["oil"] > 0 and pixels["sea"] == 0
    rows = [dialog.metrics_table.item(r, 0).text() for r in range(dialog.metrics_table.rowCount())]
    assert "IoU not oil" in rows and "IoU oil" in rows


def _finished_run(tmp_path, model_card, miou=55.0):
    """What a finished `dakd finetune` leaves: a card and its weights, and the work folder's report.json."""
    import json
    import shutil

    output = tmp_path / "run"
    output.mkdir(exist_ok=True)
    for source in (model_card, model_card.with_suffix(".safetensors")):
        shutil.copy(source, output / source.name)
    work = output / "m.work"
    work.mkdir(exist_ok=True)
    validation = {"miou": miou} if miou is not None else {}
    (work / "report.json").write_text(json.dumps({"metrics": {"validation": validation, "class_names": []}}))
    return {"event": "done", "model": str(output / model_card.name), "work_dir": str(work)}


def test_a_second_fine_tune_the_same_day_never_replaces_the_default_model(
    qgis_iface, qgis_new_project, model_card, isolated_plugin_settings
):
    """Audit: the name starts as my-model-YYYYMMDD, and a second run that day replaced the morning's model and its
    registered copy, the default for detection; answering No to "Use an unmeasured model?" did not help."""
    from dakd_qgis.dialogs.finetune_dialog import FinetuneDialog
    from dakd_qgis.finetune import finetune_arguments
    from dakd_qgis.models import register_model
    from dakd_qgis.settings import PluginSettings

    morning = f"my-model-{time.strftime('%Y%m%d')}"
    default = register_model(model_card, isolated_plugin_settings, morning, make_default=True, validate=False)
    kept = default.read_bytes(), default.with_suffix(".safetensors").read_bytes()
    earlier_run = isolated_plugin_settings.cache_dir() / "training" / f"{morning}-2"  # a run's folder, unregistered
    (earlier_run / f"{morning}-2.work").mkdir(parents=True)
    window = FinetuneDialog(qgis_iface)
    try:
        assert window.model_name.text() == f"{morning}-3"  # the window starts on a free name
        window.model_name.setText(morning)  # the analyst types the morning's name
        assert not window.start()
        assert not window.runner.is_running()
        assert f"a model named '{morning}' already exists" in window.status.text(), window.status.text()
        assert window.model_name.text() == f"{morning}-3"  # a free name is proposed, to take or change
        assert (default.read_bytes(), default.with_suffix(".safetensors").read_bytes()) == kept
        assert PluginSettings.load().default_model == str(default)
        assert not (isolated_plugin_settings.cache_dir() / "training" / morning).exists()
        assert sorted(p.name for p in earlier_run.iterdir()) == [f"{morning}-2.work"]
        # Start on the proposal goes on (to the inputs, which are missing here); its request is the window's own
        assert not window.start() and "choose at least one SAR raster" in window.status.text()
        request = window.build_request()
        assert request.name == f"{morning}-3" and "--overwrite" in finetune_arguments(request)
        assert not window.start() and "choose at least one SAR raster" in window.status.text()  # its own folder
        assert window.model_name.text() == f"{morning}-3"
    finally:
        window.shutdown()
        window.deleteLater()


def test_the_offered_name_moves_on_when_it_is_taken_while_the_window_is_open(
    dialog, model_card, isolated_plugin_settings
):
    """The window stays open (the plugin keeps it): the morning's run took the offered name; the next one does not."""
    from dakd_qgis.models import register_model

    offered = dialog.model_name.text()
    morning = register_model(model_card, isolated_plugin_settings, offered, make_default=True, validate=False)
    assert not dialog.start() and "choose at least one SAR raster" in dialog.status.text()
    assert dialog.model_name.text() == f"{offered}-2"  # the window's own suggestion moves on, nothing is refused
    assert not (isolated_plugin_settings.cache_dir() / "training" / offered).exists() and morning.is_file()
    dialog.hide()
    register_model(model_card, isolated_plugin_settings, f"{offered}-2", validate=False)
    dialog.show()  # shown again: the models registered since are offered as base models, and the name is free
    assert dialog.model_name.text() == f"{offered}-3"
    assert dialog.base_model.findData(str(morning)) >= 0


def test_a_name_registered_during_the_run_is_kept(dialog, tmp_path, model_card, isolated_plugin_settings):
    """The run's name was taken while it trained (Import…, a Processing run): the new model gets a free name."""
    from dakd_qgis.finetune import FinetuneRequest
    from dakd_qgis.models import register_model
    from dakd_qgis.settings import PluginSettings

    meanwhile = register_model(model_card, isolated_plugin_settings, "evening", make_default=True, validate=False)
    dialog.request = FinetuneRequest(output=str(tmp_path / "run" / "m"), name="evening")
    dialog.make_default.setChecked(False)
    dialog.done_event = _finished_run(tmp_path, model_card)
    dialog._show_results()
    assert dialog.registered_card == isolated_plugin_settings.models_dir() / "evening-2.json"
    assert PluginSettings.load().default_model == str(meanwhile) and not dialog.used_for_detection
    assert "'evening' was registered during the run and is kept" in dialog.log.toPlainText()


def test_the_run_registers_with_the_settings_of_its_end(dialog, tmp_path, model_card, isolated_plugin_settings):
    """Audit: the window kept the settings of its opening and saved them whole when the run ended, hours later:
    the engine Python and cache folder chosen meanwhile were put back, and the model went to the old folder."""
    from dakd_qgis.finetune import FinetuneRequest
    from dakd_qgis.settings import PluginSettings

    dialog.request = FinetuneRequest(output=str(tmp_path / "run" / "m"), name="long-run")
    meanwhile = PluginSettings.load()  # Settings… while it trains
    meanwhile.engine_python = "/opt/another/bin/python3"
    meanwhile.cache_folder = str(tmp_path / "new-cache")
    meanwhile.save()
    dialog.done_event = _finished_run(tmp_path, model_card)
    dialog._show_results()
    now = PluginSettings.load()
    assert (now.engine_python, now.cache_folder) == ("/opt/another/bin/python3", str(tmp_path / "new-cache"))
    assert dialog.registered_card == tmp_path / "new-cache" / "models" / "long-run.json"
    assert now.default_model == str(dialog.registered_card) and dialog.used_for_detection
