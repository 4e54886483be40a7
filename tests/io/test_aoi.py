"""``--aoi``: an area of interest placed on the scene, in its own CRS or another, and refused outside the scene."""

import json

import numpy as np
import pytest
from rasterio.warp import transform
from rasterio.windows import Window

from engine.errors import InputError
from engine.io import mask_scene, open_scene
from engine.io.aoi import AoiScene, parse_extent

# linear_tif: 80 x 64 px at 10 m, top-left corner (500000, 6000000) in UTM 33N (lon 15 E, lat 54.1 N).
# The east half of the scene, in UTM: x from 500400 (column 40) to past the edge.
EAST_HALF_UTM = (500400.0, 5999000.0, 501000.0, 6000100.0)


class CountingScene:
    """The real scene, counting the windows read from it (to prove tiles outside the area are never read)."""

    def __init__(self, scene):
        self.inner = scene
        self.info = scene.info
        self.reads = []

    def read_sigma0(self, window):
        self.reads.append(window)
        return self.inner.read_sigma0(window)

    def close(self):
        self.inner.close()


def _lonlat_extent(xmin, ymin, xmax, ymax):
    lons, lats = transform("EPSG:32633", "EPSG:4326", [xmin, xmax, xmin, xmax], [ymin, ymin, ymax, ymax])
    return min(lons), min(lats), max(lons), max(lats)


def test_extent_in_the_scene_crs_keeps_the_pixels_inside(linear_tif):
    scene = open_scene(linear_tif, aoi=",".join(map(str, EAST_HALF_UTM)) + ",EPSG:32633")
    try:
        values, valid = scene.read_sigma0(Window(0, 0, 80, 64))
        assert scene.info.metadata["aoi"]["polygons"] == 1
    finally:
        scene.close()
    assert not valid[:, :40].any() and valid[:, 40:].all()
    assert not values[:, :40].any() and values[:, 40:].all()


def test_extent_without_a_crs_is_longitude_latitude(linear_tif):
    lon0, lat0, lon1, lat1 = _lonlat_extent(*EAST_HALF_UTM)
    # A lon/lat box around the east half is not a rectangle in UTM: its edge columns are within a pixel of 40.
    scene = open_scene(linear_tif, aoi=f"{lon0 + 1e-4},{lat0},{lon1},{lat1}")
    try:
        _, valid = scene.read_sigma0(Window(0, 0, 80, 64))
    finally:
        scene.close()
    assert not valid[:, :38].any() and valid[:, 43:].all()


def test_polygon_layer_in_another_crs(linear_tif, tmp_path):
    xmin, ymin, xmax, ymax = EAST_HALF_UTM
    xs, ys = transform("EPSG:32633", "EPSG:3857", [xmin, xmax, xmax, xmin, xmin], [ymax, ymax, ymin, ymin, ymax])
    layer = tmp_path / "aoi.geojson"
    layer.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in zip(xs, ys)]]},
                    }
                ],
            }
        )
    )
    scene = open_scene(linear_tif, aoi=layer)
    try:
        _, valid = scene.read_sigma0(Window(0, 0, 80, 64))
    finally:
        scene.close()
    assert not valid[:, :39].any() and valid[:, 41:].all()


def test_windows_outside_the_area_are_never_read(linear_tif):
    counting = CountingScene(open_scene(linear_tif))
    scene = mask_scene(counting, aoi=",".join(map(str, EAST_HALF_UTM)) + ",EPSG:32633")
    try:
        values, valid = scene.read_sigma0(Window(0, 0, 30, 64))  # wholly west of column 40
        assert counting.reads == [] and not valid.any() and values.shape == (64, 30)
        scene.read_sigma0(Window(30, 0, 20, 64))  # straddles the edge: read once
        assert len(counting.reads) == 1
        assert isinstance(scene, AoiScene) and scene.reads_skipped == 1
    finally:
        scene.close()


@pytest.mark.parametrize("aoi", ["20.0,36.0,20.1,36.1", "600000,7000000,600100,7000100,EPSG:32633"])
def test_area_outside_the_scene_is_one_line_error(linear_tif, aoi):
    with pytest.raises(InputError, match=r"--aoi .*lies outside the scene .*linear.tif; give an area that overlaps"):
        open_scene(linear_tif, aoi=aoi)


@pytest.mark.parametrize(
    ("kind", "held"),
    [
        ("Point", "holds 2 Point features and no polygon"),
        ("LineString", "holds 1 LineString feature and no polygon"),
        ("empty", "holds no features at all"),
    ],
)
def test_an_area_without_any_polygon_says_so_not_that_it_lies_outside(linear_tif, tmp_path, kind, held):
    """Points on the scene are not "outside the scene": the analyst must draw an area, not move it."""
    import fiona
    from shapely.geometry import LineString, Point, mapping

    inside = {
        "Point": [Point(500300, 5999700), Point(500500, 5999600)],
        "LineString": [LineString([(500100, 5999700), (500700, 5999500)])],
        "empty": [],
    }[kind]
    layer = tmp_path / "area.gpkg"
    schema = {"geometry": "Polygon" if kind == "empty" else kind, "properties": {}}
    with fiona.open(layer, "w", driver="GPKG", crs="EPSG:32633", schema=schema) as sink:
        for geometry in inside:
            sink.write({"geometry": mapping(geometry), "properties": {}})
    with pytest.raises(InputError) as raised:
        open_scene(linear_tif, aoi=layer)
    message = str(raised.value)
    assert message.startswith(f"--aoi {layer}: {held}; an area of interest needs polygons")
    assert "outside" not in message and "\n" not in message


