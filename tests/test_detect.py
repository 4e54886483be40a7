import json
import logging
from pathlib import Path

import fiona
import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin
from shapely.geometry import Point, box, mapping, shape

from engine.classes import BINARY_CLASSES, OSD_CLASSES
from engine.detect import (
    CLASS_NODATA,
    DetectParams,
    classify,
    format_summary,
    run_detection,
)
from engine.errors import Cancelled, DakdError, InputError, OutputError
from engine.io.atomic import TMP_MARK
from engine.io.raster import write_raster
from engine.progress import Progress
from engine.vectorize import PROB_NODATA

UTM = ("EPSG:32633", from_origin(500000, 6000000, 10, 10))
OUTPUT_FILES = ["classes.tif", "probability.tif", "quicklook.png", "report.html", "spills.gpkg", "summary.json"]


def sea(height, width, seed=0, slick=True):
    """Speckled sea (linear σ0, 4.4 looks) with an optional dark slick 0.3 km wide and 2 km long."""
    rng = np.random.default_rng(seed)
    values = 0.05 * rng.gamma(4.4, 1 / 4.4, (height, width))
    if slick:
        rows, cols = np.mgrid[:height, :width]
        inside = ((cols - width / 2) / 100) ** 2 + ((rows - height / 2) / 15) ** 2 < 1
        values[inside] *= 0.12  # about -9 dB
    return values.astype(np.float32)


def scene_file(tmp_path, values, crs=UTM[0], transform=UTM[1], **kwargs):
    return str(write_raster(tmp_path / "scene.tif", values, crs, transform, **kwargs))


def no_leftovers(folder):
    return [p.name for p in folder.iterdir() if TMP_MARK in p.name]


def test_run_writes_every_output(tmp_path):
    out = tmp_path / "out"
    result = run_detection(DetectParams(scene_file(tmp_path, sea(520, 600)), str(out), method="threshold"))
    assert sorted(p.name for p in out.iterdir()) == OUTPUT_FILES
    assert no_leftovers(tmp_path) == []
    assert result.counts == {"oil": 1} and result.device == "cpu"
    assert result.areas_km2["oil"] == pytest.approx(np.pi * 100 * 15 * 1e-4, rel=0.25)

    with fiona.open(result.spills_path, layer="spills") as layer:
        assert layer.crs.to_epsg() == 32633
        (feature,) = list(layer)
    props = feature.properties
    assert props["class"] == "oil" and props["confidence"] == "A"
    assert props["length_km"] == pytest.approx(2.0, rel=0.1) and props["width_km"] == pytest.approx(0.3, rel=0.2)
    assert props["orientation_deg"] == pytest.approx(90, abs=5)
    assert props["contrast_db"] < -6 and props["mean_prob"] > 0.8
    assert props["detector"] == "threshold" and props["source_scene"] == "scene"

    with rasterio.open(result.probability_path) as prob:
        assert prob.count == 2 and prob.descriptions == ("sea", "oil") and prob.nodata == PROB_NODATA
        assert prob.profile["tiled"] and prob.compression.value == "DEFLATE" and prob.overviews(1) == [2]
        oil = prob.read(2)
        assert oil[260, 300] > 200 and oil[50, 50] < 50
    with rasterio.open(result.classes_path) as classes:
        class_map = classes.read(1)
        assert classes.nodata == CLASS_NODATA and classes.overviews(1) == [2]
    assert class_map[260, 300] == 1 and set(np.unique(class_map)) == {0, 1}
    assert Image.open(result.quicklook_path).size[0] == 600

    summary = json.loads(result.summary_path.read_text())
    assert summary["counts"] == {"oil": 1} and summary["features"] == 1
    assert summary["detector"]["method"] == "threshold" and summary["detector"]["background_window_px"] == 51
    assert summary["tiling"]["tile_size"] == 512 and summary["tiling"]["overlap_px"] == 64
    assert summary["input"]["units"] == "linear" and summary["input"]["crs"] == "EPSG:32633"
    assert summary["timings_s"]["detect_write_wait_s"] >= 0  # rows are written in a thread behind the stitcher
    assert set(summary["timings_s"]) >= {"detect_s", "vectorise_s", "total_s"}
    assert "oil" in format_summary(result) and str(out) in format_summary(result)


