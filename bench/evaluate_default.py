"""Score the bundled default model end to end on a held-out simulated test set, beside the threshold detector.

What is measured is what an analyst gets: each whole test scene goes through ``run_detection`` (tiling,
blending, the class raster, polygons with the 0.1 km² minimum area), and the class raster is compared
with the simulator's label raster pixel by pixel (label 255 and nodata left out).

The test set never overlaps the training data of ``make default-model``: other seeds (900000 and up;
training uses 1000-4015) and other parameter ranges (stronger and weaker wind, weaker damping, more
weathered slicks and leaks, more ships, other noise floors; see ``TEST_GROUPS``):

    oil       24 scenes 1024², 1-4 spills, wind 4-13 m/s, damping 2.5-7 dB, more look-alikes and ships
    large      4 scenes 2048², 2-4 spills (large slicks), same ranges
    clean     24 scenes 1024² without oil: many look-alikes (films, rain cells, internal waves, calm
              patches), wind 2.5-12 m/s; used for the false-alarm rate

Reported per detector:

- the model: per-class IoU, mIoU, F1, precision, recall (``engine.train.metrics.scores``, one
  confusion matrix over all labelled pixels of all scenes);
- both detectors: oil vs not-oil IoU, F1, precision, recall (the threshold detector knows only oil),
  over all labelled pixels and over sea pixels only (land left out, as with a perfect land mask);
- spill-level recall: labelled oil regions of at least 0.1 km² with at least 25 % of their pixels
  found; region precision: detected oil regions of at least 0.1 km² with at least 25 % on labelled oil;
- false alarms on the oil-free scenes: oil polygons (``spills.gpkg``) and oil area per 1000 km² of
  valid sea (every labelled pixel that is not land);
- ships, object by object (:func:`ship_matches`): recall over labelled ships, precision over detected
  ships (the ship polygons: 8-connected ship regions of the class raster with at least
  ``engine.vectorize.MIN_SHIP_PX`` pixels), F1;
- seconds per scene.

Usage::

    python bench/evaluate_default.py                                # default model + threshold
    python bench/evaluate_default.py --model other=models/x.json    # add (or compare) other model cards
    python bench/evaluate_default.py --quick                        # 3 scenes per group (a smoke run)
    python bench/evaluate_default.py --split validation             # the same groups, other seeds (800000 and up)
    python bench/evaluate_default.py --model p60=resources/models/default.json --prob-threshold p60=0.6
    python bench/evaluate_default.py --from-results bench/results/default_model.json   # print a saved run
    python bench/evaluate_default.py --from-results bench/results/default_model.json --show 0.1.0 --show stage3

Results: ``bench/results/default_model.json`` (with the machine description) and a printed table.
The test scenes and detection outputs are kept in ``--work`` (default ``build/default-model/test``)
and reused on the next run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import options  # noqa: E402
from machine import machine  # noqa: E402

from engine.classes import IGNORE_INDEX, LAND, OIL, OSD_CLASSES, SHIP  # noqa: E402
from engine.data.synth import SceneConfig, simulate_scene, write_scene  # noqa: E402
from engine.detect import DetectParams, run_detection  # noqa: E402
from engine.detectors import DEFAULT_MODEL_CARD  # noqa: E402
from engine.io.atomic import atomic_file  # noqa: E402
from engine.progress import Progress  # noqa: E402
from engine.train.metrics import confusion_matrix, scores  # noqa: E402

MIN_REGION_KM2 = 0.1
REGION_HIT_FRACTION = 0.25
#: A labelled ship is found when a detected ship lies within this many pixels of it (and vice versa).
SHIP_MATCH_PX = 2

#: Held-out ranges: deliberately unlike the training defaults (wind 3.5-11 m/s, damping 3-10 dB,
#: discharge-heavy spills, 0-4 ships, NESZ -26.5 to -24 dB).
HELD_OUT = dict(
    wind_speed_ms=(4.0, 13.0),
    damping_db=(2.5, 7.0),
    spill_kind_weights={"discharge": 0.2, "leak": 0.4, "weathered": 0.4},
    ships=(0, 6),
    biogenic_films=(0, 2),
    rain_cells=(0, 2),
    internal_waves=(0, 2),
    land_probability=0.5,
    nesz_mean_db=(-25.0, -22.0),
)


@dataclass(frozen=True)
class TestGroup:
    """Scenes of one kind: seeds ``first_seed`` .. ``first_seed + count - 1``."""

    name: str
    first_seed: int
    count: int
    size_px: int
    overrides: dict[str, Any] = field(default_factory=dict)

    def config(self) -> SceneConfig:
        """The scene config of this group."""
        return SceneConfig(width_px=self.size_px, height_px=self.size_px, **{**HELD_OUT, **self.overrides})


TEST_GROUPS = (
    TestGroup("oil", 900000, 24, 1024, {"spills": (1, 4)}),
    TestGroup("large", 910000, 4, 2048, {"spills": (2, 4)}),
    TestGroup(
        "clean",
        920000,
        24,
        1024,
        {
            "spills": (0, 0),
            "wind_speed_ms": (2.5, 12.0),
            "biogenic_films": (1, 3),
            "low_wind_patches": (0, 2),
            "land_probability": 0.35,
        },
    ),
)


#: Scenes whose slicks fill whole tiles (``bench/robustness.py --split big-spills``): 8-60 km² spills, up to 45 % of
#: the scene, in the held-out ranges, other seeds. Public tile sets are cut around spills, so many of their tiles are
#: mostly oil; the test groups above have few such tiles.
BIG_SPILL_GROUP = TestGroup(
    "bigspill",
    930000,
    30,
    1024,
    {"spills": (1, 3), "spill_area_km2": (8.0, 60.0), "max_spill_scene_fraction": 0.45, "land_probability": 0.3},
)


#: ``--split validation``: the same groups and ranges with seeds this much lower (800000 and up), for choosing
#: anything (a threshold, a rule) without looking at the test scenes.
VALIDATION_SEED_SHIFT = -100000


def make_test_set(
    work: Path, per_group: int | None, seed_shift: int = 0, groups: tuple[TestGroup, ...] = TEST_GROUPS
) -> list[dict[str, Any]]:
    """Simulate (or reuse) the test scenes (``seed_shift``: :data:`VALIDATION_SEED_SHIFT` for validation)."""
    scenes = []
    for group in groups:
        config = group.config()
        first = group.first_seed + seed_shift
        for seed in range(first, first + min(group.count, per_group or group.count)):
            name = f"{group.name}-{seed}"
            folder = work / "scenes"
            image, labels = folder / f"{name}_scene.tif", folder / f"{name}_labels.tif"
            if not (image.is_file() and labels.is_file()):
                write_scene(
                    simulate_scene(config, seed),
                    folder,
                    name=name,
                    quicklook=False,
                    overwrite=True,
                    command=f"bench/evaluate_default.py ({group.name}, seed {seed})",
                )
            scenes.append({"name": name, "group": group.name, "seed": seed, "image": image, "labels": labels})
    return scenes


def read_band(path: Path) -> tuple[np.ndarray, float]:
    """Band 1 as an array and the pixel area in km²."""
    import rasterio

    with rasterio.open(path) as dataset:
        return dataset.read(1), abs(dataset.transform.a * dataset.transform.e) / 1e6


def oil_polygons(spills_path: Path) -> int:
    """Oil polygons in a ``spills.gpkg`` (what an analyst sees)."""
    import fiona

    with fiona.open(spills_path) as layer:
        return sum(1 for feature in layer if feature["properties"]["class"] == "oil")


def region_hits(mask: np.ndarray, other: np.ndarray, min_pixels: int) -> tuple[int, int]:
    """(regions of ``mask`` with at least ``min_pixels``, of those with >= 25 % of their pixels in ``other``)."""
    from scipy import ndimage

    regions, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        return 0, 0
    sizes = np.bincount(regions.ravel(), minlength=count + 1)
    inside = np.bincount(regions.ravel(), weights=other.ravel().astype(np.float64), minlength=count + 1)
    big = sizes[1:] >= min_pixels
    hit = inside[1:] >= REGION_HIT_FRACTION * sizes[1:]
    return int(big.sum()), int((big & hit).sum())


def ship_matches(classes: np.ndarray, labels: np.ndarray, match_px: int = SHIP_MATCH_PX) -> dict[str, int]:
    """Ships object by object: labelled ships found, and detected ships that are real.

    A labelled ship is an 8-connected region of ship label; a detected ship is an 8-connected region of
    ship class with at least ``MIN_SHIP_PX`` pixels (exactly the ship polygons of ``spills.gpkg``). A
    labelled ship is found when a detected ship overlaps it dilated by ``match_px`` pixels (positions
    differ by the impulse-response spread and the CFAR target window); a detected ship is true when it
    overlaps a labelled ship dilated the same way. Two ships merged into one detection count as two found
    and one true.

    Returns:
        ``labelled``, ``found``, ``detected``, ``true`` counts.
    """
    from scipy import ndimage

    from engine.vectorize import MIN_SHIP_PX

    connectivity = np.ones((3, 3), bool)
    truth, labelled = ndimage.label(labels == SHIP.id, structure=connectivity)
    detected, count = ndimage.label(classes == SHIP.id, structure=connectivity)
    sizes = np.bincount(detected.ravel(), minlength=count + 1)
    kept = sizes >= MIN_SHIP_PX
    kept[0] = False
    detected = np.where(kept[detected], detected, 0)

    def hit(regions: np.ndarray, other: np.ndarray) -> int:
        near = ndimage.binary_dilation(other > 0, structure=connectivity, iterations=match_px)
        return int(np.count_nonzero(np.unique(regions[near & (regions > 0)])))

    return {
        "labelled": labelled,
        "found": hit(truth, detected),
        "detected": int(kept.sum()),
        "true": hit(detected, truth),
    }


@dataclass
class Tally:
    """Everything accumulated over the scenes for one detector."""

    confusion: np.ndarray = field(default_factory=lambda: np.zeros((len(OSD_CLASSES),) * 2, np.int64))
    oil_binary: np.ndarray = field(default_factory=lambda: np.zeros((2, 2), np.int64))
    oil_binary_sea: np.ndarray = field(default_factory=lambda: np.zeros((2, 2), np.int64))
    label_regions: int = 0
    label_regions_found: int = 0
    pred_regions: int = 0
    pred_regions_true: int = 0
    clean_polygons: int = 0
    clean_oil_km2: float = 0.0
    clean_sea_km2: float = 0.0
    ships: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("labelled", "found", "detected", "true"), 0))
    seconds: list[float] = field(default_factory=list)
    per_scene: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        scene: dict[str, Any],
        classes: np.ndarray,
        labels: np.ndarray,
        pixel_km2: float,
        polygons: int,
        seconds: float,
    ) -> None:
        """Accumulate one scene's class raster against its labels."""
        import torch

        keep = (labels != IGNORE_INDEX) & (classes != IGNORE_INDEX)
        target = np.where(keep, labels, IGNORE_INDEX)
        pred = np.where(keep, classes, 0)
        self.confusion += confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), len(OSD_CLASSES)).numpy()
        oil_pred, oil_true = (pred == OIL.id) & keep, (target == OIL.id)
        binary_target = np.where(keep, oil_true.astype(np.uint8), IGNORE_INDEX)
        self.oil_binary += confusion_matrix(
            torch.from_numpy(oil_pred.astype(np.uint8)), torch.from_numpy(binary_target), 2
        ).numpy()
        sea_target = np.where(target == LAND.id, IGNORE_INDEX, binary_target)
        self.oil_binary_sea += confusion_matrix(
            torch.from_numpy(oil_pred.astype(np.uint8)), torch.from_numpy(sea_target), 2
        ).numpy()
        min_pixels = int(round(MIN_REGION_KM2 / pixel_km2))
        total, found = region_hits(oil_true, oil_pred, min_pixels)
        self.label_regions += total
        self.label_regions_found += found
        total, correct = region_hits(oil_pred, oil_true, min_pixels)
        self.pred_regions += total
        self.pred_regions_true += correct
        sea_km2 = float((keep & (target != LAND.id)).sum() * pixel_km2)
        if scene["group"] == "clean":
            self.clean_polygons += polygons
            self.clean_oil_km2 += float(oil_pred.sum() * pixel_km2)
            self.clean_sea_km2 += sea_km2
        ships = ship_matches(classes, labels)
        for key, value in ships.items():
            self.ships[key] += value
        self.seconds.append(seconds)
        self.per_scene.append(
            {
                "scene": scene["name"],
                "oil_polygons": polygons,
                "seconds": round(seconds, 2),
                "ships": ships,
                "oil_px_true": int(oil_true.sum()),
                "oil_px_pred": int(oil_pred.sum()),
                "oil_px_hit": int((oil_true & oil_pred).sum()),
                "sea_km2": round(sea_km2, 2),
            }
        )

    def report(self, multiclass: bool) -> dict[str, Any]:
        """JSON-ready results."""

        def binary(matrix: np.ndarray) -> dict[str, float]:
            result = scores(matrix)
            return {
                "iou": result["iou"][1],
                "f1": result["class_f1"][1],
                "precision": _ratio(matrix[1, 1], matrix[:, 1].sum()),
                "recall": _ratio(matrix[1, 1], matrix[1].sum()),
            }

        out: dict[str, Any] = {
            "oil_vs_rest": binary(self.oil_binary),
            "oil_vs_rest_sea_only": binary(self.oil_binary_sea),
            "spill_recall": _ratio(self.label_regions_found, self.label_regions),
            "labelled_spills": self.label_regions,
            "region_precision": _ratio(self.pred_regions_true, self.pred_regions),
            "detected_regions": self.pred_regions,
            "false_alarms": {
                "oil_polygons": self.clean_polygons,
                "valid_sea_km2": round(self.clean_sea_km2, 1),
                "polygons_per_1000_km2": round(self.clean_polygons / self.clean_sea_km2 * 1000, 2)
                if self.clean_sea_km2
                else None,
                "oil_km2_per_1000_km2": round(self.clean_oil_km2 / self.clean_sea_km2 * 1000, 2)
                if self.clean_sea_km2
                else None,
            },
            "ships": ship_scores(self.ships),
            "seconds_per_scene": round(float(np.mean(self.seconds)), 2) if self.seconds else None,
            "per_scene": self.per_scene,
        }
        if multiclass:
            result = scores(self.confusion)
            out["classes"] = {k: result[k] for k in ("miou", "f1", "precision", "recall", "accuracy")}
            out["classes"]["iou"] = dict(zip([c.name for c in OSD_CLASSES], result["iou"]))
            out["classes"]["class_f1"] = dict(zip([c.name for c in OSD_CLASSES], result["class_f1"]))
            out["confusion"] = self.confusion.tolist()
        return out


