import json
import logging

import numpy as np
import pytest
from rasterio.warp import transform
from rasterio.windows import Window

from engine.errors import InputError
from engine.io import open_scene
from engine.io.landmask import LandMaskedScene, apply_land_mask
from engine.io.raster import write_raster

from .conftest import UTM_TRANSFORM


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


def _write_gpkg(path, geometries, geometry_type, crs="EPSG:32633"):
    """A GeoPackage of ``geometries`` (shapely), written with fiona."""
    import fiona
    from shapely.geometry import mapping

    schema = {"geometry": geometry_type, "properties": {"name": "str"}}
    with fiona.open(path, "w", driver="GPKG", crs=crs, schema=schema) as sink:
        for geometry in geometries:
            sink.write({"geometry": mapping(geometry), "properties": {"name": "coast"}})
    return path


@pytest.mark.parametrize(
    ("geometries", "geometry_type", "held"),
    [
        ("lines", "LineString", "holds 2 LineString features and no polygon"),
        ("points", "Point", "holds 1 Point feature and no polygon"),
        ("empty", "Polygon", "holds no features at all"),
    ],
)
def test_a_land_mask_without_any_polygon_is_refused_naming_what_it_holds(
    linear_tif, tmp_path, geometries, geometry_type, held
):
    """A coastline of lines masks nothing: accepting it would report a mask that never applied."""
    from shapely.geometry import LineString, Point

    shapes = {
        "lines": [
            LineString([(500000, 5999700), (500800, 5999700)]),
            LineString([(500000, 5999500), (500800, 5999500)]),
        ],
        "points": [Point(500300, 5999700)],
        "empty": [],
    }[geometries]
    layer = _write_gpkg(tmp_path / "coast.gpkg", shapes, geometry_type)
    scene = open_scene(linear_tif)
    try:
        with pytest.raises(InputError) as raised:
            apply_land_mask(scene, layer)
    finally:
        scene.close()
    message = str(raised.value)
    assert message.startswith(f"--land-mask {layer}: {held}; a land mask needs polygons")
    assert "--land-mask auto" in message and "\n" not in message


def test_land_polygons_that_miss_the_scene_warn_and_the_summary_says_nothing_was_masked(linear_tif, tmp_path, caplog):
    from shapely.geometry import box

    far = _write_gpkg(tmp_path / "land.gpkg", [box(600000, 6100000, 601000, 6101000)], "Polygon")  # 100 km away
    with caplog.at_level(logging.WARNING, logger="dakd"):
        scene = apply_land_mask(open_scene(linear_tif), far, buffer_m=100)
    try:
        assert not isinstance(scene, LandMaskedScene)
        described = scene.info.metadata["land_mask"]
        assert described["used"] is False and described["polygons"] == 0
        assert described["reason"] == f"no land polygon over the scene in {far}"
        _, valid = scene.read_sigma0(Window(0, 0, 80, 64))
        assert valid.all()
    finally:
        scene.close()
    assert f"--land-mask {far}: no land polygon over the scene" in caplog.text


def test_the_masked_scene_knows_whether_a_pixel_was_valid_before_the_mask(tmp_path):
    """What lets a run left with no pixel blame the mask only when the mask removed something."""
    from shapely.geometry import box

    whole = _write_gpkg(tmp_path / "land.gpkg", [box(499000, 5998000, 502000, 6001000)], "Polygon")
    sea_path = write_raster(tmp_path / "sea.tif", np.full((64, 80), 0.05, np.float32), "EPSG:32633", UTM_TRANSFORM)
    blank = write_raster(tmp_path / "blank.tif", np.zeros((64, 80), np.float32), "EPSG:32633", UTM_TRANSFORM)
    for path, expected in ((sea_path, True), (blank, False)):
        scene = apply_land_mask(open_scene(path, units="linear"), whole)
        try:
            assert isinstance(scene, LandMaskedScene) and not scene.valid_before_land_mask
            _, valid = scene.read_sigma0(Window(0, 0, 80, 64))
            assert not valid.any() and scene.valid_before_land_mask is expected
        finally:
            scene.close()


def _antimeridian_scene(tmp_path):
    """A 64 x 64 px scene at 20 m in UTM 60N whose middle column lies on the antimeridian (180 E, 0.5 N)."""
    from rasterio.transform import from_origin

    xs, ys = transform("EPSG:4326", "EPSG:32660", [180.0], [0.5])
    values = np.full((64, 64), 0.05, np.float32)
    origin = from_origin(xs[0] - 32 * 20, ys[0] + 32 * 20, 20, 20)
    return write_raster(tmp_path / "antimeridian.tif", values, "EPSG:32660", origin)


