import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main

REPO = Path(__file__).resolve().parents[2]


def dakd(*args: str) -> subprocess.CompletedProcess:
    env = {"OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def simulate_tiles(out: Path, count: int, seed: int) -> Path:
    assert (
        main(
            [
                "--progress",
                "none",
                "simulate-tiles",
                "--count",
                str(count),
                "--format",
                "osd",
                "--out",
                str(out),
                "--seed",
                str(seed),
            ]
        )
        == 0
    )
    return out


@pytest.mark.slow
def test_finetune_tiny_end_to_end_on_simulated_tiles(tmp_path: Path) -> None:
    data = simulate_tiles(tmp_path / "tiles", 10, seed=1)
    started = time.monotonic()
    done = dakd(
        "--progress",
        "json",
        "finetune",
        "--data-format",
        "osd",
        "--dataset",
        str(data),
        "--preset",
        "tiny",
        "--output",
        str(tmp_path / "models" / "mine"),
        "--device",
        "cpu",
        "--real-only-steps",
        "5",
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    assert elapsed < 180
    events = [json.loads(line) for line in done.stdout.splitlines()]
    stages = [e["stage"] for e in events if e["event"] == "stage"]
    assert stages[:4] == ["read OSD", "train SAR-JointNet", "generate pairs", "train SAROSS-Net"]
    progress = [e for e in events if e["event"] == "progress" and e["stage"] == "train SAROSS-Net"]
    assert {"stage", "step", "total", "loss", "metric", "eta_s"} <= set(progress[-1])
    assert events[-1]["event"] == "done" and events[-1]["model"].endswith("mine.json")
    card = json.loads((tmp_path / "models" / "mine.json").read_text())
    assert card["architecture"] == "saross_net" and card["input"]["tile_size"] == 256
    assert card["training"]["data"]["train"]["tiles"] == 8 and card["training"]["generation"]["pairs"] == 8
    assert 0 < card["training"]["generation"]["balance"] < 1
    assert card["training"]["generation"]["ddim_spacing"] == "linspace"  # the last DDIM step at t = 0 (issue 17)
    assert card["training"]["generation"]["speckle"]["mode"] == "physics"  # drawn, with the tiles' ENL (issue 17)
    consistency = card["training"]["generation"]["consistency"]  # judged by the bundled default model (issue 17)
    assert consistency["judge"] == "dakd-default-sim-xs" and consistency["pairs"] == 8
    assert consistency["kept"] + consistency["dropped"] == 8 and "sea" in consistency["real"]
    gated = [
        e for e in events if e["event"] == "log" and ("consistency gate" in e["message"] or "dropped" in e["message"])
    ]
    assert len(gated) == 1, [e for e in events if e["event"] == "log"]
    assert 0 <= card["metrics"]["validation"]["miou"] <= 100
    assert "SAR-FID" in card["metrics"]["generation"]
    assert consistency["passed"] is False and card["training"]["segmenter"]["aug_ratio"] == 0
    assert "real_only_phase" not in card["training"]  # no generated pairs left, so no real-only phase to add
    for name in ("mine.safetensors", "mine.loss.png", "mine.miou.png", "mine.work/generated/samples.png"):
        assert (tmp_path / "models" / name).stat().st_size > 0
    test_tiles = simulate_tiles(tmp_path / "test", 2, seed=9)
    evaluated = dakd(
        "--progress",
        "none",
        "evaluate",
        str(tmp_path / "models" / "mine.json"),
        "--data-format",
        "osd",
        "--dataset",
        str(test_tiles),
        "--json",
        str(tmp_path / "eval.json"),
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert "mIoU" in evaluated.stdout and "look-alike" in evaluated.stdout
    assert 0.9 * 2 * 256 * 256 < json.loads((tmp_path / "eval.json").read_text())["pixels"] <= 2 * 256 * 256
    table = tmp_path / "eval.txt"  # --out FILE: the printed tables, written instead of printed
    again = dakd(
        "--progress",
        "none",
        "evaluate",
        str(tmp_path / "models" / "mine.json"),
        "--data-format",
        "osd",
        "--dataset",
        str(test_tiles),
        "--out",
        str(table),
    )
    assert again.returncode == 0 and again.stdout == "" and table.read_text() == evaluated.stdout, again.stderr


@pytest.mark.slow
def test_stage_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = simulate_tiles(tmp_path / "tiles", 4, seed=2)
    common = ["--data-format", "osd", "--dataset", str(data), "--device", "cpu", "--crop-px", "64"]
    assert (
        main(
            [
                "--progress",
                "none",
                "train-jointnet",
                *common,
                "--variant",
                "tiny",
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--output",
                str(tmp_path / "joint"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "joint.json").read_text())["format"] == "dakd-sar-jointnet"
    assert (
        main(
            [
                "--progress",
                "none",
                "generate",
                "--jointnet",
                str(tmp_path / "joint.safetensors"),
                "--count",
                "2",
                "--steps",
                "2",
                "--tile-size",
                "64",
                "--out",
                str(tmp_path / "gen"),
                "--device",
                "cpu",
                "--data-format",  # issue 17: labelled tiles given, so the set is scored (bundled judge)
                "osd",
                "--dataset",
                str(data),
            ]
        )
        == 0
    )
    assert (tmp_path / "gen" / "samples.png").is_file()
    scored = json.loads((tmp_path / "gen" / "dataset.json").read_text())["consistency"]
    assert scored["pairs"] == 2 and scored["kept"] + scored["dropped"] == 2 and isinstance(scored["passed"], bool)
    assert scored["judge"] == "dakd-default-sim-xs" and scored["real"]["sea"]["share"] > 0
    generate = [
        "--progress",
        "none",
        "generate",
        "--jointnet",
        str(tmp_path / "joint.safetensors"),
        "--count",
        "1",
        "--steps",
        "2",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "gen66"),
        "--tile-size",
        "66",
    ]
    assert main(generate) == 2  # was an internal error from the UNet: the tiny variant halves the tile twice
    assert "--tile-size 66: this SAR-JointNet needs a multiple of 4 px, e.g. 64" in capsys.readouterr().err
    assert not (tmp_path / "gen66").exists()
    sos = tmp_path / "sos"  # binary labels: not the classes this SAR-JointNet makes, refused before any work
    sos_tiles = ["simulate-tiles", "--count", "2", "--format", "sos", "--spills", "1", "--out", str(sos)]
    assert main(["--progress", "none", *sos_tiles]) == 0
    capsys.readouterr()
    scored_on_sos = [*generate[:-4], "--out", str(tmp_path / "gen-sos"), "--data-format", "sos", "--dataset", str(sos)]
    assert main(scored_on_sos) == 2
    assert "but the SAR-JointNet" in capsys.readouterr().err and not (tmp_path / "gen-sos").exists()
    whole_run_real = ["train", *common, "--generated", str(tmp_path / "gen"), "--aug-ratio", "1", "--steps", "3"]
    whole_run_real += ["--real-only-steps", "3", "--output", str(tmp_path / "all-real")]
    assert main(["--progress", "none", *whole_run_real]) == 2  # a last phase as long as the run: refused up front
    assert "--real-only-steps 3: must be fewer than the 3 SAROSS-Net steps" in capsys.readouterr().err
    assert not list(tmp_path.glob("all-real*"))
    assert (
        main(
            [
                "--progress",
                "none",
                "train",
                *common,
                "--generated",
                str(tmp_path / "gen"),
                "--aug-ratio",
                "1",
                "--generated-share",
                "0.4",
                "--real-only-steps",
                "1",
                "--no-gate",  # every pair, so that the share and the last phase are exercised
                "--steps",
                "3",
                "--batch-size",
                "2",
                "--output",
                str(tmp_path / "seg"),
            ]
        )
        == 0
    )
    card = json.loads((tmp_path / "seg.json").read_text())
    assert card["training"]["segmenter"]["aug_ratio"] == 1.0
    assert card["training"]["segmenter"]["loss"]["generated_share"] == 0.4  # issue 17: a set share, recorded
    assert card["training"]["segmenter"]["real_only_steps"] == 1 and card["training"]["steps"] == 3
    assert card["training"]["real_only_phase"]["first_phase_steps"] == 2  # issue 17: a last phase on real tiles
    assert card["training"]["generation"]["consistency"] == {"enabled": False}
    gated = ["--progress", "none", "train", *common, "--generated", str(tmp_path / "gen"), "--aug-ratio", "1"]
    assert main([*gated, "--steps", "2", "--batch-size", "2", "--output", str(tmp_path / "gated")]) == 0
    training = json.loads((tmp_path / "gated.json").read_text())["training"]
    judged = training["generation"]["consistency"]  # issue 17: dakd train judges the pairs as dakd finetune does
    assert judged["pairs"] == 2 and judged["kept"] + judged["dropped"] == 2
    assert training["segmenter"]["aug_ratio"] == (judged["kept"] / 2 if judged["passed"] else 0.0)


def test_train_says_when_no_step_beat_the_init_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`dakd train --init` wrote the starting weights under the new name when no step gained --min-gain points over
    them, and said nothing (dakd finetune said it, but only as a JSON event)."""
    data = simulate_tiles(tmp_path / "tiles", 4, seed=2)
    default = REPO / "resources" / "models" / "default.json"
    train = ["train", "--data-format", "osd", "--dataset", str(data), "--device", "cpu", "--crop-px", "64"]
    train += ["--init", str(default), "--min-gain", "100", "--steps", "1", "--batch-size", "2", "--val-share", "0.25"]
    capsys.readouterr()
    assert main(["--progress", "none", *train, "--out", str(tmp_path / "seg.json")]) == 0
    err = capsys.readouterr().err
    assert err.count("no fine-tuned step beat") == 1
    assert "dakd: no fine-tuned step beat the --init model on the validation scenes; seg keeps its weights" in err


def test_finetune_on_a_user_scene_with_polygons(tmp_path: Path) -> None:
    for seed in (1, 2):
        assert (
            main(
                [
                    "--progress",
                    "none",
                    "simulate",
                    "--size",
                    "320",
                    "320",
                    "--seed",
                    str(seed),
                    "--units",
                    "linear",
                    "--polygons",
                    "--out",
                    str(tmp_path / f"s{seed}"),
                    "--spills",
                    "1",
                ]
            )
            == 0
        )
    args = [
        "--progress",
        "none",
        "finetune",
        "--scene",
        str(tmp_path / "s1" / "sim_scene.tif"),
        "--scene",
        str(tmp_path / "s2" / "sim_scene.tif"),
        "--labels",
        str(tmp_path / "s1" / "sim_labels.gpkg"),
        "--labels",
        str(tmp_path / "s2" / "sim_labels.gpkg"),
        "--class-field",
        "class",
        "--class-map",
        "look-alike=ignore",
        "--val-share",
        "0.5",
        "--preset",
        "tiny",
        "--aug-ratio",
        "0",
        "--steps",
        "2",
        "--output",
        str(tmp_path / "user"),
        "--device",
        "cpu",
        "--recipe",
        str(tmp_path / "recipe.json"),
    ]
    (tmp_path / "recipe.json").write_text(json.dumps({"data": "two simulated scenes", "seeds": [1, 2]}))
    assert main(args) == 0
    card = json.loads((tmp_path / "user.json").read_text())
    assert card["training"]["recipe"] == {"data": "two simulated scenes", "seeds": [1, 2]}
    assert card["training"]["wall_time_s"] > 0
    assert card["training"]["data"]["format"] == "scenes"
    assert card["training"]["data"]["train"]["class_pixels"]["look-alike"] == 0  # mapped to ignore
    assert len(card["training"]["data"]["validation_scenes"]) == 1


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["finetune", "--output", str(tmp_path / "m")]) == 2
    assert "no labelled data" in capsys.readouterr().err
    assert (
        main(
            [
                "finetune",
                "--scene",
                "a.tif",
                "--scene",
                "b.tif",
                "--labels",
                "x.gpkg",
                "--labels",
                "y.gpkg",
                "--labels",
                "z.gpkg",
                "--output",
                str(tmp_path / "m"),
            ]
        )
        == 2
    )
    assert "3 --labels for 2 --scene" in capsys.readouterr().err
    assert main(["finetune", "--data-format", "osd", "--dataset", str(tmp_path), "--output", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no images folder" in err
    data = ["--data-format", "osd", "--dataset", str(tmp_path), "--output", str(tmp_path / "m")]
    assert main(["finetune", *data, "--recipe", str(tmp_path / "missing.json")]) == 2
    assert "--recipe" in capsys.readouterr().err
    (tmp_path / "list.json").write_text("[1, 2]")
    assert main(["finetune", *data, "--recipe", str(tmp_path / "list.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must hold a JSON object" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["finetune", "--lr", "-1"], "argument --lr: must be a number, above 0, got -1"),
        (["finetune", "--lr", "nan"], "argument --lr: must be a number, above 0, got nan"),
        (["finetune", "--batch-size", "0"], "argument --batch-size: must be a whole number, at least 1, got 0"),
        (["finetune", "--batch-size", "-1"], "argument --batch-size: must be a whole number, at least 1, got -1"),
        (["finetune", "--steps", "-5"], "argument --steps: must be a whole number, at least 1, got -5"),
        (["finetune", "--jointnet-steps", "0"], "argument --jointnet-steps: must be a whole number, at least 1"),
        (
            ["finetune", "--ddim-steps", "5000"],
            "argument --ddim-steps: must be a whole number, at least 1 and at most 1000, got 5000",
        ),
        (["finetune", "--val-share", "1"], "argument --val-share: must be a number, at least 0 and below 1, got 1"),
        (["finetune", "--aug-ratio", "-0.5"], "argument --aug-ratio: must be a number, at least 0 and at most 8"),
        (["finetune", "--balance", "0"], "argument --balance: must be a number, above 0, got 0"),
        (["finetune", "--crop-px", "-64"], "argument --crop-px: must be a whole number, at least 0, got -64"),
        (["finetune", "--seed", "-1"], "argument --seed: must be an integer between 0 and 9007199254740992, got -1"),
        (["finetune", "--limit", "0"], "argument --limit: must be a whole number, at least 1, got 0"),
        (["finetune", "--db-range", "-35", "inf"], "argument --db-range: must be a number, got inf"),
        (["train", "--patience", "0"], "argument --patience: must be a whole number, at least 1, got 0"),
        (["train", "--checkpoint-every", "0"], "argument --checkpoint-every: must be a whole number, at least 1"),
        (["train", "--aug-ratio", "9"], "argument --aug-ratio: must be a number, at least 0 and at most 8, got 9"),
        (["train-jointnet", "--ema", "1"], "argument --ema: must be a number, at least 0 and below 1, got 1"),
        (["train-jointnet", "--lr", "0"], "argument --lr: must be a number, above 0, got 0"),
        (["generate", "--count", "0"], "argument --count: must be a whole number, at least 1, got 0"),
        (["generate", "--temperature", "0"], "argument --temperature: must be a number, above 0, got 0"),
        (["generate", "--eta", "2"], "argument --eta: must be a number, at least 0 and at most 1, got 2"),
        (["evaluate", "model.json", "--batch-size", "0"], "argument --batch-size: must be a whole number, at least 1"),
    ],
)
def test_numeric_training_options_are_checked_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], message: str
) -> None:
    """Each careless number is one line, exit 2, before any data is read or anything written."""
    monkeypatch.chdir(tmp_path)
    required = {
        "finetune": ["--output", "m"],
        "train": ["--output", "m"],
        "train-jointnet": ["--output", "j"],
        "generate": ["--jointnet", "j.safetensors", "--count", "1", "--out", "gen"],
        "evaluate": [],
    }[argv[0]]
    data = [] if argv[0] == "generate" else ["--data-format", "osd", "--dataset", "tiles"]
    with pytest.raises(SystemExit) as stop:
        main(["--progress", "none", *argv, *required, *data])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"dakd: error: {message}") and err.endswith(f" (see dakd {argv[0]} --help)\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["finetune", "train", "train-jointnet", "generate", "evaluate"])
def test_units_help_names_every_unit_the_engine_reads(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The help listed auto, linear, db, amplitude, intensity and left out db-8bit, which the commands accept."""
    from engine.contract import UNITS

    monkeypatch.setenv("COLUMNS", "400")  # one line per option: argparse would break db-8bit at its hyphen
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith("--units"))
    assert line.split("raster units: ")[1] == ", ".join(("auto", *UNITS))


def test_ddim_step_limit_is_the_training_schedule() -> None:
    from engine.cli.train import MAX_DDIM_STEPS
    from engine.diffusion.schedule import ScheduleConfig

    assert MAX_DDIM_STEPS == ScheduleConfig().num_train_timesteps


def test_evaluate_names_the_folder_it_scored_and_warns_when_the_default_split_is_the_training_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--split` stays train by default (scripts rely on it), so `dakd evaluate` names the folder it scored in its
    first line and warns once when the root holds a test split it left out; 0/1 masks score as their 0/255 originals
    (they were all sea: oil IoU 0)."""
    import numpy as np
    from PIL import Image

    root = tmp_path / "sos"
    simulate = ["--progress", "none", "simulate-tiles", "--format", "sos", "--spills", "1"]
    assert main([*simulate, "--count", "2", "--out", str(root / "train")]) == 0
    assert main([*simulate, "--count", "1", "--seed", "3", "--out", str(root / "test")]) == 0
    model = REPO / "resources" / "models" / "default.json"
    run = ["--progress", "none", "evaluate", str(model), "--data-format", "sos", "--dataset", str(root)]
    run += ["--device", "cpu"]
    capsys.readouterr()
    assert main([*run, "--json", str(tmp_path / "white.json")]) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith(f"model dakd-default-sim-xs on 2 tiles of {root / 'train'} (")
    assert "mIoU" in printed.out
    assert printed.err.splitlines() == [
        f"dakd: scoring the train split ({root / 'train'}), as --split defaults to train; pass --split test to score "
        f"the held-out tiles in {root / 'test'}"
    ]
    assert main([*run, "--split", "test"]) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith(f"model dakd-default-sim-xs on 1 tiles of {root / 'test'} (") and printed.err == ""

    for mask in (root / "train" / "gt").glob("*.png"):  # the same masks saved as 0/1
        Image.fromarray((np.asarray(Image.open(mask)) > 127).astype(np.uint8)).save(mask)
    assert main([*run, "--split", "train", "--json", str(tmp_path / "binary.json")]) == 0
    assert capsys.readouterr().err == ""  # --split given: no warning
    white, binary = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("white", "binary"))
    assert binary["confusion"] == white["confusion"] and white["confusion"][1][1] > 0  # oil found on both


def test_split_train_on_a_test_split_folder_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--dataset ROOT/test --split train` trained on (or scored) the held-out tiles as the train split: the CLI
    turned a missing --split into train, so a given one was accepted on any split folder."""
    root = tmp_path / "osd"
    simulate_tiles(root / "train", 1, seed=1)
    simulate_tiles(root / "test", 1, seed=2)
    data = ["--data-format", "osd", "--dataset", str(root / "test"), "--split", "train"]
    model = REPO / "resources" / "models" / "default.json"
    capsys.readouterr()
    for run in (
        ["finetune", *data, "--output", str(tmp_path / "m")],
        ["evaluate", str(model), *data, "--device", "cpu"],
    ):
        assert main(["--progress", "none", *run]) == 2
        printed = capsys.readouterr()
        assert printed.err.count("\n") == 1 and printed.out == ""
        assert printed.err.startswith(f"dakd: error: {root / 'test'}: it holds images/ itself")
        assert f"give {(root / 'train').resolve()} as --dataset, or leave out --split" in printed.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["osd"]  # nothing written


def blank_scene(path: Path) -> Path:
    """A 64 x 64 georeferenced scene of flat sea (UTM 33N, 10 m pixels, top left at 400000 E, 6200000 N)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="float32",
        crs="EPSG:32633",
        transform=from_origin(400000, 6200000, 10, 10),
    ) as dataset:
        dataset.write(np.full((1, 64, 64), 0.04, np.float32))
    return path


def test_unreadable_labels_leave_no_work_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A careless --labels (here a JSON sidecar, not polygons) is refused before anything is written."""
    scene = blank_scene(tmp_path / "scene.tif")
    (tmp_path / "scene.json").write_text("{}")
    args = [
        "finetune",
        "--scene",
        str(scene),
        "--labels",
        str(tmp_path / "scene.json"),
        "--output",
        str(tmp_path / "out" / "m"),
    ]
    (tmp_path / "out").mkdir()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("dakd: error:") and "label polygons" in err
    assert list((tmp_path / "out").iterdir()) == []


def test_train_resume_refuses_another_runs_work_folder_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dakd train --resume` on a folder another run finished: one line, exit 2, no model (was a mislabelled card)."""
    first, second = simulate_tiles(tmp_path / "a", 2, seed=3), simulate_tiles(tmp_path / "b", 2, seed=4)
    common = ["--progress", "none", "train", "--data-format", "osd", "--device", "cpu", "--steps", "1"]
    common += ["--batch-size", "2", "--work-dir", str(tmp_path / "run.work")]
    assert main([*common, "--dataset", str(first), "--output", str(tmp_path / "first")]) == 0
    capsys.readouterr()
    for other in (["--dataset", str(second)], ["--dataset", str(first), "--skip", "none"]):
        assert main([*common, *other, "--resume", "--output", str(tmp_path / "second")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"dakd: error: {tmp_path / 'run.work' / 'last.pt'} is from ")
        assert "internal error" not in err and "start without --resume" in err
    assert not list(tmp_path.glob("second*"))


def test_resume_refuses_a_work_folder_that_holds_the_users_files_and_leaves_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dakd finetune --work-dir MINE --resume` took any folder: a folder of the analyst's with a `dakd generate`
    set in generated/ had that set replaced by the fine-tune's own pairs (and its checkpoints written among them)."""
    data = simulate_tiles(tmp_path / "tiles", 2, seed=3)
    mine = tmp_path / "mine"
    (mine / "generated" / "images").mkdir(parents=True)
    kept = {mine / "notes.txt": "my notes", mine / "generated" / "dataset.json": '{"format": "dakd-generated-pairs"}'}
    for path, text in kept.items():
        path.write_text(text)
    for command in ("finetune", "train", "train-jointnet"):
        args = ["--progress", "none", command, "--data-format", "osd", "--dataset", str(data), "--device", "cpu"]
        args += ["--output", str(tmp_path / command / "m"), "--work-dir", str(mine), "--resume"]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"dakd: error: work folder {mine} is not a ")
        assert "written by dakd (it holds " in err and "so --resume has no run to continue there" in err
        assert not (tmp_path / command).exists()
    assert {path: path.read_text() for path in kept} == kept
    assert sorted(p.name for p in mine.rglob("*")) == ["dataset.json", "generated", "images", "notes.txt"]


@pytest.mark.parametrize(
    ("command", "output"),
    [("finetune", "m.json"), ("finetune", "m.loss.png"), ("train", "m.safetensors"), ("train-jointnet", "m.json")],
)
def test_a_work_dir_at_an_output_path_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, output: str
) -> None:
    """`--out m.json --work-dir m.json` trained the whole run into the folder m.json, then failed at the end on
    "output m.json is a directory, not a file; choose another --out" (the work folder is made before the first step)."""
    data = simulate_tiles(tmp_path / "tiles", 2, seed=3)
    work = tmp_path / output
    args = ["--progress", "none", command, "--data-format", "osd", "--dataset", str(data), "--device", "cpu"]
    args += ["--steps", "1", "--batch-size", "2", "--output", str(tmp_path / "m.json"), "--work-dir", str(work)]
    small = {"finetune": ["--preset", "tiny", "--aug-ratio", "0"], "train": ["--model", "saross_net_xs"]}
    assert main([*args, *small.get(command, ["--variant", "tiny"])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"dakd: error: --work-dir {work} is the path of the output ")
    assert "choose another --work-dir" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiles"]


def test_a_damaged_checkpoint_is_refused_in_one_line_whose_advice_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A last.pt cut short (a power cut) or replaced by a pickle that runs code: `--resume` is one line, runs
    nothing, and its advice leads out. It said "start again without --resume", which was refused in turn ("work
    folder exists from an earlier run; pass --resume to continue it"): a loop."""
    data = simulate_tiles(tmp_path / "tiles", 2, seed=3)
    work = tmp_path / "m.work"
    common = ["--progress", "none", "train", "--data-format", "osd", "--dataset", str(data), "--device", "cpu"]
    common += ["--steps", "1", "--batch-size", "2", "--output", str(tmp_path / "m")]
    assert main(common) == 0
    last = work / "last.pt"
    whole = last.read_bytes()
    payload = tmp_path / "ran"
    evil = f"cos\nsystem\n(S'touch {payload}'\ntR.".encode()  # pickle protocol 0: os.system(...) when unpickled
    for damaged in (whole[: len(whole) // 2], evil):
        last.write_bytes(damaged)
        capsys.readouterr()
        assert main([*common, "--overwrite", "--resume"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"dakd: error: {last}: not a DAKD training checkpoint (")
        assert err.rstrip().endswith("start without --resume, with --overwrite or another --work-dir")
        assert not payload.exists()
    assert main([*common, "--overwrite"]) == 0  # the advice: start afresh
    assert not payload.exists()


def test_finetune_refuses_point_labels_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Points burn one pixel each and the rest would be trained as sea: refused before any work."""
    import fiona

    scene = blank_scene(tmp_path / "scene.tif")
    labels = tmp_path / "points.gpkg"
    schema = {"geometry": "Point", "properties": {"class": "str"}}
    with fiona.open(labels, "w", driver="GPKG", crs="EPSG:32633", schema=schema) as sink:
        sink.write(
            {"geometry": {"type": "Point", "coordinates": (400320.0, 6199680.0)}, "properties": {"class": "oil"}}
        )
    (tmp_path / "out").mkdir()
    args = ["finetune", "--scene", str(scene), "--labels", str(labels), "--output", str(tmp_path / "out" / "m")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        f"dakd: error: {labels}: holds Point geometries; label polygons are needed (draw the labelled areas as "
        "polygons, or give a label raster)"
    )
    assert list((tmp_path / "out").iterdir()) == []


def test_train_refuses_an_init_model_with_other_classes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`dakd train --init` checks the classes before training, as `dakd finetune` does (one shared check).

    Binary and five-class labels fold into each other; a model without ship and land cannot take five-class labels.
    """
    from engine.classes import OSD_CLASSES
    from engine.modelcard import new_model_card, save_model_card
    from engine.models import create_model

    model = create_model("saross_net_xs", num_classes=3)
    three = save_model_card(tmp_path / "three", model, new_model_card(model, "three", OSD_CLASSES[:3]))
    data = simulate_tiles(tmp_path / "tiles", 2, seed=3)
    args = [
        "--progress",
        "none",
        "train",
        "--data-format",
        "osd",
        "--dataset",
        str(data),
        "--device",
        "cpu",
        "--steps",
        "2",
        "--init",
        str(three),
        "--output",
        str(tmp_path / "seg"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("dakd: error: --init") and "same classes" in err
    assert not (tmp_path / "seg.json").exists()


@pytest.mark.slow
def test_finetune_the_default_model_on_binary_labels_and_evaluate_both_foldings(tmp_path: Path) -> None:
    """`dakd finetune --init default.json` on binary masks keeps five classes and trains "not oil", not sea;
    `dakd evaluate` scores a five-class model on binary labels and a binary model on five-class labels."""
    default = REPO / "resources" / "models" / "default.json"
    sos = tmp_path / "sos"
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
                str(sos),
                "--seed",
                "4",
            ]
        )
        == 0
    )
    data = ["--data-format", "sos", "--dataset", str(sos), "--device", "cpu"]
    done = dakd(
        "--progress",
        "none",
        "finetune",
        *data,
        "--init",
        str(default),
        "--preset",
        "tiny",
        "--steps",
        "3",
        "--lr",
        "1e-4",
        "--val-share",
        "0.25",
        "--output",
        str(tmp_path / "ft"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    card = json.loads((tmp_path / "ft.json").read_text())
    assert [c["name"] for c in card["classes"]] == ["sea", "oil", "look-alike", "ship", "land"]  # the head is kept
    assert card["training"]["initialised_from"] == json.loads(default.read_text())["name"]
    train = card["training"]["data"]["train"]["class_pixels"]
    assert train["not oil"] > 0 and train["oil"] > 0 and train["sea"] == 0  # background was never called sea
    assert card["training"]["data"]["partial_labels"] is True
    assert card["training"]["generation"] is None  # no SAR-JointNet on oil / not-oil labels (tiny's 1.0 dropped)
    assert card["metrics"]["class_names"] == ["not oil", "oil"]
    assert 0 <= card["metrics"]["validation"]["miou"] <= 100
    assert card["training"]["segmenter"]["loss"]["retain"] == 1.0  # the starting model teaches what labels omit
    assert card["training"]["segmenter"]["freeze_norm"] is True  # and keeps its batch-norm statistics

    alone = dakd(
        "--progress",
        "none",
        "finetune",
        *data,
        "--preset",
        "tiny",
        "--retain",
        "0.5",
        "--output",
        str(tmp_path / "alone"),
    )
    assert alone.returncode == 2 and alone.stderr.strip().splitlines()[-1].startswith("dakd: error: --retain 0.5")
    assert not (tmp_path / "alone.work").exists() and not (tmp_path / "alone.json").exists()

    asked = dakd(
        "--progress",
        "none",
        "finetune",
        *data,
        "--init",
        str(default),
        "--preset",
        "tiny",
        "--aug-ratio",
        "1",
        "--output",
        str(tmp_path / "gen"),
    )
    assert asked.returncode == 2 and asked.stderr.strip().splitlines()[-1].startswith("dakd: error: --aug-ratio 1")
    assert not (tmp_path / "gen.work").exists()

    five_on_binary = dakd("--progress", "none", "evaluate", str(tmp_path / "ft.json"), *data)
    assert five_on_binary.returncode == 0, five_on_binary.stderr[-2000:]
    assert "folding: the labels are binary" in five_on_binary.stdout and "not oil" in five_on_binary.stdout

    binary = dakd(
        "--progress",
        "none",
        "finetune",
        *data,
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--val-share",
        "0",
        "--output",
        str(tmp_path / "binary"),
    )  # from scratch on binary masks: a binary model, as before
    assert binary.returncode == 0, binary.stderr[-2000:]
    assert [c["name"] for c in json.loads((tmp_path / "binary.json").read_text())["classes"]] == ["sea", "oil"]
    osd = simulate_tiles(tmp_path / "osd", 2, seed=5)
    binary_on_five = dakd(
        "--progress",
        "none",
        "evaluate",
        str(tmp_path / "binary.json"),
        "--data-format",
        "osd",
        "--dataset",
        str(osd),
        "--device",
        "cpu",
        "--json",
        str(tmp_path / "eval.json"),
    )
    assert binary_on_five.returncode == 0, binary_on_five.stderr[-2000:]
    assert "folding: the model is binary" in binary_on_five.stdout
    assert "look-alike, ship, land are folded into not oil" in binary_on_five.stdout
    scored = json.loads((tmp_path / "eval.json").read_text())
    assert len(scored["confusion"]) == 2 and scored["pixels"] > 0


@pytest.mark.parametrize(("command", "option"), [("train", "--model"), ("finetune", "--model")])
def test_an_unknown_saross_net_variant_is_refused_before_the_data_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, option: str
) -> None:
    """`dakd train --model tiny` (the name of a preset and of a SAR-JointNet variant) was "internal error (KeyError:
    unknown model 'tiny' ...)", after the data had been read."""
    args = ["--progress", "none", command, "--data-format", "osd", "--dataset", str(tmp_path / "absent")]
    assert main([*args, option, "tiny", "--device", "cpu", "--output", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dakd: error: --model tiny: no such SAROSS-Net variant; use one of saross_net_t, ")
    assert "saross_net_xs" in err
    assert err.count("\n") == 1 and not (tmp_path / "m.json").exists()


def test_resume_without_a_work_folder_says_it_starts_a_new_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--resume` with a mistyped `--work-dir` trained from the first step again without a word (allowed, as
    `make default-model DM_RESUME=1` resumes every stage, but the analyst must see it)."""
    data = simulate_tiles(tmp_path / "tiles", 2, seed=3)
    work = tmp_path / "m.wrok"
    args = ["--progress", "none", "finetune", "--data-format", "osd", "--dataset", str(data), "--device", "cpu"]
    args += ["--preset", "tiny", "--steps", "1", "--batch-size", "2", "--aug-ratio", "0", "--val-share", "0"]
    assert main([*args, "--output", str(tmp_path / "m"), "--work-dir", str(work), "--resume"]) == 0
    err = capsys.readouterr().err
    assert f"dakd: --resume: no work folder {work} to continue; starting a new run there" in err.splitlines()
    assert (tmp_path / "m.json").is_file()
