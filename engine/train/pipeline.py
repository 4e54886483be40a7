"""DAKD end to end (``dakd finetune``): labelled data in, a SAROSS-Net model card out.

Stages, each resumable from ``work_dir``::

    data      labelled scenes / OSD / SOS folder -> 256² tiles -> split by scene (train / validation)
    jointnet  SAR-JointNet trained on the training tiles (b computed unless given)   [skipped at aug 0]
    generate  aug_ratio × (training tiles) pairs with soft labels, plus a sample grid  [skipped at aug 0]
    segmenter SAROSS-Net on real (CE + Dice) and generated (KD) samples, best by validation mIoU
    evaluate  paper metrics on validation; SAR-FID/KID of the generated images (or Inception FID)
    card      weights + JSON card (metrics, data summary, settings) + loss/mIoU curve PNGs

Presets fix sizes and step counts; the paper gives none of these (optimiser, steps, batch, epochs
are "not found"), so every preset is our choice [I]. ``tiny`` runs in minutes on a CPU and is for
trying the pipeline, not for a useful model.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.classes import BINARY_CLASSES, NOT_OIL, SegClass
from engine.config import ConfigBase
from engine.contract import PRESETS as PRESET_NAMES
from engine.data.datasets import DATASETS, load_dataset, split_folder
from engine.data.generated import GENERATED_PAIRS, open_generated
from engine.data.osd import DEFAULT_DB_RANGE
from engine.data.samples import AUGMENTS
from engine.data.scenes import LabelledScene, LabelSpec, load_labelled_scenes
from engine.data.split import split_by_scene
from engine.data.tiles import TileSet, can_fold, fit_normalisation, is_binary
from engine.detectors.base import InputSpec
from engine.device import select_device
from engine.errors import InputError, ModelError, OutputError
from engine.io.atomic import (
    EngineFolder,
    atomic_file,
    atomic_output_dir,
    check_output_files,
    check_work_folder,
    clear_work_folder,
    real_path,
)
from engine.models.sar_jointnet import jointnet_config
from engine.progress import Progress
from engine.train import distributed
from engine.train.checkpoint import check_fingerprint
from engine.train.consistency import GateConfig, gate_generated
from engine.train.fid import check_inception_weights, score_generated_set
from engine.train.jointnet import (
    JOINTNET_WORK,
    GenerateConfig,
    JointTrainConfig,
    TrainedJointNet,
    generate_pairs,
    jointnet_fingerprint,
    load_jointnet,
    save_jointnet,
    train_jointnet,
)
from engine.train.loop import LoopConfig, TrainResult, comparable_fingerprint
from engine.train.losses import LossWeights
from engine.train.segmenter import (
    SEGMENTER_WORK,
    SegmenterConfig,
    curve_paths,
    evaluate_model,
    train_segmenter,
    write_model_card,
)

log = logging.getLogger("dakd")

DATA_FORMATS = ("scenes", "osd", "sos")
#: A fine-tune's work folder (checkpoints, the SAR-JointNet, generated pairs, the report): the only kind of
#: --work-dir that --overwrite empties. Known by its names alone, since an interrupted run leaves any part of it.
FINETUNE_WORK = EngineFolder(
    "fine-tune work folder",
    (
        "report.json",
        "jointnet.safetensors",
        "jointnet.json",
        *(f"jointnet/{name}" for name in JOINTNET_WORK.names),
        *(f"segmenter/{name}" for name in SEGMENTER_WORK.names),
        *(f"generated/{name}" for name in GENERATED_PAIRS.names),
    ),
)


@dataclass(frozen=True)
class Preset:
    """Sizes and step counts of one pipeline run (all [I]: the paper does not give them)."""

    jointnet_variant: str
    jointnet_steps: int
    jointnet_batch: int
    jointnet_lr: float
    ddim_steps: int
    aug_ratio: float
    segmenter_model: str
    segmenter_steps: int
    segmenter_batch: int
    segmenter_lr: float
    early_stop_patience: int | None
    checkpoint_every: int
    generate_batch: int = 16
    crop_px: int | None = None
    description: str = ""


_PRESET_SIZES: dict[str, Preset] = {
    "tiny": Preset(
        jointnet_variant="tiny",
        jointnet_steps=30,
        jointnet_batch=4,
        jointnet_lr=2e-3,
        ddim_steps=6,
        aug_ratio=1.0,
        segmenter_model="saross_net_xs",
        segmenter_steps=30,
        segmenter_batch=4,
        segmenter_lr=1e-3,
        early_stop_patience=None,
        checkpoint_every=10,
        generate_batch=8,
        crop_px=64,
        description="CPU, a few minutes: checks the pipeline end to end on 64 px crops; the model is not useful",
    ),
    "quick": Preset(
        jointnet_variant="small",
        jointnet_steps=4000,
        jointnet_batch=16,
        jointnet_lr=2e-4,
        ddim_steps=50,
        aug_ratio=2.0,
        segmenter_model="saross_net_xs",
        segmenter_steps=4000,
        segmenter_batch=16,
        segmenter_lr=5e-4,
        early_stop_patience=8,
        checkpoint_every=500,
        generate_batch=32,
        description="one GPU, about 15-30 minutes (not timed here: no GPU was available)",
    ),
    "standard": Preset(
        jointnet_variant="base",
        jointnet_steps=30000,
        jointnet_batch=32,
        jointnet_lr=1e-4,
        ddim_steps=50,
        aug_ratio=4.0,
        segmenter_model="saross_net_t",
        segmenter_steps=20000,
        segmenter_batch=16,
        segmenter_lr=3e-4,
        early_stop_patience=10,
        checkpoint_every=1000,
        generate_batch=64,
        description="one GPU, several hours (estimate)",
    ),
    "paper": Preset(
        jointnet_variant="base",
        jointnet_steps=100000,
        jointnet_batch=32,
        jointnet_lr=1e-4,
        ddim_steps=100,
        aug_ratio=4.0,
        segmenter_model="saross_net_t",
        segmenter_steps=40000,
        segmenter_batch=16,
        segmenter_lr=3e-4,
        early_stop_patience=15,
        checkpoint_every=2000,
        generate_batch=64,
        description="the paper's setting as far as it is known (T encoder, CAFT, 4x generated data); about a "
        "day on one GPU (estimate)",
    ),
    "cpu-default": Preset(
        jointnet_variant="tiny",
        jointnet_steps=1500,
        jointnet_batch=8,
        jointnet_lr=1e-3,
        ddim_steps=10,
        aug_ratio=0.0,  # CPU-sized SAR-JointNet pairs made the model worse (docs/model.md); --aug-ratio turns them on
        segmenter_model="saross_net_xs",
        segmenter_steps=4000,
        segmenter_batch=8,
        segmenter_lr=5e-4,
        early_stop_patience=None,
        checkpoint_every=250,
        generate_batch=16,
        crop_px=128,
        description="the bundled default model's recipe (make default-model): SAROSS-Net-XS on 128 px crops, no "
        "generated pairs (--aug-ratio 0.25 adds a tiny SAR-JointNet's); about an hour on 2 CPU cores for a few "
        "thousand tiles",
    ),
}
#: The presets by name, in the order of :data:`engine.contract.PRESETS` (which names them).
PRESETS: dict[str, Preset] = {name: _PRESET_SIZES[name] for name in PRESET_NAMES}


@dataclass(frozen=True)
class DataConfig(ConfigBase):
    """Where the labelled data comes from.

    Attributes:
        format: ``scenes`` (rasters + label polygons/rasters), ``osd`` or ``sos`` (data-set folders).
        scenes: the labelled scenes (``scenes`` format).
        label_spec: class field, value mapping, background (``scenes`` format).
        folder: the data-set folder (``osd`` / ``sos``).
        split: sub-folder of an OSD/SOS root (``train``, ``test``); None (not given): a split folder as it is, else
            the root's ``train`` (:data:`engine.data.datasets.DEFAULT_SPLIT`).
        limit: read at most this many images from a folder.
        db_range: dB clip range (and the span of 8-bit images in OSD/SOS folders).
        val_share: share of scenes kept for validation.
        min_valid_fraction: tiles with less valid area are skipped.
    """

    format: str = "scenes"
    scenes: tuple[LabelledScene, ...] = ()
    label_spec: LabelSpec = field(default_factory=LabelSpec)
    folder: str | None = None
    split: str | None = None
    limit: int | None = None
    db_range: tuple[float, float] = DEFAULT_DB_RANGE
    val_share: float = 0.2
    min_valid_fraction: float = 0.5


@dataclass(frozen=True)
class FinetuneConfig(ConfigBase):
    """One ``dakd finetune`` run. Fields left None take the preset's value.

    Attributes:
        output: model path (``NAME`` → ``NAME.safetensors`` + ``NAME.json``).
        data: the labelled data.
        preset: ``tiny``, ``quick``, ``standard``, ``paper`` or ``cpu-default``.
        name: model name in the card (default: the output file name).
        work_dir: checkpoints, SAR-JointNet and generated pairs (default: ``OUTPUT.work``).
        init: start SAROSS-Net from this model card (its normalisation is kept).
        aug_ratio: generated pairs per real training tile (0 skips SAR-JointNet).
        balance: b (None: computed; 1: off).
        soft_labels: KD on soft labels (True) or CE on their argmax.
        skip: SAROSS-Net skip blocks (``caft``, ``conv``, ``none``).
        segmenter_model: SAROSS-Net variant.
        jointnet_steps, segmenter_steps, ddim_steps, batch_size: preset overrides.
        lr: SAROSS-Net learning rate override.
        min_gain: with ``init``: validation points a checkpoint must gain over the starting model to replace
            it (None: :data:`DEFAULT_MIN_GAIN`; 0: any gain).
        retain: weight of the distillation from the ``init`` model on what the labels do not say
            (:func:`engine.train.losses.retention_loss`); None: :data:`DEFAULT_RETAIN` with ``init``, else 0.
        generated_share: share of the supervision that generated pairs carry in a mixed batch (None: their
            share of the batch; :func:`engine.train.losses.generated_share`).
        real_only_steps: with generated pairs, the last this many SAROSS-Net steps train on real tiles alone
            (:attr:`engine.train.segmenter.SegmenterConfig.real_only_steps`; 0: off).
        input_features: input channels of a new model (None: :data:`engine.models.inputs.DEFAULT_INPUT_FEATURES`);
            a model started from ``init`` keeps its own, and asking for others is an error.
        augment: ``robust`` (:data:`engine.data.samples.ROBUST_AUGMENT`), ``robust-db`` or ``basic`` (flips,
            rotations, ±1 dB).
        gate: the consistency gate of generated pairs (:mod:`engine.train.consistency`).
        speckle: how generated images get speckle: ``physics`` or ``learned`` (:mod:`engine.diffusion.speckle`).
        inception_weights: Inception-v3 weights for FID (else SAR-FID with the trained encoder).
        device: ``auto``, ``cpu``, ``cuda``, ``mps``.
        precision: ``auto``, ``fp32``, ``bf16``, ``fp16``.
        seed: seeds everything.
        resume: continue an interrupted run from ``work_dir``.
        overwrite: replace an existing output model.
        recipe: how the training data was made and the command that ran (stored as ``training.recipe``
            in the card, so a model says how to rebuild it; ``make default-model`` fills it).
    """

    output: str
    data: DataConfig
    preset: str = "quick"
    name: str | None = None
    work_dir: str | None = None
    init: str | None = None
    aug_ratio: float | None = None
    balance: float | None = None
    soft_labels: bool = True
    skip: str = "caft"
    segmenter_model: str | None = None
    jointnet_steps: int | None = None
    segmenter_steps: int | None = None
    ddim_steps: int | None = None
    batch_size: int | None = None
    crop_px: int | None = None
    lr: float | None = None
    retain: float | None = None
    min_gain: float | None = None
    generated_share: float | None = None
    real_only_steps: int = 0
    input_features: tuple[str, ...] | None = None
    augment: str = "robust"
    gate: GateConfig = field(default_factory=GateConfig)
    speckle: str = "physics"
    inception_weights: str | None = None
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    resume: bool = False
    overwrite: bool = False
    recipe: dict[str, Any] | None = None


#: Weight of the retention term when fine-tuning from ``--init`` (bench/finetune_binary.py measures it).
DEFAULT_RETAIN = 1.0
#: Validation points a run from ``--init`` must gain over its starting model to replace it
#: (:attr:`engine.train.loop.LoopConfig.min_gain_over_start`; bench/finetune_binary.py measures it).
DEFAULT_MIN_GAIN = 0.5


def retain_weight(retain: float | None, has_init: bool) -> float:
    """Return the retention weight a run uses: the one asked for, else :data:`DEFAULT_RETAIN` from a model, else 0."""
    if not has_init:
        if retain:
            raise InputError(f"--retain {retain:g}: keeps what the --init model knows; pass --init MODEL or drop it")
        return 0.0
    return DEFAULT_RETAIN if retain is None else retain


def starting_model_settings(retain: float | None, has_init: bool) -> dict[str, Any]:
    """:class:`SegmenterConfig` fields of a run that starts from a trained model (``--init``), else the defaults.

    Such a run distils from its starting model (``retain``) and keeps its batch-norm statistics
    (``freeze_norm``): measured in ``bench/finetune_binary.py``, a few hundred tiles otherwise make it
    forget, whatever the learning rate.
    """
    return {"loss": LossWeights(retain=retain_weight(retain, has_init)), "freeze_norm": has_init}


def _describe(preset: str, tiles: int, aug_ratio: float) -> str:
    """Return the card's one-line description, naming generated pairs only when they took part.

    A card must not claim DAKD augmentation that did not happen (the bundled model trained without it).
    """
    if aug_ratio > 0:
        pairs = f"{aug_ratio:g}x generated pairs"
        return f"SAROSS-Net fine-tuned with DAKD ({preset} preset) on {tiles} tiles plus {pairs}"
    return f"SAROSS-Net fine-tuned ({preset} preset) on {tiles} labelled tiles, without generated pairs (aug ratio 0)"


def get_preset(name: str) -> Preset:
    """Return a preset by name; the error lists the valid ones."""
    if name not in PRESETS:
        raise InputError(f"--preset {name!r}: use one of {', '.join(PRESETS)}")
    return PRESETS[name]


def load_tiles(data: DataConfig, progress: Progress | None = None) -> TileSet:
    """All labelled tiles of ``data`` (before the split)."""
    if data.format == "scenes":
        return load_labelled_scenes(
            data.scenes,
            data.label_spec,
            data.db_range[0],
            min_valid_fraction=data.min_valid_fraction,
            progress=progress,
        )
    if data.folder is None:
        raise InputError(f"--data-format {data.format} needs --dataset FOLDER")
    if data.format not in DATASETS:
        raise InputError(f"--data-format {data.format!r}: use one of {', '.join(DATA_FORMATS)}")
    # (bandit B615) engine.data.datasets.load_dataset reads a local folder; bandit takes it for Hugging Face's.
    return load_dataset(  # nosec B615
        data.format, data.folder, data.split, db_range=data.db_range, limit=data.limit, progress=progress
    )


def input_spec_for(train_tiles: TileSet, data: DataConfig, base: InputSpec | None, seed: int) -> InputSpec:
    """Return the model input spec: ``base`` (from ``--init``), else the dB range and a fitted mean/std."""
    if base is not None:
        return base
    mean, std = fit_normalisation(train_tiles, data.db_range, seed=seed)
    return InputSpec(
        units="db",
        db_range=(data.db_range[0], data.db_range[1]),
        mean=round(mean, 4),
        std=round(std, 4),
        tile_size=int(train_tiles.images_db.shape[-1]),
    )


def classes_to_train(tiles: TileSet) -> tuple[SegClass, ...]:
    """Return the classes of a model trained from scratch on ``tiles``: theirs, or oil / background.

    Labels that name only oil and "not oil" (oil-only polygons with ``--background not-oil``) hold
    nothing that could teach sea, look-alike, ship and land apart, so a fresh model is binary.
    """
    counts = tiles.class_pixel_counts()
    if is_binary(tiles.classes) or not counts.get(NOT_OIL.name):
        return tiles.classes
    return tiles.classes if any(counts[c.name] for c in tiles.classes if c.name != "oil") else BINARY_CLASSES


def load_init(init: str | None, tiles: TileSet) -> tuple[Any, Any, TileSet]:
    """Return the ``--init`` model and card (or ``None, None``) and ``tiles`` with the classes of the model to train.

    The one place labels meet the model's classes (:meth:`TileSet.with_classes`): binary labels on a
    five-class model become oil and "not oil" (trained with the partial-label loss, never as sea),
    five-class labels on a binary model fold into oil / not oil, and without ``--init`` the classes
    come from :func:`classes_to_train`. A model whose classes do not fold is refused up front; without
    the check a mismatch fails only at the first loss step or, worse, after the whole training.
    """
    if not init:
        return None, None, tiles.with_classes(classes_to_train(tiles))
    from engine.modelcard import load_model

    model, card = load_model(init)
    if not can_fold(tiles.classes, card.classes):
        raise ModelError(
            f"--init {init}: the model's classes ({', '.join(c.name for c in card.classes)}) do not fit the labels' "
            f"({', '.join(c.name for c in tiles.classes)}); start from a model with the same classes, a binary "
            "oil model, or one with an oil class for binary labels"
        )
    folded = tiles.with_classes(card.classes)
    named = {name for name, count in folded.class_pixel_counts().items() if count}
    if len(card.classes) > 2 and named <= {"sea", "oil"}:
        log.warning(
            "the labels name only sea and oil: if their background means 'not oil' (a binary mask, oil-only "
            "polygons), pass --background not-oil, or the model is taught to call everything else sea"
        )
    return model, card, folded


#: Warm-up of the learning rate: a twentieth of the run, at most this many steps (SAROSS-Net, SAR-JointNet).
SEGMENTER_WARMUP_CAP = 500
JOINTNET_WARMUP_CAP = 1000


def warmup_steps(steps: int, cap: int = SEGMENTER_WARMUP_CAP) -> int:
    """Return the linear warm-up of a run of ``steps``: a twentieth of it, at most ``cap`` steps ([I])."""
    return min(cap, steps // 20)


def segmenter_loop(
    steps: int,
    batch_size: int,
    lr: float,
    checkpoint_every: int,
    patience: int | None,
    has_init: bool,
    seed: int,
    device: str,
    precision: str,
    min_gain: float | None = None,
) -> LoopConfig:
    """Return SAROSS-Net's loop settings (``dakd finetune`` and ``dakd train`` build them here).

    A run from ``--init`` validates its starting model first; a checkpoint replaces it only when it scores
    ``min_gain`` points more (None: :data:`DEFAULT_MIN_GAIN`).
    """
    return LoopConfig(
        max_steps=steps,
        batch_size=batch_size,
        lr=lr,
        warmup_steps=warmup_steps(steps),
        checkpoint_every=checkpoint_every,
        early_stop_patience=patience,
        evaluate_first=has_init,  # the --init model itself is a candidate for the best weights
        min_gain_over_start=(DEFAULT_MIN_GAIN if min_gain is None else min_gain) if has_init else 0.0,
        seed=seed,
        device=device,
        precision=precision,
    )


def jointnet_loop(
    steps: int,
    batch_size: int,
    lr: float,
    ema_decay: float | None,
    checkpoint_every: int,
    seed: int,
    device: str,
    precision: str,
) -> LoopConfig:
    """Return SAR-JointNet's loop settings (``dakd finetune`` and ``dakd train-jointnet`` build them here)."""
    return LoopConfig(
        max_steps=steps,
        batch_size=batch_size,
        lr=lr,
        warmup_steps=warmup_steps(steps, JOINTNET_WARMUP_CAP),
        ema_decay=ema_decay,
        checkpoint_every=checkpoint_every,
        seed=seed,
        device=device,
        precision=precision,
    )


