"""Forward throughput of SAROSS-Net and its MambaVision encoder, by scan backend, batch size and dtype.

Prints a table and saves JSON under bench/results/ with the machine (CPU model, cores, threads, GPU
name, torch version). The ``none`` backend replaces the selective scan by its element-wise work
without the recurrence: the "no-scan floor" that shows what the scan itself costs.

    .venv/bin/python bench/model.py                      # CPU: XS and T, a few minutes on 2 cores
    .venv/bin/python bench/model.py --device cuda        # GPU: T, batch 16/64, fp32 and bf16 (+ triton, mamba_ssm)
    .venv/bin/python bench/model.py --device cuda --variants T --parts encoder --batch-sizes 64 --dtypes bf16

Tiles are 256² single-band inputs; numbers are tiles per second of forward passes in inference mode
(best of the timed repeats, which is the least disturbed by other work on a shared machine; the median is
saved too). On a busy machine, time with ``OMP_NUM_THREADS=1``: with more threads than free cores, the
many small operations of the sequential scan stall on thread synchronisation and the numbers mean little.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import machine  # noqa: E402

from engine.device import autocast_dtype, select_device  # noqa: E402
from engine.models import create_model  # noqa: E402
from engine.models.scan import available_backends  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DTYPES = {"fp32": "fp32", "bf16": "bf16", "fp16": "fp16"}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_backends(
    model: torch.nn.Module,
    module: torch.nn.Module,
    backends: list[str],
    batch: torch.Tensor,
    dtype: torch.dtype | None,
    device: torch.device,
    min_time_s: float,
    max_repeats: int,
) -> dict[str, list[float]]:
    """Seconds per forward pass for each backend, timed round-robin so that load changes hit all alike.

    One warm-up per backend, then rounds of one pass per backend until ``min_time_s`` has passed
    (at least 3 rounds, at most ``max_repeats``).
    """

    def forward(backend: str) -> float:
        model.set_scan_backend(backend)
        synchronize(device)
        started = time.perf_counter()
        with (
            torch.inference_mode(),
            torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None),
        ):
            module(batch)
        synchronize(device)
        return time.perf_counter() - started

    for backend in backends:
        forward(backend)
    times: dict[str, list[float]] = {backend: [] for backend in backends}
    started = time.perf_counter()
    while len(times[backends[0]]) < max_repeats and (
        time.perf_counter() - started < min_time_s or len(times[backends[0]]) < 3
    ):
        for backend in backends:
            times[backend].append(forward(backend))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--variants", default=None, help="MambaVision variants (default XS,T on CPU and T on CUDA)")
    parser.add_argument("--parts", default="encoder,model", help="encoder (MambaVision) and/or model (SAROSS-Net)")
    parser.add_argument(
        "--backends",
        default="reference,parallel,none",
        help="scan backends; mamba_ssm and triton are added on CUDA when importable",
    )
    parser.add_argument("--batch-sizes", default=None, help="default 1,4 on CPU and 16,64 on CUDA")
    parser.add_argument("--dtypes", default=None, help="default fp32 on CPU and fp32,bf16 on CUDA")
    parser.add_argument("--size", type=int, default=256, help="tile side in pixels (default 256)")
    parser.add_argument("--min-time-s", type=float, default=2.0, help="time each row at least this long")
    parser.add_argument("--max-repeats", type=int, default=20)
    parser.add_argument("--out", default=None, help="JSON path (default bench/results/model-<device>.json)")
    args = parser.parse_args(argv)

    device = select_device(args.device).device
    on_gpu = device.type != "cpu"
    batch_sizes = [int(b) for b in (args.batch_sizes or ("16,64" if on_gpu else "1,4")).split(",")]
    dtypes = (args.dtypes or ("fp32,bf16" if on_gpu else "fp32")).split(",")
    variants = (args.variants or ("T" if on_gpu else "XS,T")).split(",")
    backends = args.backends.split(",")
    cuda_only = ("mamba_ssm", "triton")
    usable = [b for b in available_backends() if device.type == "cuda" or b not in cuda_only]
    for fused in cuda_only[::-1]:  # the fused kernels, timed on CUDA whenever they can run
        if fused in usable and fused not in backends:
            backends.insert(0, fused)
    skipped = [b for b in backends if b not in usable]
    if skipped:
        print(f"# skipping scan backends that cannot run on {device.type} here: {', '.join(skipped)}")
        backends = [b for b in backends if b in usable]
    rows = []
    header = f"{'model':<22} {'backend':<10} {'batch':>5} {'dtype':>5} {'ms/batch':>9} {'tiles/s':>8} {'x floor':>7}"
    print(f"# {machine(device)}")
    print(header)
    print("-" * len(header))
    for variant in variants:
        for part in args.parts.split(","):
            torch.manual_seed(0)
            model = create_model(f"saross_net_{variant.lower()}").eval().to(device)
            module = model.encoder if part == "encoder" else model
            label = f"MambaVision-{variant}" if part == "encoder" else f"SAROSS-Net-{variant}"
            params = sum(p.numel() for p in module.parameters())
            for dtype_name in dtypes:
                dtype = autocast_dtype(device, DTYPES[dtype_name])
                for batch_size in batch_sizes:
                    batch = torch.randn(batch_size, 1, args.size, args.size, device=device)
                    timed = time_backends(
                        model, module, backends, batch, dtype, device, args.min_time_s, args.max_repeats
                    )
                    results = [(b, min(t), statistics.median(t), len(t)) for b, t in timed.items()]
                    floor = min(timed["none"]) if "none" in timed else None
                    for backend, seconds, median, repeats in results:
                        ratio = seconds / floor if floor else None
                        row = {
                            "model": label,
                            "part": part,
                            "variant": variant,
                            "parameters": params,
                            "backend": backend,
                            "batch_size": batch_size,
                            "dtype": dtype_name,
                            "size_px": args.size,
                            "ms_per_batch": round(seconds * 1e3, 2),
                            "median_ms_per_batch": round(median * 1e3, 2),
                            "tiles_per_s": round(batch_size / seconds, 2),
                            "repeats": repeats,
                            "x_floor": None if ratio is None else round(ratio, 2),
                        }
                        rows.append(row)
                        ratio_text = "-" if ratio is None else f"{ratio:.2f}"
                        print(
                            f"{label:<22} {backend:<10} {batch_size:>5} {dtype_name:>5} "
                            f"{row['ms_per_batch']:>9.1f} {row['tiles_per_s']:>8.1f} {ratio_text:>7}",
                            flush=True,
                        )
            del model, module
            if device.type == "cuda":
                torch.cuda.empty_cache()
    out = Path(args.out) if args.out else RESULTS / f"model-{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "bench": "model",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(device),
        "size_px": args.size,
        "rows": rows,
        "notes": "forward only, inference mode, best of the repeats; 'none' = no-scan floor (no recurrence); "
        "x_floor = time / floor time for the same model, batch and dtype",
    }
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
