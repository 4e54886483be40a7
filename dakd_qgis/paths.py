"""Where the plugin finds its resources, the engine and the privately installed dependencies.

Two layouts are supported:

* the installed plugin (the zip from ``make package``): ``<plugins>/dakd_qgis/`` holds the plugin
  code, ``resources/`` and a copy of the engine under ``lib/engine``;
* the source tree: ``<repo>/dakd_qgis`` beside ``<repo>/resources`` and ``<repo>/engine``.

Heavy dependencies (torch, rasterio...) live in a folder private to this plugin under the QGIS
profile, never in QGIS's own site-packages; see :mod:`dakd_qgis.deps`. The engine and those
packages are only ever imported by engine child processes (:mod:`dakd_qgis.detection` says why),
so nothing here changes QGIS's own ``sys.path``.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import tempfile
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent
#: Folder name used for the plugin's data under the QGIS profile and for its settings prefix.
PLUGIN_KEY = "dakd_oilspill"


def partial_beside(destination: Path) -> Path:
    """Return a new, empty file of our own beside ``destination``, to write into and then rename into place.

    A fixed name (``NAME.partial``) could be a file of the user's, which a failed copy would then delete;
    ``mkstemp`` makes a name nobody else holds. Beside the destination, so the rename stays on one disk.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{destination.stem}.", suffix=f".partial{destination.suffix}", dir=destination.parent
    )
    os.close(handle)
    return Path(name)


def resources_dir() -> Path:
    """Return the ``resources`` folder: inside the installed plugin, else beside it in the source tree."""
    inside = PLUGIN_DIR / "resources"
    return inside if inside.is_dir() else PLUGIN_DIR.parent / "resources"


def icon_path(name: str) -> str:
    """Path of an icon in ``resources/icons`` (``name`` without extension; SVG preferred)."""
    icons = resources_dir() / "icons"
    svg = icons / f"{name}.svg"
    return str(svg if svg.exists() else icons / f"{name}.png")


def style_path(name: str) -> Path:
    """Path of a QML style in ``resources/styles``."""
    return resources_dir() / "styles" / f"{name}.qml"


def metadata_value(key: str) -> str:
    """Return a ``[general]`` value of the plugin's ``metadata.txt`` ("" when it has none)."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    for candidate in (PLUGIN_DIR / "metadata.txt", PLUGIN_DIR.parent / "metadata.txt"):
        if candidate.is_file():
            parser.read(candidate, encoding="utf-8")
            break
    return parser.get("general", key, fallback="").strip()


#: Folder of the built documentation site inside the installed plugin (``make package`` copies ``build/site`` there).
HELP_SITE_FOLDER = "help"


def help_site_dir() -> Path | None:
    """Return the built documentation site: the installed plugin's copy, else a source tree's ``make docs`` output."""
    for site in (PLUGIN_DIR / HELP_SITE_FOLDER, PLUGIN_DIR.parent / "build" / "site"):
        if (site / "index.html").is_file():
            return site
    return None


def help_url(page: str, anchor: str = "") -> str:
    """Return the address of a page (and heading) of the plugin's documentation, for Help buttons and ``helpUrl``.

    Args:
        page: the page's path in ``docs/`` without its extension, e.g. ``"user-guide/qgis"``.
        anchor: a heading's anchor on that page, e.g. ``"detect-oil-spills-processing"``; empty for the top.

    Notes:
        The built site (HTML, works offline) when there is one; a source checkout without ``make docs`` gets the
        page's Markdown source instead, and a plugin without either the project's home page: never an error.
    """
    fragment = f"#{anchor}" if anchor else ""
    site = help_site_dir()
    if site is not None and (site / f"{page}.html").is_file():
        return (site / f"{page}.html").as_uri() + fragment
    source = PLUGIN_DIR.parent / "docs" / f"{page}.md"
    if source.is_file():
        return source.as_uri()
    return metadata_value("homepage") or metadata_value("repository")


def vendored_engine_dir() -> Path | None:
    """Return the folder holding the engine copy shipped inside the plugin zip, if this is an installed plugin."""
    lib = PLUGIN_DIR / "lib"
    return lib if (lib / "engine" / "__init__.py").exists() else None


def profile_data_dir() -> Path:
    """Return the plugin's folder in the active QGIS profile (``<profile>/dakd_oilspill``)."""
    from qgis.core import QgsApplication

    return Path(QgsApplication.qgisSettingsDirPath()) / PLUGIN_KEY


def deps_base_dir() -> Path:
    """Return the base of the private dependency install (pip's ``PYTHONUSERBASE``), one per Python minor version.

    Notes:
        Per Python version because compiled wheels (torch, rasterio) only fit the version they were
        built for; a QGIS upgrade that changes Python then asks for a fresh install instead of crashing.
    """
    return profile_data_dir() / f"python{sys.version_info.major}.{sys.version_info.minor}"


def deps_site_dir(base: Path | None = None) -> Path:
    """Return the site-packages folder pip fills when installing with ``--user`` and ``PYTHONUSERBASE=base``."""
    base = deps_base_dir() if base is None else base
    get_scheme = getattr(sysconfig, "get_preferred_scheme", None)
    scheme = get_scheme("user") if get_scheme is not None else f"{os.name}_user"
    return Path(sysconfig.get_path("purelib", scheme, vars={"userbase": str(base), "base": str(base)}))


def engine_root() -> Path | None:
    """Return the folder holding the ``engine`` package for engine subprocesses.

    The copy inside the plugin zip, else the source tree's; None when the engine is expected to be
    installed in the engine Python itself (``pip install dakd-oilspill``).
    """
    vendored = vendored_engine_dir()
    if vendored is not None:
        return vendored
    source_tree = PLUGIN_DIR.parent
    return source_tree if (source_tree / "engine" / "__init__.py").exists() else None


def engine_front_paths() -> list[str]:
    """Return the folders an engine child searches before its own site-packages: the engine, then ours."""
    return [str(p) for p in (engine_root(), deps_site_dir()) if p is not None and p.is_dir()]


def engine_subprocess_env(base_env: dict[str, str] | None = None) -> dict[str, str]:
    """Return the environment of a ``python -m engine`` child: the plugin's engine and private packages first.

    Notes:
        The private folder goes before the interpreter's own site-packages because it only holds what
        that Python lacked or had too old (e.g. attrs>=23 beside Debian's attrs 22); the constraints
        file keeps numpy and GDAL out of it (see :mod:`dakd_qgis.deps`).

        When the analyst chose a cache folder in Settings…, the engine caches (ONNX exports, compiled
        OpenVINO networks) into its ``engine`` folder, ``DAKD_CACHE_DIR``: see
        :meth:`dakd_qgis.settings.PluginSettings.engine_cache_dir`.
    """
    env = dict(os.environ if base_env is None else base_env)
    paths = engine_front_paths()
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    from .settings import stored_engine_cache_dir  # here: settings imports this module

    engine_cache = stored_engine_cache_dir()
    if engine_cache is not None:
        env["DAKD_CACHE_DIR"] = str(engine_cache)
    return env
