"""``--overwrite`` never loses a file dakd did not write (issue 12, items 4 and 5).

Every command that replaces an output follows engine.io.atomic.check_replaceable: a folder is
replaced only when the same command wrote it, and never when it holds the input or the current
folder. The refusals come before any work, in one line, and every file stays as it was.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from engine.cli import main
from engine.io.atomic import TMP_MARK

from .conftest import dakd_command, speckled_sea, write_scene


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> content)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def user_folder(folder: Path) -> Path:
    """A folder of an analyst's own files, a raster among them."""
    folder.mkdir(parents=True, exist_ok=True)
    write_scene(folder / "scene.tif", speckled_sea(300, 320))
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "older" / "results.csv").parent.mkdir()
    (folder / "older" / "results.csv").write_text("id,area\n1,0.3\n")
    (folder / ".hidden").write_text("settings")
    return folder


def dakd(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*dakd_command(), "--progress", "none", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("dakd: error:")]
    assert len(errors) == 1 and errors[0] == result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in errors[0]


def no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if TMP_MARK in p.name]


# --- the two reported data-loss cases --------------------------------------------------------------------------


def test_detect_into_the_folder_of_its_input_is_refused_and_every_file_survives(tmp_path):
    data = user_folder(tmp_path / "data")
    before = snapshot(data)
    result = dakd(tmp_path, "detect", "data/scene.tif", "--out", "data", "--overwrite", "--method", "threshold")
    assert_refused(result, f"will not replace {data}: it holds the input data/scene.tif", "choose another --out")
    assert snapshot(data) == before
    assert no_temporaries(tmp_path)


@pytest.mark.parametrize("out", [".", ".."])
def test_detect_into_the_current_folder_or_its_parent_is_refused_and_every_file_survives(tmp_path, out):
    work = user_folder(tmp_path / "work")
    (work / "sub").mkdir()
    write_scene(work / "sub" / "scene.tif", speckled_sea(300, 320))
    before = snapshot(tmp_path)
    result = dakd(work, "detect", "sub/scene.tif", "--out", out, "--overwrite", "--method", "threshold")
    assert_refused(result, "will not replace", "it is the current folder or holds it")
    assert snapshot(tmp_path) == before
    assert no_temporaries(tmp_path)


def test_detect_into_a_home_folder_or_the_root_is_refused_and_every_file_survives(tmp_path):
    home = user_folder(tmp_path / "home" / "analyst")
    scene = write_scene(tmp_path / "scene.tif", speckled_sea(300, 320))
    before = snapshot(tmp_path / "home")
    for out, reason in [
        (str(home), "it is a home folder or holds one"),
        (str(tmp_path / "home"), "it is a home folder or holds one"),
        ("/", "it is the root of a file system"),
    ]:
        result = subprocess.run(
            [
                *dakd_command(),
                "--progress",
                "none",
                "detect",
                str(scene),
                "--out",
                out,
                "--overwrite",
                "--method",
                "threshold",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "HOME": str(home)},
        )
        assert_refused(result, f"will not replace {out}: {reason}")
        assert snapshot(tmp_path / "home") == before
    assert no_temporaries(tmp_path)


# --- what --overwrite may still replace: an earlier output of the same command -------------------------------


