"""Models…: list, import, inspect and delete model cards; choose the default model."""

from __future__ import annotations

import json
from pathlib import Path

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..models import ModelEntry, ModelRegistryError, default_model_path, delete_model, list_models, register_model
from ..settings import PluginSettings
from .widgets import add_buttons, make_table


class ModelsDialog(QDialog):
    """The registered model cards with Import…, Inspect, Set as default and Delete."""

    COLUMNS = ("Name", "Default", "Description", "Card")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("DAKD Oil Spill – Models")
        self.resize(760, 360)
        self.settings = PluginSettings.load()
        self.entries: list[ModelEntry] = []
        layout = QVBoxLayout(self)
        self.table = make_table(self, self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        layout.addWidget(self.table)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        add_buttons(self, layout, [("Import…", self.import_dialog), ("Inspect", self.inspect_selected),
                                   ("Set as default", self.set_selected_default), ("Delete", self.delete_selected)])
        self.refresh()

    def refresh(self) -> None:
        """Reload the list from disk."""
        self.settings = PluginSettings.load()
        self.entries = list_models(self.settings)
        default = default_model_path(self.settings)
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            is_default = default is not None and entry.card_path.resolve() == default.resolve()
            for column, text in enumerate((entry.name, "✔" if is_default else "", entry.describe(),
                                           str(entry.card_path))):
                item = QTableWidgetItem(text)
                item.setData(Qt.UserRole, str(entry.card_path))
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        if not self.entries:
            self.status.setText("No model cards yet: import one, or fine-tune on your labels. Detection uses the "
                                "threshold method until then.")

    def selected(self) -> ModelEntry | None:
        """Return the entry of the selected row."""
        rows = self.table.selectionModel().selectedRows()
        return self.entries[rows[0].row()] if rows else None

    def import_dialog(self) -> None:
        """Ask for a card file and import it."""
        path, _ = QFileDialog.getOpenFileName(self, "Import a model card", "", "Model cards (*.json)")
        if path:
            self.import_card(Path(path))

    def import_card(self, card: Path) -> Path | None:
        """Copy a card and its weights into the registry; show why if it is not a valid card."""
        try:
            registered = register_model(card, self.settings)
        except ModelRegistryError as error:
            self.status.setText(f"Not imported: {error}")
            return None
        self.status.setText(f"Imported {registered.name}.")
        self.refresh()
        return registered

    def inspect_selected(self) -> None:
        """Show the selected card's metadata."""
        entry = self.selected()
        if entry is None:
            return
        dialog = QDialog(self)
        dialog.setWindowTitle(f"Model card – {entry.name}")
        dialog.resize(560, 480)
        layout = QVBoxLayout(dialog)
        text = QPlainTextEdit(json.dumps(entry.metadata, indent=2), dialog)
        text.setReadOnly(True)
        layout.addWidget(text)
        dialog.show()

    def set_selected_default(self) -> None:
        """Make the selected card the default model for detection."""
        entry = self.selected()
        if entry is None:
            return
        self.settings.default_model = "" if entry.bundled else str(entry.card_path)
        self.settings.save()
        self.refresh()

    def delete_selected(self) -> None:
        """Delete the selected registered card after confirmation."""
        entry = self.selected()
        if entry is None:
            return
        answer = QMessageBox.question(self, "Delete model", f"Delete the model '{entry.name}' and its weights?")
        if answer != QMessageBox.Yes:
            return
        try:
            delete_model(entry.card_path, self.settings)
        except ModelRegistryError as error:
            self.status.setText(str(error))
            return
        self.refresh()
