import json

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from engine.classes import BINARY_CLASSES
from engine.cli import main
from engine.detectors.base import InputSpec
from engine.detectors.model import load_model_detector
from engine.errors import DakdError, ModelError
from engine.modelcard import new_model_card, save_model_card
from engine.models import create_model


def _write_scene(path, band_name, seed=0):
    """300×200 px of linear σ0 at 10 m in UTM (open sea south of Sicily), with a dark (oil-like) patch."""
    rng = np.random.default_rng(seed)
    sigma0 = (10 ** (rng.normal(-20, 3, (200, 300)) / 10)).astype("float32")
    sigma0[60:90, 100:160] *= 0.05
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=300,
        height=200,
        count=1,
        dtype="float32",
        crs="EPSG:32633",
        transform=from_origin(500000, 3880000, 10, 10),
    ) as dataset:
        dataset.write(sigma0, 1)
        dataset.set_band_description(1, band_name)
    return path


@pytest.fixture(scope="module")
def random_card(tmp_path_factory):
    """A randomly initialised SAROSS-Net-XS card for oil/background on VV σ0 in dB."""
    torch.manual_seed(0)
    model = create_model("saross_net_xs", num_classes=2)
    card = new_model_card(
        model,
        "random-xs",
        BINARY_CLASSES,
        input_spec=InputSpec(units="db", mean=-20.0, std=5.0),
        band="VV",
        pixel_size_m=10.0,
    )
    return save_model_card(tmp_path_factory.mktemp("models") / "random-xs", model, card)


def test_predict_returns_probabilities_per_class(random_card):
    detector = load_model_detector(random_card, "cpu", batch_size=2)
    tiles = np.random.default_rng(1).normal(size=(5, 1, 64, 64)).astype("float32")
    probabilities = detector.predict(tiles, np.ones_like(tiles, dtype=bool))
    assert probabilities.shape == (5, 2, 64, 64) and probabilities.dtype == np.float32
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    info = detector.describe()
    assert info.name == "model" and info.model_id == "random-xs"
    assert info.device.startswith("cpu") and info.device_reason == "requested cpu"
    assert info.extra["tiles"] == 5 and info.extra["precision"] == "fp32" and info.extra["batch_size"] == 2
    assert detector.classes == BINARY_CLASSES and detector.input_spec.units == "db"


def test_options_are_checked(random_card):
    with pytest.raises(DakdError, match="no option"):
        load_model_detector(random_card, "cpu", tile_px=3)
    with pytest.raises(DakdError, match="for GPUs"):
        load_model_detector(random_card, "cpu", precision="bf16")
    with pytest.raises(DakdError, match="unknown scan backend"):
        load_model_detector(random_card, "cpu", scan_backend="magic")
    for gpu_only in ("mamba_ssm", "triton"):
        with pytest.raises(DakdError, match=f"--scan-backend {gpu_only} needs a CUDA GPU"):
            load_model_detector(random_card, "cpu", scan_backend=gpu_only)
    detector = load_model_detector(random_card, "cpu", scan_backend="parallel", compile=True)
    assert detector.compiled and detector.describe().extra["scan_backend"] == "parallel"
    with pytest.raises(ModelError, match="no model found"):
        load_model_detector(random_card.with_name("absent.json"), "cpu")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"scan_backend": "magic"}, "unknown scan backend 'magic'"),
        ({"scan_backend": "triton"}, "--scan-backend triton needs a CUDA GPU"),
        ({"precision": "bf16"}, "--precision bf16 is for GPUs"),
        ({"batch_size": 0}, "--batch-size must be at least 1, got 0"),
    ],
)
def test_options_are_checked_before_the_weights_load(tmp_path, random_card, options, message):
    """The card's weights are missing: the option is refused first (it was refused once the weights had loaded)."""
    lonely = tmp_path / random_card.name
    lonely.write_text(random_card.read_text())
    with pytest.raises(DakdError, match=message):
        load_model_detector(lonely, "cpu", **options)
    with pytest.raises(ModelError):  # the weights are missing indeed
        load_model_detector(lonely, "cpu")


def test_dakd_detect_with_a_model_card_writes_valid_outputs(tmp_path, random_card, capsys):
    scene = _write_scene(tmp_path / "scene.tif", "Sigma0_VV")
    out = tmp_path / "out"
    code = main(
        [
            "--progress",
            "none",
            "detect",
            str(scene),
            "--method",
            "model",
            "--model",
            str(random_card),
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["detector"]["name"] == "model" and summary["detector"]["model_id"] == "random-xs"
    assert summary["detector"]["device_reason"].startswith("auto:")
    with rasterio.open(out / "probability.tif") as probability, rasterio.open(out / "classes.tif") as classes:
        assert (probability.width, probability.height) == (300, 200)
        assert probability.crs == classes.crs == rasterio.crs.CRS.from_epsg(32633)
        assert probability.descriptions == ("sea", "oil")
        class_ids = classes.read(1)
        encoded = probability.read().astype(int)  # round(p·250) per class band
    assert set(np.unique(class_ids)) <= {0, 1}
    assert encoded.max() <= 250 and np.abs(encoded.sum(axis=0) - 250).max() <= 1
    assert (out / "spills.gpkg").is_file() and (out / "quicklook.png").is_file()


def test_dakd_detect_refuses_a_scene_the_card_does_not_fit(tmp_path, random_card, capsys):
    scene = _write_scene(tmp_path / "vh.tif", "Sigma0_VH")
    out = tmp_path / "out"
    code = main(
        [
            "--progress",
            "none",
            "detect",
            str(scene),
            "--method",
            "model",
            "--model",
            str(random_card),
            "--out",
            str(out),
        ]
    )
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and error[-1].startswith("dakd: error: ") and "trained on VV" in error[-1]
    assert not out.exists()
