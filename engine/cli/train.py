"""``dakd train-jointnet | generate | train | evaluate | finetune``: the DAKD training pipeline.

``finetune`` runs everything from labelled data to a model card; the other commands run one stage
each, for people who want to inspect or redo a stage. All take the same data options:

- labelled scenes: ``--scene RASTER`` (repeat) with ``--labels FILE`` (one file for all scenes, or
  one per scene in the same order) or ``--label-raster FILE`` (one per scene), ``--class-field``,
  ``--class-map VALUE=CLASS`` (repeat), ``--background sea|ignore|not-oil``;
- a data-set folder: ``--data-format osd|sos --dataset DIR [--split train]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.cli import NON_NEGATIVE_INT, POSITIVE_FLOAT, POSITIVE_INT, bounded
from engine.cli.options import (
    add_device_option,
    add_out_option,
    add_report_out_option,
    checked_db_range,
    report_to_out,
)
from engine.contract import DATA_FORMATS, PRECISIONS, PRESETS, UNITS
from engine.data.datasets import DEFAULT_SPLIT
from engine.errors import InputError
from engine.io.atomic import EngineFolder, check_output_files, check_work_folder, clear_work_folder, real_path
from engine.progress import Progress

log = logging.getLogger("dakd")

PRESET_NAMES = PRESETS  # the name callers of this module know
#: Generated pairs per real tile: the paper's range is 0-4; the pipeline accepts up to 8.
AUG_RATIO = bounded(float, 0, 8)
#: DDIM sampling steps: at most the 1000 diffusion steps SAR-JointNet trains with
#: (``engine.diffusion.schedule.ScheduleConfig.num_train_timesteps``; a test keeps the two equal).
MAX_DDIM_STEPS = 1000
DDIM_STEPS = bounded(int, 1, MAX_DDIM_STEPS)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the training commands to ``dakd``."""
    for add in (_register_finetune, _register_train_jointnet, _register_generate, _register_train, _register_evaluate):
        add(subparsers)


