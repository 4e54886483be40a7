"""``dakd detect --land-mask auto`` and ``--aoi`` end to end (issue 15, items 1 and 4).

A simulated scene placed on a real coast (Marseille) and the bundled sample are detected with the default
``--land-mask auto``; the real product's metadata with a generated measurement is in
``tests/io/sentinel1/test_land_aoi.py``. Tests that need the coastline skip where ``roaring-landmask`` is not
installed.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform
from rasterio.windows import Window

from engine.cli import main
from engine.io import open_scene

from .conftest import SEA_ORIGIN, speckled_sea, write_scene
from .test_detect import assert_refused, detect

REPO = Path(__file__).resolve().parents[2]
needs_coastline = pytest.mark.skipif(
    importlib.util.find_spec("roaring_landmask") is None,
    reason="roaring-landmask is not installed (make install installs it)",
)


def _simulate_at_marseille(tmp_path, size=384):
    """A simulated scene with its own (simulated) coast, placed with its corner at 5.34 E, 43.31 N."""
    xs, ys = transform("EPSG:4326", "EPSG:32631", [5.34], [43.31])
    code = main(
        [
            "--progress",
            "none",
            "simulate",
            "--size",
            str(size),
            str(size),
            "--seed",
            "5",
            "--out",
            str(tmp_path / "sim"),
            "--name",
            "coast",
            "--no-quicklook",
            "--land-probability",
            "1",
            "--nodata-probability",
            "0",
            "--set",
            "utm_epsg=32631",
            "--set",
            f"origin_easting_m={round(xs[0])}",
            "--set",
            f"origin_northing_m={round(ys[0])}",
        ]
    )
    assert code == 0
    return tmp_path / "sim" / "coast_scene.tif"


@needs_coastline
def test_simulated_scene_on_a_real_coast_masks_the_land_by_default(tmp_path, capsys):
    scene_path = _simulate_at_marseille(tmp_path)
    out = tmp_path / "run"
    code, _, err = detect(capsys, scene_path, "--out", out, "--method", "threshold")  # no --land-mask: auto
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    land_mask = summary["land_mask"]
    assert land_mask["mode"] == "auto" and land_mask["used"] and land_mask["coast_in_scene"]
    assert land_mask["buffer_m"] == 100 and "OpenStreetMap" in land_mask["source"] and land_mask["reason"]
    with rasterio.open(out / "classes.tif") as classes:
        masked = classes.read(1) == 255
    scene = open_scene(scene_path, land_mask="auto", land_buffer_m=100)
    try:
        land = scene.land(Window(0, 0, 384, 384))
    finally:
        scene.close()
    assert 0.05 < land.mean() < 0.95
    assert np.array_equal(masked, land)  # every land pixel, and only those, is masked


@needs_coastline
def test_land_mask_none_keeps_the_coast(tmp_path, capsys):
    scene_path = _simulate_at_marseille(tmp_path, size=128)
    out = tmp_path / "run"
    code, _, err = detect(capsys, scene_path, "--out", out, "--method", "threshold", "--land-mask", "none")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["land_mask"] == {"mode": "none", "used": False, "reason": "--land-mask none"}
    assert summary["valid_fraction"] == 1.0


@pytest.mark.slow
def test_bundled_sample_with_auto_land_is_class_land_and_the_reason_is_recorded(tmp_path, capsys):
    """The sample lies in the open Ionian Sea: the coastline has nothing there, the model's land class does."""
    sample = REPO / "resources" / "sample"
    out = tmp_path / "run"
    code, _, err = detect(capsys, sample / "sample_scene.tif", "--out", out, "--land-mask", "auto")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    land_mask = summary["land_mask"]
    assert land_mask["mode"] == "auto" and land_mask["reason"]
    if importlib.util.find_spec("roaring_landmask") is not None:
        assert land_mask["used"] and not land_mask["coast_in_scene"]
        assert "no coast within the scene" in land_mask["reason"]
    else:
        assert not land_mask["used"] and "not installed" in land_mask["reason"]
    with rasterio.open(sample / "sample_labels.tif") as labels, rasterio.open(out / "classes.tif") as classes:
        truth, predicted = labels.read(1), classes.read(1)
    land = truth == 4
    assert land.sum() > 10_000
    # Class land or masked: 43 % with the default model of 2026-12-05 (its land class is the limit here; the
    # coastline has no land at this place). The floor catches a run where land stops being land altogether.
    assert ((predicted[land] == 4) | (predicted[land] == 255)).mean() >= 0.35


