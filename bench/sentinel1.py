"""Benchmark: a full-size Sentinel-1 GRD product through ``dakd calibrate`` (calibration + noise removal + warp).

The product is built like a real download: the real manifest and annotation XML from
``tests/data/sentinel1`` (S1B IW GRDH, 26102 x 16705 px) and a measurement TIFF of that size in the
real layout (uint16, uncompressed strips, GCPs from the annotation), generated window by window
with a speckled sea (gamma, 4.4 looks), zero no-data borders and a dark slick. Each run is a child
process (``python -m engine ... calibrate``); its wall time and peak RSS are recorded.

Runs:
  utm    calibration + thermal-noise removal + warp to UTM 10 m, written as a GeoTIFF (the default)
  radar  calibration + thermal-noise removal in the product grid, written as a GeoTIFF with GCPs

Usage: ``.venv/bin/python bench/sentinel1.py [--runs utm radar] [--workdir DIR] [--keep]``
Writes ``bench/results/sentinel1.json`` and prints a table. Takes minutes: the product alone is
870 MB and the UTM output covers about 620 M pixels.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import rasterio
from machine import machine
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

REPO = Path(__file__).resolve().parents[1]
SAFE_NAME = "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"
REAL_SAFE = REPO / "tests" / "data" / "sentinel1" / SAFE_NAME
STRIP_ROWS = 512


def build_product(workdir: Path) -> Path:
    """Copy the real XML and write a full-size synthetic measurement TIFF, strip by strip."""
    from engine.io.sentinel1.annotation import parse_image_annotation, parse_xml

    safe = workdir / SAFE_NAME
    for source in REAL_SAFE.rglob("*"):
        if source.is_file() and source.suffix != ".tiff":
            target = safe / source.relative_to(REAL_SAFE)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    (safe / "measurement").mkdir(exist_ok=True)
    annotation_path = next((safe / "annotation").glob("s1*-vv-*.xml"))
    annotation = parse_image_annotation(parse_xml(annotation_path.read_bytes(), str(annotation_path)), "annotation")
    grid = annotation.geolocation
    gcps = [
        GroundControlPoint(row=float(r), col=float(c), x=float(lon), y=float(lat), z=float(h))
        for r, c, lat, lon, h in zip(grid.lines, grid.pixels, grid.latitudes, grid.longitudes, grid.heights_m)
    ]
    height, width = annotation.height, annotation.width
    tiff = safe / "measurement" / (annotation_path.stem + ".tiff")
    rng = np.random.default_rng(0)
    cols = np.arange(width)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(tiff, "w", driver="GTiff", width=width, height=height, count=1, dtype="uint16") as dst:
            dst.gcps = (gcps, CRS.from_epsg(4326))
            for row0 in range(0, height, STRIP_ROWS):
                rows = min(STRIP_ROWS, height - row0)
                # Mean DN² of a -20 dB sea (A ~ 660) plus the noise floor, fading with range.
                mean_intensity = 0.01 * 660.0**2 * (1.2 - 0.4 * cols / width) + 2000.0
                intensity = rng.gamma(4.4, 1 / 4.4, (rows, width)).astype(np.float32) * mean_intensity
                dn = np.sqrt(intensity).astype(np.uint16)
                line = np.arange(row0, row0 + rows)[:, None]
                slick = (np.abs(cols[None, :] - 9000 - 0.3 * line) < 150) & (line > 6000) & (line < 9000)
                dn[slick] //= 4
                dn[:, :40] = 0  # no-data borders, as in real products
                dn[:, -40:] = 0
                dst.write(dn, 1, window=Window(0, row0, width, rows))
    return safe


#: Runs the command as its own child and reports that child's peak RSS (ru_maxrss of waited children, in kB),
#: so each run is measured alone even when an earlier run peaked higher.
_RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:])\n"
    "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(done.returncode)\n"
)


def run_child(args: list[str]) -> dict:
    """Run ``python -m engine ARGS`` in a child process; wall seconds and its peak RSS."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-c", _RSS_WRAPPER, sys.executable, "-m", "engine", "--progress", "none", *args]
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"child failed ({done.returncode}): {done.stderr.strip()}")
    peak_kb = int(next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KB")))
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak_kb / 1024, 1), "stdout": done.stdout.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", choices=("utm", "radar"), default=["utm", "radar"])
    parser.add_argument(
        "--workdir", type=Path, default=None, help="a folder to work in: a new subfolder of it is used (default: tmp)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the product and outputs")
    args = parser.parse_args()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    # Always a folder of our own, removed whole at the end: never the --workdir itself, which may hold anything.
    workdir = Path(tempfile.mkdtemp(prefix="dakd-bench-s1-", dir=args.workdir))
    try:
        started = time.monotonic()
        product = build_product(workdir)
        build_s = round(time.monotonic() - started, 1)
        results = []
        for geometry in args.runs:
            out = workdir / f"sigma0_{geometry}.tif"
            run = run_child(["calibrate", str(product), "--out", str(out), "--geometry", geometry, "--overwrite"])
            with rasterio.open(out) as written:
                size = (written.width, written.height)
            pixels = size[0] * size[1]
            results.append(
                {
                    "run": geometry,
                    "output_px": list(size),
                    "output_mpx": round(pixels / 1e6, 1),
                    "seconds": run["seconds"],
                    "mpx_per_s": round(pixels / 1e6 / run["seconds"], 2),
                    "peak_rss_mb": run["peak_rss_mb"],
                    "output_mb": round(out.stat().st_size / 2**20, 1),
                    "dakd_output": run["stdout"],
                }
            )
            out.unlink()
    finally:
        if args.keep:
            print(f"kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    record = {
        "benchmark": "sentinel1",
        "what": "dakd calibrate on a full-size synthetic IW GRDH product "
        "(real XML, 26102 x 16705 px uint16 measurement): calibration + thermal-noise removal (+ warp to UTM "
        "10 m for 'utm') + GeoTIFF writing with overviews; one child process per run, OMP_NUM_THREADS=1",
        "product_build_s": build_s,
        "results": results,
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    target = REPO / "bench" / "results" / "sentinel1.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{'run':<6} {'output px':>14} {'seconds':>8} {'Mpx/s':>6} {'peak RSS MB':>12}")
    for r in results:
        print(
            f"{r['run']:<6} {r['output_px'][0]:>6} x {r['output_px'][1]:<6} {r['seconds']:>8} {r['mpx_per_s']:>6} "
            f"{r['peak_rss_mb']:>12}"
        )
    print(f"machine: {record['machine']['cpu']}, {record['machine']['cores']} cores; saved {target}")


if __name__ == "__main__":
    main()