def test_plain_sea_gives_a_valid_empty_geopackage(tmp_path):
    result = run_detection(
        DetectParams(scene_file(tmp_path, sea(300, 300, slick=False)), str(tmp_path / "out"), method="threshold")
    )
    assert result.counts == {"oil": 0}
    assert fiona.listlayers(result.spills_path) == ["spills"]
    with fiona.open(result.spills_path, layer="spills") as layer:
        assert len(layer) == 0
    assert "no oil, look-alikes or ships found" in format_summary(result)


def test_geographic_input_reports_metres(tmp_path):
    transform = from_origin(20.0, 55.0, 0.00016, 0.00009)  # about 10 m at 55°N
    path = scene_file(tmp_path, sea(520, 600), "EPSG:4326", transform)
    result = run_detection(DetectParams(path, str(tmp_path / "out")))
    with fiona.open(result.spills_path) as layer:
        (feature,) = list(layer)
        assert layer.crs.to_epsg() == 4326
    props = feature.properties
    assert props["length_km"] == pytest.approx(2 * 100 * 0.00016 * 111.32 * np.cos(np.radians(54.98)), rel=0.1)
    assert props["centroid_lat"] == pytest.approx(55.0 - 260 * 0.00009, abs=1e-3)


def test_raster_without_crs_works_in_pixel_space_and_says_so(tmp_path):
    result = run_detection(DetectParams(scene_file(tmp_path, sea(520, 600), None, None), str(tmp_path / "out")))
    assert any("no CRS" in w for w in result.summary["warnings"])
    with fiona.open(result.spills_path) as layer:
        assert layer.crs is None or not layer.crs
        (feature,) = list(layer)
    x0, y0, x1, y1 = feature.geometry["coordinates"][0][0][0] + feature.geometry["coordinates"][0][0][2]
    assert 0 < min(x0, x1) < 600 and -520 < min(y0, y1) < 0


def test_raster_smaller_than_one_tile_is_padded_and_works(tmp_path):
    result = run_detection(DetectParams(scene_file(tmp_path, sea(40, 50, slick=False)), str(tmp_path / "out")))
    assert result.summary["tiling"]["tiles_total"] == 1
    with rasterio.open(result.classes_path) as classes:
        assert classes.shape == (40, 50) and (classes.read(1) != CLASS_NODATA).all()


def test_nan_and_inf_become_nodata(tmp_path):
    values = sea(300, 300, slick=False)
    values[100:110, 100:110] = np.nan
    values[5, 5] = np.inf
    result = run_detection(DetectParams(scene_file(tmp_path, values), str(tmp_path / "out")))
    with rasterio.open(result.classes_path) as classes, rasterio.open(result.probability_path) as prob:
        class_map, probabilities = classes.read(1), prob.read()
    assert (class_map[100:110, 100:110] == CLASS_NODATA).all() and class_map[5, 5] == CLASS_NODATA
    assert (probabilities[:, 100:110, 100:110] == PROB_NODATA).all()
    assert (class_map != CLASS_NODATA).sum() == 300 * 300 - 101
    assert any("NaN/Inf" in w for w in result.summary["warnings"])


def test_declared_nan_nodata_is_not_a_warning(tmp_path):
    """Our simulator and many exports mark nodata as NaN in the file: nothing unexpected, so no warning."""
    values = sea(300, 300, slick=False)
    values[:, :40] = np.nan
    result = run_detection(DetectParams(scene_file(tmp_path, values, nodata=float("nan")), str(tmp_path / "out")))
    with rasterio.open(result.classes_path) as classes:
        assert (classes.read(1)[:, :40] == CLASS_NODATA).all()
    assert not any("NaN/Inf" in w for w in result.summary["warnings"])
    values[5, 100] = np.inf  # an infinity is still unexpected
    result = run_detection(DetectParams(scene_file(tmp_path, values, nodata=float("nan")), str(tmp_path / "out2")))
    assert any("NaN/Inf" in w for w in result.summary["warnings"])


