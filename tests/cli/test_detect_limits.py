"""Scenes a run cannot take are refused before any work; a cancel stops a run wherever it is (issue 12, item 6).

A VRT declaring 10^6 x 10^6 px used to be accepted, then ignored SIGTERM and SIGINT for over ten
minutes while a temporary probability.tif grew past 8 GB: all-nodata tiles yield no batch, and the
cancel was only checked between batches.
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.detect import DetectParams, run_detection
from engine.errors import Cancelled
from engine.io.atomic import TMP_MARK
from engine.progress import Progress

from ..conftest import can_mount_tmpfs
from .conftest import SEA_ORIGIN, dakd_command, speckled_sea, write_scene


def declared_vrt(path: Path, width: int, height: int) -> Path:
    """A VRT of ``width`` x ``height`` px whose only pixels are a 300 x 320 px tile at its top left."""
    write_scene(path.with_name("tile.tif"), speckled_sea(300, 320))
    path.write_text(f"""<VRTDataset rasterXSize="{width}" rasterYSize="{height}">
  <SRS>EPSG:32633</SRS>
  <GeoTransform>{SEA_ORIGIN[0]}, 10, 0, {SEA_ORIGIN[1]}, 0, -10</GeoTransform>
  <VRTRasterBand dataType="Float32" band="1">
    <SimpleSource>
      <SourceFilename relativeToVRT="1">tile.tif</SourceFilename>
      <SourceBand>1</SourceBand>
      <SrcRect xOff="0" yOff="0" xSize="320" ySize="300"/>
      <DstRect xOff="0" yOff="0" xSize="320" ySize="300"/>
    </SimpleSource>
  </VRTRasterBand>
</VRTDataset>
""")
    return path


def left_behind(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TMP_MARK in p.name or p.name == "out")


def refused_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("dakd: error: ") and "Traceback" not in "\n".join(lines)
    return lines[-1]


def test_a_vrt_declaring_a_million_pixels_square_is_refused_up_front(tmp_path, capsys):
    vrt = declared_vrt(tmp_path / "huge.vrt", 10**6, 10**6)
    started = time.monotonic()
    assert (
        main(["--progress", "none", "detect", str(vrt), "--method", "threshold", "--out", str(tmp_path / "out")]) == 2
    )
    assert time.monotonic() - started < 60
    assert refused_line(capsys) == (
        f"dakd: error: {vrt}: 1000000 x 1000000 px is more than dakd detects in one run (10,000,000,000 px; a "
        "Sentinel-1 IW GRD scene is about 26,000 x 16,700 px); check the file (a VRT may declare a wrong size) or "
        "cut the scene into parts"
    )
    assert left_behind(tmp_path) == []


def test_a_scene_too_wide_for_the_memory_is_refused_up_front(tmp_path, capsys):
    width = 9_000_000  # 9e9 px: under the size limit; each row band of the stitcher needs about 100 GB
    if os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") > 100e9:
        pytest.skip("this machine has the memory for it")
    vrt = declared_vrt(tmp_path / "wide.vrt", width, 1000)
    assert (
        main(["--progress", "none", "detect", str(vrt), "--method", "threshold", "--out", str(tmp_path / "out")]) == 2
    )
    line = refused_line(capsys)
    assert line.startswith(f"dakd: error: {vrt}: a scene 9000000 px wide needs about ")
    assert line.endswith("cut the scene into narrower parts")
    assert left_behind(tmp_path) == []


@pytest.mark.skipif(not can_mount_tmpfs(), reason="needs unshare -Urm to mount a small tmpfs")
def test_outputs_larger_than_the_free_disk_space_are_refused_up_front_and_the_estimate_is_logged(tmp_path):
    scene = write_scene(tmp_path / "scene.tif", speckled_sea(300, 320))
    disk = tmp_path / "disk"
    disk.mkdir()
    command = shlex.join(
        [
            *dakd_command(),
            "--progress",
            "none",
            "detect",
            str(scene),
            "--method",
            "threshold",
            "--out",
            str(disk / "out"),
        ]
    )
    script = f"mount -t tmpfs -o size=8m tmpfs {shlex.quote(str(disk))} && {{ {command}; echo rc=$?; ls -A {disk}; }}"
    result = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.stdout.strip() == "rc=2"  # and nothing in the small disk
    lines = result.stderr.strip().splitlines()
    assert f"320 x 300 px scene: outputs need about 34 MB, 8 MB free in {disk}" in result.stderr
    assert lines[-1] == (
        f"dakd: error: not enough disk space for the outputs of a 320 x 300 px scene: they need "
        f"about 34 MB, 8 MB is free in {disk}; free disk space or choose another --out"
    )


class CancelAfter:
    """A cancel callback that says "stop" from its ``n``-th call on, and notes when it first did."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0
        self.stopped_at: float | None = None

    def __call__(self) -> bool:
        self.calls += 1
        if self.calls >= self.n and self.stopped_at is None:
            self.stopped_at = time.monotonic()
        return self.calls >= self.n


def test_a_cancel_among_empty_tiles_stops_at_once_and_leaves_nothing(tmp_path):
    vrt = declared_vrt(tmp_path / "sparse.vrt", 8000, 8000)  # ~1000 tiles; all but the first few empty
    cancel = CancelAfter(40)  # after the first batch: among the empty tiles, which yield no batch
    with pytest.raises(Cancelled):
        run_detection(DetectParams(str(vrt), str(tmp_path / "out"), method="threshold"), Progress(None, cancel))
    assert cancel.stopped_at is not None and time.monotonic() - cancel.stopped_at < 2
    assert cancel.calls == cancel.n  # stopped at the first check that said so
    assert left_behind(tmp_path) == []


