"""Fixtures for the plugin tests, which run in a real QGIS 3.22 (offscreen, through pytest-qgis).

The plugin is installed for these tests the way QGIS sees it: a plugin folder ``dakd_qgis`` that
holds ``metadata.txt``. The repository keeps ``metadata.txt`` at the top level, so a staging folder
is made at import time (before any test module imports ``dakd_qgis``) with symlinks to the source
files, so tracebacks and edits point at the repository. ``qgis_process`` tests use the real
packaged folder from ``package_plugin.build_plugin_dir`` instead.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import importlib.util
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("qgis.core")

REPO = Path(__file__).resolve().parents[2]
STAGING = Path(tempfile.mkdtemp(prefix="dakd-plugin-tests-"))
atexit.register(shutil.rmtree, STAGING, True)


def _stage_plugin() -> Path:
    plugin = STAGING / "dakd_qgis"
    plugin.mkdir()
    for entry in (REPO / "dakd_qgis").iterdir():
        if entry.name != "__pycache__":
            (plugin / entry.name).symlink_to(entry)
    (plugin / "metadata.txt").symlink_to(REPO / "metadata.txt")
    return plugin


STAGED_PLUGIN = _stage_plugin()
sys.path.insert(0, str(STAGING))
import qgis.utils  # noqa: E402

qgis.utils.plugin_paths.insert(0, str(STAGING))
qgis.utils.updateAvailablePlugins()


def load_package_plugin_module():
    """``dakd_qgis/package_plugin.py`` as a standalone module (it is a script, not part of the plugin)."""
    spec = importlib.util.spec_from_file_location("dakd_package_plugin", REPO / "dakd_qgis" / "package_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def exceptions_in_qt_slots():
    """Fail the test when a Qt slot raised (PyQt would otherwise abort the whole test run)."""
    import traceback

    raised = []
    previous = sys.excepthook
    sys.excepthook = lambda kind, value, tb: raised.append("".join(traceback.format_exception(kind, value, tb)))
    yield raised
    sys.excepthook = previous
    assert not raised, "exception in a Qt slot:\n" + "\n".join(raised)


@pytest.fixture(scope="session")
def shared_engine_cache() -> Path:
    """The engine's cache folder outside these tests (``$DAKD_CACHE_DIR``, else ``~/.cache/dakd``).

    The plugin points the engine at ``<cache folder>/engine``; every test has a new cache folder, and the bundled
    model's ONNX export takes about a minute on 2 cores. So each test's ``engine`` folder is a link to this one,
    where the export is made once, as it was before the plugin passed its cache folder on. The engine says where
    its cache is from a child process, as the plugin runs it: importing it here would load its packages into QGIS.
    """
    import subprocess

    asked = "from engine.runtimes import cache_root; print(cache_root())"
    done = subprocess.run(  # noqa: S603 - a fixed argument list
        [sys.executable, "-c", asked], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    folder = Path(done.stdout.strip())
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def isolated_plugin_settings(tmp_path_factory, shared_engine_cache):
    """Each test starts from default plugin settings with its own cache folder (the engine's cache shared).

    The cache folder is not in the test's ``tmp_path``, which tests may expect to hold only their own files.
    """
    from qgis.core import QgsSettings

    from dakd_qgis.paths import PLUGIN_KEY
    from dakd_qgis.settings import ENGINE_CACHE_FOLDER, PluginSettings

    QgsSettings().remove(PLUGIN_KEY)
    cache = tmp_path_factory.mktemp("dakd-cache")
    (cache / ENGINE_CACHE_FOLDER).symlink_to(shared_engine_cache, target_is_directory=True)
    settings = PluginSettings(cache_folder=str(cache))
    settings.save()
    yield settings
    QgsSettings().remove(PLUGIN_KEY)


@pytest.fixture
def dakd_provider(qgis_processing):
    """The plugin's Processing provider, registered for one test (the plugin load tests register their own)."""
    from qgis.core import QgsApplication

    from dakd_qgis.provider import DakdProvider

    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("dakd")
    added = None
    if provider is None:
        added = DakdProvider()
        assert registry.addProvider(added)
        provider = added
    yield provider
    if added is not None:
        registry.removeProvider(added)


def write_sar_scene(
    path: Path,
    width: int = 256,
    height: int = 256,
    seed: int = 0,
    spill_centre=(128, 128),
    spill_axes_px=(60, 18),
    epsg: int = 32633,
    pixel_size_m: float = 10.0,
    units: str = "linear",
) -> Path:
    """A speckled sea in linear sigma0 (about -13 dB) with one dark elliptical slick (about -25 dB).

    The slick covers ``pi * a * b`` pixels (60 x 18 px: about 3393 px, 0.34 km² at 10 m), so tests can
    check the detected area by hand. Written with rasterio as a tiled GeoTIFF with a real CRS.
    """
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    a, b = spill_axes_px
    cy, cx = spill_centre
    inside = ((cols - cx) / a) ** 2 + ((rows - cy) / b) ** 2 <= 1.0
    mean = np.where(inside, 10 ** (-25 / 10), 10 ** (-13 / 10)).astype("float32")
    looks = 4.0
    sigma0 = (mean * rng.gamma(looks, 1.0 / looks, size=mean.shape)).astype("float32")
    data = 10 * np.log10(sigma0) if units == "db" else sigma0
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": f"EPSG:{epsg}",
        "transform": Affine(pixel_size_m, 0.0, 500000.0, 0.0, -pixel_size_m, 6000000.0),
        "nodata": None,
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data.astype("float32"), 1)
        dataset.update_tags(1, units=units)
    return path


