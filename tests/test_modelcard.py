import json

import pytest
import torch
from affine import Affine

from engine.classes import BINARY_CLASSES, OSD_CLASSES
from engine.detectors.base import InputSpec
from engine.errors import ModelError
from engine.io.scene import SceneInfo
from engine.modelcard import (
    card_paths,
    check_card_against_scene,
    load_model,
    load_model_card,
    new_model_card,
    save_model_card,
)
from engine.models import create_model


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return create_model("saross_net_xs", num_classes=2, encoder_options={"scan_backend": "reference"}).eval()


def _card(model, **fields):
    spec = InputSpec(units="db", db_range=(-30.0, 0.0), mean=-18.0, std=5.0, tile_size=256)
    values = dict(
        input_spec=spec,
        band="VV",
        pixel_size_m=10.0,
        training={"dataset": "synthetic", "tiles": 12},
        metrics={"val": {"miou": 0.5}},
    )
    return new_model_card(model, "test-xs", BINARY_CLASSES, **{**values, **fields})


def _scene(**changes):
    fields = dict(
        path="scene.tif",
        width=300,
        height=200,
        crs=None,
        transform=Affine.identity(),
        band=1,
        band_name="Sigma0_VV_db",
        units="db",
        units_reason="band name",
        nodata=None,
        pixel_size_m=(10.0, 10.0),
        scene_id="scene",
        metadata={},
    )
    fields.update(changes)
    return SceneInfo(**fields)


def test_card_round_trips_weights_and_fields(tmp_path, small_model):
    card_path = save_model_card(tmp_path / "models" / "test-xs", small_model, _card(small_model))
    weights_path, json_path = card_paths(card_path)
    assert json_path == card_path and weights_path.suffix == ".safetensors" and weights_path.is_file()
    data = json.loads(card_path.read_text())
    assert data["build"]["variant"] == "XS" and data["classes"][1] == {"id": 1, "name": "oil", "rgb": [0, 255, 255]}
    assert data["input"]["units"] == "db" and data["input"]["mean"] == -18.0 and data["engine_version"]
    assert len(data["weights"]["sha256"]) == 64
    loaded, card = load_model(weights_path)  # either file names the model
    assert card == load_model_card(card_path)
    assert card.classes == BINARY_CLASSES and card.input_spec.db_range == (-30.0, 0.0)
    assert card.training == {"dataset": "synthetic", "tiles": 12}
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), small_model(x))
    assert not list(tmp_path.glob("models/.*tmp-*"))


def test_safetensors_alone_still_loads_from_its_header(tmp_path, small_model):
    card_path = save_model_card(tmp_path / "m.json", small_model, _card(small_model))
    card_path.unlink()
    model, card = load_model(tmp_path / "m.safetensors")
    assert card.name == "test-xs" and model.config.num_classes == 2


def test_corrupt_or_mismatched_files_are_refused(tmp_path, small_model):
    card_path = save_model_card(tmp_path / "m", small_model, _card(small_model))
    weights_path = tmp_path / "m.safetensors"
    weights_path.write_bytes(weights_path.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ModelError, match="sha256"):
        load_model(card_path)
    data = json.loads(card_path.read_text())
    data["classes"] = data["classes"][:1]
    card_path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="num_classes"):
        load_model_card(card_path)
    card_path.write_text("{not json")
    with pytest.raises(ModelError, match="cannot read"):
        load_model_card(card_path)
    card_path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ModelError, match="not a DAKD model card"):
        load_model_card(card_path)
    with pytest.raises(ModelError, match="no model found"):
        load_model_card(tmp_path / "absent.json")


def test_weights_of_other_shapes_than_the_card_builds_are_named_in_one_line(tmp_path, small_model):
    """Audit: a card edited to more classes (its weights' sha256 still matches) gave an internal error."""
    card_path = save_model_card(tmp_path / "m", small_model, _card(small_model))
    data = json.loads(card_path.read_text())
    data["classes"].append({"id": 2, "name": "ship", "rgb": [255, 255, 0]})
    data["build"]["num_classes"] = 3
    card_path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=r"m\.safetensors: weights do not fit the card's build \([1-9]\d* tensors of"):
        load_model(card_path)


def test_card_must_describe_the_model_it_is_saved_with(tmp_path, small_model):
    other = new_model_card(create_model("saross_net_xs"), "other", OSD_CLASSES)
    with pytest.raises(ModelError, match="does not match"):
        save_model_card(tmp_path / "m", small_model, other)
    assert not list(tmp_path.iterdir())


