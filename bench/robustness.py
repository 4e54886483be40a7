"""How a model holds up when the input is not the calibrated σ0 it was trained on: 8-bit exports, filters, 20 m.

Public oil-spill tile sets (SOS, OSD) are 8-bit images: dB squeezed into 0-255 over a span that is not
published, often after a speckle filter (OSD: a 7×7 median), sometimes at another pixel size. A model
reads them back through the loaders' convention (``engine.data.tiles.byte_to_db`` with -35..5 dB), so
what it sees is the true dB under an unknown gain and offset, clipped and quantised. This bench cuts
256² tiles from the held-out simulated test scenes of ``bench/evaluate_default.py`` (never trained on)
and scores oil against everything else under each of these conditions, beside a per-tile Otsu
threshold (the usual classical baseline on such tiles):

    calibrated          the σ0 dB tile as simulated
    8bit -30..0         exported over -30..0 dB, read back as -35..5 dB
    8bit -25..-5        a narrower span (more contrast, more saturation)
    8bit p2-p98         a per-tile percentile stretch (2 % .. 98 %)
    8bit +median7       -30..0 dB after a 7×7 median filter (as OSD)
    8bit amplitude      linear in amplitude from 0 to the tile's 98th percentile (a common picture export)
    8bit intensity      linear in intensity (σ0) from 0 to the tile's 99th percentile
    8bit equalised      a per-tile histogram equalisation (no training augmentation does this)
    8bit p2-p98 JPEG    the percentile stretch saved as a JPEG of quality 75 (OSD's and SOS's pictures are JPEGs)
    20 m                power averaged 2×2 (a 512² window becomes a 256² tile; labels by majority)
    20 m 8bit p2-p98    both
    30 m                power averaged 3×3 (the shipped model's stage 3 resampled up to 4×; stages 1-2 up to 2×)
    40 m                power averaged 4×4 (a coarse export, at the end of stage 3's resampling range)

Tiles: every 256² tile of the ``oil`` and ``large`` groups with at least 0.5 % oil and 90 % valid
pixels, plus every fourth tile of the ``clean`` group (oil-free sea with look-alikes). This is a
proxy for real exported tiles, made from our own simulator: it shows whether a model depends on the
absolute dB level, not how it will do on real data. Every condition is also scored by the tiles' oil share
(``OIL_SHARE_BUCKETS``: 0.5-5, 5-20, 20-40 and at least 40 % oil): public tile sets are cut around spills, so
many of their tiles are mostly oil.

Usage::

    python bench/robustness.py                                   # the bundled model
    python bench/robustness.py --model old=build/old.json --model new=resources/models/default.json
    python bench/robustness.py --model default=M --model p60=M --prob-threshold p60=0.6   # dakd detect's threshold
    python bench/robustness.py --split validation                # the validation scenes, for choosing rules
    python bench/robustness.py --split big-spills                # 30 scenes of slicks that fill whole tiles

Results: ``bench/results/robustness.json`` (``robustness_validation.json``, ``robustness_big_spills.json``) and a
printed table (oil IoU %, one confusion over all tiles).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import options  # noqa: E402
from evaluate_default import (  # noqa: E402
    BIG_SPILL_GROUP,
    TEST_GROUPS,
    VALIDATION_SEED_SHIFT,
    make_test_set,
    read_band,
)
from machine import machine  # noqa: E402

from engine.classes import IGNORE_INDEX, OIL  # noqa: E402
from engine.data.tiles import byte_to_db, clip_standardise_db  # noqa: E402
from engine.detect import classify  # noqa: E402
from engine.detectors import DEFAULT_MODEL_CARD  # noqa: E402
from engine.io.atomic import atomic_file  # noqa: E402
from engine.modelcard import load_model  # noqa: E402
from engine.preprocess import PICTURE_DB_RANGE  # noqa: E402

TILE = 256
READ_RANGE = PICTURE_DB_RANGE  # what dakd detect --units db-8bit and the data-set loaders read 0..255 as


def export_8bit(image_db: np.ndarray, low: float, high: float) -> np.ndarray:
    """dB → 8-bit over ``low..high`` → dB as the data-set loaders read it (-35..5)."""
    pixels = np.round(np.clip((image_db - low) / (high - low), 0.0, 1.0) * 255.0).astype(np.uint8)
    return byte_to_db(pixels, READ_RANGE)


def placed_8bit(image_db: np.ndarray, grey: float, span_db: float) -> np.ndarray:
    """An 8-bit export over ``span_db`` dB that puts the tile's median (mostly sea) at ``grey``, read back as dB."""
    low = float(np.median(image_db)) - grey / 255.0 * span_db
    return export_8bit(image_db, low, low + span_db)


