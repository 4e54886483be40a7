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

import inspect
import json
import os
import re
import shutil
import subprocess  # nosec B404
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import NamedTuple

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


def deps_base_dir(version: str = "") -> Path:
    """Return the base of the private dependency install (pip's ``PYTHONUSERBASE``), one per Python minor version.

    Args:
        version: ``major.minor`` of the Python that installs into it and runs from it; empty = QGIS's own.

    Notes:
        Per Python version because compiled wheels (torch, rasterio) only fit the version they were
        built for; a QGIS upgrade that changes Python then asks for a fresh install instead of crashing,
        and an engine Python of another version (Settings…) gets a folder of its own
        (:func:`private_install_dirs`).
    """
    return profile_data_dir() / f"python{version or _own_version()}"


def deps_site_dir(base: Path | None = None) -> Path:
    """Return the site-packages folder QGIS's Python's pip fills with ``--user`` and ``PYTHONUSERBASE=base``."""
    base = deps_base_dir() if base is None else base
    return base / _interpreter_facts(())["user_site"]  # the one rule, as another interpreter is asked it


def _own_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


#: Packages QGIS's Python bindings are compiled against: pip keeps the engine Python's own as they are
#: (:func:`dakd_qgis.deps.constraints_text`).
PINNED_PACKAGES = ("numpy", "GDAL")


def _interpreter_facts(pinned_names: tuple[str, ...]) -> dict:
    """Return what ``pip install --user`` in the running interpreter needs to know, as pip itself decides it.

    Its ``version`` (``major.minor``); ``user_site``, where ``--user`` puts packages, relative to
    ``PYTHONUSERBASE``; ``externally_managed`` (PEP 668: pip needs ``--break-system-packages``, never in a venv);
    ``user_site_refused`` (a venv without system site-packages: pip refuses ``--user``); ``pinned``, its versions
    of ``pinned_names``. Self-contained, standard library only: QGIS's Python runs it in-process, any other
    interpreter as :data:`_LAYOUT_QUERY`.
    """
    import importlib.metadata
    import os
    import re
    import site
    import sys
    import sysconfig

    base = os.path.abspath("dakd-userbase")
    get_scheme = getattr(sysconfig, "get_preferred_scheme", None)
    scheme = get_scheme("user") if get_scheme else os.name + "_user"
    user_site = sysconfig.get_path("purelib", scheme, vars={"userbase": base, "base": base})
    venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    legacy = hasattr(sys, "real_prefix")  # virtualenv before version 20
    if venv:
        try:
            with open(os.path.join(sys.prefix, "pyvenv.cfg"), encoding="utf-8") as cfg:
                found = [re.match(r"include-system-site-packages\s*=\s*(true|false)", line) for line in cfg]
            refused = any(match is not None and match.group(1) == "false" for match in found)
        except OSError:
            refused = True
    else:
        site_dir = os.path.dirname(os.path.abspath(site.__file__))
        refused = legacy and os.path.isfile(os.path.join(site_dir, "no-global-site-packages.txt"))
    stdlib = sysconfig.get_path("stdlib")
    managed = not (venv or legacy) and os.path.isfile(os.path.join(stdlib, "EXTERNALLY-MANAGED"))
    pinned = {}
    for name in pinned_names:
        try:
            version = importlib.metadata.version(name)
        except Exception:  # not there, or unreadable metadata: nothing to pin
            version = None
        if version:
            pinned[name] = version
    return {
        "version": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "user_site": os.path.relpath(user_site, base),
        "externally_managed": managed,
        "user_site_refused": refused,
        "pinned": pinned,
    }


#: Asks an interpreter :func:`_interpreter_facts` (``-I``: nothing from the environment; ``-S``, then
#: ``site.main()``: its site packages as pip sees them, its venv's included). Three lines: the version, the user
#: site, then the rest as JSON. Made when this module is imported, from the source of the function just defined.
_LAYOUT_QUERY = (
    "import json, site\nsite.main()\n"
    + textwrap.dedent(inspect.getsource(_interpreter_facts))
    + f"facts = _interpreter_facts({PINNED_PACKAGES!r})\n"
    + "print(facts.pop('version'))\nprint(facts.pop('user_site'))\nprint(json.dumps(facts))\n"
)
#: Seconds an interpreter may take to answer :data:`_LAYOUT_QUERY` (a cold start on a slow disk).
LAYOUT_TIMEOUT_S = 30


class PythonLayout(NamedTuple):
    """What ``pip install --user`` in an interpreter needs to know (:func:`_interpreter_facts`).

    A named tuple, not a dataclass: this module is also loaded on its own from another plugin folder (the help
    tests load a packaged plugin's copy), where a dataclass cannot resolve its string annotations.
    """

    #: ``major.minor``.
    version: str
    #: Where ``pip install --user`` puts packages, relative to ``PYTHONUSERBASE``.
    user_site: str
    #: A distribution's Python marked "externally managed" (PEP 668): pip needs ``--break-system-packages``.
    externally_managed: bool
    #: A virtual environment without system site-packages: pip refuses ``--user`` there.
    user_site_refused: bool
    #: Its own versions of :data:`PINNED_PACKAGES`, of those it has.
    pinned: tuple[tuple[str, str], ...]


