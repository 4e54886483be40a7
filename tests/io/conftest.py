"""Small real rasters for the reader tests (written with rasterio into tmp dirs)."""

import numpy as np
import pytest
from rasterio.transform import from_origin

from engine.io.raster import write_raster

UTM33 = "EPSG:32633"
UTM_TRANSFORM = from_origin(500000, 6000000, 10, 10)


def speckled_sea(height, width, mean=0.05, looks=4.4, seed=0):
    """Gamma-distributed linear σ0 (the speckle statistics of a multi-look SAR image)."""
    rng = np.random.default_rng(seed)
    return (mean * rng.gamma(looks, 1 / looks, (height, width))).astype(np.float32)


@pytest.fixture
def linear_tif(tmp_path):
    return write_raster(tmp_path / "linear.tif", speckled_sea(64, 80), UTM33, UTM_TRANSFORM)


@pytest.fixture
def db_tif(tmp_path):
    db = 10 * np.log10(speckled_sea(64, 80))
    return write_raster(tmp_path / "db.tif", db.astype(np.float32), UTM33, UTM_TRANSFORM)