def test_the_area_knows_whether_a_pixel_was_valid_before_it(tmp_path):
    """What lets a run left with no pixel blame the area only when the area removed something."""
    from engine.io.raster import write_raster

    from .conftest import UTM33, UTM_TRANSFORM

    values = np.full((64, 80), 0.05, np.float32)
    values[:, :45] = 0  # nodata under the east half's first columns and everything west
    path = write_raster(tmp_path / "half.tif", values, UTM33, UTM_TRANSFORM)
    area = ",".join(map(str, EAST_HALF_UTM)) + ",EPSG:32633"
    scene = open_scene(path, units="linear", aoi=area)
    try:
        scene.read_sigma0(Window(0, 0, 44, 64))  # meets the area, nothing valid there
        assert isinstance(scene, AoiScene) and not scene.valid_before_aoi
        scene.read_sigma0(Window(40, 0, 40, 64))
        assert scene.valid_before_aoi
    finally:
        scene.close()


@pytest.mark.parametrize(
    ("aoi", "message"),
    [
        ("not-a-file.gpkg", "no such file, and not an extent"),
        ("1,2,3", "no such file, and not an extent"),
        ("15.1,54,15.0,54.2", "xmin must be less than xmax"),
        ("15,54,15.1,54.2,EPSG:999999", "is not a coordinate system"),
    ],
)
def test_bad_areas_are_one_line_errors(linear_tif, aoi, message):
    with pytest.raises(InputError, match=message) as raised:
        open_scene(linear_tif, aoi=aoi)
    assert "\n" not in str(raised.value)


def test_parse_extent_reads_numbers_and_a_crs():
    (box, crs) = parse_extent(" 1e3, -2.5 ,3000,4 , EPSG:32633 ")
    assert box == (1000.0, -2.5, 3000.0, 4.0) and crs.to_epsg() == 32633
    assert parse_extent("a,b,c,d") is None
    assert parse_extent("0,0,1,1")[1].to_epsg() == 4326


def test_an_area_needs_a_georeferenced_scene(tmp_path):
    from engine.io.raster import write_raster

    path = write_raster(tmp_path / "pixels.tif", np.full((16, 16), 0.05, np.float32), None, None)
    with pytest.raises(InputError, match="no coordinate system, so --aoi cannot be placed"):
        open_scene(path, units="linear", aoi="0,0,1,1")


def test_an_extent_across_the_antimeridian_is_read_as_the_narrow_box():
    """179.9 to -179.9 was refused ("xmin must be less than xmax"); a swapped pair spans most of the globe, and is
    still refused."""
    (box, crs) = parse_extent("179.9,-1,-179.9,1")
    assert box == pytest.approx((179.9, -1.0, 180.1, 1.0)) and crs.is_geographic
    with pytest.raises(InputError, match="xmin must be less than xmax"):
        parse_extent("15.1,54,15.0,54.2")
    with pytest.raises(InputError, match="xmin must be less than xmax"):
        parse_extent("600000,0,500000,1,EPSG:32633")


def _antimeridian_scene(tmp_path):
    """A 64 x 64 px scene at 20 m in UTM 60N whose middle column lies on the antimeridian (180 E, 0.5 N)."""
    from rasterio.transform import from_origin

    from engine.io.raster import write_raster

    xs, ys = transform("EPSG:4326", "EPSG:32660", [180.0], [0.5])
    values = np.full((64, 64), 0.05, np.float32)
    return write_raster(
        tmp_path / "antimeridian.tif", values, "EPSG:32660", from_origin(xs[0] - 32 * 20, ys[0] + 32 * 20, 20, 20)
    )


def test_an_area_across_the_antimeridian_is_placed(tmp_path):
    """A multipolygon in two halves either side of 180 degrees, and the same as an extent, were "outside the
    scene" (the layer was searched over the rest of the world)."""
    import fiona
    from shapely.geometry import MultiPolygon, box, mapping

    halves = MultiPolygon([box(179.997, 0.499, 180.0, 0.501), box(-180.0, 0.499, -179.997, 0.501)])
    path = tmp_path / "area.gpkg"
    with fiona.open(
        path, "w", driver="GPKG", crs="EPSG:4326", schema={"geometry": "MultiPolygon", "properties": {}}
    ) as sink:
        sink.write({"geometry": mapping(halves), "properties": {}})
    for aoi in (path, "179.997,0.499,-179.997,0.501"):
        scene = open_scene(_antimeridian_scene(tmp_path), units="linear", aoi=aoi)
        try:
            _, valid = scene.read_sigma0(Window(0, 0, 64, 64))
        finally:
            scene.close()
        cols = np.flatnonzero(valid.any(axis=0))
        assert cols.min() < 32 < cols.max(), aoi  # both sides of the antimeridian
        assert 0 < valid.sum() < 64 * 64 / 2


def test_an_area_is_checked_without_the_scene(tmp_path):
    import fiona

    from engine.io.aoi import check_aoi

    points = tmp_path / "points.gpkg"
    with fiona.open(points, "w", driver="GPKG", crs="EPSG:4326", schema={"geometry": "Point", "properties": {}}) as f:
        f.write({"geometry": {"type": "Point", "coordinates": (15.0, 54.0)}, "properties": {}})
    with pytest.raises(InputError, match="holds 1 Point feature and no polygon"):
        check_aoi(points)
    with pytest.raises(InputError, match="no such file, and not an extent"):
        check_aoi("1,2,3")
    check_aoi("15,54,15.1,54.2")
