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


def test_precision_round_trips_and_an_unknown_one_is_automatic(isolated_plugin_settings):
    from qgis.core import QgsSettings

    from dakd_qgis.paths import PLUGIN_KEY
    from dakd_qgis.settings import PluginSettings

    assert PluginSettings.load().precision == "auto"
    assert "bf16" in PluginSettings().precisions()  # the engine's own choices, from its contract
    PluginSettings(precision="bf16").save()
    assert PluginSettings.load().precision == "bf16"
    QgsSettings().setValue(f"{PLUGIN_KEY}/precision", "int4")
    assert PluginSettings.load().precision == "auto"


def test_a_copy_read_earlier_saves_only_what_it_changed(isolated_plugin_settings, tmp_path):
    """Audit: save() wrote every field, so a window's copy read earlier put back what another window saved since."""
    from dakd_qgis.settings import PluginSettings

    first = PluginSettings.load()
    second = PluginSettings.load()
    second.engine_python = "/opt/another/bin/python3"
    second.cache_folder = str(tmp_path / "new-cache")
    second.save()
    first.device = "cpu"
    first.save()
    first.set_default_model(str(tmp_path / "a.json"))
    now = PluginSettings.load()
    assert (now.device, now.engine_python, now.cache_folder, now.default_model) == (
        "cpu",
        "/opt/another/bin/python3",
        str(tmp_path / "new-cache"),
        str(tmp_path / "a.json"),
    )
    second.set_default_model("")  # one key, whatever else the copy holds
    assert PluginSettings.load().device == "cpu" and PluginSettings.load().default_model == ""


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


def test_the_engine_caches_in_the_chosen_cache_folder(isolated_plugin_settings, tmp_path):
    """Audit: the Cache folder setting never reached the engine, so ONNX exports and compiled OpenVINO networks
    went to ~/.cache/dakd even when the analyst had moved the cache to another disk. An engine child now gets
    ``DAKD_CACHE_DIR=<cache folder>/engine``, apart from the plugin's own models and runs."""
    import subprocess

    from dakd_qgis.paths import engine_subprocess_env

    settings = isolated_plugin_settings
    settings.cache_folder = str(tmp_path / "other disk" / "dakd")
    settings.save()
    engine_cache = tmp_path / "other disk" / "dakd" / "engine"
    # the engine itself, started as detection starts it, caches there
    done = subprocess.run(
        [
            settings.python_executable(),
            "-c",
            "from engine.runtimes import onnx_cache_dir, openvino_cache_dir; "
            "print(onnx_cache_dir()); print(openvino_cache_dir())",
        ],
        env=engine_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.splitlines() == [str(engine_cache / "onnx"), str(engine_cache / "openvino")]
    assert engine_cache.is_dir() and engine_cache.parent / "models" != engine_cache
    # a chosen folder wins over a DAKD_CACHE_DIR QGIS was started with
    assert engine_subprocess_env({"DAKD_CACHE_DIR": "/elsewhere"})["DAKD_CACHE_DIR"] == str(engine_cache)
    # none chosen (the QGIS profile): the engine keeps its own default, or what QGIS was started with
    settings.cache_folder = ""
    settings.save()
    assert "DAKD_CACHE_DIR" not in engine_subprocess_env({})
    assert engine_subprocess_env({"DAKD_CACHE_DIR": "/elsewhere"})["DAKD_CACHE_DIR"] == "/elsewhere"
    # a folder that cannot be made (a drive that is gone): the engine's default, detection goes on
    (tmp_path / "gone").write_text("a file, not a folder")
    settings.cache_folder = str(tmp_path / "gone" / "dakd")
    settings.save()
    assert "DAKD_CACHE_DIR" not in engine_subprocess_env({})
    assert (tmp_path / "gone").read_text() == "a file, not a folder"


def test_the_install_profile_is_remembered_alone_and_an_unknown_one_is_none(isolated_plugin_settings):
    from qgis.core import QgsSettings

    from dakd_qgis.paths import PLUGIN_KEY
    from dakd_qgis.settings import PluginSettings

    assert PluginSettings.load().install_profile == ""
    earlier = PluginSettings.load()
    other = PluginSettings.load()  # another window saves after this copy was read
    other.device = "cpu"
    other.save()
    earlier.set_install_profile("detect")
    loaded = PluginSettings.load()
    assert (loaded.install_profile, loaded.device) == ("detect", "cpu")
    QgsSettings().setValue(f"{PLUGIN_KEY}/install_profile", "everything")
    assert PluginSettings.load().install_profile == ""
