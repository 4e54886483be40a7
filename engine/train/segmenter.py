"""Training SAROSS-Net with DAKD: real pairs with CE + Dice, generated pairs with KD + Dice (paper §4).

Each epoch visits every real tile (spill tiles ``spill_oversample`` times) and ``aug_ratio`` times
as many generated pairs, shuffled together, so batches mix real and generated samples. The model
is validated (mIoU) at epoch ends; the best weights are kept and written as a model card
(``engine.modelcard``) with the metrics, a data summary and loss/mIoU curve PNGs.

``soft_labels=False`` trains generated pairs like real ones on their argmax (CE + Dice), the
paper's "hard label" ablation.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.classes import OIL_VS_REST, SegClass
from engine.config import ConfigBase
from engine.data.generated import GeneratedSet
from engine.data.samples import ROBUST_AUGMENT, AugmentConfig, SegmentationBatches, make_plan
from engine.data.tiles import TileSet, batch_slices
from engine.detectors.base import InputSpec
from engine.io.atomic import EngineFolder, Inputs, atomic_file
from engine.modelcard import ModelCard, new_model_card, save_model_card
from engine.progress import Progress
from engine.train.checkpoint import BEST, LAST, arrays_digest, json_digest, state_digest, tiles_digest
from engine.train.loop import LoopConfig, TrainResult, train
from engine.train.losses import LossWeights, retention_loss, segmentation_loss
from engine.train.metrics import confusion_matrix, oil_vs_rest_confusion, scores


@dataclass(frozen=True)
class SegmenterConfig(ConfigBase):
    """Settings of SAROSS-Net training beyond the loop's.

    Attributes:
        model: a SAROSS-Net variant name (``engine.models.MODEL_VARIANTS``), e.g. ``saross_net_xs``.
        skip: ``caft`` (paper), ``conv`` or ``none``: the skip ablation.
        aug_ratio: generated pairs per real tile per epoch (0-4 in the paper).
        soft_labels: distil generated pairs from their soft labels (KD) or use their argmax (CE).
        spill_oversample: repeats per epoch of tiles that contain oil.
        loss: weights of CE, KD, Dice and the KD temperature.
        augment: flips, rotations, dB shift, and the robustness set (resampling, unknown dB scaling,
            8-bit exports, speckle filters): :data:`~engine.data.samples.ROBUST_AUGMENT`.
        eval_batch_size: batch size for validation.
        crop_px: train on random crops of this size (None: whole tiles; validation always uses whole tiles).
        model_overrides: more :class:`~engine.models.SarossNetConfig` fields.
        freeze_norm: batch-norm layers keep the statistics they have and normalise with them while
            training (fine-tuning a trained model on a few scenes: their small, augmented batches would
            otherwise move statistics learnt on the whole training set, whatever the learning rate).
        real_only_steps: with generated pairs, the last this many of the loop's steps train on real tiles
            alone (issue 17): a second run from the first phase's best weights, at a tenth of the learning
            rate, whose start competes for the best checkpoint. What the model learnt from generated pairs
            is then corrected by the real labels last. 0: off.
    """

    model: str = "saross_net_xs"
    skip: str = "caft"
    aug_ratio: float = 0.0
    soft_labels: bool = True
    spill_oversample: int = 2
    loss: LossWeights = field(default_factory=LossWeights)
    augment: AugmentConfig = ROBUST_AUGMENT
    eval_batch_size: int = 16
    crop_px: int | None = None
    model_overrides: dict[str, Any] = field(default_factory=dict)
    freeze_norm: bool = False
    real_only_steps: int = 0

    def __post_init__(self) -> None:
        if self.real_only_steps < 0:
            raise ValueError(f"real_only_steps must be 0 or more, got {self.real_only_steps}")


#: The real-only phase's learning rate, as a share of the main phase's peak.
REAL_ONLY_LR_SHARE = 0.1
#: The real-only phase's checkpoints, inside the run folder.
REAL_ONLY_DIR = "real-only"
#: SAROSS-Net's run folder (``dakd train --work-dir``): the checkpoints of both phases, all that ``--overwrite``
#: may delete there (:func:`engine.io.atomic.check_work_folder`).
SEGMENTER_WORK = EngineFolder(
    "SAROSS-Net work folder", (LAST, BEST, f"{REAL_ONLY_DIR}/{LAST}", f"{REAL_ONLY_DIR}/{BEST}")
)


def freeze_batch_norm(model: nn.Module) -> None:
    """Put ``model``'s batch-norm layers in evaluation mode (running statistics used, not updated)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def build_segmenter(config: SegmenterConfig, num_classes: int) -> nn.Module:
    """Return a freshly initialised SAROSS-Net for ``config``."""
    from engine.models import create_model

    return create_model(config.model, num_classes=num_classes, skip=config.skip, **config.model_overrides)