def ship_scores(counts: dict[str, int]) -> dict[str, Any]:
    """Ship recall, precision and F1 (%) from :func:`ship_matches` counts summed over scenes."""
    recall = _ratio(counts["found"], counts["labelled"])
    precision = _ratio(counts["true"], counts["detected"])
    f1 = (
        round(2 * recall * precision / (recall + precision), 2)
        if recall is not None and precision is not None and recall + precision > 0
        else (0.0 if counts["labelled"] else None)
    )
    return {**counts, "recall": recall, "precision": precision, "f1": f1}


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(float(numerator) / float(denominator) * 100, 2) if denominator else None


def evaluate(
    label: str,
    method: str,
    model: str | None,
    scenes: list[dict[str, Any]],
    work: Path,
    ships: str = "cfar",
    prob_threshold: float | None = None,
    overlap_px: int | None = None,
) -> Tally:
    """Run one detector on every scene and tally the results (``ships``, ``prob_threshold``, ``overlap_px``:
    :class:`DetectParams`; None keeps dakd detect's default)."""
    tally = Tally()
    for index, scene in enumerate(scenes):
        out = work / "runs" / label / scene["name"]
        started = time.perf_counter()
        result = run_detection(
            DetectParams(
                str(scene["image"]),
                str(out),
                method=method,
                model_path=model,
                device="cpu",
                overwrite=True,
                ships=ships,
                land_mask="none",
                prob_threshold=prob_threshold,
                **({} if overlap_px is None else {"overlap_px": overlap_px}),
            ),
            Progress(),
        )
        seconds = time.perf_counter() - started
        classes, _ = read_band(result.classes_path)
        labels, pixel_km2 = read_band(scene["labels"])
        tally.add(scene, classes, labels, pixel_km2, oil_polygons(result.spills_path), seconds)
        print(f"  {label}: {index + 1}/{len(scenes)} {scene['name']} {seconds:.1f} s", file=sys.stderr)
    return tally


