"""``dakd simulate`` and ``dakd simulate-tiles`` end to end (small sizes, in-process and one real subprocess)."""

import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from engine.cli import main

from ..conftest import can_mount_tmpfs
from .conftest import dakd_command


def run(capsys, *argv):
    code = main(["--progress", "none", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_simulate_writes_the_files_and_reproduces_from_the_sidecar(tmp_path, capsys):
    code, out, _ = run(
        capsys,
        "simulate",
        "--size",
        "96",
        "64",
        "--seed",
        "4",
        "--out",
        str(tmp_path),
        "--name",
        "a",
        "--spills",
        "2",
        "--wind",
        "6",
        "9",
        "--damping",
        "5",
        "--dtype",
        "int16",
        "--polygons",
        "--set",
        "rain_cells=[1,1]",
    )
    assert code == 0 and "simulated 96x64 scene, seed 4" in out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["a_labels.gpkg", "a_labels.tif", "a_quicklook.png", "a_scene.json", "a_scene.tif"]
    sidecar = json.loads((tmp_path / "a_scene.json").read_text())
    config = sidecar["config"]
    assert config["spills"] == [2, 2] and config["wind_speed_ms"] == [6.0, 9.0] and config["damping_db"] == [5.0, 5.0]
    assert config["rain_cells"] == [1, 1] and config["width_px"] == 96 and config["height_px"] == 64
    assert sidecar["command"].startswith("dakd simulate --seed 4 --size 96 64")
    # --config with the sidecar gives the same pixels (and the sidecar's size).
    code, _, _ = run(
        capsys,
        "simulate",
        "--config",
        str(tmp_path / "a_scene.json"),
        "--seed",
        "4",
        "--out",
        str(tmp_path),
        "--name",
        "b",
        "--dtype",
        "int16",
    )
    assert code == 0
    with rasterio.open(tmp_path / "a_scene.tif") as first, rasterio.open(tmp_path / "b_scene.tif") as second:
        assert np.array_equal(first.read(1), second.read(1))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--size", "8", "64"], "--size: width_px must be an integer >= 32"),
        (["--wind", "20", "30"], "--wind: wind_speed_ms [20.0, 30.0] lies outside wind_limits_ms"),
        (["--spills", "1", "2", "3"], "--spills takes one value or MIN MAX"),
        (["--set", "colour=3"], "--set colour: unknown key(s) colour for SceneConfig"),
        (["--damping", "12", "3"], "--damping: damping_db must be a (low, high) pair"),
        (["--dtype", "int16", "--units", "linear"], "--units linear with --dtype int16 is not supported"),
        (["--config", "missing.json"], "--config missing.json: file not found"),
    ],
)
def test_bad_options_fail_with_one_line_and_no_output(tmp_path, capsys, argv, message):
    out_dir = tmp_path / "out"
    code, _, err = run(capsys, "simulate", "--size", "64", "64", "--out", str(out_dir), *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("dakd: error: ") and message in err
    assert not out_dir.exists()


def test_existing_output_needs_overwrite(tmp_path, capsys):
    args = ["simulate", "--size", "48", "48", "--out", str(tmp_path), "--no-quicklook"]
    assert run(capsys, *args)[0] == 0
    code, _, err = run(capsys, *args)
    assert code == 2 and "already exists; pass --overwrite" in err
    assert run(capsys, *args, "--overwrite", "--seed", "2")[0] == 0


def test_wind_limits_can_be_widened_with_set(tmp_path, capsys):
    code, _, _ = run(
        capsys,
        "simulate",
        "--size",
        "48",
        "48",
        "--out",
        str(tmp_path),
        "--wind",
        "18",
        "--set",
        "wind_limits_ms=[1,25]",
    )
    assert code == 0
    assert json.loads((tmp_path / "sim_scene.json").read_text())["scene"]["wind"]["mean_speed_ms"] == 18.0


def test_simulate_tiles_osd_and_json_progress(tmp_path, capsys):
    code = main(
        [
            "--progress",
            "json",
            "simulate-tiles",
            "--count",
            "2",
            "--format",
            "osd",
            "--out",
            str(tmp_path / "osd"),
            "--size",
            "64",
            "64",
            "--seed",
            "1",
        ]
    )
    out = capsys.readouterr().out
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert events[0] == {"event": "stage", "stage": "simulate tiles", "total": 2}
    assert events[-1]["event"] == "done" and events[-1]["count"] == 2
    manifest = json.loads((tmp_path / "osd" / "dataset.json").read_text())
    assert manifest["config"]["nodata_probability"] == 0.0 and manifest["tile_size_px"] == [64, 64]
    assert len(list((tmp_path / "osd" / "labels_1D").iterdir())) == 2


def test_simulate_tiles_refuses_existing_folder(tmp_path, capsys):
    (tmp_path / "sos").mkdir()
    (tmp_path / "sos" / "keep.txt").write_text("x")
    code, _, err = run(capsys, "simulate-tiles", "--count", "1", "--format", "sos", "--out", str(tmp_path / "sos"))
    assert code == 2 and "--overwrite" in err
    assert [p.name for p in (tmp_path / "sos").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(("low", "high"), [("-35", "inf"), ("5", "-35")])
def test_simulate_tiles_refuses_a_db_range_that_cannot_map_to_8_bits(tmp_path, capsys, low, high):
    """Audit: --db-range -35 inf wrote all-black images and a dataset.json holding Infinity, with exit 0."""
    argv = ["simulate-tiles", "--count", "1", "--size", "32", "32", "--format", "osd", "--out", str(tmp_path / "osd")]
    try:
        code = main(["--progress", "none", *argv, "--db-range", low, high])
    except SystemExit as stop:  # argparse refuses a value that is not a finite number
        code = stop.code
    err = capsys.readouterr().err
    message = "--db-range: must be a number, got inf" if high == "inf" else "--db-range 5 -35: LOW must be below HIGH"
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_real_subprocess(tmp_path):
    script = Path(sys.executable).parent / "dakd"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "engine"]
    done = subprocess.run(
        [*command, "--progress", "none", "simulate", "--size", "40", "40", "--out", str(tmp_path), "--no-quicklook"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sim_scene.tif").exists()


@pytest.mark.skipif(not can_mount_tmpfs(), reason="needs unshare -Urm to mount a small tmpfs")
def test_a_disk_that_fills_up_is_named_in_one_line_and_nothing_is_left(tmp_path):
    """simulate and simulate-tiles (as generate, train and evaluate --out) said "internal error (OSError: [Errno 28]
    No space left on device)" or "(RasterioIOError: Write failed...)" on a full disk, and asked for a bug report."""
    disk = tmp_path / "disk"
    disk.mkdir()
    dakd = shlex.join([*dakd_command(), "--progress", "none"])
    scene = f"{dakd} simulate --size 512 512 --out {shlex.quote(str(disk / 'scene'))}"
    tiles = f"{dakd} simulate-tiles --count 40 --size 128 128 --format osd --out {shlex.quote(str(disk / 'tiles'))}"
    script = (
        f"mount -t tmpfs -o size=300k tmpfs {shlex.quote(str(disk))} && "
        f"{{ {scene}; echo rc=$?; {tiles}; echo rc=$?; ls -A {shlex.quote(str(disk))}; }}"
    )
    done = subprocess.run(["unshare", "-Urm", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["rc=2", "rc=2"], done.stderr[-2000:]  # and nothing left on the small disk
    # One line each: libtiff printed "_tiffWriteProc: No space left on device." above the first; and it named the
    # folder it had made for the scene, removed with it, as the place to free space.
    assert done.stderr.splitlines() == [
        f"dakd: error: the disk is full: writing {disk / 'scene' / 'sim_scene.tif'} failed with 0 MB left in "
        f"{disk}; free disk space or choose another --out",
        f"dakd: error: the disk is full: writing {disk / 'tiles'} failed with 0 MB left in {disk}; free disk space "
        "or choose another --out",
    ]
