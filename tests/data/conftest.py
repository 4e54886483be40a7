"""Small data sets written in the exact OSD / SOS / user-scene formats (no simulator needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.classes import OSD_CLASSES


def osd_pair(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """An 8-bit grey image and its class ids: sea, an oil rectangle, a look-alike, a ship, land on the right."""
    image = rng.normal(110, 12, (height, width)).clip(0, 255)
    ids = np.zeros((height, width), np.uint8)
    ids[10:30, 10:50] = 1
    ids[40:55, 60:90] = 2
    ids[70:74, 20:24] = 3
    ids[:, width - 20 :] = 4
    image[ids == 1] -= 60
    image[ids == 2] -= 40
    image[ids == 3] = 250
    image[ids == 4] += 50
    return image.clip(0, 255).astype(np.uint8), ids


def write_osd(root: Path, count: int = 3, height: int = 96, width: int = 160, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for sub in ("images", "labels", "labels_1D"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    palette = np.array([c.rgb for c in OSD_CLASSES], np.uint8)
    for index in range(count):
        image, ids = osd_pair(rng, height, width)
        Image.fromarray(np.repeat(image[..., None], 3, axis=2)).save(
            root / "images" / f"img_{index:04d}.jpg", quality=95
        )
        Image.fromarray(palette[ids]).save(root / "labels" / f"img_{index:04d}.png")
        Image.fromarray(ids).save(root / "labels_1D" / f"img_{index:04d}.png")
    return root


@pytest.fixture
def osd_folder(tmp_path: Path) -> Path:
    """An OSD root with train/ (3 images) and test/ (1 image), 96x160 px."""
    write_osd(tmp_path / "osd" / "train", 3)
    write_osd(tmp_path / "osd" / "test", 1, seed=1)
    return tmp_path / "osd"


@pytest.fixture
def sos_folder(tmp_path: Path) -> Path:
    """An SOS split folder: sat/*.jpg and gt/*.png (white = oil, one grey value 200 counted as oil)."""
    rng = np.random.default_rng(2)
    root = tmp_path / "sos" / "train"
    (root / "sat").mkdir(parents=True)
    (root / "gt").mkdir(parents=True)
    for index in range(2):
        image, ids = osd_pair(rng, 64, 64)
        mask = np.where(ids == 1, 255, 0).astype(np.uint8)
        mask[0, 0] = 200
        Image.fromarray(np.repeat(image[..., None], 3, axis=2)).save(root / "sat" / f"{index}_sat.jpg")
        Image.fromarray(mask).save(root / "gt" / f"{index}_mask.png")
    return tmp_path / "sos"


SCENE_CRS = "EPSG:32633"
SCENE_ORIGIN = (500000.0, 4500000.0)  # UTM 33N, upper-left corner, 10 m pixels


def write_scene(path: Path, size: int = 200, nodata_cols: int = 0) -> Path:
    """A float32 linear-σ0 GeoTIFF: sea at -20 dB, an oil rectangle at -30 dB (rows 20-59, cols 40-99)."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(3)
    sigma0 = (10 ** (-2.0) * rng.gamma(4.4, 1 / 4.4, (size, size))).astype(np.float32)
    sigma0[20:60, 40:100] *= 0.1
    if nodata_cols:
        sigma0[:, :nodata_cols] = 0.0
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": SCENE_CRS,
        "transform": from_origin(*SCENE_ORIGIN, 10.0, 10.0),
        "nodata": 0.0,
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(sigma0, 1)
    return path


def pixel_box(row0: int, col0: int, row1: int, col1: int):
    """The UTM polygon of pixel rows [row0, row1) and cols [col0, col1)."""
    from shapely.geometry import box

    x0, y0 = SCENE_ORIGIN
    return box(x0 + col0 * 10, y0 - row1 * 10, x0 + col1 * 10, y0 - row0 * 10)


def write_polygons(
    path: Path,
    items: list[tuple[object, str]],
    crs: str = "EPSG:4326",
    field: str = "class",
    geometry_type: str = "Polygon",
) -> Path:
    """Write (UTM geometry, class value) items to a GeoPackage in ``crs`` (reprojected from the scene CRS).

    ``geometry_type`` is the layer's (``Unknown`` holds any mix: points, lines and polygons).
    """
    import fiona
    from rasterio.warp import transform_geom
    from shapely.geometry import mapping

    schema = {"geometry": geometry_type, "properties": {field: "str"}}
    with fiona.open(path, "w", driver="GPKG", crs=crs, schema=schema) as sink:
        for geometry, value in items:
            sink.write({"geometry": transform_geom(SCENE_CRS, crs, mapping(geometry)), "properties": {field: value}})
    return path
