"""Models…: list, import, inspect and delete model cards; choose the default model.

The list is read again each time the window is shown (the plugin keeps one window and shows it again), and
the settings are read when a button is pressed, so a model registered or a default chosen elsewhere since is
what the window shows and keeps. A button pressed on a list of another cache folder (moved in Settings… while
this window was open) reads the list again instead of acting on a model of the old folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QShowEvent, QTextOption
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QFrame,
    QMessageBox,
    QPlainTextEdit,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..models import (
    ModelEntry,
    ModelNameTaken,
    ModelRegistryError,
    default_model_path,
    delete_model,
    list_models,
    missing_weights,
    register_model,
)
from ..settings import PluginSettings
from ..translation import tr
from .widgets import add_buttons, make_table


class ModelsDialog(QDialog):
    """The registered model cards with Import…, Inspect, Set as default and Delete (not for the bundled card)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("DAKD Oil Spill – Models"))
        self.resize(760, 380)
        self.entries: list[ModelEntry] = []
        #: The registered models' folder the list was read from (the cache folder may move in Settings…).
        self.listed_folder: Path | None = None
        layout = QVBoxLayout(self)
        self.table = make_table(self, (tr("Name"), tr("Default"), tr("Description"), tr("Card")))
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        layout.addWidget(self.table)
        # Engine messages name long paths: wrap them anywhere and let the box scroll, so nothing is cut off.
        self.status = QPlainTextEdit(self)
        self.status.setReadOnly(True)
        self.status.setFrameShape(QFrame.NoFrame)
        self.status.setWordWrapMode(QTextOption.WrapAtWordBoundaryOrAnywhere)
        self.status.setFixedHeight(self.status.fontMetrics().lineSpacing() * 4 + 8)
        self.status.viewport().setAutoFillBackground(False)
        layout.addWidget(self.status)
        self.import_button, self.inspect_button, self.default_button, self.delete_button = add_buttons(
            self,
            layout,
            [
                (tr("Import…"), self.import_dialog),
                (tr("Inspect"), self.inspect_selected),
                (tr("Set as default"), self.set_selected_default),
                (tr("Delete"), self.delete_selected),
            ],
            help_page=("user-guide/qgis", "models-settings-check-dependencies"),
        )
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.refresh()

    @property
    def settings(self) -> PluginSettings:
        """The settings as they are now (another window may have changed them since this one opened)."""
        return PluginSettings.load()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        """Read the list again when the window is shown again (not when it is only restored from the task bar)."""
        if not event.spontaneous():
            self.refresh()
        super().showEvent(event)

    def refresh(self, status: str = "") -> None:
        """Reload the list from disk and show ``status``: what the action that asked did (none: cleared).

        Each action replaces the line: "Imported X." once stayed under the list after X was made the default,
        and after X was deleted.
        """
        settings = self.settings
        self.entries = list_models(settings)
        self.listed_folder = settings.models_dir(create=False)
        default = default_model_path(settings)
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            is_default = default is not None and entry.card_path.resolve() == default.resolve()
            for column, text in enumerate(
                (entry.name, "✔" if is_default else "", entry.describe(), str(entry.card_path))
            ):
                item = QTableWidgetItem(text)
                item.setData(Qt.UserRole, str(entry.card_path))
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        hint = (
            tr(
                "No model cards yet: import one, or fine-tune on your labels. Detection uses "
                "the threshold method until then."
            )
            if not self.entries
            else ""
        )
        self.status.setPlainText(" ".join(part for part in (status, hint) if part))
        self._selection_changed()

    def _selection_changed(self) -> None:
        """Offer only what the selected card allows: the bundled card cannot be deleted."""
        entry = self.selected()
        for button in (self.inspect_button, self.default_button):
            button.setEnabled(entry is not None)
        self.delete_button.setEnabled(entry is not None and not entry.bundled)
        self.delete_button.setToolTip(
            tr("The model shipped with the plugin cannot be deleted") if entry is not None and entry.bundled else ""
        )

    def selected(self) -> ModelEntry | None:
        """Return the entry of the selected row."""
        rows = self.table.selectionModel().selectedRows()
        return self.entries[rows[0].row()] if rows else None

    def _selected_now(self) -> ModelEntry | None:
        """Return the selected entry for a button, or None after reading the list again if the cache folder moved.

        Settings… is a window of its own: with the cache folder changed there while this list was open, Delete
        said a model of the old folder "is not a registered model", and Set as default made it the default.
        """
        entry = self.selected()
        folder = self.settings.models_dir(create=False)
        if entry is not None and folder != self.listed_folder:
            self.refresh(
                tr("The cache folder was changed in Settings…; the list now shows the models in {folder}.").format(
                    folder=folder
                )
            )
            return None
        return entry

    def import_dialog(self) -> None:
        """Ask for a card file and import it."""
        path, _ = QFileDialog.getOpenFileName(self, tr("Import a model card"), "", tr("Model cards (*.json)"))
        if path:
            self.import_card(Path(path))

    def import_card(self, card: Path) -> Path | None:
        """Copy a card and its weights into the registry; show why if it is not a valid card.

        A card whose name is registered already replaces that model only when the analyst agrees; when that
        model is the default for detection, the imported one becomes the default in its place.
        """
        settings = self.settings
        try:
            try:
                registered = register_model(card, settings)
            except ModelNameTaken as taken:
                if Path(card).resolve() == taken.card.resolve():
                    self.status.setPlainText(tr("{name} is registered already.").format(name=taken.card.name))
                    return None
                if not self.confirm_replace(taken.name, taken.is_default):
                    self.status.setPlainText(tr("Not imported: {reason}").format(reason=taken))
                    return None
                # checked by the engine just now; the default stays the model of this name
                registered = register_model(card, settings, make_default=taken.is_default, validate=False, replace=True)
        except ModelRegistryError as error:
            self.status.setPlainText(tr("Not imported: {reason}").format(reason=error))
            return None
        self.refresh(tr("Imported {name}.").format(name=registered.name))
        return registered

    def confirm_replace(self, name: str, is_default: bool) -> bool:
        """Ask before an imported card replaces the registered model of the same name (default: no)."""
        question = (
            tr(
                "A model named '{name}' is already registered, and it is the default model for detection. Replace "
                "it with the imported card? Detection then uses the imported model."
            )
            if is_default
            else tr("A model named '{name}' is already registered. Replace it with the imported card?")
        )
        answer = QMessageBox.question(
            self,
            tr("Replace model?"),
            _as_plain_text(question.format(name=name)),
            QMessageBox.Yes | QMessageBox.No,
            QMessageBox.No,
        )
        return answer == QMessageBox.Yes

    def inspect_selected(self) -> None:
        """Show the selected card's metadata."""
        entry = self._selected_now()
        if entry is None:
            return
        self.status.clear()
        dialog = QDialog(self)
        dialog.setWindowTitle(tr("Model card – {name}").format(name=entry.name))
        dialog.resize(560, 480)
        layout = QVBoxLayout(dialog)
        text = QPlainTextEdit(json.dumps(entry.metadata, indent=2), dialog)
        text.setReadOnly(True)
        layout.addWidget(text)
        dialog.show()

    def set_selected_default(self) -> None:
        """Make the selected card the default model for detection."""
        entry = self._selected_now()
        if entry is None:
            return
        missing = None if entry.bundled else missing_weights(entry.card_path)
        if missing:  # detection would refuse it on every run; saying so now names the fix while it is at hand
            self.status.setPlainText(tr("Not set as default: {reason}").format(reason=missing))
            return
        self.settings.set_default_model("" if entry.bundled else str(entry.card_path))  # only this key
        self.refresh(tr("{name} is now the default model for detection.").format(name=entry.name))

    def delete_selected(self) -> None:
        """Delete the selected registered card after confirmation."""
        entry = self._selected_now()
        if entry is None or entry.bundled:
            return
        answer = QMessageBox.question(
            self,
            tr("Delete model"),
            _as_plain_text(tr("Delete the model '{name}' and its weights?").format(name=entry.name)),
        )
        if answer != QMessageBox.Yes:
            return
        try:
            delete_model(entry.card_path, self.settings)
        except ModelRegistryError as error:
            self.status.setPlainText(str(error))
            return
        self.refresh(tr("Deleted {name}.").format(name=entry.name))


def _as_plain_text(text: str) -> str:
    """Return ``text`` as rich text that shows it as it is, for a QMessageBox.

    A message box guesses whether its text is rich text: a model's file name holding markup (``&lt;`` can be
    imported; a card copied into the models folder by hand may be named ``<a href=...>``) would be rendered,
    a link included, instead of shown.
    """
    return Qt.convertFromPlainText(text, Qt.WhiteSpaceNormal)
