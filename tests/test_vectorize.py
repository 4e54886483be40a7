import math

import numpy as np
import pytest
from affine import Affine
from rasterio.transform import from_origin
from shapely import affinity
from shapely.geometry import Polygon, box

from engine.classes import OSD_CLASSES
from engine.io import open_scene
from engine.io.raster import geographic_pixel_size_m, write_raster
from engine.vectorize import (
    PROB_SCALE,
    VectorizeResult,
    confidence,
    iter_regions,
    iter_spill_records,
    shape_measures,
    ship_length_m,
)

RUN = {"source_scene": "scene-1", "detector": "test", "model_id": "m-1", "run_time": "2026-01-01T00:00:00+00:00"}
OIL_RECT = (slice(20, 50), slice(30, 70))  # 30 rows x 40 columns
SMALL_OIL = (slice(80, 85), slice(10, 15))
SHIP = (slice(90, 92), slice(100, 102))
LONE_PIXEL_SHIP = (100, 140)


def write_detection(tmp_path, crs, transform):
    """Polygon-class, probability and σ0 rasters with hand-made regions; returns their paths and the scene."""
    height, width = 120, 150
    classes = np.zeros((height, width), np.uint8)
    classes[OIL_RECT] = 1
    classes[SMALL_OIL] = 1
    classes[SHIP] = 3
    classes[LONE_PIXEL_SHIP] = 3
    prob = np.zeros((5, height, width), np.uint8)
    prob[0] = PROB_SCALE
    prob[1][OIL_RECT] = round(0.9 * PROB_SCALE)
    prob[1][SMALL_OIL] = PROB_SCALE
    prob[3][SHIP] = round(0.6 * PROB_SCALE)
    prob[3][LONE_PIXEL_SHIP] = PROB_SCALE
    db = np.full((height, width), -15.0, np.float32)
    db[OIL_RECT] = -25.0
    db[SHIP] = 0.0
    paths = {
        "classes": write_raster(tmp_path / "classes.tif", classes, crs, transform),
        "prob": write_raster(tmp_path / "prob.tif", prob, crs, transform, nodata=255),
        "sigma0": write_raster(tmp_path / "sigma0.tif", db, crs, transform),
    }
    return paths, open_scene(paths["sigma0"])


def vectorise(paths, scene, min_area_km2=0.1):
    result = VectorizeResult(counts={}, areas_km2={}, dropped_small=0, outlines=[])
    records = list(
        iter_spill_records(str(paths["classes"]), str(paths["prob"]), scene, OSD_CLASSES, min_area_km2, RUN, result)
    )
    return records, result


def by_class(records):
    return {props["class"]: (geometry, props) for geometry, props in records}


def test_regions_come_back_in_pixel_coordinates_for_georeferenced_rasters(tmp_path):
    # GDAL's polygonize georeferences band sources itself; iter_regions must undo that.
    paths, scene = write_detection(tmp_path, "EPSG:32633", from_origin(500000, 6000000, 10, 10))
    regions = {value: geometry for geometry, value in iter_regions(str(paths["classes"])) if geometry.area > 100}
    assert regions[1].equals(box(30, 20, 70, 50))
    scene.close()


def test_projected_attributes_by_hand(tmp_path):
    paths, scene = write_detection(tmp_path, "EPSG:32633", from_origin(500000, 6000000, 10, 10))
    records, result = vectorise(paths, scene)
    scene.close()
    found = by_class(records)
    assert sorted(found) == ["oil", "ship"]  # the 25 px oil and the 1 px ship are dropped
    assert result.dropped_small == 2
    geometry, oil = found["oil"]
    assert geometry.equals(box(500300, 6000000 - 500, 500700, 6000000 - 200))  # in the input CRS
    assert oil["area_km2"] == pytest.approx(0.12)
    assert oil["pixels"] == 1200
    assert oil["length_km"] == pytest.approx(0.4) and oil["width_km"] == pytest.approx(0.3)
    assert oil["perimeter_km"] == pytest.approx(1.4)
    assert oil["orientation_deg"] == pytest.approx(90.0)  # long side runs east-west
    assert oil["mean_prob"] == pytest.approx(0.9) and oil["max_prob"] == pytest.approx(0.9)
    assert oil["contrast_db"] == pytest.approx(-10.0, abs=0.01)
    assert oil["confidence"] == "A"
    # 500 m east of zone 33's central meridian (15°E): 500 m / (111.32 km * cos 54.1°) = 0.0077°;
    # northing 5 999 650 m / k0 0.9996 = 6 002 051 m of meridian arc, i.e. 54.14°N.
    assert oil["centroid_lon"] == pytest.approx(15.0077, abs=2e-4)
    assert oil["centroid_lat"] == pytest.approx(54.14, abs=0.01)
    assert {k: oil[k] for k in RUN} == RUN and oil["id"] == 1
    _, ship = found["ship"]
    assert ship["pixels"] == 4 and ship["area_km2"] == pytest.approx(0.0004)
    assert ship["contrast_db"] == pytest.approx(15.0, abs=0.01)
    assert ship["mean_prob"] == pytest.approx(0.6)
    assert ship["confidence"] == "B"  # bright enough, but not probable enough
    assert ship["ship_length_m"] == pytest.approx(20.0) and oil["ship_length_m"] is None  # 2 px of 10 m
    assert result.counts == {"oil": 1, "ship": 1}
    assert result.areas_km2["oil"] == pytest.approx(0.12)
    assert [name for name, _ in result.outlines] == ["oil", "ship"]


