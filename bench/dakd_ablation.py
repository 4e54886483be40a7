"""DAKD ablation on simulated data in the few-label regime (paper §6 ablations, our re-run).

Over several seeds it trains, on the same labelled tiles, and evaluates on a held-out simulated
test set:

    real-0x            SAROSS-Net (CAFT) on real tiles only
    dakd-4x-soft       + 4x generated pairs, KD on soft labels, b computed (the full method)
    dakd-4x-hard       + 4x generated pairs, CE on their argmax (hard labels), b computed
    dakd-4x-soft-b1    + 4x generated pairs from a SAR-JointNet trained with b = 1 (no balancing)
    dakd-4x-soft-learned + 4x pairs from a SAR-JointNet that learns raw tiles and makes its own speckle
                       (``--speckle learned``, version 0.1); the others draw speckle by physics
    dakd-4x-soft-gated + the pairs of the b-computed generator that pass the consistency gate
                       (engine.train.consistency, judged by that seed's real-0x model); real tiles
                       alone when the set fails as a whole
    real-0x-noskip     real tiles only, plain skips (skip="none") instead of CAFT

and reports, for each generator (b computed vs b = 1), the consistency scores (the real-0x model as the
judge: its oil IoU on the generated pairs against its oil IoU on the test tiles, pairs kept, class
shares) and SAR-FID/KID against real tiles, with the
features of that seed's real-0x model encoder (a SAR feature extractor: not comparable with the
paper's Inception FID).

Sizes:
    default (CPU, reduced): 256 px simulated tiles cut into 64 px tiles; 4 labelled source tiles
        -> 64 labelled 64 px tiles; 32 test source tiles -> 512 test tiles; SAR-JointNet "tiny",
        SAROSS-Net "XS", a few hundred steps. Sized for well under an hour on 2 shared CPU cores.
    --full (GPU): 64 labelled 256 px tiles, 500 test tiles, SAR-JointNet "small", SAROSS-Net "T",
        thousands of steps.

Usage::

    python bench/dakd_ablation.py                  # reduced CPU run -> bench/results/dakd_ablation_cpu.json
    python bench/dakd_ablation.py --full           # GPU run         -> bench/results/dakd_ablation_full.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine import machine  # noqa: E402

from engine.cli import main as dakd  # noqa: E402
from engine.data.datasets import load_dataset  # noqa: E402
from engine.data.generated import GENERATED_PAIRS, open_generated  # noqa: E402
from engine.data.tiles import clip_standardise_db, fit_normalisation  # noqa: E402
from engine.detectors.base import InputSpec  # noqa: E402
from engine.device import select_device  # noqa: E402
from engine.io.atomic import atomic_file, atomic_output_dir  # noqa: E402
from engine.models.sar_jointnet import jointnet_config  # noqa: E402
from engine.train.consistency import GateConfig, gate_generated  # noqa: E402
from engine.train.fid import generation_scores, sar_encoder_extractor  # noqa: E402
from engine.train.jointnet import GenerateConfig, JointTrainConfig, generate_pairs, train_jointnet  # noqa: E402
from engine.train.loop import LoopConfig  # noqa: E402
from engine.train.segmenter import SegmenterConfig, evaluate_model, train_segmenter  # noqa: E402

DB_RANGE = (-35.0, 5.0)


@dataclass(frozen=True)
class Size:
    tile_px: int
    label_sources: int
    test_sources: int
    jointnet_variant: str
    jointnet_steps: int
    jointnet_batch: int
    ddim_steps: int
    segmenter: str
    segmenter_steps: int
    segmenter_batch: int
    aug_ratio: float = 4.0


REDUCED = Size(
    tile_px=64,
    label_sources=4,
    test_sources=32,
    jointnet_variant="tiny",
    jointnet_steps=120,
    jointnet_batch=8,
    ddim_steps=6,
    segmenter="saross_net_xs",
    segmenter_steps=160,
    segmenter_batch=8,
)
FULL = Size(
    tile_px=256,
    label_sources=64,
    test_sources=500,
    jointnet_variant="small",
    jointnet_steps=20000,
    jointnet_batch=32,
    ddim_steps=50,
    segmenter="saross_net_t",
    segmenter_steps=8000,
    segmenter_batch=16,
)

RUNS = {  # name: (aug ratio used, soft labels, generator, skip)
    "real-0x": (0.0, True, None, "caft"),
    "dakd-4x-soft": (None, True, "b", "caft"),
    "dakd-4x-hard": (None, False, "b", "caft"),
    "dakd-4x-soft-b1": (None, True, "b1", "caft"),
    "dakd-4x-soft-learned": (None, True, "b-learned", "caft"),
    "dakd-4x-soft-gated": (None, True, "gated", "caft"),
    "real-0x-noskip": (0.0, True, None, "none"),
}


GENERATORS = {  # key: (b: None computes it, speckle mode); the label is what the tables print
    "b": (None, "physics"),
    "b1": (1.0, "physics"),
    "b-learned": (None, "learned"),
}
GENERATOR_LABELS = {"b": "b computed", "b1": "b = 1", "b-learned": "b computed, learned speckle"}


def simulate(folder: Path, count: int, seed: int) -> Path:
    if not (folder / "dataset.json").is_file():
        code = dakd(
            [
                "--progress",
                "none",
                "-q",
                "simulate-tiles",
                "--count",
                str(count),
                "--format",
                "osd",
                "--out",
                str(folder),
                "--seed",
                str(seed),
                "--overwrite",
            ]
        )
        if code:
            raise SystemExit(f"simulate-tiles failed with {code}")
    return folder


def run(size: Size, seeds: list[int], work: Path, device: str) -> dict[str, object]:
    labelled = load_dataset("osd", simulate(work / "labelled", size.label_sources, 1000), tile_px=size.tile_px)
    test = load_dataset("osd", simulate(work / "test", size.test_sources, 2000), tile_px=size.tile_px)
    mean, std = fit_normalisation(labelled, DB_RANGE)
    spec = InputSpec(units="db", db_range=DB_RANGE, mean=mean, std=std, tile_size=size.tile_px)
    results: dict[str, list[dict[str, object]]] = {name: [] for name in RUNS}
    generation: dict[str, list[dict[str, object]]] = {key: [] for key in GENERATORS}
    consistency: dict[str, list[dict[str, object]]] = {key: [] for key in GENERATORS}
    timings: dict[str, float] = {}
    for seed in seeds:
        generated = {}
        for key, (balance, speckle) in GENERATORS.items():
            started = time.monotonic()
            config = JointTrainConfig(
                model=jointnet_config(size.jointnet_variant), balance=balance, db_range=DB_RANGE, speckle=speckle
            )
            loop = LoopConfig(
                max_steps=size.jointnet_steps,
                batch_size=size.jointnet_batch,
                lr=2e-3 if size.jointnet_variant == "tiny" else 2e-4,
                warmup_steps=size.jointnet_steps // 20,
                ema_decay=0.99 if size.jointnet_steps < 2000 else 0.999,
                seed=seed,
                device=device,
            )
            trained, _ = train_jointnet(labelled, config, loop)
            folder = work / f"generated-{key}-seed{seed}"
            with atomic_output_dir(folder, overwrite=True, kind=GENERATED_PAIRS) as tmp:
                generate_pairs(
                    trained,
                    GenerateConfig(
                        count=int(size.aug_ratio * len(labelled)),
                        steps=size.ddim_steps,
                        batch_size=32,
                        tile_px=size.tile_px,
                        seed=seed,
                        device=device,
                    ),
                    tmp,
                )
            generated[key] = (open_generated(folder), trained.balance)
            timings[f"jointnet+generate-{key}"] = time.monotonic() - started
            print(
                f"seed {seed}: generator {key} (b = {trained.balance:.3f}) in "
                f"{timings[f'jointnet+generate-{key}']:.0f} s",
                flush=True,
            )
        models = {}
        for name, (ratio, soft, generator, skip) in RUNS.items():
            started = time.monotonic()
            if generator == "gated":  # judged by this seed's real-0x model, which RUNS trains first
                generated["gated"] = (gate_sets(generated, models["real-0x"], test, spec, seed, consistency), None)
            pairs = generated[generator][0] if generator else None
            config = SegmenterConfig(
                model=size.segmenter, skip=skip, aug_ratio=size.aug_ratio if ratio is None else ratio, soft_labels=soft
            )
            loop = LoopConfig(
                max_steps=size.segmenter_steps,
                batch_size=size.segmenter_batch,
                lr=1e-3,
                warmup_steps=size.segmenter_steps // 20,
                seed=seed,
                device=device,
            )
            model, _ = train_segmenter(labelled, None, pairs, spec, config, loop)
            scores = evaluate_model(model, test, spec, "cpu" if device == "cpu" else device, batch_size=32)
            scores.pop("confusion")
            results[name].append({"seed": seed, **scores})
            models[name] = model
            timings[name] = time.monotonic() - started
            print(
                f"seed {seed}: {name:16s} mIoU {scores['miou']:6.2f}  F1 {scores['f1']:6.2f}  ({timings[name]:.0f} s)",
                flush=True,
            )
        extractor = sar_encoder_extractor(models["real-0x"], lambda x: clip_standardise_db(x, spec))
        real = test.images_db[: min(len(test), 512)].astype(np.float32)
        for key, (pairs, balance) in generated.items():
            if key == "gated":
                continue
            fake = np.stack([pairs.image_db(i) for i in range(min(len(pairs), 512))])
            scores = generation_scores(real, fake, extractor)
            generation[key].append({"seed": seed, "balance": balance, **scores})
            print(
                f"seed {seed}: generator {key} SAR-FID {scores['SAR-FID']:.3f}  SAR-KID {scores['SAR-KID']:.4f}",
                flush=True,
            )
    return {
        "results": results,
        "generation": generation,
        "consistency": consistency,
        "last_seed_timings_s": timings,
        "data": {
            "labelled_tiles": len(labelled),
            "test_tiles": len(test),
            "labelled": labelled.summary(),
            "test": test.summary(),
            "normalisation": {"mean": mean, "std": std},
        },
    }


def gate_sets(
    generated: dict[str, tuple[object, object]],
    judge: object,
    test: object,
    spec: InputSpec,
    seed: int,
    consistency: dict[str, list[dict[str, object]]],
) -> object:
    """Score both generators' sets with the judge; return the b-computed set's kept pairs (None: it failed)."""
    card = SimpleNamespace(classes=test.classes, input_spec=spec, name=f"real-0x seed {seed}")  # type: ignore[attr-defined]
    kept = None
    for key in GENERATORS:
        result = gate_generated(generated[key][0], test, judge, card, GateConfig())  # type: ignore[arg-type]
        consistency[key].append({"seed": seed, **result.scores})
        print(f"seed {seed}: generator {key} gate: {result.reason}", flush=True)
        if key == "b" and result.passed:
            kept = generated[key][0].subset(result.keep)  # type: ignore[attr-defined]
    return kept


def summarise(report: dict[str, object]) -> str:
    lines = ["| run | mIoU | F1 | oil IoU | look-alike IoU | ship IoU |", "|---|---|---|---|---|---|"]

    def stat(values: list[float]) -> str:
        values = [v for v in values if v == v]
        return f"{np.mean(values):.2f} ± {np.std(values):.2f}" if values else "n/a"

    for name, rows in report["results"].items():  # type: ignore[union-attr]
        lines.append(
            f"| {name} | {stat([r['miou'] for r in rows])} | {stat([r['f1'] for r in rows])} | "
            f"{stat([r['iou'][1] for r in rows])} | {stat([r['iou'][2] for r in rows])} | "
            f"{stat([r['iou'][3] for r in rows])} |"
        )
    lines += ["", "| generator | b | SAR-FID | SAR-KID |", "|---|---|---|---|"]
    for key, rows in report["generation"].items():  # type: ignore[union-attr]
        lines.append(
            f"| {GENERATOR_LABELS[key]} | {stat([r['balance'] for r in rows])} | "
            f"{stat([r['SAR-FID'] for r in rows])} | {stat([r['SAR-KID'] for r in rows])} |"
        )
    lines += [
        "",
        "| generator | judge oil IoU, test tiles | judge oil IoU, generated | pairs kept (%) "
        "| oil share, test / generated (%) | oil contrast dB, test / generated | sea ENL, test / generated | passed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, rows in report.get("consistency", {}).items():  # type: ignore[union-attr]
        lines.append(
            f"| {GENERATOR_LABELS[key]} | {stat([r['judge_oil_iou_real'] or 0.0 for r in rows])} | "
            f"{stat([r['judge_oil_iou_generated'] or 0.0 for r in rows])} | "
            f"{stat([100.0 * r['kept'] / max(r['pairs'], 1) for r in rows])} | "
            f"{stat([100 * r['real']['oil']['share'] for r in rows])} / "
            f"{stat([100 * r['generated']['oil']['share'] for r in rows])} | "
            f"{stat([r['real']['oil']['contrast_db'] or 0.0 for r in rows])} / "
            f"{stat([r['generated']['oil']['contrast_db'] or 0.0 for r in rows])} | "
            f"{stat([r['real']['sea']['enl'] or 0.0 for r in rows])} / "
            f"{stat([r['generated']['sea']['enl'] or 0.0 for r in rows])} | "
            f"{sum(bool(r['passed']) for r in rows)} of {len(rows)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the GPU-sized run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--work", type=Path, default=Path("/tmp/dakd_ablation"), help="scratch folder")
    parser.add_argument("--out", type=Path, help="JSON result (default bench/results/dakd_ablation_{cpu,full}.json)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    size = FULL if args.full else REDUCED
    out = args.out or REPO / "bench" / "results" / f"dakd_ablation_{'full' if args.full else 'cpu'}.json"
    started = time.monotonic()
    report = run(size, args.seeds, args.work, str(select_device(args.device).device))  # "auto" resolved once
    report.update(
        {
            "size": size.__dict__,
            "seeds": args.seeds,
            "machine": machine(),
            "reduced": not args.full,
            "wall_time_s": round(time.monotonic() - started, 1),
            "note": "simulated data (engine.data.synth); SAR-FID uses the real-0x encoder of each seed, "
            "not Inception: not comparable with the paper's FID",
        }
    )
    table = summarise(report)
    report["table_markdown"] = table
    with atomic_file(out) as tmp:
        tmp.write_text(json.dumps(report, indent=1, default=float))
    print(table)
    print(f"\nwrote {out} ({report['wall_time_s']} s)")


if __name__ == "__main__":
    main()
