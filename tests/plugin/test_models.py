"""The plugin's model registry (bundled card + registered cards in the cache folder)."""

from __future__ import annotations

import contextlib
import json
import shutil

import pytest

pytestmark = pytest.mark.qgis


def test_register_list_default_and_delete(model_card, isolated_plugin_settings, tmp_path):
    from dakd_qgis.models import default_model_path, delete_model, list_models, register_model

    settings = isolated_plugin_settings
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for path in (model_card, model_card.with_suffix(".safetensors")):
        shutil.copy(path, moved / path.name)
    registered = register_model(moved / model_card.name, settings, "my model-v1", make_default=True, validate=False)
    assert registered == settings.models_dir() / "my model-v1.json"
    card = json.loads(registered.read_text())
    assert card["weights"]["file"] == "my model-v1.safetensors"
    assert registered.with_suffix(".safetensors").is_file()
    shutil.rmtree(moved)  # the registered copy does not depend on the training output
    entries = [e for e in list_models(settings) if not e.bundled]
    assert [e.name for e in entries] == ["my model-v1"]
    assert entries[0].describe() == "saross_net XS, sea/oil/look-alike/ship/land, validation mIoU 61.2 %"
    assert default_model_path(settings) == registered
    delete_model(registered, settings)
    assert not registered.exists() and not registered.with_suffix(".safetensors").exists()
    assert settings.default_model == ""


def test_a_model_that_cannot_be_deleted_is_one_message(model_card, isolated_plugin_settings):
    """Deleting from a registry that cannot be written (a read-only share; here a folder stands where the
    weights are) raised OSError out of the Delete button; now it is one ModelRegistryError naming the folder."""
    from dakd_qgis.models import ModelRegistryError, delete_model, list_models, register_model

    registered = register_model(model_card, isolated_plugin_settings, "team", validate=False)
    weights = registered.with_suffix(".safetensors")
    weights.unlink()
    weights.mkdir()
    (weights / "kept.txt").write_text("not the plugin's to delete")
    with pytest.raises(ModelRegistryError, match=r"^cannot delete team from .*models \(.*\); check that the folder"):
        delete_model(registered, isolated_plugin_settings)
    assert (weights / "kept.txt").read_text() == "not the plugin's to delete"
    assert "team" not in [entry.name for entry in list_models(isolated_plugin_settings)]


def test_the_weights_are_the_ones_the_engine_loads_whatever_the_card_calls_them(
    model_card, isolated_plugin_settings, tmp_path
):
    """Trust: a card's ``weights.file`` keeps its training name (as the bundled card did: ``model.safetensors``),
    and the engine loads ``NAME.safetensors`` beside ``NAME.json`` whatever it says. Following the field, the
    plugin refused a card the engine loads, copied another model's weights, or deleted them."""
    import hashlib

    from dakd_qgis.models import delete_model, register_model

    settings = isolated_plugin_settings
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    card = renamed / "stage2.json"
    data = json.loads(model_card.read_text())
    data["weights"]["file"] = "model.safetensors"  # as after `cp model.json stage2.json`
    card.write_text(json.dumps(data))
    shutil.copy(model_card.with_suffix(".safetensors"), card.with_suffix(".safetensors"))
    registered = register_model(card, settings, "stage2")  # validated by the engine; before: "weights missing"
    digest = hashlib.sha256(registered.with_suffix(".safetensors").read_bytes()).hexdigest()
    assert digest == data["weights"]["sha256"]
    decoy = renamed / "model.safetensors"  # another model's weights, under the name the card gives
    decoy.write_bytes(b"another model")
    assert register_model(card, settings, "again", validate=False).with_suffix(".safetensors").read_bytes() != (
        b"another model"
    )
    other = settings.models_dir() / "model.safetensors"  # a model the user keeps in the models folder
    other.write_bytes(b"keep me")
    registered.write_text(json.dumps(data))  # its card now names the other file
    delete_model(registered, settings)
    assert other.read_bytes() == b"keep me" and not registered.with_suffix(".safetensors").exists()


