"""The real product's metadata with a generated measurement, under ``--land-mask auto`` and ``--aoi`` (issue 15).

The real product (S1B, 2021-12-23, descending) spans central Italy from the Tyrrhenian to the Adriatic: its
radar-geometry grid puts the Apennines inland and the top-left crop in the open Adriatic.
"""

import importlib.util
import json

import numpy as np
import pytest
from rasterio.windows import Window

from engine.cli import main
from engine.io import open_scene

needs_coastline = pytest.mark.skipif(
    importlib.util.find_spec("roaring_landmask") is None,
    reason="roaring-landmask is not installed (make install installs it)",
)


@needs_coastline
@pytest.mark.parametrize("geometry", ["radar", "utm"])
def test_auto_land_mask_follows_the_product_geolocation(full_product, geometry):
    scene = open_scene(full_product, land_mask="auto", geometry=geometry)
    try:
        assert scene.info.metadata["land_mask"]["coast_in_scene"]
        if geometry == "radar":  # line 8000, pixel 13000: 41.8 N 13.8 E (Abruzzo, inland); line 200, pixel 200: sea
            inland, sea = Window(13000, 8000, 64, 64), Window(200, 200, 64, 64)
        else:
            cols, rows = _pixels(scene, [13.6, 15.25], [41.85, 42.35])  # the same two places
            inland, sea = (Window(int(c) - 32, int(r) - 32, 64, 64) for c, r in zip(cols, rows))
        assert scene.land(inland).all()
        assert not scene.land(sea).any()
        values, valid = scene.read_sigma0(inland)
        assert not valid.any() and not values.any()
    finally:
        scene.close()


def _pixels(scene, lons, lats):
    """Scene pixels of longitudes/latitudes, through the scene's own map -> pixel mapping."""
    from rasterio.warp import transform

    xs, ys = transform("EPSG:4326", scene.map_crs, lons, lats)
    return scene.map_to_pixel(np.array(xs), np.array(ys))


def test_crop_in_the_open_adriatic_runs_with_auto_and_says_why_nothing_is_masked(crop_product, tmp_path):
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
                "--land-mask",
                "auto",
            ]
        )
        == 0
    )
    land_mask = json.loads((out / "summary.json").read_text())["land_mask"]
    assert land_mask["mode"] == "auto" and land_mask["reason"]
    if importlib.util.find_spec("roaring_landmask") is not None:
        assert land_mask["used"] and not land_mask["coast_in_scene"]


def test_aoi_in_longitude_latitude_on_the_radar_grid(crop_product, tmp_path):
    """An extent around the dark patch (radar lines 900-1000, pixels 1200-1500): the only tiles read are there."""
    with open_scene(crop_product, geometry="radar") as scene:
        lons, lats = scene.geocoder.radar_to_lonlat(np.array([1100.0, 1600.0]), np.array([800.0, 1100.0]))
    extent = f"{min(lons)},{min(lats)},{max(lons)},{max(lats)}"
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
                "--land-mask",
                "none",
                "--aoi",
                extent,
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["oil"] == 1
    assert summary["tiling"]["tiles_skipped"] >= summary["tiling"]["tiles_total"] - 12
    assert summary["valid_fraction"] < 0.1