def test_all_nodata_scene_is_refused_without_output(tmp_path):
    path = scene_file(tmp_path, np.full((60, 60), -1, np.float32), nodata=-1)
    with pytest.raises(InputError, match="contains no valid pixels"):
        run_detection(DetectParams(path, str(tmp_path / "out")))
    assert not (tmp_path / "out").exists() and no_leftovers(tmp_path) == []


def test_cancel_callback_stops_and_leaves_nothing(tmp_path):
    path = scene_file(tmp_path, sea(600, 600, slick=False))
    events = []
    progress = Progress(events.append, cancel=lambda: any(e["event"] == "progress" for e in events))
    with pytest.raises(Cancelled):
        run_detection(DetectParams(path, str(tmp_path / "out"), batch_size=2), progress)
    done = [e["done"] for e in events if e["event"] == "progress"]
    assert done == [2]  # stopped after the first batch of 2 tiles (of 16)
    assert not (tmp_path / "out").exists() and no_leftovers(tmp_path) == []


def test_existing_output_without_overwrite_is_refused_and_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("analyst's notes")
    with pytest.raises(OutputError, match="already exists and is not empty; pass --overwrite"):
        run_detection(DetectParams(scene_file(tmp_path, sea(50, 50)), str(out)))
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    with pytest.raises(
        OutputError, match="only a detection output written by dakd may be replaced, and it has no summary.json"
    ):  # --overwrite replaces only an earlier detection output
        run_detection(DetectParams(scene_file(tmp_path, sea(50, 50)), str(out), overwrite=True))
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (out / "keep.txt").unlink()
    run_detection(DetectParams(scene_file(tmp_path, sea(50, 50)), str(out)))
    run_detection(DetectParams(scene_file(tmp_path, sea(50, 50)), str(out), overwrite=True))
    assert sorted(p.name for p in out.iterdir()) == OUTPUT_FILES


def test_bad_parameters_are_refused_before_any_work(tmp_path):
    path = scene_file(tmp_path, sea(50, 50))
    for params, message in [
        (DetectParams(path, str(tmp_path / "o"), overlap_px=-1), "--overlap must be 0 or more"),
        (DetectParams(path, str(tmp_path / "o"), batch_size=0), "--batch-size must be at least 1"),
        (DetectParams(path, str(tmp_path / "o"), prob_threshold=1.5), r"--prob-threshold must be in \(0, 1\]"),
        (DetectParams(path, str(tmp_path / "o"), min_area_km2=-1), "--min-area-km2 must be 0 or more"),
    ]:
        with pytest.raises(InputError, match=message):
            run_detection(params)
    assert not (tmp_path / "o").exists()


def test_classify_with_and_without_probability_threshold():
    probabilities = np.array([[0.5, 0.2, 0.1], [0.1, 0.6, 0.3], [0.4, 0.2, 0.6]], np.float32).T  # (C=3, 3 px)
    classes = OSD_CLASSES[:3]  # sea, oil, look-alike
    np.testing.assert_array_equal(classify(probabilities[:, :, None], classes, None)[:, 0], [0, 1, 2])
    # oil at 0.6 is below 0.7, so the pixel falls back to sea; look-alike at 0.6 likewise
    np.testing.assert_array_equal(classify(probabilities[:, :, None], classes, 0.7)[:, 0], [0, 0, 0])
    binary = np.array([[0.2], [0.8]], np.float32)[:, :, None]
    assert classify(binary, BINARY_CLASSES, 0.75)[0, 0] == 1