@torch.no_grad()
def evaluate_model(
    model: nn.Module,
    tiles: TileSet,
    spec: InputSpec,
    device: torch.device | str,
    batch_size: int = 16,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Paper metrics of ``model`` (already on ``device``) on ``tiles``, no augmentation, one confusion matrix.

    ``tiles`` carry the model's classes (:meth:`TileSet.with_classes`). When some pixels are labelled
    only "not oil" (binary or oil-only labels on a five-class model), the headline metrics are oil
    against the rest over every labelled pixel (``class_names`` ``not oil``, ``oil``; ``folding`` says
    so), since a five-class mIoU would leave those pixels out; the five classes on the exactly labelled
    pixels are kept under ``exact``. Otherwise the metrics are the classes' (``class_names``).
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    batches = SegmentationBatches(tiles, None, spec, None, 0)
    confusion = torch.zeros(tiles.num_classes, tiles.num_classes, dtype=torch.int64)
    partial = tiles.has_partial_labels()
    binary = torch.zeros(2, 2, dtype=torch.int64)
    chunks = list(batch_slices(len(tiles), batch_size))
    with (progress or Progress()).stage("evaluate", len(chunks)) as stage:
        for chunk in chunks:
            ids = np.arange(chunk.start, chunk.stop)
            batch = batches.batch(ids, 0, ids)
            logits = model(batch["image"].to(device), batch["valid"].to(device))
            pred, label = logits.argmax(dim=1), batch["label"].to(device)
            confusion += confusion_matrix(pred, label, tiles.num_classes)
            if partial:
                binary += oil_vs_rest_confusion(pred, label)
            stage.advance()
    model.train(was_training)
    exact = {**scores(confusion), "confusion": confusion.tolist(), "class_names": [c.name for c in tiles.classes]}
    if not partial:
        return exact
    return {
        **scores(binary),
        "confusion": binary.tolist(),
        "class_names": [c.name for c in OIL_VS_REST],
        "folding": "oil against the rest: the labels say only oil / not oil for some pixels, so every predicted "
        "class but oil counts as not oil",
        "exact": exact,
    }


class SegmenterTask:
    """SAROSS-Net DAKD training as a :class:`~engine.train.loop.TrainTask`."""

    stage_name = "train SAROSS-Net"

    def __init__(
        self,
        train_tiles: TileSet,
        val_tiles: TileSet | None,
        generated: GeneratedSet | None,
        spec: InputSpec,
        config: SegmenterConfig,
        seed: int,
        teacher: nn.Module | None = None,
    ) -> None:
        if generated is not None and generated.num_classes != train_tiles.num_classes:
            raise ValueError(
                f"generated pairs have {generated.num_classes} classes but the tiles have {train_tiles.num_classes}"
            )
        self.config = config
        self.spec = spec
        self.teacher = teacher if config.loss.retain > 0 else None
        self.val_tiles = val_tiles if val_tiles is not None and len(val_tiles) else None
        use_generated = generated if config.aug_ratio > 0 else None
        self.batches = SegmentationBatches(train_tiles, use_generated, spec, config.augment, seed, config.crop_px)
        self.plan = make_plan(train_tiles, use_generated, config.aug_ratio, config.spill_oversample, seed)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Real tiles (spills repeated) plus ``aug_ratio``× generated pairs, shuffled."""
        return self.plan.order(epoch)

    def make_batch(self, sample_ids: np.ndarray, epoch: int, positions: np.ndarray) -> dict[str, torch.Tensor]:
        """Normalised images, hard labels, soft labels and the generated flag."""
        batch = self.batches.batch(sample_ids, epoch, positions)
        if not self.config.soft_labels:
            batch["generated"] = torch.zeros_like(batch["generated"])
        return batch

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """CE + Dice on real samples, KD + Dice on generated ones, and retention of the starting model's knowledge."""
        if self.config.freeze_norm:  # after every model.train() of the loop, before the forward pass
            freeze_batch_norm(model)
        logits = model(batch["image"], batch["valid"])
        total, terms = segmentation_loss(logits, batch["label"], batch["soft"], batch["generated"], self.config.loss)
        if self.teacher is None:
            return total, terms
        weights = self.config.loss
        with torch.no_grad():
            self.teacher.to(logits.device)
            teacher_logits = self.teacher(batch["image"], batch["valid"])
        real = ~batch["generated"]
        retain = retention_loss(logits[real], teacher_logits[real], batch["valid"][real], weights.temperature)
        return total + weights.retain * retain, {**terms, "retain": float(retain.detach())}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, Any] | None:
        """Return the validation mIoU (the score) and the other paper metrics."""
        if self.val_tiles is None:
            return None
        result = evaluate_model(model, self.val_tiles, self.spec, device, self.config.eval_batch_size)
        return {"score": result["miou"], **{k: v for k, v in result.items() if k not in ("confusion", "exact")}}


