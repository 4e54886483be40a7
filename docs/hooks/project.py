"""MkDocs hook: the pictures and the version come from the repository, so the site copies nothing by hand.

* The pictures live once, in ``resources/readme/`` (the README shows them on the project page); the site
  serves them as ``images/<name>``.
* The version is ``engine.__version__`` (the one source; see Development), shown as ``site_name``'s suffix
  and available to pages as ``config.extra.version``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "resources" / "readme"


def engine_version() -> str:
    """Return ``engine.__version__`` as the plugin packager reads it (one reader; importing the engine needs numpy)."""
    spec = importlib.util.spec_from_file_location("dakd_package_plugin", REPO / "dakd_qgis" / "package_plugin.py")
    packager = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(packager)
    return packager.engine_version(REPO)


def on_config(config, **kwargs):
    """Put the engine's version into the site's name and ``extra``."""
    version = engine_version()
    config["extra"]["version"] = version
    config["site_name"] = f"{config['site_name']} {version}"
    return config


def on_files(files: Files, config, **kwargs) -> Files:
    """Serve every picture of ``resources/readme`` as ``images/<name>``."""
    for picture in sorted(IMAGES.glob("*.png")):
        files.append(File.generated(config, f"images/{picture.name}", abs_src_path=str(picture)))
    return files