def _register_finetune(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dakd finetune``: the whole pipeline."""
    finetune = subparsers.add_parser(
        "finetune",
        help="fine-tune the detector on labelled data (DAKD end to end) and write a model card",
        description="Train SAR-JointNet on your labelled tiles, generate extra image/soft-label pairs, train "
        "SAROSS-Net on real + generated data and write a model card. Resumable with --resume.",
    )
    _add_data_args(finetune)
    add_out_option(
        finetune,
        "MODEL",
        "output model path (MODEL.safetensors + MODEL.json are written)",
        required=True,
        output_alias=True,
    )
    finetune.add_argument("--name", help="model name in the card (default: the output file name)")
    finetune.add_argument(
        "--preset",
        choices=PRESET_NAMES,
        default="quick",
        help="run size: tiny (CPU, minutes, a smoke test), quick (GPU, ~30 min), standard, paper, "
        "cpu-default (the bundled default model, about an hour on 2 CPU cores)",
    )
    finetune.add_argument(
        "--init", metavar="MODEL", help="start SAROSS-Net from this model card (keeps its normalisation)"
    )
    finetune.add_argument(
        "--aug-ratio",
        type=AUG_RATIO,
        help="generated pairs per real tile (0-8, the paper tested up to 4; 0 skips diffusion)",
    )
    _add_generated_share_arg(finetune)
    _add_gate_args(finetune)
    _add_speckle_arg(finetune)
    finetune.add_argument(
        "--balance",
        type=POSITIVE_FLOAT,
        metavar="B",
        help="balancing factor b (default: computed from the data; 1 turns it off)",
    )
    finetune.add_argument("--hard-labels", action="store_true", help="train generated pairs on argmax labels, not KD")
    finetune.add_argument("--skip", choices=("caft", "conv", "none"), default="caft", help="SAROSS-Net skip blocks")
    finetune.add_argument(
        "--model", dest="segmenter_model", help="SAROSS-Net variant (e.g. saross_net_xs, saross_net_t)"
    )
    _add_preset_overrides(finetune)
    finetune.add_argument(
        "--input-features",
        metavar="LIST",
        help="input channels of a new model, comma-separated (default db,contrast:31,contrast:101,lcn:101; "
        "'db' alone is the plain band); a model started with --init keeps its own",
    )
    finetune.add_argument(
        "--augment",
        choices=("robust", "robust-db", "robust-wide", "basic"),
        default="robust",
        help="augmentations: robust (flips, rotations, resampling, unknown dB scaling, 8-bit exports linear in dB, "
        "amplitude or intensity, speckle filters; the default), robust-db (the same with dB exports only, as "
        "model 0.1.1 was trained), robust-wide (robust with resampling to pixels up to 4x coarser, as the default "
        "model's third stage) or basic (flips, rotations, a 1 dB shift)",
    )
    finetune.add_argument(
        "--inception-weights",
        metavar="PTH",
        help="Inception-v3 weights file for FID (otherwise SAR-FID with the trained encoder)",
    )
    finetune.add_argument("--work-dir", help="checkpoints and generated pairs (default: MODEL.work)")
    finetune.add_argument("--resume", action="store_true", help="continue an interrupted run from --work-dir")
    finetune.add_argument("--overwrite", action="store_true", help="replace an existing model and work folder")
    finetune.add_argument(
        "--recipe",
        metavar="JSON",
        help="a JSON file describing how the training data was made; stored in the card (training.recipe)",
    )
    _add_run_args(finetune)
    finetune.set_defaults(func=run_finetune)


def _add_preset_overrides(finetune: argparse.ArgumentParser) -> None:
    """``dakd finetune``'s options that override the preset's sizes (and ``--retain``)."""
    finetune.add_argument("--jointnet-steps", type=POSITIVE_INT, help="SAR-JointNet training steps (preset override)")
    finetune.add_argument(
        "--steps", dest="segmenter_steps", type=POSITIVE_INT, help="SAROSS-Net training steps (preset override)"
    )
    finetune.add_argument("--ddim-steps", type=DDIM_STEPS, help="DDIM sampling steps, 1-1000 (preset override)")
    finetune.add_argument(
        "--batch-size", type=POSITIVE_INT, help="batch size per device (halved automatically on out-of-memory)"
    )
    finetune.add_argument("--lr", type=POSITIVE_FLOAT, help="SAROSS-Net learning rate (preset override)")
    _add_retain_arg(finetune)
    finetune.add_argument(
        "--crop-px", type=NON_NEGATIVE_INT, help="train on random crops of this size (0: whole tiles)"
    )


def _register_train_jointnet(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dakd train-jointnet``: SAR-JointNet alone."""
    joint = subparsers.add_parser(
        "train-jointnet", help="train SAR-JointNet (joint image/label diffusion) on labelled data"
    )
    _add_data_args(joint)
    add_out_option(joint, "PATH", "weights path (PATH.safetensors + PATH.json)", required=True, output_alias=True)
    joint.add_argument("--variant", choices=("tiny", "small", "base"), default="small", help="UNet size")
    joint.add_argument("--steps", type=POSITIVE_INT, default=4000, help="training steps")
    joint.add_argument("--batch-size", type=POSITIVE_INT, default=16, help="batch size per device")
    joint.add_argument("--lr", type=POSITIVE_FLOAT, default=2e-4, help="learning rate")
    joint.add_argument(
        "--balance", type=POSITIVE_FLOAT, metavar="B", help="balancing factor b (default: computed; 1 = off)"
    )
    joint.add_argument("--balance-stat", choices=("rms", "std"), default="rms", help="statistic b is computed from")
    _add_speckle_arg(joint)
    joint.add_argument(
        "--label-loss",
        choices=("ce", "mse"),
        default="ce",
        help="label branch loss: ce (SAR-JointNet) or mse (plain JointNet)",
    )
    joint.add_argument(
        "--crop-px", type=NON_NEGATIVE_INT, help="train on random crops of this size (default: whole tiles)"
    )
    joint.add_argument(
        "--ema",
        type=bounded(float, 0, 1, below=True),
        default=0.999,
        help="EMA decay of the weights used for sampling (0 turns EMA off)",
    )
    joint.add_argument(
        "--work-dir", help="checkpoint folder (default: PATH.work); an earlier run's needs --resume or --overwrite"
    )
    joint.add_argument("--checkpoint-every", type=POSITIVE_INT, default=500, help="steps between checkpoints")
    joint.add_argument("--resume", action="store_true", help="continue from the checkpoint in --work-dir")
    joint.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing model and start an earlier run's work folder afresh",
    )
    _add_run_args(joint)
    joint.set_defaults(func=run_train_jointnet)


