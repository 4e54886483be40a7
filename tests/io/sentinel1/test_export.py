"""``dakd calibrate`` end to end on the cropped product (engine.io.sentinel1.export + engine.cli.calibrate)."""

import resource
import shlex
import signal
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from engine.cli import main
from engine.errors import Cancelled
from engine.io.sentinel1 import open_product
from engine.io.sentinel1.export import write_sigma0
from engine.progress import Progress

from ...conftest import can_mount_tmpfs


def _calibrate(*args):
    return main(["--progress", "none", "calibrate", *map(str, args)])


@pytest.fixture(scope="module")
def radar_tif(crop_product, tmp_path_factory):
    out = tmp_path_factory.mktemp("radar") / "sigma0.tif"
    assert _calibrate(crop_product, "--out", out, "--geometry", "radar") == 0
    return out


def test_utm_export(crop_product, tmp_path, capsys):
    out = tmp_path / "sigma0.tif"
    assert _calibrate(crop_product, "--out", out) == 0
    assert f"Wrote {out}" in capsys.readouterr().out
    with rasterio.open(out) as written, open_product(crop_product) as scene:
        assert written.crs.to_epsg() == 32633 and written.transform == scene.info.transform
        assert (written.width, written.height) == (scene.info.width, scene.info.height)
        assert written.descriptions == ("Sigma0_VV",) and np.isnan(written.nodata)
        assert written.tags()["product_id"] == scene.info.scene_id
        assert written.tags()["acquisition_start"] == "2021-12-23T05:11:22.594441Z"
        window = Window(900, 700, 300, 200)
        expected, valid = scene.read_sigma0(window)
        got = written.read(1, window=window)
    assert valid.any() and np.array_equal(np.isnan(got), ~valid)
    np.testing.assert_array_equal(got[valid], expected[valid])


def test_radar_export_keeps_the_product_grid_and_gcps(crop_product, radar_tif, kit):
    with rasterio.open(radar_tif) as written, open_product(crop_product, geometry="radar") as scene:
        assert (written.height, written.width) == kit.CROP_SHAPE
        gcps, crs = written.gcps
        assert crs.to_epsg() == 4326
        assert [(g.row, g.col, g.x, g.y) for g in gcps] == [(g.row, g.col, g.x, g.y) for g in scene.gcps]
        expected, valid = scene.read_radar_sigma0(Window(0, 0, 400, 300))
        got = written.read(1, window=Window(0, 0, 400, 300))
    assert not valid[:, :30].any() and valid[:, 30:].all()  # the DN 0 border is nodata
    np.testing.assert_array_equal(got[valid], expected[valid])
    assert np.isnan(got[~valid]).all()


def test_db_export_and_zip_input(crop_product, radar_tif, kit, tmp_path):
    archive = kit.zip_product(crop_product, tmp_path / f"{kit.SAFE_NAME[:-5]}.zip")
    out = tmp_path / "sigma0_db.tif"
    assert _calibrate(archive, "--out", out, "--geometry", "radar", "--db") == 0
    with rasterio.open(out) as in_db, rasterio.open(radar_tif) as linear:
        assert in_db.descriptions == ("Sigma0_VV_db",) and in_db.units == ("dB",)
        db = in_db.read(1)
        power = linear.read(1)
    ok = np.isfinite(power)
    assert np.array_equal(ok, np.isfinite(db))
    np.testing.assert_allclose(db[ok], 10 * np.log10(power[ok]), atol=1e-4)


def test_errors_are_one_line_and_leave_nothing(crop_product, tmp_path, kit, capsys):
    out = tmp_path / "out.tif"
    not_product = tmp_path / "scene.tif"
    not_product.write_text("x")
    assert _calibrate(not_product, "--out", out) == 2
    assert "not a Sentinel-1 product" in capsys.readouterr().err
    slc = kit.build_product(tmp_path / "slc", [], product_type="SLC")
    assert _calibrate(slc, "--out", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Single Look Complex" in err
    assert _calibrate(crop_product, "--out", out, "--pol", "VH") == 2
    assert "pass --pol VV" in capsys.readouterr().err
    assert list(tmp_path.glob("*.tif*")) == [not_product]
    out.write_text("existing")
    assert _calibrate(crop_product, "--out", out, "--geometry", "radar") == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == "existing"


def test_cancel_leaves_no_partial_file(crop_product, tmp_path):
    checks = iter(range(1000))
    progress = Progress(cancel=lambda: next(checks) >= 3)  # cancel after a few windows
    out = tmp_path / "cancelled.tif"
    with open_product(crop_product, geometry="radar") as scene, pytest.raises(Cancelled):
        write_sigma0(scene, out, progress=progress)
    assert list(tmp_path.iterdir()) == []


def _file_size_limit(limit_bytes):
    """Make every write past ``limit_bytes`` fail for real, with EFBIG (a full disk fails alike, with ENOSPC)."""

    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error from write(), not death by signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


def test_a_full_disk_is_one_line_and_leaves_nothing(crop_product, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "sigma0.tif"
    command = [sys.executable, "-m", "engine", "--progress", "none", "calibrate", str(crop_product), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, preexec_fn=_file_size_limit(100_000))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("dakd: error:") == 1 and "internal error" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"dakd: error: writing {out} failed: the file grew past the largest file allowed in {folder} (File too "
        "large); choose another --out or raise the limit (ulimit -f)"
    )
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(not can_mount_tmpfs(), reason="needs unshare -Urm to mount a small tmpfs")
def test_a_disk_that_is_full_is_named_as_such_and_left_as_it_was(crop_product, tmp_path):
    """Issue 12 item 7: a full disk during calibrate was "internal error ... report it"; now it says where."""
    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "sigma0.tif"
    command = shlex.join(
        [sys.executable, "-m", "engine", "--progress", "none", "calibrate", str(crop_product), "--out", str(out)]
    )
    script = f"mount -t tmpfs -o size=256k tmpfs {shlex.quote(str(disk))} && {{ {command}; echo rc=$?; ls -A {disk}; }}"
    done = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.stdout.strip() == "rc=2", done.stderr[-2000:]  # and nothing left on the small disk
    assert done.stderr.count("dakd: error:") == 1 and "internal error" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"dakd: error: the disk is full: writing {out} failed with 0 MB left in {disk}; free disk space or choose "
        "another --out"
    )


def test_a_truncated_measurement_is_an_input_error(crop_product, tmp_path, kit, capsys):
    import shutil

    damaged = shutil.copytree(crop_product, tmp_path / crop_product.name)
    tiff = damaged / "measurement" / f"{kit.STEM}.tiff"
    tiff.write_bytes(tiff.read_bytes()[: tiff.stat().st_size // 2])  # an interrupted download
    out = tmp_path / "sigma0.tif"
    assert _calibrate(damaged, "--out", out) == 2  # was an internal error
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read the measurement pixels" in err
    assert "the product is damaged or incompletely downloaded: download it again" in err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == [damaged.name]


def test_overwrite_never_replaces_a_file_of_the_product(crop_product, capsys):
    """`--out` on the product's own measurement TIFF is refused up front, however the product is named (issue 12)."""
    measurement = sorted((crop_product / "measurement").iterdir())[0]
    before = measurement.read_bytes()
    for product in (crop_product, crop_product / "manifest.safe"):
        assert _calibrate(product, "--out", measurement, "--overwrite") == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error == (
            f"dakd: error: will not replace {measurement}: it lies inside the input {crop_product}; "
            "choose another --out"
        )
    assert measurement.read_bytes() == before
