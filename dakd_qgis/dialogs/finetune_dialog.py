"""The "Fine-tune on my labels" window: choose labelled scenes, run ``dakd finetune``, watch it, use the model.

Training runs as a separate ``python -m engine --progress json finetune`` process
(:class:`~dakd_qgis.process.ProcessRunner`), so QGIS stays responsive and an out-of-memory kill or a
crash ends the training, not QGIS. Its JSON-lines events drive the progress bar, stage, ETA, the
loss/mIoU plot and the log; Cancel sends SIGTERM (the engine stops after the current step and
checkpoints) and kills the process if it has not ended a few seconds later. When the run ends the
window shows the sample grid of generated pairs and the validation metrics, and registers the
model so "Detect oil spills" and "Segment oil spills" use it (a model measured on no validation
scene only after the analyst agrees).

The window starts on what the documentation recommends: the bundled model as the base, and the preset for
the device the engine finds (asked in the background, as Check dependencies… does). Label values
the engine does not know start as *ignore* and are pointed out, never silently made oil.

A new model never takes the place of another: the name starts free (``my-model-YYYYMMDD``, else ``-2``,
``-3``…) and moves on when that is taken; a name the analyst gave that is registered, or has a training
folder from an earlier run, is refused by Start, which proposes a free one. The settings are read when
they are used (a run lasts hours; Settings… may change meanwhile), and the base model list is read again
each time the window is shown.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.gui import QgsCollapsibleGroupBox, QgsFieldComboBox, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QBrush, QColor, QGuiApplication, QPixmap, QShowEvent
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .. import compat
from ..deps import probe_arguments
from ..engine_command import engine_command
from ..events import (
    describe_exit,
    engine_error_line,
    event_percent,
    format_eta,
    last_json_object,
    parse_event,
)
from ..finetune import (
    FinetuneReport,
    FinetuneRequest,
    background_labels,
    default_class_for,
    finetune_arguments,
    is_known_label,
    label_key,
    label_targets,
    preset_for_device,
    preset_labels,
    problems,
    read_report,
    safe_model_name,
)
from ..layer_sources import InputProblem, could_be_sar_scene, raster_file, vector_file
from ..models import ModelRegistryError, free_model_name, list_models, register_model, registered_card
from ..paths import engine_subprocess_env
from ..process import ProcessRunner
from ..settings import PluginSettings
from ..translation import tr
from ..wording import plugin_wording
from .plot import LivePlot
from .widgets import help_button, make_table

#: The window's largest size; it opens smaller on a screen with less room (1366 × 768 laptops).
MAX_SIZE = (1100, 680)


#: Where a mapping row keeps its label value as the engine reads it ("" for an empty value shown as "(no value)").
LABEL_KEY_ROLE = Qt.UserRole + 1
#: Training stages whose loss is plotted, and the curve each one draws (key, colour).
LOSS_CURVES = {"train SAR-JointNet": ("jointnet_loss", "#1f77b4"), "train SAROSS-Net": ("segmenter_loss", "#d62728")}
MIOU_CURVE = ("miou", "#2ca02c")


def _curve_labels() -> dict[str, str]:
    return {
        "jointnet_loss": tr("SAR-JointNet loss"),
        "segmenter_loss": tr("SAROSS-Net loss"),
        "miou": tr("validation mIoU (%)"),
    }


class FinetuneDialog(QDialog):
    """Inputs on the left; progress, plot, log and results on the right.

    Signals:
        run_finished(bool): the training process ended (True when a model was written and registered).
        device_detected(str): the engine reported the device ``auto`` picks (``"cpu"``, ``"cuda:0"``).
    """

    run_finished = pyqtSignal(bool)
    device_detected = pyqtSignal(str)

    def __init__(self, iface: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.setWindowTitle(tr("DAKD Oil Spill – Fine-tune on my labels"))
        self.runner = ProcessRunner(self)
        self.runner.line_received.connect(self.handle_line)
        self.runner.finished.connect(self._on_finished)
        self.request: FinetuneRequest | None = None
        self.done_event: dict[str, Any] = {}
        self.error_message = ""
        self.report: FinetuneReport | None = None
        self.registered_card: Path | None = None
        self.used_for_detection = False
        self.started_at = 0.0
        self._x_offset = 0
        self.detected_device = ""
        self._preset_chosen = False
        self._background_chosen = False
        self._suggesting = False
        self._default_unticked_for_validation = False
        #: Training folders this window made for runs that wrote no model: Start may use them again (--overwrite).
        self._own_run_dirs: set[Path] = set()
        self._suggested_name = ""  # the name this window offered; any other is the analyst's, never changed unsaid

        splitter = QSplitter(Qt.Horizontal, self)
        inputs = QScrollArea(splitter)  # the inputs scroll rather than make the window taller than the screen
        inputs.setWidgetResizable(True)
        inputs.setFrameShape(QFrame.NoFrame)
        inputs.setWidget(self._build_inputs())
        splitter.addWidget(inputs)
        splitter.addWidget(self._build_run_area())
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        buttons = QHBoxLayout()
        self.status = QLabel(tr("Choose your labelled scenes, then Start."), self)
        self.status.setWordWrap(True)
        buttons.addWidget(self.status, 1)
        self.start_button = QPushButton(tr("Start"), self)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton(tr("Cancel training"), self)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        close_button = QPushButton(tr("Close"), self)
        close_button.clicked.connect(self.close)
        self.help_button = help_button(self, "user-guide/qgis", "fine-tune-on-my-labels")
        for button in (self.start_button, self.cancel_button, close_button, self.help_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self._fit_to_screen()
        self.refresh_layers()
        self._suggest_preset()
        self.device_probe = ProcessRunner(self)
        self._probe_lines: list[str] = []
        self.device_probe.line_received.connect(
            lambda line, stream: stream == "stdout" and self._probe_lines.append(line)
        )
        self.device_probe.finished.connect(self._on_device_probed)
        self.detect_device()

    @property
    def settings(self) -> PluginSettings:
        """The settings as they are now: Settings… may change them while the window is open or a run lasts."""
        return PluginSettings.load()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        """Shown again (the plugin keeps one window): list the models registered since, and a free default name."""
        if not event.spontaneous() and not self.runner.is_running():
            self.refresh_models()
            self.suggest_name()
        super().showEvent(event)

    def refresh_models(self) -> None:
        """List the base models (the registered ones as they are now), keeping the chosen one if it is still there."""
        chosen = self.base_model.currentData() if self.base_model.count() else None
        self.base_model.clear()
        for entry in list_models(self.settings):
            self.base_model.addItem(entry.name, str(entry.card_path))
        self.base_model.addItem(tr("None (start from scratch)"), "")
        index = self.base_model.findData(chosen) if chosen is not None else -1
        self.base_model.setCurrentIndex(max(index, 0))  # else the bundled model (the documentation's advice)

    # -- the new model's name ---------------------------------------------------------------

    def run_dir(self, name: str) -> Path:
        """Return the training folder of a model name: ``<cache>/training/NAME`` (the engine's output, its work)."""
        return self.settings.training_dir(name, create=False)

    def name_taken(self, name: str) -> bool:
        """Tell whether ``name`` is registered, or has a training folder this window did not make for a failed run."""
        if registered_card(self.settings, name) is not None:
            return True
        folder = self.run_dir(name)
        return folder.exists() and folder not in self._own_run_dirs

    def suggest_name(self) -> None:
        """Offer ``my-model-YYYYMMDD`` (``-2``, ``-3``… when taken), unless the analyst gave a name of their own."""
        if self.model_name.text() == self._suggested_name:
            wanted = f"my-model-{time.strftime('%Y%m%d')}"
            self._suggested_name = free_model_name(self.settings, wanted, self.name_taken)
            self.model_name.setText(self._suggested_name)

    def _claim_name(self) -> str:
        """Make sure the run gets a free name; return why not ("" when it does).

        Our own suggestion moves on to the next free name; a name the analyst typed is not changed behind their
        back: Start refuses it and puts a free one in the field to take or change.
        """
        name = safe_model_name(self.model_name.text())
        if not self.name_taken(name):
            return ""
        if self.model_name.text() == self._suggested_name:
            self.suggest_name()
            return ""
        free = free_model_name(self.settings, name, self.name_taken)
        self.model_name.setText(free)
        return tr(
            "a model named '{name}' already exists (registered, or trained earlier in {folder}) and is kept; "
            "the name is now '{free}': press Start to use it, or choose another"
        ).format(name=name, folder=self.run_dir(name).parent, free=free)

    def _fit_to_screen(self) -> None:
        """Open at :data:`MAX_SIZE`, or smaller on a screen whose free area is smaller."""
        parent = self.parent()
        # QWidget.screen() is Qt 5.14+; QGIS 3.22 builds on an older Qt (Ubuntu 20.04's 5.12) lack it
        screen = parent.screen() if parent is not None and hasattr(parent, "screen") else None
        screen = screen or QGuiApplication.primaryScreen()
        width, height = MAX_SIZE
        if screen is not None:
            available = screen.availableGeometry()
            width = min(width, int(available.width() * 0.95))
            height = min(height, int(available.height() * 0.9))
        self.resize(width, height)

    # -- building ---------------------------------------------------------------------------

    def _build_inputs(self) -> QWidget:
        panel = QWidget(self)
        column = QVBoxLayout(panel)
        data = QGroupBox(tr("Labelled data"), panel)
        form = QFormLayout(data)
        self.scenes_list = QListWidget(data)
        self.scenes_list.setSelectionMode(QAbstractItemView.NoSelection)
        self.scenes_list.setMinimumHeight(60)
        self.scenes_list.setMaximumHeight(120)
        form.addRow(tr("SAR rasters"), self.scenes_list)
        self.labels_combo = QgsMapLayerComboBox(data)
        self.labels_combo.setFilters(compat.POLYGON_LAYER_FILTER)
        form.addRow(tr("Label polygons"), self.labels_combo)
        self.field_combo = QgsFieldComboBox(data)
        form.addRow(tr("Class field"), self.field_combo)
        self.mapping_table = make_table(data, [tr("Label value"), tr("Class")])
        self.mapping_table.setMinimumHeight(80)
        form.addRow(tr("Value mapping"), self.mapping_table)
        self.mapping_note = QLabel(data)
        self.mapping_note.setWordWrap(True)
        self.mapping_note.setStyleSheet("color: #9a6700")
        self.mapping_note.hide()
        form.addRow(self.mapping_note)
        self.background = QComboBox(data)
        for key, label in background_labels().items():
            self.background.addItem(label, key)
        self.background.setToolTip(
            tr(
                "What the pixels outside every polygon are. If you outlined only the oil (or "
                "have a binary oil mask), choose Not oil: they are then trained as any class "
                "but oil, so the base model keeps telling look-alikes, ships and land apart"
            )
        )
        self.background.activated.connect(self._background_picked)
        form.addRow(tr("Outside the polygons"), self.background)
        self.val_share = QDoubleSpinBox(data)
        self.val_share.setRange(0.0, 0.9)
        self.val_share.setSingleStep(0.05)
        self.val_share.setValue(0.2)
        self.val_share.setToolTip(
            tr("Share of the scenes kept aside to measure the model (split by scene); 0 measures nothing")
        )
        self.val_share.valueChanged.connect(self._validation_changed)
        form.addRow(tr("Validation share"), self.val_share)
        column.addWidget(data)

        training = QGroupBox(tr("Training"), panel)
        form = QFormLayout(training)
        self.preset = QComboBox(training)
        for key, label in preset_labels().items():
            self.preset.addItem(label, key)
            self.preset.setItemData(self.preset.count() - 1, label, Qt.ToolTipRole)
        self.preset.currentIndexChanged.connect(self._preset_picked)
        form.addRow(tr("Preset"), self.preset)
        self.device = QComboBox(training)
        self.device.addItems(list(self.settings.devices()))
        self.device.setCurrentText(self.settings.device)
        self.device.currentTextChanged.connect(lambda _text: self._suggest_preset())
        form.addRow(tr("Device"), self.device)
        for combo in (self.preset, self.device):
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(16)
        self.base_model = QComboBox(training)
        self.base_model.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.base_model.setMinimumContentsLength(16)
        self.refresh_models()
        self.base_model.setToolTip(tr("The model training starts from; the bundled model is a good start"))
        form.addRow(tr("Base model"), self.base_model)
        self.model_name = QLineEdit(training)
        self.model_name.setToolTip(tr("A name no registered model has: an earlier model is never replaced"))
        self.suggest_name()
        form.addRow(tr("New model name"), self.model_name)
        self.make_default = QCheckBox(tr("Use the new model for detection"), training)
        self.make_default.setChecked(True)
        form.addRow(self.make_default)
        advanced = QgsCollapsibleGroupBox(tr("Advanced"), training)
        advanced.setCollapsed(True)
        advanced_form = QFormLayout(advanced)
        self.steps = self._spin(advanced, 0, 1_000_000, tr("preset"), tr("SAROSS-Net training steps"))
        advanced_form.addRow(tr("SAROSS-Net steps"), self.steps)
        self.jointnet_steps = self._spin(advanced, 0, 1_000_000, tr("preset"), tr("SAR-JointNet training steps"))
        advanced_form.addRow(tr("SAR-JointNet steps"), self.jointnet_steps)
        self.aug_ratio = QDoubleSpinBox(advanced)
        self.aug_ratio.setRange(-0.5, 4.0)
        self.aug_ratio.setSingleStep(0.5)
        self.aug_ratio.setSpecialValueText(tr("preset"))
        self.aug_ratio.setValue(-0.5)
        self.aug_ratio.setToolTip(tr("Generated pairs per real tile (0 skips the diffusion model)"))
        advanced_form.addRow(tr("Augmentation ratio"), self.aug_ratio)
        self.balance = QDoubleSpinBox(advanced)
        self.balance.setRange(0.0, 100.0)
        self.balance.setDecimals(3)
        self.balance.setSpecialValueText(tr("computed"))
        self.balance.setToolTip(tr("SAR-JointNet balancing factor b; 1 turns it off"))
        advanced_form.addRow(tr("Balancing factor b"), self.balance)
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
        spin.setToolTip(tr("{what}; '{special}' uses the preset's value").format(what=tip, special=special))
        return spin

    def _build_run_area(self) -> QWidget:
        panel = QWidget(self)
        column = QVBoxLayout(panel)
        row = QHBoxLayout()
        self.stage_label = QLabel(tr("Not started"), panel)
        self.eta_label = QLabel("", panel)
        row.addWidget(self.stage_label, 1)
        row.addWidget(self.eta_label)
        column.addLayout(row)
        self.progress_bar = QProgressBar(panel)
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        column.addWidget(self.progress_bar)
        self.plot = LivePlot(panel)
        self.plot.setMinimumHeight(180)
        labels = _curve_labels()
        for key, colour in LOSS_CURVES.values():
            self.plot.add_series(key, labels[key], colour)
        self.plot.add_series(MIOU_CURVE[0], labels[MIOU_CURVE[0]], MIOU_CURVE[1], axis="right")
        column.addWidget(self.plot, 3)
        self.log = QPlainTextEdit(panel)
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText(tr("The training log appears here."))
        column.addWidget(self.log, 1)
        results = QGroupBox(tr("Results"), panel)
        results_row = QHBoxLayout(results)
        self.sample_grid = QLabel(tr("The generated image/label pairs appear here at the end."), results)
        self.sample_grid.setWordWrap(True)
        self.sample_grid.setAlignment(Qt.AlignCenter)
        self.sample_grid.setMinimumSize(200, 120)
        results_row.addWidget(self.sample_grid, 1)
        self.metrics_table = make_table(results, [tr("Validation"), tr("Value")])
        results_row.addWidget(self.metrics_table, 1)
        column.addWidget(results, 2)
        return panel

    # -- device and preset ------------------------------------------------------------------

    def detect_device(self) -> None:
        """Ask the engine Python which device ``auto`` picks (in the background; a few seconds for torch)."""
        if self.device_probe.is_running():
            return
        self._probe_lines = []
        arguments = probe_arguments(self.settings.python_executable(), [], "auto")
        self.device_probe.start(arguments[0], arguments[1:], engine_subprocess_env(python=arguments[0]))

    def _on_device_probed(self, exit_code: int, crashed: bool) -> None:
        device = ((last_json_object(self._probe_lines) or {}).get("device") or {}).get("name")
        if device:
            self.detected_device = str(device)
            self._suggest_preset()
            self.device_detected.emit(self.detected_device)

    def _preset_picked(self, _index: int) -> None:
        if not self._suggesting:
            self._preset_chosen = True  # the analyst's choice; the device no longer changes it

    def _suggest_preset(self) -> None:
        """Start on the preset for the device that will train: a GPU preset only when there is a GPU."""
        if self._preset_chosen:
            return
        device = self.device.currentText()
        if device == "auto":
            device = self.detected_device or "cpu"
        self._suggesting = True
        try:
            self.preset.setCurrentIndex(max(0, self.preset.findData(preset_for_device(device))))
        finally:
            self._suggesting = False

    def _validation_changed(self, share: float) -> None:
        """Without validation scenes the model is not measured: do not offer it for detection by default."""
        if share == 0 and self.make_default.isChecked():
            self.make_default.setChecked(False)
            self._default_unticked_for_validation = True
        elif share > 0 and self._default_unticked_for_validation:
            self.make_default.setChecked(True)
            self._default_unticked_for_validation = False
        self.make_default.setToolTip(
            tr("With a validation share of 0 the new model is not measured") if share == 0 else ""
        )

    # -- inputs -----------------------------------------------------------------------------

    def refresh_layers(self) -> None:
        """List the project's raster layers that may be SAR scenes (not results, images or label rasters)."""
        self.scenes_list.clear()
        for layer in QgsProject.instance().mapLayers().values():
            if isinstance(layer, QgsRasterLayer) and could_be_sar_scene(layer):
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
        """One row per distinct value of the class field, each with a class to map it to.

        Values the engine does not know start as *ignore*, are highlighted, and are named below the table.
        """
        self.mapping_table.setRowCount(0)
        self.mapping_note.hide()
        layer = self.labels_combo.currentLayer()
        field = self.field_combo.currentField()
        if layer is None or not field:
            return
        values = sorted(layer.uniqueValues(layer.fields().indexOf(field)), key=str)
        self.mapping_table.setRowCount(len(values))
        for row, value in enumerate(values):
            key = label_key(value)
            item = QTableWidgetItem(key or tr("(no value)"))
            item.setData(Qt.UserRole, not is_known_label(key))
            item.setData(LABEL_KEY_ROLE, key)
            self.mapping_table.setItem(row, 0, item)
            target = QComboBox(self.mapping_table)
            target.addItems(list(label_targets()))
            target.setCurrentText(default_class_for(key, self.background.currentData()))
            target.currentTextChanged.connect(lambda _text: self._show_unmapped())
            target.currentTextChanged.connect(lambda _text: self._suggest_background())
            self.mapping_table.setCellWidget(row, 1, target)
        self._show_unmapped()
        self._suggest_background()

    def _show_unmapped(self) -> None:
        """Highlight and name the values that are not class names and still map to ignore."""
        unmapped = []
        for row in range(self.mapping_table.rowCount()):
            item = self.mapping_table.item(row, 0)
            waiting = bool(item.data(Qt.UserRole)) and self.mapping_table.cellWidget(row, 1).currentText() == "ignore"
            item.setBackground(QBrush(QColor("#fff4ce")) if waiting else QBrush())
            item.setToolTip(tr("Not a class name: ignored until you choose its class") if waiting else "")
            if waiting:
                unmapped.append(item.text())
        self.mapping_note.setText(
            tr("Not class names, so ignored until you choose their class: {values}.").format(values=", ".join(unmapped))
        )
        self.mapping_note.setVisible(bool(unmapped))

    def _background_picked(self, _index: int) -> None:
        """Keep the analyst's background choice, and read a value "background" as they meant it."""
        self._background_chosen = True
        for row in range(self.mapping_table.rowCount()):
            if self.mapping_table.item(row, 0).text().strip().lower() == "background":
                self.mapping_table.cellWidget(row, 1).setCurrentText(
                    default_class_for("background", self.background.currentData())
                )

    def _suggest_background(self) -> None:
        """Labels that map to oil and nothing else (but ignore) outline only the oil: start on *Not oil*.

        Taking the rest as sea would teach the base model that every look-alike, ship and coast is sea.
        """
        if self._background_chosen:
            return
        targets = set(self.class_map().values()) - {"ignore"}
        self.background.setCurrentIndex(
            self.background.findData("not-oil" if "oil" in targets and targets <= {"oil", "not-oil"} else "sea")
        )

    def class_map(self) -> dict[str, str]:
        """Return the value → class mapping as set in the table."""
        return {
            self.mapping_table.item(row, 0).data(LABEL_KEY_ROLE): self.mapping_table.cellWidget(row, 1).currentText()
            for row in range(self.mapping_table.rowCount())
        }

    def set_class(self, value: str, target: str) -> None:
        """Map a label value (``""``: the empty value) to a class, as the analyst does in the table."""
        for row in range(self.mapping_table.rowCount()):
            if self.mapping_table.item(row, 0).data(LABEL_KEY_ROLE) == value:
                self.mapping_table.cellWidget(row, 1).setCurrentText(target)
                return
        raise KeyError(value)

    def build_request(self) -> FinetuneRequest:
        """Turn the inputs into a :class:`FinetuneRequest`, with the label polygons as the window shows them.

        A label layer whose file is not what QGIS shows (a scratch layer, a filter, unsaved edits) is written to a
        copy in the run folder first (:func:`vector_file`), so the run trains on every polygon the analyst sees.

        Raises:
            InputProblem: a layer cannot be handed to the engine.
        """
        name = safe_model_name(self.model_name.text())
        run_dir = self.run_dir(name)
        own = run_dir in self._own_run_dirs or not run_dir.exists()  # else an earlier run's: never replaced
        self.settings.training_dir(name)  # made now: a cache folder that cannot be written is one line, not a crash
        if own:
            self._own_run_dirs.add(run_dir)
        scenes = [raster_file(layer) for layer in self.scene_layers()]  # refused before any label copy is written
        labels, layer_name = ("", "")
        if self.labels_combo.currentLayer() is not None:
            labels, layer_name = vector_file(self.labels_combo.currentLayer(), run_dir / "labels")
        return FinetuneRequest(
            output=str(run_dir / name),
            name=name,
            scenes=scenes,
            labels=labels,
            layer=layer_name,
            class_field=self.field_combo.currentField(),
            class_map=self.class_map(),
            val_share=self.val_share.value(),
            preset=self.preset.currentData(),
            steps=self.steps.value() or None,
            jointnet_steps=self.jointnet_steps.value() or None,
            aug_ratio=None if self.aug_ratio.value() < 0 else self.aug_ratio.value(),
            balance=self.balance.value() or None,
            init=self.base_model.currentData() or "",
            device=self.device.currentText(),
            background=self.background.currentData(),
            overwrite=own,
        )

    # -- running ----------------------------------------------------------------------------

    def start(self) -> bool:
        """Check the inputs and start ``dakd finetune``; False (and the reason in the status line) if not."""
        if self.runner.is_running():
            return False
        taken = self._claim_name()
        if taken:
            return self._refuse(taken)
        try:
            request = self.build_request()
        except InputProblem as error:
            return self._refuse(str(error))
        found = problems(request)
        if found:
            return self._refuse("; ".join(found))
        self.request = request
        self.done_event, self.error_message, self.report, self.registered_card = {}, "", None, None
        self.used_for_detection = False
        self._x_offset = 0
        self.plot.clear()
        self.log.clear()
        self.metrics_table.setRowCount(0)
        self.sample_grid.setPixmap(QPixmap())
        self.sample_grid.setText(tr("The generated image/label pairs appear here at the end."))
        arguments = engine_command(self.settings.python_executable(), finetune_arguments(request))
        self.log.appendPlainText("$ " + " ".join(arguments))
        self.started_at = time.monotonic()
        self._set_running(True)
        self.status.setText(
            tr("Training '{name}'… QGIS stays usable; you can close this window.").format(name=request.name)
        )
        self.runner.start(arguments[0], arguments[1:], engine_subprocess_env(python=arguments[0]))
        return True

    def _refuse(self, reason: str) -> bool:
        self.status.setText(tr("Cannot start: {reason}.").format(reason=reason))
        self.status.setStyleSheet("color: #b42318")
        return False

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.status.setStyleSheet("")

    def cancel(self) -> None:
        """Stop the training process (SIGTERM, then kill after a grace period)."""
        if self.runner.is_running():
            self.status.setText(tr("Stopping after the current step…"))
            self.cancel_button.setEnabled(False)
            self.runner.stop()

    def handle_line(self, line: str, stream: str) -> None:
        """Route one output line: JSON events update the view, anything else goes to the log."""
        event = parse_event(line) if stream == "stdout" else None
        if event is None:
            if line.strip():
                self.error_message = self.error_message or engine_error_line(line)  # a refused command line
                self.log.appendPlainText(plugin_wording(line))
            return
        self.handle_event(event)

    def handle_event(self, event: dict[str, Any]) -> None:
        """Update progress, stage, ETA, plot and log from one engine event."""
        kind = event.get("event")
        stage = str(event.get("stage") or "")
        if kind == "stage":
            self.stage_label.setText(tr("Stage: {stage}").format(stage=stage))
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
            self.log.appendPlainText(f"[{event.get('level', 'info')}] {plugin_wording(str(event.get('message', '')))}")
        elif kind == "error":
            self.error_message = str(event.get("message", ""))
            self.log.appendPlainText(f"[error] {plugin_wording(self.error_message)}")
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
        # The engine says "done" only after the model and its report are written: a Cancel that came too late, or a
        # crash while Python exits, changes nothing the run made.
        success = bool(self.done_event)
        if success and self.request is not None:  # a model was written: its folder is no longer ours to overwrite
            self._own_run_dirs.discard(Path(self.request.output).parent)
        message = (
            ""
            if success
            else describe_exit(
                exit_code,
                crashed,
                self.runner.stop_requested,
                self.runner.start_error or self.error_message,
                tr("training process"),
            )
        )
        if success:
            try:
                self._show_results()
            except (ValueError, ModelRegistryError, OSError) as error:
                success = False
                message = tr("The model was trained but could not be registered: {reason}").format(reason=error)
        if success:
            minutes = f"{(time.monotonic() - self.started_at) / 60:.1f}"
            done = (
                tr("Done in {minutes} min: model '{name}' is registered and used for detection.")
                if self.used_for_detection
                else tr("Done in {minutes} min: model '{name}' is registered.")
            )
            self.status.setText(done.format(minutes=minutes, name=self.registered_card.stem))
            self.stage_label.setText(tr("Finished"))
        else:
            self.status.setText(message or tr("The training process ended without writing a model."))
            self.status.setStyleSheet("color: #b42318")
            self.stage_label.setText(tr("Stopped") if self.runner.stop_requested else tr("Failed"))
        self.run_finished.emit(success)

    def confirm_unvalidated_default(self) -> bool:
        """Ask before a model measured on no validation scene becomes the default for detection (default: no)."""
        answer = QMessageBox.question(
            self,
            tr("Use an unmeasured model?"),
            tr(
                "The new model was not measured on validation scenes (validation share 0), so nobody knows how well it "
                "detects. Use it for detection anyway?"
            ),
            QMessageBox.Yes | QMessageBox.No,
            QMessageBox.No,
        )
        return answer == QMessageBox.Yes

    def _show_results(self) -> None:
        self.report = read_report(self.done_event)
        use = self.make_default.isChecked() and (self.report.validated or self.confirm_unvalidated_default())
        settings = self.settings  # as they are now, hours after Start
        name = free_model_name(settings, self.request.name)  # registered meanwhile elsewhere: that one is kept
        self.registered_card = register_model(self.report.model_card, settings, name, make_default=use, validate=False)
        if name != self.request.name:
            self.log.appendPlainText(
                tr("A model named '{wanted}' was registered during the run and is kept; this one is '{name}'.").format(
                    wanted=self.request.name, name=name
                )
            )
        self.used_for_detection = use
        rows = self.report.metrics_rows + self.report.class_rows
        self.metrics_table.setRowCount(len(rows))
        for row, (label, value) in enumerate(rows):
            self.metrics_table.setItem(row, 0, QTableWidgetItem(label))
            self.metrics_table.setItem(row, 1, QTableWidgetItem(value))
        self.metrics_table.resizeColumnsToContents()
        if self.report.sample_grid is not None:
            pixmap = QPixmap(str(self.report.sample_grid))
            self.sample_grid.setPixmap(
                pixmap.scaled(self.sample_grid.size(), Qt.KeepAspectRatio, Qt.SmoothTransformation)
            )
        else:
            self.sample_grid.setText(tr("No generated pairs (augmentation ratio 0)."))
        self.log.appendPlainText(
            tr("Model card: {card}; registered as {registered}").format(
                card=self.report.model_card, registered=self.registered_card
            )
        )

    # -- lifetime ---------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop a running training and the device check (plugin unload or QGIS closing)."""
        self.device_probe.stop_and_wait(1000)
        self.runner.stop_and_wait()
