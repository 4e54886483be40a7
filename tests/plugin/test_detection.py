"""The detection request and its `dakd detect` command line (checked against the engine's own parser)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis


def test_request_parses_with_the_engine_cli(tmp_path, isolated_plugin_settings, model_card):
    from dakd_qgis.detection import detect_arguments, make_request
    from engine.cli import build_parser

    request = make_request(
        "scene.tif",
        tmp_path / "out",
        isolated_plugin_settings,
        method="model",
        model_path=str(model_card),
        band=2,
        units="db",
        overlap_px=32,
        min_area_km2=0.5,
        prob_threshold=0.6,
        batch_size=4,
    )
    args = build_parser().parse_args(["--progress", "json", *detect_arguments(request)])
    assert (args.command, args.input, args.out, args.method, args.model_path) == (
        "detect",
        "scene.tif",
        str(tmp_path / "out"),
        "model",
        str(model_card),
    )
    assert (args.band, args.units, args.overlap_px, args.min_area_km2, args.prob_threshold, args.batch_size) == (
        2,
        "db",
        32,
        0.5,
        0.6,
        4,
    )
    assert args.device == "auto" and args.overwrite
    assert args.wind_dir_deg is None
    wind = detect_arguments(make_request("scene.tif", tmp_path / "out", isolated_plugin_settings, wind_dir_deg=200.0))
    assert wind[wind.index("--wind-dir") :][:2] == ["--wind-dir", "200"]
    assert build_parser().parse_args(["--progress", "json", *wind]).wind_dir_deg == 200.0


def test_default_model_from_settings_and_threshold_ignores_it(tmp_path, isolated_plugin_settings, model_card):
    from dakd_qgis.detection import chosen_model
    from dakd_qgis.layer_sources import InputProblem

    assert chosen_model("auto", "", isolated_plugin_settings) is None  # the engine picks its bundled card
    isolated_plugin_settings.default_model = str(model_card)
    assert chosen_model("auto", "", isolated_plugin_settings) == str(model_card)
    assert chosen_model("threshold", str(model_card), isolated_plugin_settings) is None
    with pytest.raises(InputProblem, match="does not exist"):
        chosen_model("model", str(tmp_path / "gone.json"), isolated_plugin_settings)


def engine_with_models(folder: Path, monkeypatch, *cards: Path) -> Path:
    """Make the plugin run an engine laid out as a checkout in ``folder``: its contract file, and ``cards`` (with
    their weights) copied into its ``resources/models`` folder; returns that folder."""
    import shutil

    import engine.contract
    from dakd_qgis import contract

    (folder / "engine").mkdir(parents=True)
    shutil.copy(engine.contract.__file__, folder / "engine" / "contract.py")
    models = folder / "resources" / "models"
    models.mkdir(parents=True)
    for card in cards:
        for path in (card, card.with_suffix(".safetensors")):
            shutil.copy(path, models / f"default{path.suffix}")
    monkeypatch.setattr(contract, "engine_root", lambda: folder)
    return models


def test_the_probability_bands_are_those_of_the_detector_the_run_uses(
    tmp_path, isolated_plugin_settings, model_card, binary_model_card, monkeypatch
):
    """Audit: the probability output was sized by the contract's five classes whatever the method, so a PNG
    (four bands at most) was refused for a threshold run or a binary model, which write two bands."""
    from dakd_qgis import models
    from dakd_qgis.detection import make_request, probability_bands
    from engine.contract import CLASS_NAMES, THRESHOLD_CLASS_NAMES

    settings = isolated_plugin_settings

    def bands(**options) -> int:
        return probability_bands(make_request("scene.tif", tmp_path / "out", settings, **options))

    assert bands(method="threshold", model_path=str(model_card)) == len(THRESHOLD_CLASS_NAMES) == 2
    assert bands(method="model", model_path=str(binary_model_card)) == 2
    assert bands(method="auto", model_path=str(model_card)) == len(CLASS_NAMES) == 5
    # auto without a card runs the engine's default one (five classes), or the Settings default
    assert models.bundled_model_path() is not None and bands(method="auto") == 5
    settings.default_model = str(binary_model_card)
    assert bands(method="auto") == 2
    # an engine without a default card: auto runs the threshold detector (its contract says so)
    settings.default_model = ""
    engine_with_models(tmp_path / "engine-without-card", monkeypatch)
    assert bands(method="auto") == 2
    # a card that cannot be read counts every class (the engine refuses the card itself)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert bands(method="model", model_path=str(broken)) == 5


def test_auto_with_a_damaged_default_card_counts_the_bands_the_engine_writes(
    tmp_path, isolated_plugin_settings, binary_model_card, monkeypatch
):
    """Audit: for ``auto`` the plugin counted the classes of its own bundled card (five) whatever the engine's
    default card was; a default card the engine cannot read runs the threshold detector, which writes two bands (a
    PNG holds them, and was refused). The plugin now reads the classes from the engine's contract."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    import engine.detectors
    from dakd_qgis.detection import make_request, probability_bands
    from engine.detect import DetectParams, run_detection
    from engine.io.raster import write_raster

    def counted() -> int:
        return probability_bands(make_request("scene.tif", tmp_path / "out", isolated_plugin_settings))

    engine_with_models(tmp_path / "binary", monkeypatch, binary_model_card)
    assert counted() == 2  # the engine's default card is a binary model (the plugin's own has five classes)
    models = engine_with_models(tmp_path / "damaged", monkeypatch, engine.detectors.DEFAULT_MODEL_CARD)
    assert counted() == 5
    card = models / "default.json"
    card.write_text(card.read_text(encoding="utf-8")[:2000], encoding="utf-8")  # cut short, as by a full disk
    engine_with_models(tmp_path / "damaged-later", monkeypatch, card)  # a contract is read once per engine folder
    assert counted() == 2

    # the engine, given that card as its bundled default, runs the threshold detector: two bands
    monkeypatch.setattr(engine.detectors, "DEFAULT_MODEL_CARD", card)
    values = (0.05 * np.random.default_rng(0).gamma(4.4, 1 / 4.4, (128, 128))).astype(np.float32)
    scene = write_raster(tmp_path / "scene.tif", values, "EPSG:32633", from_origin(500000, 6000000, 10, 10))
    result = run_detection(DetectParams(str(scene), str(tmp_path / "run"), method="auto", land_mask="none"))
    assert result.summary["detector"]["method"] == "threshold"
    with rasterio.open(result.probability_path) as probability:
        assert probability.count == 2


