"""Build the installable plugin zip (``make package``): one top-level ``dakd_qgis/`` folder.

The zip holds the plugin code, ``metadata.txt``, ``LICENSE``, the icons, QML styles and model
cards from ``resources/``, a ``requirements.txt`` generated from the engine's ``pyproject.toml``
(what Check dependencies… installs), a copy of the engine under ``lib/engine`` so the plugin
works without installing the engine separately, and the documentation site built by ``make docs`` under
``help/`` (what the Help buttons open, offline).

``--onnx-dir DIR`` adds each bundled card's ONNX export (``DIR/NAME.onnx`` for ``resources/models/NAME.json``) next
to its card, where ``engine.runtimes.find_onnx`` looks first: a "Detection only" install (OpenVINO, no torch)
cannot export one itself. ``make package`` exports them with ``dakd model export`` first; a bundled card without
an export in ``DIR`` is refused. Whether an export matches its card's weights is not checked here (that needs the
``onnx`` package); ``tests/plugin/test_package_plugin.py`` runs a packaged export without torch.

The version has one source, ``engine.__version__``: the zip's ``metadata.txt`` gets its ``version=`` from it.
The checked-in ``metadata.txt`` (QGIS reads it when the plugin runs from a source checkout) must say the same;
``tests/plugin/test_package_plugin.py`` checks that.

Run from the repository root::

    python3 dakd_qgis/package_plugin.py --out dist [--site build/site] [--onnx-dir build/package-onnx]

Notes:
    Standard library only, so packaging needs no virtual environment. This file is not shipped.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import tomllib

PLUGIN_NAME = "dakd_qgis"
#: Resource folders shipped in the zip (``sample`` scenes and anything else stay out).
RESOURCE_FOLDERS = ("icons", "styles", "models")
_SKIPPED_NAMES = {
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    Path(__file__).name,
    "make_styles.py",
    "make_template.py",
}


def _ignore(folder: str, names: list[str]) -> list[str]:
    # .aux.xml: statistics GDAL or QGIS wrote beside a raster someone opened (the sample scene), not ours to ship
    return [name for name in names if name in _SKIPPED_NAMES or name.endswith((".pyc", ".pyo", ".aux.xml"))]


def metadata_version(metadata: str) -> str:
    """Return the ``version=`` of a metadata.txt text."""
    match = re.search(r"^version\s*=\s*(\S+)", metadata, flags=re.MULTILINE)
    if match is None:
        raise ValueError("metadata.txt has no version= line")
    return match.group(1)


def engine_version(repo: Path) -> str:
    """Return the engine's ``__version__``, read from its source (the docs' hook uses it too)."""
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', (repo / "engine" / "__init__.py").read_text(), re.MULTILINE)
    if match is None:
        raise ValueError("engine/__init__.py has no __version__")
    return match.group(1)


def versioned_metadata(repo: Path) -> str:
    """Return the repository's ``metadata.txt`` text with ``version=`` set to the engine's ``__version__``."""
    metadata = (repo / "metadata.txt").read_text(encoding="utf-8")
    metadata_version(metadata)  # refuses a metadata.txt without a version= line
    return re.sub(r"^version\s*=.*$", f"version={engine_version(repo)}", metadata, count=1, flags=re.MULTILINE)


def bundled_onnx_exports(repo: Path, onnx_dir: Path) -> list[Path]:
    """Return ``onnx_dir/NAME.onnx`` for every bundled card ``resources/models/NAME.json`` (other files are ignored).

    Raises:
        SystemExit: ``onnx_dir`` is not a folder, or holds no export of a bundled card (one line: the file and the fix).
    """
    if not onnx_dir.is_dir():
        raise SystemExit(
            f"--onnx-dir {onnx_dir} is not a folder: export the bundled models into it first (make package does)"
        )
    exports = []
    for card in sorted((repo / "resources" / "models").glob("*.json")):
        export = onnx_dir / f"{card.stem}.onnx"
        if not export.is_file():
            raise SystemExit(
                f"{export} is missing: the bundled model {card.relative_to(repo).as_posix()} needs its ONNX export for "
                f"a detection-only install; run 'python -m engine model export {card.relative_to(repo).as_posix()} "
                f"--onnx --out {export} --overwrite' where torch is installed (make package does)"
            )
        exports.append(export)
    return exports


def build_plugin_dir(
    repo: Path,
    dest_parent: Path,
    vendor_engine: bool = True,
    site: Path | None = None,
    onnx_dir: Path | None = None,
) -> Path:
    """Assemble the plugin folder ``dest_parent/dakd_qgis`` as it is installed; return its path.

    Args:
        repo: the repository root.
        dest_parent: a folder to create the plugin folder in (an existing plugin folder is replaced).
        vendor_engine: copy the engine to ``lib/engine``; tests that already have the engine
            importable build without it so only one copy of the engine is ever loaded.
        site: the built documentation site (``make docs``: ``build/site``), copied to ``help/``; None ships none
            (the Help buttons then fall back to the project's home page).
        onnx_dir: a folder of ONNX exports, ``NAME.onnx`` for each bundled card ``resources/models/NAME.json``,
            copied next to their cards (:func:`bundled_onnx_exports`); None ships none.

    Raises:
        SystemExit: ``site`` holds no built site, or ``onnx_dir`` lacks a bundled card's export (checked first).
    """
    exports = bundled_onnx_exports(repo, onnx_dir) if onnx_dir is not None else []
    target = dest_parent / PLUGIN_NAME
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(repo / PLUGIN_NAME, target, ignore=_ignore)
    (target / "metadata.txt").write_text(versioned_metadata(repo), encoding="utf-8")
    shutil.copy2(repo / "LICENSE", target / "LICENSE")
    for folder in RESOURCE_FOLDERS:
        source = repo / "resources" / folder
        if source.is_dir():
            shutil.copytree(source, target / "resources" / folder, ignore=_ignore)
    for export in exports:
        shutil.copy2(export, target / "resources" / "models" / export.name)
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (target / "requirements.txt").write_text("\n".join(project["dependencies"]) + "\n", encoding="utf-8")
    detect = project.get("optional-dependencies", {}).get("detect", [])  # the installer's "Detection only"
    (target / "requirements-detect.txt").write_text("\n".join(detect) + "\n", encoding="utf-8")
    if vendor_engine:
        shutil.copytree(repo / "engine", target / "lib" / "engine", ignore=_ignore)
    if site is not None:
        if not (site / "index.html").is_file():
            raise SystemExit(f"{site} holds no built documentation site: run 'make docs' first (make package does)")
        shutil.copytree(site, target / "help", ignore=_ignore)
    return target


def build_zip(repo: Path, out_dir: Path, site: Path | None = None, onnx_dir: Path | None = None) -> Path:
    """Build ``out_dir/dakd_qgis-<version>.zip``: one top-level folder, ``site`` as its ``help/``; return its path.

    ``onnx_dir``: the bundled cards' ONNX exports (:func:`build_plugin_dir`). A refusal leaves no zip behind.
    """
    if onnx_dir is not None:
        bundled_onnx_exports(repo, onnx_dir)  # refused before anything is made, the output folder included
    out_dir.mkdir(parents=True, exist_ok=True)
    # Our own new names for the staging folder and the half-written zip: a fixed name could hold someone's files.
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        plugin_dir = build_plugin_dir(repo, staging, site=site, onnx_dir=onnx_dir)
        version = metadata_version((plugin_dir / "metadata.txt").read_text(encoding="utf-8"))
        archive = out_dir / f"{PLUGIN_NAME}-{version}.zip"
        partial = staging / "archive.zip"
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for path in sorted(plugin_dir.rglob("*")):
                if path.is_file():
                    bundle.write(path, path.relative_to(staging).as_posix())
        os.chmod(partial, 0o644)
        partial.replace(archive)
    finally:
        shutil.rmtree(staging)
    return archive


def main(argv: list[str] | None = None) -> int:
    """Command line: ``package_plugin.py [--out DIR] [--site SITE] [--onnx-dir DIR]``."""
    parser = argparse.ArgumentParser(description="Build the DAKD Oil Spill QGIS plugin zip.")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output folder (default: dist)")
    parser.add_argument(
        "--site",
        type=Path,
        default=Path("build/site"),
        help="the documentation site built by make docs (default: build/site)",
    )
    parser.add_argument(
        "--onnx-dir",
        type=Path,
        default=None,
        help="a folder holding NAME.onnx, the ONNX export of each bundled card resources/models/NAME.json, shipped "
        "next to it so a detection-only install (no torch) runs it (make package exports them; default: none)",
    )
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parents[1]
    archive = build_zip(repo, args.out.resolve(), site=args.site.resolve(), onnx_dir=args.onnx_dir)
    print(f"plugin zip: {archive} ({archive.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
