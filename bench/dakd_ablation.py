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
    dakd-4x-soft-share25 the full method with generated pairs carrying a set 25 % of the supervision
                       (--generated-share 0.25) instead of their share of the batch (80 % at 4x)
    dakd-4x-soft-real-last the full method whose last eighth of the steps trains on real tiles alone
                       (--real-only-steps), at a tenth of the learning rate
    real-0x-noskip     real tiles only, plain skips (skip="none") instead of CAFT

Every run uses the basic augmentations (flips, 90° rotations, ±1 dB): the paper's setting, and the one of the
first 3-seed run (2026-11-27). The segmenter's default became the robust set with issue 13; on 64 labelled
tiles and a few hundred steps that alone costs about ten points of mIoU, which is not what this bench asks.

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
    python bench/dakd_ablation.py --study b        # b computed vs 0.3/0.5/0.7 -> bench/results/dakd_b_study_cpu.json
    python bench/dakd_ablation.py --study goals    # only the runs of issue 17's goal table -> dakd_goals_cpu.json
    python bench/dakd_ablation.py --study sampler  # the default sampler vs eta 1 -> dakd_sampler_study_cpu.json
    python bench/dakd_ablation.py --full --study goals --budget-s 330   # step counts fitted to 330 s of training,
                                                   # timed on this machine (bench/gpu_dakd.sh, one GPU call)
    python bench/dakd_ablation.py --study goals --generator G.safetensors --out R.json
                                                   # one SAR-JointNet trained beforehand (issue 17 item 6: the
                                                   # generator 2 CPU cores train in hours) instead of one per seed

``--generator``: a SAR-JointNet from ``dakd train-jointnet`` on this bench's labelled tiles (``WORK/labelled``, made
by a first run or by ``dakd simulate-tiles --count 4 --format osd --seed 1000``), used by every seed; the seeds then
differ in sampling and in the segmenters. Only for studies whose generators share one (b, speckle) setting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine import machine  # noqa: E402

from engine.cli import main as dakd  # noqa: E402
from engine.data.datasets import load_dataset  # noqa: E402
from engine.data.generated import GENERATED_PAIRS, open_generated  # noqa: E402
from engine.data.samples import AugmentConfig  # noqa: E402
from engine.data.tiles import clip_standardise_db, fit_normalisation  # noqa: E402
from engine.detectors.base import InputSpec  # noqa: E402
from engine.device import select_device  # noqa: E402
from engine.errors import ModelError  # noqa: E402
from engine.io.atomic import atomic_file, atomic_output_dir  # noqa: E402
from engine.models.sar_jointnet import jointnet_config  # noqa: E402
from engine.train.consistency import GateConfig, gate_generated  # noqa: E402
from engine.train.fid import generation_scores, sar_encoder_extractor  # noqa: E402
from engine.train.jointnet import (  # noqa: E402
    GenerateConfig,
    JointTrainConfig,
    TrainedJointNet,
    generate_pairs,
    load_jointnet,
    train_jointnet,
)
from engine.train.loop import LoopConfig  # noqa: E402
from engine.train.losses import LossWeights  # noqa: E402
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

RUNS: dict[str, tuple[float | None, bool, str | None, str, dict[str, object]]] = {
    # name: (aug ratio used, soft labels, generator, skip, other SegmenterConfig fields)
    "real-0x": (0.0, True, None, "caft", {}),
    "dakd-4x-soft": (None, True, "b", "caft", {}),
    "dakd-4x-hard": (None, False, "b", "caft", {}),
    "dakd-4x-soft-b1": (None, True, "b1", "caft", {}),
    "dakd-4x-soft-learned": (None, True, "b-learned", "caft", {}),
    "dakd-4x-soft-gated": (None, True, "gated", "caft", {}),
    "dakd-4x-soft-share25": (None, True, "b", "caft", {"loss": LossWeights(generated_share=0.25)}),
    "dakd-4x-soft-real-last": (None, True, "b", "caft", {}),
    "real-0x-noskip": (0.0, True, None, "none", {}),
}
#: Runs whose last share of the segmenter's steps trains on real tiles alone (SegmenterConfig.real_only_steps).
REAL_ONLY_SHARE = {"dakd-4x-soft-real-last": 0.125}


GENERATORS = {  # key: (b: None computes it, speckle mode); the label is what the tables print
    "b": (None, "physics"),
    "b1": (1.0, "physics"),
    "b-learned": (None, "learned"),
}
GENERATOR_LABELS = {"b": "b computed", "b1": "b = 1", "b-learned": "b computed, learned speckle"}