def _register_generate(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dakd generate``: pairs from a trained SAR-JointNet."""
    generate = subparsers.add_parser("generate", help="generate image/soft-label pairs with a trained SAR-JointNet")
    generate.add_argument("--jointnet", required=True, metavar="PATH", help="SAR-JointNet weights from train-jointnet")
    generate.add_argument("--count", type=POSITIVE_INT, required=True, help="number of pairs")
    add_out_option(generate, "DIR", "output data-set folder", required=True)
    generate.add_argument("--steps", type=DDIM_STEPS, default=50, help="DDIM steps (1-1000)")
    generate.add_argument(
        "--eta", type=bounded(float, 0, 1), default=0.0, help="DDIM eta (0 deterministic, 1 ancestral)"
    )
    generate.add_argument("--temperature", type=POSITIVE_FLOAT, default=1.0, help="soft-label softmax temperature")
    generate.add_argument("--batch-size", type=POSITIVE_INT, default=16, help="pairs per batch")
    generate.add_argument(
        "--tile-size",
        type=POSITIVE_INT,
        default=256,
        help="generated tile side in pixels (a multiple of the network's downsampling, e.g. 256)",
    )
    generate.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    _add_data_args(generate, val_share=False, title="labelled data to score the set against (optional)")
    generate.add_argument(
        "--judge",
        metavar="MODEL",
        help="with labelled data: the model that scores the set (default: the bundled default model)",
    )
    _add_run_args(generate, precision=False)
    generate.set_defaults(func=run_generate)


def _register_train(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dakd train``: SAROSS-Net alone."""
    segment = subparsers.add_parser("train", help="train SAROSS-Net on real (+ generated) pairs and write a model card")
    _add_data_args(segment)
    add_out_option(segment, "MODEL", "output model path", required=True, output_alias=True)
    segment.add_argument("--name", help="model name in the card")
    segment.add_argument("--generated", metavar="DIR", help="generated pairs from 'dakd generate'")
    segment.add_argument(
        "--aug-ratio",
        type=AUG_RATIO,
        default=0.0,
        help="generated pairs per real tile per epoch (0-8, the paper tested up to 4)",
    )
    _add_generated_share_arg(segment)
    _add_gate_args(segment)
    segment.add_argument("--hard-labels", action="store_true", help="use argmax of the soft labels with CE, not KD")
    segment.add_argument("--model", default="saross_net_xs", help="SAROSS-Net variant")
    segment.add_argument("--skip", choices=("caft", "conv", "none"), default="caft", help="skip blocks")
    segment.add_argument("--init", metavar="MODEL", help="start from this model card")
    _add_retain_arg(segment)
    segment.add_argument("--steps", type=POSITIVE_INT, default=4000, help="training steps")
    segment.add_argument("--batch-size", type=POSITIVE_INT, default=16, help="batch size per device")
    segment.add_argument("--lr", type=POSITIVE_FLOAT, default=5e-4, help="peak learning rate (AdamW, cosine)")
    segment.add_argument(
        "--crop-px", type=NON_NEGATIVE_INT, help="train on random crops of this size (default: whole tiles)"
    )
    segment.add_argument(
        "--patience", type=POSITIVE_INT, default=8, help="early stopping after this many evaluations without gain"
    )
    segment.add_argument("--checkpoint-every", type=POSITIVE_INT, default=500, help="steps between checkpoints")
    segment.add_argument(
        "--work-dir", help="checkpoint folder (default: MODEL.work); an earlier run's needs --resume or --overwrite"
    )
    segment.add_argument("--resume", action="store_true", help="continue from the checkpoint in --work-dir")
    segment.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing model and its curve pictures, and start an earlier run's work folder afresh",
    )
    _add_run_args(segment)
    segment.set_defaults(func=run_train)