def _fmt(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.1f}"


def print_tables(results: dict[str, dict[str, Any]]) -> None:
    """Print the tables of docs/model.md ("How well it does on held-out simulated scenes"), to paste there."""
    models = [k for k, v in results.items() if "classes" in v]
    if models:
        names = [c.name for c in OSD_CLASSES]
        print("\nModel, 5 classes (%; one confusion matrix over all labelled pixels of all test scenes)")
        print("| detector | mIoU | F1 | precision | recall | " + " | ".join(f"IoU {n}" for n in names) + " |")
        print("|---" * (5 + len(names)) + "|")
        for key in models:
            c = results[key]["classes"]
            row = [c["miou"], c["f1"], c["precision"], c["recall"], *[c["iou"][n] for n in names]]
            print(f"| {key} | " + " | ".join(_fmt(v) for v in row) + " |")
    print("\nOil vs not-oil (%), all labelled pixels / sea only (land left out)")
    print(
        "| detector | oil IoU | F1 | precision | recall | sea-only IoU | F1 | precision | recall "
        "| spill recall | region precision | false-alarm polygons per 1000 km² | false oil km² per 1000 km² "
        "| s/scene |"
    )
    print("|---" * 14 + "|")
    for key, value in results.items():
        a, s, fa = value["oil_vs_rest"], value["oil_vs_rest_sea_only"], value["false_alarms"]
        row = [
            a["iou"],
            a["f1"],
            a["precision"],
            a["recall"],
            s["iou"],
            s["f1"],
            s["precision"],
            s["recall"],
            value["spill_recall"],
            value["region_precision"],
            fa["polygons_per_1000_km2"],
            fa["oil_km2_per_1000_km2"],
            value["seconds_per_scene"],
        ]
        print(f"| {key} | " + " | ".join(_fmt(v) for v in row) + " |")
    if models:
        print(f"\nShips, object by object (%; a hit within {SHIP_MATCH_PX} px)")
        print("| detector | --ships | labelled | found | detected | true | recall | precision | F1 |")
        print("|---" * 9 + "|")
        for key in models:
            ships = results[key]["ships"]
            print(
                f"| {key} | {results[key].get('ships_mode', 'cfar')} | {ships['labelled']} | {ships['found']} | "
                f"{ships['detected']} | {ships['true']} | "
                + " | ".join(_fmt(ships[k]) for k in ("recall", "precision", "f1"))
                + " |"
            )


