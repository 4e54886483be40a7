"""The one training loop both trainers (SAR-JointNet and SAROSS-Net) share.

A trainer supplies a :class:`TrainTask`: the sample order of each epoch, how ids become a batch,
the loss, and optionally a validation score. The loop owns everything else:

- AdamW with linear warm-up and a cosine decay (Loshchilov & Hutter 2017/2019);
- automatic mixed precision on GPUs (bf16 where supported, else fp16 with a gradient scaler);
- an exponential moving average of the weights (optional; SAR-JointNet samples with it);
- validation at epoch ends, the best weights kept, early stopping after ``patience`` evaluations
  without improvement;
- checkpoints every N steps and on cancellation, and exact resume (``engine.train.checkpoint``) of this
  run only: a checkpoint whose fingerprint (:func:`run_fingerprint`) is another run's is refused; the
  checkpoint temporaries a killed run left in the folder are removed at the start;
- out-of-memory back-off: the batch is halved and the same step retried;
- DistributedDataParallel under ``torchrun`` (each process takes every ``world_size``-th sample of
  the same global order);
- progress events per step (``loss``, ``metric``, ``step``, ``lr``, ETA) and cancellation.

Notes:
    Out-of-memory back-off works in a single process. Under DDP one process cannot change its
    batch alone, so an OOM there stops the run with a message to lower ``--batch-size``.
    With DDP every process runs the (small) validation itself, so all take the same
    early-stopping decision without communication.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from engine import __version__
from engine.config import ConfigBase
from engine.device import autocast_dtype, is_out_of_memory, release_cached_memory, select_device
from engine.errors import Cancelled, DakdError
from engine.progress import Progress
from engine.train import distributed
from engine.train.checkpoint import (
    BEST,
    FINGERPRINT,
    FINGERPRINT_VERSION,
    LAST,
    check_fingerprint,
    flat_fingerprint,
    load_checkpoint,
    remove_stale_temporaries,
    restore_rng_state,
    rng_state,
    save_checkpoint,
    state_digest,
    unfit_checkpoint,
)

log = logging.getLogger("dakd")


@dataclass(frozen=True)
class LoopConfig(ConfigBase):
    """Optimisation and bookkeeping settings shared by both trainers.

    Attributes:
        max_steps: optimiser steps in total (resume continues up to this).
        batch_size: samples per step per process (halved on out-of-memory).
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up from 0 to ``lr``.
        min_lr_ratio: the cosine decays to ``lr * min_lr_ratio``.
        grad_clip: clip the global gradient norm (None: off).
        precision: ``auto`` (bf16/fp16 autocast on GPUs, fp32 on the CPU), ``fp32``, ``bf16`` or ``fp16``
            (``engine.device.autocast_dtype``).
        ema_decay: EMA of the weights (None: off).
        checkpoint_every: steps between checkpoints (0: only on cancellation).
        min_eval_interval: evaluate at epoch ends, but not more often than every this many steps.
        early_stop_patience: evaluations without improvement before stopping (None: never).
        evaluate_first: validate before the first step too, so the starting weights (an ``--init``
            model) compete for the best checkpoint: fine-tuning never hands back a model that scores
            worse on its validation scenes than the one it started from.
        min_gain_over_start: with ``evaluate_first``, the validation points a trained checkpoint must gain
            over the starting weights to replace them (0: any gain). A small validation set moves by a
            point or two from checkpoint to checkpoint by chance; without a margin that noise, not the
            labels, decides whether a fine-tuned model replaces a good one.
        seed: seeds the torch RNG (diffusion noise, dropout) at the start.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
    """

    max_steps: int
    batch_size: int = 8
    lr: float = 2e-4
    weight_decay: float = 1e-2
    warmup_steps: int = 0
    min_lr_ratio: float = 0.01
    grad_clip: float | None = 1.0
    precision: str = "auto"
    ema_decay: float | None = None
    checkpoint_every: int = 0
    min_eval_interval: int = 1
    early_stop_patience: int | None = None
    evaluate_first: bool = False
    min_gain_over_start: float = 0.0
    seed: int = 0
    device: str = "auto"


#: Loop settings a resumed run may change: where it runs, in what floating-point precision, and how often it saves.
#: None of them changes what the steps compute (data, sample order, loss, schedule), only how exactly the arithmetic
#: is rounded. Precision goes with the device: ``--device`` may change on resume, and under ``--precision auto`` a
#: move from the CPU to a GPU already turns float32 into bf16/fp16, so the dtype a run computes in already may change.
#: Fingerprinting the word (``auto`` vs ``fp32``, both float32 on the CPU) refused runs that compute the same;
#: fingerprinting the resolved dtype instead would refuse that CPU-to-GPU move under ``auto``, taking back what
#: ``--device`` allows. A checkpoint without fp16 has no gradient-scaler state: resumed in fp16, the scaler starts
#: fresh (:func:`_restore`). Every other field (steps, batch, learning-rate schedule, EMA, validation and early
#: stopping, seed) shapes the weights or picks the best ones, so it must be the checkpoint's.
RESUMABLE_LOOP_CHANGES = ("device", "precision", "checkpoint_every")
#: Their fingerprint keys, which a saved fingerprint may still hold (:func:`comparable_fingerprint`).
_RESUMABLE_KEYS = frozenset(f"loop.{name}" for name in RESUMABLE_LOOP_CHANGES)


def run_fingerprint(stage: str, config: LoopConfig, identity: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return what makes a training run this run: a checkpoint with another fingerprint is another run's.

    The loop's own part:

    - ``checkpoint``: :data:`~engine.train.checkpoint.FINGERPRINT_VERSION`, the layout of what is restored;
    - ``engine``: the engine version, whose losses, sample order and augmentations the steps so far followed;
    - ``stage``: SAR-JointNet and SAROSS-Net checkpoints must not be confused;
    - ``loop.*``: every :class:`LoopConfig` field but :data:`RESUMABLE_LOOP_CHANGES`; the card records them
      as the run's settings, and ``max_steps`` shapes the learning-rate schedule (a longer run is a new
      run, e.g. from ``--init``).

    ``identity`` is the trainer's part (:func:`engine.train.segmenter.segmenter_identity`,
    :func:`engine.train.jointnet.jointnet_identity`): classes, network settings and digests of the data.
    :func:`train` adds ``network``, the names and shapes of the model's weights.
    """
    loop = {k: v for k, v in config.to_dict().items() if k not in RESUMABLE_LOOP_CHANGES}
    parts = {"checkpoint": FINGERPRINT_VERSION, "engine": __version__, "stage": stage, "loop": loop}
    return flat_fingerprint({**parts, **(identity or {})})


