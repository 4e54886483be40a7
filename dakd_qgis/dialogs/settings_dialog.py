"""Settings…: device, default model, engine Python and cache folder."""

from __future__ import annotations

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

from ..models import list_models
from ..settings import DEVICES, PluginSettings, default_python
from ..translation import tr
from .widgets import path_row


class SettingsDialog(QDialog):
    """Edits :class:`~dakd_qgis.settings.PluginSettings`; OK saves."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("DAKD Oil Spill – Settings"))
        self.settings = PluginSettings.load()
        form = QFormLayout(self)

        self.device = QComboBox(self)
        self.device.addItems(list(DEVICES))
        self.device.setCurrentText(self.settings.device)
        self.device.setToolTip(tr("auto: the GPU when torch sees a CUDA GPU, else the CPU"))
        form.addRow(tr("Device"), self.device)

        self.default_model = QComboBox(self)
        self.default_model.addItem(tr("Bundled model (threshold if none is bundled)"), "")
        for entry in list_models(self.settings):
            if not entry.bundled:
                self.default_model.addItem(f"{entry.name} – {entry.describe()}", str(entry.card_path))
        index = self.default_model.findData(self.settings.default_model)
        self.default_model.setCurrentIndex(max(index, 0))
        form.addRow(tr("Default model"), self.default_model)

        self.engine_python = QLineEdit(self.settings.engine_python, self)
        self.engine_python.setPlaceholderText(tr("QGIS's Python ({path})").format(path=default_python()))
        form.addRow(tr("Engine Python"), path_row(self.engine_python, self._browse_python, self))

        self.cache_folder = QLineEdit(self.settings.cache_folder, self)
        self.cache_folder.setPlaceholderText(tr("in the QGIS profile"))
        form.addRow(tr("Cache folder"), path_row(self.cache_folder, self._browse_cache, self))
        note = QLabel(tr("Detection runs and registered models are kept in the cache folder."), self)
        note.setWordWrap(True)
        form.addRow(note)

        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse_python(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, tr("Python interpreter for the engine"),
                                              self.engine_python.text())
        if path:
            self.engine_python.setText(path)

    def _browse_cache(self) -> None:
        path = QFileDialog.getExistingDirectory(self, tr("Cache folder"), self.cache_folder.text())
        if path:
            self.cache_folder.setText(path)

    def accept(self) -> None:
        """Save and close."""
        self.settings.device = self.device.currentText()
        self.settings.default_model = self.default_model.currentData() or ""
        self.settings.engine_python = self.engine_python.text().strip()
        self.settings.cache_folder = self.cache_folder.text().strip()
        self.settings.save()
        super().accept()