def test_min_area_applies_to_oil_not_ships(tmp_path):
    paths, scene = write_detection(tmp_path, "EPSG:32633", from_origin(500000, 6000000, 10, 10))
    records, _ = vectorise(paths, scene, min_area_km2=0.002)
    scene.close()
    oils = [p for _, p in records if p["class"] == "oil"]
    assert sorted(p["pixels"] for p in oils) == [25, 1200]
    records, _ = vectorise(paths, scene := open_scene(paths["sigma0"]), min_area_km2=1.0)
    scene.close()
    assert [p["class"] for _, p in records] == ["ship"]


def test_geographic_crs_areas_are_in_metres(tmp_path):
    transform = from_origin(10.0, 60.01, 0.0002, 0.0001)
    paths, scene = write_detection(tmp_path, "EPSG:4326", transform)
    records, _ = vectorise(paths, scene)
    scene.close()
    _, oil = by_class(records)["oil"]
    lat = 60.01 - 0.0001 * 35
    size_x, size_y = geographic_pixel_size_m(lat, 0.0002, 0.0001)
    assert oil["area_km2"] == pytest.approx(1200 * size_x * size_y / 1e6, rel=2e-3)
    assert oil["length_km"] == pytest.approx(40 * size_x / 1000, rel=2e-3)
    assert oil["width_km"] == pytest.approx(30 * size_y / 1000, rel=2e-3)
    assert oil["centroid_lat"] == pytest.approx(lat, abs=1e-6)
    assert oil["centroid_lon"] == pytest.approx(10.0 + 0.0002 * 50, abs=1e-6)


def test_web_mercator_areas_are_ground_areas(tmp_path):
    # EPSG:3857 at 60°N: 20 CRS metres are 10 ground metres, so its own metres made areas four times too large.
    north = 6378137.0 * math.log(math.tan(math.radians(45 + 60 / 2)))
    paths, scene = write_detection(tmp_path, "EPSG:3857", from_origin(1.5e6, north, 20, 20))
    records, _ = vectorise(paths, scene)
    scene.close()
    _, oil = by_class(records)["oil"]
    lat = oil["centroid_lat"]
    assert lat == pytest.approx(60.0 - 35 * 20 * math.cos(math.radians(60)) / 111_400, abs=1e-3)
    step_deg = math.degrees(20 / 6378137.0)
    size_x, size_y = geographic_pixel_size_m(lat, step_deg, step_deg * math.cos(math.radians(lat)))
    assert oil["area_km2"] == pytest.approx(1200 * size_x * size_y / 1e6, rel=2e-3)  # about 0.12, not 0.48
    assert oil["length_km"] == pytest.approx(40 * size_x / 1000, rel=2e-3)
    assert oil["width_km"] == pytest.approx(30 * size_y / 1000, rel=2e-3)


@pytest.mark.parametrize(
    "west, expected_lon", [(179.995, -179.995), (-180.015, 179.995), (359.995, 0.005), (170.0, 170.01)]
)
def test_centroid_longitude_is_wrapped_to_minus_180_to_180(tmp_path, west, expected_lon):
    # The oil rectangle's centroid lies 50 columns of 0.0002° east of the raster's west edge: 180.005 at first.
    paths, scene = write_detection(tmp_path, "EPSG:4326", from_origin(west, 60.01, 0.0002, 0.0001))
    records, _ = vectorise(paths, scene)
    scene.close()
    _, oil = by_class(records)["oil"]
    assert oil["centroid_lon"] == pytest.approx(expected_lon, abs=1e-6)
    assert oil["area_km2"] > 0 and oil["centroid_lat"] == pytest.approx(60.01 - 0.0001 * 35, abs=1e-6)


def test_no_crs_uses_pixel_coordinates_as_qgis_shows_them(tmp_path):
    paths, scene = write_detection(tmp_path, None, None)
    records, _ = vectorise(paths, scene)
    scene.close()
    geometry, oil = by_class(records)["oil"]
    assert geometry.equals(box(30, -50, 70, -20))  # x = column, y = -row
    assert oil["area_km2"] == pytest.approx(0.12)  # with the assumed 10 m pixels
    assert oil["centroid_lat"] is None and oil["centroid_lon"] is None


