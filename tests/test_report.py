"""report.html: self-contained, and written with and without each piece of context."""

import base64
import html
import re

import numpy as np
import pytest
from PIL import Image

from engine.io.atomic import TMP_MARK
from engine.report import MAX_ROWS, write_report
from engine.wind import LOW_WIND_FLAG


def summary(**changes):
    base = {
        "engine_version": "0.1.0",
        "run_time": "2026-12-05T14:00:00+00:00",
        "input": {
            "scene_id": "S1A_TEST",
            "path": "/data/S1A_TEST.SAFE",
            "width": 600,
            "height": 520,
            "crs": "EPSG:32633",
            "pixel_size_m": [10.0, 10.0],
            "metadata": {"acquisition_start": "2021-12-23T05:11:22Z", "platform": "Sentinel-1B", "mode": "IW"},
        },
        "parameters": {"land_mask": "coast.gpkg"},
        "detector": {"name": "model", "model_id": "default", "device": "cpu", "ships": "cfar", "default_model": True},
        "counts": {"oil": 1, "look-alike": 0, "ship": 2},
        "areas_km2": {"oil": 0.42, "look-alike": 0.0, "ship": 0.001},
        "wind": {"method": "CMOD5.N on the background sigma0; incidence from the annotation"},
        "sources": {"method": "nearest ship within 5 km of either end of each oil polygon"},
        "warnings": [],
    }
    base.update(changes)
    return base


OIL = {
    "id": 1,
    "class": "oil",
    "confidence": "B",
    "area_km2": 0.42,
    "length_km": 2.1,
    "centroid_lat": 54.1,
    "centroid_lon": 15.0,
    "wind_speed_ms": None,
    "wind_speed_min_ms": 1.2,
    "wind_speed_max_ms": 2.4,
    "wind_flag": LOW_WIND_FLAG,
    "source_id": 3,
    "source_distance_km": 0.15,
    "source_bearing_deg": 92.0,
}
SOURCE_SHIP = {
    "id": 3,
    "class": "ship",
    "confidence": "A",
    "area_km2": 0.001,
    "length_km": 0.1,
    "centroid_lat": 54.1,
    "centroid_lon": 15.01,
    "near_spill_id": 1,
}
OTHER_SHIP = {
    "id": 2,
    "class": "ship",
    "confidence": "A",
    "area_km2": 0.001,
    "length_km": 0.1,
    "centroid_lat": 54.2,
    "centroid_lon": 15.2,
    "near_spill_id": None,
}


@pytest.fixture
def quicklook(tmp_path):
    path = tmp_path / "quicklook.png"
    Image.new("RGB", (64, 48), (90, 90, 90)).save(path)
    return path


def written(tmp_path, run_summary, records, quicklook_path):
    path = write_report(tmp_path / "report.html", run_summary, records, quicklook_path)
    assert [p.name for p in tmp_path.iterdir() if TMP_MARK in p.name] == []
    return path.read_text(encoding="utf-8")


def text_of(page):
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_full_context_is_all_in_one_self_contained_file(tmp_path, quicklook):
    page = written(tmp_path, summary(), [OIL, SOURCE_SHIP, OTHER_SHIP], quicklook)
    # Offline: the only image is inline, and nothing is fetched.
    (data,) = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert base64.b64decode(data) == quicklook.read_bytes()
    assert not re.search(r"(src|href)=['\"]?(https?:|//|file:)", page) and "<script" not in page
    assert "@page { size: A4" in page
    text = text_of(page)
    for expected in (
        "S1A_TEST",
        "2021-12-23T05:11:22Z",
        "Sentinel-1B IW",
        "model (model default) on cpu",
        "1.2–2.4 m/s (low wind, < 3 m/s: look-alikes likely)",
        "ship #3, 0.15 km at 92°",
        "54.1000, 15.0000",
        "simulated Sentinel-1 scenes only",
        "Land mask: coast.gpkg",
        "CMOD5.N on the background sigma0",
        "within 5 km",
    ):
        assert expected in text, expected
    rows = re.findall(r"<tr><td>(\d+)</td><td>([a-z-]+)</td>", page)
    assert rows == [("1", "oil"), ("3", "ship")]  # the source ship is listed; the other is only counted
    assert "1 more polygon(s)" in text


def test_without_any_context(tmp_path):
    bare = summary(
        parameters={},
        detector={"name": "threshold", "model_id": "snap-adaptive-threshold", "device": "cpu"},
        counts={"oil": 0},
        areas_km2={"oil": 0.0},
        wind={},
        sources={},
        input={
            "scene_id": "plain",
            "path": "x.tif",
            "width": 10,
            "height": 10,
            "crs": None,
            "pixel_size_m": [10.0, 10.0],
            "metadata": {},
        },
    )
    text = text_of(written(tmp_path, bare, [], None))
    assert "No quick-look image" in text and "data:image" not in text
    assert "No oil or look-alike polygon" in text
    assert "No land mask was used" in text and "threshold detector" in text
    assert "not in the input's metadata" in text and "Wind: not estimated" in text
    assert "Possible source" not in text


