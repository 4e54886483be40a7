import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import rasterio

from engine.cli import main
from engine.io.atomic import TMP_MARK

from .conftest import dakd_command, speckled_sea, write_scene

OUTPUT_FILES = ["classes.tif", "probability.tif", "quicklook.png", "report.html", "spills.gpkg", "summary.json"]


def detect(capsys, *args):
    code = main(["--progress", "none", "detect", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(code, err, message, out_dir):
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[-1].startswith("dakd: error: ") and message in lines[-1]
    assert "Traceback" not in err
    assert not out_dir.exists()
    assert [p for p in out_dir.parent.iterdir() if TMP_MARK in p.name] == []


# --- every bad input of issue 2, item 7 ----------------------------------------------------------------------


def test_missing_file(tmp_path, capsys):
    code, _, err = detect(capsys, tmp_path / "nope.tif", "--out", tmp_path / "out")
    assert_refused(code, err, f"{tmp_path / 'nope.tif'}: no such file; check the path", tmp_path / "out")


def test_file_that_is_not_a_raster(tmp_path, capsys):
    (tmp_path / "notes.tif").write_text("shopping list")
    code, _, err = detect(capsys, tmp_path / "notes.tif", "--out", tmp_path / "out")
    assert_refused(code, err, "notes.tif: not a raster GDAL can read", tmp_path / "out")


def test_truncated_tiff(tmp_path, capsys):
    good = write_scene(tmp_path / "good.tif", speckled_sea(300, 300))
    (tmp_path / "cut.tif").write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    code, _, err = detect(capsys, tmp_path / "cut.tif", "--out", tmp_path / "out")
    assert_refused(code, err, "truncated or corrupt", tmp_path / "out")
    assert "re-export or re-download it" in err


def test_zero_sized_raster(tmp_path, capsys):
    (tmp_path / "empty.tif").write_bytes(b"")
    code, _, err = detect(capsys, tmp_path / "empty.tif", "--out", tmp_path / "out")
    assert_refused(code, err, "empty.tif: the file is empty (0 bytes)", tmp_path / "out")


def test_raster_smaller_than_one_tile_works(tmp_path, capsys):
    small = write_scene(tmp_path / "small.tif", speckled_sea(30, 45))
    code, out, _ = detect(capsys, small, "--out", tmp_path / "out")
    assert code == 0 and "1 of 256 px" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == OUTPUT_FILES


def test_all_nodata_raster(tmp_path, capsys):
    blank = write_scene(tmp_path / "blank.tif", np.zeros((80, 80), np.float32))
    code, _, err = detect(capsys, blank, "--out", tmp_path / "out")
    assert_refused(code, err, "blank.tif: contains no valid pixels", tmp_path / "out")


@pytest.mark.parametrize("crs", ['LOCAL_CS["arbitrary",UNIT["metre",1]]', "EPSG:4978"])
def test_a_raster_in_an_engineering_or_geocentric_crs_runs_in_pixel_coordinates(tmp_path, capsys, crs):
    """GDAL's LOCAL_CS (geokeys it cannot decode) and geocentric CRSs used to end in "internal error"."""
    scene = write_scene(tmp_path / "odd.tif", speckled_sea(64, 64), crs=crs)
    out = tmp_path / "out"
    code, _, err = detect(capsys, scene, "--out", out, "--method", "threshold", "--reader-option", "pixel_size_m=10")
    assert code == 0, err  # with the default --land-mask auto
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["crs"] is None and summary["land_mask"]["used"] is False
    assert any("which is ignored: outputs are in pixel coordinates" in w for w in summary["warnings"])


def test_a_zip_cut_off_mid_download(tmp_path, capsys):
    cut = tmp_path / "S1A_IW_GRDH_1SDV_20240105T053012_20240105T053037_051983_0647A6_A1B2.zip"
    cut.write_bytes(b"PK\x03\x04" + bytes(5000))  # a local file header and no central directory
    code, _, err = detect(capsys, cut, "--out", tmp_path / "out")
    assert_refused(
        code,
        err,
        f"{cut}: is not a complete zip archive (an interrupted download?); download it again",
        tmp_path / "out",
    )


def write_rgb(path):
    data = np.random.default_rng(0).integers(0, 255, (3, 40, 40), dtype=np.uint8)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=40,
        height=40,
        count=3,
        dtype="uint8",
        photometric="RGB",
        crs="EPSG:32633",
        transform=rasterio.transform.from_origin(500000, 3880000, 10, 10),
    ) as ds:
        ds.write(data)
    return path


def test_rgb_picture_is_refused_with_advice_and_works_on_request(tmp_path, capsys):
    photo = write_rgb(tmp_path / "photo.tif")
    code, _, err = detect(capsys, photo, "--out", tmp_path / "out")
    assert_refused(code, err, "8-bit RGB picture, not radar backscatter; export the calibrated", tmp_path / "out")
    assert "pass --band 1" in err
    code, _, err = detect(capsys, photo, "--band", "1", "--method", "threshold", "--out", tmp_path / "out")
    assert code == 0 and "RGB picture; using band 1" in err and "units db-8bit" in err
    # the default model reads an 8-bit picture as σ0 in dB over an unknown span (its channels compare to the sea)
    code, _, err = detect(capsys, photo, "--band", "1", "--out", tmp_path / "out2")
    assert code == 0, err
    summary = json.loads((tmp_path / "out2" / "summary.json").read_text())
    assert summary["input"]["units"] == "db-8bit" and summary["detector"]["name"] == "model"
    # an uncalibrated DN picture is still refused by the σ0 model, in one line
    code, _, err = detect(capsys, photo, "--band", "1", "--units", "amplitude", "--out", tmp_path / "out3")
    assert code == 2 and err.strip().splitlines()[-1].startswith("dakd: error: ") and "Traceback" not in err
    assert "needs calibrated sigma0" in err and not (tmp_path / "out3").exists()


def test_nan_and_inf_values_are_nodata_with_a_warning(tmp_path, capsys):
    values = speckled_sea(200, 200)
    values[10:20, 10:20] = np.nan
    values[50, 50] = -np.inf
    code, _, err = detect(capsys, write_scene(tmp_path / "holes.tif", values), "--out", tmp_path / "out")
    assert code == 0 and "NaN/Inf values found; they are treated as nodata" in err
    with rasterio.open(tmp_path / "out" / "classes.tif") as classes:
        assert (classes.read(1)[10:20, 10:20] == classes.nodata).all()


def test_negative_values_with_linear_units(tmp_path, capsys):
    db = write_scene(tmp_path / "db.tif", 10 * np.log10(speckled_sea(100, 100)))
    code, _, err = detect(capsys, db, "--units", "linear", "--out", tmp_path / "out")
    assert_refused(code, err, "has negative values", tmp_path / "out")
    assert "--units linear was given; negative backscatter means dB: use --units db" in err


def test_output_under_a_file_is_not_writable(tmp_path, capsys, scene_tif):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    code, _, err = detect(capsys, scene_tif, "--out", tmp_path / "blocker" / "out")
    assert code == 2 and "is a file, not a folder; choose another --out" in err
    assert (tmp_path / "blocker").read_text() == "a file where a folder should be"


def test_read_only_output_folder(world_readable_dir, repo_root):
    """A real permission error: the CLI runs as an unprivileged user (as root) or under chmod 555 (as a user)."""
    scene = write_scene(world_readable_dir / "scene.tif", speckled_sea(64, 64))
    scene.chmod(0o644)
    locked = world_readable_dir / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    drop = None
    if os.geteuid() == 0:

        def drop():
            os.setgid(65534)
            os.setuid(65534)

        try:  # a checkout under a private folder (mktemp -d is 0700) fails at exec, not with a return code
            probe = subprocess.run(
                [sys.executable, "-c", "import engine.detect"],
                capture_output=True,
                cwd=repo_root,
                preexec_fn=drop,
                timeout=120,
                env={**os.environ, "HOME": str(world_readable_dir)},
            )
        except (PermissionError, subprocess.SubprocessError):
            probe = None
        if probe is None or probe.returncode != 0:
            pytest.skip("the checkout is not readable by the unprivileged user 'nobody'")
    done = subprocess.run(
        [*dakd_command(), "--progress", "none", "detect", str(scene), "--out", str(locked / "out")],
        capture_output=True,
        text=True,
        cwd=repo_root,
        preexec_fn=drop,
        timeout=120,
        env={**os.environ, "HOME": str(world_readable_dir)},
    )
    assert done.returncode == 2, done.stderr
    expected = f"dakd: error: cannot write {locked / 'out'}: folder {locked} is not writable; choose another --out"
    assert done.stderr.strip().splitlines()[-1] == expected
    assert list(locked.iterdir()) == []


def test_existing_output_without_overwrite(tmp_path, capsys, scene_tif):
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("keep me")
    code, _, err = detect(capsys, scene_tif, "--out", out)
    assert code == 2 and "already exists and is not empty; pass --overwrite or choose another --out" in err
    assert [p.name for p in out.iterdir()] == ["earlier.txt"]
    code, _, err = detect(capsys, scene_tif, "--out", out, "--overwrite")  # not a folder dakd wrote: kept
    assert code == 2 and "only a detection output written by dakd may be replaced" in err
    assert [p.name for p in out.iterdir()] == ["earlier.txt"]
    (out / "earlier.txt").unlink()
    assert detect(capsys, scene_tif, "--out", out)[0] == 0
    code, _, _ = detect(capsys, scene_tif, "--out", out, "--overwrite")
    assert code == 0 and sorted(p.name for p in out.iterdir()) == OUTPUT_FILES


# --- options, info, and real subprocesses --------------------------------------------------------------------


def test_bad_option_values_are_one_line_errors(tmp_path, capsys, scene_tif):
    code, _, err = detect(
        capsys, scene_tif, "--out", tmp_path / "out", "--method", "threshold", "--threshold-k-db", "-1"
    )
    assert_refused(code, err, "--threshold-k-db must be 0 to 30 dB", tmp_path / "out")
    code, _, err = detect(
        capsys, scene_tif, "--out", tmp_path / "out", "--method", "model", "--model", tmp_path / "missing.json"
    )
    assert_refused(code, err, "missing.json", tmp_path / "out")  # the model detector's own one-line message


# --- issue 12, item 7: each careless input ends in one line, exit 2, nothing written -----------------------------


def test_complex_slc_input_is_refused(tmp_path, capsys):
    field = (speckled_sea(64, 64) + 1j * speckled_sea(64, 64, seed=1)).astype(np.complex64)
    slc = write_scene(tmp_path / "slc.tif", field)
    code, _, err = detect(capsys, slc, "--out", tmp_path / "out")
    assert_refused(
        code,
        err,
        "slc.tif: band 1 holds complex values (complex64), as in SLC data; detect it to intensity first (|z|²",
        tmp_path / "out",
    )
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "overlap, message",
    [
        (
            "511",
            "--overlap 511 px is more than half the 512-pixel tile (tiles would advance 1 px at a time); use 0 to "
            "256 px",
        ),
        ("-1", "--overlap must be 0 or more pixels, got -1"),
    ],
)
def test_overlap_is_bounded_by_the_tile(tmp_path, capsys, scene_tif, overlap, message):
    code, _, err = detect(capsys, scene_tif, "--out", tmp_path / "out", "--method", "threshold", "--overlap", overlap)
    assert_refused(code, err, message, tmp_path / "out")
    assert err.count("dakd: error:") == 1


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--overlap", "100000", "--overlap 100000 px is more than half the 256-pixel tile; use 0 to 128 px"),
        ("--background-window-km", "inf", "--background-window-km must be positive, got inf"),
        ("--threshold-k-db", "-1", "--threshold-k-db must be 0 to 30 dB"),
    ],
)
def test_options_are_refused_before_the_scene_opens_or_the_model_loads(tmp_path, capsys, option, value, message):
    """The scene does not exist: the option, judged against the default model's card (256-pixel tiles), comes first.

    ``--overlap 100000`` was refused after the model had loaded (15 s on the sample scene), an infinite background
    window with the model was an internal error after the whole run."""
    code, _, err = detect(capsys, tmp_path / "nope.tif", "--out", tmp_path / "out", option, value)
    assert_refused(code, err, message, tmp_path / "out")
    assert err.count("dakd: error:") == 1


