"""The "Fine-tune on my labels" window: choose labelled scenes, run ``dakd finetune``, watch it, use the model.

Training runs as a separate ``python -m engine --progress json finetune`` process
(:class:`~dakd_qgis.process.ProcessRunner`), so QGIS stays responsive and an out-of-memory kill or a
crash ends the training, not QGIS. Its JSON-lines events drive the progress bar, stage, ETA, the
loss/mIoU plot and the log; Cancel sends SIGTERM (the engine stops after the current step and
checkpoints) and kills the process if it has not ended a few seconds later. When the run ends the
window shows the sample grid of generated pairs and the validation metrics, and registers the
model so "Detect oil spills" and "Segment oil spills" use it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.gui import QgsCollapsibleGroupBox, QgsFieldComboBox, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QPixmap
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .. import compat
from ..engine_command import engine_command
from ..events import describe_exit, event_percent, format_eta, parse_event
from ..finetune import (
    PRESETS,
    TARGET_CLASSES,
    FinetuneReport,
    FinetuneRequest,
    default_class_for,
    finetune_arguments,
    problems,
    read_report,
    safe_model_name,
)
from ..layer_sources import InputProblem, raster_file, vector_file
from ..models import ModelRegistryError, list_models, register_model
from ..paths import engine_subprocess_env
from ..process import ProcessRunner
from ..settings import DEVICES, PluginSettings
from .plot import LivePlot
from .widgets import make_table

#: Training stages whose loss is plotted, and the curve each one draws.
LOSS_CURVES = {"train SAR-JointNet": ("jointnet_loss", "SAR-JointNet loss", "#1f77b4"),
               "train SAROSS-Net": ("segmenter_loss", "SAROSS-Net loss", "#d62728")}
MIOU_CURVE = ("miou", "validation mIoU (%)", "#2ca02c")


class FinetuneDialog(QDialog):
    """Inputs on the left; progress, plot, log and results on the right.

    Signals:
        run_finished(bool): the training process ended (True when a model was written and registered).
    """

    run_finished = pyqtSignal(bool)

    def __init__(self, iface: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.setWindowTitle("DAKD Oil Spill – Fine-tune on my labels")
        self.resize(1180, 760)
        self.settings = PluginSettings.load()
        self.runner = ProcessRunner(self)
        self.runner.line_received.connect(self.handle_line)
        self.runner.finished.connect(self._on_finished)
        self.request: FinetuneRequest | None = None
        self.done_event: dict[str, Any] = {}
        self.error_message = ""
        self.report: FinetuneReport | None = None
        self.registered_card: Path | None = None
        self.started_at = 0.0
        self._x_offset = 0

        splitter = QSplitter(Qt.Horizontal, self)
        splitter.addWidget(self._build_inputs())
        splitter.addWidget(self._build_run_area())
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        buttons = QHBoxLayout()
        self.status = QLabel("Choose your labelled scenes, then Start.", self)
        self.status.setWordWrap(True)
        buttons.addWidget(self.status, 1)
        self.start_button = QPushButton("Start", self)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel training", self)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        close_button = QPushButton("Close", self)
        close_button.clicked.connect(self.close)
        for button in (self.start_button, self.cancel_button, close_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.refresh_layers()

    # -- building ---------------------------------------------------------------------------

    def _build_inputs(self) -> QWidget:
        panel = QWidget(self)
        column = QVBoxLayout(panel)
        data = QGroupBox("Labelled data", panel)
        form = QFormLayout(data)
        self.scenes_list = QListWidget(data)
        self.scenes_list.setSelectionMode(QAbstractItemView.NoSelection)
        self.scenes_list.setMinimumHeight(70)
        self.scenes_list.setMaximumHeight(140)
        form.addRow("SAR rasters", self.scenes_list)
        self.labels_combo = QgsMapLayerComboBox(data)
        self.labels_combo.setFilters(compat.POLYGON_LAYER_FILTER)
        form.addRow("Label polygons", self.labels_combo)
        self.field_combo = QgsFieldComboBox(data)
        form.addRow("Class field", self.field_combo)
        self.mapping_table = make_table(data, ["Label value", "Class"])
        self.mapping_table.setMinimumHeight(80)
        form.addRow("Values → classes", self.mapping_table)
        self.val_share = QDoubleSpinBox(data)
        self.val_share.setRange(0.0, 0.9)
        self.val_share.setSingleStep(0.05)
        self.val_share.setValue(0.2)
        self.val_share.setToolTip("Share of the scenes kept aside to measure the model (split by scene)")
        form.addRow("Validation share", self.val_share)
        column.addWidget(data)

        training = QGroupBox("Training", panel)
        form = QFormLayout(training)
        self.preset = QComboBox(training)
        for key, label in PRESETS.items():
            self.preset.addItem(label, key)
            self.preset.setItemData(self.preset.count() - 1, label, Qt.ToolTipRole)
        form.addRow("Preset", self.preset)
        self.device = QComboBox(training)
        self.device.addItems(list(DEVICES))
        self.device.setCurrentText(self.settings.device)
        form.addRow("Device", self.device)
        for combo in (self.preset, self.device):
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(16)
        self.base_model = QComboBox(training)
        self.base_model.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.base_model.setMinimumContentsLength(16)
        self.base_model.addItem("None (start from scratch)", "")
        for entry in list_models(self.settings):
            self.base_model.addItem(entry.name, str(entry.card_path))
        form.addRow("Base model", self.base_model)
        self.model_name = QLineEdit(f"my-model-{time.strftime('%Y%m%d')}", training)
        form.addRow("New model name", self.model_name)
        self.make_default = QCheckBox("Use the new model for detection", training)
        self.make_default.setChecked(True)
        form.addRow(self.make_default)
        advanced = QgsCollapsibleGroupBox("Advanced", training)
        advanced.setCollapsed(True)
        advanced_form = QFormLayout(advanced)
        self.steps = self._spin(advanced, 0, 1_000_000, "preset", "SAROSS-Net training steps")
        advanced_form.addRow("SAROSS-Net steps", self.steps)
        self.jointnet_steps = self._spin(advanced, 0, 1_000_000, "preset", "SAR-JointNet training steps")
        advanced_form.addRow("SAR-JointNet steps", self.jointnet_steps)
        self.aug_ratio = QDoubleSpinBox(advanced)
        self.aug_ratio.setRange(-0.5, 4.0)
        self.aug_ratio.setSingleStep(0.5)
        self.aug_ratio.setSpecialValueText("preset")
        self.aug_ratio.setValue(-0.5)
        self.aug_ratio.setToolTip("Generated pairs per real tile (0 skips the diffusion model)")
        advanced_form.addRow("Augmentation ratio", self.aug_ratio)
        self.balance = QDoubleSpinBox(advanced)
        self.balance.setRange(0.0, 100.0)
        self.balance.setDecimals(3)
        self.balance.setSpecialValueText("computed")
        self.balance.setToolTip("SAR-JointNet balancing factor b; 1 turns it off")
        advanced_form.addRow("Balancing factor b", self.balance)
        form.addRow(advanced)
        column.addWidget(training)
        column.addStretch(1)

        self.labels_combo.layerChanged.connect(self._labels_changed)
        self.field_combo.fieldChanged.connect(lambda _field: self.update_mapping())
        self._labels_changed(self.labels_combo.currentLayer())
        return panel

    @staticmethod
    def _spin(parent: QWidget, low: int, high: int, special: str, tip: str) -> QSpinBox:
        spin = QSpinBox(parent)
        spin.setRange(low, high)
        spin.setSpecialValueText(special)
        spin.setToolTip(f"{tip}; '{special}' uses the preset's value")
        return spin

    def _build_run_area(self) -> QWidget:
        panel = QWidget(self)
        column = QVBoxLayout(panel)
        row = QHBoxLayout()
        self.stage_label = QLabel("Not started", panel)
        self.eta_label = QLabel("", panel)
        row.addWidget(self.stage_label, 1)
        row.addWidget(self.eta_label)
        column.addLayout(row)
        self.progress_bar = QProgressBar(panel)
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        column.addWidget(self.progress_bar)
        self.plot = LivePlot(panel)
        self.plot.setMinimumHeight(220)
        for key, label, colour in LOSS_CURVES.values():
            self.plot.add_series(key, label, colour)
        self.plot.add_series(MIOU_CURVE[0], MIOU_CURVE[1], MIOU_CURVE[2], axis="right")
        column.addWidget(self.plot, 3)
        self.log = QPlainTextEdit(panel)
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText("The training log appears here.")
        column.addWidget(self.log, 1)
        results = QGroupBox("Results", panel)
        results_row = QHBoxLayout(results)
        self.sample_grid = QLabel("The generated image/label pairs appear here at the end.", results)
        self.sample_grid.setAlignment(Qt.AlignCenter)
        self.sample_grid.setMinimumSize(240, 160)
        results_row.addWidget(self.sample_grid, 1)
        self.metrics_table = make_table(results, ["Validation", "Value"])
        results_row.addWidget(self.metrics_table, 1)
        column.addWidget(results, 2)
        return panel

    # -- inputs -----------------------------------------------------------------------------

    def refresh_layers(self) -> None:
        """List the project's raster layers (checked when they look like scenes, not results)."""
        self.scenes_list.clear()
        for layer in QgsProject.instance().mapLayers().values():
            if isinstance(layer, QgsRasterLayer):
                item = QListWidgetItem(layer.name(), self.scenes_list)
                item.setData(Qt.UserRole, layer.id())
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                item.setCheckState(Qt.Unchecked)

    def set_scene_layers(self, layers: list[QgsRasterLayer]) -> None:
        """Check exactly these raster layers in the scene list."""
        wanted = {layer.id() for layer in layers}
        for row in range(self.scenes_list.count()):
            item = self.scenes_list.item(row)
            item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in wanted else Qt.Unchecked)

    def scene_layers(self) -> list[QgsRasterLayer]:
        """Return the checked raster layers."""
        layers = []
        for row in range(self.scenes_list.count()):
            item = self.scenes_list.item(row)
            layer = QgsProject.instance().mapLayer(item.data(Qt.UserRole))
            if item.checkState() == Qt.Checked and layer is not None:
                layers.append(layer)
        return layers

    def _labels_changed(self, layer: QgsVectorLayer | None) -> None:
        self.field_combo.setLayer(layer)
        if layer is not None:
            for name in ("class", "label", "type"):
                if layer.fields().indexOf(name) >= 0:
                    self.field_combo.setField(name)
                    break
        self.update_mapping()

    def update_mapping(self) -> None:
        """One row per distinct value of the class field, each with a class to map it to."""
        self.mapping_table.setRowCount(0)
        layer = self.labels_combo.currentLayer()
        field = self.field_combo.currentField()
        if layer is None or not field:
            return
        values = sorted(layer.uniqueValues(layer.fields().indexOf(field)), key=str)
        self.mapping_table.setRowCount(len(values))
        for row, value in enumerate(values):
            self.mapping_table.setItem(row, 0, QTableWidgetItem(str(value)))
            target = QComboBox(self.mapping_table)
            target.addItems(list(TARGET_CLASSES))
            target.setCurrentText(default_class_for(value))
            self.mapping_table.setCellWidget(row, 1, target)

    def class_map(self) -> dict[str, str]:
        """Return the value → class mapping as set in the table."""
        return {self.mapping_table.item(row, 0).text(): self.mapping_table.cellWidget(row, 1).currentText()
                for row in range(self.mapping_table.rowCount())}

    def build_request(self) -> FinetuneRequest:
        """Turn the inputs into a :class:`FinetuneRequest` (label layers that are not files are saved first).

        Raises:
            InputProblem: a layer cannot be handed to the engine.
        """
        name = safe_model_name(self.model_name.text())
        run_dir = self.settings.cache_dir() / "training" / name
        run_dir.mkdir(parents=True, exist_ok=True)
        labels, layer_name = ("", "")
        if self.labels_combo.currentLayer() is not None:
            labels, layer_name = vector_file(self.labels_combo.currentLayer(), run_dir / "labels")
        return FinetuneRequest(
            output=str(run_dir / name), name=name, scenes=[raster_file(layer) for layer in self.scene_layers()],
            labels=labels, layer=layer_name, class_field=self.field_combo.currentField(), class_map=self.class_map(),
            val_share=self.val_share.value(), preset=self.preset.currentData(),
            steps=self.steps.value() or None, jointnet_steps=self.jointnet_steps.value() or None,
            aug_ratio=None if self.aug_ratio.value() < 0 else self.aug_ratio.value(),
            balance=self.balance.value() or None, init=self.base_model.currentData() or "",
            device=self.device.currentText())

    # -- running ----------------------------------------------------------------------------

    def start(self) -> bool:
        """Check the inputs and start ``dakd finetune``; False (and the reason in the status line) if not."""
        if self.runner.is_running():
            return False
        try:
            request = self.build_request()
        except InputProblem as error:
            return self._refuse(str(error))
        found = problems(request)
        if found:
            return self._refuse("; ".join(found))
        self.request = request
        self.done_event, self.error_message, self.report, self.registered_card = {}, "", None, None
        self._x_offset = 0
        self.plot.clear()
        self.log.clear()
        self.metrics_table.setRowCount(0)
        self.sample_grid.setPixmap(QPixmap())
        self.sample_grid.setText("The generated image/label pairs appear here at the end.")
        arguments = engine_command(self.settings.python_executable(), finetune_arguments(request))
        self.log.appendPlainText("$ " + " ".join(arguments))
        self.started_at = time.monotonic()
        self._set_running(True)
        self.status.setText(f"Training '{request.name}'… QGIS stays usable; you can close this window.")
        self.runner.start(arguments[0], arguments[1:], engine_subprocess_env())
        return True

    def _refuse(self, reason: str) -> bool:
        self.status.setText(f"Cannot start: {reason}.")
        self.status.setStyleSheet("color: #b42318")
        return False

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.status.setStyleSheet("")

    def cancel(self) -> None:
        """Stop the training process (SIGTERM, then kill after a grace period)."""
        if self.runner.is_running():
            self.status.setText("Stopping after the current step…")
            self.cancel_button.setEnabled(False)
            self.runner.stop()

    def handle_line(self, line: str, stream: str) -> None:
        """Route one output line: JSON events update the view, anything else goes to the log."""
        event = parse_event(line) if stream == "stdout" else None
        if event is None:
            if line.strip():
                self.log.appendPlainText(line)
            return
        self.handle_event(event)

    def handle_event(self, event: dict[str, Any]) -> None:
        """Update progress, stage, ETA, plot and log from one engine event."""
        kind = event.get("event")
        stage = str(event.get("stage") or "")
        if kind == "stage":
            self.stage_label.setText(f"Stage: {stage}")
            self.progress_bar.setValue(0)
            self.eta_label.setText("")
        elif kind == "progress":
            percent = event_percent(event)
            if percent is not None:
                self.progress_bar.setValue(int(round(percent)))
            self.eta_label.setText(format_eta(event.get("eta_s")))
            self._plot_point(stage, event)
        elif kind == "stage_end":
            self.progress_bar.setValue(100)
            if stage in LOSS_CURVES:
                self._x_offset += int(event.get("total") or event.get("done") or 0)
        elif kind == "log":
            self.log.appendPlainText(f"[{event.get('level', 'info')}] {event.get('message', '')}")
        elif kind == "error":
            self.error_message = str(event.get("message", ""))
            self.log.appendPlainText(f"[error] {self.error_message}")
        elif kind == "done":
            self.done_event = event

    def _plot_point(self, stage: str, event: dict[str, Any]) -> None:
        curve = LOSS_CURVES.get(stage)
        step = event.get("step") or event.get("done")
        if curve is None or step is None:
            return
        x = self._x_offset + int(step)
        if isinstance(event.get("loss"), (int, float)):
            self.plot.add_point(curve[0], x, float(event["loss"]))
        if isinstance(event.get("metric"), (int, float)):
            self.plot.add_point(MIOU_CURVE[0], x, float(event["metric"]))

    def _on_finished(self, exit_code: int, crashed: bool) -> None:
        self._set_running(False)
        message = describe_exit(exit_code, crashed, self.runner.stop_requested,
                                self.runner.start_error or self.error_message, "training process")
        success = not message and bool(self.done_event)
        if success:
            try:
                self._show_results()
            except (ValueError, ModelRegistryError, OSError) as error:
                success, message = False, f"The model was trained but could not be registered: {error}"
        if success:
            minutes = (time.monotonic() - self.started_at) / 60
            self.status.setText(f"Done in {minutes:.1f} min: model '{self.registered_card.stem}' is registered"
                                + (" and used for detection." if self.make_default.isChecked() else "."))
            self.stage_label.setText("Finished")
        else:
            self.status.setText(message or "The training process ended without writing a model.")
            self.status.setStyleSheet("color: #b42318")
            self.stage_label.setText("Stopped" if self.runner.stop_requested else "Failed")
        self.run_finished.emit(success)

    def _show_results(self) -> None:
        self.report = read_report(self.done_event)
        self.registered_card = register_model(self.report.model_card, self.settings, self.request.name,
                                              make_default=self.make_default.isChecked(), validate=False)
        rows = self.report.metrics_rows + self.report.class_rows
        self.metrics_table.setRowCount(len(rows))
        for row, (label, value) in enumerate(rows):
            self.metrics_table.setItem(row, 0, QTableWidgetItem(label))
            self.metrics_table.setItem(row, 1, QTableWidgetItem(value))
        self.metrics_table.resizeColumnsToContents()
        if self.report.sample_grid is not None:
            pixmap = QPixmap(str(self.report.sample_grid))
            self.sample_grid.setPixmap(pixmap.scaled(self.sample_grid.size(), Qt.KeepAspectRatio,
                                                     Qt.SmoothTransformation))
        else:
            self.sample_grid.setText("No generated pairs (augmentation ratio 0).")
        self.log.appendPlainText(f"Model card: {self.report.model_card}; registered as {self.registered_card}")

    # -- lifetime ---------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop a running training (plugin unload or QGIS closing)."""
        self.runner.stop_and_wait()
