"""Plugin settings in QgsSettings, and finding QGIS's Python."""

from __future__ import annotations

import os
import sys

import pytest

pytestmark = pytest.mark.qgis


def test_settings_round_trip_and_invalid_device(tmp_path):
    from qgis.core import QgsSettings

    from dakd_qgis.paths import PLUGIN_KEY
    from dakd_qgis.settings import PluginSettings

    PluginSettings(
        device="cuda",
        default_model="/models/a.json",
        engine_python="/opt/py/bin/python3",
        cache_folder=str(tmp_path / "cache"),
    ).save()
    loaded = PluginSettings.load()
    assert (loaded.device, loaded.default_model, loaded.engine_python) == (
        "cuda",
        "/models/a.json",
        "/opt/py/bin/python3",
    )
    assert loaded.python_executable() == "/opt/py/bin/python3"
    assert loaded.models_dir() == tmp_path / "cache" / "models" and loaded.models_dir().is_dir()
    QgsSettings().setValue(f"{PLUGIN_KEY}/device", "tpu")
    assert PluginSettings.load().device == "auto"


def test_default_python_is_a_runnable_interpreter_of_this_version():
    import subprocess

    from dakd_qgis.settings import default_python

    python = default_python()
    assert os.access(python, os.X_OK)
    done = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == str(tuple(sys.version_info[:2]))


def test_default_python_ignores_a_foreign_sys_executable(monkeypatch):
    """Embedded Python (qgis_process, QGIS) may report a python3 from PATH, e.g. a pyenv shim."""
    from dakd_qgis.settings import default_python

    monkeypatch.setattr(sys, "executable", "/somewhere/else/shims/python3")
    python = default_python()
    assert python != "/somewhere/else/shims/python3"
    assert python.startswith((sys.prefix, sys.exec_prefix))