def stretch_8bit(image_db: np.ndarray) -> np.ndarray:
    """A per-tile 2-98 % percentile stretch to 8 bits, read back as -35..5 dB."""
    low, high = np.percentile(image_db, [2, 98])
    return export_8bit(image_db, float(low), float(max(high, low + 1.0)))


def median7(image_db: np.ndarray) -> np.ndarray:
    """A 7×7 median filter, then the -30..0 dB export (OSD's preparation)."""
    return export_8bit(ndimage.median_filter(image_db, size=7, mode="reflect"), -30.0, 0.0)


def linear_8bit(image_db: np.ndarray, divisor: float, percentile: float) -> np.ndarray:
    """An export linear in amplitude (``divisor`` 20) or intensity (10) from 0 to a percentile, read back as dB."""
    linear = np.power(10.0, image_db / divisor)
    top = float(np.percentile(linear, percentile))
    pixels = np.round(np.clip(linear / max(top, 1e-12), 0.0, 1.0) * 255.0).astype(np.uint8)
    return byte_to_db(pixels, READ_RANGE)


def jpeg_8bit(image_db: np.ndarray, quality: int = 75) -> np.ndarray:
    """The per-tile 2-98 % stretch written and read back as a JPEG by GDAL, read back as dB."""
    low, high = np.percentile(image_db, [2, 98])
    pixels = np.round(np.clip((image_db - low) / max(high - low, 1.0), 0.0, 1.0) * 255.0).astype(np.uint8)
    profile = {"driver": "JPEG", "width": pixels.shape[1], "height": pixels.shape[0], "count": 1, "dtype": "uint8"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile() as memory:
            with memory.open(**profile, QUALITY=quality) as dataset:
                dataset.write(pixels, 1)
            with memory.open() as dataset:
                pixels = dataset.read(1)
    return byte_to_db(pixels, READ_RANGE)


def equalise_8bit(image_db: np.ndarray) -> np.ndarray:
    """A per-tile histogram equalisation to 8 bits, read back as dB."""
    ranks = np.argsort(np.argsort(image_db, axis=None)).reshape(image_db.shape)
    pixels = np.round(ranks / max(ranks.size - 1, 1) * 255.0).astype(np.uint8)
    return byte_to_db(pixels, READ_RANGE)


CONDITIONS: dict[str, tuple[int, Callable[[np.ndarray], np.ndarray]]] = {
    # name: (window read from the scene, transform of the (TILE, TILE) dB tile)
    "calibrated": (1, lambda x: x),
    "8bit -30..0": (1, lambda x: export_8bit(x, -30.0, 0.0)),
    "8bit -25..-5": (1, lambda x: export_8bit(x, -25.0, -5.0)),
    "8bit p2-p98": (1, stretch_8bit),
    "8bit +median7": (1, median7),
    "8bit amplitude": (1, lambda x: linear_8bit(x, 20.0, 98.0)),
    "8bit intensity": (1, lambda x: linear_8bit(x, 10.0, 99.0)),
    "8bit equalised": (1, equalise_8bit),
    "8bit p2-p98 JPEG": (1, jpeg_8bit),
    "20 m": (2, lambda x: x),
    "20 m 8bit p2-p98": (2, stretch_8bit),
    "30 m": (3, lambda x: x),
    "40 m": (4, lambda x: x),
}
#: ``--levels``: the dB spans of an 8-bit export and the grey the sea (the tile's median) is put at. A picture's
#: span and brightness are whatever its maker chose; read back over -35..5 dB, they shift and scale what the model
#: sees.
LEVEL_SPANS_DB = (8.0, 20.0, 40.0, 60.0)
LEVEL_GREYS = (40, 90, 128, 170, 210)

#: The conditions the printed mean is taken over: those added later (30 m with stage 3, JPEG on 7 December 2026) are
#: left out, so the mean compares with every earlier run (docs/model.md quotes it).
MEAN_OF = [name for name in CONDITIONS if name not in ("30 m", "8bit p2-p98 JPEG")]


def multilook(image_db: np.ndarray, labels: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Average power over ``factor``² blocks; the label of a block is oil when most of it is oil."""
    if factor == 1:
        return image_db, labels
    height, width = image_db.shape[0] // factor, image_db.shape[1] // factor
    power = np.power(10.0, image_db / 10.0).reshape(height, factor, width, factor).mean(axis=(1, 3))
    blocks = labels.reshape(height, factor, width, factor)
    oil = (blocks == OIL.id).mean(axis=(1, 3)) > 0.5
    ignored = (blocks == IGNORE_INDEX).any(axis=(1, 3))
    out = np.where(oil, OIL.id, 0).astype(np.uint8)
    out[ignored] = IGNORE_INDEX
    return (10.0 * np.log10(np.maximum(power, 1e-10))).astype(np.float32), out


def cut_tiles(scenes: list[dict[str, Any]], factor: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(dB tile, oil-vs-rest label) pairs of the bench's selection, at ``factor`` times the pixel size."""
    tiles = []
    window = TILE * factor
    for scene in scenes:
        image, _ = read_band(scene["image"])
        labels, _ = read_band(scene["labels"])
        valid = np.isfinite(image) & (labels != IGNORE_INDEX)
        for index, (row, col) in enumerate(
            (r, c)
            for r in range(0, image.shape[0] - window + 1, window)
            for c in range(0, image.shape[1] - window + 1, window)
        ):
            block = np.s_[row : row + window, col : col + window]
            if valid[block].mean() < 0.9:
                continue
            oil_share = (labels[block] == OIL.id).mean()
            if scene["group"] == "clean":
                if index % 4:
                    continue
            elif oil_share < 0.005:
                continue
            image_db = np.where(valid[block], image[block], np.nanmedian(image[block]))
            target = np.where(labels[block] == OIL.id, 1, 0).astype(np.uint8)
            target[~valid[block]] = IGNORE_INDEX
            tiles.append(multilook(image_db.astype(np.float32), target, factor))
    return tiles


def otsu_oil(image_db: np.ndarray) -> np.ndarray:
    """Per-tile Otsu threshold on a 5×5 mean: the darker class is oil."""
    smooth = ndimage.uniform_filter(image_db, size=5)
    hist, edges = np.histogram(smooth, bins=128)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(hist)
    mean = np.cumsum(hist * centres)
    total, total_mean = weight[-1], mean[-1]
    between = (total_mean * weight / total - mean) ** 2 / np.maximum(weight * (total - weight), 1)
    return smooth < centres[int(np.argmax(between))]


#: ``by_oil_share``: tiles grouped by the share of their labelled pixels that is oil. Public tile sets (SOS) are cut
#: around spills, so many of their tiles are mostly oil; a model that finds oil as "darker than the sea around it"
#: can miss the inside of a slick that fills its window, where a per-tile threshold does well.
OIL_SHARE_BUCKETS: dict[str, tuple[float, float]] = {
    "0.5-5 %": (0.005, 0.05),
    "5-20 %": (0.05, 0.2),
    "20-40 %": (0.2, 0.4),
    ">= 40 %": (0.4, 1.01),
}


def oil_share(target: np.ndarray) -> float:
    """The share of a tile's labelled pixels that is oil."""
    labelled = target != IGNORE_INDEX
    return float((target[labelled] == 1).mean()) if labelled.any() else 0.0


def iou_by_oil_share(masks: list[np.ndarray], targets: list[np.ndarray]) -> dict[str, float]:
    """Oil IoU per :data:`OIL_SHARE_BUCKETS` group (one confusion per group; NaN for an empty group)."""
    shares = [oil_share(target) for target in targets]
    scores = {}
    for name, (low, high) in OIL_SHARE_BUCKETS.items():
        matrix = np.zeros((2, 2), np.int64)
        for mask, target, share in zip(masks, targets, shares):
            if low <= share < high:
                matrix += confusion(mask, target)
        scores[name] = oil_iou(matrix)
    return scores


def confusion(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2×2 oil-vs-rest confusion (rows: truth) over labelled pixels."""
    keep = target != IGNORE_INDEX
    return np.bincount(target[keep].astype(np.int64) * 2 + pred[keep].astype(np.int64), minlength=4).reshape(2, 2)


def oil_iou(matrix: np.ndarray) -> float:
    """IoU of the oil class in %."""
    union = matrix[1, 1] + matrix[0, 1] + matrix[1, 0]
    return round(100.0 * matrix[1, 1] / union, 2) if union else float("nan")


@torch.no_grad()
def model_oil(
    model: torch.nn.Module,
    card: Any,
    images: list[np.ndarray],
    prob_threshold: float | None = None,
    batch: int = 16,
) -> list[np.ndarray]:
    """The model's oil masks for dB tiles, fed as ``dakd evaluate`` feeds tiles (normalised dB, all valid).

    Classes are chosen as ``dakd detect`` chooses them (:func:`engine.detect.classify`), with its
    ``--prob-threshold`` when given.
    """
    oil_id = next(c.id for c in card.classes if c.name == OIL.name)
    masks = []
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        x = torch.from_numpy(np.stack([clip_standardise_db(image, card.input_spec) for image in chunk])[:, None])
        probabilities = torch.softmax(model(x), dim=1).numpy()
        masks.extend(classify(p, tuple(card.classes), prob_threshold) == oil_id for p in probabilities)
    return masks


def masks_iou(masks: list[np.ndarray], targets: list[np.ndarray]) -> float:
    """Oil IoU of masks over all tiles (one confusion matrix)."""
    return oil_iou(sum((confusion(mask, target) for mask, target in zip(masks, targets)), np.zeros((2, 2), np.int64)))


def model_iou(
    model: torch.nn.Module, card: Any, images: list[np.ndarray], targets: list[np.ndarray], prob_threshold: float | None
) -> float:
    """Oil IoU of the model's masks over all tiles (one confusion matrix)."""
    return masks_iou(model_oil(model, card, images, prob_threshold), targets)


def score_levels(
    scenes: list[dict[str, Any]], loaded: dict[str, tuple[Any, Any]], prob_thresholds: dict[str, float]
) -> dict[str, dict[str, dict[str, float]]]:
    """Oil IoU per model, export span and sea grey level (``--levels``), on the calibrated condition's tiles."""
    tiles = cut_tiles(scenes, 1)
    targets = [target for _, target in tiles]
    levels: dict[str, dict[str, dict[str, float]]] = {label: {} for label in loaded}
    for span in LEVEL_SPANS_DB:
        for grey in LEVEL_GREYS:
            images = [placed_8bit(image, grey, span) for image, _ in tiles]
            for label, (model, card) in loaded.items():
                iou = model_iou(model, card, images, targets, prob_thresholds.get(label))
                levels[label].setdefault(f"{span:g} dB", {})[str(grey)] = iou
            print(
                f"  levels: {span:g} dB, sea at {grey}: "
                + ", ".join(f"{label} {row[f'{span:g} dB'][str(grey)]}" for label, row in levels.items()),
                file=sys.stderr,
            )
    return levels


def share_histogram(targets: list[np.ndarray]) -> dict[str, int]:
    """How many tiles fall in each :data:`OIL_SHARE_BUCKETS` group."""
    shares = [oil_share(target) for target in targets]
    return {name: sum(low <= share < high for share in shares) for name, (low, high) in OIL_SHARE_BUCKETS.items()}


def print_by_share(
    by_share: dict[str, dict[str, dict[str, float]]], share_counts: dict[str, dict[str, int]], conditions: list[str]
) -> None:
    """Oil IoU by the tiles' oil share: a table per condition, a row per detector, a column per group."""
    for condition in conditions:
        counts = share_counts[condition]
        print(f"\n{condition}: oil IoU % by the tile's oil share")
        print("| detector | " + " | ".join(f"{name} ({counts[name]} tiles)" for name in OIL_SHARE_BUCKETS) + " |")
        print("|---" * (len(OIL_SHARE_BUCKETS) + 1) + "|")
        for label, rows in by_share.items():
            print(f"| {label} | " + " | ".join(f"{rows[condition][name]:.1f}" for name in OIL_SHARE_BUCKETS) + " |")


def print_levels(levels: dict[str, dict[str, dict[str, float]]]) -> None:
    """One table per model: a row per export span, a column per grey the sea is put at."""
    for label, rows in levels.items():
        print(f"\n{label}: oil IoU % of 8-bit exports, by span (rows) and the grey of the sea (columns)")
        print("| span | " + " | ".join(f"sea at {grey}" for grey in LEVEL_GREYS) + " |")
        print("|---" * (len(LEVEL_GREYS) + 1) + "|")
        for span, row in rows.items():
            print(f"| {span} | " + " | ".join(f"{row[str(grey)]:.1f}" for grey in LEVEL_GREYS) + " |")


def main(argv: list[str] | None = None) -> int:
    """Cut the tiles, score every model and Otsu under every condition, save and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="LABEL=CARD",
        help="a model card to score (repeat); default: default=resources/models/default.json",
    )
    parser.add_argument(
        "--prob-threshold",
        action="append",
        default=[],
        metavar="LABEL=P",
        help="score the model LABEL as dakd detect --prob-threshold P does (repeat)",
    )
    parser.add_argument(
        "--split",
        choices=("test", "validation", "big-spills"),
        default="test",
        help="validation: evaluate_default's validation scenes (other seeds), for choosing rules without the test "
        "scenes; big-spills: 30 scenes of 8-60 km² slicks that fill whole tiles (evaluate_default.BIG_SPILL_GROUP); "
        "default work build/default-model/<split>, results robustness[_<split>].json",
    )
    parser.add_argument(
        "--work",
        help="the scenes (simulated on the first run, shared with evaluate_default; default "
        "build/default-model/<split>)",
    )
    parser.add_argument("--quick", action="store_true", help="3 scenes per group (a smoke run)")
    parser.add_argument(
        "--levels",
        action="store_true",
        help="also score 8-bit exports of every span in LEVEL_SPANS_DB with the sea at every grey in LEVEL_GREYS",
    )
    parser.add_argument("--out", help="results JSON (default bench/results/robustness[_validation].json)")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    models = dict(item.split("=", 1) for item in args.model) or {"default": str(DEFAULT_MODEL_CARD)}
    prob_thresholds = options.prob_thresholds(parser, args.prob_threshold, models)
    started = time.perf_counter()
    validation = args.split == "validation"
    work = Path(args.work or REPO / "build" / "default-model" / args.split)
    groups = (BIG_SPILL_GROUP,) if args.split == "big-spills" else TEST_GROUPS
    scenes = make_test_set(work, 3 if args.quick else None, VALIDATION_SEED_SHIFT if validation else 0, groups)
    by_card = {card: load_model(card) for card in set(models.values())}  # one load per card, however many labels
    loaded = {label: by_card[card] for label, card in models.items()}
    results: dict[str, dict[str, float]] = {label: {} for label in [*models, "otsu"]}
    by_share: dict[str, dict[str, dict[str, float]]] = {label: {} for label in results}
    counts: dict[str, int] = {}
    share_counts: dict[str, dict[str, int]] = {}
    for condition, (factor, transform) in CONDITIONS.items():
        tiles = cut_tiles(scenes, factor)
        images = [transform(image) for image, _ in tiles]
        targets = [target for _, target in tiles]
        counts[condition] = len(tiles)
        share_counts[condition] = share_histogram(targets)
        masks = {
            label: model_oil(model, card, images, prob_thresholds.get(label)) for label, (model, card) in loaded.items()
        }
        masks["otsu"] = [otsu_oil(image) for image in images]
        for label, label_masks in masks.items():
            results[label][condition] = masks_iou(label_masks, targets)
            by_share[label][condition] = iou_by_oil_share(label_masks, targets)
        print(
            f"  {condition}: {len(tiles)} tiles, " + ", ".join(f"{k} {v[condition]}" for k, v in results.items()),
            file=sys.stderr,
        )
    levels = score_levels(scenes, loaded, prob_thresholds) if args.levels else None
    record = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_s": round(time.perf_counter() - started, 1),
        "quick": args.quick,
        "split": args.split,
        "tiles": counts,
        "models": models,
        "prob_thresholds": prob_thresholds,
        "metric": "oil IoU %, oil vs everything else, one confusion over all tiles",
        "results": results,
        "by_oil_share": {"tiles": share_counts, "results": by_share},
    }
    if levels is not None:
        record["levels"] = levels
    suffix = "" if args.split == "test" else "_" + args.split.replace("-", "_")
    out = Path(args.out or REPO / "bench" / "results" / f"robustness{suffix}.json")
    with atomic_file(out) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    names = list(CONDITIONS)
    print("\n| detector | " + " | ".join(names) + f" | mean of {len(MEAN_OF)} |")
    print("|---" * (len(names) + 2) + "|")
    for label, row in results.items():
        values = [row[n] for n in names]
        print(
            f"| {label} | "
            + " | ".join(f"{v:.1f}" for v in values)
            + f" | {np.nanmean([row[n] for n in MEAN_OF]):.1f} |"
        )
    print_by_share(by_share, share_counts, ["calibrated", "8bit p2-p98", "20 m"])
    if levels is not None:
        print_levels(levels)
    print(f"\ntiles per condition: {counts}; {record['wall_s']} s; results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
