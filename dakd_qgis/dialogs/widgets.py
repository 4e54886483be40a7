"""Small widget builders the plugin's windows share."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QWidget,
)

from ..translation import tr


def make_table(parent: QWidget, headers: Sequence[str], editable: bool = False) -> QTableWidget:
    """Return an empty table with these column headers, the last column stretched, no row numbers."""
    table = QTableWidget(0, len(headers), parent)
    table.setHorizontalHeaderLabels(list(headers))
    table.horizontalHeader().setStretchLastSection(True)
    table.verticalHeader().setVisible(False)
    if not editable:
        table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    return table


def add_buttons(dialog: QDialog, layout: QBoxLayout,
                actions: Sequence[tuple[str, Callable[[], object]]]) -> list[QPushButton]:
    """Add a row of action buttons, then the dialog's Close button; return the action buttons."""
    row = QHBoxLayout()
    buttons = []
    for text, slot in actions:
        button = QPushButton(text, dialog)
        button.clicked.connect(slot)
        row.addWidget(button)
        buttons.append(button)
    row.addStretch(1)
    layout.addLayout(row)
    close = QDialogButtonBox(QDialogButtonBox.Close, dialog)
    close.rejected.connect(dialog.reject)
    layout.addWidget(close)
    return buttons


def path_row(edit: QLineEdit, browse: Callable[[], object], parent: QWidget) -> QWidget:
    """Put a "Browse…" button beside a line edit."""
    row = QWidget(parent)
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit)
    button = QPushButton(tr("Browse…"), row)
    button.clicked.connect(browse)
    layout.addWidget(button)
    return row