def test_summary_sentence():
    from pathlib import Path

    from dakd_qgis.detection import DetectOutcome, summary_sentence

    outcome = DetectOutcome(Path("."), {"oil": 3, "look-alike": 1, "ship": 0}, {"oil": 41.23}, "cuda:0")
    assert summary_sentence(outcome) == "3 oil spills, 41.2 km², cuda:0 (1 look-alike)"


def test_land_mask_and_area_of_interest_parse_with_the_engine_cli(tmp_path, isolated_plugin_settings):
    from dakd_qgis.detection import detect_arguments, land_mask_labels, make_request
    from engine.cli import build_parser
    from engine.detect import DetectParams

    assert DetectParams("", "").land_mask in land_mask_labels()
    unset = detect_arguments(make_request("scene.tif", tmp_path / "out", isolated_plugin_settings))
    assert not {"--overlap", "--min-area-km2", "--land-buffer-m"} & set(unset)  # not passed: the engine's defaults
    request = make_request(
        "scene.tif",
        tmp_path / "out",
        isolated_plugin_settings,
        method="threshold",
        land_mask="land.gpkg",
        land_buffer_m=50.0,
        aoi="1.5,2,3,4,EPSG:32633",
    )
    args = build_parser().parse_args(["--progress", "json", *detect_arguments(request)])
    assert (args.land_mask, args.land_buffer_m, args.aoi) == ("land.gpkg", 50.0, "1.5,2,3,4,EPSG:32633")
    default = build_parser().parse_args(
        ["--progress", "json", *detect_arguments(make_request("scene.tif", tmp_path / "out", isolated_plugin_settings))]
    )
    assert (default.land_mask, default.aoi) == ("auto", None)


def test_an_area_of_interest_west_of_greenwich_reaches_the_engine(tmp_path, isolated_plugin_settings):
    """A value that starts with "-" (an extent west of Greenwich or south of the equator) is no engine option:
    argparse refused ``--aoi -9.0,54.1,...`` ("expected one argument") and the run stopped."""
    from dakd_qgis.detection import detect_arguments, make_request
    from engine.cli import build_parser

    extent = "-9.015,54.121,-8.98,54.157,EPSG:4326"
    request = make_request("scene.tif", tmp_path / "out", isolated_plugin_settings, aoi=extent, land_mask="none")
    args = build_parser().parse_args(["--progress", "json", *detect_arguments(request)])
    assert (args.aoi, args.land_mask, args.out) == (extent, "none", str(tmp_path / "out"))


def test_an_extent_in_a_crs_without_an_id_is_no_file_to_protect(tmp_path, isolated_plugin_settings):
    """Audit: the extent of a CRS without an authority id carries its WKT (over 255 characters): Path.exists() of
    it raised "File name too long" from the Processing algorithm, a traceback instead of a run."""
    from qgis.core import QgsCoordinateReferenceSystem

    from dakd_qgis.detection import make_request, request_inputs

    crs = QgsCoordinateReferenceSystem.fromProj("+proj=tmerc +lat_0=0 +lon_0=3.5 +k=0.9996 +x_0=500000 +units=m")
    assert not crs.authid() and len(crs.toWkt()) > 255
    extent = f"500000.0,6000000.0,510000.0,6010000.0,{crs.toWkt()}"
    request = make_request("scene.tif", tmp_path / "out", isolated_plugin_settings, aoi=extent, land_mask="none")
    assert request_inputs(request) == [Path("scene.tif")]


def test_the_precision_chosen_in_settings_reaches_the_engine(tmp_path, isolated_plugin_settings):
    """bf16 is asked for in Settings (the engine's auto keeps fp32 on a CPU); auto passes nothing, as before."""
    from dakd_qgis.detection import detect_arguments, make_request
    from engine.cli import build_parser

    automatic = detect_arguments(make_request("scene.tif", tmp_path / "out", isolated_plugin_settings))
    assert "--precision" not in automatic  # an engine without the option still runs
    assert build_parser().parse_args(["--progress", "json", *automatic]).precision in (None, "auto")
    isolated_plugin_settings.precision = "bf16"
    chosen = detect_arguments(make_request("scene.tif", tmp_path / "out", isolated_plugin_settings))
    assert build_parser().parse_args(["--progress", "json", *chosen]).precision == "bf16"
    per_run = make_request("scene.tif", tmp_path / "out", isolated_plugin_settings, precision="fp32")
    assert build_parser().parse_args(["--progress", "json", *detect_arguments(per_run)]).precision == "fp32"
