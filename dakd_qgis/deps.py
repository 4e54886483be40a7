"""Check the engine's Python requirements inside QGIS and install the missing ones privately.

The plan, and why:

* The requirements come from the engine's own list (``requirements.txt`` in the plugin zip,
  ``pyproject.toml`` in the source tree), so the plugin never drifts from what the engine needs.
* Missing or too-old packages are installed with ``pip install --user`` while ``PYTHONUSERBASE``
  points at a folder private to this plugin, one per Python version, the engine Python's
  (:func:`dakd_qgis.paths.private_install_dirs`). Unlike
  ``--target``, a user install sees what QGIS's Python already has, so it only adds what is missing.
* A constraints file pins the numpy and GDAL of the Python pip runs in (QGIS's own, or the engine
  Python's) to the versions it has, so pip can never upgrade or duplicate them; if a requirement cannot
  live with them, pip stops with a conflict instead of breaking QGIS.
* Nothing is ever written to QGIS's site-packages.

Notes:
    This module must import without torch, rasterio or the engine: it is what tells the user they
    are missing. The packages are only ever imported by engine child processes, so the checks look
    at what such a process would see (:func:`engine_search_path`), and the import test runs in one
    (``probe_engine.py``).
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .paths import (
    PINNED_PACKAGES,
    PLUGIN_DIR,
    PythonLayout,
    engine_front_paths,
    own_python_layout,
    private_install_dirs,
    python_layout,
    qgis_python,
)

#: Packages QGIS's Python bindings are compiled against; pinned to the installed version for pip.
QGIS_OWNED_PACKAGES = PINNED_PACKAGES
#: Distribution names whose import name differs from the normalised distribution name.
IMPORT_NAMES = {"pillow": "PIL", "attrs": "attr", "gdal": "osgeo", "pyyaml": "yaml", "scikit-image": "skimage"}
#: PyTorch's index of CPU-only wheels.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*)")
_CLAUSE = re.compile(r"^\s*(==|!=|>=|<=|~=|>|<)\s*([0-9][^\s,]*)\s*$")


@dataclass(frozen=True)
class Requirement:
    """One requirement line, e.g. ``numpy>=1.23,<2``, split into name and version clauses."""

    name: str
    clauses: tuple[tuple[str, str], ...]
    line: str

    @property
    def import_name(self) -> str:
        """The module to import to check that the package is there (``Pillow`` -> ``PIL``)."""
        key = self.name.lower()
        return IMPORT_NAMES.get(key, key.replace("-", "_"))

    def accepts(self, version: str) -> bool:
        """Whether ``version`` satisfies every clause (release numbers only; local tags ignored)."""
        for operator, wanted in self.clauses:
            have, want = _release(version), _release(wanted)
            width = max(len(have), len(want))
            have, want = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
            ok = {
                "==": have == want,
                "!=": have != want,
                ">=": have >= want,
                "<=": have <= want,
                ">": have > want,
                "<": have < want,
                "~=": have >= want and have[: len(want) - 1] == want[:-1],
            }[operator]
            if not ok:
                return False
        return True


def _release(version: str) -> tuple[int, ...]:
    match = re.match(r"\d+(\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else (0,)


def parse_requirement(line: str) -> Requirement:
    """Parse ``name[extras] spec ; marker``; raise ``ValueError`` naming the line if it is not one."""
    match = _REQUIREMENT.match(line)
    if match is None:
        raise ValueError(f"not a requirement: {line!r}")
    clauses = []
    for clause in filter(None, (part.strip() for part in match.group(3).split(","))):
        parsed = _CLAUSE.match(clause)
        if parsed is None:
            raise ValueError(f"unsupported version clause {clause!r} in requirement {line!r}")
        clauses.append((parsed.group(1), parsed.group(2)))
    return Requirement(match.group(1), tuple(clauses), line.strip())


#: What the installer offers (:func:`profile_requirements`): detection needs only a light runtime (tens of MB);
#: fine-tuning, and detection on a GPU, add torch (hundreds of MB to GBs).
INSTALL_PROFILES = {"detect": "Detection only", "train": "Detection and fine-tuning"}
#: Engine requirements only fine-tuning (and torch detection) needs.
TRAINING_ONLY = ("torch",)
#: Engine requirements detection runs without, so their absence never stops it: the coastline mask
#: (``--land-mask auto`` then goes on without one and says so), training curves, command-line progress bars.
#: ``tests/plugin/test_deps.py`` runs the engine's detection with them blocked.
NOT_NEEDED_TO_DETECT = ("roaring-landmask", "matplotlib", "tqdm")
#: The runtime a detection-only install gets when the engine's ``detect`` extra cannot be read.
DETECTION_RUNTIME = "openvino>=2024.0"


def extra_requirements(extra: str) -> list[Requirement]:
    """Return the engine's optional ``extra`` (``requirements-EXTRA.txt`` in the plugin zip, else pyproject)."""
    shipped = PLUGIN_DIR / f"requirements-{extra}.txt"
    if shipped.exists():
        lines = shipped.read_text(encoding="utf-8").splitlines()
    elif (PLUGIN_DIR.parent / "pyproject.toml").exists():
        import tomllib

        pyproject = tomllib.loads((PLUGIN_DIR.parent / "pyproject.toml").read_text(encoding="utf-8"))
        lines = pyproject["project"].get("optional-dependencies", {}).get(extra, [])
    else:
        lines = [DETECTION_RUNTIME] if extra == "detect" else []
    return [parse_requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def profile_requirements(profile: str) -> list[Requirement]:
    """Return what an install profile needs: ``detect`` (detection only) or ``train`` (and fine-tuning).

    ``detect`` is the engine without torch plus the detection runtime (OpenVINO, which runs the model's
    ONNX export); ``train`` is that plus torch.

    Raises:
        ValueError: an unknown profile.
    """
    if profile not in INSTALL_PROFILES:
        raise ValueError(f"unknown install profile {profile!r}; use one of: {', '.join(INSTALL_PROFILES)}")
    base = engine_requirements()
    runtime = extra_requirements("detect")
    if profile == "detect":
        base = [req for req in base if _normalise(req.name) not in TRAINING_ONLY]
    return base + [req for req in runtime if _normalise(req.name) not in {_normalise(r.name) for r in base}]


def engine_requirements() -> list[Requirement]:
    """Return the engine's requirements: the plugin's ``requirements.txt``, else the repo's ``pyproject.toml``."""
    shipped = PLUGIN_DIR / "requirements.txt"
    if shipped.exists():
        lines = shipped.read_text(encoding="utf-8").splitlines()
    else:
        import tomllib  # source tree only; Python >= 3.11 there

        pyproject = tomllib.loads((PLUGIN_DIR.parent / "pyproject.toml").read_text(encoding="utf-8"))
        lines = pyproject["project"]["dependencies"]
    return [parse_requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


@dataclass(frozen=True)
class RequirementStatus:
    """What QGIS's Python has for one requirement."""

    requirement: Requirement
    installed_version: str | None
    ok: bool
    problem: str

    def describe(self) -> str:
        """One table-cell text: ``ok``, ``missing`` or what is wrong."""
        return "ok" if self.ok else self.problem


def engine_search_path() -> list[str]:
    """Return where an engine child run with QGIS's own Python finds packages: the engine, ours, then ``sys.path``.

    QGIS's own: QGIS cannot look into another engine Python's packages (:func:`missing_package_names`).
    """
    front = engine_front_paths("")
    return front + [p for p in sys.path if p not in front]


def installed_versions(search_path: Sequence[str] | None = None) -> dict[str, str]:
    """Map each distribution name (normalised) to the version found first on ``search_path``.

    One scan of the metadata serves every requirement: the scan parses every installed package's
    metadata, which costs tens of milliseconds per pass at QGIS start.
    """
    versions: dict[str, str] = {}
    for distribution in importlib.metadata.distributions(path=list(search_path or engine_search_path())):
        versions.setdefault(_normalise(distribution.metadata["Name"] or ""), distribution.version)
    return versions


def check_requirement(
    requirement: Requirement, search_path: Sequence[str] | None = None, versions: dict[str, str] | None = None
) -> RequirementStatus:
    """Check from package metadata that a requirement is present and recent enough (milliseconds).

    This is what runs when QGIS starts. Whether the packages really import (a broken torch, a
    missing system library) is checked by Check dependencies…, in the engine Python itself (see
    :func:`status_from_probe`). ``versions`` is :func:`installed_versions` of the same path, when known.
    """
    path = list(search_path or engine_search_path())
    version = (versions if versions is not None else installed_versions(path)).get(_normalise(requirement.name))
    if importlib.machinery.PathFinder.find_spec(requirement.import_name, path) is None:
        return RequirementStatus(requirement, version, False, "missing")
    if version is not None and not requirement.accepts(version):
        return RequirementStatus(requirement, version, False, f"{version} installed, needs {requirement.line}")
    return RequirementStatus(requirement, version, True, "")


def check_requirements(requirements: Sequence[Requirement] | None = None) -> list[RequirementStatus]:
    """Check every engine requirement from metadata (see :func:`check_requirement`)."""
    path = engine_search_path()
    versions = installed_versions(path)
    return [check_requirement(req, path, versions) for req in (requirements or engine_requirements())]


def probe_arguments(python: str, requirements: Sequence[Requirement], device: str) -> list[str]:
    """Return the command that runs ``probe_engine.py`` with the engine Python for these requirements."""
    pairs = [f"{req.name}={req.import_name}" for req in requirements]
    return [python, str(PLUGIN_DIR / "probe_engine.py"), device, *pairs]


def status_from_probe(requirements: Sequence[Requirement], report: dict[str, Any]) -> list[RequirementStatus]:
    """Turn the JSON report of ``probe_engine.py`` into statuses, as the engine Python sees them."""
    found = {entry["name"]: entry for entry in report.get("packages", [])}
    statuses = []
    for requirement in requirements:
        entry = found.get(requirement.name, {})
        version, error = entry.get("version"), entry.get("error", "not checked")
        if error:
            problem = "missing" if error.startswith("ModuleNotFoundError") else f"fails to import: {error}"
            statuses.append(RequirementStatus(requirement, version, False, problem))
        elif version is not None and not requirement.accepts(version):
            statuses.append(
                RequirementStatus(requirement, version, False, f"{version} installed, needs {requirement.line}")
            )
        else:
            statuses.append(RequirementStatus(requirement, version, True, ""))
    return statuses


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def missing_requirements(statuses: Sequence[RequirementStatus]) -> list[Requirement]:
    """Return the requirements that need installing."""
    return [status.requirement for status in statuses if not status.ok]


def detection_only_installed(statuses: Sequence[RequirementStatus]) -> bool:
    """Tell whether the statuses of the ``train`` profile are those of a "Detection only" install.

    Every other package is usable and torch (:data:`TRAINING_ONLY`) is not: Check dependencies… then opens on
    "Detection only", where that install is complete, not on the torch it never asked for, shown as missing.
    """
    training = [status for status in statuses if _normalise(status.requirement.name) in TRAINING_ONLY]
    others = [status for status in statuses if status not in training]
    return bool(training) and not any(status.ok for status in training) and all(status.ok for status in others)


def missing_package_names(engine_python: str = "") -> list[str]:
    """Name the requirements detection needs that are missing or too old, from metadata (milliseconds).

    What detection checks before it starts (and QGIS at start-up), so the analyst hears "the Python packages
    affine, rasterio are missing" and gets the installer, not a traceback. Detection runs the model with any
    one runtime, torch or the ``detect`` extra's (OpenVINO): a "Detection only" install without torch, or an
    engine with torch but without OpenVINO, lacks nothing; with neither, both are named. Packages detection runs
    without (:data:`NOT_NEEDED_TO_DETECT`) are left to the dependency window. Empty when another
    engine Python is set in Settings (QGIS cannot see its packages; a failed import is then reported when the
    engine runs) or when the requirement list cannot be read.
    """
    if engine_python:
        return []
    try:
        requirements = profile_requirements("train")
        runtimes = {_normalise(name) for name in TRAINING_ONLY} | {
            _normalise(requirement.name) for requirement in extra_requirements("detect")
        }
        missing = [requirement.name for requirement in missing_requirements(check_requirements(requirements))]
    except (OSError, ValueError, KeyError):
        return []
    if runtimes - {_normalise(name) for name in missing}:  # one runtime is there: detection can run the model
        missing = [name for name in missing if _normalise(name) not in runtimes]
    return [name for name in missing if _normalise(name) not in NOT_NEEDED_TO_DETECT]


def constraints_text(python: str = "", layout: PythonLayout | None = None) -> str:
    """Return a pip constraints file pinning the numpy and GDAL of the Python pip runs in to the versions it has.

    Args:
        python: that Python: empty or QGIS's own (the versions QGIS has), else the engine Python set in Settings…,
            whose own versions are pinned, none where it has none. QGIS's were once pinned for any engine Python:
            pip failed where that version was not to be had for it, or put a second numpy in the private folder.
        layout: ``python``'s :func:`dakd_qgis.paths.python_layout`, when already asked.

    Raises:
        UnknownPythonVersion: another ``python`` cannot be run to ask it.
    """
    lines = ["# Written by the DAKD Oil Spill plugin: keep the Python's own numpy and GDAL as they are."]
    lines += [f"{name}=={version}" for name, version in _layout(python, layout).pinned]
    return "\n".join(lines) + "\n"


def externally_managed(python: str = "", layout: PythonLayout | None = None) -> bool:
    """Tell whether pip run in ``python`` (empty = QGIS's own) needs ``--break-system-packages`` (PEP 668).

    That is a distribution's Python marked "externally managed", not a venv. Judged by that interpreter
    (:func:`_layout`), as pip does: it was once judged from QGIS's Python, and pip in a Debian ``/usr/bin/python3``
    set as engine beside a QGIS in a venv refused to install anything.

    Raises:
        UnknownPythonVersion: another ``python`` cannot be run to ask it.
    """
    return _layout(python, layout).externally_managed


def _layout(python: str, layout: PythonLayout | None = None, refresh: bool = False) -> PythonLayout:
    """Return ``layout`` if given, else what ``python`` answers (:func:`dakd_qgis.paths.python_layout`).

    QGIS's own Python (``python`` empty or its interpreter) answers in-process: what QGIS itself has.

    Raises:
        UnknownPythonVersion: another ``python`` cannot be run to ask it.
    """
    if layout is not None:
        return layout
    if not python or python == qgis_python():
        return own_python_layout()
    asked = python_layout(python, refresh=refresh)
    if asked is None:
        raise UnknownPythonVersion(python)
    return asked


@dataclass(frozen=True)
class PipCommand:
    """A ready-to-run pip invocation: program, arguments and the environment variables to set."""

    program: str
    arguments: list[str]
    environment: dict[str, str]
    site_dir: Path


class UnknownPythonVersion(Exception):
    """The engine Python cannot be run to ask its version, so which private folder is its own is unknown."""

    def __init__(self, python: str) -> None:
        super().__init__(python)
        self.python = python


class UserSiteRefused(Exception):
    """The engine Python is a virtual environment without system site-packages: pip refuses ``--user`` there.

    pip says "Can not perform a '--user' install. User site-packages are not visible in this virtualenv."; the
    private folder cannot be filled for it, and its own packages are the analyst's to change.
    """

    def __init__(self, python: str) -> None:
        super().__init__(python)
        self.python = python


def pip_install_command(
    python: str,
    requirements: Sequence[Requirement],
    base_dir: Path | None = None,
    torch_index_url: str = "",
    extra_args: Sequence[str] = (),
) -> PipCommand:
    """Build the pip command that installs ``requirements`` into the plugin's private folder.

    Writes the constraints file into ``base_dir`` (created if needed). The arguments are a list,
    never a shell string.

    Args:
        python: interpreter to run pip with, QGIS's own or the engine Python set in Settings…, of any version: the
            private folder is the one of its version (:func:`dakd_qgis.paths.private_install_dirs`), the one its
            engine children search, so no compiled wheel ever lands where another Python version imports it.
        requirements: what to install (usually :func:`missing_requirements`).
        base_dir: the private ``PYTHONUSERBASE``; defaults to the one of ``python``'s version.
        torch_index_url: an extra package index for torch, e.g. :data:`TORCH_CPU_INDEX` for the much
            smaller CPU-only build (PyPI's Linux torch bundles CUDA: several GB).
        extra_args: more pip options (e.g. ``--no-index --find-links DIR`` for an offline wheel folder).

    Raises:
        OSError: the private folder or its constraints file cannot be written (a file where the folder should
            be, a read-only profile, a full disk); the caller says so in one line.
        UnknownPythonVersion: ``python`` cannot be run to ask its version; the caller says so in one line.
        UserSiteRefused: ``python`` is a venv without system site-packages, where pip refuses ``--user``; nothing
            is written, and the caller says so in one line.
    """
    # Asked again: what it has (the numpy to pin) may have changed since; one run answers every question below.
    layout = _layout(python, refresh=True)
    if layout.user_site_refused:
        raise UserSiteRefused(python)
    dirs = private_install_dirs(python)
    if dirs is None:
        raise UnknownPythonVersion(python)
    base, site = dirs
    if base_dir is not None:
        base, site = base_dir, base_dir / site.relative_to(base)
    base.mkdir(parents=True, exist_ok=True)
    constraints = base / "constraints.txt"
    constraints.write_text(constraints_text(python, layout), encoding="utf-8")
    arguments = [
        "-m",
        "pip",
        "install",
        "--user",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--only-binary",
        "numpy,torch,rasterio,fiona,shapely,pyproj,scipy",
        "-c",
        str(constraints),
    ]
    if externally_managed(python, layout):
        # The user site is redirected to our private folder, so the system packages stay untouched.
        arguments.append("--break-system-packages")
    if torch_index_url:
        arguments += ["--extra-index-url", torch_index_url]
    arguments += list(extra_args) + [req.line for req in requirements]
    environment = {"PYTHONUSERBASE": str(base)}
    return PipCommand(python, arguments, environment, site)