_layouts: dict[tuple[str, int, int], PythonLayout] = {}


def python_layout(python: str, refresh: bool = False) -> PythonLayout | None:
    """Ask the interpreter ``python`` its version, user site-packages layout and what pip decides from (one run).

    The answer is remembered per interpreter file (its path, size and modification time: a venv rebuilt on another
    Python is asked again); ``refresh`` asks again anyway (its packages may have changed since: before an install).
    None when it cannot be run or gives no such answer (a failure is not remembered).
    """
    program = shutil.which(python) or python
    try:
        stat = os.stat(program)
    except OSError:
        return None
    key = (os.path.abspath(program), stat.st_mtime_ns, stat.st_size)
    if key in _layouts and not refresh:
        return _layouts[key]
    try:
        # An argument list: no shell, nothing parsed.
        finished = subprocess.run(  # nosec B603
            [program, "-I", "-S", "-c", _LAYOUT_QUERY],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=LAYOUT_TIMEOUT_S,
            **_no_console(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = finished.stdout.strip().splitlines()[-3:]  # after anything a .pth file printed
    if finished.returncode != 0 or len(lines) != 3:
        return None
    try:
        layout = _layout_of({**json.loads(lines[2]), "version": lines[0], "user_site": lines[1]})
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    _layouts[key] = layout
    return layout


def own_python_layout() -> PythonLayout:
    """Return :func:`python_layout` of QGIS's own Python, answered in QGIS's Python itself (no process).

    Asked anew each time (no more than reading a few metadata files): its packages may have changed since.
    """
    return _layout_of(_interpreter_facts(PINNED_PACKAGES))


def _layout_of(facts: dict) -> PythonLayout:
    """Check :func:`_interpreter_facts` and make them a layout; ``ValueError`` (and the like) when malformed."""
    relative = Path(facts["user_site"])
    if not re.fullmatch(r"\d+\.\d+", facts["version"]) or relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"not an answer to the layout query: {facts!r}")
    pinned = tuple((str(name), str(version)) for name, version in facts["pinned"].items() if version)
    return PythonLayout(
        facts["version"], str(relative), bool(facts["externally_managed"]), bool(facts["user_site_refused"]), pinned
    )


def _no_console() -> dict:
    """Keep a console window from flashing up when QGIS on Windows runs a console program."""
    flag = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    return {"creationflags": flag} if flag else {}


def private_install_dirs(python: str = "") -> tuple[Path, Path] | None:
    """Return ``(PYTHONUSERBASE, site-packages)`` of the private install for the engine Python ``python``.

    Named after the version of the Python that installs into it and imports from it: QGIS's own (``python`` empty
    or QGIS's interpreter, known without asking), else the version the interpreter itself reports
    (:func:`python_layout`). A 3.12 engine beside QGIS's 3.11 once installed into QGIS's ``python3.11`` folder, and
    every engine child, whatever its version, had that folder's compiled wheels on its path. None when
    ``python`` cannot be asked (it cannot run an engine either).
    """
    if not python or python == qgis_python():
        base = deps_base_dir()
        return base, deps_site_dir(base)
    layout = python_layout(python)
    if layout is None:
        return None
    base = deps_base_dir(layout.version)
    return base, base / layout.user_site


def qgis_python() -> str:
    """Return QGIS's own interpreter as a runnable program (:func:`dakd_qgis.settings.default_python`)."""
    from .settings import default_python  # here: settings imports this module

    return default_python()


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


def engine_front_paths(python: str | None = None) -> list[str]:
    """Return the folders an engine child searches before its own site-packages: the engine, then ours.

    Args:
        python: the interpreter the child runs ("" = QGIS's own; None = the engine Python stored in Settings…):
            the private folder is the one of its Python version (:func:`private_install_dirs`), never another's.
    """
    from .settings import stored_engine_python  # here: settings imports this module

    dirs = private_install_dirs(stored_engine_python() if python is None else python)
    site = dirs[1] if dirs is not None else None
    return [str(p) for p in (engine_root(), site) if p is not None and p.is_dir()]


def engine_subprocess_env(base_env: dict[str, str] | None = None, python: str | None = None) -> dict[str, str]:
    """Return the environment of a ``python -m engine`` child: the plugin's engine and private packages first.

    ``python`` is the interpreter the child runs (see :func:`engine_front_paths`); None = the one set in Settings….

    Notes:
        The private folder goes before the interpreter's own site-packages because it only holds what
        that Python lacked or had too old (e.g. attrs>=23 beside Debian's attrs 22); the constraints
        file keeps numpy and GDAL out of it (see :mod:`dakd_qgis.deps`).

        When the analyst chose a cache folder in Settings…, the engine caches (ONNX exports, compiled
        OpenVINO networks) into its ``engine`` folder, ``DAKD_CACHE_DIR``: see
        :meth:`dakd_qgis.settings.PluginSettings.engine_cache_dir`.
    """
    env = dict(os.environ if base_env is None else base_env)
    paths = engine_front_paths(python)
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
