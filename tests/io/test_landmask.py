import json

import numpy as np
import pytest
from rasterio.warp import transform
from rasterio.windows import Window

from engine.errors import InputError
from engine.io import open_scene
from engine.io.landmask import apply_land_mask
from engine.io.raster import write_raster


def _write_polygon_layer(path, corners_utm, crs="EPSG:4326", extra_line=False):
    xs, ys = zip(*corners_utm)
    lons, lats = transform("EPSG:32633", crs, list(xs), list(ys))
    ring = [list(p) for p in zip(lons, lats)] + [[lons[0], lats[0]]]
    features = [
        {"type": "Feature", "properties": {"name": "land"}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
    ]
    if extra_line:  # lines and points in the layer are ignored
        features.append(
            {
                "type": "Feature",
                "properties": {"name": "road"},
                "geometry": {"type": "LineString", "coordinates": ring[:2]},
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    if crs != "EPSG:4326":
        collection["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(collection))
    return path


# linear_tif: 80 x 64 px at 10 m, top-left corner (500000, 6000000) in UTM 33N.
LEFT_HALF = [(499900.0, 6000100.0), (500400.0, 6000100.0), (500400.0, 5999000.0), (499900.0, 5999000.0)]


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:3857"])
def test_land_pixels_become_invalid(linear_tif, tmp_path, crs):
    layer = _write_polygon_layer(tmp_path / "land.geojson", LEFT_HALF, crs, extra_line=True)
    scene = apply_land_mask(open_scene(linear_tif), layer)
    try:
        assert scene.info.metadata["land_mask_polygons"] == 1
        values, valid = scene.read_sigma0(Window(0, 0, 80, 64))
        _, part_valid = scene.read_sigma0(Window(30, 10, 20, 20))
    finally:
        scene.close()
    assert not valid[:, :40].any() and valid[:, 40:].all()  # pixel centres west of x = 500400 are land
    assert not values[:, :40].any()
    assert np.array_equal(part_valid, valid[10:30, 30:50])


def test_land_mask_errors(linear_tif, tmp_path):
    with pytest.raises(InputError, match="--land-mask .*no such file"):
        apply_land_mask(open_scene(linear_tif), tmp_path / "missing.shp")
    bad = tmp_path / "bad.geojson"
    bad.write_text("not json")
    with pytest.raises(InputError, match="cannot read it as a polygon layer"):
        apply_land_mask(open_scene(linear_tif), bad)
    pixels = write_raster(tmp_path / "pixels.tif", np.full((8, 8), 0.1, np.float32))
    layer = _write_polygon_layer(tmp_path / "land.geojson", LEFT_HALF)
    with pytest.raises(InputError, match="no coordinate system"):
        apply_land_mask(open_scene(pixels, units="linear"), layer)


def test_without_land_mask_the_scene_is_unchanged(linear_tif):
    scene = open_scene(linear_tif)
    try:
        assert apply_land_mask(scene, None) is scene
    finally:
        scene.close()
