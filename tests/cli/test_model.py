import json
import shutil

import pytest
import torch

from engine.classes import OSD_CLASSES
from engine.cli import main
from engine.modelcard import new_model_card, save_model_card
from engine.models import create_model


@pytest.fixture(scope="module")
def card_path(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("saross_net_xs")
    card = new_model_card(
        model, "osd-xs", OSD_CLASSES, description="random weights for tests", metrics={"test": {"miou": 0.1}}
    )
    return save_model_card(tmp_path_factory.mktemp("models") / "osd-xs", model, card)


def test_model_info_prints_the_card(card_path, capsys):
    assert main(["model", "info", str(card_path)]) == 0
    out = capsys.readouterr().out
    assert "osd-xs" in out and "mambavision XS, skip=caft, 3.58M parameters" in out
    assert "3 ship (153, 76, 0)" in out and "random weights for tests" in out and "test mIoU 0.1" in out


def test_model_info_summarises_the_bundled_card(capsys):
    """The bundled default: one readable line each for training, metrics and the command that made it."""
    from engine.detectors import DEFAULT_MODEL_CARD

    assert main(["model", "info", str(DEFAULT_MODEL_CARD)]) == 0
    out = capsys.readouterr().out.splitlines()
    lines = {line.split(":", 1)[0]: line for line in out if ":" in line}
    assert "cpu-default" in lines["training"] and "tiles from" in lines["training"]
    assert "validation mIoU" in lines["metrics"] and "oil" in lines["metrics"]
    assert "make default-model" in lines["recipe"] and "dakd finetune" in lines["recipe"]
    # each later stage starts from the one before, and says so
    later = [line for line in out if line.startswith("then:")]
    assert len(later) == 2 and "model-stage1.json" in later[0] and "--augment robust-wide" in later[1]
    assert all(len(line) < 400 for line in lines.values())  # the full record is behind --json


def test_model_info_json_and_list(card_path, capsys):
    assert main(["model", "info", str(card_path.with_suffix(".safetensors")), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "osd-xs" and data["build"]["skip"] == "caft" and len(data["weights"]["sha256"]) == 64
    assert data["parameters"] == sum(p.numel() for p in create_model("saross_net_xs").parameters())
    assert main(["model", "list", str(card_path.parent)]) == 0
    assert "osd-xs  mambavision XS  sea/oil/look-alike/ship/land" in capsys.readouterr().out


def test_model_info_on_a_bad_path_is_one_line(tmp_path, capsys):
    assert main(["model", "info", str(tmp_path / "nothing.json")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("dakd: error:") and "no model found" in error[0]


def test_model_list_and_info_take_a_json_array_for_no_card(card_path, tmp_path, capsys):
    """``notes.json`` holding ``[]`` beside a card: listed as unreadable in one line, and the listing goes on."""
    for suffix in (".json", ".safetensors"):
        shutil.copy(card_path.with_suffix(suffix), tmp_path / f"osd-xs{suffix}")
    notes = tmp_path / "notes.json"
    notes.write_text("[]")
    assert main(["model", "list", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{notes}  (unreadable: {notes}: not a DAKD model card (it holds a JSON array, not an object); "
        "give a model's .json card)",
        f"{tmp_path / 'osd-xs.json'}  osd-xs  mambavision XS  sea/oil/look-alike/ship/land",
    ]
    assert main(["model", "info", str(notes)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip().splitlines() == [
        f"dakd: error: {notes}: not a DAKD model card (it holds a JSON array, not an object); give a model's .json card"
    ]
    assert notes.read_text() == "[]"


def test_model_export_never_replaces_its_card_or_an_existing_file(card_path, tmp_path, capsys):
    """``--out`` over the card it exports is always refused; over another existing file only without --overwrite."""
    for suffix in (".json", ".safetensors"):
        shutil.copy(card_path.with_suffix(suffix), tmp_path / f"m{suffix}")
    card, kept = tmp_path / "m.json", tmp_path / "kept.onnx"
    kept.write_text("keep")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    export = ["--progress", "none", "model", "export", str(card), "--onnx", "--out"]
    for out, extra, error in [
        (card, [], f"will not replace {card}: it is an input of this run; choose another --out"),
        (card, ["--overwrite"], f"will not replace {card}: it is an input of this run; choose another --out"),
        (
            tmp_path / "m.safetensors",
            ["--overwrite"],
            f"will not replace {tmp_path / 'm.safetensors'}: it is an input of this run; choose another --out",
        ),
        (kept, [], f"output file {kept} already exists; pass --overwrite or choose another name"),
    ]:
        assert main([*export, str(out), *extra]) == 2, (out, extra)
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.strip().splitlines() == [f"dakd: error: {error}"]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no partial output, nothing replaced
