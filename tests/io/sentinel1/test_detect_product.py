"""A product straight into ``dakd info`` and ``dakd detect`` (the dispatch, options and metadata of issue 7)."""

import json

import fiona
import numpy as np
import pytest
from shapely.geometry import shape

from engine.cli import main
from engine.io.sentinel1 import open_product


def test_info_on_a_zipped_product(crop_product, kit, tmp_path, capsys):
    archive = kit.zip_product(crop_product, tmp_path / f"{kit.SAFE_NAME[:-5]}.zip")
    assert main(["info", str(archive), "--pol", "vv", "--geometry", "radar", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["scene_id"] == kit.SAFE_NAME[:-5] and described["crs"] == "EPSG:32633"
    assert (described["width"], described["height"]) == (2613, 2006)
    assert described["metadata"]["acquisition_start"] == "2021-12-23T05:11:22.594441Z"
    assert described["metadata"]["platform"] == "Sentinel-1B" and described["metadata"]["geometry"] == "radar"


def test_product_options_are_refused_for_rasters(tmp_path, capsys):
    from engine.io.raster import write_raster

    tif = write_raster(
        tmp_path / "scene.tif", np.full((8, 8), 0.05, np.float32), "EPSG:32633", (10, 0, 500000, 0, -10, 6000000)
    )
    assert main(["info", str(tif), "--geometry", "radar"]) == 2
    assert "--geometry only apply to Sentinel-1 products" in capsys.readouterr().err


def test_detect_in_radar_geometry_places_the_slick_by_the_gcps(crop_product, tmp_path):
    """The dark patch (radar lines 900-1000, pixels 1200-1500) is found where the GCP spline puts it."""
    out = tmp_path / "run"
    assert (
        main(
            [
                "--progress",
                "none",
                "detect",
                str(crop_product),
                "--out",
                str(out),
                "--method",
                "threshold",
                "--geometry",
                "radar",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["metadata"]["product_id"] == summary["input"]["scene_id"]
    with fiona.open(out / "spills.gpkg") as layer:
        assert layer.crs.to_epsg() == 32633
        oil = [f for f in layer if f.properties["class"] == "oil"]
    assert len(oil) == 1
    props = oil[0].properties
    assert props["source_scene"].startswith("S1B_IW_GRDH_1SDV_20211223T051122")
    assert props["acquisition_time"] == "2021-12-23T05:11:22.594441Z"
    with open_product(crop_product, geometry="radar") as scene:
        east, north = scene.pixel_to_map(np.array([1350.0]), np.array([950.0]))
        lon, lat = scene.geocoder.radar_to_lonlat(np.array([1350.0]), np.array([950.0]))
    centroid = shape(oil[0].geometry).centroid
    assert abs(centroid.x - east[0]) < 60 and abs(centroid.y - north[0]) < 60  # within a few pixels of the patch
    assert abs(props["centroid_lon"] - lon[0]) < 1e-3 and abs(props["centroid_lat"] - lat[0]) < 1e-3


def test_a_known_wind_direction_gives_one_speed_at_the_annotations_incidence(crop_product, tmp_path):
    """Issue 15 item 2: with --wind-dir the slick gets one wind speed, at the incidence the annotation gives there."""
    out = tmp_path / "run"
    assert (
        main(
            [
                "--progress",
                "none",
                "detect",
                str(crop_product),
                "--out",
                str(out),
                "--method",
                "threshold",
                "--geometry",
                "radar",
                "--wind-dir",
                "90",
            ]
        )
        == 0
    )
    with fiona.open(out / "spills.gpkg") as layer:
        (props,) = [f.properties for f in layer if f.properties["class"] == "oil"]
    with open_product(crop_product, geometry="radar") as scene:
        (incidence,), _ = scene.viewing_geometry(np.array([1350.0]), np.array([950.0]))
    assert props["incidence_deg"] == pytest.approx(incidence, abs=0.1)  # the patch's centre, 31-32° in IW1
    assert props["wind_speed_ms"] is not None
    assert props["wind_speed_min_ms"] == props["wind_speed_ms"] == props["wind_speed_max_ms"]
    summary = json.loads((out / "summary.json").read_text())
    assert "from the Sentinel-1 annotation" in summary["wind"]["method"] and "wind from 90" in summary["wind"]["method"]
    assert "report.html" in {p.name for p in out.iterdir()}