def _register_evaluate(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dakd evaluate``: the paper's metrics of a model."""
    evaluate = subparsers.add_parser("evaluate", help="print the paper's metrics table for a model on labelled data")
    evaluate.add_argument("model", metavar="MODEL", help="model card (.json or .safetensors)")
    _add_data_args(evaluate, val_share=False)
    evaluate.add_argument("--generated", metavar="DIR", help="also report SAR-FID/KID of these generated pairs")
    evaluate.add_argument("--inception-weights", metavar="PTH", help="Inception-v3 weights for FID")
    evaluate.add_argument(
        "--json", metavar="FILE", help="also write the metrics as JSON (refused if FILE exists, unless --overwrite)"
    )
    evaluate.add_argument("--batch-size", type=POSITIVE_INT, default=16, help="tiles per batch")
    add_device_option(evaluate)
    add_report_out_option(evaluate, "the printed tables", "--out or --json FILE")
    evaluate.set_defaults(func=run_evaluate)


def _add_data_args(parser: argparse.ArgumentParser, val_share: bool = True, title: str = "labelled data") -> None:
    group = parser.add_argument_group(title)
    group.add_argument(
        "--data-format",
        choices=DATA_FORMATS,
        help="scenes (rasters + labels, the default with --scene) or an OSD/SOS data-set folder",
    )
    group.add_argument("--scene", action="append", default=[], metavar="RASTER", help="a SAR raster (repeat)")
    group.add_argument(
        "--labels",
        action="append",
        default=[],
        metavar="FILE",
        help="label polygons (GeoPackage/Shapefile): one for all scenes or one per --scene",
    )
    group.add_argument(
        "--label-raster",
        action="append",
        default=[],
        metavar="FILE",
        help="label raster with class ids (255 = ignore), one per --scene",
    )
    group.add_argument("--layer", help="layer name inside the label file")
    group.add_argument("--class-field", default="class", help="polygon field holding the class (default: class)")
    group.add_argument(
        "--class-map",
        action="append",
        default=[],
        metavar="VALUE=CLASS",
        help="map a label value (polygon field or label raster value) to a class name or 'ignore' (repeat), "
        "e.g. slick=oil or 255=oil",
    )
    group.add_argument(
        "--background",
        default="sea",
        help="class of pixels outside all polygons: sea, ignore, or not-oil (any class but oil: for binary masks "
        "and polygons that outline only oil; a 0 in a label raster then means not oil too)",
    )
    group.add_argument("--band", help="raster band number or name (default: the only band, or VV)")
    group.add_argument("--units", default="auto", help=f"raster units: auto, {', '.join(UNITS)}")
    group.add_argument("--dataset", metavar="DIR", help="OSD or SOS data-set folder")
    # None when not given, and kept so (engine.data.datasets.split_folder reads a split folder as it is, a root's
    # DEFAULT_SPLIT folder), so that a given --split is checked against a split folder and dakd evaluate can warn.
    group.add_argument(
        "--split",
        help=f"sub-folder of an OSD/SOS root: {DEFAULT_SPLIT} (the default) or test; a split folder given as --dataset "
        "is read as it is",
    )
    group.add_argument("--limit", type=POSITIVE_INT, help="read at most this many images from a data-set folder")
    group.add_argument(
        "--db-range",
        type=bounded(float),
        nargs=2,
        default=(-35.0, 5.0),
        metavar=("LOW", "HIGH"),
        help="dB clip range; also the span of 8-bit OSD/SOS images (default -35 5)",
    )
    if val_share:
        group.add_argument(
            "--val-share",
            type=bounded(float, 0, 1, below=True),
            default=0.2,
            help="share of scenes kept for validation (0 to below 1)",
        )


def _add_generated_share_arg(parser: argparse.ArgumentParser) -> None:
    """``--generated-share S`` and ``--real-only-steps N``: how much generated pairs weigh, and when they stop."""
    parser.add_argument(
        "--generated-share",
        type=bounded(float, 0, 1),
        metavar="S",
        help="share of a mixed batch's loss that generated pairs carry, 0-1 (default: their share of the batch)",
    )
    parser.add_argument(
        "--real-only-steps",
        type=NON_NEGATIVE_INT,
        default=0,
        metavar="N",
        help="with generated pairs: the last N training steps use real tiles alone, at a tenth of the learning "
        "rate (default 0: off)",
    )


def _add_speckle_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--speckle``: how generated images get their speckle (engine.diffusion.speckle)."""
    parser.add_argument(
        "--speckle",
        choices=("physics", "learned"),
        default="physics",
        help="physics (the default: SAR-JointNet learns speckle-filtered tiles, and generated images get Gamma "
        "speckle with the equivalent number of looks measured on your tiles) or learned (raw tiles: the generator "
        "makes its own speckle, as in version 0.1)",
    )


def _add_gate_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-gate`` and ``--gate-min-agreement``: the consistency gate (engine.train.consistency)."""
    parser.add_argument(
        "--no-gate",
        action="store_true",
        help="train on every generated pair, unjudged (default: a judge model scores each pair and drops those "
        "whose label does not match what the judge sees; a set that fails as a whole is not used)",
    )
    parser.add_argument(
        "--gate-min-agreement",
        type=bounded(float, 0, 1),
        metavar="A",
        help="keep a generated pair when the judge's mean IoU over its foreground classes is at least A (default 0.3)",
    )


def _gate_config(args: argparse.Namespace) -> Any:
    from engine.train.consistency import GateConfig

    changes = {} if args.gate_min_agreement is None else {"min_pair_agreement": args.gate_min_agreement}
    return GateConfig(enabled=not args.no_gate, **changes)


def _add_retain_arg(parser: argparse.ArgumentParser) -> None:
    """``--retain W``, for the commands that take ``--init`` (engine.train.pipeline.starting_model_settings)."""
    parser.add_argument(
        "--retain",
        type=bounded(float, 0),
        metavar="W",
        help="with --init: weight of the distillation from the starting model, so a few labelled scenes do not make "
        "it forget what they do not show (default 1; 0 turns it off)",
    )
    parser.add_argument(
        "--min-gain",
        type=bounded(float, 0),
        metavar="POINTS",
        help="with --init: validation mIoU points a fine-tuned checkpoint must gain over the starting model to "
        "replace it (default 0.5; 0 takes any gain), so that chance differences on a few validation scenes do "
        "not swap a good model for a worse one",
    )


def _add_run_args(parser: argparse.ArgumentParser, precision: bool = True) -> None:
    add_device_option(parser)
    if precision:
        parser.add_argument(
            "--precision",
            default="auto",
            choices=PRECISIONS,
            help="autocast precision (auto: bf16/fp16 on GPUs, fp32 on CPU)",
        )
    parser.add_argument("--seed", type=_seed, default=0, help="random seed")


def _seed(text: str) -> int:
    """``--seed`` as the simulator checks it (``engine.data.synth.scene.check_seed``): -1 crashed numpy."""
    from engine.data.synth.scene import check_seed

    try:
        return check_seed(int(text) if text.strip().lstrip("-").isdigit() else text)
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--seed ")) from None


def data_config_from_args(args: argparse.Namespace, val_share: float | None = None) -> Any:
    """Build a :class:`~engine.train.pipeline.DataConfig` from the shared data options."""
    from engine.data.scenes import LabelledScene, LabelSpec, parse_class_map
    from engine.train.pipeline import DataConfig

    data_format = args.data_format or ("scenes" if args.scene else "osd" if args.dataset else None)
    if data_format is None:
        raise InputError("no labelled data: give --scene RASTER --labels FILE, or --data-format osd|sos --dataset DIR")
    share = args.val_share if val_share is None else val_share
    db_range = checked_db_range(args.db_range)
    if data_format != "scenes":
        if not args.dataset:
            raise InputError(f"--data-format {data_format} needs --dataset DIR")
        return DataConfig(
            format=data_format,
            folder=args.dataset,
            split=args.split,
            limit=args.limit,
            db_range=db_range,
            val_share=share,
        )
    if not args.scene:
        raise InputError("--data-format scenes needs at least one --scene RASTER")
    scenes = []
    band: Any = int(args.band) if args.band and args.band.isdigit() else args.band
    for index, raster in enumerate(args.scene):
        if args.label_raster:
            if len(args.label_raster) != len(args.scene):
                raise InputError(
                    f"{len(args.label_raster)} --label-raster for {len(args.scene)} --scene; give one "
                    "label raster per scene"
                )
            scenes.append(LabelledScene(raster, label_raster=args.label_raster[index], band=band, units=args.units))
        elif args.labels:
            if len(args.labels) not in (1, len(args.scene)):
                raise InputError(
                    f"{len(args.labels)} --labels for {len(args.scene)} --scene; give one label file "
                    "for all scenes or one per scene"
                )
            labels = args.labels[0] if len(args.labels) == 1 else args.labels[index]
            scenes.append(LabelledScene(raster, label_vector=labels, layer=args.layer, band=band, units=args.units))
        else:
            raise InputError(f"{raster}: no labels; add --labels FILE (polygons) or --label-raster FILE")
    spec = LabelSpec(
        class_field=args.class_field, class_map=parse_class_map(args.class_map), background=args.background
    )
    return DataConfig(format="scenes", scenes=tuple(scenes), label_spec=spec, db_range=db_range, val_share=share)


def _print_done(progress: Progress, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    if args.progress == "json":
        progress.emit({"event": "done", **summary})
    elif not getattr(args, "quiet", False):
        print(json.dumps(summary, indent=2, default=str), file=sys.stderr)


def check_variant(name: str | None) -> None:
    """Refuse an unknown SAROSS-Net ``--model`` variant before any work (it was an internal error after the data)."""
    from engine.models import MODEL_VARIANTS

    if name is not None and name not in MODEL_VARIANTS:
        raise InputError(f"--model {name}: no such SAROSS-Net variant; use one of {', '.join(MODEL_VARIANTS)}")


def run_finetune(args: argparse.Namespace, progress: Progress) -> int:
    """``dakd finetune``."""
    from engine.train.pipeline import FinetuneConfig, finetune

    check_variant(args.segmenter_model)
    config = FinetuneConfig(
        output=args.out,
        data=data_config_from_args(args),
        preset=args.preset,
        name=args.name,
        work_dir=args.work_dir,
        init=args.init,
        aug_ratio=args.aug_ratio,
        balance=args.balance,
        soft_labels=not args.hard_labels,
        skip=args.skip,
        segmenter_model=args.segmenter_model,
        jointnet_steps=args.jointnet_steps,
        segmenter_steps=args.segmenter_steps,
        ddim_steps=args.ddim_steps,
        batch_size=args.batch_size,
        crop_px=args.crop_px,
        lr=args.lr,
        retain=args.retain,
        min_gain=args.min_gain,
        generated_share=args.generated_share,
        real_only_steps=args.real_only_steps,
        input_features=_parse_features(args.input_features),
        augment=args.augment,
        gate=_gate_config(args),
        speckle=args.speckle,
        inception_weights=args.inception_weights,
        device=args.device,
        precision=args.precision,
        seed=args.seed,
        resume=args.resume,
        overwrite=args.overwrite,
        recipe=_read_recipe(args.recipe),
    )
    report = finetune(config, progress)
    if report["model_card"] is None:  # a torchrun process other than the first
        return 0
    validation = report["metrics"].get("validation", {})
    _print_done(
        progress,
        args,
        {
            "model": report["model_card"],
            "steps": report["steps"],
            "validation_miou": validation.get("miou"),
            "work_dir": report["work_dir"],
        },
    )
    return 0


def _parse_features(text: str | None) -> tuple[str, ...] | None:
    """``--input-features db,contrast:31`` as a tuple, checked; None when not given."""
    if text is None:
        return None
    from engine.models.inputs import parse_feature

    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise InputError("--input-features: give at least one channel, e.g. db,contrast:31,lcn:101")
    for name in names:
        try:
            parse_feature(name)
        except ValueError as error:
            raise InputError(f"--input-features: {error}") from None
    return names


def _read_recipe(path: str | None) -> dict[str, Any] | None:
    """Return the ``--recipe`` JSON object, or None; a clear one-line error for a missing or malformed file."""
    if path is None:
        return None
    try:
        recipe = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"--recipe {path}: no such file; check the path") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"--recipe {path}: not a readable JSON file ({error}); fix or remove it") from None
    if not isinstance(recipe, dict):
        raise InputError(f"--recipe {path}: must hold a JSON object ({{...}}), not {type(recipe).__name__}")
    return recipe


