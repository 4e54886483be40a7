"""The plugin's user settings, kept in ``QgsSettings`` under ``dakd_oilspill/``.

One dataclass with ``load``/``save`` so dialogs, the context action and the Processing
algorithm read the same values, and tests can build one without Qt widgets.

Read them with :meth:`PluginSettings.load` when they are used, not once when a window is made: a
fine-tune lasts hours, and Settings… may change the engine Python, the device or the cache folder
meanwhile. :meth:`PluginSettings.save` writes only the fields changed since ``load``, and
:meth:`PluginSettings.set_default_model` only that key, so a copy read earlier never puts back what
another window saved since.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

from qgis.core import QgsSettings

from .contract import engine_contract
from .deps import INSTALL_PROFILES
from .layer_sources import InputProblem
from .paths import PLUGIN_KEY, profile_data_dir
from .translation import tr

#: The engine's own cache folder (``DAKD_CACHE_DIR``) inside the cache folder: :meth:`PluginSettings.engine_cache_dir`.
ENGINE_CACHE_FOLDER = "engine"


@dataclass
class PluginSettings:
    """What the analyst set in Settings… (empty strings mean "automatic").

    Attributes:
        device: one of the engine's devices (:meth:`devices`): ``auto`` picks a GPU if torch sees one, else the CPU.
        precision: one of the engine's detection precisions (:meth:`precisions`): ``auto`` is the engine's choice
            for the device; ``bf16`` is faster on processors with bf16 units, and its classes differ from fp32's on
            a few pixels, so it is asked for, not chosen by ``auto`` on a CPU.
        default_model: model card (.json) used when none is chosen; empty = the bundled model if
            present, else the threshold detector.
        engine_python: Python interpreter that runs ``dakd finetune`` and pip; empty = QGIS's own.
        cache_folder: where detection runs and registered models are kept; empty = the QGIS profile.
        install_profile: what Check dependencies… last installed (:data:`dakd_qgis.deps.INSTALL_PROFILES`), so the
            window opens on it; empty = nothing yet.
    """

    device: str = "auto"
    precision: str = "auto"
    default_model: str = ""
    engine_python: str = ""
    cache_folder: str = ""
    install_profile: str = ""
    #: The values as :meth:`load` read them (None: made in code), so :meth:`save` writes only what changed.
    _loaded: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def _names(cls) -> list[str]:
        return [item.name for item in fields(cls) if item.init]

    @classmethod
    def load(cls) -> PluginSettings:
        """Read the settings; unknown or invalid values fall back to the defaults."""
        store = QgsSettings()
        values = {}
        for item in fields(cls):
            if item.init:
                value = store.value(f"{PLUGIN_KEY}/{item.name}", item.default, type=str)
                values[item.name] = value if isinstance(value, str) else item.default
        settings = cls(**values)
        if settings.device not in settings.devices():
            settings.device = cls.device
        if settings.precision not in settings.precisions():
            settings.precision = cls.precision
        if settings.install_profile not in INSTALL_PROFILES:
            settings.install_profile = cls.install_profile
        settings._loaded = settings._values()
        return settings

    def _values(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self._names()}

    def devices(self) -> tuple[str, ...]:
        """Return the ``--device`` choices of the engine these settings run, ``auto`` first (from its contract)."""
        return engine_contract(self.engine_python).devices

    def precisions(self) -> tuple[str, ...]:
        """Return the ``dakd detect --precision`` choices of the engine these settings run (``auto`` alone if none)."""
        return engine_contract(self.engine_python).precisions or ("auto",)

    def save(self) -> None:
        """Write the fields changed since :meth:`load` (every field of settings made in code).

        A field this copy did not change keeps what is stored, even when another window saved it after
        this copy was read.
        """
        store = QgsSettings()
        for name, value in self._values().items():
            if self._loaded is None or self._loaded.get(name) != value:
                store.setValue(f"{PLUGIN_KEY}/{name}", value)
        self._loaded = self._values()

    def set_default_model(self, card: str) -> None:
        """Make ``card`` the default model for detection ("" = the bundled one), writing only that key."""
        self._set_one("default_model", str(card))

    def set_install_profile(self, profile: str) -> None:
        """Remember what Check dependencies… installed (``detect`` or ``train``), writing only that key."""
        self._set_one("install_profile", profile)

    def _set_one(self, name: str, value: str) -> None:
        """Set and store one field alone: the others keep what is stored, whatever another window saved."""
        setattr(self, name, value)
        QgsSettings().setValue(f"{PLUGIN_KEY}/{name}", value)
        if self._loaded is not None:
            self._loaded[name] = value

    def cache_dir(self, create: bool = True) -> Path:
        """Return the cache folder, created if needed (``create``).

        Raises:
            InputProblem: it cannot be created (a drive that is gone, no permission); the message says to choose
                another in Settings…, which opens without it.
        """
        folder = Path(self.cache_folder).expanduser() if self.cache_folder else profile_data_dir()
        return _made(folder) if create else folder

    def models_dir(self, create: bool = True) -> Path:
        """Folder of registered model cards (fine-tuned and imported); listing them needs no ``create``."""
        folder = self.cache_dir(create=False) / "models"
        return _made(folder) if create else folder

    def engine_cache_dir(self) -> Path | None:
        """Return the folder the engine caches into (``DAKD_CACHE_DIR``: ONNX exports, compiled OpenVINO networks).

        ``<cache folder>/engine`` when a cache folder is chosen, made if needed: apart from the plugin's own
        ``models``, ``runs`` and ``training`` folders, and on the disk the analyst moved the cache to. None, for
        the engine's own default (``~/.cache/dakd``, or the ``DAKD_CACHE_DIR`` QGIS was started with), when none
        is chosen (the QGIS profile is no place for model exports) or that folder cannot be made or written (a
        drive that is gone: a cache only saves time, detection goes on without it).
        """
        if not self.cache_folder.strip():
            return None
        folder = self.cache_dir(create=False) / ENGINE_CACHE_FOLDER
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        return folder if os.access(folder, os.W_OK) else None

    def runs_dir(self) -> Path:
        """Folder where right-click detections write their outputs."""
        return _made(self.cache_dir(create=False) / "runs")

    def training_dir(self, name: str, create: bool = True) -> Path:
        """Folder where the Fine-tune window trains the model ``name`` (its card, weights and work folder).

        Raises:
            InputProblem: it cannot be made (a cache folder on a read-only or full disk); the message says to choose
                another cache folder in Settings….
        """
        folder = self.cache_dir(create=False) / "training" / name
        return _made(folder) if create else folder

    def python_executable(self) -> str:
        """Return the interpreter for engine subprocesses and pip (the setting, else QGIS's own Python)."""
        return self.engine_python or default_python()


def stored_engine_python() -> str:
    """Return the engine Python stored in Settings… ("" = QGIS's own).

    Only that setting is read, as in :func:`stored_engine_cache_dir`: :meth:`PluginSettings.load` asks the engine,
    whose environment needs this (:func:`dakd_qgis.paths.engine_subprocess_env`).
    """
    value = QgsSettings().value(f"{PLUGIN_KEY}/engine_python", "", type=str)
    return value if isinstance(value, str) else ""


def stored_engine_cache_dir() -> Path | None:
    """Return :meth:`PluginSettings.engine_cache_dir` for the cache folder stored now.

    Only that setting is read: :meth:`PluginSettings.load` asks the engine for its contract, in a child process
    whose environment needs this folder (:func:`dakd_qgis.paths.engine_subprocess_env`).
    """
    value = QgsSettings().value(f"{PLUGIN_KEY}/cache_folder", "", type=str)
    return PluginSettings(cache_folder=value if isinstance(value, str) else "").engine_cache_dir()


def _made(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputProblem(
            tr("cannot use the cache folder {folder} ({reason}); choose another in Settings…").format(
                folder=folder, reason=error.strerror or error
            )
        ) from error
    return folder


def default_python() -> str:
    """Return QGIS's own Python interpreter as a runnable program.

    Notes:
        Inside QGIS ``sys.executable`` is unreliable: Python embedded in an application guesses it,
        and may find the QGIS binary (Windows, macOS) or whatever ``python3`` comes first on PATH (a
        pyenv shim, on a machine checked for this plugin). So it is only trusted when it lies under
        ``sys.prefix``; otherwise the interpreter of the running Python's own installation is used
        (OSGeo4W: ``apps/Python3x/python.exe``; Linux: ``/usr/bin/python3.X``; macOS bundle:
        ``bin/python3``).
    """
    executable = Path(os.path.abspath(sys.executable)) if sys.executable else None
    prefixes = [os.path.abspath(prefix) for prefix in {sys.prefix, sys.exec_prefix}]
    if (
        executable is not None
        and executable.name.lower().startswith("python")
        and any(str(executable).startswith(prefix + os.sep) for prefix in prefixes)
    ):
        return str(executable)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for prefix in prefixes:
        for candidate in (
            Path(prefix) / "python.exe",
            Path(prefix) / "bin" / f"python{version}",
            Path(prefix) / "bin" / "python3",
        ):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return shutil.which(f"python{version}") or sys.executable or "python3"