@pytest.fixture
def scene_writer():
    """:func:`write_sar_scene`, for tests that need another size or seed."""
    return write_sar_scene


def list_folder(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder`` (itself too, as ".") with its size and modification time in ns.

    Two listings differ when a run added, removed or rewrote anything there (a file GDAL or QGIS left beside an
    input, such as ``scene.tif.aux.xml``, changes the folder's own time too).
    """
    entries = [folder, *folder.rglob("*")]
    return {
        str(p.relative_to(folder)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime_ns) for p in entries
    }


@pytest.fixture
def folder_listing():
    """:func:`list_folder`, to compare an input folder before and after a run."""
    return list_folder


@pytest.fixture(scope="session")
def package_plugin():
    """``dakd_qgis/package_plugin.py`` loaded as a module (``build_plugin_dir``, ``build_zip``)."""
    return load_package_plugin_module()


@pytest.fixture
def sar_scene(tmp_path) -> Path:
    """A 256 x 256 linear sigma0 GeoTIFF with one slick (see :func:`write_sar_scene`)."""
    return write_sar_scene(tmp_path / "scene.tif")


@pytest.fixture
def zipped_scene(tmp_path) -> str:
    """The GDAL source of a SAR scene read from inside a zip (``/vsizip/<zip>/scene.tif``), as QGIS adds it.

    The zip holds another raster first, as a product or a delivery would: read as a whole, the zip is not the scene.
    """
    folder = tmp_path / "zipped"
    folder.mkdir()
    write_sar_scene(folder / "other.tif", seed=1)
    write_sar_scene(folder / "scene.tif")
    archive = tmp_path / "delivery.zip"
    with zipfile.ZipFile(archive, "w") as sink:
        for name in ("other.tif", "scene.tif"):
            sink.write(folder / name, name)
    shutil.rmtree(folder)
    return f"/vsizip/{archive}/scene.tif"


@pytest.fixture
def labelled_scenes(tmp_path):
    """Two simulated 256 x 256 scenes, each with one slick, and one label GeoPackage for both.

    The label field ``label`` holds ``slick`` (not a class name, so it must be mapped to ``oil``).
    Returns ``(scene paths, label path)``.
    """
    import fiona
    from shapely import affinity
    from shapely.geometry import Point, mapping

    scenes = []
    schema = {"geometry": "Polygon", "properties": {"label": "str"}}
    labels = tmp_path / "labels.gpkg"
    with fiona.open(labels, "w", driver="GPKG", schema=schema, crs="EPSG:32633", layer="labels") as sink:
        for index in range(2):
            origin_x = 500000.0 + index * 5000.0
            centre = (128 + 10 * index, 120)
            path = tmp_path / f"scene{index}.tif"
            write_sar_scene(path, seed=index, spill_centre=(centre[1], centre[0]))
            # move the raster to its own origin: rewrite the transform
            import rasterio
            from affine import Affine

            with rasterio.open(path, "r+") as dataset:
                dataset.transform = Affine(10.0, 0.0, origin_x, 0.0, -10.0, 6000000.0)
            ellipse = affinity.scale(
                Point(origin_x + centre[0] * 10 + 5, 6000000.0 - centre[1] * 10 - 5).buffer(1), 600, 180
            )
            sink.write({"geometry": mapping(ellipse), "properties": {"label": "slick"}})
            scenes.append(path)
    return scenes, labels


@pytest.fixture(scope="session")
def model_card(tmp_path_factory) -> Path:
    """A real SAROSS-Net XS model card (random weights, OSD classes) written by the engine."""
    from engine.classes import OSD_CLASSES
    from engine.modelcard import new_model_card, save_model_card
    from engine.models import create_model

    model = create_model("saross_net_xs", num_classes=len(OSD_CLASSES))
    card = new_model_card(model, "test-model", OSD_CLASSES, metrics={"validation": {"miou": 61.25}})
    return save_model_card(tmp_path_factory.mktemp("cards") / "test-model", model, card)


@pytest.fixture(scope="session")
def binary_model_card(tmp_path_factory) -> Path:
    """A real SAROSS-Net XS model card with two classes, sea and oil (a binary fine-tune), written by the engine."""
    from engine.classes import BINARY_CLASSES
    from engine.modelcard import new_model_card, save_model_card
    from engine.models import create_model

    model = create_model("saross_net_xs", num_classes=len(BINARY_CLASSES))
    card = new_model_card(model, "binary-model", BINARY_CLASSES)
    return save_model_card(tmp_path_factory.mktemp("cards") / "binary-model", model, card)


@pytest.fixture
def algorithm_error(dakd_provider):
    """Run an algorithm's processAlgorithm directly and return its QgsProcessingException message.

    The algorithm object is deleted before returning: one left to Python's garbage collector after
    QGIS has shut down crashes the interpreter at exit.
    """
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

    def run(algorithm_id: str, parameters: dict) -> str:
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
        try:
            algorithm.processAlgorithm(parameters, QgsProcessingContext(), QgsProcessingFeedback())
        except QgsProcessingException as error:
            return str(error)
        finally:
            del algorithm
        raise AssertionError(f"{algorithm_id} did not fail")

    return run


def make_wheel(folder: Path, name: str = "dakdprobe", version: str = "1.0", requires: str = "numpy>=1.0") -> Path:
    """Write a minimal pure-Python wheel that depends on numpy (so pip must leave QGIS's numpy alone)."""
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{name}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Dist: {requires}\n"
        ),
        f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


@pytest.fixture
def local_wheels(tmp_path) -> Path:
    """A folder with one tiny wheel, ``dakdprobe 1.0`` (needs numpy), for offline pip runs."""
    folder = tmp_path / "wheels"
    make_wheel(folder)
    return folder


def _wait_until(condition, timeout_s: float = 120.0) -> bool:
    """Run the Qt event loop until ``condition()`` holds or the timeout passes; return ``condition()``."""
    from qgis.PyQt.QtCore import QEventLoop, QTimer

    if condition():
        return True
    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(50)
    poll.timeout.connect(lambda: loop.quit() if condition() else None)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    poll.start()
    loop.exec_()
    poll.stop()
    return bool(condition())


@pytest.fixture
def wait_until():
    """``wait_until(condition, timeout_s)``: spin the Qt event loop until the condition holds."""
    return _wait_until


@pytest.fixture
def wait_for_signal():
    """``wait_for_signal(signal, timeout_s)``: spin the event loop until ``signal`` fires; return its emissions."""

    def wait(signal, timeout_s: float = 120.0) -> list:
        got = []
        signal.connect(lambda *args: got.append(args))
        _wait_until(lambda: got, timeout_s)
        return got

    return wait