@pytest.mark.parametrize("crs", ["EPSG:32633", "EPSG:4326"])
def test_a_turned_grid_reports_ground_areas_and_lengths(tmp_path, crs):
    """10 m pixels turned by 10° (b, d != 0): a 100 x 100 px slick is 1 km², a hull of 12 px 120 m.

    In EPSG:4326 at 60° N the pixel size came out 9.89 x 10.44 m (hypot(a, d) in degrees): the hull was 118.7 m
    long and the background windows 1 % too wide. The areas, measured on the outline, were right already.
    """
    c, s = math.cos(math.radians(10.0)), math.sin(math.radians(10.0))
    centre, per_m = (500000.0, 6000000.0), (1.0, 1.0)
    if crs == "EPSG:4326":
        east_per_deg, north_per_deg = geographic_pixel_size_m(60.0, 1.0, 1.0)
        centre, per_m = (15.0, 60.0), (1 / east_per_deg, 1 / north_per_deg)
    linear = Affine(10 * c * per_m[0], 10 * s * per_m[0], 0.0, 10 * s * per_m[1], -10 * c * per_m[1], 0.0)
    x0, y0 = linear @ (60, 60)
    transform = Affine.translation(centre[0] - x0, centre[1] - y0) * linear
    classes = np.zeros((120, 120), np.uint8)
    classes[10:110, 10:110] = 1
    prob = np.zeros((5, 120, 120), np.uint8)
    prob[0], prob[1][10:110, 10:110] = PROB_SCALE, PROB_SCALE
    db = np.full((120, 120), -15.0, np.float32)
    db[10:110, 10:110] = -25.0
    db[112:114, 20:32] = 10.0  # a hull 12 px long, 2 px wide
    paths = {
        "classes": write_raster(tmp_path / "classes.tif", classes, crs, transform),
        "prob": write_raster(tmp_path / "prob.tif", prob, crs, transform, nodata=255),
        "sigma0": write_raster(tmp_path / "sigma0.tif", db, crs, transform),
    }
    with open_scene(paths["sigma0"]) as scene:
        assert scene.info.pixel_size_m == pytest.approx((10.0, 10.0), rel=1e-6)
        records, result = vectorise(paths, scene)
        assert ship_length_m(box(20, 112, 32, 114), scene) == pytest.approx(120.0, rel=1e-6)
    _, oil = by_class(records)["oil"]
    assert oil["pixels"] == 10000 and oil["area_km2"] == pytest.approx(1.0, rel=1e-3)
    assert oil["length_km"] == pytest.approx(1.0, rel=1e-3) and oil["width_km"] == pytest.approx(1.0, rel=1e-3)
    assert result.areas_km2["oil"] == pytest.approx(1.0, rel=1e-3)


def test_ship_length_is_the_spread_of_the_hull_without_the_sidelobe_cross(tmp_path):
    db = np.full((100, 100), -20.0, np.float32)
    db[50:52, 40:52] = 10.0  # the hull: 12 x 2 px of 10 m, 30 dB above the sea
    db[50:52, 30:40] = db[50:52, 52:71] = -8.0  # sidelobe arms 18 dB below the peak, still 12 dB above the sea
    scene = open_scene(write_raster(tmp_path / "ship.tif", db, "EPSG:32633", from_origin(500000, 6000000, 10, 10)))
    hull = box(40, 50, 52, 52)
    # A bar of n pixels of size d has variance d²(n² - 1) / 12 along it: 12 px of 10 m give exactly 120 m.
    assert ship_length_m(hull, scene) == pytest.approx(120.0)
    assert ship_length_m(box(30, 50, 71, 52), scene) == pytest.approx(120.0)  # the faint arms are left out
    db[50:52, 52:56] = 0.0  # a weaker stern, 10 dB below the peak: within 16 dB, so part of the hull
    longer = open_scene(write_raster(tmp_path / "longer.tif", db, "EPSG:32633", from_origin(500000, 6000000, 10, 10)))
    assert ship_length_m(box(30, 50, 71, 52), longer) == pytest.approx(160.0)
    longer.close()
    assert ship_length_m(box(200, 200, 210, 210), scene) is None  # outside the scene
    scene.close()


def test_orientation_of_a_rotated_rectangle():
    rectangle = box(-1000, -100, 1000, 100)  # 2 km east-west
    for bearing in (0, 30, 90, 135):
        rotated = affinity.rotate(rectangle, 90 - bearing, origin=(0, 0))  # counter-clockwise from east
        measures = shape_measures(rotated)
        assert measures["orientation_deg"] == pytest.approx(bearing % 180, abs=0.01)
        assert measures["length_km"] == pytest.approx(2.0) and measures["width_km"] == pytest.approx(0.2)
    triangle = Polygon([(0, 0), (3000, 0), (0, 4000)])
    assert shape_measures(triangle)["perimeter_km"] == pytest.approx(12.0)
    assert math.isfinite(shape_measures(triangle)["width_km"])


def test_confidence_rule():
    assert confidence("oil", 0.85, -4.0) == "A"
    assert confidence("oil", 0.85, -2.0) == "B"  # not dark enough
    assert confidence("oil", 0.7, -10.0) == "B"  # not probable enough
    assert confidence("look-alike", 0.9, -3.0) == "A"
    assert confidence("ship", 0.9, 8.0) == "A"
    assert confidence("ship", 0.9, -8.0) == "B"  # a dark "ship" is not convincing
    assert confidence("oil", None, None) == "B"
