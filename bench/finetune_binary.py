"""Fine-tune the default model on binary labels (oil vs rest) and score it before and after on held-out scenes.

The question (issue 13, item 1): an analyst with binary masks fine-tunes the shipped five-class model
with ``--init`` and ``--background not-oil``. Does it keep what it knows, and at least not lose oil IoU?

1. **Training data**, 1024² px simulated scenes, two cases (``--train-like``):

   - ``training``: the default model's training distribution (the default ``SceneConfig`` ranges, as
     ``make default-model``'s ``mixed`` group), seeds 5000 and up. The harshest case: the labels show the
     model nothing new, and the test scenes lie outside their ranges.
   - ``held-out``: the held-out test ranges (``evaluate_default.HELD_OUT``, 1-4 spills, like the ``oil``
     test group), seeds 930000 and up. An analyst's case: labelled scenes of the kind the model then meets.

   Neither overlaps the default model's training seeds (1000-4015) or the test seeds (900000-920023).
   Their label rasters are converted to binary masks: 1 oil, 0 everything else (sea, look-alike, ship,
   land), 255 unlabelled, as a public binary data set would hold them. About 300 training tiles of
   256² px after the validation split (10 % of the scenes).
2. **Fine-tune** through the command line an analyst uses::

       dakd finetune --scene S --label-raster MASK ... --background not-oil --init MODEL \\
         --preset cpu-default --steps STEPS --lr 1e-4 --aug-ratio 0 --val-share 0.1 --device cpu

   (a smaller learning rate than from scratch, 5e-4, since the model is already trained). As every
   ``--init`` run, it distils from the starting model (``--retain``, default 1; ``--retain 0`` here turns it
   off) and keeps the starting model's batch-norm statistics.
3. **Score** the model before and after on the held-out test scenes of ``bench/evaluate_default.py``
   with its own functions (whole scenes through ``run_detection``): oil IoU, spill recall, region
   precision, false alarms per 1000 km², and the five-class IoUs, which show whether "not oil"
   destroyed the look-alike, ship and land classes. The acceptance: the oil IoU after is not lower.

Usage::

    python bench/finetune_binary.py                                   # the shipped default model
    python bench/finetune_binary.py --init models/new.json             # another five-class model card
    python bench/finetune_binary.py --train-like held-out              # fine-tune on scenes like the test scenes
    python bench/finetune_binary.py --quick                            # 4 scenes, 20 steps, 3 test scenes per group

Results: ``bench/results/finetune_binary.json`` (``finetune_binary_held-out.json`` with ``--train-like held-out``;
with the machine) and a printed table.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluate_default import HELD_OUT, TEST_GROUPS, evaluate, make_test_set  # noqa: E402
from machine import machine  # noqa: E402

from engine.classes import IGNORE_INDEX, OIL  # noqa: E402
from engine.data.synth import SceneConfig, simulate_scene, write_scene  # noqa: E402
from engine.detectors import DEFAULT_MODEL_CARD  # noqa: E402

FIRST_SEED = 5000
SCENE_PX = 1024
#: Where the fine-tuning scenes come from (``--train-like``): the default model's own training distribution
#: (the harshest case: the labels show nothing new and the test scenes lie outside them), or the held-out
#: test ranges with other seeds (an analyst's case: labelled scenes of the kind the model then meets).
TRAIN_LIKE = {
    "training": (FIRST_SEED, {}),
    "held-out": (930000, {**HELD_OUT, "spills": (1, 4)}),
}


def snapshot(card: str, folder: Path) -> str:
    """Copy a model card and its weights into ``folder``; returns the copy's JSON path.

    Before and after must be scored against the model that was fine-tuned, even if the card at
    ``--init`` is replaced meanwhile (``make default-model`` rewrites resources/models/default.*).
    """
    import shutil

    source = Path(card).with_suffix("")
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".json", ".safetensors"):
        shutil.copy2(source.with_name(source.name + suffix), folder / (source.name + suffix))
    return str(folder / (source.name + ".json"))


def make_training_scenes(folder: Path, count: int, like: str = "training") -> list[tuple[Path, Path]]:
    """Simulate (or reuse) ``count`` fine-tuning scenes (see :data:`TRAIN_LIKE`); returns (scene, binary mask) paths."""
    import rasterio

    first_seed, ranges = TRAIN_LIKE[like]
    folder.mkdir(parents=True, exist_ok=True)
    config = SceneConfig(width_px=SCENE_PX, height_px=SCENE_PX, **ranges)
    pairs = []
    for seed in range(first_seed, first_seed + count):
        name = f"train-{seed}"
        scene, labels, mask = (folder / f"{name}_{kind}.tif" for kind in ("scene", "labels", "binary"))
        if not (scene.is_file() and labels.is_file()):
            write_scene(
                simulate_scene(config, seed),
                folder,
                name=name,
                quicklook=False,
                overwrite=True,
                command=f"bench/finetune_binary.py (seed {seed})",
            )
        if not mask.is_file():
            with rasterio.open(labels) as source:
                ids = source.read(1)
                profile = dict(source.profile, nodata=IGNORE_INDEX)
            binary = np.where(ids == IGNORE_INDEX, IGNORE_INDEX, (ids == OIL.id).astype(np.uint8)).astype(np.uint8)
            with rasterio.open(mask, "w", **profile) as sink:
                sink.write(binary, 1)
        pairs.append((scene, mask))
    return pairs


def augment_option(init: str) -> list[str]:
    """``--augment basic`` for a model trained with the basic augmentations (flips, rotations, a dB shift).

    The shipped model was; fine-tuning it with other augmentations changes what its inputs look like, and
    the bench would measure that instead of the labels. A model trained with more keeps the default.
    """
    from engine.data import samples

    trained = json.loads(Path(init).read_text()).get("training", {}).get("segmenter", {}).get("augment")
    basic = getattr(samples, "AUGMENTS", {}).get("basic")
    if basic is None or not isinstance(trained, dict) or set(trained) - {"flips", "rotations", "db_shift"}:
        return []
    return ["--augment", "basic"]


def finetune(
    init: str,
    pairs: list[tuple[Path, Path]],
    output: Path,
    steps: int,
    lr: float,
    retain: float | None,
    val_share: float = 0.1,
    min_gain: float | None = None,
) -> dict[str, Any]:
    """Run ``dakd finetune`` on the binary masks (a fresh run each time); returns the new card."""
    command = [sys.executable, "-m", "engine", "--progress", "none", "finetune"]
    for scene, mask in pairs:
        command += ["--scene", str(scene), "--label-raster", str(mask)]
    command += [
        "--background",
        "not-oil",
        "--init",
        init,
        "--preset",
        "cpu-default",
        "--steps",
        str(steps),
        "--lr",
        f"{lr:g}",
        "--aug-ratio",
        "0",
        "--val-share",
        f"{val_share:g}",
        "--device",
        "cpu",
        "--seed",
        "0",
        "--out",
        str(output),
        "--overwrite",
        *augment_option(init),
    ]
    if retain is not None:
        command += ["--retain", f"{retain:g}"]
    if min_gain is not None:
        command += ["--min-gain", f"{min_gain:g}"]
    print("  " + " ".join(command[2:6]) + f" ... ({len(pairs)} scenes, {steps} steps)", file=sys.stderr)
    subprocess.run(command, cwd=REPO, check=True)
    return json.loads(output.with_name(output.name + ".json").read_text())


def scored(label: str, card: str, scenes: list[dict[str, Any]], work: Path) -> dict[str, Any]:
    """``evaluate``'s report for a model card; the starting model's is kept in WORK and reused while its weights match.

    Scoring a model on the 52 test scenes takes about five minutes on 2 cores; the "before" column is the
    same in every run from one starting model.
    """
    weights = json.loads(Path(card).read_text()).get("weights", {}).get("sha256")
    cache = work / f"scores-{weights}-{len(scenes)}.json" if label == "before" and weights else None
    if cache is not None and cache.is_file():
        return json.loads(cache.read_text())
    result = evaluate(label, "model", card, scenes, work).report(multiclass=True) | {"model_card": card}
    if cache is not None:
        cache.write_text(json.dumps(result, default=str))
    return result


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the table, from a ``Tally.report``."""
    classes = result["classes"]
    return {
        "oil_iou": result["oil_vs_rest"]["iou"],
        "oil_f1": result["oil_vs_rest"]["f1"],
        "oil_precision": result["oil_vs_rest"]["precision"],
        "oil_recall": result["oil_vs_rest"]["recall"],
        "spill_recall": result["spill_recall"],
        "region_precision": result["region_precision"],
        "false_alarms_per_1000_km2": result["false_alarms"]["polygons_per_1000_km2"],
        "miou_5_classes": classes["miou"],
        **{f"iou_{name}": value for name, value in classes["iou"].items()},
    }