def segmenter_config(
    model: str,
    skip: str,
    aug_ratio: float,
    soft_labels: bool,
    crop_px: int | None,
    retain: float | None,
    has_init: bool,
    generated_share: float | None = None,
    **extra: Any,
) -> SegmenterConfig:
    """Return SAROSS-Net's training settings, with those of a run from a trained model (``--init``)."""
    settings = starting_model_settings(retain, has_init)
    settings["loss"] = replace(settings["loss"], generated_share=generated_share)
    return SegmenterConfig(
        model=model, skip=skip, aug_ratio=aug_ratio, soft_labels=soft_labels, crop_px=crop_px, **extra, **settings
    )


@dataclass
class DataSplit:
    """Labelled tiles split by scene, with the classes of the model to train and the ``--init`` model."""

    train: TileSet
    validation: TileSet
    classes: tuple[SegClass, ...]
    init_model: Any = None
    base_card: Any = None


def split_data(data: DataConfig, init: str | None, seed: int, progress: Progress | None = None) -> DataSplit:
    """Load the tiles, fit their classes to the ``--init`` model (:func:`load_init`) and split them by scene.

    Raises:
        InputError: no data, or no training tiles left after the validation split.
    """
    init_model, base_card, tiles = load_init(init, load_tiles(data, progress))
    train_tiles, val_tiles = split_by_scene(tiles, data.val_share, seed)  # copies: ``tiles`` is dropped on return
    if len(train_tiles) == 0:
        raise InputError("no training tiles left after the validation split; lower --val-share or add scenes")
    return DataSplit(train_tiles, val_tiles, tiles.classes, init_model, base_card)