def comparable_fingerprint(saved: Any) -> Any:
    """Return a saved fingerprint without the loop settings a resume may change (:data:`RESUMABLE_LOOP_CHANGES`).

    Checkpoints (and SAR-JointNet sidecars) written before precision could change on resume hold ``loop.precision``.
    They are of this engine version (``engine``, also fingerprinted, is the same), so without this they would be
    refused as "differs in: --precision" even under the same ``--precision``. Anything but a mapping (a checkpoint
    of an older engine, without a fingerprint) is returned as it is, for :func:`check_fingerprint` to refuse.
    """
    if not isinstance(saved, Mapping):
        return saved
    return {key: value for key, value in saved.items() if key not in _RESUMABLE_KEYS}


class TrainTask(Protocol):
    """What a trainer provides to the loop."""

    stage_name: str

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Global sample ids of ``epoch`` in visiting order (the same on every process)."""
        ...

    def make_batch(self, sample_ids: np.ndarray, epoch: int, positions: np.ndarray) -> dict[str, torch.Tensor]:
        """Tensors for these ids (on CPU); ``positions`` seed each sample's augmentation."""
        ...

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss and named terms for logging."""
        ...

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, Any] | None:
        """Return validation results with a ``score`` (higher is better), or None without validation data."""
        ...


@dataclass
class TrainResult:
    """What a finished (or early-stopped) run leaves."""

    model: nn.Module
    steps: int
    batch_size: int
    loss_history: list[tuple[int, float]]
    eval_history: list[dict[str, Any]]
    best_score: float | None
    best_step: int | None
    best_state: dict[str, torch.Tensor] | None
    ema_state: dict[str, torch.Tensor] | None
    stopped_early: bool
    device: str
    extra: dict[str, Any] = field(default_factory=dict)


def warmup_cosine(max_steps: int, warmup_steps: int, min_ratio: float) -> Callable[[int], float]:
    """LR multiplier: linear warm-up, then cosine from 1 to ``min_ratio`` at ``max_steps``."""

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


class EMA:
    """Exponential moving average of parameters and buffers, with the usual warm-up of the decay."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend the current weights into the average."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for key, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                self.shadow[key].mul_(decay).add_(value.detach().float(), alpha=1 - decay)
            else:
                self.shadow[key].copy_(value)

    def state_dict(self) -> dict[str, Any]:
        """Averaged weights and the update count."""
        return {"shadow": self.shadow, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
        self.shadow = {k: v.clone() for k, v in state["shadow"].items()}
        self.updates = int(state["updates"])


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@dataclass
class _State:
    step: int = 0
    epoch: int = 0
    position: int = 0
    batch_size: int = 8
    best_score: float | None = None
    best_step: int | None = None
    evals_since_best: int = 0
    last_eval_step: int = -1
    loss_history: list[tuple[int, float]] = field(default_factory=list)
    eval_history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Run:
    """Everything one :func:`train` call holds: the model, its optimiser, where it runs, what it has done."""

    model: nn.Module
    trained: nn.Module  # ``model``, or its DistributedDataParallel wrapper under torchrun
    task: TrainTask
    config: LoopConfig
    device: torch.device
    dist_info: distributed.DistInfo
    run_path: Path | None
    progress: Progress
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    ema: EMA | None
    state: _State
    fingerprint: dict[str, Any] = field(default_factory=dict)
    best_state: dict[str, torch.Tensor] | None = None


def train(
    model: nn.Module,
    task: TrainTask,
    config: LoopConfig,
    run_dir: str | Path | None = None,
    progress: Progress | None = None,
    resume: bool = False,
    identity: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train ``model`` on ``task``; see the module docstring for what the loop handles.

    Under ``torchrun`` the run joins the process group and leaves it at the end, also on error, unless
    the caller had joined it already (the fine-tune pipeline does, for its barriers between stages).

    Args:
        model: the network (weights already initialised or loaded).
        task: data order, batches, loss and validation.
        config: optimisation settings.
        run_dir: folder for ``last.pt`` / ``best.pt`` (None: no checkpoints).
        progress: progress events and cancellation.
        resume: continue from ``run_dir/last.pt``, which must be this run's (:func:`run_fingerprint`).
        identity: the trainer's part of the run's fingerprint (its data, classes, network settings).

    Returns:
        The trained model (final weights) with histories and the best weights.

    Raises:
        Cancelled: the user stopped the run (a checkpoint was written first when ``run_dir`` is set).
        DakdError: out of memory at batch size 1, or under DDP.
        ModelError: with ``resume``, a checkpoint of another run, or one that cannot be restored.
    """
    fingerprint = _fingerprint(model, task, config, identity) if run_dir is not None else {}
    with distributed.process_group(select_device(config.device).device) as (dist_info, device):
        run = _start(model, task, config, dist_info, device, run_dir, progress or Progress())
        run.fingerprint = fingerprint
        if run.run_path is not None and dist_info.is_main:  # a killed run's checkpoint temporaries: hundreds of MB
            remove_stale_temporaries(run.run_path)
        if resume:
            _resume(run)
        order = task.epoch_order(run.state.epoch)
        if len(order) == 0:
            raise DakdError(f"{task.stage_name}: no training samples")
        if config.evaluate_first and run.state.step == 0 and not run.state.eval_history:
            _evaluate(run)
        try:
            stopped_early = _run_steps(run, order)
        except Cancelled:
            _checkpoint(run)
            raise
        _checkpoint(run)
    model.eval()
    return _result(run, stopped_early)


def _fingerprint(
    model: nn.Module, task: TrainTask, config: LoopConfig, identity: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Return the run's fingerprint (:func:`run_fingerprint`) with ``network``, the model's weight names and shapes."""
    return {**run_fingerprint(task.stage_name, config, identity), "network": state_digest(model.state_dict(), False)}


def _start(
    model: nn.Module,
    task: TrainTask,
    config: LoopConfig,
    dist_info: distributed.DistInfo,
    device: torch.device,
    run_dir: str | Path | None,
    progress: Progress,
) -> _Run:
    """Seed, place (and under DDP wrap) the model, and build its optimiser, schedule, scaler and EMA."""
    if not dist_info.is_main:  # only the first process reports; all of them obey a cancel
        progress = Progress(None, progress.cancel)
    torch.manual_seed(config.seed + dist_info.rank)
    model.to(device)
    trained: nn.Module = model
    if dist_info.enabled:
        trained = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(config.max_steps, config.warmup_steps, config.min_lr_ratio)
    )
    amp_dtype = autocast_dtype(device, config.precision)
    return _Run(
        model=model,
        trained=trained,
        task=task,
        config=config,
        device=device,
        dist_info=dist_info,
        run_path=Path(run_dir) if run_dir is not None else None,
        progress=progress,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16),
        amp_dtype=amp_dtype,
        ema=EMA(model, config.ema_decay) if config.ema_decay else None,
        state=_State(batch_size=config.batch_size),
    )


