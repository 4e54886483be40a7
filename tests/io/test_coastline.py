"""``--land-mask auto``: the global coastline placed on real rasters, against a pixel-by-pixel test of the same data.

Tests that need the coastline skip, with the reason, where ``roaring-landmask`` is not installed (``make install``
installs it); the fallback without it is tested everywhere.
"""

import importlib.util
import logging
import sys

import numpy as np
import pytest
from rasterio.transform import from_origin
from rasterio.warp import transform
from rasterio.windows import Window

from engine.io import coastline, open_scene
from engine.io.landmask import LandMaskedScene, apply_land_mask
from engine.io.raster import write_raster

needs_coastline = pytest.mark.skipif(
    importlib.util.find_spec("roaring_landmask") is None,
    reason="roaring-landmask is not installed (make install installs it)",
)


def _scene_at(tmp_path, lon, lat, size=400, epsg=32631, name="coast.tif"):
    """A flat 10 m sea scene whose top-left corner is at (lon, lat), in the given UTM zone."""
    xs, ys = transform("EPSG:4326", f"EPSG:{epsg}", [lon], [lat])
    values = np.full((size, size), 0.05, np.float32)
    return write_raster(tmp_path / name, values, f"EPSG:{epsg}", from_origin(round(xs[0]), round(ys[0]), 10, 10))


def _exact(mask, window):
    """The coastline polygons tested at every pixel centre of the window (the slow, plain way)."""
    rows, cols = int(window.height), int(window.width)
    c, r = np.meshgrid(np.arange(cols) + window.col_off + 0.5, np.arange(rows) + window.row_off + 0.5)
    lon, lat = mask._lonlat(c, r)
    return np.asarray(mask._shapes.contains_many(lon.ravel(), lat.ravel()), dtype=bool).reshape(rows, cols)


@needs_coastline
def test_coastal_scene_matches_the_pixel_by_pixel_test(tmp_path):
    # Marseille: 4 km x 4 km from (5.34 E, 43.31 N), the harbour's quays, the old port and the city.
    scene = open_scene(_scene_at(tmp_path, 5.34, 43.31), land_mask="auto")
    try:
        assert isinstance(scene, LandMaskedScene)
        described = scene.info.metadata["land_mask"]
        assert described["mode"] == "auto" and described["used"] and described["coast_in_scene"]
        assert "OpenStreetMap" in described["source"]
        window = Window(0, 0, 400, 400)
        fast = scene.mask.land(window)
        exact = _exact(scene.mask, window)
        _, valid = scene.read_sigma0(window)
    finally:
        scene.close()
    assert 0.1 < exact.mean() < 0.9  # both land and sea in the scene
    assert (fast == exact).mean() >= 0.999
    assert np.array_equal(valid, ~fast)  # land reads as invalid (no buffer given: 0 m)


@needs_coastline
def test_the_shore_is_refined_and_open_sea_costs_no_polygon_test(tmp_path):
    scene = open_scene(_scene_at(tmp_path, 5.34, 43.31), land_mask="auto")
    try:
        scene.mask.land(Window(0, 0, 400, 400))
        assert 0 < scene.mask.points_tested < 0.5 * 400 * 400  # only nodes and shore blocks, not every pixel
    finally:
        scene.close()
    # The simulator's default place (UTM 34N, 400 km E, 4000 km N: the Ionian Sea, 36.1 N 19.9 E) has no coast.
    path = write_raster(
        tmp_path / "sea.tif", np.full((64, 64), 0.05, np.float32), "EPSG:32634", from_origin(400000, 4000000, 10, 10)
    )
    scene = open_scene(path, land_mask="auto")
    try:
        assert not scene.mask.coast_near and scene.mask.land(Window(0, 0, 64, 64)).sum() == 0
        assert scene.mask.points_tested == 0
        assert "no coast within the scene" in scene.info.metadata["land_mask"]["reason"]
    finally:
        scene.close()