#: ``--b-study`` (issue 17 item 5): b computed by SNR matching against fixed b in the paper's range (0.3-0.7),
#: every generator with speckle by physics, judged by the gate and scored by the segmenter trained on its pairs.
B_STUDY_VALUES = (0.3, 0.5, 0.7)
B_STUDY_GENERATORS = {"b": (None, "physics"), **{f"b{b}": (b, "physics") for b in B_STUDY_VALUES}}
B_STUDY_RUNS: dict[str, tuple[float | None, bool, str | None, str, dict[str, object]]] = {
    "real-0x": RUNS["real-0x"],
    **{f"dakd-4x-soft-{key}": (None, True, key, "caft", {}) for key in B_STUDY_GENERATORS},
}
GENERATOR_LABELS.update({f"b{b}": f"b = {b}" for b in B_STUDY_VALUES})

#: ``--study goals``: only what issue 17's goal table needs (full DAKD, hard labels and the gate against real
#: tiles alone, one generator), so that the GPU-sized run fits a 10-minute window (``bench/gpu_dakd.sh``).
GOAL_GENERATORS = {"b": GENERATORS["b"]}
GOAL_RUNS = {name: RUNS[name] for name in ("real-0x", "dakd-4x-soft", "dakd-4x-hard", "dakd-4x-soft-gated")}

#: How each generator's pairs are drawn: key -> (DDIM steps, eta); None steps: the size's ``ddim_steps``. Keys not
#: listed sample with the size's steps and eta 0 (the default sampler, ending at t = 0).
SAMPLERS: dict[str, tuple[int | None, float]] = {"b-eta1": (None, 1.0), "b-50-eta1": (50, 1.0)}
#: ``--study sampler`` (issue 17 item 1): one SAR-JointNet per seed (b computed, physics speckle), sampled three
#: ways: the default (ending at t = 0, eta 0), ancestral (eta 1) in as many steps, and 50 ancestral steps.
SAMPLER_STUDY_GENERATORS = {key: GENERATORS["b"] for key in ("b", *SAMPLERS)}
SAMPLER_STUDY_RUNS: dict[str, tuple[float | None, bool, str | None, str, dict[str, object]]] = {
    "real-0x": RUNS["real-0x"],
    **{f"dakd-4x-soft-{key}": (None, True, key, "caft", {}) for key in SAMPLER_STUDY_GENERATORS},
}
GENERATOR_LABELS.update({"b-eta1": "b computed, eta 1", "b-50-eta1": "b computed, 50 steps, eta 1"})

STUDIES = {  # --study: (runs, generators, result name)
    "ablation": (RUNS, GENERATORS, "dakd_ablation"),
    "b": (B_STUDY_RUNS, B_STUDY_GENERATORS, "dakd_b_study"),
    "goals": (GOAL_RUNS, GOAL_GENERATORS, "dakd_goals"),
    "sampler": (SAMPLER_STUDY_RUNS, SAMPLER_STUDY_GENERATORS, "dakd_sampler_study"),
}

#: ``--budget-s``: shares of the budget for SAR-JointNet's and SAROSS-Net's training steps; the rest is left for
#: generation, evaluation, the gate and SAR-FID.
JOINTNET_BUDGET_SHARE = 0.5
SEGMENTER_BUDGET_SHARE = 0.3


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