def _resume(run: _Run) -> None:
    """Restore weights, optimiser, schedule, scaler, EMA, loop position and RNGs from ``run_dir/last.pt``.

    Both checkpoints are matched to this run first (:func:`run_fingerprint`): another run's would hand
    back its weights under this run's card. A restore that fails anyway (a damaged file) is one line too.

    Raises:
        ModelError: a checkpoint of another run, of an older engine, or one that cannot be restored.
    """
    if run.run_path is None:
        raise DakdError("--resume needs the run's checkpoint folder")
    last, best = run.run_path / LAST, run.run_path / BEST
    saved = load_checkpoint(last)
    check_fingerprint(last, comparable_fingerprint(saved.get(FINGERPRINT)), run.fingerprint)
    best_saved = load_checkpoint(best) if best.is_file() else None
    if best_saved is not None:
        check_fingerprint(best, comparable_fingerprint(best_saved.get(FINGERPRINT)), run.fingerprint)
    try:
        _restore(run, saved)
        run.best_state = best_saved["model"] if best_saved is not None else None
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as error:  # a damaged file: one line
        raise unfit_checkpoint(last, error) from None
    log.info("resumed %s at step %d of %d", run.task.stage_name, run.state.step, run.config.max_steps)


def _restore(run: _Run, saved: dict[str, Any]) -> None:
    """Load a checkpoint's states into ``run`` (:func:`_resume` checked that it is this run's)."""
    run.model.load_state_dict(saved["model"])
    run.optimizer.load_state_dict(saved["optimizer"])
    run.scheduler.load_state_dict(saved["scheduler"])
    if saved["scaler"]:  # empty when saved without fp16 (RESUMABLE_LOOP_CHANGES): an fp16 run's scaler starts fresh
        run.scaler.load_state_dict(saved["scaler"])
    if run.ema is not None and saved.get("ema") is not None:
        run.ema.load_state_dict(saved["ema"])
    loop_state = saved["loop"]
    run.state = _State(**{k: loop_state[k] for k in _State.__dataclass_fields__})
    run.state.loss_history = [tuple(x) for x in run.state.loss_history]  # type: ignore[misc]
    restore_rng_state(saved["rng"][min(run.dist_info.rank, len(saved["rng"]) - 1)])


