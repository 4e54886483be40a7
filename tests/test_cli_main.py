import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main


def test_version_and_help(capsys):
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code == 0
    assert "dakd" in capsys.readouterr().out


def test_module_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "engine", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "usage: dakd" in done.stdout


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["detect"], "dakd: error: the following arguments are required: INPUT, --out (see dakd detect --help)"),
        (
            ["detect", "scene.tif", "--out", "out", "--bogus"],  # the sub-command's help, not the top level's
            "dakd: error: unrecognized arguments: --bogus (see dakd detect --help)",
        ),
        (
            ["model", "info", "m.json", "--bogus", "x"],
            "dakd: error: unrecognized arguments: --bogus x (see dakd model info --help)",
        ),
        (
            ["detect", "scene.tif", "--out", "out", "--overlap", "abc"],
            "dakd: error: argument --overlap: invalid int value: 'abc' (see dakd detect --help)",
        ),
        (
            ["detect", "scene.tif", "--out", "out", "--method", "magic"],
            "dakd: error: argument --method: invalid choice",
        ),
        (["finetune", "--lr"], "dakd: error: argument --lr: expected one argument (see dakd finetune --help)"),
        (["model", "info"], "dakd: error: the following arguments are required: path (see dakd model info --help)"),
        (["no-such-command"], "dakd: error: argument COMMAND: invalid choice: 'no-such-command'"),
    ],
)
def test_command_line_mistakes_are_one_line(capsys, tmp_path, monkeypatch, argv, expected):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["--progress", "none", *argv])
    captured = capsys.readouterr()
    assert stop.value.code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith(expected), captured.err
    assert list(tmp_path.iterdir()) == []


def test_help_keeps_the_full_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["detect", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: dakd detect") and "--overlap PX" in out and out.count("\n") > 20


def test_engine_logs_after_main_go_to_the_current_stderr(capsys, monkeypatch):
    """The log handler ``main`` installs outlives it: it wrote to the stream of that call, closed by then."""
    import io
    import logging

    assert main(["describe"]) == 0  # a command installs the handler, under this test's captured stderr
    capsys.readouterr()
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    logging.getLogger("dakd").warning("a warning after main returned")
    assert later.getvalue() == "dakd: a warning after main returned\n"


def test_engine_logs_after_a_json_main_go_to_the_current_stdout(capsys, monkeypatch):
    """The same with --progress json: its handler made a log event and wrote it on the closed stdout of that call."""
    import io
    import logging

    assert main(["--progress", "json", "describe"]) == 0
    capsys.readouterr()
    later = io.StringIO()
    monkeypatch.setattr(sys, "stdout", later)
    logging.getLogger("dakd").warning("a warning after main returned")
    assert json.loads(later.getvalue()) == {
        "event": "log",
        "level": "warning",
        "message": "a warning after main returned",
    }


@pytest.fixture(scope="module")
def labelled_tiles(tmp_path_factory):
    tiles = tmp_path_factory.mktemp("tiles") / "osd"
    assert main(["--progress", "none", "simulate-tiles", "--count", "4", "--format", "osd", "--out", str(tiles)]) == 0
    return tiles


@pytest.mark.parametrize(("mode", "quiet"), [("bar", []), ("none", ["--quiet"]), ("json", []), ("json", ["-q"])])
def test_training_warnings_reach_the_user_once_in_every_progress_mode(capsys, tmp_path, labelled_tiles, mode, quiet):
    """Training says its warnings with Progress.log; only --progress json showed them, so at a terminal the
    promised "the run says so" of --min-gain was never said. Now bars and none write them on stderr (bars lifted
    around the line), and json writes each once, as a log event on stdout (the plugin reads stderr there too).
    --quiet keeps the warnings and drops the notes in every mode: json wrote its notes all the same."""
    default = Path(__file__).resolve().parents[1] / "resources" / "models" / "default.json"
    finetune = ["finetune", "--data-format", "osd", "--dataset", str(labelled_tiles), "--device", "cpu"]
    finetune += ["--preset", "tiny", "--aug-ratio", "0", "--crop-px", "64", "--steps", "1", "--batch-size", "2"]
    finetune += ["--val-share", "0.25", "--init", str(default), "--min-gain", "100", "--out", str(tmp_path / "ft")]
    capsys.readouterr()
    assert main(["--progress", mode, *quiet, *finetune]) == 0
    out, err = capsys.readouterr()
    warning = "no fine-tuned step beat the --init model on the validation scenes"
    if mode == "json":
        logs = [json.loads(line) for line in out.splitlines() if '"event": "log"' in line]
        assert [e["level"] for e in logs if warning in e["message"]] == ["warning"] and warning not in err
        assert sum("validation score" in e["message"] for e in logs) == (0 if quiet else 2)  # the --init model, 1
        assert all(e["level"] != "info" for e in logs) if quiet else any(e["level"] == "info" for e in logs)
        return
    lines = err.replace("\r", "\n").splitlines()
    assert [line for line in lines if warning in line] == [
        f"dakd: {warning}; ft keeps its weights (more or other labelled scenes, or another --lr, may help)"
    ]
    scores = [line for line in lines if "validation score" in line]  # the second is said while the bar is drawn
    assert len(scores) == (0 if quiet else 2) and all(
        line.startswith("dakd: train SAROSS-Net: step") for line in scores
    )
    assert ("train SAROSS-Net:" in err) == (mode == "bar") and warning not in out


def test_a_libraries_python_warning_is_no_two_line_message_above_the_engines(capsys, tmp_path):
    """A PNG label raster (allowed: same size as its scene) printed rasterio's NotGeoreferencedWarning with a line
    of rasterio's source above the engine's one-line messages; with --debug it is one debug line."""
    import numpy as np
    import rasterio
    from PIL import Image

    assert main(["-q", "--progress", "none", "simulate", "--size", "256", "256", "--seed", "1", "--out", str(tmp_path),
                 "--name", "s", "--no-quicklook"]) == 0  # fmt: skip
    with rasterio.open(tmp_path / "s_labels.tif") as labels:
        Image.fromarray(labels.read(1).astype(np.uint8)).save(tmp_path / "labels.png")
    capsys.readouterr()
    card = Path(__file__).resolve().parents[1] / "resources" / "models" / "default.json"
    args = ["--progress", "none", "evaluate", str(card), "--device", "cpu", "--scene", str(tmp_path / "s_scene.tif"),
            "--label-raster", str(tmp_path / "labels.png")]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "Warning" not in err and "DatasetReader" not in err
    assert main(["--debug", *args]) == 0
    assert [line for line in capsys.readouterr().err.splitlines() if "NotGeoreferencedWarning" in line] != []
