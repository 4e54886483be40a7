"""Benchmark: ``dakd detect`` on CPU (threshold detector or the default model), on synthetic scenes of growing size.

Scenes (linear σ0, float32, tiled GeoTIFF, UTM 10 m) are generated on the fly, window by window, so
the generator never holds a full scene: a speckled sea (gamma, 4.4 looks) under a smooth wind
gradient, a zero no-data border on the left (as in GRD products), dark elongated slicks (about one
per 150 km²) and bright ships. Each detection runs in its own child process (``python -m engine
detect``); its wall time comes from the parent and its peak RSS from ``os.wait4``, which reports
that child's own resource usage.

Sizes: ``2k`` (2048²), ``8k`` (8192²), ``iw`` (26000 × 16700, a full IW GRDH scene).

Usage::

    .venv/bin/python bench/detect.py                      # all three sizes (the iw run takes minutes)
    .venv/bin/python bench/detect.py --sizes 2k 8k
    .venv/bin/python bench/detect.py --method model --sizes 2k 8k   # the bundled default model, all cores
    .venv/bin/python bench/detect.py --write-scene demo.tif --width 1200 --height 900   # just write a scene

Writes ``bench/results/detect.json`` (``detect-model.json`` for ``--method model``, with the machine)
and prints a table. Threshold children run with ``OMP_NUM_THREADS=1``; model children use torch's
default, every core, as an analyst's run does.

Backends (issue 14), in one run::

    .venv/bin/python bench/detect.py --backends torch onnxruntime openvino --sizes 8k
    .venv/bin/python bench/detect.py --backends openvino openvino:bf16 --sizes iw    # a precision per backend
    .venv/bin/python bench/detect.py --backends auto --sizes iw --device cuda --out gpu.json

For each backend: its network-only throughput (batches of real tiles of the scene, through the detector's
``predict``, after a warm-up) beside the end-to-end run of ``dakd detect --backend B`` on the same scene,
with the time of every stage (reading and normalising in the reader thread, the network, stitching, writing
the rasters, the network waiting for the reader, overviews, vectorising, the quick-look) and the pipeline's
throughput as a share of the network's. Writes ``bench/results/detect-backends.json`` (or ``--out``).
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
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import rasterio
from machine import machine
from rasterio.transform import from_origin
from rasterio.windows import Window

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "detect.json"
SIZES = {"2k": (2048, 2048), "8k": (8192, 8192), "iw": (26000, 16700)}
PIXEL_M = 10.0
ROWS_PER_WRITE = 512
BORDER_PX = 200
SLICKS_PER_KM2 = 1 / 150
SHIPS_PER_KM2 = 1 / 100


def plan_features(width: int, height: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random slicks (centre, half length/width in px, angle, darkening) and ship positions for a scene."""
    rng = np.random.default_rng(seed)
    area_km2 = width * height * (PIXEL_M / 1000) ** 2
    n_slicks = max(1, int(round(area_km2 * SLICKS_PER_KM2)))
    slicks = np.column_stack(
        [
            rng.uniform(BORDER_PX + 200, width - 200, n_slicks),
            rng.uniform(200, height - 200, n_slicks),
            rng.uniform(100, 400, n_slicks),
            rng.uniform(10, 30, n_slicks),
            rng.uniform(0, np.pi, n_slicks),
            rng.uniform(0.08, 0.25, n_slicks),
        ]
    )
    n_ships = max(1, int(round(area_km2 * SHIPS_PER_KM2)))
    ships = np.column_stack([rng.integers(BORDER_PX + 10, width - 10, n_ships), rng.integers(10, height - 10, n_ships)])
    return slicks, ships


def scene_rows(
    row0: int, rows: int, width: int, height: int, slicks: np.ndarray, ships: np.ndarray, seed: int
) -> np.ndarray:
    """Rows ``row0 .. row0 + rows`` of the scene as float32 linear σ0 (deterministic per row band)."""
    rng = np.random.default_rng([seed, row0])
    y = np.arange(row0, row0 + rows, dtype=np.float64)[:, None]
    x = np.arange(width, dtype=np.float64)[None, :]
    mean = 0.04 * (1.0 + 0.4 * np.sin(np.pi * x / width) * np.cos(np.pi * y / height))
    values = mean * rng.gamma(4.4, 1 / 4.4, (rows, width))
    near = slicks[(slicks[:, 1] + slicks[:, 2] >= row0) & (slicks[:, 1] - slicks[:, 2] < row0 + rows)]
    for cx, cy, half_length, half_width, angle, darkening in near:
        x0, x1 = int(max(0, cx - half_length)), int(min(width, cx + half_length + 1))
        dx, dy = x[:, x0:x1] - cx, y - cy
        along = dx * np.cos(angle) + dy * np.sin(angle)
        across = -dx * np.sin(angle) + dy * np.cos(angle)
        inside = (along / half_length) ** 2 + (across / half_width) ** 2 < 1
        values[:, x0:x1][inside] *= darkening
    for sx, sy in ships[(ships[:, 1] >= row0) & (ships[:, 1] < row0 + rows - 2)]:
        values[sy - row0 : sy - row0 + 3, sx : sx + 3] *= 60.0
    values[:, :BORDER_PX] = 0.0
    return values.astype(np.float32)