def test_detect_overwrite_replaces_an_earlier_detection_output_and_nothing_else(tmp_path, capsys):
    scene = write_scene(tmp_path / "scene.tif", speckled_sea(300, 320))
    out = tmp_path / "out"
    args = ["--progress", "none", "detect", str(scene), "--out", str(out), "--method", "threshold"]
    assert main(args) == 0
    first = json.loads((out / "summary.json").read_text())["run_time"]
    (out / "probability.tif.aux.xml").write_text("<PAMDataset/>")  # QGIS's statistics: still the engine's folder
    (out / "spills.gpkg-wal").write_bytes(b"")
    assert main([*args, "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "classes.tif",
        "probability.tif",
        "quicklook.png",
        "report.html",
        "spills.gpkg",
        "summary.json",
    ]
    assert json.loads((out / "summary.json").read_text())["run_time"] >= first
    capsys.readouterr()

    (out / "my-style.qml").write_text("<qgis/>")  # the analyst's own file: the folder is no longer only ours
    before = snapshot(out)
    assert main([*args, "--overwrite"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("dakd: error: will not replace") and "only a detection output written by dakd" in error
    assert "it holds my-style.qml" in error
    assert snapshot(out) == before
    assert no_temporaries(tmp_path)


def test_detect_overwrite_refuses_a_folder_dakd_did_not_write(tmp_path, capsys):
    data = user_folder(tmp_path / "data")
    scene = write_scene(tmp_path / "scene.tif", speckled_sea(300, 320))
    before = snapshot(data)
    assert main(["--progress", "none", "detect", str(scene), "--out", str(data), "--overwrite"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        f"dakd: error: will not replace {data}: only a detection output written by dakd may be "
        "replaced, and it has no summary.json; move your files out of it or choose another --out"
    )
    assert snapshot(data) == before


def simulate_tiles(out: Path, *extra: str) -> int:
    return main(
        [
            "--progress",
            "none",
            "simulate-tiles",
            "--count",
            "2",
            "--format",
            "sos",
            "--size",
            "64",
            "64",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_simulate_tiles_overwrite_replaces_its_own_data_set_only(tmp_path, capsys):
    out = tmp_path / "tiles"
    assert simulate_tiles(out) == 0
    assert simulate_tiles(out, "--overwrite", "--seed", "3") == 0
    assert json.loads((out / "dataset.json").read_text())["seed"] == 3
    data = user_folder(tmp_path / "data")
    before = snapshot(data)
    capsys.readouterr()
    assert simulate_tiles(data, "--overwrite") == 2
    assert "only a simulated tile data set written by dakd" in capsys.readouterr().err
    assert snapshot(data) == before


def test_simulate_never_replaces_the_config_it_reads(tmp_path, capsys):
    args = ["--progress", "none", "simulate", "--size", "64", "64", "--no-quicklook", "--out", str(tmp_path)]
    assert main(args) == 0
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert main([*args, "--config", str(tmp_path / "sim_scene.json"), "--overwrite"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        f"dakd: error: will not replace {tmp_path / 'sim_scene.json'}: it is an input of this run; "
        "choose another --out/--name"
    )
    assert snapshot(tmp_path) == before


# --- train-jointnet: the weights and their sidecar -------------------------------------------------------------


def test_train_jointnet_replaces_an_existing_model_only_with_overwrite_and_never_an_input(tmp_path, capsys):
    """An earlier model (hours of training) at ``--out`` survives a run without --overwrite; a data file always does."""
    tiles = tmp_path / "tiles"
    simulate = ["--progress", "none", "simulate-tiles", "--count", "2", "--format", "osd", "--out", str(tiles)]
    assert main(simulate) == 0  # 256 px tiles: the smallest SAR-JointNet learns from (64 px crops)
    (tmp_path / "m.json").write_text("keep")
    data = ["--data-format", "osd", "--dataset", str(tiles), "--val-share", "0", "--device", "cpu"]
    run = [
        *("--progress", "none", "train-jointnet", *data, "--variant", "tiny", "--steps", "1", "--batch-size", "2"),
        *("--crop-px", "64", "--work-dir", str(tmp_path / "work")),
    ]
    capsys.readouterr()
    assert main([*run, "--out", str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"dakd: error: {tmp_path / 'm.json'} already exists; pass --overwrite or choose another --out"
    ]
    assert (tmp_path / "m.json").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "tiles"]  # refused before any work

    dataset = tiles / "dataset.json"  # --out tiles/dataset writes tiles/dataset.json: a file of the input
    before = snapshot(tiles)
    assert main([*run, "--out", str(tiles / "dataset"), "--overwrite"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"dakd: error: will not replace {dataset}: it lies inside the input {tiles}; choose another --out"
    ]
    assert snapshot(tiles) == before

    assert main([*run, "--out", str(tmp_path / "m"), "--overwrite"]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["format"] == "dakd-sar-jointnet"
    assert (tmp_path / "m.safetensors").stat().st_size > 0
    assert no_temporaries(tmp_path)


# --- fine-tuning: the model files and the work folder ----------------------------------------------------------


@pytest.mark.slow
def test_finetune_overwrite_replaces_its_model_and_work_folder_and_nothing_else(tmp_path, capsys):
    assert (
        main(
            [
                "--progress",
                "none",
                "simulate-tiles",
                "--count",
                "4",
                "--format",
                "sos",
                "--spills",
                "1",
                "--out",
                str(tmp_path / "sos"),
                "--seed",
                "4",
            ]
        )
        == 0
    )
    # what an earlier, interrupted run left: the names the engine writes, with stale contents
    earlier = {
        "m.json": "{}",
        "m.safetensors": "old weights",
        "m.work/segmenter/last.pt": "old checkpoint",
        "m.work/jointnet/last.pt": "old checkpoint",
        "m.work/generated/dataset.json": "{}",
    }
    for name, text in earlier.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    data = [
        "--data-format",
        "sos",
        "--dataset",
        "sos",
        "--device",
        "cpu",
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--val-share",
        "0",
    ]
    (tmp_path / "n.loss.png").write_text("the analyst's picture")  # the curve finetune --output n would write
    refused = dakd(tmp_path, "finetune", *data, "--output", "n")
    assert refused.returncode == 2 and "n.loss.png already exists; pass --overwrite" in refused.stderr
    assert (tmp_path / "n.loss.png").read_text() == "the analyst's picture" and not (tmp_path / "n.json").exists()
    again = dakd(tmp_path, "finetune", *data, "--output", "m", "--overwrite")
    assert again.returncode == 0, again.stderr[-2000:]
    for name, text in earlier.items():  # replaced, or gone with the old work folder
        assert not (tmp_path / name).exists() or (tmp_path / name).read_bytes() != text.encode()
    assert json.loads((tmp_path / "m.json").read_text())["architecture"] == "saross_net"
    assert (tmp_path / "m.work" / "report.json").is_file()

    # a work folder holding the analyst's files is refused before any training, and kept
    mine = user_folder(tmp_path / "mine")
    before, model = snapshot(mine), snapshot(tmp_path / "m.work")
    sos = ["--data-format", "sos", "--dataset", str(tmp_path / "sos")]
    capsys.readouterr()
    assert (
        main(
            [
                "--progress",
                "none",
                "finetune",
                *sos,
                "--output",
                str(tmp_path / "m"),
                "--work-dir",
                str(mine),
                "--overwrite",
            ]
        )
        == 2
    )
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"dakd: error: will not replace {mine}: only a fine-tune work folder written by dakd")
    assert error.endswith("choose another --work-dir")
    assert snapshot(mine) == before and snapshot(tmp_path / "m.work") == model

    # the model it starts from is an input: never replaced by the new one
    card = (tmp_path / "m.json").read_bytes()
    assert (
        main(
            [
                "--progress",
                "none",
                "finetune",
                *sos,
                "--init",
                str(tmp_path / "m.json"),
                "--output",
                str(tmp_path / "m"),
                "--overwrite",
            ]
        )
        == 2
    )
    assert (
        f"will not replace {tmp_path / 'm.json'}: it is an input of this run; choose another --out"
        in capsys.readouterr().err
    )
    assert (
        main(
            [
                "--progress",
                "none",
                "train",
                *sos,
                "--init",
                str(tmp_path / "m.json"),
                "--output",
                str(tmp_path / "m"),
                "--overwrite",
            ]
        )
        == 2
    )
    assert "it is an input of this run" in capsys.readouterr().err
    assert (
        main(["--progress", "none", "evaluate", str(tmp_path / "m.json"), *sos, "--json", str(tmp_path / "m.json")])
        == 2
    )
    assert "choose another --json" in capsys.readouterr().err
    assert (tmp_path / "m.json").read_bytes() == card

    # dakd generate replaces only its own pair set (as a fine-tune's generated/ above), not a folder of the analyst's
    assert (
        main(
            [
                "--progress",
                "none",
                "generate",
                "--jointnet",
                str(tmp_path / "m.work" / "jointnet.safetensors"),
                "--count",
                "2",
                "--out",
                str(mine),
                "--overwrite",
            ]
        )
        == 2
    )
    assert "only a generated pair set written by dakd" in capsys.readouterr().err
    assert snapshot(mine) == before
    assert no_temporaries(tmp_path)


# --- evaluate --json, train's curve pictures and the trainers' work folders ------------------------------------


def sos_tiles(out: Path) -> Path:
    """Two simulated SOS tiles with a spill: the cheapest labelled data the trainers and evaluate take."""
    simulate = ["--progress", "none", "simulate-tiles", "--count", "2", "--format", "sos", "--spills", "1"]
    assert main([*simulate, "--out", str(out)]) == 0
    return out


#: The smallest `dakd train` run: one step on 64 px crops, no validation.
TINY_TRAIN = ("--device", "cpu", "--steps", "1", "--batch-size", "2", "--crop-px", "64", "--val-share", "0")


def test_evaluate_json_replaces_a_file_only_with_overwrite_and_refuses_a_folder_before_any_table(
    tmp_path, capsys, repo_root
):
    """An earlier results file survives `dakd evaluate --json` without --overwrite, as with --out FILE; a folder
    is refused before the evaluation, not after its tables were printed."""
    sos = sos_tiles(tmp_path / "sos")
    model = repo_root / "resources" / "models" / "default.json"
    run = ["--progress", "none", "evaluate", str(model), "--data-format", "sos", "--dataset", str(sos)]
    run += ["--device", "cpu"]
    results = tmp_path / "results.json"
    results.write_text("my results")
    capsys.readouterr()
    assert main([*run, "--json", str(results)]) == 2
    printed = capsys.readouterr()
    assert printed.err.strip().splitlines() == [
        f"dakd: error: {results} already exists; pass --overwrite or choose another --json"
    ]
    assert printed.out == "" and results.read_text() == "my results"

    assert main([*run, "--json", str(results), "--out", str(results), "--overwrite"]) == 2
    printed = capsys.readouterr()
    assert printed.err.strip().splitlines() == [
        f"dakd: error: --json {results} and --out {results} name the same file; give each its own"
    ]
    assert printed.out == "" and results.read_text() == "my results"

    folder = tmp_path / "folder"
    folder.mkdir()
    assert main([*run, "--json", str(folder), "--overwrite"]) == 2
    printed = capsys.readouterr()
    assert printed.err.strip().splitlines() == [f"dakd: error: {folder} is a folder, not a file; choose another --json"]
    assert printed.out == "" and list(folder.iterdir()) == []

    assert main([*run, "--json", str(results), "--overwrite"]) == 0
    assert "mIoU" in capsys.readouterr().out and json.loads(results.read_text())["pixels"] > 0
    assert no_temporaries(tmp_path)


def test_train_replaces_its_curve_pictures_only_with_overwrite(tmp_path, capsys):
    sos = sos_tiles(tmp_path / "sos")
    (tmp_path / "n.loss.png").write_text("the analyst's picture")  # the curve train --out n would write
    run = ["--progress", "none", "train", "--data-format", "sos", "--dataset", str(sos), *TINY_TRAIN]
    run += ["--out", str(tmp_path / "n")]
    capsys.readouterr()
    assert main(run) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"dakd: error: {tmp_path / 'n.loss.png'} already exists; pass --overwrite or choose another --out"
    ]
    assert (tmp_path / "n.loss.png").read_text() == "the analyst's picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.loss.png", "sos"]  # refused before any work
    assert main([*run, "--overwrite"]) == 0
    assert (tmp_path / "n.loss.png").read_bytes().startswith(b"\x89PNG") and (tmp_path / "n.json").is_file()
    assert no_temporaries(tmp_path)


@pytest.mark.parametrize(
    ("command", "kind"), [("train", "SAROSS-Net work folder"), ("train-jointnet", "SAR-JointNet work folder")]
)
def test_trainers_never_write_checkpoints_into_a_folder_of_the_analysts(tmp_path, capsys, command, kind):
    """A checkpoint name beside the analyst's notes: refused before any work, with or without --overwrite."""
    sos = sos_tiles(tmp_path / "sos")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "last.pt").write_text("my checkpoint")
    (mine / "notes.txt").write_text("my notes\n")
    before = snapshot(mine)
    run = ["--progress", "none", command, "--data-format", "sos", "--dataset", str(sos), "--device", "cpu"]
    run += ["--work-dir", str(mine), "--out", str(tmp_path / "m")]
    capsys.readouterr()
    assert main(run) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"dakd: error: work folder {mine} is not empty and not a {kind} written by dakd (it holds notes.txt); "
        "move your files out of it or choose another --work-dir"
    ]
    assert main([*run, "--overwrite"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"dakd: error: will not replace {mine}: only a {kind} written by dakd may be replaced, and it holds "
        "notes.txt; move your files out of it or choose another --work-dir"
    ]
    assert snapshot(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "sos"]


@pytest.mark.parametrize("command", ["finetune", "train", "train-jointnet"])
def test_a_file_where_the_work_folder_goes_is_refused_and_kept(tmp_path, capsys, command):
    """--overwrite empties an earlier run's work folder; a file of that name (finetune deleted it) is never touched."""
    sos = sos_tiles(tmp_path / "sos")
    (tmp_path / "m.work").write_text("my notes")
    run = ["--progress", "none", command, "--data-format", "sos", "--dataset", str(sos), "--device", "cpu"]
    capsys.readouterr()
    assert main([*run, "--out", str(tmp_path / "m"), "--overwrite"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"dakd: error: work folder {tmp_path / 'm.work'} is a file, not a folder; choose another --work-dir"
    ]
    assert (tmp_path / "m.work").read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.work", "sos"]


def test_train_continues_or_restarts_an_earlier_work_folder_only_when_asked(tmp_path, capsys):
    """A run without --resume would replace the checkpoint an interrupted run left; --overwrite starts afresh."""
    sos = sos_tiles(tmp_path / "sos")
    run = ["--progress", "none", "train", "--data-format", "sos", "--dataset", str(sos), *TINY_TRAIN]
    run += ["--out", str(tmp_path / "m")]
    assert main(run) == 0
    work = tmp_path / "m.work"
    for name in ("m.json", "m.safetensors", "m.loss.png", "m.miou.png"):  # as if the run had been cut before its card
        (tmp_path / name).unlink()
    checkpoint = (work / "last.pt").read_bytes()
    capsys.readouterr()
    assert main(run) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"dakd: error: work folder {work} exists from an earlier run; pass --resume to continue it or "
        "--overwrite to start again"
    ]
    assert (work / "last.pt").read_bytes() == checkpoint and not (tmp_path / "m.json").exists()

    assert main([*run, "--resume"]) == 0  # the cut run, continued: its one step was done
    assert json.loads((tmp_path / "m.json").read_text())["training"]["steps"] == 1

    (work / "best.pt").write_text("an earlier run's best weights")  # what a later --resume would have loaded
    assert main([*run, "--overwrite"]) == 0
    assert sorted(p.name for p in work.iterdir()) == ["last.pt"]  # started afresh: nothing of the earlier run
    assert no_temporaries(tmp_path)