def test_register_validates_with_the_engine(model_card, isolated_plugin_settings, tmp_path):
    from dakd_qgis.models import ModelRegistryError, register_model

    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"name": "x"}))
    shutil.copy(model_card.with_suffix(".safetensors"), broken.with_suffix(".safetensors"))
    with pytest.raises(ModelRegistryError, match="not a DAKD model card"):
        register_model(broken, isolated_plugin_settings)
    assert not list(isolated_plugin_settings.models_dir().iterdir())
    registered = register_model(model_card, isolated_plugin_settings)
    assert registered.is_file()


def test_register_refuses_weights_that_do_not_match_their_card(model_card, isolated_plugin_settings, tmp_path):
    """Weights replaced under a card are refused as detection refuses them, before anything is copied."""
    from dakd_qgis.models import ModelRegistryError, register_model

    copy = tmp_path / "swapped.json"
    shutil.copy(model_card, copy)
    weights = bytearray(model_card.with_suffix(".safetensors").read_bytes())
    weights[-1] ^= 0xFF  # one byte of the last tensor: still a readable safetensors file
    copy.with_suffix(".safetensors").write_bytes(bytes(weights))
    with pytest.raises(ModelRegistryError, match="do not match the card's sha256"):
        register_model(copy, isolated_plugin_settings)
    assert not list(isolated_plugin_settings.models_dir().iterdir())


def test_a_failed_copy_is_one_message_and_leaves_no_partial_files(model_card, isolated_plugin_settings):
    from dakd_qgis.models import ModelRegistryError, register_model

    models = isolated_plugin_settings.models_dir()
    (models / "blocked.safetensors").mkdir(parents=True)  # a real OSError when the weights are moved in place
    # files under the names the copy once used for itself are someone else's: they stay
    (models / "blocked.safetensors.partial").write_text("mine")
    (models / "blocked.json.partial").write_text("mine too")
    with pytest.raises(ModelRegistryError, match="cannot copy .* free disk space or check the folder"):
        register_model(model_card, isolated_plugin_settings, "blocked", validate=False, replace=True)
    assert sorted(p.name for p in models.iterdir()) == [
        "blocked.json.partial",
        "blocked.safetensors",
        "blocked.safetensors.partial",
    ]
    assert (models / "blocked.safetensors.partial").read_text() == "mine"


@pytest.fixture
def other_card(tmp_path):
    """Another real model card written by the engine: same architecture, its own random weights."""
    from engine.classes import OSD_CLASSES
    from engine.modelcard import new_model_card, save_model_card
    from engine.models import create_model

    model = create_model("saross_net_xs", num_classes=len(OSD_CLASSES))
    folder = tmp_path / "second-training"
    folder.mkdir()
    return save_model_card(folder / "second", model, new_model_card(model, "second", OSD_CLASSES, metrics={}))


def _files(card):
    return card.read_bytes(), card.with_suffix(".safetensors").read_bytes()


def test_a_registered_name_is_not_taken_over_least_of_all_the_default(model_card, other_card, isolated_plugin_settings):
    """Audit: a second model registered under the same name (a second fine-tune the same day, Import…) replaced
    the first without a word; when it was the default, detection then ran the new, maybe unmeasured, model."""
    from dakd_qgis.models import (
        ModelNameTaken,
        ModelRegistryError,
        free_model_name,
        list_models,
        register_model,
    )
    from dakd_qgis.settings import PluginSettings

    settings = isolated_plugin_settings
    default = register_model(model_card, settings, "my-model", make_default=True, validate=False)
    kept = _files(default)
    assert kept[1] != other_card.with_suffix(".safetensors").read_bytes()  # really another model
    with pytest.raises(ModelNameTaken, match="'my-model' is already registered") as taken:
        register_model(other_card, settings, "my-model", make_default=False, validate=False)
    assert taken.value.is_default and taken.value.card == default
    assert _files(default) == kept and PluginSettings.load().default_model == str(default)
    # told to replace it, the default model is still replaced only by a model that becomes the default
    with pytest.raises(ModelRegistryError, match="'my-model' is the default model for detection"):
        register_model(other_card, settings, "my-model", validate=False, replace=True)
    assert _files(default) == kept and PluginSettings.load().default_model == str(default)
    assert [entry.name for entry in list_models(settings) if not entry.bundled] == ["my-model"]
    assert free_model_name(settings, "my-model") == "my-model-2"
    second = register_model(other_card, settings, free_model_name(settings, "my-model"), validate=False)
    assert second.stem == "my-model-2" and _files(default) == kept
    assert free_model_name(settings, "my-model", taken=lambda name: name == "my-model-3") == "my-model-4"
    # a name that is not the default's is replaced when the caller says so (the analyst agreed)
    replaced = register_model(model_card, settings, "my-model-2", validate=False, replace=True)
    assert _files(replaced)[1] == kept[1] and PluginSettings.load().default_model == str(default)