def _split_data(args: argparse.Namespace, progress: Progress, init: str | None = None) -> tuple[Any, Any]:
    """Return the data config and its tiles split by scene (:func:`engine.train.pipeline.split_data`)."""
    from engine.train.pipeline import split_data

    data = data_config_from_args(args)
    return data, split_data(data, init, args.seed, progress)


def _work_dir(args: argparse.Namespace) -> Path:
    output = Path(args.out).expanduser()
    return Path(args.work_dir) if args.work_dir else output.with_name(output.with_suffix("").name + ".work")


def _check_work_dir(args: argparse.Namespace, kind: EngineFolder, inputs: list[Any], outputs: Iterable[Path]) -> Path:
    """Return ``--work-dir`` (or ``OUT.work``), refusing an earlier run's without --resume or --overwrite.

    As ``dakd finetune`` (engine.io.atomic.check_work_folder); only the first torchrun process checks. A work
    folder at an output's path is refused too (:func:`engine.train.pipeline.check_work_apart`).
    """
    from engine.train.distributed import is_main_process
    from engine.train.pipeline import check_work_apart

    work = _work_dir(args)
    if is_main_process():
        check_work_apart(work, outputs)
        check_work_folder(work, kind, args.resume, args.overwrite, inputs)
    return work


def _clear_work_dir(args: argparse.Namespace, work: Path, kind: EngineFolder, inputs: list[Any]) -> None:
    """With --overwrite (no --resume), empty an earlier run's work folder: after the data checks, before training."""
    from engine.train.distributed import is_main_process

    if is_main_process():
        clear_work_folder(work, kind, args.resume, args.overwrite, inputs)


