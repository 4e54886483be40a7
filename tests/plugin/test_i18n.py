"""Translatable strings (issue 12 item 17): every user-visible string goes through tr(); the template is current."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess  # nosec B404 - fixed argument lists
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "dakd_qgis" / "i18n" / "dakd_qgis.ts"


@pytest.fixture(scope="module")
def make_template():
    script = REPO / "dakd_qgis" / "i18n" / "make_template.py"
    spec = importlib.util.spec_from_file_location("dakd_make_template", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_template_is_up_to_date(make_template):
    messages, problems = make_template.collect()
    assert problems == []  # every tr() has a literal string (no f-strings: a translator could not match them)
    assert TEMPLATE.read_text(encoding="utf-8") == make_template.template_text(messages), (
        "the translation template is out of date: run python3 dakd_qgis/i18n/make_template.py"
    )


def test_the_template_lists_what_the_analyst_sees(make_template):
    from dakd_qgis.translation import CONTEXT

    assert make_template.CONTEXT == CONTEXT
    root = ElementTree.parse(TEMPLATE).getroot()
    assert [context.findtext("name") for context in root.iter("context")] == [CONTEXT]
    sources = {message.findtext("source") for message in root.iter("message")}
    for text in (
        "Detect oil spills",
        "SAR raster layer",
        "Segment oil spills",
        "Fine-tune on my labels…",
        "Use the new model for detection",
        "Install…",
        "Oil probability",
        "Classes",
        "Choose a SAR raster layer or a Sentinel-1 product.",
    ):
        assert text in sources, text
    assert all(message.find("translation").get("type") == "unfinished" for message in root.iter("message"))


def test_no_user_visible_string_is_left_untranslated():
    """Texts given to widgets, message bars and Processing are tr() calls, not bare strings (source check)."""
    import ast

    setters = {
        "setText",
        "setWindowTitle",
        "setPlaceholderText",
        "setToolTip",
        "pushMessage",
        "addRow",
        "QPushButton",
        "QLabel",
        "QCheckBox",
        "QGroupBox",
        "QgsCollapsibleGroupBox",
        "createMessage",
        "QgsProcessingException",
        "InputProblem",
        "ModelRegistryError",
        "EngineRunError",
        "reportError",
        "pushInfo",
        "pushWarning",
        "setPlainText",
        "appendPlainText",
    }
    found = []
    for path in sorted((REPO / "dakd_qgis").rglob("*.py")):
        if path.name in ("package_plugin.py", "probe_engine.py", "make_template.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name not in setters:
                continue
            for argument in node.args:
                if isinstance(argument, ast.JoinedStr):  # an f-string: only its fixed parts are words
                    text = "".join(part.value for part in argument.values if isinstance(part, ast.Constant))
                elif isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    text = argument.value
                else:
                    continue
                words = set(re.findall(r"[A-Za-z]{3,}", text)) - {"Python", "error", "DAKD", "Oil", "Spill"}
                if words:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(argument)[:60]}")
    assert found == []


@pytest.mark.skipif(shutil.which("lrelease") is None, reason="lrelease (Qt Linguist tools) is not installed")
def test_a_translation_is_used(tmp_path, qgis_iface, monkeypatch):
    """A translated copy of the template, compiled by lrelease, changes what the plugin shows."""
    from qgis.core import QgsSettings

    from dakd_qgis import translation
    from dakd_qgis.plugin import DakdPlugin

    text = TEMPLATE.read_text(encoding="utf-8").replace(
        '<source>Segment oil spills</source>\n        <translation type="unfinished"></translation>',
        "<source>Segment oil spills</source>\n        <translation>Ölteppiche finden</translation>",
    )
    (tmp_path / "dakd_qgis_xx.ts").write_text(text, encoding="utf-8")
    done = subprocess.run(["lrelease", str(tmp_path / "dakd_qgis_xx.ts")], capture_output=True, text=True, check=False)  # nosec B603 B607
    assert done.returncode == 0, done.stderr
    monkeypatch.setattr(translation, "I18N_DIR", tmp_path)
    QgsSettings().setValue("locale/userLocale", "xx")
    try:
        plugin = DakdPlugin(qgis_iface)
        assert plugin.translator is not None
        assert translation.tr("Segment oil spills") == "Ölteppiche finden"
        plugin.unload()
        assert translation.tr("Segment oil spills") == "Segment oil spills"
    finally:
        QgsSettings().remove("locale/userLocale")
