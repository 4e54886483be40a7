"""Write the translation template ``dakd_qgis/i18n/dakd_qgis.ts`` from the plugin's ``tr("...")`` calls.

Run from the repository root after changing a user-visible string (a test fails while the template
is out of date)::

    python3 dakd_qgis/i18n/make_template.py

Translators copy the template to ``dakd_qgis_<language>.ts`` (e.g. with Qt Linguist), translate it,
and ``lrelease`` turns it into ``dakd_qgis_<language>.qm``, which the plugin loads for QGIS's locale.

Notes:
    Why not ``pylupdate5``: it gives each ``tr()`` call the context of the Python class it sits in,
    but the plugin's :func:`dakd_qgis.translation.tr` translates every string in the one context
    ``DakdOilSpill`` (module-level helpers have no class), so a template made by ``pylupdate5`` would
    hold entries that are never looked up. This script reads the same calls with ``ast`` and writes
    the standard Qt ``.ts`` format (without line numbers, so only a change of wording changes the
    template). Standard library only; not shipped in the plugin zip.
"""

from __future__ import annotations

import ast
import html
import sys
from collections.abc import Iterable
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parents[1]
TEMPLATE = PLUGIN_DIR / "i18n" / "dakd_qgis.ts"
#: Must equal ``dakd_qgis.translation.CONTEXT`` (a test checks; this script does not import QGIS).
CONTEXT = "DakdOilSpill"
#: Files that are not part of the running plugin (build scripts, the engine probe).
SKIPPED = {"package_plugin.py", "probe_engine.py", "make_template.py"}


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` for XML text (as ``xml.sax.saxutils.escape``; quotes stay as they are)."""
    return html.escape(text, quote=False)


def plugin_sources(plugin_dir: Path = PLUGIN_DIR) -> list[Path]:
    """Return the plugin's Python files, sorted, without build scripts."""
    return sorted(
        path for path in plugin_dir.rglob("*.py") if path.name not in SKIPPED and "__pycache__" not in path.parts
    )


def tr_calls(path: Path) -> Iterable[tuple[int, str | None]]:
    """Yield ``(line, text)`` for each ``tr(...)`` call in a file; ``text`` is None when it is not a literal."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tr" and node.args:
            first = node.args[0]
            literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
            yield node.lineno, first.value if literal else None


def collect(plugin_dir: Path = PLUGIN_DIR) -> tuple[dict[str, list[str]], list[str]]:
    """Return the translatable strings (each with the files using it) and the calls that are not literals."""
    messages: dict[str, list[str]] = {}
    problems = []
    for path in plugin_sources(plugin_dir):
        relative = path.relative_to(plugin_dir).as_posix()
        for line, text in tr_calls(path):
            if text is None:
                problems.append(f"{relative}:{line}: tr() needs a literal string (fill values with .format())")
                continue
            files = messages.setdefault(text, [])
            if relative not in files:
                files.append(relative)
    return messages, problems


def template_text(messages: dict[str, list[str]]) -> str:
    """Render a Qt Linguist template (every translation unfinished)."""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<!DOCTYPE TS>",
        '<TS version="2.1">',
        "<context>",
        f"    <name>{CONTEXT}</name>",
    ]
    for text in sorted(messages):
        lines.append("    <message>")
        for relative in messages[text]:
            lines.append(f'        <location filename="../{escape(relative)}"/>')
        lines.append(f"        <source>{escape(text)}</source>")
        lines.append('        <translation type="unfinished"></translation>')
        lines.append("    </message>")
    lines += ["</context>", "</TS>"]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Write the template; exit 1 if a ``tr()`` call has no literal string."""
    messages, problems = collect()
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    TEMPLATE.write_text(template_text(messages), encoding="utf-8")
    print(f"wrote {TEMPLATE} ({len(messages)} strings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
