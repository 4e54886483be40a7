"""Translatable strings: :func:`tr` for every text the analyst sees, and the translation for QGIS's locale.

All strings share one context (:data:`CONTEXT`), so ``dakd_qgis/i18n/make_template.py`` can list them
in the template ``dakd_qgis/i18n/dakd_qgis.ts`` without knowing which class a call sits in. Strings
with values use named placeholders filled after translation, e.g.
``tr("Found {what}.").format(what=...)``, so a translator can move the value within the sentence.
A translation is ``i18n/dakd_qgis_<language>.qm`` (``lrelease`` of a translated copy of the template).
"""

from __future__ import annotations

from pathlib import Path

from qgis.PyQt.QtCore import QCoreApplication, QLocale, QObject, QTranslator

#: The one translation context of the plugin's strings.
CONTEXT = "DakdOilSpill"
I18N_DIR = Path(__file__).resolve().parent / "i18n"


def tr(text: str) -> str:
    """Return ``text`` in the analyst's language (``text`` itself when no translation is installed)."""
    return QCoreApplication.translate(CONTEXT, text)


def install_translator(parent: QObject | None = None) -> QTranslator | None:
    """Install the translation for QGIS's user locale if the plugin ships one; return it (None if there is none)."""
    from qgis.core import QgsSettings

    locale = str(QgsSettings().value("locale/userLocale", "", type=str) or QLocale().name())
    for name in (locale, locale[:2]):
        path = I18N_DIR / f"dakd_qgis_{name}.qm"
        if name and path.is_file():
            translator = QTranslator(parent)
            if translator.load(str(path)):
                QCoreApplication.installTranslator(translator)
                return translator
    return None


def remove_translator(translator: QTranslator | None) -> None:
    """Undo :func:`install_translator` (plugin unload)."""
    if translator is not None:
        QCoreApplication.removeTranslator(translator)