def run_train_jointnet(args: argparse.Namespace, progress: Progress) -> int:
    """``dakd train-jointnet``."""
    from engine.models.sar_jointnet import jointnet_config
    from engine.train.jointnet import JOINTNET_WORK, JointTrainConfig, jointnet_paths, save_jointnet, train_jointnet
    from engine.train.pipeline import data_inputs, jointnet_loop

    inputs = data_inputs(data_config_from_args(args))
    check_output_files(jointnet_paths(args.out), inputs, args.overwrite)
    work = _check_work_dir(args, JOINTNET_WORK, inputs, jointnet_paths(args.out))
    data, split = _split_data(args, progress)
    config = JointTrainConfig(
        model=jointnet_config(args.variant),
        balance=args.balance,
        balance_stat=args.balance_stat,
        db_range=data.db_range,
        label_loss=args.label_loss,
        crop_px=args.crop_px,
        speckle=args.speckle,
    )
    loop = jointnet_loop(
        args.steps,
        args.batch_size,
        args.lr,
        args.ema or None,
        args.checkpoint_every,
        args.seed,
        args.device,
        args.precision,
    )
    _clear_work_dir(args, work, JOINTNET_WORK, inputs)
    trained, result = train_jointnet(split.train, config, loop, work, progress, args.resume)
    from engine.train.distributed import is_main_process

    if not is_main_process():
        return 0
    weights = save_jointnet(args.out, trained, args.overwrite, inputs)
    _print_done(
        progress,
        args,
        {
            "jointnet": str(weights),
            "balance": trained.balance,
            "steps": result.steps,
            "final_loss": trained.metadata.get("final_loss"),
        },
    )
    return 0


def run_generate(args: argparse.Namespace, progress: Progress) -> int:
    """``dakd generate``: the pairs, scored against labelled tiles when they are given (issue 17)."""
    from engine.data.generated import GENERATED_PAIRS
    from engine.io.atomic import atomic_output_dir, check_output_dir
    from engine.train.jointnet import GenerateConfig, generate_pairs, load_jointnet
    from engine.train.pipeline import data_inputs

    if args.count < 1:
        raise InputError(f"--count {args.count}: give at least 1")
    scoring = bool(args.scene or args.dataset or args.data_format)
    data = data_config_from_args(args, 0.0) if scoring else None
    inputs = [args.jointnet, args.judge, *(data_inputs(data) if data else [])]
    check_output_dir(args.out, args.overwrite, inputs, GENERATED_PAIRS)
    trained = load_jointnet(args.jointnet)
    factor = 2 ** (len(trained.model.config.channel_mults) - 1)  # the UNet halves the tile this many times
    if args.tile_size % factor or args.tile_size < factor:
        raise InputError(
            f"--tile-size {args.tile_size}: this SAR-JointNet needs a multiple of {factor} px, e.g. "
            f"{max(factor, args.tile_size // factor * factor)}"
        )
    split = _scoring_split(args, data, trained.classes, progress) if data else None  # bad data fails before work
    config = GenerateConfig(
        count=args.count,
        steps=args.steps,
        eta=args.eta,
        batch_size=args.batch_size,
        temperature=args.temperature,
        tile_px=args.tile_size,
        seed=args.seed,
        device=args.device,
    )
    with atomic_output_dir(args.out, args.overwrite, inputs, GENERATED_PAIRS) as tmp:
        manifest = generate_pairs(trained, config, tmp, progress)
        consistency = _score_generated(Path(tmp), split, args.device, progress) if split else None
    summary: dict[str, Any] = {
        "out": str(Path(args.out).absolute()),
        "pairs": manifest["count"],
        "sample_grid": str(Path(args.out) / "samples.png"),
    }
    if consistency is not None:
        summary["consistency"] = {key: consistency.get(key) for key in ("passed", "reason", "kept", "dropped")}
    _print_done(progress, args, summary)
    return 0


def _scoring_split(args: argparse.Namespace, data: Any, classes: Any, progress: Progress) -> Any:
    """Load the labelled tiles ``dakd generate`` scores against, with the judge; refuse other classes."""
    from engine.train.pipeline import split_data

    split = split_data(data, args.judge, args.seed, progress)
    ours, theirs = [c.name for c in classes], [c.name for c in split.classes]
    if ours != theirs:
        raise InputError(
            f"the labelled data have the classes {', '.join(theirs)} but the SAR-JointNet {args.jointnet} makes "
            f"{', '.join(ours)}; score it against labels of its own classes"
        )
    return split