def _copy_of(card, folder):
    """Copy a card and its weights into ``folder`` (as a training output the analyst imports); return the copy."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in (card, card.with_suffix(".safetensors")):
        shutil.copy(path, folder / path.name)
    return folder / card.name


def test_an_imported_models_onnx_export_comes_with_it_and_goes_with_it(model_card, isolated_plugin_settings, tmp_path):
    """Audit: registering copied only NAME.json and NAME.safetensors, never NAME.onnx; a "Detection only" install
    (no torch, so no export of its own) could not run an imported model. The export is copied now, the engine
    finds it beside the registered card, and deleting the model removes the copy."""
    from dakd_qgis.models import delete_model, register_model
    from engine.runtimes import export_onnx, find_onnx

    settings = isolated_plugin_settings
    card = _copy_of(model_card, tmp_path / "trained")
    export = export_onnx(card)  # NAME.onnx beside the card, as 'dakd model export CARD --onnx' writes it
    registered = register_model(card, settings, "imported", validate=False)
    copied = registered.with_suffix(".onnx")
    assert copied.read_bytes() == export.read_bytes()
    shutil.rmtree(tmp_path / "trained")  # the registered model does not depend on the files imported
    assert find_onnx(registered, export=False)[0] == copied  # what detection runs where no export can be made
    models = settings.models_dir()
    assert sorted(path.name for path in models.iterdir()) == ["imported.json", "imported.onnx", "imported.safetensors"]
    delete_model(registered, settings)
    assert list(models.iterdir()) == []


def test_a_left_over_onnx_export_keeps_its_name(isolated_plugin_settings, model_card):
    """A NAME.onnx in the models folder (an export the analyst made there) is never replaced or removed unasked."""
    from dakd_qgis.models import ModelNameTaken, free_model_name, register_model

    settings = isolated_plugin_settings
    theirs = settings.models_dir() / "mine.onnx"
    theirs.write_bytes(b"an export of the analyst's")
    assert free_model_name(settings, "mine") == "mine-2"
    with pytest.raises(ModelNameTaken):
        register_model(model_card, settings, "mine", validate=False)
    assert theirs.read_bytes() == b"an export of the analyst's"
    assert sorted(path.name for path in settings.models_dir().iterdir()) == ["mine.onnx"]


@contextlib.contextmanager
def _largest_file(size):
    """Make writing a file beyond ``size`` bytes fail (EFBIG, "File too large"), as a full disk or a quota would."""
    import resource
    import signal

    previous_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the error, not the signal that ends Python
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, previous_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, previous_limit)
        signal.signal(signal.SIGXFSZ, previous_handler)


def test_a_card_that_cannot_be_written_leaves_the_registered_model_whole(
    model_card, other_card, isolated_plugin_settings, tmp_path
):
    """Audit: the new weights were moved over the registered ones before the card was written, so a card that
    could not be written (a full disk) left the new weights beside the old card. Every file is written under a
    partial name first now, and renamed only when all are complete."""
    from dakd_qgis.models import ModelRegistryError, register_model
    from engine.runtimes import export_onnx

    settings = isolated_plugin_settings
    first = _copy_of(model_card, tmp_path / "first")
    export_onnx(first)
    registered = register_model(first, settings, "model", validate=False)
    models = settings.models_dir()

    def snapshot():
        return {path.name: path.read_bytes() for path in models.iterdir()}

    kept = snapshot()
    assert sorted(kept) == ["model.json", "model.onnx", "model.safetensors"]
    weights_size = other_card.with_suffix(".safetensors").stat().st_size
    data = json.loads(other_card.read_text())
    data["description"] = "a long description " * (weights_size // 10)  # the card is the largest file now
    other_card.write_text(json.dumps(data))
    with _largest_file(weights_size + 1024), pytest.raises(ModelRegistryError, match="cannot copy .*too large"):
        register_model(other_card, settings, "model", validate=False, replace=True)
    assert snapshot() == kept  # neither the new weights nor any partial file
    # replaced for real, the old model's export goes with it: it was made from the old weights
    assert register_model(other_card, settings, "model", validate=False, replace=True) == registered
    assert sorted(snapshot()) == ["model.json", "model.safetensors"]
    assert snapshot()["model.safetensors"] == other_card.with_suffix(".safetensors").read_bytes()


def test_registering_the_default_keeps_settings_saved_meanwhile(model_card, isolated_plugin_settings):
    """Audit: a copy of the settings read when a fine-tune started was saved whole when it registered its model,
    hours later, putting back the engine Python and device changed meanwhile in Settings…."""
    from dakd_qgis.models import register_model
    from dakd_qgis.settings import PluginSettings

    at_start = PluginSettings.load()  # the fine-tune's copy
    meanwhile = PluginSettings.load()  # Settings… while it trains
    meanwhile.engine_python = "/opt/another/bin/python3"
    meanwhile.device = "cpu"
    meanwhile.save()
    registered = register_model(model_card, at_start, "late", make_default=True, validate=False)
    now = PluginSettings.load()
    assert now.default_model == str(registered)
    assert (now.engine_python, now.device) == ("/opt/another/bin/python3", "cpu")


def test_an_analysts_own_json_in_the_model_folder_is_not_a_model(model_card, isolated_plugin_settings):
    """Trust: Models… listed every ``*.json`` of ``<cache>/models``, and Delete removed an analyst's own file there
    with the same-name ``.safetensors``; Import… of a card of that name offered to replace "the registered model".
    Only files with the engine's model card format are models now: the others are not listed, deleted or replaced.
    """
    from dakd_qgis.models import ModelRegistryError, delete_model, free_model_name, list_models, register_model

    settings = isolated_plugin_settings
    folder = settings.models_dir()
    notes, data = folder / "test-model.json", folder / "test-model.safetensors"
    notes.write_text(json.dumps({"area": "North Sea", "flights": [1, 2]}))
    data.write_bytes(b"the analyst's data")
    registered = register_model(model_card, settings, "team", validate=False)
    assert [entry.name for entry in list_models(settings) if not entry.bundled] == ["team"]
    with pytest.raises(ModelRegistryError, match=r"test-model\.json is not a model card; it is left as it is$"):
        delete_model(notes, settings)
    with pytest.raises(ModelRegistryError, match=r"test-model\.json is not a model card, and it is not replaced"):
        register_model(model_card, settings, validate=False, replace=True)  # the card's name is test-model
    assert json.loads(notes.read_text()) == {"area": "North Sea", "flights": [1, 2]}
    assert data.read_bytes() == b"the analyst's data"
    assert free_model_name(settings, "test-model") == "test-model-2"
    delete_model(registered, settings)  # a real card still goes
    assert not registered.exists() and notes.exists()


def test_bundled_card_cannot_be_deleted(isolated_plugin_settings, tmp_path):
    from dakd_qgis.models import ModelRegistryError, delete_model

    outside = tmp_path / "card.json"
    outside.write_text("{}")
    with pytest.raises(ModelRegistryError, match="not a registered model"):
        delete_model(outside, isolated_plugin_settings)
    assert outside.exists()


def test_the_default_models_card_says_its_tiles_were_labelled_not_real():
    """Issue 12 item 18: the default model was trained on simulated tiles; its card must not call them real."""
    from pathlib import Path

    from engine.train.pipeline import _describe

    card = json.loads((Path(__file__).resolve().parents[2] / "resources" / "models" / "default.json").read_text())
    assert "real tiles" not in card["description"] and "labelled tiles" in card["description"]
    assert "real" not in _describe("cpu-default", 4135, 0.0) and "4135 labelled tiles" in _describe("tiny", 4135, 0.0)