@pytest.mark.parametrize("missing", ["wind", "source", "land_mask", "quicklook"])
def test_each_piece_of_context_can_be_missing(tmp_path, quicklook, missing):
    oil = dict(OIL)
    run = summary()
    if missing == "wind":
        oil.update(wind_speed_ms=None, wind_speed_min_ms=None, wind_speed_max_ms=None, wind_flag=None)
        run["wind"] = {"method": "no wind: the input is uncalibrated amplitude (DN), not sigma0"}
    if missing == "source":
        oil.update(source_id=None, source_distance_km=None, source_bearing_deg=None)
    if missing == "land_mask":
        run["parameters"] = {"land_mask": None}
    page = written(tmp_path, run, [oil, OTHER_SHIP], None if missing == "quicklook" else quicklook)
    text = text_of(page)
    row = re.search(r"<tr><td>1</td>.*?</tr>", page).group(0)
    assert ("m/s" not in row) == (missing == "wind")
    assert ("ship #" not in row) == (missing == "source")
    assert ("No land mask was used" in text) == (missing == "land_mask")
    assert ("data:image/png" in page) == (missing != "quicklook")
    assert "uncalibrated" in text if missing == "wind" else "CMOD5.N" in text


def test_the_land_mask_record_of_the_summary_is_said(tmp_path):
    used = summary(land_mask={"mode": "auto", "used": True, "source": "OSM coastline", "buffer_m": 100})
    assert "Land mask: mode auto; source OSM coastline; buffer_m 100" in text_of(written(tmp_path, used, [OIL], None))
    unused = summary(land_mask={"mode": "auto", "used": False, "reason": "the coastline is not installed"})
    assert "No land mask was used (the coastline is not installed)" in text_of(written(tmp_path, unused, [OIL], None))


def test_the_table_stops_at_two_pages(tmp_path):
    records = [dict(OIL, id=i, source_id=None) for i in range(1, MAX_ROWS + 11)]
    page = written(tmp_path, summary(), records, None)
    assert len(re.findall(r"<tr><td>\d+</td>", page)) == MAX_ROWS
    assert "10 more polygon(s)" in text_of(page)


def test_text_from_the_input_is_escaped(tmp_path):
    run = summary(input={**summary()["input"], "scene_id": "<b>x</b>"}, warnings=["a <script> & more"])
    page = written(tmp_path, run, [], None)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page and "<script>" not in page


MARKUP = "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize(
    "where",
    [
        "scene file",
        "folder",
        "raster metadata",
        "model card",
        "land mask file",
        "land mask reason",
        "polygon",
        "warning",
    ],
)
def test_every_string_from_outside_the_engine_is_escaped(tmp_path, where):
    """Audit: a scene, folder, card, land mask or warning named with markup is shown as text, never run."""
    scene = summary()["input"]
    run = {
        "scene file": summary(input={**scene, "scene_id": f"a{MARKUP}", "path": f"/data/a{MARKUP}.tif"}),
        "folder": summary(input={**scene, "path": f"/data/d{MARKUP}/a.tif"}),
        "raster metadata": summary(
            input={**scene, "metadata": {"platform": MARKUP, "mode": MARKUP, "acquisition_start": MARKUP}}
        ),
        "model card": summary(detector={"name": "model", "model_id": MARKUP, "device": "cpu", "default_model": False}),
        "land mask file": summary(land_mask={"mode": "file", "used": True, "source": f"/data/land{MARKUP}.gpkg"}),
        "land mask reason": summary(land_mask={"mode": "file", "used": False, "reason": MARKUP}),
        "polygon": summary(),
        "warning": summary(warnings=[f"{MARKUP} has no CRS"]),
    }[where]
    # a card's class names reach the table through a ship named as a source (near_spill_id)
    records = [dict(OIL, confidence=MARKUP), dict(SOURCE_SHIP, **{"class": MARKUP})] if where == "polygon" else [OIL]
    page = written(tmp_path, run, records, None)
    assert "<img src=x" not in page and html.escape(MARKUP) in page


def test_a_detection_run_writes_the_report_beside_its_outputs(tmp_path):
    import fiona

    from engine.detect import DetectParams, run_detection
    from engine.io.raster import write_raster

    rng = np.random.default_rng(0)
    values = 0.05 * rng.gamma(4.4, 1 / 4.4, (300, 400))
    rows, cols = np.mgrid[:300, :400]
    values[((cols - 200) / 80) ** 2 + ((rows - 150) / 12) ** 2 < 1] *= 0.12
    scene = write_raster(
        tmp_path / "scene.tif", values.astype(np.float32), "EPSG:32633", (10, 0, 500000, 0, -10, 6000000)
    )
    result = run_detection(DetectParams(str(scene), str(tmp_path / "out"), method="threshold"))
    page = result.report_path.read_text(encoding="utf-8")
    assert result.report_path == tmp_path / "out" / "report.html"
    assert result.summary["outputs"]["report"] == "report.html"
    (data,) = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert base64.b64decode(data) == result.quicklook_path.read_bytes()
    with fiona.open(result.spills_path) as layer:
        (oil,) = [f.properties for f in layer]
    row = re.search(rf"<tr><td>{oil['id']}</td><td>oil</td><td>{oil['confidence']}</td>.*?</tr>", page).group(0)
    assert f"{oil['area_km2']:.3f}" in row and f"{oil['wind_speed_min_ms']:.1f}–" in row
    text = text_of(page)
    assert "threshold detector" in text and "not searched: the detector finds no ships" in text