def test_aoi_in_another_crs_reads_only_its_tiles(tmp_path, capsys):
    path = write_scene(tmp_path / "scene.tif", speckled_sea(600, 600))  # UTM 33N, corner SEA_ORIGIN
    # The top-left 150 x 150 px in Web Mercator (EPSG:3857): one tile of nine, and parts of its neighbours.
    east, north = SEA_ORIGIN
    xs, ys = transform("EPSG:32633", "EPSG:3857", [east, east + 1500], [north - 1500, north])
    out = tmp_path / "run"
    code, _, err = detect(
        capsys,
        path,
        "--out",
        out,
        "--method",
        "threshold",
        "--land-mask",
        "none",
        "--aoi",
        f"{xs[0]},{ys[0]},{xs[1]},{ys[1]},EPSG:3857",
    )
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["aoi"]["source"].endswith("EPSG:3857") and summary["aoi"]["polygons"] == 1
    assert summary["tiling"]["tiles_skipped"] >= summary["tiling"]["tiles_total"] - 4
    with rasterio.open(out / "classes.tif") as classes:
        valid = classes.read(1) != 255
    assert valid[2:148, 2:148].all() and not valid[:, 152:].any() and not valid[152:, :].any()


#: Beside the 64 x 64 px scene at SEA_ORIGIN: 1 to 6 px east of its right edge, within the margin kept when clipping.
BESIDE_UTM = f"{SEA_ORIGIN[0] + 650},{SEA_ORIGIN[1] - 400},{SEA_ORIGIN[0] + 700},{SEA_ORIGIN[1] - 100},EPSG:32633"


@pytest.mark.parametrize("aoi", ["20,36,20.1,36.1", BESIDE_UTM], ids=["far", "beside"])
def test_aoi_outside_the_scene_is_one_line_and_writes_nothing(tmp_path, capsys, aoi):
    """The log said "--aoi ...: 1 polygon(s) over the scene" (counted before the area was cut to the scene), then
    the refusal said it lies outside."""
    path = write_scene(tmp_path / "scene.tif", speckled_sea(64, 64))
    out = tmp_path / "run"
    code, _, err = detect(capsys, path, "--out", out, "--method", "threshold", "--aoi", aoi)
    assert_refused(code, err, f"--aoi {aoi}: lies outside the scene", out)
    assert "polygon(s)" not in err


def test_aoi_polygon_file_that_is_missing_is_one_line(tmp_path, capsys):
    path = write_scene(tmp_path / "scene.tif", speckled_sea(64, 64))
    out = tmp_path / "run"
    code, _, err = detect(capsys, path, "--out", out, "--aoi", tmp_path / "area.gpkg")
    assert_refused(code, err, "no such file, and not an extent", out)


def test_a_mistyped_aoi_is_refused_before_the_model_loads(tmp_path, capsys):
    """The area was placed only after the model had loaded (and a first ONNX export can take a minute): here a
    card without its weights shows which came first, since either refusal ends the run."""
    path = write_scene(tmp_path / "scene.tif", speckled_sea(64, 64))
    card = tmp_path / "model.json"
    card.write_text((REPO / "resources" / "models" / "default.json").read_text())  # its weights stay behind
    out = tmp_path / "run"
    code, _, err = detect(capsys, path, "--out", out, "--model", card, "--aoi", "20,36,20.1")
    assert_refused(code, err, "--aoi 20,36,20.1: no such file, and not an extent", out)
    assert "detector:" not in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--land-mask", "missing.gpkg"], "--land-mask missing.gpkg: no such file"),
        (["--land-mask", "coast.gpkg"], "holds 1 LineString feature and no polygon"),
        (["--land-buffer-m", "-1"], "--land-buffer-m must be 0 or more metres, at most 10000, got -1"),
        (["--land-buffer-m", "1e300"], "at most 10000, got 1e+300"),  # was an internal error
    ],
    ids=["missing", "lines", "negative", "huge"],
)
def test_a_bad_land_mask_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch, options, message):
    """The land mask was checked once placed on the scene, after the model had loaded (a first ONNX export can take
    a minute): a card without its weights shows which came first, since either refusal ends the run."""
    from shapely.geometry import LineString

    monkeypatch.chdir(tmp_path)
    east, north = SEA_ORIGIN
    _write_layer(tmp_path / "coast.gpkg", [LineString([(east, north - 300), (east + 640, north - 300)])], "LineString")
    path = write_scene(tmp_path / "scene.tif", speckled_sea(64, 64))
    card = tmp_path / "model.json"
    card.write_text((REPO / "resources" / "models" / "default.json").read_text())  # its weights stay behind
    out = tmp_path / "run"
    code, _, err = detect(capsys, path, "--out", out, "--model", card, *options)
    assert_refused(code, err, message, out)
    assert "detector:" not in err


