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
        "__pycache__" in name
        or name.endswith((".pyc", "package_plugin.py", "make_styles.py", "make_template.py", ".aux.xml"))
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


def test_statistics_gdal_wrote_beside_a_raster_are_not_packaged(package_plugin):
    """QGIS writes ``NAME.tif.aux.xml`` beside a raster it opens (the sample scene, in a developer's QGIS)."""
    assert package_plugin._ignore("sample", ["sample_scene.tif", "sample_scene.tif.aux.xml", "notes.txt"]) == [
        "sample_scene.tif.aux.xml"
    ]


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


def test_the_plugin_carries_the_onnx_export_of_each_bundled_card(package_plugin, tmp_path):
    """``--onnx-dir``: ``NAME.onnx`` goes next to ``resources/models/NAME.json``; an export without a card stays out."""
    from pathlib import Path

    repo = Path(package_plugin.__file__).resolve().parents[1]
    exports = tmp_path / "onnx"
    exports.mkdir()
    (exports / "default.onnx").write_bytes(b"an export")
    (exports / "not-a-bundled-card.onnx").write_bytes(b"another")
    plugin = package_plugin.build_plugin_dir(repo, tmp_path / "built", vendor_engine=False, onnx_dir=exports)
    models = plugin / "resources" / "models"
    assert (models / "default.onnx").read_bytes() == b"an export"
    assert sorted(p.name for p in models.iterdir()) == ["default.json", "default.onnx", "default.safetensors"]


def test_a_bundled_card_without_its_export_is_refused_in_one_line_and_leaves_no_zip(package_plugin, tmp_path):
    from pathlib import Path

    repo = Path(package_plugin.__file__).resolve().parents[1]
    exports = tmp_path / "onnx"
    exports.mkdir()
    (exports / "other.onnx").write_bytes(b"not the bundled card's")
    out = tmp_path / "dist"
    with pytest.raises(SystemExit) as refused:
        package_plugin.build_zip(repo, out, onnx_dir=exports)
    message = str(refused.value)
    assert "\n" not in message
    assert f"{exports / 'default.onnx'} is missing" in message
    assert "model export resources/models/default.json --onnx --out" in message
    assert not out.exists()  # refused before anything is made: no zip, no staging folder, no output folder
    with pytest.raises(SystemExit, match="is not a folder"):
        package_plugin.main(["--out", str(out), "--onnx-dir", str(tmp_path / "absent")])
    assert not out.exists()


@pytest.fixture(scope="module")
def default_model_export(tmp_path_factory):
    """The bundled default card exported to ONNX once, into a folder of its own (as ``make package`` does)."""
    import importlib.util
    import shutil

    from engine.detectors import DEFAULT_MODEL_CARD
    from engine.runtimes import export_onnx

    if importlib.util.find_spec("onnx") is None:
        pytest.skip("the onnx package is not installed (pip install onnx)")
    if importlib.util.find_spec("onnxruntime") is None and importlib.util.find_spec("openvino") is None:
        pytest.skip("no ONNX runtime installed")
    card = tmp_path_factory.mktemp("card")
    for suffix in (".json", ".safetensors"):
        shutil.copy(DEFAULT_MODEL_CARD.with_suffix(suffix), card / f"default{suffix}")
    exports = tmp_path_factory.mktemp("package-onnx")
    export_onnx(card / "default.json", exports / "default.onnx")
    return exports


#: What each detection-only case cannot import: torch alone, and the installer's "Detection only" profile exactly
#: (``requirements-detect.txt``: OpenVINO, neither the onnx package nor ONNX Runtime).
DETECTION_ONLY = [
    pytest.param(("torch",), id="no-torch"),
    pytest.param(("torch", "onnx", "onnxruntime"), id="openvino-only"),
]


@pytest.mark.slow
@pytest.mark.parametrize("blocked", DETECTION_ONLY)
def test_a_detection_only_install_runs_the_packaged_default_model(
    package_plugin, default_model_export, blocked, tmp_path
):
    """The zip's engine, without torch and with an empty cache, runs ``default.onnx`` next to the packaged card."""
    import importlib.util
    import json
    import os
    import subprocess  # nosec B404 - a fixed argument list
    import sys
    from pathlib import Path

    if "onnxruntime" in blocked and importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino is not installed")
    repo = Path(package_plugin.__file__).resolve().parents[1]
    plugin = package_plugin.build_plugin_dir(repo, tmp_path / "built", onnx_dir=default_model_export)
    lib = plugin / "lib"
    card = plugin / "resources" / "models" / "default.json"
    sample = repo / "resources" / "sample" / "sample_scene.tif"
    out = tmp_path / "out"
    cache = tmp_path / "cache"  # empty: the export cache cannot help
    cache.mkdir()
    code = (
        "import sys\n"
        f"for name in {list(blocked)!r}: sys.modules[name] = None\n"
        f"sys.path.insert(0, {str(lib)!r})\n"
        "import engine\n"
        f"assert engine.__file__.startswith({str(lib)!r}), engine.__file__\n"
        "from engine.runtimes import find_onnx\n"
        f"print(find_onnx({str(card)!r}, export=False)[0])\n"
        "from engine.cli import main\n"
        f"code = main(['--progress', 'none', '-q', 'detect', {str(sample)!r}, '--model', {str(card)!r}, "
        f"'--out', {str(out)!r}])\n"
        f"assert not [name for name in {list(blocked)!r} if sys.modules.get(name) is not None]\n"
        "sys.exit(code)"
    )
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env["DAKD_CACHE_DIR"] = str(cache)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env, check=False
    )  # nosec B603
    assert done.returncode == 0, done.stderr[-3000:]
    assert Path(done.stdout.splitlines()[0]) == card.with_suffix(".onnx")
    assert not (cache / "onnx").exists()  # nothing was exported: the packaged file ran
    summary = json.loads((out / "summary.json").read_text())
    assert summary["detector"]["backend"] in ("openvino", "onnxruntime")