@pytest.fixture(scope="module")
def five_class_card(tmp_path_factory):
    """A randomly initialised SAROSS-Net-XS card with the five OSD classes (it never finds a ship itself)."""
    import torch

    from engine.detectors.base import InputSpec
    from engine.modelcard import new_model_card, save_model_card
    from engine.models import create_model

    torch.manual_seed(0)
    model = create_model("saross_net_xs", num_classes=5)
    card = new_model_card(
        model,
        "random-5",
        OSD_CLASSES,
        input_spec=InputSpec(units="db", mean=-20.0, std=5.0),
        band="VV",
        pixel_size_m=10.0,
    )
    return save_model_card(tmp_path_factory.mktemp("models") / "random-5", model, card)


def test_ships_from_cfar_become_polygons_with_their_length(tmp_path, five_class_card):
    from engine.data.synth import SceneConfig, simulate_scene, write_scene

    config = SceneConfig(
        width_px=256,
        height_px=256,
        spills=(0, 0),
        ships=(2, 2),
        land_probability=0.0,
        nodata_probability=0.0,
        biogenic_films=(0, 0),
        rain_cells=(0, 0),
        internal_waves=(0, 0),
        low_wind_patches=(0, 0),
    )
    simulated = simulate_scene(config, 2)  # a 248 m and a 140 m ship, 15-30 dB above the sea
    image = write_scene(simulated, tmp_path / "sim", name="ships", quicklook=False)["scene"]
    # land_probability 1: the random network's land must not hide the ships (a trained model's land would)
    result = run_detection(
        DetectParams(
            str(image),
            str(tmp_path / "out"),
            model_path=str(five_class_card),
            device="cpu",
            detector_options={"land_probability": 1.0},
        )
    )
    with fiona.open(result.spills_path) as layer:
        ships = [(shape(f.geometry), f.properties) for f in layer if f.properties["class"] == "ship"]
    truth = simulated.params["ships"]
    assert result.counts["ship"] == len(ships) == len(truth) == 2
    with rasterio.open(image) as dataset:
        transform = dataset.transform
    for ship in truth:
        x, y = rasterio.transform.xy(transform, *ship["image_centre_px"])
        (props,) = [p for geometry, p in ships if geometry.distance(Point(x, y)) <= 20]  # within 2 px
        assert props["ship_length_m"] == pytest.approx(ship["length_m"], rel=0.25)
        assert props["mean_prob"] > 0.5 and props["pixels"] >= 9
    summary = result.summary
    assert summary["parameters"]["ships"] == "cfar" and summary["detector"]["ships"] == "cfar"
    assert summary["detector"]["cfar"]["windows_px"] == [3, 51, 81] and summary["tiling"]["context_px"] == 40


def test_an_8bit_export_of_the_sample_scene_finds_its_oil(tmp_path):
    """A display export (σ0 linear in dB over -30..0 dB, uint8, as OSD's pictures) runs through the default model
    read as -35..5 dB (``db-8bit``): the model compares each pixel to the local sea, so the unknown span matters
    little. Measured: oil IoU against the sample's labels 0.51 (the calibrated scene: 0.56); no wind is claimed."""
    sample = Path(__file__).resolve().parents[1] / "resources" / "sample"
    with rasterio.open(sample / "sample_scene.tif") as source:
        db = source.read(1) * float(source.scales[0])
        crs, transform = source.crs, source.transform
    pixels = np.round(np.clip((db + 30.0) / 30.0, 0.0, 1.0) * 255).astype(np.uint8)
    picture = write_raster(tmp_path / "export.tif", pixels, crs, transform)
    result = run_detection(DetectParams(str(picture), str(tmp_path / "out"), method="model", land_mask="none"))
    assert result.summary["input"]["units"] == "db-8bit"
    assert result.summary["wind"]["method"].startswith("no wind: the input is an 8-bit picture")
    with rasterio.open(result.classes_path) as found, rasterio.open(sample / "sample_labels.tif") as labels:
        oil, truth = found.read(1) == 1, labels.read(1) == 1
    assert (oil & truth).sum() / (oil | truth).sum() > 0.4


# --- options are judged before the scene opens or a model loads -----------------------------------------------


