"""`make package`: the installable plugin zip."""

from __future__ import annotations

import zipfile

import pytest

pytestmark = pytest.mark.qgis


def test_zip_has_one_top_level_folder_with_everything(package_plugin, tmp_path):
    from pathlib import Path

    repo = Path(package_plugin.__file__).resolve().parents[1]
    # files that were there before, under the names the build once used for its own scratch files, stay
    (tmp_path / "staging").mkdir()
    (tmp_path / "staging" / "notes.txt").write_text("mine")
    (tmp_path / "dakd_qgis-0.1.0.zip.partial").write_text("mine too")
    archive = package_plugin.build_zip(repo, tmp_path)
    assert archive.name == "dakd_qgis-0.1.0.zip"
    assert (tmp_path / "staging" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "dakd_qgis-0.1.0.zip.partial").read_text() == "mine too"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dakd_qgis-0.1.0.zip",
        "dakd_qgis-0.1.0.zip.partial",
        "staging",
    ]
    assert archive.stat().st_mode & 0o777 == 0o644
    with zipfile.ZipFile(archive) as bundle:
        names = bundle.namelist()
        metadata = bundle.read("dakd_qgis/metadata.txt").decode()
        licence = bundle.read("dakd_qgis/LICENSE").decode()
        requirements = bundle.read("dakd_qgis/requirements.txt").decode().split()
    assert {name.split("/")[0] for name in names} == {"dakd_qgis"}
    for required in (
        "dakd_qgis/__init__.py",
        "dakd_qgis/plugin.py",
        "dakd_qgis/provider.py",
        "dakd_qgis/probe_engine.py",
        "dakd_qgis/lib/engine/__init__.py",
        "dakd_qgis/lib/engine/detect.py",
        "dakd_qgis/resources/icons/icon.png",
        "dakd_qgis/resources/styles/spills.qml",
        "dakd_qgis/i18n/dakd_qgis.ts",
    ):
        assert required in names
    assert not any(
        "__pycache__" in name or name.endswith((".pyc", "package_plugin.py", "make_styles.py", "make_template.py"))
        for name in names
    )
    for field in (
        "name",
        "qgisMinimumVersion=3.22",
        "description",
        "about",
        "version=0.1.0",
        "author",
        "email",
        "repository",
        "tracker",
        "hasProcessingProvider=yes",
        "category=Raster",
        "icon=",
    ):
        assert field in metadata
    icon = next(line.split("=", 1)[1] for line in metadata.splitlines() if line.startswith("icon="))
    assert f"dakd_qgis/{icon}" in names
    assert "GNU GENERAL PUBLIC LICENSE" in licence
    assert "torch>=2.1" in requirements


def test_the_zips_version_is_the_engines(package_plugin, tmp_path):
    """One version source: the packaged metadata.txt takes engine.__version__, whatever the checked-in file says."""
    import shutil
    from pathlib import Path

    repo = Path(package_plugin.__file__).resolve().parents[1]
    fake = tmp_path / "repo"
    (fake / "engine").mkdir(parents=True)
    (fake / "engine" / "__init__.py").write_text('__version__ = "9.9.9"\n')
    shutil.copy(repo / "metadata.txt", fake / "metadata.txt")
    metadata = package_plugin.versioned_metadata(fake)
    assert package_plugin.metadata_version(metadata) == "9.9.9"
    assert metadata.count("version=") == 1 and "qgisMinimumVersion=3.22" in metadata


def test_the_checked_in_metadata_has_the_engines_version(package_plugin):
    """QGIS reads metadata.txt itself when the plugin runs from a checkout: it must not lag behind the engine."""
    from pathlib import Path

    import engine

    repo = Path(package_plugin.__file__).resolve().parents[1]
    metadata = (repo / "metadata.txt").read_text(encoding="utf-8")
    assert package_plugin.metadata_version(metadata) == engine.__version__, "bump metadata.txt's version="


def test_packaged_engine_uses_the_bundled_default_model(package_plugin, tmp_path):
    """The zip's engine (``lib/engine``) must find ``dakd_qgis/resources/models/default.json`` for method auto."""
    import subprocess  # nosec B404 - a fixed argument list
    import sys
    from pathlib import Path

    repo = Path(package_plugin.__file__).resolve().parents[1]
    assert (repo / "resources" / "models" / "default.json").is_file(), "the default model is part of the repository"
    plugin = package_plugin.build_plugin_dir(repo, tmp_path)
    code = (
        "from engine.detectors import DEFAULT_MODEL_CARD, choose_method; "
        "print(DEFAULT_MODEL_CARD); print(choose_method('auto').method)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(plugin / "lib"), "PATH": "/usr/bin:/bin"},
        check=False,
    )  # nosec B603
    assert done.returncode == 0, done.stderr
    card, method = done.stdout.split()
    assert Path(card) == plugin / "resources" / "models" / "default.json" and Path(card).is_file()
    assert method == "model"
    assert (plugin / "resources" / "models" / "default.safetensors").stat().st_size < 30 * 2**20