def test_scene_checks_name_the_mismatch(small_model):
    card = _card(small_model)
    check_card_against_scene(card, _scene())
    with pytest.raises(ModelError, match="band is VH but model 'test-xs' was trained on VV"):
        check_card_against_scene(card, _scene(band_name="Sigma0_VH_db"))
    with pytest.raises(ModelError, match="band is HH"):
        check_card_against_scene(card, _scene(band_name=None, metadata={"polarisation": "HH"}))
    with pytest.raises(ModelError, match="uncalibrated amplitude"):
        check_card_against_scene(card, _scene(units="amplitude"))
    with pytest.raises(ModelError, match="pixel size 40.0 m"):
        check_card_against_scene(card, _scene(pixel_size_m=(40.0, 40.0)))
    check_card_against_scene(_card(small_model, band="any", pixel_size_m=None), _scene(band_name="VH"))


def test_a_card_written_before_input_channels_existed_loads_and_runs_as_before(tmp_path, small_model):
    """Cards of engine 0.1 have no input_features in their build: one normalised band, nothing computed."""
    card_path = save_model_card(tmp_path / "old", small_model, _card(small_model))
    data = json.loads(card_path.read_text())
    for key in ("input_features", "input_bright_guard"):
        data["build"].pop(key)
    card_path.write_text(json.dumps(data))
    loaded, card = load_model(card_path)
    assert loaded.inputs is None and loaded.config.in_chans == 1 and "input_features" not in card.build
    x = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        assert torch.equal(loaded(x), small_model(x))


def test_a_card_records_its_input_channels(tmp_path):
    model = create_model(
        "saross_net_xs", num_classes=2, input_features=("db", "lcn:31"), encoder_options={"scan_backend": "reference"}
    ).eval()
    card_path = save_model_card(tmp_path / "new", model, _card(model))
    assert json.loads(card_path.read_text())["build"]["input_features"] == ["db", "lcn:31"]
    loaded, _ = load_model(card_path)
    x = torch.randn(1, 1, 48, 48)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


@pytest.mark.parametrize("text", ["[]", "[1, 2]", "3", '"a card"', "null", "true"])
def test_a_json_that_is_not_an_object_is_not_a_card(tmp_path, text):
    """A JSON array, number, string... is refused in one line, never an AttributeError (``dakd model list``)."""
    notes = tmp_path / "notes.json"
    notes.write_text(text)
    for read in (load_model_card, load_model):
        with pytest.raises(ModelError, match=f"^{notes}: not a DAKD model card \\(it holds a JSON "):
            read(notes)


@pytest.mark.parametrize("header", ["[]", "{not json"])
def test_a_weights_header_that_is_not_a_card_object_is_refused(tmp_path, small_model, header):
    from safetensors.torch import save_file

    weights = tmp_path / "m.safetensors"
    save_file({"w": torch.zeros(2)}, str(weights), metadata={"dakd_model_card": header})
    with pytest.raises(ModelError, match=f"^{weights}: "):
        load_model_card(weights)


@pytest.mark.parametrize("field", ["weights", "tiling", "input", "build", "training", "metrics"])
@pytest.mark.parametrize("value, kind", [("x.safetensors", "string"), ([1], "array"), (None, "null")])
def test_a_field_that_must_be_an_object_is_named_in_one_line(tmp_path, small_model, field, value, kind):
    """``"weights": "x.safetensors"`` reached ``.get`` as an AttributeError ("internal error"), not a refusal."""
    card_path = save_model_card(tmp_path / "m", small_model, _card(small_model))
    data = json.loads(card_path.read_text())
    data[field] = value
    card_path.write_text(json.dumps(data))
    for read in (load_model_card, load_model):
        with pytest.raises(ModelError, match=f'^{card_path}: invalid model card \\("{field}" holds a JSON {kind}, '):
            read(card_path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format_version": "one"}, 'invalid model card \\("format_version" is not a number\\)'),
        ({"build": {"num_classes": "two"}}, "build.num_classes=two but 2 classes are listed"),
        ({"input": {"pixel_size_tolerance": 0}}, "input.pixel_size_tolerance must be 1 or more"),
        # Infinity is valid to Python's json: int() of it raised OverflowError, an internal error (model list stopped)
        ({"format_version": float("inf")}, 'invalid model card \\("format_version" is not a number\\)'),
        ({"input": {"tile_size": float("inf")}}, "invalid model card \\(OverflowError"),
        ({"input": {"db_range": [-35.0]}}, "input.db_range must be two numbers"),  # was an internal error in evaluate
        ({"input": {"db_range": [5.0, -35.0]}}, "input.db_range must be two numbers"),
        ({"input": {"std": float("inf")}}, "input units must be 'db' or 'linear', mean a number and std positive"),
    ],
)
def test_a_malformed_value_is_refused_in_one_line(tmp_path, small_model, change, message):
    """A hand-edited number: a ValueError, or a division by zero when a scene is checked, before this."""
    card_path = save_model_card(tmp_path / "m", small_model, _card(small_model))
    data = json.loads(card_path.read_text())
    for key, value in change.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    card_path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=f"^{card_path}: {message}"):
        load_model_card(card_path)