@pytest.mark.parametrize(
    "option, message",
    [
        ("nodata=abc", "--reader-option nodata=abc: not a number"),
        ("pixel_size_m=0", "--reader-option pixel_size_m=0: must be a positive number"),
        ("pixel_size_m=nan", "--reader-option pixel_size_m=nan: must be a positive number"),
        ("pixel_size_m=-10", "--reader-option pixel_size_m=-10: must be a positive number"),
        ("nodta=0", "--reader-option nodta: not an option for rasters; use nodata=VALUE or pixel_size_m=VALUE"),
    ],
)
def test_bad_reader_options(tmp_path, capsys, scene_tif, option, message):
    code, _, err = detect(capsys, scene_tif, "--out", tmp_path / "out", "--reader-option", option)
    assert_refused(code, err, message, tmp_path / "out")
    assert err.count("dakd: error:") == 1


def test_a_reader_option_that_has_its_own_flag_is_refused(tmp_path, capsys, scene_tif):
    with pytest.raises(SystemExit) as stop:  # used to be an internal error: band given twice
        detect(capsys, scene_tif, "--out", tmp_path / "out", "--reader-option", "band=2")
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err == (
        "dakd: error: argument --reader-option: band has its own option: use --band 2 (see dakd detect --help)\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("band", ["-1", "0", "99"])
def test_a_band_number_out_of_range_is_refused_as_a_number(tmp_path, capsys, scene_tif, band):
    """``--band -1`` was read as a band name: "no band has that name '-1'"."""
    code, _, err = detect(capsys, scene_tif, "--out", tmp_path / "out", f"--band={band}")
    assert_refused(code, err, f"there is no band {band}; use --band 1..1", tmp_path / "out")


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--background-window-km", "inf", "--background-window-km must be positive, got inf"),  # was an internal error
        (
            "--threshold-k-db",
            "inf",
            "--threshold-k-db must be 0 to 30 dB (SNAP's default is 2), got inf",
        ),  # found nothing
        ("--threshold-k-db", "1e300", "--threshold-k-db must be 0 to 30 dB (SNAP's default is 2), got 1e+300"),
        ("--min-area-km2", "inf", "--min-area-km2 must be 0 or more and finite, got inf"),  # dropped every region
    ],
)
def test_infinite_detection_options_are_refused(tmp_path, capsys, scene_tif, option, value, message):
    code, _, err = detect(capsys, scene_tif, "--out", tmp_path / "out", "--method", "threshold", option, value)
    assert_refused(code, err, message, tmp_path / "out")


