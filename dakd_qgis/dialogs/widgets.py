"""Small widget builders the plugin's windows share."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qgis.PyQt.QtCore import QUrl
from qgis.PyQt.QtGui import QDesktopServices
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

from ..paths import help_url
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


def help_button(parent: QWidget, page: str, anchor: str = "") -> QPushButton:
    """Return a Help button that opens this page of the documentation (``paths.help_url``) in the browser.

    The address is kept as the button's ``help_url`` property, so a test can check where it leads without a browser.
    """
    button = QPushButton(tr("Help"), parent)
    button.setProperty("help_url", help_url(page, anchor))
    button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl(button.property("help_url"))))
    return button


def add_buttons(
    dialog: QDialog,
    layout: QBoxLayout,
    actions: Sequence[tuple[str, Callable[[], object]]],
    help_page: tuple[str, str] | None = None,
) -> list[QPushButton]:
    """Add a row of action buttons, then the dialog's Close (and Help) buttons; return the action buttons.

    Args:
        dialog: the window the buttons belong to (Close rejects it).
        layout: the window's layout; the buttons go at its end.
        actions: ``(label, slot)`` of each action button, left to right.
        help_page: ``(page, anchor)`` of the documentation the Help button opens; None for no Help button.
    """
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
    if help_page is not None:
        close.addButton(help_button(dialog, *help_page), QDialogButtonBox.HelpRole)
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