def test_a_bad_land_mask_or_area_is_refused_before_the_scene_is_read(tmp_path, capsys, monkeypatch):
    """What can be judged without the scene is judged before it is opened (and its statistics sampled)."""
    import engine.detect

    def no_reading(*args, **kwargs):
        raise AssertionError("the scene was opened")

    monkeypatch.setattr(engine.detect, "open_scene", no_reading)
    path = write_scene(tmp_path / "scene.tif", speckled_sea(64, 64))
    for options, message in [
        (["--land-mask", tmp_path / "missing.gpkg"], "no such file; give a polygon layer of land"),
        (["--aoi", "20,36,20.1"], "--aoi 20,36,20.1: no such file, and not an extent"),
    ]:
        code, _, err = detect(capsys, path, "--out", tmp_path / "run", *options)
        assert_refused(code, err, message, tmp_path / "run")


@needs_coastline
def test_a_scene_that_lies_wholly_on_land_is_refused_naming_the_land_mask(tmp_path, capsys):
    # UTM 33N (500000, 4500000) is inland southern Italy: a sea scene placed there has wrong georeferencing
    from rasterio.transform import from_origin

    scene = write_scene(tmp_path / "inland.tif", speckled_sea(200, 200), transform=from_origin(500000, 4500000, 10, 10))
    code, _, err = detect(capsys, scene, "--out", tmp_path / "out", "--method", "threshold")
    assert_refused(
        code, err, "every pixel is land or nodata by the global coastline (--land-mask auto)", tmp_path / "out"
    )
    assert "--land-mask none" in err.splitlines()[-1]
    code, _, err = detect(capsys, scene, "--out", tmp_path / "out", "--method", "threshold", "--land-mask", "none")
    assert code == 0, err


def test_a_land_layer_that_covers_the_whole_scene_is_named_in_the_refusal(tmp_path, capsys):
    import fiona
    from shapely.geometry import box, mapping

    scene = write_scene(tmp_path / "scene.tif", speckled_sea(100, 100))
    east, north = SEA_ORIGIN
    land = tmp_path / "land.gpkg"
    schema = {"geometry": "Polygon", "properties": {}}
    with fiona.open(land, "w", driver="GPKG", crs="EPSG:32633", schema=schema) as sink:
        sink.write({"geometry": mapping(box(east - 100, north - 1100, east + 1100, north + 100)), "properties": {}})
    code, _, err = detect(capsys, scene, "--out", tmp_path / "out", "--method", "threshold", "--land-mask", land)
    assert_refused(code, err, f"every pixel is land or nodata by --land-mask {land}", tmp_path / "out")


@needs_coastline
@pytest.mark.parametrize("fill", [0.0, np.nan])
def test_an_all_nodata_scene_on_a_coast_blames_the_file_not_the_coastline(tmp_path, capsys, fill):
    """Zeros or NaN off Marseille: "pass --land-mask none" would cost a second run ending in the same place."""
    from rasterio.transform import from_origin

    xs, ys = transform("EPSG:4326", "EPSG:32631", [5.34], [43.31])
    values = np.full((640, 640), fill, np.float32)  # wider than the reader's sample, so the pass itself decides
    scene = write_scene(
        tmp_path / "blank.tif", values, crs="EPSG:32631", transform=from_origin(round(xs[0]), round(ys[0]), 10, 10)
    )
    code, _, err = detect(capsys, scene, "--out", tmp_path / "out", "--method", "threshold")
    assert_refused(code, err, f"{scene}: contains no valid pixels (all nodata, NaN or zero)", tmp_path / "out")
    assert "--land-mask" not in err.splitlines()[-1]
    masked = open_scene(scene, land_mask="auto")  # after the run: the CLI's log handler writes to this test's stderr
    try:
        assert masked.info.metadata["land_mask"]["coast_in_scene"]  # the coastline really is in the scene
    finally:
        masked.close()


def _write_layer(path, geometries, geometry_type):
    import fiona
    from shapely.geometry import mapping

    with fiona.open(
        path, "w", driver="GPKG", crs="EPSG:32633", schema={"geometry": geometry_type, "properties": {}}
    ) as sink:
        for geometry in geometries:
            sink.write({"geometry": mapping(geometry), "properties": {}})
    return path


