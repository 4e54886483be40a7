"""Benchmark: what ``--land-mask auto`` adds to detecting a full Sentinel-1 IW scene, against detection itself.

A full IW GRDH grid (26000 x 16700 px of 10 m, UTM) is placed on a real coast and on open sea. Its raster
is sparse (no pixel data is written: the mask needs only the grid), and the mask is computed exactly as a
detection run does: ``open_scene(..., land_mask="auto", land_buffer_m=100)`` (loading the coastline and
sampling the scene's lattice), then ``land(window)`` for every tile window of the detection grid (256 px
tiles, 64 px overlap), shoreline buffer included. Detection time is taken from ``bench/results/
detect-model.json`` and ``detect.json`` (``bench/detect.py``, full IW scene on the same kind of machine),
so the share is mask time over detection time.

Places (top-left corner, lon/lat):

* ``coast``: 11.0 E, 42.2 N: the Tyrrhenian coast from Civitavecchia to Naples, about half land;
* ``sea``: 18.6 E, 36.8 N: the Ionian Sea, no coast.

Usage::

    .venv/bin/python bench/landmask.py                 # both places, every tile (minutes)
    .venv/bin/python bench/landmask.py --every 4       # one tile in four (the total is extrapolated)

Writes ``bench/results/landmask.json`` (with the machine) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import rasterio
from machine import machine
from rasterio.transform import from_origin
from rasterio.warp import transform

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.io import open_scene  # noqa: E402
from engine.tiling import plan_grid  # noqa: E402

RESULTS = REPO / "bench" / "results" / "landmask.json"
WIDTH, HEIGHT = 26000, 16700
PLACES = {"coast": (11.0, 42.2), "sea": (18.6, 36.8)}
BUFFER_M = 100.0


def write_grid(path: Path, lon: float, lat: float) -> Path:
    """A sparse float32 GeoTIFF of a full IW grid with its top-left corner at (lon, lat), UTM 33N or 34N."""
    epsg = 32633 if lon < 18 else 32634
    xs, ys = transform("EPSG:4326", f"EPSG:{epsg}", [lon], [lat])
    profile = {
        "driver": "GTiff",
        "width": WIDTH,
        "height": HEIGHT,
        "count": 1,
        "dtype": "float32",
        "crs": f"EPSG:{epsg}",
        "transform": from_origin(round(xs[0]), round(ys[0]), 10, 10),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "sparse_ok": True,
    }
    with rasterio.open(path, "w", **profile):
        pass
    return path


def bench_place(path: Path, every: int) -> dict[str, object]:
    """Open with the auto mask and compute it for every ``every``-th detection tile."""
    started = time.monotonic()
    scene = open_scene(path, units="linear", land_mask="auto", land_buffer_m=BUFFER_M)
    open_s = time.monotonic() - started
    try:
        grid = plan_grid(HEIGHT, WIDTH, 256, 64)
        tiles = list(grid.tiles())[::every]
        land_px = 0
        started = time.monotonic()
        for tile in tiles:
            land_px += int(scene.land(tile.window).sum())
        tiles_s = time.monotonic() - started
        mask = scene.mask
        described = scene.info.metadata["land_mask"]
    finally:
        scene.close()
    per_tile = tiles_s / len(tiles)
    return {
        "open_s": round(open_s, 2),
        "tiles_timed": len(tiles),
        "tiles_in_grid": len(grid),
        "tile_ms": round(1000 * per_tile, 2),
        "all_tiles_s": round(per_tile * len(grid), 1),
        "total_s": round(open_s + per_tile * len(grid), 1),
        "land_share_of_timed_tiles": round(land_px / max(1, sum(t.window.width * t.window.height for t in tiles)), 3),
        "coast_in_scene": described.get("coast_in_scene"),
        "lattice_step_px": mask.step_px,
        "polygon_tests": mask.points_tested,
    }


def detection_seconds() -> dict[str, float]:
    """Full-IW detection times measured by bench/detect.py (detect stage and whole run)."""
    seconds = {}
    for name, label in (("detect-model.json", "model"), ("detect.json", "threshold")):
        path = REPO / "bench" / "results" / name
        if path.exists():
            for run in json.loads(path.read_text())["runs"]:
                if run["size"] == "iw":
                    seconds[label] = float(run["seconds"])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=1, help="time one tile in N (default: every tile)")
    parser.add_argument("--places", nargs="+", choices=sorted(PLACES), default=sorted(PLACES))
    args = parser.parse_args()
    detection = detection_seconds()
    runs = {}
    with tempfile.TemporaryDirectory() as folder:
        for place in args.places:
            runs[place] = bench_place(write_grid(Path(folder) / f"{place}.tif", *PLACES[place]), args.every)
            for label, seconds in detection.items():
                runs[place][f"share_of_{label}_detection"] = round(runs[place]["total_s"] / seconds, 3)
            print(place, json.dumps(runs[place]), flush=True)
    result = {
        "benchmark": "--land-mask auto on a full IW grid (26000 x 16700 px, 10 m)",
        "date": datetime.now(timezone.utc).isoformat(),
        "machine": machine(),
        "buffer_m": BUFFER_M,
        "full_iw_detection_s": detection,
        "places": PLACES,
        "runs": runs,
    }
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
