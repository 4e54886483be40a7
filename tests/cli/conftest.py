"""Rasters and helpers for the ``dakd detect`` / ``dakd info`` tests."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from engine.io.raster import write_raster


def speckled_sea(height, width, seed=0):
    rng = np.random.default_rng(seed)
    return (0.05 * rng.gamma(4.4, 1 / 4.4, (height, width))).astype(np.float32)


#: UTM 33N, upper-left corner: open sea between Malta and Libya (15 E, 35.06 N), so the default
#: --land-mask auto masks nothing in these scenes unless a test asks for land.
SEA_ORIGIN = (500000, 3880000)


def write_scene(path, values, **kwargs):
    kwargs.setdefault("crs", "EPSG:32633")
    kwargs.setdefault("transform", from_origin(*SEA_ORIGIN, 10, 10))
    return write_raster(path, values, **kwargs)


def dakd_command():
    """The installed ``dakd`` script beside this Python, else ``python -m engine``."""
    script = Path(sys.executable).parent / "dakd"
    return [str(script)] if script.exists() else [sys.executable, "-m", "engine"]


@pytest.fixture
def scene_tif(tmp_path):
    return write_scene(tmp_path / "scene.tif", speckled_sea(300, 320))


@pytest.fixture
def repo_root():
    return Path(__file__).resolve().parents[2]


@pytest.fixture
def world_readable_dir():
    """A folder other users can read (pytest's tmp dirs are private), removed afterwards."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="dakd-cli-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