def _checkpoint(run: _Run) -> None:
    """Write ``last.pt`` (on the first process; every process's RNG state goes into it)."""
    if run.run_path is None:
        return
    rngs: list[Any] = [rng_state()]
    if run.dist_info.enabled:
        rngs = [None] * run.dist_info.world_size
        torch.distributed.all_gather_object(rngs, rng_state())
    if run.dist_info.is_main:
        save_checkpoint(
            run.run_path / LAST,
            {
                "model": run.model.state_dict(),
                "optimizer": run.optimizer.state_dict(),
                "scheduler": run.scheduler.state_dict(),
                "scaler": run.scaler.state_dict(),
                "ema": run.ema.state_dict() if run.ema is not None else None,
                "rng": rngs,
                "loop": asdict(run.state),
                "config": run.config.to_dict(),
                "task": run.task.stage_name,
                FINGERPRINT: run.fingerprint,
            },
        )


def _evaluate(run: _Run) -> bool:
    """Validate, keep the best weights (``best.pt``); returns True when training should stop early."""
    state = run.state
    state.last_eval_step = state.step
    result = run.task.evaluate(run.model, run.device)
    if result is None:
        return False
    result = {"step": state.step, "epoch": state.epoch, **result}
    state.eval_history.append(result)
    score = float(result["score"])
    to_beat = state.best_score
    if to_beat is not None and state.best_step == 0 and run.config.evaluate_first:
        to_beat += run.config.min_gain_over_start  # the starting weights keep their place unless clearly beaten
    if to_beat is None or score > to_beat:
        state.best_score, state.best_step, state.evals_since_best = score, state.step, 0
        run.best_state = _cpu_state(run.model)
        if run.run_path is not None and run.dist_info.is_main:
            best = {"model": run.best_state, "step": state.step, "score": score, FINGERPRINT: run.fingerprint}
            save_checkpoint(run.run_path / BEST, best)
    else:
        state.evals_since_best += 1
    run.progress.log(
        "info",
        f"{run.task.stage_name}: step {state.step} validation score {score:.2f} "
        f"(best {state.best_score:.2f} at step {state.best_step})",
    )
    patience = run.config.early_stop_patience
    return patience is not None and state.evals_since_best >= patience