def write_scene(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """Write a synthetic scene window by window (never the whole array) as a tiled float32 GeoTIFF."""
    slicks, ships = plan_features(width, height, seed)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "nodata": 0.0,
        "crs": "EPSG:32633",
        "transform": from_origin(400000, 6200000, PIXEL_M, PIXEL_M),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "bigtiff": "if_safer",
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.set_band_description(1, "Sigma0_VV")
        for row0 in range(0, height, ROWS_PER_WRITE):
            rows = min(ROWS_PER_WRITE, height - row0)
            dataset.write(
                scene_rows(row0, rows, width, height, slicks, ships, seed), 1, window=Window(0, row0, width, rows)
            )
    return path


def run_detect(
    scene: Path, out_dir: Path, method: str = "threshold", extra: list[str] | None = None, repo: Path = REPO
) -> dict:
    """Run ``python -m engine detect`` in a child; return wall seconds, its peak RSS and the run summary.

    ``repo``: the checkout whose engine runs (``python -m engine`` from there), e.g. a git worktree of an
    earlier commit for ``--compare-with``.
    """
    command = [
        sys.executable,
        "-m",
        "engine",
        "--progress",
        "none",
        "-q",
        "detect",
        str(scene),
        "--out",
        str(out_dir),
        "--method",
        method,
        "--overwrite",
        *(extra or []),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1") if method == "threshold" else dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH")]))
    started = time.monotonic()
    child = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"dakd detect failed with exit code {child.returncode} on {scene}")
    summary = json.loads((out_dir / "summary.json").read_text())
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "summary": summary}


def network_throughput(
    scene: Path, backend: str, device: str, batch_size: int, batches: int = 12, precision: str | None = None
) -> dict:
    """Tiles/s of the detector's ``predict`` alone, on batches of real tiles of ``scene`` (after one warm-up)."""
    sys.path.insert(0, str(REPO))
    from engine.detectors import select_detector
    from engine.io import open_scene
    from engine.tiling import plan_grid, read_tile_batches

    started = time.monotonic()
    options = {"precision": precision} if precision else {}
    detector, _ = select_detector("model", None, device, ships="model", backend=backend, **options)
    load_s = time.monotonic() - started
    scene_handle = open_scene(str(scene))
    try:
        grid = plan_grid(
            scene_handle.info.height, scene_handle.info.width, detector.input_spec.tile_size, 64, detector.context_px
        )
        reads = read_tile_batches(scene_handle, grid, detector.input_spec, batch_size)
        tiles = [next(reads) for _ in range(3)]
    finally:
        scene_handle.close()
    detector.predict(tiles[0].values, tiles[0].valid)  # warm-up (compilation, first allocations)
    started = time.perf_counter()
    count = 0
    for i in range(batches):
        batch = tiles[i % len(tiles)]
        detector.predict(batch.values, batch.valid)
        count += len(batch.values)
    seconds = time.perf_counter() - started
    info = detector.describe()
    return {
        "tiles_per_s": round(count / seconds, 1),
        "tiles": count,
        "batch_size": batch_size,
        "backend": info.extra.get("backend", "torch"),
        "backend_reason": info.extra.get("backend_reason", ""),
        "precision": info.extra.get("precision"),
        "device": info.device,
        "load_s": round(load_s, 1),
    }


def parse_backend(spec: str) -> tuple[str, str | None]:
    """Split ``openvino:bf16`` into ``("openvino", "bf16")``; ``torch`` gives ``("torch", None)`` (auto precision)."""
    backend, _, precision = spec.partition(":")
    if backend not in ("auto", "torch", "onnxruntime", "openvino") or precision not in ("", "fp32", "bf16"):
        raise argparse.ArgumentTypeError(f"{spec!r}: give BACKEND or BACKEND:fp32|bf16, e.g. openvino:bf16")
    return backend, precision or None


def parse_backend_spec(spec: str) -> str:
    """argparse type: checks a ``--backends`` entry and keeps it as given."""
    parse_backend(spec)
    return spec