def segmenter_identity(
    train_tiles: TileSet,
    val_tiles: TileSet | None,
    generated: GeneratedSet | None,
    spec: InputSpec,
    config: SegmenterConfig,
    init_model: nn.Module | None,
) -> dict[str, Any]:
    """Return SAROSS-Net's part of a run's fingerprint (:func:`engine.train.loop.run_fingerprint`).

    Each part, and why a resumed run must share it:

    - ``classes``: the card names them, and a scheme of as many classes under other names has the same shapes;
    - ``input``: the normalisation the weights learnt, recorded in the card;
    - ``segmenter``: every setting of this trainer (variant, skip, input features, losses, augmentation, crop);
    - ``data.train``, ``data.validation``: digests of the tiles' pixels, validity and labels. The card's data
      record must be the data the weights saw, and validation picks the weights kept;
    - ``generated``: the pair set's manifest (its SAR-JointNet, sampler, seed, count) and the pairs the gate
      kept, when pairs are used; not the pairs' bytes, which would be read in full at every start;
    - ``init``: a digest of the ``--init`` weights: the run started from them, distils from them, and the card
      names that model as its base.
    """
    pairs = generated if config.aug_ratio > 0 else None
    return {
        "classes": [[c.id, c.name] for c in train_tiles.classes],
        "input": asdict(spec),
        "segmenter": config.to_dict(),
        "data": {"train": tiles_digest(train_tiles), "validation": tiles_digest(val_tiles)},
        "generated": _generated_identity(pairs) if pairs is not None else None,
        "init": state_digest(init_model.state_dict()) if init_model is not None else None,
    }


def _generated_identity(generated: GeneratedSet) -> dict[str, Any]:
    """Return a generated set's part of the fingerprint: its manifest (but the judge's scores) and the kept pairs."""
    manifest = {k: v for k, v in generated.manifest.items() if k != "consistency"}
    kept = arrays_digest([generated.indices]) if generated.indices is not None else None
    return {"manifest": json_digest(manifest), "kept": kept}