def _score_generated(folder: Path, split: Any, device: str, progress: Progress) -> dict[str, Any]:
    """Judge the set just written to ``folder`` and record the scores in its manifest (``consistency``)."""
    from engine.data.generated import MANIFEST, open_generated
    from engine.train.consistency import GateConfig
    from engine.train.pipeline import judge_generated

    generated = open_generated(folder)
    kept, scores = judge_generated(generated, split, GateConfig(), device, progress)
    if kept is None:
        progress.log(
            "warning",
            f"this set fails the consistency gate: {scores['reason']}; dakd train and dakd finetune will not use it",
        )
    manifest = {**generated.manifest, "consistency": scores}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    return scores


def run_train(args: argparse.Namespace, progress: Progress) -> int:
    """``dakd train``: SAROSS-Net with the pipeline's settings (:mod:`engine.train.pipeline`), the sizes given."""
    from engine.data.generated import open_generated
    from engine.modelcard import card_paths
    from engine.train.pipeline import (
        check_real_only_steps,
        input_spec_for,
        retain_weight,
        say_if_init_kept,
        segmenter_config,
        segmenter_loop,
    )
    from engine.train.segmenter import SEGMENTER_WORK, evaluate_model, train_segmenter

    retain_weight(args.retain, bool(args.init))  # refused before any work
    check_real_only_steps(args.real_only_steps, args.steps, args.aug_ratio)
    check_variant(args.model)
    inputs, outputs = _check_model_out(args)
    work = _check_work_dir(args, SEGMENTER_WORK, inputs, outputs)
    data, split = _split_data(args, progress, args.init)
    generated = open_generated(args.generated) if args.generated else None
    if args.aug_ratio > 0 and generated is None:
        raise InputError("--aug-ratio needs --generated DIR (pairs from 'dakd generate')")
    generated, aug_ratio, generation = _gated_pairs(args, split, generated, progress)
    spec = input_spec_for(split.train, data, split.base_card.input_spec if split.base_card else None, args.seed)
    has_init = split.init_model is not None
    config = segmenter_config(
        args.model,
        args.skip,
        aug_ratio,
        not args.hard_labels,
        args.crop_px,
        args.retain,
        has_init,
        args.generated_share,
        real_only_steps=args.real_only_steps if aug_ratio > 0 else 0,
    )
    loop = segmenter_loop(
        args.steps,
        args.batch_size,
        args.lr,
        args.checkpoint_every,
        args.patience,
        has_init,
        args.seed,
        args.device,
        args.precision,
        args.min_gain,
    )
    validation = split.validation if len(split.validation) else None
    _clear_work_dir(args, work, SEGMENTER_WORK, inputs)
    model, result = train_segmenter(
        split.train, validation, generated, spec, config, loop, work, progress, args.resume, split.init_model
    )
    metrics: dict[str, Any] = {}
    if validation is not None:
        metrics["validation"] = evaluate_model(model, validation, spec, "cpu")
    from engine.train.distributed import is_main_process

    if not is_main_process():  # under torchrun only the first process writes the model
        return 0
    say_if_init_kept(split, result, card_paths(args.out)[1].stem, progress)
    card = _write_train_card(args, model, split, spec, result, config, loop, metrics, generation, inputs)
    _print_done(
        progress,
        args,
        {"model": str(card), "steps": result.steps, "validation_miou": metrics.get("validation", {}).get("miou")},
    )
    return 0


def _gated_pairs(
    args: argparse.Namespace, split: Any, generated: Any, progress: Progress
) -> tuple[Any, float, dict[str, Any] | None]:
    """``dakd train``'s generated pairs through the consistency gate, as ``dakd finetune`` judges them.

    Returns the kept pairs (None when the set failed), the ``--aug-ratio`` scaled to them, and the
    card's ``generation`` record (None without generated pairs).
    """
    if generated is None or args.aug_ratio == 0:
        return generated, args.aug_ratio, None
    from engine.train.pipeline import gate_for_training

    generation: dict[str, Any] = {"folder": str(args.generated), "pairs": len(generated)}
    kept, aug_ratio = gate_for_training(
        generated, split, _gate_config(args), args.device, generation, args.aug_ratio, progress
    )
    return kept, aug_ratio, generation


def _check_model_out(args: argparse.Namespace) -> tuple[list[Any], list[Path]]:
    """Refuse ``dakd train``'s ``--out`` before any work; return what the run reads and the files it writes.

    Refused: an existing card or curve picture (``MODEL.loss.png``, ``MODEL.miou.png``) without --overwrite, or
    an input.
    """
    from engine.modelcard import card_paths
    from engine.train.pipeline import data_inputs
    from engine.train.segmenter import curve_paths

    inputs = [*data_inputs(data_config_from_args(args)), args.init, args.generated]
    weights, card = card_paths(args.out)
    outputs = [card, weights, *curve_paths(card.with_suffix(""))]
    check_output_files(outputs, inputs, args.overwrite)
    return inputs, outputs