@pytest.mark.parametrize(("west", "east"), [(179.996, 179.999), (-179.999, -179.996)], ids=["east", "west"])
def test_land_polygons_of_a_scene_across_the_antimeridian_are_masked(tmp_path, west, east):
    """The scene's longitudes run from 179.994 to -179.994; OGR read that box as the rest of the world, so an
    island on either side of 180 degrees was left unmasked ("no land polygon over the scene")."""
    from shapely.geometry import box

    island = _write_gpkg(tmp_path / "island.gpkg", [box(west, 0.499, east, 0.501)], "Polygon", crs="EPSG:4326")
    masked = apply_land_mask(open_scene(_antimeridian_scene(tmp_path), units="linear"), island)
    try:
        assert isinstance(masked, LandMaskedScene)
        _, valid = masked.read_sigma0(Window(0, 0, 64, 64))
    finally:
        masked.close()
    assert 0 < (~valid).sum() < 64 * 64 / 4


def test_a_geopackage_whose_first_layer_holds_lines_reads_its_polygon_layer(linear_tif, tmp_path):
    """A GeoPackage of coastlines (lines) and land (polygons) was refused as holding no polygon."""
    import fiona
    from shapely.geometry import LineString, box, mapping

    path = tmp_path / "coast.gpkg"
    for name, kind, geometry in [
        ("coast_lines", "LineString", LineString([(500000, 5999700), (500800, 5999700)])),
        ("land", "Polygon", box(499900, 5999000, 500400, 6000100)),
    ]:
        schema = {"geometry": kind, "properties": {}}
        with fiona.open(path, "w", driver="GPKG", crs="EPSG:32633", schema=schema, layer=name) as sink:
            sink.write({"geometry": mapping(geometry), "properties": {}})
    masked = apply_land_mask(open_scene(linear_tif), path)
    try:
        _, valid = masked.read_sigma0(Window(0, 0, 80, 64))
    finally:
        masked.close()
    assert not valid[:, :30].any() and valid[:, 50:].all()


def test_a_shapefile_without_its_shx_says_so(linear_tif, tmp_path):
    import fiona
    from shapely.geometry import box, mapping

    path = tmp_path / "land.shp"
    schema = {"geometry": "Polygon", "properties": {}}
    with fiona.open(path, "w", driver="ESRI Shapefile", crs="EPSG:32633", schema=schema) as sink:
        sink.write({"geometry": mapping(box(499900, 5999000, 500400, 6000100)), "properties": {}})
    path.with_suffix(".shx").unlink()
    scene = open_scene(linear_tif)
    try:
        with pytest.raises(InputError) as raised:
            apply_land_mask(scene, path)
    finally:
        scene.close()
    assert str(raised.value).startswith(f"--land-mask {path}: the Shapefile's .shx is missing; copy all the files")


@pytest.mark.parametrize("buffer_m", [-1.0, float("nan"), float("inf"), 1e300, 30_000.0])
def test_a_land_buffer_out_of_range_is_one_line(linear_tif, tmp_path, buffer_m):
    """1e300 m crashed (an internal error), 30 km took 1.5 GB for one 512-pixel tile: each window is read that wider."""
    from engine.io.landmask import check_land_mask

    layer = _write_polygon_layer(tmp_path / "land.geojson", LEFT_HALF)
    scene = open_scene(linear_tif)
    try:
        with pytest.raises(InputError, match=r"^--land-buffer-m must be 0 or more metres, at most 10000, got "):
            apply_land_mask(scene, layer, buffer_m)
    finally:
        scene.close()
    with pytest.raises(InputError, match=r"^--land-buffer-m must be 0 or more metres, at most 10000"):
        check_land_mask("none", buffer_m)


def test_a_land_mask_is_checked_without_the_scene(tmp_path):
    from shapely.geometry import LineString

    from engine.io.landmask import check_land_mask

    lines = _write_gpkg(tmp_path / "coast.gpkg", [LineString([(0, 0), (1, 1)])], "LineString")
    with pytest.raises(InputError, match="holds 1 LineString feature and no polygon"):
        check_land_mask(lines, 100.0)
    with pytest.raises(InputError, match="no such file"):
        check_land_mask(tmp_path / "missing.gpkg", 100.0)
    for fine in (None, "", "auto", "none", _write_polygon_layer(tmp_path / "land.geojson", LEFT_HALF)):
        check_land_mask(fine, 100.0)