def _network_child(scene: Path, backend: str, device: str, batch_size: int, precision: str | None = None) -> dict:
    """:func:`network_throughput` in a child process (each backend starts clean, as a detection does)."""
    code = (
        "import json, sys; sys.path.insert(0, 'bench'); import detect; "
        f"print(json.dumps(detect.network_throughput(__import__('pathlib').Path({str(scene)!r}), {backend!r}, "
        f"{device!r}, {batch_size}, precision={precision!r})))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"network benchmark of {backend} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


STAGES = ("read", "wait", "network", "stitch", "write")


def run_backends(args: argparse.Namespace, workdir: Path) -> int:
    """Network-only throughput and end-to-end stages per backend, on each size (see the module notes)."""
    from engine.detectors import DEFAULT_MODEL_CARD

    card = json.loads(DEFAULT_MODEL_CARD.read_text())
    rows = []
    for name in args.sizes:
        width, height = SIZES[name]
        scene = workdir / f"scene-{name}.tif"
        write_scene(scene, width, height, args.seed)
        for spec in args.backends:
            backend, precision = parse_backend(spec)
            label = spec.replace(":", "-")
            net = _network_child(scene, backend, args.device, args.batch_size, precision)
            # The synthetic scene's coordinates are arbitrary (on land in the global coastline): no land mask.
            extra = [
                "--backend",
                backend,
                "--device",
                args.device,
                "--batch-size",
                str(args.batch_size),
                "--land-mask",
                "none",
                *(["--precision", precision] if precision else []),
            ]
            run = run_detect(scene, workdir / f"out-{name}-{label}", "model", extra)
            summary = run["summary"]
            timings = summary["timings_s"]
            tiling = summary["tiling"]
            networked = tiling["tiles_total"] - tiling["tiles_skipped"]
            pipeline = networked / timings["detect_s"]
            row = {
                "size": name,
                "width": width,
                "height": height,
                "backend": spec,
                "chosen": summary["detector"].get("backend", "torch"),
                "reason": summary["detector"].get("backend_reason", ""),
                "precision": summary["detector"].get("precision"),
                "device": summary["detector"]["device"],
                "network_tiles_per_s": net["tiles_per_s"],
                "pipeline_tiles_per_s": round(pipeline, 1),
                "pipeline_share": round(pipeline / net["tiles_per_s"], 3),
                "tiles": tiling["tiles_total"],
                "tiles_skipped": tiling["tiles_skipped"],
                "seconds": run["seconds"],
                "peak_rss_mb": run["peak_rss_mb"],
                "timings_s": timings,
                "polygons": summary["counts"],
            }
            rows.append(row)
            print(f"{name} {spec}: network {net['tiles_per_s']} tiles/s, end to end {run['seconds']} s", flush=True)
            if not args.keep:
                shutil.rmtree(workdir / f"out-{name}-{label}")
        if not args.keep:
            scene.unlink()
    result = {
        "benchmark": "dakd detect per backend: network-only throughput and end-to-end stages",
        "date": datetime.now(timezone.utc).isoformat(),
        "machine": machine(),
        "model": {
            "card": str(DEFAULT_MODEL_CARD.relative_to(REPO)),
            "name": card["name"],
            "created": card.get("created"),
            "sha256": card["weights"]["sha256"],
        },
        "device": args.device,
        "batch_size": args.batch_size,
        "runs": rows,
    }
    out = args.out or RESULTS.with_name("detect-backends.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(format_backend_table(rows))
    print(f"saved {out}")
    return 0


def format_backend_table(rows: list[dict]) -> str:
    """Markdown table: network-only tiles/s beside the end-to-end time of every stage (docs/benchmarks.md, backends)."""
    lines = [
        "| scene | backend (precision) | network only, tiles/s | pipeline, tiles/s (share) | read | wait | "
        "network | stitch | write | overviews | vectorise | whole run | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        t = row["timings_s"]
        stages = " | ".join(f"{t.get(f'detect_{s}_s', 0):.0f} s" for s in STAGES)
        lines.append(
            f"| {row['size']} | {row['chosen']} ({row['precision']}) | {row['network_tiles_per_s']} | "
            f"{row['pipeline_tiles_per_s']} ({row['pipeline_share']:.0%}) | {stages} | "
            f"{t.get('overviews_s', 0):.0f} s | {t.get('vectorise_s', 0):.0f} s | {row['seconds']} s | "
            f"{row['peak_rss_mb']:.0f} MB |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument(
        "--method",
        choices=("threshold", "model"),
        default="threshold",
        help="model: the bundled default model (resources/models/default.json)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="a folder to work in: a new subfolder of it is used (default: tmp)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scenes and outputs")
    parser.add_argument("--write-scene", type=Path, metavar="PATH", help="only write one synthetic scene and exit")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--compare-with",
        type=Path,
        metavar="CHECKOUT",
        help="also run each detection with the engine of another checkout (e.g. `git worktree add "
        "build/old HEAD~1`) on the same scene, first, and report both (ratios from one run)",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        type=parse_backend_spec,
        help="the default model on each backend (BACKEND or BACKEND:fp32|bf16, e.g. openvino:bf16; BACKEND: auto, "
        "torch, onnxruntime, openvino): network-only throughput and end-to-end stages",
    )
    parser.add_argument("--device", default="cpu", help="with --backends: cpu (default) or cuda")
    parser.add_argument("--batch-size", type=int, default=8, help="with --backends: tiles per batch (default 8)")
    parser.add_argument("--out", type=Path, default=None, help="with --backends: the JSON file to write")
    args = parser.parse_args(argv)
    if args.write_scene:
        if args.write_scene.exists():
            raise SystemExit(f"{args.write_scene} exists; not overwriting it")
        write_scene(args.write_scene, args.width, args.height, args.seed)
        print(f"wrote {args.write_scene} ({args.width} x {args.height} px)")
        return 0

    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    # Always a folder of our own, removed whole at the end: never the --workdir itself, which may hold anything.
    workdir = Path(tempfile.mkdtemp(prefix="dakd-bench-detect-", dir=args.workdir)).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.backends:
        try:
            return run_backends(args, workdir)
        finally:
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
    rows = []
    try:
        for name in args.sizes:
            width, height = SIZES[name]
            scene = workdir / f"scene-{name}.tif"
            started = time.monotonic()
            write_scene(scene, width, height, args.seed)
            generate_s = time.monotonic() - started
            # The synthetic scene's coordinates are arbitrary (partly on land in the global coastline): no land mask.
            options = ["--land-mask", "none"]
            baseline = None
            if args.compare_with:  # the other checkout first, on the same scene, in the same run
                baseline = run_detect(scene, workdir / f"out-{name}-baseline", args.method, options, args.compare_with)
                shutil.rmtree(workdir / f"out-{name}-baseline", ignore_errors=True)
            run = run_detect(scene, workdir / f"out-{name}", args.method, options)
            summary = run["summary"]
            tiles = summary["tiling"]["tiles_total"]
            detect_s = summary["timings_s"]["detect_s"]
            rows.append(
                {
                    "size": name,
                    "width": width,
                    "height": height,
                    "megapixels": round(width * height / 1e6, 1),
                    "tiles": tiles,
                    "tiles_skipped": summary["tiling"]["tiles_skipped"],
                    "tiles_per_s": round(tiles / detect_s, 1),
                    "seconds": run["seconds"],
                    "timings_s": summary["timings_s"],
                    "peak_rss_mb": run["peak_rss_mb"],
                    "polygons": summary["counts"],
                    "generate_s": round(generate_s, 1),
                }
            )
            if baseline is not None:
                rows[-1]["baseline"] = {
                    "checkout": str(args.compare_with),
                    "seconds": baseline["seconds"],
                    "peak_rss_mb": baseline["peak_rss_mb"],
                    "timings_s": baseline["summary"]["timings_s"],
                    "polygons": baseline["summary"]["counts"],
                }
                print(f"{name} (baseline {args.compare_with}): {baseline['seconds']} s", flush=True)
            print(f"{name}: {run['seconds']} s, {run['peak_rss_mb']} MB", flush=True)
            if not args.keep:
                scene.unlink()
                shutil.rmtree(workdir / f"out-{name}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    result = {
        "benchmark": f"dakd detect --method {args.method} (CPU)",
        "date": datetime.now(timezone.utc).isoformat(),
        "machine": machine(),
        "omp_num_threads": 1 if args.method == "threshold" else "default (all cores)",
        "runs": rows,
    }
    results = RESULTS if args.method == "threshold" else RESULTS.with_name("detect-model.json")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    print(format_table(rows))
    print(f"saved {results.relative_to(REPO)}")
    return 0


def format_table(rows: list[dict]) -> str:
    """Markdown table of the runs (pasted into docs/benchmarks.md, "Detection: speed and memory")."""
    lines = [
        "| scene | pixels | tiles | tiles/s (detect stage) | seconds (whole run) | baseline seconds | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        baseline = row.get("baseline", {}).get("seconds", "-")
        lines.append(
            f"| {row['size']} ({row['width']} × {row['height']}) | {row['megapixels']} M | {row['tiles']} | "
            f"{row['tiles_per_s']} | {row['seconds']} | {baseline} | {row['peak_rss_mb']:.0f} MB |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