#: Issue 13's goals on this test set: (label, how to read it from a result, the goal, True when higher is better).
GOALS: tuple[tuple[str, Callable[[dict[str, Any]], Any], float, bool], ...] = (
    ("oil IoU (%)", lambda r: r["oil_vs_rest"]["iou"], 45.0, True),
    ("mIoU, five classes (%)", lambda r: r["classes"]["miou"], 55.0, True),
    ("spill recall (%)", lambda r: r["spill_recall"], 80.0, True),
    ("region precision (%)", lambda r: r["region_precision"], 70.0, True),
    ("false alarms per 1000 km²", lambda r: r["false_alarms"]["polygons_per_1000_km2"], 4.0, False),
    ("ship F1", lambda r: None if r["ships"]["f1"] is None else r["ships"]["f1"] / 100.0, 0.7, True),
)


def goals_table(results: dict[str, dict[str, Any]]) -> list[str]:
    """The goals table (markdown lines): every model's value beside the goal, and whether it is met.

    The README's evaluation table is these lines as printed; ``tests/test_docs.py`` checks it against the
    results file the README names.
    """
    models = [k for k, v in results.items() if "classes" in v]
    if not models:
        return []
    lines = ["| measure | " + " | ".join(models) + " | goal |", "|---" * (len(models) + 2) + "|"]
    for label, read, goal, higher in GOALS:
        cells = []
        for key in models:
            value = read(results[key])
            met = value is not None and (value >= goal if higher else value <= goal)
            text = "-" if value is None else (f"{value:.2f}" if goal < 1 else f"{value:.1f}")
            cells.append(f"{text} {'(met)' if met else '(not met)'}")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {'≥' if higher else '≤'} {goal:g} |")
    return lines