def test_a_cancel_between_overview_levels_leaves_nothing(tmp_path):
    scene = write_scene(tmp_path / "scene.tif", speckled_sea(1024, 1024))  # overviews 2 and 4
    seen: list[str] = []
    calls_since = []

    def sink(event):
        if event["event"] == "stage":
            seen.append(event["stage"])

    def cancel():
        if seen and seen[-1] == "overviews":
            calls_since.append(1)
            return len(calls_since) >= 2  # the check after the first level
        return False

    with pytest.raises(Cancelled):
        run_detection(DetectParams(str(scene), str(tmp_path / "out"), method="threshold"), Progress(sink, cancel))
    assert seen[-1] == "overviews" and len(calls_since) == 2
    assert left_behind(tmp_path) == []


def _checking_loop() -> str:
    """The engine function whose loop asked ``cancel`` (qualified name), skipping the progress plumbing."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_qualname.split(".")[0] in ("Progress", "Stage"):
        frame = frame.f_back
    return frame.f_code.co_qualname if frame is not None else "?"


#: The loops that can run long, each with its own cancel check: reading tiles (empty ones too), writing the
#: rasters row by row, building overviews, tracing regions, drawing the quick-look's outlines.
LONG_LOOPS = ("read_tile_batches", "_RasterOutputs.__call__", "add_overviews", "iter_spill_records", "render_quicklook")


@pytest.mark.slow
def test_a_cancel_is_honoured_inside_every_long_loop_and_leaves_nothing(tmp_path):
    """Issue 12 item 6: not only between batches: reading, writing, overviews, tracing and the quick-look."""
    sea = speckled_sea(1024, 1024)
    for row in range(20, 1004, 40):  # 625 small dark spots: several hundred regions to trace and outline
        for col in range(20, 1004, 40):
            sea[row : row + 8, col : col + 8] *= 0.03
    scene = write_scene(tmp_path / "scene.tif", sea)

    def run(cancel) -> None:
        run_detection(
            DetectParams(str(scene), str(tmp_path / "out"), method="threshold", min_area_km2=0), Progress(None, cancel)
        )

    checks: list[str] = []
    run(lambda: checks.append(_checking_loop()) and False)
    for loop in LONG_LOOPS:
        assert checks.count(loop) >= 2, (loop, sorted(set(checks)))  # checked inside the loop, not only once
    shutil.rmtree(tmp_path / "out")
    for loop in LONG_LOOPS:
        seen: list[str] = []

        def cancel(loop=loop, seen=seen) -> bool:
            seen.append(_checking_loop())
            return seen.count(loop) == 2  # the second check of this loop: inside it

        with pytest.raises(Cancelled):
            run(cancel)
        assert seen[-1] == loop and seen.count(loop) == 2, loop  # stopped at that check, nothing asked after it
        assert left_behind(tmp_path) == [], loop


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_a_run_on_a_mostly_empty_scene_within_seconds(tmp_path, stop):
    """Both signals the VRT of the issue ignored for over ten minutes (SIGINT is Ctrl-C, once)."""
    vrt = declared_vrt(tmp_path / "sparse.vrt", 20000, 20000)  # the whole run takes over a minute
    process = subprocess.Popen(
        [
            *dakd_command(),
            "--progress",
            "json",
            "detect",
            str(vrt),
            "--method",
            "threshold",
            "--out",
            str(tmp_path / "out"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in process.stdout:
            event = json.loads(line)
            if event["event"] == "progress" and event["stage"] == "detect":
                break  # the first batch is done: from here on the tiles are empty
        time.sleep(1)
        process.send_signal(stop)
        sent = time.monotonic()
        assert process.wait(timeout=30) == 130
        assert time.monotonic() - sent < 10
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stderr.read().strip().splitlines()[-1] == "dakd: error: cancelled by the user; no output was written"
    assert left_behind(tmp_path) == []


_FILL_AT_OVERVIEWS = """
import sys
from pathlib import Path

from engine.detect import DetectParams, run_detection
from engine.errors import OutputError
from engine.progress import Progress

disk, scene = Path(sys.argv[1]), sys.argv[2]


def fill_the_disk(event):
    if event["event"] == "stage" and event["stage"] == "overviews":  # the rasters are written; now the disk is full
        with open(disk / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"x" * 65536)
                    filler.flush()
            except OSError:
                pass


try:
    run_detection(DetectParams(scene, str(disk / "out"), method="threshold"), Progress(fill_the_disk))
except OutputError as error:
    print(error)
"""


@pytest.mark.skipif(not can_mount_tmpfs(), reason="needs unshare -Urm to mount a small tmpfs")
def test_a_disk_that_fills_up_during_the_overviews_is_named_in_one_line_and_left_as_it_was(tmp_path):
    scene = write_scene(tmp_path / "scene.tif", speckled_sea(1024, 1024))
    disk = tmp_path / "disk"
    disk.mkdir()
    (tmp_path / "fill.py").write_text(_FILL_AT_OVERVIEWS)
    run = shlex.join([sys.executable, str(tmp_path / "fill.py"), str(disk), str(scene)])
    script = f"mount -t tmpfs -o size=64m tmpfs {shlex.quote(str(disk))} && {{ {run}; ls -A {disk}; }}"
    result = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip().splitlines() == [
        f"the disk is full: writing {disk / 'out'} failed with 0 MB left in {disk}; free disk space or choose "
        "another --out",
        "filler",
    ], result.stderr[-2000:]
