"""The "Fine-tune on my labels" window: its process handling, and a real tiny `dakd finetune` run."""

from __future__ import annotations

import os
import sys
import textwrap
import time

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
    finished = _run_script(dialog, tmp_path, """
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
    """)
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
    finished = _run_script(dialog, tmp_path, """
        import json, os, signal
        print(json.dumps({"event": "stage", "stage": "train SAR-JointNet", "total": 10}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert wait_until(lambda: finished, 30)
    assert "out of memory" in dialog.status.text()


def test_cancel_ends_the_child_process(dialog, tmp_path, wait_until):
    finished = _run_script(dialog, tmp_path, """
        import json, time
        print(json.dumps({"event": "stage", "stage": "train SAR-JointNet", "total": 1000}), flush=True)
        for step in range(1, 1000):
            print(json.dumps({"event": "progress", "stage": "train SAR-JointNet", "done": step, "total": 1000,
                              "loss": 1.0, "step": step}), flush=True)
            time.sleep(0.05)
    """)
    assert wait_until(lambda: dialog.plot.point_count("jointnet_loss") > 2, 30)
    pid = dialog.runner.pid()
    dialog.cancel_button.click()
    assert wait_until(lambda: finished, 30)
    assert not dialog.runner.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert dialog.status.text().startswith("Cancelled")
    assert dialog.stage_label.text() == "Stopped"


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
    return layers, label_layer


def test_inputs_become_the_engine_command_line(dialog, labelled_scenes):
    from dakd_qgis.finetune import finetune_arguments

    layers, _ = _load_inputs(dialog, labelled_scenes)
    assert dialog.field_combo.currentField() == "label"
    assert dialog.class_map() == {"slick": "oil"}  # "slick" is not a class name: the first guess is oil
    dialog.preset.setCurrentIndex(dialog.preset.findData("tiny"))
    dialog.val_share.setValue(0.5)
    dialog.steps.setValue(4)
    request = dialog.build_request()
    arguments = finetune_arguments(request)
    assert arguments[:2] == ["finetune", "--output"]
    assert arguments.count("--scene") == 2 and "--class-map" in arguments and "slick=oil" in arguments
    assert arguments[arguments.index("--preset") + 1] == "tiny"
    assert arguments[arguments.index("--steps") + 1] == "4"
    assert "--jointnet-steps" not in arguments  # left at "preset"


@pytest.mark.slow
def test_real_finetune_updates_progress_and_registers_the_model(dialog, labelled_scenes, isolated_plugin_settings,
                                                                wait_until):
    from dakd_qgis.settings import PluginSettings

    _load_inputs(dialog, labelled_scenes)
    dialog.preset.setCurrentIndex(dialog.preset.findData("tiny"))
    dialog.device.setCurrentText("cpu")
    dialog.val_share.setValue(0.5)
    dialog.steps.setValue(4)
    dialog.jointnet_steps.setValue(3)
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
    assert {"train SAR-JointNet", "generate pairs", "train SAROSS-Net"} <= set(stages)
    assert 100 in progress_values and any(0 < value < 100 for value in progress_values)
    # the engine throttles progress events to 5 per second, so some steps may not be plotted
    assert 1 <= dialog.plot.point_count("jointnet_loss") <= 3 and 1 <= dialog.plot.point_count("segmenter_loss") <= 4
    # registered in the plugin's model list and made the default for detection
    registered = isolated_plugin_settings.models_dir() / "tiny-test-model.json"
    assert dialog.registered_card == registered and registered.is_file()
    assert registered.with_suffix(".safetensors").is_file()
    assert PluginSettings.load().default_model == str(registered)
    metrics = {dialog.metrics_table.item(r, 0).text(): dialog.metrics_table.item(r, 1).text()
               for r in range(dialog.metrics_table.rowCount())}
    assert metrics["mIoU"].endswith("%")
    assert dialog.report.sample_grid is not None and not dialog.sample_grid.pixmap().isNull()
    assert "registered" in dialog.status.text()
    assert dialog.grab().save(str(isolated_plugin_settings.cache_dir() / "window.png"))  # renders offscreen


@pytest.mark.slow
def test_cancel_ends_a_real_training_process(dialog, labelled_scenes, wait_until):
    _load_inputs(dialog, labelled_scenes)
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