def run(
    size: Size,
    seeds: list[int],
    work: Path,
    device: str,
    runs: dict[str, tuple[float | None, bool, str | None, str, dict[str, object]]] = RUNS,
    generators: dict[str, tuple[float | None, str]] = GENERATORS,
    budget_s: float | None = None,
    pretrained: TrainedJointNet | None = None,
) -> dict[str, object]:
    """Train and score every run of ``runs`` over ``seeds``; ``pretrained``: the one generator of every seed."""
    labelled = load_dataset("osd", simulate(work / "labelled", size.label_sources, 1000), tile_px=size.tile_px)
    if pretrained is not None:
        check_pretrained(pretrained, labelled)
    test = load_dataset("osd", simulate(work / "test", size.test_sources, 2000), tile_px=size.tile_px)
    mean, std = fit_normalisation(labelled, DB_RANGE)
    spec = InputSpec(units="db", db_range=DB_RANGE, mean=mean, std=std, tile_size=size.tile_px)
    fitted = None
    if budget_s is not None:
        fitted = fit_to_budget(
            size, labelled, spec, device, budget_s, len(seeds) * len(set(generators.values())), len(seeds) * len(runs)
        )
        size = fitted["size"]  # type: ignore[assignment]
    results: dict[str, list[dict[str, object]]] = {name: [] for name in runs}
    generation: dict[str, list[dict[str, object]]] = {key: [] for key in generators}
    consistency: dict[str, list[dict[str, object]]] = {key: [] for key in generators}
    timings: dict[str, float] = {}
    for seed in seeds:
        generated = {}
        trained_by_spec: dict[tuple[float | None, str], object] = {}  # one SAR-JointNet per (b, speckle) and seed
        for key, (balance, speckle) in generators.items():
            started = time.monotonic()
            if pretrained is not None:
                trained_by_spec[balance, speckle] = pretrained
            elif (balance, speckle) not in trained_by_spec:
                trained_by_spec[balance, speckle] = train_generator(size, labelled, balance, speckle, seed, device)
            trained = trained_by_spec[balance, speckle]
            steps, eta = SAMPLERS.get(key, (None, 0.0))
            folder = work / f"generated-{key}-seed{seed}"
            sampling_started = time.monotonic()
            with atomic_output_dir(folder, overwrite=True, kind=GENERATED_PAIRS) as tmp:
                generate_pairs(
                    trained,  # type: ignore[arg-type]
                    GenerateConfig(
                        count=int(size.aug_ratio * len(labelled)),
                        steps=steps or size.ddim_steps,
                        eta=eta,
                        batch_size=32,
                        tile_px=size.tile_px,
                        seed=seed,
                        device=device,
                    ),
                    tmp,
                )
            generated[key] = (open_generated(folder), trained.balance)  # type: ignore[attr-defined]
            timings[f"generate-{key}"] = time.monotonic() - sampling_started
            timings[f"jointnet+generate-{key}"] = time.monotonic() - started
            print(
                f"seed {seed}: generator {key} (b = {trained.balance:.3f}) in "  # type: ignore[attr-defined]
                f"{timings[f'jointnet+generate-{key}']:.0f} s",
                flush=True,
            )
        models = {}
        for name, (ratio, soft, generator, skip, extra) in runs.items():
            started = time.monotonic()
            if generator == "gated":  # judged by this seed's real-0x model, which RUNS trains first
                generated["gated"] = (gate_sets(generated, models["real-0x"], test, spec, seed, consistency), None)
            pairs = generated[generator][0] if generator else None
            config = SegmenterConfig(
                model=size.segmenter,
                skip=skip,
                aug_ratio=size.aug_ratio if ratio is None else ratio,
                soft_labels=soft,
                augment=AugmentConfig(),
                real_only_steps=int(size.segmenter_steps * REAL_ONLY_SHARE.get(name, 0.0)),
                **extra,  # type: ignore[arg-type]
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
        if "gated" not in generated:  # no gated run: still judge every set with this seed's real-0x model
            gate_sets(generated, models["real-0x"], test, spec, seed, consistency)
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
        "budget": None if fitted is None else {k: v for k, v in fitted.items() if k != "size"},
        "size": size.__dict__,
        "data": {
            "labelled_tiles": len(labelled),
            "test_tiles": len(test),
            "labelled": labelled.summary(),
            "test": test.summary(),
            "normalisation": {"mean": mean, "std": std},
        },
    }


def seconds_per_step(train_steps: Callable[[int], object], short: int = 3, long: int = 11) -> float:
    """Seconds per training step: two short runs timed, their difference divided (set-up cancels out).

    One step is run first, untimed: the first call on a GPU pays for CUDA's start and kernel selection.
    """
    train_steps(1)
    timed = []
    for steps in (short, long):
        started = time.monotonic()
        train_steps(steps)
        timed.append(time.monotonic() - started)
    return max(timed[1] - timed[0], 1e-3) / (long - short)