@pytest.mark.parametrize("value", ["400", "-5", "nan"])
def test_a_wind_direction_outside_0_360_is_refused(tmp_path, capsys, scene_tif, value):
    code, _, err = detect(capsys, scene_tif, "--out", tmp_path / "out", "--method", "threshold", "--wind-dir", value)
    assert_refused(
        code,
        err,
        f"--wind-dir must be the direction the wind blows from, 0-360 degrees clockwise from "
        f"north, got {float(value):g}",
        tmp_path / "out",
    )
    assert err.count("dakd: error:") == 1


def test_background_window_that_cannot_fit_is_refused_up_front(tmp_path, capsys, scene_tif):
    code, _, err = detect(
        capsys, scene_tif, "--out", tmp_path / "out", "--method", "threshold", "--background-window-km", "1000"
    )
    assert_refused(
        code,
        err,
        "--background-window-km 1000 is 100001 px at this scene's 10 m pixels, more than the "
        "1001 px the threshold detector handles; use at most 10 km",
        tmp_path / "out",
    )
    assert "--batch-size" not in err.splitlines()[-1] and err.count("dakd: error:") == 1


def test_options_reach_the_run(tmp_path, capsys, scene_tif):
    code, _, _ = detect(
        capsys,
        scene_tif,
        "--out",
        tmp_path / "out",
        "--method",
        "threshold",
        "--overlap",
        "80",
        "--batch-size",
        "3",
        "--background-window-km",
        "0.3",
        "--threshold-k-db",
        "3",
        "--min-area-km2",
        "0.05",
        "--reader-option",
        "pixel_size_m=12",
    )
    assert code == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["parameters"]["overlap_px"] == 80 and summary["tiling"]["overlap_px"] == 80
    assert summary["parameters"]["batch_size"] == 3 and summary["detector"]["threshold_k_db"] == 3.0
    assert summary["detector"]["background_window_px"] == 25 and summary["parameters"]["min_area_km2"] == 0.05
    assert summary["parameters"]["reader_options"] == {"pixel_size_m": 12}