def print_goals(results: dict[str, dict[str, Any]]) -> None:
    """Print :func:`goals_table` under its title."""
    lines = goals_table(results)
    if lines:
        print("\nGoals (issue 13)")
        print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    """Build the test set, run the detectors, save and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="LABEL=CARD[@SHIPS]",
        help="a model card to score (repeat); default: default=resources/models/default.json; "
        "@cfar, @model or @off sets --ships for this model alone",
    )
    parser.add_argument(
        "--prob-threshold",
        action="append",
        default=[],
        metavar="LABEL=P",
        help="run the model LABEL with dakd detect --prob-threshold P (repeat; models without one use none)",
    )
    parser.add_argument(
        "--overlap",
        action="append",
        default=[],
        metavar="LABEL=PX",
        help="run the model LABEL with dakd detect --overlap PX (repeat; the others use detect's default)",
    )
    parser.add_argument("--no-threshold", action="store_true", help="skip the threshold detector")
    parser.add_argument(
        "--work",
        default=None,
        help="scenes and detection outputs (reused; default build/default-model/<split>)",
    )
    parser.add_argument("--quick", action="store_true", help="3 scenes per group (a smoke run, not for the docs)")
    parser.add_argument(
        "--split",
        choices=("test", "validation"),
        default="test",
        help="validation: the same groups with other seeds (800000 and up), for choosing rules without the "
        "test scenes; default work build/default-model/validation, results default_model_validation.json",
    )
    parser.add_argument(
        "--out", default=None, help="results JSON (default bench/results/default_model[_validation].json)"
    )
    parser.add_argument(
        "--ships",
        choices=("cfar", "model", "off"),
        default="cfar",
        help="models' ships: cfar = network + CFAR (default, what dakd detect does), model = the "
        "network alone (the 'before' of issue 13)",
    )
    parser.add_argument(
        "--from-results",
        metavar="JSON",
        default=None,
        help="print the tables of a saved results file (e.g. bench/results/default_model_stage3.json); run nothing",
    )
    parser.add_argument(
        "--show",
        action="append",
        default=[],
        metavar="LABEL",
        help="with --from-results: print only these detectors, in this order (repeat; default all)",
    )
    args = parser.parse_args(argv)
    if args.from_results:
        try:
            saved = json.loads(Path(args.from_results).read_text(encoding="utf-8"))["results"]
        except (OSError, ValueError, KeyError) as error:
            parser.error(f"{args.from_results}: not a results file of this script ({error})")
        unknown = [label for label in args.show if label not in saved]
        if unknown:
            parser.error(f"{args.from_results} has no results for {', '.join(unknown)}; it has {', '.join(saved)}")
        saved = {label: saved[label] for label in args.show} if args.show else saved
        print_tables(saved)
        print_goals(saved)
        return 0
    logging.basicConfig(level=logging.WARNING)
    models = dict(item.split("=", 1) for item in args.model) or {"default": str(DEFAULT_MODEL_CARD)}
    ships_modes = {label: card.rpartition("@")[2] if "@" in card else args.ships for label, card in models.items()}
    models = {label: card.rpartition("@")[0] if "@" in card else card for label, card in models.items()}
    prob_thresholds = options.prob_thresholds(parser, args.prob_threshold, models)
    overlaps = options.overlaps(parser, args.overlap, models)
    validation = args.split == "validation"
    work = Path(args.work or REPO / "build" / "default-model" / args.split)
    started = time.perf_counter()
    scenes = make_test_set(work, 3 if args.quick else None, VALIDATION_SEED_SHIFT if validation else 0)
    results: dict[str, dict[str, Any]] = {}
    for label, card in models.items():
        tally = evaluate(
            label,
            "model",
            card,
            scenes,
            work,
            ships=ships_modes[label],
            prob_threshold=prob_thresholds.get(label),
            overlap_px=overlaps.get(label),
        )
        results[label] = tally.report(multiclass=True)
        results[label]["model_card"] = card
        results[label]["ships_mode"] = ships_modes[label]
        results[label]["prob_threshold"] = prob_thresholds.get(label)
        results[label]["overlap_px"] = overlaps.get(label)
    if not args.no_threshold:
        results["threshold"] = evaluate("threshold", "threshold", None, scenes, work).report(multiclass=False)
    shift = VALIDATION_SEED_SHIFT if validation else 0
    record = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_s": round(time.perf_counter() - started, 1),
        "quick": args.quick,
        "split": args.split,
        "test_set": {
            "groups": [
                {
                    "name": g.name,
                    "seeds": [g.first_seed + shift, g.first_seed + shift + g.count - 1],
                    "size_px": g.size_px,
                    "overrides": {**HELD_OUT, **g.overrides},
                }
                for g in TEST_GROUPS
            ],
            "scenes": len(scenes),
            "region_rule": f"regions >= {MIN_REGION_KM2} km2, hit when >= {REGION_HIT_FRACTION:.0%} overlap",
        },
        "results": results,
    }
    out = Path(args.out or REPO / "bench" / "results" / f"default_model{'_validation' if validation else ''}.json")
    with atomic_file(out) as tmp:
        tmp.write_text(json.dumps(record, indent=1, default=str) + "\n")
    print_tables(results)
    print_goals(results)
    print(f"\n{len(scenes)} scenes, {record['wall_s']} s; results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