def train_segmenter(
    train_tiles: TileSet,
    val_tiles: TileSet | None,
    generated: GeneratedSet | None,
    spec: InputSpec,
    config: SegmenterConfig,
    loop: LoopConfig,
    run_dir: str | Path | None = None,
    progress: Progress | None = None,
    resume: bool = False,
    init_model: nn.Module | None = None,
) -> tuple[nn.Module, TrainResult]:
    """Train SAROSS-Net; returns the model with its best validation weights (or the final ones).

    Args:
        train_tiles: real training tiles.
        val_tiles: validation tiles (other scenes), or None.
        generated: generated pairs, used when ``config.aug_ratio > 0``.
        spec: input normalisation (goes into the model card).
        config: segmenter settings.
        loop: optimisation settings.
        run_dir: checkpoint folder.
        progress: progress events and cancellation.
        resume: continue from ``run_dir``.
        init_model: start from these weights (``--init``) instead of a fresh network.
    """
    torch.manual_seed(loop.seed)
    model = init_model if init_model is not None else build_segmenter(config, train_tiles.num_classes)
    teacher = None
    if init_model is not None and config.loss.retain > 0:  # a frozen copy: the starting model, not the one trained
        teacher = copy.deepcopy(init_model).eval().requires_grad_(False)
    real_only = config.real_only_steps if generated is not None and config.aug_ratio > 0 else 0
    if real_only >= loop.max_steps:
        raise ValueError(f"real_only_steps ({real_only}) must be fewer than the run's {loop.max_steps} steps")
    main_loop = replace(loop, max_steps=loop.max_steps - real_only)
    identity = (  # before any step; only checkpoints carry it
        segmenter_identity(train_tiles, val_tiles, generated, spec, config, init_model) if run_dir is not None else {}
    )
    task = SegmenterTask(train_tiles, val_tiles, generated, spec, config, loop.seed, teacher)
    result = train(model, task, main_loop, run_dir, progress, resume, identity)
    if result.best_state is not None:
        model.load_state_dict(result.best_state)
    if real_only:
        result = _real_only_phase(
            model,
            result,
            train_tiles,
            val_tiles,
            spec,
            config,
            loop,
            real_only,
            teacher,
            run_dir,
            progress,
            resume,
            identity,
        )
        if result.best_state is not None:
            model.load_state_dict(result.best_state)
    return model.cpu().eval(), result


def _real_only_phase(
    model: nn.Module,
    first: TrainResult,
    train_tiles: TileSet,
    val_tiles: TileSet | None,
    spec: InputSpec,
    config: SegmenterConfig,
    loop: LoopConfig,
    steps: int,
    teacher: nn.Module | None,
    run_dir: str | Path | None,
    progress: Progress | None,
    resume: bool,
    identity: dict[str, Any],
) -> TrainResult:
    """Train ``steps`` more on real tiles alone from ``model`` (the first phase's best); one result for both phases.

    The phase starts from its own warm-up-free schedule at :data:`REAL_ONLY_LR_SHARE` of the peak rate and
    validates before its first step, so it never hands back a model worse on validation than the first phase's.
    ``identity`` is the first phase's (:func:`segmenter_identity`): the phase's checkpoints must be this run's too.
    """
    phase_loop = replace(
        loop,
        max_steps=steps,
        lr=loop.lr * REAL_ONLY_LR_SHARE,
        warmup_steps=0,
        evaluate_first=True,
        min_gain_over_start=0.0,
        checkpoint_every=min(loop.checkpoint_every, steps) if loop.checkpoint_every else 0,
    )
    phase_dir = Path(run_dir) / REAL_ONLY_DIR if run_dir is not None else None
    task = SegmenterTask(train_tiles, val_tiles, None, spec, replace(config, aug_ratio=0.0), loop.seed + 1, teacher)
    resume_phase = resume and phase_dir is not None and (phase_dir / "last.pt").is_file()
    second = train(model, task, phase_loop, phase_dir, progress, resume_phase, {**identity, "phase": "real-only"})
    offset = first.steps
    improved = second.best_step is not None and second.best_step > 0
    best_step = second.best_step + offset if second.best_step is not None and improved else first.best_step
    return replace(
        second,
        steps=offset + second.steps,
        loss_history=first.loss_history + [(step + offset, value) for step, value in second.loss_history],
        eval_history=first.eval_history
        + [{**e, "step": e["step"] + offset, "phase": "real-only"} for e in second.eval_history],
        best_step=best_step,
        best_score=second.best_score if second.best_score is not None else first.best_score,
        best_state=second.best_state if second.best_state is not None else first.best_state,
        stopped_early=first.stopped_early or second.stopped_early,
        extra={
            **first.extra,
            "real_only_phase": {
                "steps": second.steps,
                "first_phase_steps": offset,
                "lr": phase_loop.lr,
                "improved_on_first_phase": improved,
            },
        },
    )


#: The curve pictures written beside a trained model: ``STEM.loss.png`` and ``STEM.miou.png``.
CURVE_SUFFIXES = ("loss", "miou")