def test_ships_option_reaches_the_run_and_the_threshold_detector_says_it_ignores_it(tmp_path, capsys, scene_tif):
    code, _, err = detect(capsys, scene_tif, "--out", tmp_path / "out", "--method", "threshold", "--ships", "off")
    assert code == 0 and "--ships off applies to models with a ship class" in err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["parameters"]["ships"] == "off" and summary["detector"]["classes"] == ["sea", "oil"]


def test_info_describes_the_raster(capsys, scene_tif):
    assert main(["info", str(scene_tif)]) == 0
    out = capsys.readouterr().out
    assert "units: linear" in out and "EPSG:32633" in out and "pixel_size_m: [10, 10]" in out
    assert "median 0.04" in out  # sampled statistics, 4 significant digits
    assert main(["info", str(scene_tif), "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["width"] == 320 and described["metadata"]["sample"]["valid_fraction"] == 1.0


def test_a_nan_nodata_is_strict_json_in_info_and_the_summary(tmp_path, capsys):
    """Audit: Python wrote NaN nodata (as dakd calibrate writes it) as a bare NaN, which other JSON readers refuse."""
    values = speckled_sea(300, 320)
    values[:20] = np.nan
    scene = write_scene(tmp_path / "calibrated.tif", values, nodata=float("nan"))

    def strict(text):
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))

    assert main(["info", str(scene), "--json"]) == 0
    assert strict(capsys.readouterr().out)["nodata"] == "nan"
    code, _, _ = detect(capsys, scene, "--out", tmp_path / "out", "--method", "threshold")
    assert code == 0 and strict((tmp_path / "out" / "summary.json").read_text())["input"]["nodata"] == "nan"


