import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.classes import OSD_CLASSES
from engine.cli import main
from engine.detectors import DEFAULT_MODEL_CARD
from engine.modelcard import new_model_card, save_model_card
from engine.models import create_model

REPO = Path(__file__).resolve().parents[2]


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


def test_model_list_and_info_mark_a_card_whose_weights_are_missing_or_do_not_match(card_path, tmp_path, capsys):
    """Missing or replaced weights: listed (and shown by info) as fine, though every backend refuses to run the card."""
    for name in ("ok", "missing", "replaced"):
        shutil.copy(card_path, tmp_path / f"{name}.json")
    for name in ("ok", "replaced"):
        shutil.copy(card_path.with_suffix(".safetensors"), tmp_path / f"{name}.safetensors")
    replaced = tmp_path / "replaced.safetensors"
    weights = bytearray(replaced.read_bytes())
    weights[-1] ^= 0xFF  # one weight changed: still readable safetensors, but not the card's file
    replaced.write_bytes(weights)
    missing_line = f"{tmp_path / 'missing.json'}: weights file missing.safetensors is missing; keep both files together"
    replaced_line = (
        f"{replaced}: weights do not match the card's sha256 (corrupt or from another model); copy the model's "
        "files again"
    )
    listed = "osd-xs  mambavision XS  sea/oil/look-alike/ship/land"
    assert main(["model", "list", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{tmp_path / 'missing.json'}  {listed}  (will not run: {missing_line})",
        f"{tmp_path / 'ok.json'}  {listed}",
        f"{replaced.with_suffix('.json')}  {listed}  (will not run: {replaced_line})",
    ]
    for name, problem in (("ok", None), ("missing", missing_line), ("replaced", replaced_line)):
        assert main(["model", "info", str(tmp_path / f"{name}.json"), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["weights_problem"] == problem, name
        assert main(["model", "info", str(tmp_path / f"{name}.json")]) == 0
        out = capsys.readouterr().out
        assert (f"will not run:  {problem}" in out) if problem else ("will not run" not in out), name
    recipe = tmp_path / "recipe.json"  # the bundled card without its weights: its recipe lines stay above them
    shutil.copy(DEFAULT_MODEL_CARD, recipe)
    assert main(["model", "info", str(recipe)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[-5:-1]] == ["then", "written by", "weights", "will not run"]


@pytest.mark.parametrize("weights", [b"", b"\x8f\x02not safetensors at all"], ids=["empty", "garbage"])
def test_model_info_refuses_weights_that_are_not_safetensors_in_one_line(card_path, tmp_path, capsys, weights):
    """Weights cut short or replaced by other bytes: counting their parameters was an internal error (exit 1)."""
    card = tmp_path / "m.json"
    shutil.copy(card_path, card)
    damaged = tmp_path / "m.safetensors"
    damaged.write_bytes(weights)
    for args in ([str(card)], [str(card), "--json"], [str(damaged)], [str(card), "--out", str(tmp_path / "i.txt")]):
        assert main(["model", "info", *args]) == 2, args
        captured = capsys.readouterr()
        error = captured.err.strip().splitlines()
        assert captured.out == "" and len(error) == 1, args
        assert error[0].startswith(f"dakd: error: {damaged}: not a readable safetensors file (")
        assert error[0].endswith("); copy the model's .safetensors file again, beside its card")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]  # no --out file
    assert main(["model", "list", str(tmp_path)]) == 0  # the card is listed, marked as one that will not run
    assert capsys.readouterr().out.startswith(f"{card}  osd-xs")


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
        (kept, [], f"output file {kept} already exists; pass --overwrite or choose another --out"),
    ]:
        assert main([*export, str(out), *extra]) == 2, (out, extra)
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.strip().splitlines() == [f"dakd: error: {error}"]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no partial output, nothing replaced


def test_model_export_keeps_a_card_onnx_that_dakd_did_not_write(card_path, tmp_path, capsys):
    """An analyst's own ``CARD.onnx`` beside the card: refused in one line without --overwrite, and kept.

    An earlier dakd export there is refreshed silently (tests/test_runtimes.py, where onnx is installed).
    """
    for suffix in (".json", ".safetensors"):
        shutil.copy(card_path.with_suffix(suffix), tmp_path / f"m{suffix}")
    mine = tmp_path / "m.onnx"
    mine.write_text("my own network")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["--progress", "none", "model", "export", str(tmp_path / "m.json"), "--onnx"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip().splitlines() == [
        f"dakd: error: will not replace {mine}: dakd did not export it; pass --overwrite to replace it, "
        "or --out FILE to write the export elsewhere"
    ]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.skipif(not DEFAULT_MODEL_CARD.is_file(), reason="no bundled default model")
def test_model_info_and_list_run_without_torch(tmp_path):
    """A "Detection only" install (OpenVINO, no torch) shows cards, also one read from a weights header."""
    alone = tmp_path / "alone.safetensors"
    shutil.copy(DEFAULT_MODEL_CARD.with_suffix(".safetensors"), alone)
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from engine.cli import main\n"
        "codes = [main(['model', 'info', 'resources/models/default.json']), main(['model', 'info', "
        f"{str(alone)!r}]), main(['model', 'list'])]\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "sys.exit(max(codes))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("M parameters") == 2 and "mambavision XS" in run.stdout
    assert "internal error" not in run.stderr


def test_a_symbolic_link_loop_given_as_the_card_is_one_line_beside_an_existing_out(tmp_path, capsys):
    """Audit: with --out naming an existing file, the loop reached Path.resolve(): "internal error (RuntimeError)"."""
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    existing = tmp_path / "existing.txt"
    existing.write_text("kept")
    for extra, reason in (([], "already exists"), (["--overwrite"], "no model found")):
        assert main(["model", "info", str(loop), "--out", str(existing), *extra]) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and reason in error[0], error
    assert existing.read_text() == "kept"


def test_a_card_with_infinity_where_a_whole_number_goes_is_listed_as_unreadable(card_path, tmp_path, capsys):
    """Audit: "format_version": Infinity (valid to Python's json) stopped model list with an internal error."""
    for suffix in (".json", ".safetensors"):
        shutil.copy(card_path.with_suffix(suffix), tmp_path / f"osd-xs{suffix}")
    (tmp_path / "future.json").write_text(
        card_path.read_text().replace('"format_version": 1', '"format_version": Infinity')
    )
    assert main(["model", "list", str(tmp_path)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and "(unreadable:" in listed[0] and "osd-xs  mambavision" in listed[1], listed


@pytest.mark.parametrize("field", ["weights", "tiling", "input", "build"])
def test_a_card_with_a_field_of_the_wrong_type_is_one_line_and_list_goes_on(
    card_path, scene_tif, tmp_path, capsys, field
):
    """``"weights": "x.safetensors"`` was an internal error in model info, model list and detect."""
    for suffix in (".json", ".safetensors"):
        shutil.copy(card_path.with_suffix(suffix), tmp_path / f"osd-xs{suffix}")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(card_path.read_text()), field: "x.safetensors"}))
    error = (
        f'{bad}: invalid model card ("{field}" holds a JSON string, not an object); correct it or re-export the model'
    )
    for argv in (["model", "info", str(bad)], ["detect", str(scene_tif), "--model", str(bad)]):
        assert main(["--progress", "none", *argv, "--out", str(tmp_path / "out")]) == 2, argv
        captured = capsys.readouterr()
        errors = [line for line in captured.err.splitlines() if "error" in line or "Traceback" in line]
        assert captured.out == "" and errors == [f"dakd: error: {error} with 'dakd train'"]  # detect logs before it
    assert not (tmp_path / "out").exists()
    assert main(["model", "list", str(tmp_path)]) == 0  # as for any unreadable card: listed, and the rest too
    assert capsys.readouterr().out.splitlines() == [
        f"{bad}  (unreadable: {error} with 'dakd train')",
        f"{tmp_path / 'osd-xs.json'}  osd-xs  mambavision XS  sea/oil/look-alike/ship/land",
    ]


def test_model_list_refuses_a_folder_that_is_missing_or_a_file(card_path, tmp_path, capsys):
    """A mistyped folder said "no model cards found" with exit 0, which a script reads as an empty folder."""
    for folder, error in [
        (tmp_path / "absent", f"{tmp_path / 'absent'}: no such folder; give a folder that holds model cards"),
        (card_path, f"{card_path} is a file, not a folder; give its folder, or 'dakd model info {card_path}'"),
    ]:
        assert main(["model", "list", str(card_path.parent), str(folder)]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.strip().splitlines() == [f"dakd: error: {error}"]


def test_model_list_out_never_replaces_a_card_in_the_folders_it_reads(card_path, tmp_path, monkeypatch, capsys):
    """With no folders given, the bundled folder and $DAKD_MODELS_DIR are read: inputs, even with --overwrite."""
    bundled, registered = tmp_path / "bundled", tmp_path / "registered"
    for folder in (bundled, registered):
        folder.mkdir()
        for suffix in (".json", ".safetensors"):
            shutil.copy(card_path.with_suffix(suffix), folder / f"osd-xs{suffix}")
    monkeypatch.setattr("engine.cli.model.BUNDLED_MODELS_DIR", bundled)
    monkeypatch.setenv("DAKD_MODELS_DIR", str(registered))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for folder in (bundled, registered):
        card = folder / "osd-xs.json"
        assert main(["model", "list", "--out", str(card), "--overwrite"]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.strip().splitlines() == [
            f"dakd: error: will not replace {card}: it lies inside the input {folder}; choose another --out"
        ]
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    listing = tmp_path / "models.txt"
    assert main(["model", "list", "--out", str(listing)]) == 0
    assert listing.read_text().count("osd-xs  mambavision XS") == 2


def test_a_ctrl_c_during_model_export_does_not_deny_the_file_it_wrote(card_path, tmp_path, monkeypatch, capsys):
    """The export cannot stop half-way; asked to during it, the run ended "cancelled; no output was written" (exit
    130) with the finished ONNX file in place. It now says the file is kept, and where, with exit 0."""
    import os
    import signal

    pytest.importorskip("onnx")
    import engine.runtimes

    export = engine.runtimes.export_onnx

    def export_after_a_ctrl_c(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # dakd's handler asks for a stop at the next batch
        return export(*args, **kwargs)

    monkeypatch.setattr(engine.runtimes, "export_onnx", export_after_a_ctrl_c)
    out = tmp_path / "m.onnx"
    assert main(["--progress", "none", "model", "export", str(card_path), "--onnx", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"wrote {out} (")
    assert f"dakd: the export had finished when the stop was asked for; {out} is kept" in captured.err
    assert "cancelled" not in captured.err and out.is_file()