def _run_steps(run: _Run, order: np.ndarray) -> bool:
    """Take optimiser steps up to ``max_steps`` from ``order`` (this epoch's), validating at epoch ends.

    Returns True when early stopping ended the run.
    """
    state, config, dist_info = run.state, run.config, run.dist_info
    last_metric: float | None = state.best_score
    run.model.train()
    with run.progress.stage(run.task.stage_name, max(0, config.max_steps - state.step)) as stage:
        while state.step < config.max_steps:
            if state.position >= len(order):
                if state.step - state.last_eval_step >= config.min_eval_interval and _evaluate(run):
                    return True
                last_metric = state.best_score
                run.model.train()
                state.epoch, state.position = state.epoch + 1, 0
                order = run.task.epoch_order(state.epoch)
            chunk = order[state.position : state.position + state.batch_size * dist_info.world_size]
            positions = np.arange(state.position, state.position + len(chunk))
            mine = chunk[dist_info.rank :: dist_info.world_size]
            if len(mine) == 0:  # fewer samples left than processes: start the next epoch
                state.position = len(order)
                continue
            batch = run.task.make_batch(mine, state.epoch, positions[dist_info.rank :: dist_info.world_size])
            stepped = _step_or_back_off(run, {k: v.to(run.device, non_blocking=True) for k, v in batch.items()})
            if stepped is None:  # out of memory: the same samples again, in a smaller batch
                continue
            loss_value, terms = stepped
            state.position += len(chunk)
            state.step += 1
            state.loss_history.append((state.step, loss_value))
            stage.advance(
                loss=round(loss_value, 5),
                metric=None if last_metric is None else round(last_metric, 3),
                step=state.step,
                total=config.max_steps,
                lr=float(run.scheduler.get_last_lr()[0]),
                **{k: round(v, 5) for k, v in terms.items()},
            )
            if config.checkpoint_every and state.step % config.checkpoint_every == 0:
                _checkpoint(run)
        if state.last_eval_step != state.step:
            _evaluate(run)
    return False


def _step_or_back_off(run: _Run, batch: dict[str, torch.Tensor]) -> tuple[float, dict[str, float]] | None:
    """Take one optimiser step (and the schedule and EMA with it); None when out of memory halved the batch.

    Raises:
        DakdError: out of memory at batch size 1, or under DDP (where one process cannot change its batch alone).
    """
    try:
        loss_value, terms = _optimiser_step(
            run.trained, run.task, batch, run.optimizer, run.scaler, run.amp_dtype, run.config.grad_clip, run.device
        )
    except Exception as error:
        if not is_out_of_memory(error):
            raise
        run.optimizer.zero_grad(set_to_none=True)
        release_cached_memory(run.device)
        if run.dist_info.enabled:
            raise DakdError(
                f"out of memory at batch size {run.state.batch_size} per GPU under torchrun; "
                "rerun with a smaller --batch-size"
            ) from None
        if run.state.batch_size <= 1:
            raise DakdError("out of memory even at batch size 1; use a smaller model variant or --device cpu") from None
        run.state.batch_size //= 2
        run.progress.log("warning", f"out of memory: batch size halved to {run.state.batch_size}, retrying")
        return None
    run.scheduler.step()
    if run.ema is not None:
        run.ema.update(run.model)
    return loss_value, terms


def _result(run: _Run, stopped_early: bool) -> TrainResult:
    """Return what the finished run hands back (histories copied, the EMA weights deep-copied)."""
    state = run.state
    return TrainResult(
        model=run.model,
        steps=state.step,
        batch_size=state.batch_size,
        loss_history=list(state.loss_history),
        eval_history=list(state.eval_history),
        best_score=state.best_score,
        best_step=state.best_step,
        best_state=run.best_state,
        ema_state=copy.deepcopy(run.ema.shadow) if run.ema is not None else None,
        stopped_early=stopped_early,
        device=str(run.device),
    )


def _optimiser_step(
    model: nn.Module,
    task: TrainTask,
    batch: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    amp_dtype: torch.dtype | None,
    grad_clip: float | None,
    device: torch.device,
) -> tuple[float, dict[str, float]]:
    optimizer.zero_grad(set_to_none=True)
    autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()
    with autocast:
        loss, terms = task.loss(model, batch)
    loss_value = float(loss.detach())  # one device sync, before backward (not another one after the step)
    if not math.isfinite(loss_value):
        raise DakdError(f"the training loss became {loss_value}; lower --lr or use --precision fp32")
    scaler.scale(loss).backward()
    if grad_clip:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss_value, terms