def test_info_refuses_a_bad_file_in_one_line(tmp_path, capsys):
    (tmp_path / "x.tif").write_text("no")
    assert main(["info", str(tmp_path / "x.tif")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_subprocess_json_progress_and_done_event(tmp_path, scene_tif, repo_root):
    done = subprocess.run(
        [
            *dakd_command(),
            "--progress",
            "json",
            "detect",
            str(scene_tif),
            "--method",
            "threshold",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=repo_root,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "done" and events[-1]["counts"] == {"oil": 0}
    stage = next(e for e in events if e["event"] == "stage" and e["stage"] == "detect")
    last = [e for e in events if e["event"] == "progress" and e["stage"] == "detect"][-1]
    tiles = json.loads((tmp_path / "out" / "summary.json").read_text())["tiling"]["tiles_total"]
    assert last["done"] == last["total"] == stage["total"] == tiles == 1 and "eta_s" in last  # 320 px: one 512 px tile
    assert any(e["event"] == "log" and "units linear" in e["message"] for e in events)


def test_subprocess_bad_input_is_one_line_and_exit_2(tmp_path, repo_root):
    done = subprocess.run(
        [*dakd_command(), "detect", str(tmp_path / "missing.tif"), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=repo_root,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"dakd: error: {tmp_path / 'missing.tif'}: no such file; check the path"
    assert not (tmp_path / "out").exists()


def test_subprocess_failed_write_is_one_line_and_leaves_nothing(tmp_path, repo_root):
    """A real write failure: a file-size limit makes GDAL's writes fail (EFBIG), as a full disk does (ENOSPC)."""
    import resource

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    scene = write_scene(tmp_path / "scene.tif", speckled_sea(600, 600))
    folder = tmp_path / "results"
    folder.mkdir()
    done = subprocess.run(
        [
            *dakd_command(),
            "-q",
            "--progress",
            "none",
            "detect",
            str(scene),
            "--method",
            "threshold",
            "--out",
            str(folder / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=repo_root,
        timeout=300,
        preexec_fn=limited,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [  # one line: libtiff printed "_tiffWriteProc: File too large." above it
        f"dakd: error: writing {folder / 'out'} failed: the file grew past the largest file allowed in {folder} (File "
        "too large); choose another --out or raise the limit (ulimit -f)"
    ]
    assert list(folder.iterdir()) == []


def test_sigterm_stops_within_a_batch_and_leaves_nothing(tmp_path, repo_root):
    scene = write_scene(tmp_path / "big.tif", speckled_sea(1400, 1400))
    process = subprocess.Popen(
        [
            *dakd_command(),
            "--progress",
            "json",
            "detect",
            str(scene),
            "--out",
            str(tmp_path / "out"),
            "--batch-size",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=repo_root,
    )
    try:
        for line in process.stdout:
            event = json.loads(line)
            if event["event"] == "progress" and event["stage"] == "detect":
                process.send_signal(signal.SIGTERM)
                break
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "cancelled by the user; no output was written" in stderr
    assert '"event": "error"' in stdout
    assert not (tmp_path / "out").exists()
    assert [p for p in tmp_path.iterdir() if TMP_MARK in p.name] == []


def test_threshold_options_are_named_as_ignored_when_the_model_runs(tmp_path, capsys, scene_tif):
    """The model ignores --threshold-k-db, but --background-window-km sets the wind estimate's window (the warning
    called both ignored)."""
    code, _, err = detect(
        capsys, scene_tif, "--out", tmp_path / "out", "--threshold-k-db", "3", "--background-window-km", "1"
    )
    assert code == 0 and "--threshold-k-db applies to --method threshold only; the model detector ignores it" in err
    assert "--background-window-km 1: with the model detector it sets only the window of the wind estimate" in err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["detector"]["method"] == "model"
    assert [w for w in summary["warnings"] if "background-window" in w] == []
