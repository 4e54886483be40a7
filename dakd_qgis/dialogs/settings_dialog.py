"""Settings…: device, detection precision, default model, engine Python and cache folder; what detection uses.

The "Detection runs on" line comes from ``probe_engine.py`` in the engine Python (in the background, as
Check dependencies… does): the device and the backend ``dakd detect`` picks, each with its reason.

The plugin keeps one window and shows it again: its values are read again each time it is shown, and OK
writes only what was changed in it, so a default model chosen elsewhere meanwhile (a fine-tune, Models…)
is kept.
"""

from __future__ import annotations

from pathlib import Path

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtGui import QShowEvent
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from ..deps import probe_arguments
from ..events import last_json_object
from ..models import list_models
from ..paths import engine_subprocess_env
from ..process import ProcessRunner
from ..settings import PluginSettings, default_python
from ..translation import tr
from .widgets import help_button, path_row


class SettingsDialog(QDialog):
    """Edits :class:`~dakd_qgis.settings.PluginSettings`; OK saves.

    Signals:
        probed(): the "Detection runs on" line was filled in by the engine Python.
    """

    probed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("DAKD Oil Spill – Settings"))
        self.settings = PluginSettings.load()
        self._probed_for: tuple[str, str] | None = None  # (engine Python, device) the last report was asked for
        form = QFormLayout(self)

        self.device = QComboBox(self)
        self.device.setToolTip(tr("auto: a CUDA GPU when torch sees one, else Apple MPS, else the CPU"))
        form.addRow(tr("Device"), self.device)
        self.precision = QComboBox(self)
        self.precision.setToolTip(
            tr(
                "auto: what the engine chooses for the device. bf16: faster on processors with bf16 units; its classes "
                "differ from fp32's on a few pixels (docs: Benchmarks)"
            )
        )
        form.addRow(tr("Detection precision"), self.precision)
        self.runs_on = QLabel(tr("asking the engine…"), self)
        self.runs_on.setWordWrap(True)
        form.addRow(tr("Detection runs on"), self.runs_on)
        self.probe = ProcessRunner(self)
        self._probe_lines: list[str] = []
        self._stopping = False
        self.probe.line_received.connect(lambda line, stream: stream == "stdout" and self._probe_lines.append(line))
        self.probe.finished.connect(self._on_probed)
        self.device.currentTextChanged.connect(lambda _text: self.ask_engine())

        self.default_model = QComboBox(self)
        form.addRow(tr("Default model"), self.default_model)

        self.engine_python = QLineEdit(self)
        self.engine_python.setPlaceholderText(tr("QGIS's Python ({path})").format(path=default_python()))
        form.addRow(tr("Engine Python"), path_row(self.engine_python, self._browse_python, self))

        self.cache_folder = QLineEdit(self)
        self.cache_folder.setPlaceholderText(tr("in the QGIS profile"))
        form.addRow(tr("Cache folder"), path_row(self.cache_folder, self._browse_cache, self))
        note = QLabel(tr("Detection runs and registered models are kept in the cache folder."), self)
        note.setWordWrap(True)
        form.addRow(note)

        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.addButton(
            help_button(self, "user-guide/qgis", "models-settings-check-dependencies"), QDialogButtonBox.HelpRole
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.reload()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        """Read the settings again when the window is shown again (not when it is only restored from the task bar)."""
        if not event.spontaneous():
            self.reload()
        super().showEvent(event)

    def reload(self) -> None:
        """Fill the fields from the settings as they are now, and ask the engine again if that changes its answer."""
        self.settings = PluginSettings.load()
        self.device.blockSignals(True)
        try:
            self.device.clear()
            self.device.addItems(list(self.settings.devices()))
            self.device.setCurrentText(self.settings.device)
        finally:
            self.device.blockSignals(False)
        self.precision.clear()
        self.precision.addItems(list(self.settings.precisions()))
        self.precision.setCurrentText(self.settings.precision)
        self.default_model.clear()
        self.default_model.addItem(tr("Bundled model (threshold if none is bundled)"), "")
        for entry in list_models(self.settings):
            if not entry.bundled:
                self.default_model.addItem(f"{entry.name} – {entry.describe()}", str(entry.card_path))
        if self.settings.default_model and self.default_model.findData(self.settings.default_model) < 0:
            # not a registered card (moved or deleted): shown as it is, so OK does not change it unasked
            self.default_model.addItem(
                tr("{name} (not in the model list)").format(name=Path(self.settings.default_model).name),
                self.settings.default_model,
            )
        self.default_model.setCurrentIndex(max(self.default_model.findData(self.settings.default_model), 0))
        self.engine_python.setText(self.settings.engine_python)
        self.cache_folder.setText(self.settings.cache_folder)
        if self._probed_for != (self.settings.python_executable(), self.device.currentText()):
            self.ask_engine()

    def ask_engine(self) -> None:
        """Ask the engine Python which device and backend detection will use, and why (in the background)."""
        if self.probe.is_running():
            self._stopping = True  # the stopped probe's finished signal is not a report
            self.probe.stop_and_wait(1000)
            self._stopping = False
        self._probe_lines = []
        self.runs_on.setText(tr("asking the engine…"))
        python, device = self.settings.python_executable(), self.device.currentText()
        self._probed_for = (python, device)
        arguments = probe_arguments(python, [], device)
        self.probe.start(arguments[0], arguments[1:], engine_subprocess_env(python=python))

    def _on_probed(self, exit_code: int, crashed: bool) -> None:
        if self._stopping:
            return
        report = last_json_object(self._probe_lines) or {}
        device, backend = report.get("device") or {}, report.get("backend") or {}
        if "name" in device and "name" in backend:
            self.runs_on.setText(
                tr("{backend} on {device}. Backend: {backend_reason}. Device: {device_reason}.").format(
                    backend=backend["name"],
                    device=device["name"],
                    backend_reason=backend["reason"],
                    device_reason=device["reason"],
                )
            )
        else:
            problem = backend.get("error") or device.get("error") or self.probe.start_error or tr("no report")
            self.runs_on.setText(tr("unknown ({reason}); see Check dependencies…").format(reason=problem))
        self.probed.emit()

    def done(self, result: int) -> None:  # noqa: D102 - stop the probe with the dialog
        if self.probe.is_running():
            self._probed_for = None  # a report cut short: ask again when the window is shown again
        self._stopping = True
        self.probe.stop_and_wait(1000)
        self._stopping = False
        super().done(result)

    def _browse_python(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, tr("Python interpreter for the engine"), self.engine_python.text())
        if path:
            self.engine_python.setText(path)

    def _browse_cache(self) -> None:
        path = QFileDialog.getExistingDirectory(self, tr("Cache folder"), self.cache_folder.text())
        if path:
            self.cache_folder.setText(path)

    def accept(self) -> None:
        """Save what was changed in the window (the rest keeps what is stored now) and close."""
        self.settings.device = self.device.currentText()
        self.settings.precision = self.precision.currentText() or self.settings.precision
        self.settings.default_model = self.default_model.currentData() or ""
        self.settings.engine_python = self.engine_python.text().strip()
        self.settings.cache_folder = self.cache_folder.text().strip()
        self.settings.save()  # only the fields changed since reload()
        super().accept()