def curve_paths(path_stem: Path) -> list[Path]:
    """Return the curve pictures :func:`write_model_card` writes beside the card ``path_stem`` (checked like it)."""
    return [path_stem.with_name(f"{path_stem.name}.{suffix}.png") for suffix in CURVE_SUFFIXES]


def render_curves(path_stem: Path, result: TrainResult) -> list[tuple[Path, bytes]]:
    """Return ``STEM.loss.png`` and ``STEM.miou.png`` (training loss and validation mIoU by step) as PNG bytes.

    Rendered in memory: :func:`write_model_card` writes them with the card, all or none.
    """
    import io
    import logging

    # Without a writable home matplotlib warns at import that it made a temporary cache: a second line under the
    # engine's one for a run that went well. Its own errors still show.
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rendered = []
    steps = [s for s, _ in result.loss_history]
    losses = [v for _, v in result.loss_history]
    curves = [
        ("loss", "training loss", steps, losses),
        (
            "miou",
            "validation mIoU (%)",
            [e["step"] for e in result.eval_history],
            [e.get("miou", float("nan")) for e in result.eval_history],
        ),
    ]
    for (suffix, label, xs, ys), target in zip(curves, curve_paths(path_stem)):
        figure, axis = plt.subplots(figsize=(5, 3), dpi=100)
        if xs:
            if suffix == "loss" and len(ys) > 20:
                window = max(1, len(ys) // 50)
                smooth = np.convolve(ys, np.ones(window) / window, mode="valid")
                axis.plot(xs, ys, color="0.8", linewidth=0.8)
                axis.plot(xs[window - 1 :], smooth, color="C0")
            else:
                axis.plot(xs, ys, marker="o" if suffix == "miou" else None, color="C0" if suffix == "loss" else "C1")
        else:
            axis.text(0.5, 0.5, "no validation set", ha="center", va="center", transform=axis.transAxes)
        axis.set_xlabel("step")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        figure.tight_layout()
        png = io.BytesIO()
        figure.savefig(png, format="png")
        plt.close(figure)
        rendered.append((target, png.getvalue()))
    return rendered


def write_model_card(
    path: str | Path,
    model: nn.Module,
    name: str,
    classes: tuple[SegClass, ...],
    spec: InputSpec,
    result: TrainResult,
    training: dict[str, Any],
    metrics: dict[str, Any],
    description: str = "",
    base_card: ModelCard | None = None,
    overwrite: bool = True,
    inputs: Inputs = (),
) -> Path:
    """Save the model card (weights + JSON) and its curve PNGs beside it, all or none; returns the card's JSON path.

    ``base_card`` (from ``--init``) supplies band, calibration, pixel size and tiling defaults. ``overwrite``
    decides whether the card and its curve pictures may replace existing files; ``inputs`` are never replaced
    (:func:`~engine.io.atomic.atomic_file`'s arguments: ``dakd train`` passes its ``--overwrite`` and data, so an
    analyst's picture of a curve's name is not replaced at the end of a run either). The pictures are renamed
    into place only once the card is written, so a failed write (a full disk) leaves no curves of a model that
    is not there.
    """
    stem = Path(path).expanduser()
    stem = stem.with_suffix("") if stem.suffix in (".json", ".safetensors") else stem
    curves = render_curves(stem, result)
    training = dict(
        training,
        steps=result.steps,
        final_batch_size=result.batch_size,
        best_step=result.best_step,
        stopped_early=result.stopped_early,
        device=result.device,
        curves=[target.name for target, _ in curves],
        **{k: v for k, v in result.extra.items() if k == "real_only_phase"},
    )
    inherited: dict[str, Any] = {}
    if base_card is not None:
        inherited = {
            k: getattr(base_card, k)
            for k in ("band", "calibration", "pixel_size_m", "pixel_size_tolerance", "overlap_px", "context_px")
        }
        training["initialised_from"] = base_card.name
    card = new_model_card(
        model, name, classes, input_spec=spec, training=training, metrics=metrics, description=description, **inherited
    )
    with contextlib.ExitStack() as stack:
        for target, png in curves:
            stack.enter_context(atomic_file(target, overwrite, inputs)).write_bytes(png)
        return save_model_card(stem, model, card, overwrite)
