"""The engine's contract as the plugin reads it: the choices, class names, label rules, defaults and events.

The plugin keeps no copy of the engine's constants: it reads ``engine/contract.py`` (``engine.contract``,
standard library only) from the engine it runs, once per engine:

* the engine copy the plugin ships (or the source tree's), run with QGIS's own Python: the file is
  loaded as a plain module under a private name, so neither the engine package nor its dependencies
  enter QGIS's process (:mod:`dakd_qgis.detection` says why they must not);
* another engine Python (Settings…): ``python -m engine describe --json`` in a child process, an
  argument list with the plugin's engine environment.

An engine whose contract has another schema version than the one this plugin's code reads is not
guessed at: :attr:`EngineContract.problem` says so in one line, which the plugin shows in the message
bar and as the error of a run; the choices then come from the plugin's own engine copy when it has one.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess  # nosec B404
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import engine_root, engine_subprocess_env
from .translation import tr

#: The contract schema version this plugin's code reads (``engine.contract.SCHEMA_VERSION`` when written).
READ_SCHEMA_VERSION = 1
#: How long ``dakd describe`` may take before the plugin gives up on it (it imports no torch: about a second).
DESCRIBE_TIMEOUT_S = 60.0


class ContractError(RuntimeError):
    """The engine's contract cannot be read; the message is one line for the user."""