def fit_to_budget(
    size: Size,
    labelled: object,
    spec: InputSpec,
    device: str,
    budget_s: float,
    generator_trainings: int,
    segmenter_trainings: int,
) -> dict[str, object]:
    """``size`` with step counts that fit ``budget_s`` on this machine (measured here), never above ``size``'s."""

    def jointnet(steps: int) -> object:
        return train_generator(replace(size, jointnet_steps=steps), labelled, None, "physics", 0, device)

    def segmenter(steps: int) -> object:
        config = SegmenterConfig(model=size.segmenter, augment=AugmentConfig())
        loop = LoopConfig(max_steps=steps, batch_size=size.segmenter_batch, device=device)
        return train_segmenter(labelled, None, None, spec, config, loop)  # type: ignore[arg-type]

    per_jointnet_step, per_segmenter_step = seconds_per_step(jointnet), seconds_per_step(segmenter)
    jointnet_steps = int(JOINTNET_BUDGET_SHARE * budget_s / (generator_trainings * per_jointnet_step))
    segmenter_steps = int(SEGMENTER_BUDGET_SHARE * budget_s / (segmenter_trainings * per_segmenter_step))
    fitted = replace(
        size,
        jointnet_steps=max(20, min(size.jointnet_steps, jointnet_steps)),
        segmenter_steps=max(20, min(size.segmenter_steps, segmenter_steps)),
    )
    print(
        f"budget {budget_s:.0f} s: SAR-JointNet {per_jointnet_step:.3f} s/step -> {fitted.jointnet_steps} steps, "
        f"SAROSS-Net {per_segmenter_step:.3f} s/step -> {fitted.segmenter_steps} steps",
        flush=True,
    )
    return {
        "size": fitted,
        "budget_s": budget_s,
        "jointnet_s_per_step": round(per_jointnet_step, 4),
        "segmenter_s_per_step": round(per_segmenter_step, 4),
        "asked": {"jointnet_steps": size.jointnet_steps, "segmenter_steps": size.segmenter_steps},
    }


def train_generator(
    size: Size, labelled: object, balance: float | None, speckle: str, seed: int, device: str
) -> object:
    """SAR-JointNet at this size's settings (b None: computed by SNR matching)."""
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
    trained, _ = train_jointnet(labelled, config, loop)  # type: ignore[arg-type]
    return trained


def check_pretrained(trained: TrainedJointNet, labelled: object) -> None:
    """Refuse, in one line, a generator whose classes or dB range are not this bench's."""
    names = [c.name for c in trained.classes]
    wanted = [c.name for c in labelled.classes]  # type: ignore[attr-defined]
    if names != wanted or tuple(trained.db_range) != DB_RANGE:
        raise SystemExit(
            f"--generator: classes {names} and dB range {list(trained.db_range)} do not match this bench's "
            f"{wanted} and {list(DB_RANGE)}; train it with 'dakd train-jointnet' on WORK/labelled"
        )


def gate_sets(
    generated: dict[str, tuple[object, object]],
    judge: object,
    test: object,
    spec: InputSpec,
    seed: int,
    consistency: dict[str, list[dict[str, object]]],
) -> object:
    """Score every generator's set with the judge; return the b-computed set's kept pairs (None: it failed)."""
    card = SimpleNamespace(classes=test.classes, input_spec=spec, name=f"real-0x seed {seed}")  # type: ignore[attr-defined]
    kept = None
    for key in consistency:
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
    parser.add_argument(
        "--study",
        choices=sorted(STUDIES),
        default="ablation",
        help="ablation: every run above; b: b computed against b = 0.3, 0.5, 0.7 (issue 17 item 5); "
        "goals: real only, full DAKD, hard labels and the gate (issue 17's goal table); sampler: one generator "
        "sampled with eta 0 (the default), eta 1, and 50 steps of eta 1 (issue 17 item 1)",
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        help="fit the training steps to this many seconds: time a few steps of each trainer here first, "
        "then scale the size's step counts down (never up)",
    )
    parser.add_argument(
        "--generator",
        type=Path,
        metavar="WEIGHTS",
        help="a SAR-JointNet trained beforehand with 'dakd train-jointnet' on WORK/labelled, used by every seed "
        "instead of training one per seed (studies with one generator setting: goals, sampler)",
    )
    args = parser.parse_args()
    size = FULL if args.full else REDUCED
    runs, generators, stem = STUDIES[args.study]
    pretrained = None
    if args.generator is not None:
        if len(set(generators.values())) > 1:
            parser.error(f"--generator: the {args.study} study trains several generators; use --study goals or sampler")
        if args.budget_s is not None:
            parser.error("--generator and --budget-s: a generator trained beforehand has no steps to fit")
        try:
            pretrained = load_jointnet(args.generator)
        except ModelError as error:
            parser.error(str(error))
        stem += "_pretrained"
    out = args.out or REPO / "bench" / "results" / f"{stem}_{'full' if args.full else 'cpu'}.json"
    started = time.monotonic()
    device = str(select_device(args.device).device)  # "auto" resolved once
    report = run(size, args.seeds, args.work, device, runs, generators, args.budget_s, pretrained)
    report.update(
        {
            "study": args.study,
            "pretrained_generator": None
            if pretrained is None
            else {
                "file": args.generator.name,
                "model": pretrained.model.config.to_dict(),
                "balance": pretrained.balance,
                **pretrained.metadata,
            },
            "budget_s": args.budget_s,
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
