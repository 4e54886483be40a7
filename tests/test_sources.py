"""Possible source: a ship planted at one end of a slick is named, through the real vectoriser and rasters."""

import numpy as np
import pytest
from rasterio.transform import from_origin
from shapely.geometry import LineString

from engine.classes import OSD_CLASSES
from engine.io import open_scene
from engine.io.raster import write_raster
from engine.sources import link_sources, slick_ends
from engine.vectorize import PROB_SCALE, VectorizeResult, iter_spill_records

RUN = {"source_scene": "s", "detector": "test", "model_id": "m", "run_time": "2026-01-01T00:00:00+00:00"}
SLICK = (slice(95, 105), slice(50, 200))  # 3 km east-west at 20 m
END_SHIP = (slice(99, 102), slice(205, 208))  # 5-8 px beyond the slick's east end: about 0.15 km
FAR_SHIP = (slice(20, 23), slice(380, 383))  # about 3.9 km from the east end: inside the radius, but farther
PIXEL_M = 20.0


def detection_rasters(tmp_path, crs, transform):
    """Polygon-class, probability and σ0 rasters of one slick and two ships."""
    height, width = 200, 400
    classes = np.zeros((height, width), np.uint8)
    prob = np.zeros((5, height, width), np.uint8)
    prob[0] = PROB_SCALE
    db = np.full((height, width), -15.0, np.float32)
    classes[SLICK], prob[1][SLICK], db[SLICK] = 1, PROB_SCALE, -25.0
    for ship in (END_SHIP, FAR_SHIP):
        classes[ship], prob[3][ship], db[ship] = 3, PROB_SCALE, 5.0
    write_raster(tmp_path / "classes.tif", classes, crs, transform)
    write_raster(tmp_path / "prob.tif", prob, crs, transform, nodata=255)
    write_raster(tmp_path / "sigma0.tif", db, crs, transform, units="db")
    return tmp_path


def traced(folder, **reader):
    scene = open_scene(str(folder / "sigma0.tif"), **reader)
    try:
        result = VectorizeResult(counts={}, areas_km2={}, dropped_small=0, outlines=[])
        records = list(
            iter_spill_records(
                str(folder / "classes.tif"), str(folder / "prob.tif"), scene, OSD_CLASSES, 0.1, RUN, result
            )
        )
        return records, scene.info
    finally:
        scene.close()


def test_the_ship_at_the_slicks_end_is_its_possible_source(tmp_path):
    folder = detection_rasters(tmp_path, "EPSG:32633", from_origin(500000, 6000000, PIXEL_M, PIXEL_M))
    records, info = traced(folder)
    assert link_sources(records, info.crs, info.pixel_size_m) == 1
    (oil,) = [p for _, p in records if p["class"] == "oil"]
    end_ship = next(p for g, p in records if p["class"] == "ship" and g.centroid.x < 500000 + 250 * PIXEL_M)
    far_ship = next(p for g, p in records if p["class"] == "ship" and p is not end_ship)
    assert oil["source_id"] == end_ship["id"]
    # From a corner of the east end (200, 95|105) to the ship's centre (206.5, 100.5): 0.16-0.17 km, east-ish.
    assert 0.1 < oil["source_distance_km"] < 0.2
    assert 20 < oil["source_bearing_deg"] < 160
    assert end_ship["near_spill_id"] == oil["id"] and far_ship["near_spill_id"] is None
    assert far_ship["source_id"] is None and end_ship["source_distance_km"] is None


def test_no_ship_within_the_radius_means_no_source(tmp_path):
    folder = detection_rasters(tmp_path, "EPSG:32633", from_origin(500000, 6000000, PIXEL_M, PIXEL_M))
    records, info = traced(folder)
    assert link_sources(records, info.crs, info.pixel_size_m, max_km=0.05) == 0
    assert all(p["source_id"] is None and p["near_spill_id"] is None for _, p in records)


def test_without_a_crs_distances_come_from_the_pixel_size_and_bearings_from_grid_north(tmp_path):
    folder = detection_rasters(tmp_path, None, None)
    records, info = traced(folder, pixel_size_m=PIXEL_M)
    assert info.crs is None and link_sources(records, None, info.pixel_size_m) == 1
    oil = next(p for _, p in records if p["class"] == "oil")
    # The east end is a corner, (200, -95) or (200, -105); the ship's centre is (206.5, -100.5); 20 m pixels.
    corners = {
        (np.hypot(6.5, 5.5) * PIXEL_M / 1000, 180 - np.degrees(np.arctan2(6.5, 5.5))),
        (np.hypot(6.5, 4.5) * PIXEL_M / 1000, np.degrees(np.arctan2(6.5, 4.5))),
    }
    assert any(
        oil["source_distance_km"] == pytest.approx(km, abs=1e-3)
        and oil["source_bearing_deg"] == pytest.approx(bearing, abs=0.1)
        for km, bearing in corners
    )


def test_a_run_without_ships_leaves_the_source_fields_null(tmp_path):
    folder = detection_rasters(tmp_path, "EPSG:32633", from_origin(500000, 6000000, PIXEL_M, PIXEL_M))
    records, info = traced(folder)
    oil_only = [(g, p) for g, p in records if p["class"] == "oil"]
    assert link_sources(oil_only, info.crs, info.pixel_size_m) == 0
    assert oil_only[0][1]["source_id"] is None


def test_slick_ends_are_the_outline_extremes_along_its_axis():
    diagonal = LineString([(0, 0), (30, 30)]).buffer(1.0, cap_style="flat")
    points = np.asarray(diagonal.exterior.coords)
    ends = slick_ends(points, geographic=False)
    assert sorted(ends.sum(axis=1).round()) == pytest.approx([0.0, 60.0], abs=1.5)