@pytest.fixture
def card_without_weights(tmp_path):
    """The bundled default card's JSON alone: its tile size is readable, its weights are missing."""
    bundled = Path(__file__).resolve().parents[1] / "resources" / "models" / "default.json"
    card = tmp_path / "models" / "lonely.json"
    card.parent.mkdir()
    card.write_text(bundled.read_text())
    return str(card)


@pytest.mark.parametrize("use_card", [True, False], ids=["--model", "bundled default card"])
def test_an_overlap_larger_than_the_cards_tile_is_refused_before_the_scene_and_the_weights(
    tmp_path, card_without_weights, use_card
):
    """The scene does not exist and the card's weights are missing: the overlap is refused first (it was refused
    once the model had loaded, seconds to minutes, after the scene had opened)."""
    params = DetectParams(
        str(tmp_path / "nope.tif"),
        str(tmp_path / "out"),
        model_path=card_without_weights if use_card else None,
        overlap_px=100000,
    )
    with pytest.raises(DakdError, match="^--overlap 100000 px is more than half the 256-pixel tile; use 0 to 128 px$"):
        run_detection(params)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"method": "threshold", "background_window_km": float("inf")}, "--background-window-km must be positive"),
        ({"method": "threshold", "background_window_km": -1.0}, "--background-window-km must be positive"),
        ({"method": "threshold", "threshold_k_db": 99.0}, "--threshold-k-db must be 0 to 30 dB"),
        # with a model the wind reads the background window: inf was an internal error after the whole run
        ({"background_window_km": float("inf")}, "--background-window-km must be positive"),
        ({"threshold_k_db": -1.0}, "--threshold-k-db must be 0 to 30 dB"),
        ({"ships": "sideways"}, "unknown --ships 'sideways'"),
        ({"method": "magic"}, "unknown --method 'magic'"),
        ({"method": "threshold", "detector_options": {"precision": "fp16"}}, "the threshold detector has no option"),
        ({"detector_options": {"pfa": 0}}, "CFAR pfa is the exponent x of a false-alarm probability"),
        # the device and the backend were judged once the scene had opened, a backend's options once it had loaded
        ({"device": "gpu"}, "^unknown device 'gpu'; use one of: auto, cpu, cuda, mps \\(or cuda:N\\)$"),
        ({"method": "threshold", "device": "gpu"}, "^unknown device 'gpu'"),
        ({"detector_options": {"backend": "tpu"}}, "^unknown --backend 'tpu'"),
        # the torch backend's options were judged once the scene had opened (engine.detectors.model's own messages)
        *[
            ({"device": "cpu", "detector_options": {**backend, "precision": half}}, f"^--precision {half} is for GPUs")
            for backend in ({"backend": "torch"}, {})  # fp16 makes auto choose torch
            for half in ("fp16", "bf16")
            if backend or half == "fp16"  # auto on the CPU runs bf16 with OpenVINO, or torch when there is no export
        ],
        ({"device": "cpu", "detector_options": {"scan_backend": "magic"}}, "^unknown scan backend 'magic'"),
        (
            {"device": "cpu", "detector_options": {"backend": "torch", "scan_backend": "triton"}},
            "^--scan-backend triton needs a CUDA GPU and the triton package; on cpu",
        ),
        ({"device": "cpu", "detector_options": {"backend": "torch", "batch_size": 0}}, "^--batch-size must be at"),
        ({"detector_options": {"backend": "torch", "tile_px": 3}}, "^the model detector has no option\\(s\\) tile_px"),
    ],
)
def test_detector_options_are_refused_before_the_scene_and_the_weights(
    tmp_path, card_without_weights, changes, message
):
    params = DetectParams(str(tmp_path / "nope.tif"), str(tmp_path / "out"), model_path=card_without_weights)
    for name, value in changes.items():
        setattr(params, name, value)
    with pytest.raises(DakdError, match=message):
        run_detection(params)
    assert not (tmp_path / "out").exists()