@needs_coastline
def test_the_shoreline_buffer_widens_land_by_its_metres(tmp_path):
    path = _scene_at(tmp_path, 5.34, 43.31)
    window = Window(0, 0, 400, 400)
    scenes = [open_scene(path, land_mask="auto", land_buffer_m=buffer_m) for buffer_m in (0, 100)]
    try:
        plain, buffered = (scene.land(window) for scene in scenes)
        assert scenes[1].info.metadata["land_mask"]["buffer_m"] == 100
    finally:
        for scene in scenes:
            scene.close()
    from scipy import ndimage

    assert (buffered >= plain).all() and buffered.sum() > plain.sum()
    distance = ndimage.distance_transform_edt(~plain, sampling=10.0)
    assert distance[buffered].max() <= 100 and (buffered[(distance > 0) & (distance <= 90)]).all()


def test_without_the_package_the_scene_is_unmasked_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "roaring_landmask", None)  # what an environment without it gives
    monkeypatch.setattr(coastline, "_LOADED", {})
    scene = open_scene(_scene_at(tmp_path, 5.34, 43.31, size=32), land_mask="auto")
    try:
        assert not isinstance(scene, LandMaskedScene)
        described = scene.info.metadata["land_mask"]
        assert described["used"] is False and "pip install roaring-landmask" in described["reason"]
        _, valid = scene.read_sigma0(Window(0, 0, 32, 32))
        assert valid.all()
    finally:
        scene.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("detecting without a land mask" in w and "not installed" in w for w in warnings)


def test_a_scene_without_coordinates_is_unmasked_with_the_reason(tmp_path, caplog):
    path = write_raster(tmp_path / "pixels.tif", np.full((8, 8), 0.1, np.float32))
    scene = open_scene(path, units="linear", land_mask="auto")
    try:
        assert "no coordinate system" in scene.info.metadata["land_mask"]["reason"]
    finally:
        scene.close()
    # The raster reader warns that it has no CRS; the land mask adds no warning of its own.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "land mask" in r.getMessage()]


def test_a_crs_with_no_way_to_longitude_latitude_is_unmasked_with_the_reason(tmp_path, caplog):
    """A scene in an engineering (LOCAL_CS) CRS reaching the coastline: skipped with why, never a failed run.

    The raster reader drops such a CRS (tests/io/test_raster.py); this is the coastline's own guard for any
    scene that still carries one.
    """
    from dataclasses import replace

    from rasterio.crs import CRS

    scene = open_scene(_scene_at(tmp_path, 5.34, 43.31, size=32))
    scene.info = replace(scene.info, crs=CRS.from_wkt('LOCAL_CS["arbitrary",UNIT["metre",1]]'))
    with caplog.at_level(logging.WARNING, logger="dakd"):
        masked = apply_land_mask(scene, "auto")
    try:
        assert not isinstance(masked, LandMaskedScene)
        described = masked.info.metadata["land_mask"]
        assert described["used"] is False
        assert "cannot be converted to longitude/latitude" in described["reason"]
        assert "--land-mask none" in described["reason"] and "\n" not in described["reason"]
    finally:
        masked.close()
    assert "detecting without a land mask" in caplog.text


def test_none_keeps_every_pixel_and_says_so(tmp_path):
    scene = open_scene(_scene_at(tmp_path, 5.34, 43.31, size=16), land_mask="none")
    try:
        assert scene.info.metadata["land_mask"] == {"mode": "none", "used": False, "reason": "--land-mask none"}
    finally:
        scene.close()


def test_a_negative_buffer_is_refused(tmp_path):
    from engine.errors import InputError

    scene = open_scene(_scene_at(tmp_path, 5.34, 43.31, size=16))
    try:
        with pytest.raises(InputError, match="--land-buffer-m must be 0 or more"):
            apply_land_mask(scene, "none", -5)
    finally:
        scene.close()