def _write_train_card(
    args: argparse.Namespace,
    model: Any,
    split: Any,
    spec: Any,
    result: Any,
    config: Any,
    loop: Any,
    metrics: dict[str, Any],
    generation: dict[str, Any] | None,
    inputs: list[Any],
) -> Path:
    """Write ``dakd train``'s model card and curves, recording the data and the settings it ran with.

    Existing files are replaced only with --overwrite (checked up front, and again as they are written).
    """
    from engine.train.segmenter import write_model_card

    training = {
        "pipeline": "DAKD (dakd train)",
        "data": {"train": split.train.summary(), "validation": split.validation.summary()},
        "generated": args.generated,
        "generation": generation,  # as in dakd finetune's card: the consistency scores and pairs dropped
        "segmenter": config.to_dict(),  # as dakd finetune records it: loss weights, retain, generated share
        "loop": loop.to_dict(),
    }
    name = args.name or Path(args.out).with_suffix("").name
    return write_model_card(
        args.out,
        model,
        name,
        split.classes,
        spec,
        result,
        training,
        metrics,
        base_card=split.base_card,
        overwrite=args.overwrite,
        inputs=inputs,
    )


def run_evaluate(args: argparse.Namespace, progress: Progress) -> int:
    """``dakd evaluate``: the paper's metrics table on labelled data (printed, or written to ``--out FILE``)."""
    from engine.modelcard import card_paths
    from engine.train.pipeline import data_inputs

    inputs = [args.model, *card_paths(args.model), *data_inputs(data_config_from_args(args, 0.0)), args.generated]
    if args.json:  # before the evaluation: never after it, over the model card it was given or an earlier file
        if args.out and real_path(args.json) == real_path(args.out):
            raise InputError(f"--json {args.json} and --out {args.out} name the same file; give each its own")
        check_output_files([args.json], inputs, args.overwrite, "--json")
    with report_to_out(args, inputs):  # --out FILE: checked here, written after the evaluation
        return _evaluate_and_print(args, progress, inputs)


def _scored_folder(data: Any) -> Path | None:
    """Return the data-set folder ``dakd evaluate`` scores (None for scenes), for its first line.

    ``--split`` defaults to train (``data.split`` None), so an evaluation without it scores the tiles a model was
    trained on and looks far better than it is; when the root also holds a test split, one warning line says so.
    """
    from engine.data.datasets import DATASETS, split_folder
    from engine.data.folders import find_subfolder

    if data.format not in DATASETS:
        return None
    folder = split_folder(data.format, data.folder, data.split)
    root = Path(data.folder)
    held_out = find_subfolder(root, ("test",)) if data.split is None and folder != root else None
    if held_out is not None:
        log.warning(
            "scoring the %s split (%s), as --split defaults to %s; pass --split test to score the held-out tiles in %s",
            DEFAULT_SPLIT,
            folder,
            DEFAULT_SPLIT,
            held_out,
        )
    return folder


def _evaluate_and_print(args: argparse.Namespace, progress: Progress, inputs: list[Any]) -> int:
    """Evaluate ``dakd evaluate``'s model and print the tables (see :func:`run_evaluate`)."""
    from engine.classes import OIL_VS_REST
    from engine.data.generated import open_generated
    from engine.data.tiles import can_fold, folding_note
    from engine.device import select_device
    from engine.modelcard import load_model
    from engine.train.metrics import metrics_table
    from engine.train.pipeline import load_tiles
    from engine.train.segmenter import evaluate_model

    device = select_device(args.device).device
    model, card = load_model(args.model, device)
    generated = None
    if args.generated:  # read by the last step: a wrong folder or weights file is refused before the evaluation
        from engine.train.fid import check_inception_weights

        generated = open_generated(args.generated)
        check_inception_weights(args.inception_weights)
    data = data_config_from_args(args, val_share=0.0)
    tiles = load_tiles(data, progress)
    if not can_fold(tiles.classes, card.classes):
        raise InputError(
            f"the data's classes ({', '.join(c.name for c in tiles.classes)}) do not fit model {card.name!r} "
            f"({', '.join(c.name for c in card.classes)}); evaluate it on labels with its classes, binary oil labels "
            "or five-class labels for a binary model"
        )
    scored = _scored_folder(data)  # after the checks: bad input gets its one error line, and no warning
    folding = folding_note(tiles.classes, card.classes)
    tiles = tiles.with_classes(card.classes)
    result = evaluate_model(model, tiles, card.input_spec, device, args.batch_size, progress)
    result["folding"] = folding or result.get("folding")
    if generated is not None:
        from engine.train.fid import score_generated_set

        result["generation"] = score_generated_set(
            tiles.images_db,
            generated,
            model,
            card.input_spec,
            args.inception_weights,
            device=device,
        )
    source = f" of {scored}" if scored else ""
    print(f"model {card.name} on {len(tiles)} tiles{source} ({result['pixels']} labelled pixels)")
    if result["folding"]:
        print(f"folding: {result['folding']}")
    print(metrics_table(result, OIL_VS_REST if "exact" in result else card.classes))
    exact_rows = result.get("exact", {}).get("confusion", [])
    if any(sum(row) for row, c in zip(exact_rows, card.classes) if c.name != "oil"):  # not only oil is exact
        print(f"\n{len(card.classes)} classes on the exactly labelled pixels ({result['exact']['pixels']})")
        print(metrics_table(result["exact"], card.classes))
    if "generation" in result:
        print(json.dumps(result["generation"], indent=2))
    if args.json:
        from engine.io.atomic import atomic_file

        with atomic_file(args.json, args.overwrite, inputs, "--json") as tmp:
            tmp.write_text(json.dumps(result, indent=2, default=str))
    return 0