def test_the_pre_scene_checks_of_a_threshold_run_never_import_torch(tmp_path):
    """A "Detection only" install has no torch; the threshold detector needs none, also to judge its options."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import engine.detectors\n"
        "from engine.detect import DetectParams, run_detection\n"
        "from engine.errors import DakdError\n"
        f"engine.detectors.DEFAULT_MODEL_CARD = Path({str(tmp_path / 'absent.json')!r})  # auto: the threshold\n"
        "for method in ('threshold', 'auto'):\n"
        f"    params = DetectParams({str(tmp_path / 'nope.tif')!r}, {str(tmp_path / 'out')!r}, method=method, "
        "device='cpu', detector_options={'backend': 'torch'} if method == 'auto' else {})\n"
        "    try:\n"
        "        run_detection(params)\n"
        "    except DakdError as error:\n"
        "        assert 'nope.tif' in str(error), error  # past the pre-scene checks, refused for the missing scene\n"
        "assert 'torch' not in sys.modules, 'the threshold run imported torch'\n"
    )
    repo = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_a_gpu_that_is_not_there_is_refused_before_the_scene_and_the_weights(tmp_path, card_without_weights):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible here")
    params = DetectParams(
        str(tmp_path / "nope.tif"), str(tmp_path / "out"), model_path=card_without_weights, device="cuda"
    )
    with pytest.raises(DakdError, match="^--device cuda: no CUDA GPU is visible to torch"):
        run_detection(params)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("use_card", [True, False], ids=["--model", "bundled default card"])
def test_a_background_window_too_large_for_the_wind_is_refused_before_the_model_loads(
    tmp_path, card_without_weights, use_card
):
    """With a model, the window sets the wind estimate's background around each slick. 1000 km (100001 px) ran: on
    the sample scene its polygons took 1.2 s instead of 0.3 (100,000 km: 522 s) and a slick's wind came out 2.8-4.6
    m/s instead of 4.7-8.2. The card's weights are missing: the refusal comes before the model loads."""
    params = DetectParams(
        scene_file(tmp_path, sea(50, 50)),
        str(tmp_path / "out"),
        model_path=card_without_weights if use_card else None,
        background_window_km=1000,
    )
    with pytest.raises(
        InputError,
        match="^--background-window-km 1000 is 100001 px at this scene's 10 m pixels, more than the 1001 px the wind "
        "estimate around each slick handles; use at most 10 km \\(SNAP's default is 0.5 km\\)$",
    ):
        run_detection(params)
    assert not (tmp_path / "out").exists()


def test_an_existing_output_is_refused_before_the_scene_opens(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("analyst's notes")
    with pytest.raises(OutputError, match="already exists and is not empty; pass --overwrite"):
        run_detection(DetectParams(str(tmp_path / "nope.tif"), str(out), method="threshold"))
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_the_threshold_detectors_overlap_is_refused_before_the_land_mask_is_placed(tmp_path):
    """Its tiles follow the scene's pixel size (512 px here), so the overlap waits for the scene, not for the mask."""
    path = scene_file(tmp_path, sea(50, 50, slick=False))
    land = tmp_path / "land.gpkg"
    schema = {"geometry": "Polygon", "properties": {}}
    with fiona.open(land, "w", driver="GPKG", schema=schema, crs=UTM[0]) as layer:  # 100 km east of the scene
        layer.write({"geometry": mapping(box(600000, 5990000, 601000, 5991000)), "properties": {}})
    messages = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("dakd")
    logger.addHandler(handler)
    params = DetectParams(path, str(tmp_path / "out"), method="threshold", land_mask=str(land), overlap_px=300)
    try:
        with pytest.raises(DakdError, match="--overlap 300 px is more than half the 512-pixel tile"):
            run_detection(params)
        assert not [m for m in messages if "no land polygon over the scene" in m]
        params.overlap_px = 64
        run_detection(params)
        assert [m for m in messages if "no land polygon over the scene" in m]  # the mask is placed when the run goes on
    finally:
        logger.removeHandler(handler)