def finetune(config: FinetuneConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Run the whole DAKD pipeline; returns the run report (also written to ``work_dir/report.json``).

    Under ``torchrun`` the processes join one group for the whole run (the stages meet at barriers)
    and leave it at the end, also on error.

    Raises:
        InputError, ModelError, OutputError: bad data, models or output paths (one-line messages).
        Cancelled: the user stopped the run; ``--resume`` continues it.
    """
    started = time.monotonic()
    progress = progress or Progress()
    preset = get_preset(config.preset)
    retain_weight(config.retain, bool(config.init))  # a --retain without --init is refused before any work
    if config.crop_px is not None:
        preset = replace(preset, crop_px=config.crop_px or None)
    output, work = _check_outputs(config)
    check_inception_weights(config.inception_weights)  # used by the last step: refused before any work
    if not distributed.is_main_process():  # torchrun: one process reports progress and checks the outputs
        progress = Progress(None, progress.cancel)
    with distributed.process_group(select_device(config.device).device):
        split = split_data(config.data, config.init, config.seed, progress)
        input_features = _input_features(config, split.base_card)  # a mismatch with --init is refused before work
        spec = input_spec_for(
            split.train, config.data, split.base_card.input_spec if split.base_card else None, config.seed
        )
        progress.log(
            "info",
            f"{len(split.train)} training tiles from {len(split.train.scenes())} scene(s), "
            f"{len(split.validation)} validation tiles from {len(split.validation.scenes())} scene(s)",
        )
        aug_ratio = _aug_ratio(config, preset, split.train, progress)
        check_real_only_steps(config.real_only_steps, config.segmenter_steps or preset.segmenter_steps, aug_ratio)
        if distributed.is_main_process():  # --overwrite starts afresh: no checkpoint of the earlier run is left
            clear_work_folder(work, FINETUNE_WORK, config.resume, config.overwrite, run_inputs(config))
            if config.resume and not work.exists():  # allowed (a script resumes each stage), but a typo must show
                progress.log("warning", f"--resume: no work folder {work} to continue; starting a new run there")
        with _work_folder(work):  # only now: bad data or options above must leave nothing behind
            generated, generation, all_generated = None, None, None
            if aug_ratio > 0:
                all_generated, generation = _generate(config, preset, split.train, work, aug_ratio, progress)
                generated, aug_ratio = gate_for_training(
                    all_generated, split, config.gate, config.device, generation, aug_ratio, progress
                )
            model, result, seg_config, seg_loop = _train_segmenter(
                config, preset, split, generated, spec, input_features, aug_ratio, work, progress
            )
            say_if_init_kept(split, result, output.name, progress)
            metrics = _evaluate(config, model, result, split, all_generated, spec, progress)
    training = _training_record(config, split, generation, seg_config, seg_loop, started)
    report = {
        "model_card": None,
        "work_dir": str(work),
        "metrics": metrics,
        "training": training,
        "steps": result.steps,
        "best_step": result.best_step,
    }
    if not distributed.is_main_process():
        return report
    card_path = write_model_card(
        output,
        model,
        config.name or output.name,
        split.classes,
        spec,
        result,
        training,
        metrics,
        description=_describe(config.preset, len(split.train), aug_ratio),
        base_card=split.base_card,
        overwrite=config.overwrite,  # checked again as written: a file made there during the run is not replaced
        inputs=run_inputs(config),
    )
    report["model_card"] = str(card_path)
    with atomic_file(work / "report.json", option="--work-dir") as tmp:
        tmp.write_text(json.dumps(report, indent=2, default=_json_default))
    return report


@contextlib.contextmanager
def _work_folder(work: Path) -> Iterator[None]:
    """Make the work folder for the block's stages, and remove it again if the block fails having left it empty.

    A run that stops before its first file (too little data for SAR-JointNet, say) would otherwise leave an empty
    ``MODEL.work`` behind. Only the folders this run made (the first torchrun process), and only while empty:
    ``rmdir`` refuses any other, so a folder that existed before, or holds a checkpoint to resume, stays.
    """
    made = []
    missing = work.absolute()
    while distributed.is_main_process() and not missing.exists() and missing.parent != missing:
        made.append(missing)  # the deepest first
        missing = missing.parent
    work.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _check_outputs(config: FinetuneConfig) -> tuple[Path, Path]:
    """Return the output model path (without suffix) and the work folder, refusing ones that may not be used.

    Only the first torchrun process checks (the others would race it); an existing work folder is
    emptied later, once the data is known to be good.
    """
    output = Path(config.output).expanduser()
    output = output.with_suffix("") if output.suffix in (".json", ".safetensors") else output
    card_json = output.with_name(output.name + ".json")
    work = Path(config.work_dir).expanduser() if config.work_dir else output.with_name(output.name + ".work")
    if not distributed.is_main_process():
        return output, work
    inputs = run_inputs(config)
    outputs = [card_json, output.with_name(output.name + ".safetensors"), *curve_paths(output)]
    check_output_files(outputs, inputs, config.overwrite)
    check_work_apart(work, outputs)
    check_work_folder(work, FINETUNE_WORK, config.resume, config.overwrite, inputs)  # emptied once the data is checked
    return output, work


def check_work_apart(work: Path, outputs: Iterable[Path]) -> None:
    """Refuse, before any work, a ``--work-dir`` that is an output file's path (``--out M.json --work-dir M.json``).

    The work folder is made before the first step, so the output written at the end found a folder in its place:
    the whole run trained, then failed on "is a folder, not a file; choose another --out".

    Raises:
        OutputError: the work folder is an output file's path.
    """
    folder = real_path(work)
    for output in outputs:
        if real_path(output) == folder:
            raise OutputError(f"--work-dir {work} is the path of the output {output}; choose another --work-dir")


def _aug_ratio(config: FinetuneConfig, preset: Preset, train_tiles: TileSet, progress: Progress) -> float:
    """Return the generated pairs per real tile: the asked or the preset's, 0 for labels that say only oil."""
    aug_ratio = preset.aug_ratio if config.aug_ratio is None else config.aug_ratio
    if not 0.0 <= aug_ratio <= 8.0:
        raise InputError(f"--aug-ratio {aug_ratio}: use a value from 0 to 8 (the paper tested 0 to 4)")
    if aug_ratio > 0 and train_tiles.has_partial_labels():
        # SAR-JointNet generates whole label maps; from "not oil" it cannot learn which class the rest is,
        # and distilling its guesses would overwrite what the model knows about look-alikes, ships and land.
        if config.aug_ratio is not None:
            raise InputError(
                f"--aug-ratio {aug_ratio:g}: generated pairs need labels that name every class, and these say "
                "only oil / not oil; use --aug-ratio 0"
            )
        progress.log("info", "no generated pairs: the labels say only oil / not oil (aug ratio 0)")
        aug_ratio = 0.0
    return aug_ratio


def check_real_only_steps(real_only_steps: int, steps: int, aug_ratio: float) -> None:
    """Refuse a real-only phase as long as the whole run before any work (it applies with generated pairs only)."""
    if aug_ratio > 0 and real_only_steps >= steps:
        raise InputError(
            f"--real-only-steps {real_only_steps}: must be fewer than the {steps} SAROSS-Net steps "
            "(--steps); a few hundred is a short final phase"
        )


def _train_segmenter(
    config: FinetuneConfig,
    preset: Preset,
    split: DataSplit,
    generated: Any,
    spec: InputSpec,
    input_features: tuple[str, ...],
    aug_ratio: float,
    work: Path,
    progress: Progress,
) -> tuple[Any, Any, SegmenterConfig, LoopConfig]:
    """Train SAROSS-Net (stage 4); returns the model, the loop's result and the settings used."""
    has_init = split.init_model is not None
    seg_config = segmenter_config(
        config.segmenter_model or preset.segmenter_model,
        config.skip,
        aug_ratio,
        config.soft_labels,
        preset.crop_px,
        config.retain,
        has_init,
        config.generated_share,
        model_overrides={"input_features": input_features},
        augment=AUGMENTS[config.augment],
        real_only_steps=config.real_only_steps,
    )
    steps = config.segmenter_steps or preset.segmenter_steps
    seg_loop = segmenter_loop(
        steps,
        config.batch_size or preset.segmenter_batch,
        config.lr or preset.segmenter_lr,
        # checkpoints: at most about 24 in a long run (validation runs at every epoch end, engine.train.loop)
        max(preset.checkpoint_every, steps // 24),
        preset.early_stop_patience,
        has_init,
        config.seed,
        config.device,
        config.precision,
        config.min_gain,
    )
    model, result = train_segmenter(
        split.train,
        split.validation if len(split.validation) else None,
        generated,
        spec,
        seg_config,
        seg_loop,
        work / "segmenter",
        progress,
        resume=config.resume and (work / "segmenter" / "last.pt").is_file(),
        init_model=split.init_model,
    )
    return model, result, seg_config, seg_loop


def _evaluate(
    config: FinetuneConfig,
    model: Any,
    result: Any,
    split: DataSplit,
    generated: Any,
    spec: InputSpec,
    progress: Progress,
) -> dict[str, Any]:
    """Return the paper's metrics on the validation tiles and the generated set's SAR-FID/KID (stage 5).

    ``generated`` is the whole set as SAR-JointNet made it, also when the gate dropped some or all of it.
    """
    metrics: dict[str, Any] = {}
    device = torch.device(result.device)
    model.to(device)  # train_segmenter returns it on the CPU
    if len(split.validation):
        val = evaluate_model(model, split.validation, spec, device, progress=progress)
        metrics["validation"] = {k: v for k, v in val.items() if k != "confusion"}
        metrics["validation"]["confusion"] = val["confusion"]
        metrics["class_names"] = val["class_names"]
    if generated is not None:
        metrics["generation"] = score_generated_set(
            split.train.images_db, generated, model, spec, config.inception_weights, seed=config.seed, device=device
        )
    return metrics


def _training_record(
    config: FinetuneConfig,
    split: DataSplit,
    generation: dict[str, Any] | None,
    seg_config: SegmenterConfig,
    seg_loop: LoopConfig,
    started: float,
) -> dict[str, Any]:
    """Return the card's ``training`` record: data, generation, every setting, the recipe and the wall time."""
    training: dict[str, Any] = {
        "pipeline": "DAKD",
        "preset": config.preset,
        "data": _data_summary(config.data, split),
        "generation": generation,
        "segmenter": seg_config.to_dict(),
        "loop": seg_loop.to_dict(),
        "seed": config.seed,
    }
    if config.recipe:
        training["recipe"] = config.recipe
    training["wall_time_s"] = round(time.monotonic() - started, 1)  # this run only (a resumed run restarts it)
    return training


def _data_summary(data: DataConfig, split: DataSplit) -> dict[str, Any]:
    """Return what the card records about the data: format, both splits, validation scenes, sources."""
    return {
        "format": data.format,
        "train": split.train.summary(),
        "validation": split.validation.summary(),
        "validation_scenes": split.validation.scenes(),
        "sources": _sources(data),
        "partial_labels": split.train.has_partial_labels(),
    }


def _input_features(config: FinetuneConfig, base_card: Any) -> tuple[str, ...]:
    """Return the model's input channels: the ``--init`` model's own, else the asked or the default ones."""
    from engine.models.inputs import DEFAULT_INPUT_FEATURES

    if base_card is None:
        return tuple(config.input_features or DEFAULT_INPUT_FEATURES)
    own = tuple(base_card.build.get("input_features") or ())
    if config.input_features is not None and tuple(config.input_features) != (own or ("db",)):
        raise InputError(
            f"--input-features {','.join(config.input_features)}: the --init model {base_card.name!r} "
            f"takes {','.join(own or ('db',))}; leave --input-features out to keep them"
        )
    return own


def data_inputs(data: DataConfig) -> list[str | None]:
    """Return the files and folders ``data`` is read from (None where unset)."""
    paths: list[str | None] = [data.folder]
    for scene in data.scenes:
        paths += [scene.raster, scene.label_vector, scene.label_raster]
    return paths


def run_inputs(config: FinetuneConfig) -> list[str | None]:
    """Return everything a fine-tune reads: its outputs may never replace one (engine.io.atomic.check_replaceable)."""
    return [*data_inputs(config.data), config.init, config.inception_weights]


def _sources(data: DataConfig) -> list[str]:
    """Return what the card names as its training data: the scenes, or the split folder read (not only the root)."""
    if data.format == "scenes":
        return [s.raster for s in data.scenes]
    return [str(split_folder(data.format, str(data.folder), data.split))]


def _jointnet_settings(config: FinetuneConfig, preset: Preset) -> tuple[JointTrainConfig, LoopConfig]:
    """Return the SAR-JointNet settings and loop of a fine-tune (stage 2)."""
    joint_config = JointTrainConfig(
        model=jointnet_config(preset.jointnet_variant),
        balance=config.balance,
        db_range=(config.data.db_range[0], config.data.db_range[1]),
        crop_px=preset.crop_px,
        speckle=config.speckle,
    )
    steps = config.jointnet_steps or preset.jointnet_steps
    loop = jointnet_loop(
        steps,
        config.batch_size or preset.jointnet_batch,
        preset.jointnet_lr,
        0.999 if steps > 2000 else 0.95,
        preset.checkpoint_every,
        config.seed,
        config.device,
        config.precision,
    )
    return joint_config, loop


def _jointnet(
    config: FinetuneConfig, preset: Preset, train_tiles: TileSet, work: Path, progress: Progress
) -> TrainedJointNet:
    """Return the run's SAR-JointNet: trained here, or with ``--resume`` the one this run already trained.

    A SAR-JointNet in the work folder is reused only when its fingerprint is this run's
    (:func:`~engine.train.jointnet.jointnet_fingerprint`): another run's learnt other data.

    Raises:
        ModelError: with ``--resume``, a SAR-JointNet or checkpoint of another run.
    """
    weights = work / "jointnet.safetensors"
    joint_config, loop = _jointnet_settings(config, preset)
    if config.resume and weights.is_file():
        trained = load_jointnet(weights)
        expected = jointnet_fingerprint(train_tiles, joint_config, loop)
        check_fingerprint(weights, comparable_fingerprint(trained.metadata.get("fingerprint")), expected)
        progress.log("info", f"reusing the trained SAR-JointNet in {weights}")
        return trained
    trained, _ = train_jointnet(
        train_tiles,
        joint_config,
        loop,
        work / "jointnet",
        progress,
        resume=config.resume and (work / "jointnet" / "last.pt").is_file(),
    )
    if distributed.is_main_process():
        save_jointnet(weights, trained)
    return trained


def _generate(
    config: FinetuneConfig, preset: Preset, train_tiles: TileSet, work: Path, aug_ratio: float, progress: Progress
) -> tuple[Any, dict[str, Any]]:
    """Return the generated pairs and the card's record of them (stages 2 and 3).

    With ``--resume`` the pairs already in the work folder are reused when they are enough and come from
    this run's SAR-JointNet (its fingerprint); otherwise they are generated again.
    """
    weights = work / "jointnet.safetensors"
    trained = _jointnet(config, preset, train_tiles, work, progress)
    count = max(1, math.ceil(aug_ratio * len(train_tiles)))
    folder = work / "generated"
    if not (config.resume and _reusable_pairs(folder, count, trained)):
        gen_config = GenerateConfig(
            count=count,
            steps=config.ddim_steps or preset.ddim_steps,
            batch_size=preset.generate_batch,
            tile_px=preset.crop_px or int(train_tiles.images_db.shape[-1]),
            seed=config.seed,
            device=config.device,
        )
        if distributed.is_main_process():  # under torchrun the others wait at the barrier below
            with atomic_output_dir(folder, overwrite=True, kind=GENERATED_PAIRS) as tmp:
                generate_pairs(trained, gen_config, tmp, progress)
    distributed.barrier()
    generated = open_generated(folder)
    return generated, {
        "pairs": len(generated),
        "folder": str(folder),
        "balance": trained.balance,
        "balance_computed": config.balance is None,
        "speckle": generated.manifest.get("speckle", {"mode": "learned"}),
        "jointnet": str(weights),
        "ddim_steps": generated.manifest["sampler"]["num_inference_steps"],
        # "linspace" ends at t = 0 (issue 17); sets generated before it have no key and were "trailing".
        "ddim_spacing": generated.manifest["sampler"].get("timestep_spacing", "trailing"),
        "ddim_eta": generated.manifest["sampler"].get("eta", 0.0),
        "sample_grid": str(folder / "samples.png"),
    }


def _reusable_pairs(folder: Path, count: int, trained: TrainedJointNet) -> bool:
    """Return True when ``folder`` holds at least ``count`` pairs generated by ``trained`` (its fingerprint)."""
    existing = folder / "dataset.json"
    if not existing.is_file():
        return False
    manifest = json.loads(existing.read_text())
    source = (manifest.get("jointnet") or {}).get("fingerprint")
    return manifest.get("count", 0) >= count and source is not None and source == trained.metadata.get("fingerprint")


def say_if_init_kept(split: DataSplit, result: TrainResult, model: str, progress: Progress) -> None:
    """Warn when no fine-tuned step beat the ``--init`` model by ``--min-gain``: the new card holds its weights.

    One rule for ``dakd finetune`` and ``dakd train``; without the line the analyst would take an unchanged model
    for a fine-tuned one.
    """
    if split.init_model is not None and result.best_step == 0:
        progress.log(
            "warning",
            f"no fine-tuned step beat the --init model on the validation scenes; {model} keeps its weights (more or "
            "other labelled scenes, or another --lr, may help)",
        )


def gate_for_training(
    generated: Any,
    split: DataSplit,
    gate: GateConfig,
    device: str,
    generation: dict[str, Any],
    aug_ratio: float,
    progress: Progress,
) -> tuple[Any, float]:
    """Judge the generated set (:func:`judge_generated`); returns the kept pairs and their ratio.

    ``aug_ratio`` shrinks with the share of pairs kept, so each kept pair is drawn as often as before.
    The scores go to ``generation["consistency"]`` (the card). A failed set is dropped: the run goes on
    with real tiles alone and says why in one line.
    """
    kept, generation["consistency"] = judge_generated(generated, split, gate, device, progress)
    if kept is None:
        progress.log(
            "warning", f"generated pairs dropped, training on real tiles alone: {generation['consistency']['reason']}"
        )
        return None, 0.0
    return kept, aug_ratio * len(kept) / max(len(generated), 1)


def judge_generated(
    generated: Any, split: DataSplit, gate: GateConfig, device: str, progress: Progress
) -> tuple[Any, dict[str, Any]]:
    """Score a generated set against the labelled tiles (:mod:`engine.train.consistency`) and apply the gate.

    One rule for ``dakd finetune``, ``dakd train`` and ``dakd generate``: the judge is the ``--init``
    model, else the bundled default model; the reference is the validation tiles, else the training
    tiles. Returns ``(kept pairs, scores)``, with ``None`` for the pairs when the set fails as a whole,
    and the whole set when the gate is off or no judge exists.
    """
    if not gate.enabled:
        return generated, {"enabled": False}
    judge_model, judge_card = split.init_model, split.base_card
    if judge_model is None:
        from engine.detectors import DEFAULT_MODEL_CARD
        from engine.modelcard import load_model

        if not DEFAULT_MODEL_CARD.is_file():
            progress.log("warning", "generated pairs not judged: no --init model and no bundled default model")
            return generated, {"enabled": True, "judge": None, "reason": "no --init and no default model"}
        judge_model, judge_card = load_model(DEFAULT_MODEL_CARD)
    judge_model.to(select_device(device).device)
    reference = split.validation if len(split.validation) else split.train
    result = gate_generated(generated, reference, judge_model, judge_card, gate)
    if not result.passed:
        return None, result.scores
    progress.log("info", f"consistency gate: {result.reason} (judge: {judge_card.name})")
    return generated.subset(result.keep), result.scores


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)