@dataclass(frozen=True)
class EngineContract:
    """The contract of one engine (``engine.contract.describe()``), and what is wrong with it, if anything.

    Attributes:
        data: the described contract (the plugin's own engine copy's when the engine's is unusable).
        problem: one line when the engine's contract could not be read or has another schema version ("" if fine).
        blocking: the problem is a schema mismatch, so runs must not start (a read failure is not: the run
            then reports its own cause, such as missing packages).
    """

    data: dict[str, Any] = field(default_factory=dict)
    problem: str = ""
    blocking: bool = False

    def values(self, *keys: str) -> tuple[Any, ...]:
        """Return the list at ``data[keys[0]][keys[1]]...`` as a tuple (empty when the contract lacks it)."""
        value = self.value(*keys)
        return tuple(value) if isinstance(value, (list, tuple)) else ()

    def value(self, *keys: str) -> Any:
        """Return the value at ``data[keys[0]][keys[1]]...`` (None when the contract lacks it)."""
        value: Any = self.data
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    @property
    def devices(self) -> tuple[str, ...]:
        """``--device`` choices, ``auto`` first."""
        return self.values("devices")

    @property
    def precisions(self) -> tuple[str, ...]:
        """``dakd detect --precision`` choices, ``auto`` first (empty for an engine without the option)."""
        return self.values("precisions")

    @property
    def methods(self) -> tuple[str, ...]:
        """``dakd detect --method`` choices."""
        return self.values("methods")

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names in id order."""
        return tuple(str(entry.get("name")) for entry in self.values("classes") if isinstance(entry, dict))

    @property
    def threshold_classes(self) -> tuple[str, ...]:
        """Classes of the threshold detector: the bands of a threshold run's probability raster.

        An engine older than this entry does not publish it: then every class (:attr:`class_names`), the most
        bands a run writes.
        """
        return self.values("threshold_classes") or self.class_names

    @property
    def default_detector_classes(self) -> tuple[str, ...]:
        """Classes of the detector ``--method auto`` runs without ``--model``: the bands of its probability raster.

        The engine's default card's, or the threshold detector's where it has none it can read. An engine older
        than this entry does not publish it: then every class (:attr:`class_names`), the most bands a run writes.
        """
        return self.values("default_detector_classes") or self.class_names

    @property
    def model_card_format(self) -> str:
        """The ``"format"`` every model card holds ("" from an engine older than this entry)."""
        value = self.value("model_card_format")
        return value if isinstance(value, str) else ""

    @property
    def presets(self) -> tuple[str, ...]:
        """``dakd finetune --preset`` names, in the order the windows list them."""
        return self.values("presets", "names")


def bundled_contract() -> dict[str, Any] | None:
    """Return the contract of the plugin's own engine copy (None when the plugin has none).

    Loaded from its file under a private module name: ``engine/contract.py`` imports only the standard
    library, and ``engine`` itself is never imported into QGIS's process.
    """
    root = engine_root()
    path = None if root is None else root / "engine" / "contract.py"
    if path is None or not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("dakd_qgis._bundled_engine_contract", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.describe())


def described_contract(python: str) -> dict[str, Any]:
    """Run ``python -m engine describe --json`` and return the contract it prints.

    Raises:
        ContractError: the engine did not start, failed, or printed no contract (one line naming ``python``).
    """
    arguments = [python, "-m", "engine", "describe", "--json"]  # an argument list: no shell, nothing parsed
    try:
        finished = subprocess.run(
            arguments,
            capture_output=True,
            text=True,
            encoding="utf-8",  # nosec B603
            errors="replace",
            env=engine_subprocess_env(python=python),
            timeout=DESCRIBE_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ContractError(
            tr("cannot ask the engine at {python} for its contract ({reason})").format(
                python=python, reason=getattr(error, "strerror", None) or error
            )
        ) from error
    last_error = next((line for line in reversed(finished.stderr.splitlines()) if line.strip()), "")
    if finished.returncode != 0:
        raise ContractError(
            tr("the engine at {python} cannot describe itself ({reason})").format(
                python=python, reason=last_error or tr("exit code {code}").format(code=finished.returncode)
            )
        )
    try:
        data = json.loads(finished.stdout)
    except ValueError as error:
        raise ContractError(tr("the engine at {python} printed no readable contract").format(python=python)) from error
    if not isinstance(data, dict):
        raise ContractError(tr("the engine at {python} printed no readable contract").format(python=python))
    return data


@functools.lru_cache(maxsize=8)
def _contract_of(python: str, root: Path | None) -> EngineContract:
    """Return the contract of one engine (the key includes the engine copy, so a moved plugin reads it again)."""
    bundled = bundled_contract()
    if not python and bundled is not None:
        return _checked(bundled, bundled, tr("the plugin's engine"))
    try:
        data = described_contract(python or _qgis_python())
    except ContractError as error:
        return EngineContract(bundled or {}, str(error), blocking=False)
    return _checked(data, bundled, python)


def _checked(data: dict[str, Any], fallback: dict[str, Any] | None, engine: str) -> EngineContract:
    """Accept ``data`` when this plugin reads its schema version; else say so and use ``fallback``."""
    version = data.get("schema_version")
    if version == READ_SCHEMA_VERSION:
        return EngineContract(data)
    problem = tr(
        "the engine ({engine}) speaks contract schema version {theirs}, this plugin reads version {ours}: "
        "install the plugin version that matches the engine, or choose another engine Python in "
        "DAKD Oil Spill ▸ Engine ▸ Settings…"
    ).format(engine=engine, theirs=version, ours=READ_SCHEMA_VERSION)
    usable = fallback if fallback is not None and fallback.get("schema_version") == READ_SCHEMA_VERSION else data
    return EngineContract(usable, problem, blocking=True)


def _qgis_python() -> str:
    from .settings import default_python

    return default_python()


def engine_contract(engine_python: str = "") -> EngineContract:
    """Return the contract of the engine run with ``engine_python`` ("" = QGIS's own Python), read once.

    Args:
        engine_python: the Settings value (``PluginSettings.engine_python``) or the interpreter a run uses:
            "" or QGIS's own Python reads the plugin's own engine copy from its file; another interpreter
            runs ``dakd describe --json``.
    """
    if engine_python and engine_python == _qgis_python():
        engine_python = ""
    return _contract_of(engine_python, engine_root())


def forget_contracts() -> None:
    """Read every engine's contract again on next use (after the engine Python or the engine changed)."""
    _contract_of.cache_clear()


def current_contract() -> EngineContract:
    """Return the contract of the engine the plugin runs now (the engine Python of Settings…)."""
    from .settings import PluginSettings

    return engine_contract(PluginSettings.load().engine_python)