def print_table(rows: dict[str, dict[str, Any]]) -> None:
    """Before / after, one column each."""
    keys = list(next(iter(rows.values())))
    print("\n| measure (held-out test scenes, %) | " + " | ".join(rows) + " |")
    print("|---" * (len(rows) + 1) + "|")
    for key in keys:
        values = [rows[label][key] for label in rows]
        cells = ["-" if v is None or v != v else f"{v:.1f}" for v in values]
        print(f"| {key} | " + " | ".join(cells) + " |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The bench's options (``--quick`` shrinks the run to a smoke test)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--init", default=str(DEFAULT_MODEL_CARD), help="the five-class model card to fine-tune")
    parser.add_argument(
        "--scenes",
        type=int,
        default=21,
        help="training-like scenes of 1024² px (21: about 300 training tiles after the split)",
    )
    parser.add_argument("--steps", type=int, default=600, help="fine-tuning steps (batch 8, 128 px crops)")
    parser.add_argument("--lr", type=float, default=1e-4, help="peak learning rate")
    parser.add_argument(
        "--train-like",
        choices=tuple(TRAIN_LIKE),
        default="training",
        help="fine-tuning scenes like the default model's training data (seeds 5000+), or like "
        "the held-out test scenes with other seeds (930000+)",
    )
    parser.add_argument(
        "--retain",
        type=float,
        default=None,
        help="dakd finetune --retain (default: its own, distillation from the --init model on)",
    )
    parser.add_argument(
        "--min-gain",
        type=float,
        default=None,
        help="dakd finetune --min-gain (default: its own, 0.5 validation points over the starting model)",
    )
    parser.add_argument(
        "--val-share",
        type=float,
        default=0.1,
        help="share of the scenes held out to pick the checkpoint (0.1 of 21: two scenes)",
    )
    parser.add_argument(
        "--work",
        default=str(REPO / "build" / "finetune-binary"),
        help="training scenes, the fine-tuned model and detection outputs (scenes are reused)",
    )
    parser.add_argument(
        "--test-work",
        default=None,
        help="held-out test scenes (default WORK/test; pass evaluate_default.py's --work to reuse)",
    )
    parser.add_argument("--quick", action="store_true", help="4 scenes, 20 steps, 3 test scenes per group (smoke run)")
    parser.add_argument(
        "--out",
        default=None,
        help="results JSON (default bench/results/finetune_binary.json, "
        "finetune_binary_held-out.json with --train-like held-out)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.scenes, args.steps = 4, 20
    return args


def main(argv: list[str] | None = None) -> int:
    """Simulate, fine-tune, score before and after, save and print."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    work = Path(args.work)
    test_work = Path(args.test_work) if args.test_work else work / "test"
    started = time.perf_counter()
    init = snapshot(args.init, work / "init")

    pairs = make_training_scenes(
        work / ("train" if args.train_like == "training" else "train-held-out"), args.scenes, args.train_like
    )
    tuned_at = time.perf_counter()
    card = finetune(
        init,
        pairs,
        work / "model" / "binary-finetuned",
        args.steps,
        args.lr,
        args.retain,
        args.val_share,
        args.min_gain,
    )
    finetune_s = time.perf_counter() - tuned_at
    tuned = str(work / "model" / "binary-finetuned.json")

    scenes = make_test_set(test_work, 3 if args.quick else None)
    results = {}
    for label, model in (("before", init), ("after", tuned)):
        results[label] = scored(label, model, scenes, work)
    rows = {label: summary(result) for label, result in results.items()}
    data = card["training"]["data"]
    record = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_s": round(time.perf_counter() - started, 1),
        "finetune_s": round(finetune_s, 1),
        "quick": args.quick,
        "init": args.init,
        "init_sha256": json.loads(Path(init).read_text()).get("weights", {}).get("sha256"),
        "training": {
            "like": args.train_like,
            "ranges": TRAIN_LIKE[args.train_like][1] or "SceneConfig defaults",
            "scenes": args.scenes,
            "val_share": args.val_share,
            "size_px": SCENE_PX,
            "seeds": [TRAIN_LIKE[args.train_like][0], TRAIN_LIKE[args.train_like][0] + args.scenes - 1],
            "labels": "binary masks from the simulator's labels: 1 oil, 0 sea/look-alike/ship/land, 255 unlabelled",
            "train_tiles": data["train"]["tiles"],
            "validation_tiles": data["validation"]["tiles"],
            "train_class_pixels": data["train"]["class_pixels"],
            "steps": card["training"]["steps"],
            "best_step": card["training"]["best_step"],
            "lr": args.lr,
            "min_gain": card["training"]["loop"].get("min_gain_over_start"),
            "loss": card["training"]["segmenter"].get("loss"),
            "validation": card["metrics"].get("validation", {}).get("iou"),
        },
        "test_set": {
            "groups": [{"name": g.name, "seeds": [g.first_seed, g.first_seed + g.count - 1]} for g in TEST_GROUPS],
            "scenes": len(scenes),
            "held_out_ranges": HELD_OUT,
        },
        "table": rows,
        "oil_iou_not_lower": rows["after"]["oil_iou"] >= rows["before"]["oil_iou"],
        "results": results,
    }
    suffix = "" if args.train_like == "training" else f"_{args.train_like}"
    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"finetune_binary{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, default=str) + "\n")
    print(
        f"\nfine-tuned {args.init} on {data['train']['tiles']} binary-labelled tiles ({args.scenes} scenes), "
        f"{card['training']['steps']} steps (best {card['training']['best_step']}), {finetune_s / 60:.1f} min"
    )
    print_table(rows)
    verdict = "not lower" if record["oil_iou_not_lower"] else "LOWER"
    before, after = rows["before"]["oil_iou"], rows["after"]["oil_iou"]
    print(
        f"\noil IoU after fine-tuning is {verdict} ({before:.1f} -> {after:.1f}); "
        f"{len(scenes)} test scenes, {record['wall_s']} s; results in {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