def test_a_land_mask_of_coastlines_as_lines_is_refused_and_writes_nothing(tmp_path, capsys):
    from shapely.geometry import LineString

    east, north = SEA_ORIGIN
    lines = _write_layer(
        tmp_path / "coast.gpkg", [LineString([(east, north - 300), (east + 640, north - 300)])], "LineString"
    )
    scene = write_scene(tmp_path / "scene.tif", speckled_sea(64, 64))
    code, _, err = detect(capsys, scene, "--out", tmp_path / "out", "--method", "threshold", "--land-mask", lines)
    assert_refused(
        code,
        err,
        f"--land-mask {lines}: holds 1 LineString feature and no polygon; a land mask needs polygons of land "
        "(or use --land-mask auto)",
        tmp_path / "out",
    )


@pytest.mark.parametrize(
    ("width", "west_m"),
    # 50 km away; or 170 m east of a 1,024 px wide scene: read (within 2 % of its width) but beyond the 16 px kept
    # around it, it was cut to an empty polygon that counted: "1 polygon(s) over the scene", the mask "used".
    [(64, 50_000), (1024, 10_410)],
    ids=["far", "beside"],
)
def test_land_polygons_away_from_the_scene_are_a_warning_and_the_report_says_nothing_was_masked(
    tmp_path, capsys, width, west_m
):
    from shapely.geometry import box

    east, north = SEA_ORIGIN
    elsewhere = _write_layer(
        tmp_path / "land.gpkg", [box(east + west_m, north - 500, east + west_m + 130, north - 300)], "Polygon"
    )
    scene = write_scene(tmp_path / "scene.tif", speckled_sea(64, width))
    out = tmp_path / "out"
    code, _, err = detect(capsys, scene, "--out", out, "--method", "threshold", "--land-mask", elsewhere)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["land_mask"]["used"] is False and summary["land_mask"]["polygons"] == 0
    assert any(w.startswith(f"--land-mask {elsewhere}: no land polygon over the scene") for w in summary["warnings"])
    report = (out / "report.html").read_text()
    assert "No land mask was used (no land polygon over the scene in" in report  # the caveat, not "Land mask: used"


def test_an_aoi_of_points_says_it_holds_no_polygon(tmp_path, capsys):
    from shapely.geometry import Point

    east, north = SEA_ORIGIN
    points = _write_layer(tmp_path / "area.gpkg", [Point(east + 300, north - 300)], "Point")
    scene = write_scene(tmp_path / "scene.tif", speckled_sea(64, 64))
    code, _, err = detect(capsys, scene, "--out", tmp_path / "out", "--method", "threshold", "--aoi", points)
    assert_refused(
        code,
        err,
        f"--aoi {points}: holds 1 Point feature and no polygon; an area of interest needs polygons",
        tmp_path / "out",
    )


def test_an_aoi_over_nodata_beside_valid_pixels_names_the_area(tmp_path, capsys):
    values = speckled_sea(600, 600)
    values[:200, :200] = np.nan
    scene = write_scene(tmp_path / "scene.tif", values)
    east, north = SEA_ORIGIN
    area = f"{east},{north - 1000},{east + 1000},{north},EPSG:32633"  # the top-left 100 x 100 px: all NaN
    out = tmp_path / "out"
    code, _, err = detect(capsys, scene, "--out", out, "--method", "threshold", "--land-mask", "none", "--aoi", area)
    assert_refused(code, err, f"every pixel inside --aoi {area} is nodata while pixels around it are valid", out)


def test_an_aoi_whose_tiles_are_all_nodata_in_a_scene_with_data_elsewhere_names_the_area(tmp_path, capsys):
    values = speckled_sea(300, 1100)
    values[:, :800] = np.nan  # the reader's sample still finds the valid columns on the right
    scene = write_scene(tmp_path / "scene.tif", values)
    east, north = SEA_ORIGIN
    area = f"{east},{north - 1000},{east + 1000},{north},EPSG:32633"  # the top-left 100 x 100 px
    out = tmp_path / "out"
    code, _, err = detect(capsys, scene, "--out", out, "--method", "threshold", "--land-mask", "none", "--aoi", area)
    assert_refused(code, err, f"every pixel in and around --aoi {area} is nodata", out)
    assert "give an area over the scene's valid pixels" in err
