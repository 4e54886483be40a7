"""Training SAR-JointNet and generating (image, soft label) pairs with it.

Training (paper §1, our [I] formulas): for a batch of diffusion-domain images x_0 in [-1, 1] and
labels y, draw one t per sample and noises eps, eps'; form::

    x_t  = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
    y'_t = sqrt(alpha_bar_t) b (2 onehot(y) - 1) + sqrt(1 - alpha_bar_t) eps'

and minimise ``w_x * MSE(x0_hat, x_0) + w_y * CE(label_logits, y)`` (equal weights [I]). The MSE
skips nodata pixels and the CE skips ignored ones; an ignored pixel's one-hot is uniform.
``label_loss="mse"`` trains the label branch with MSE on the scaled label instead, which with
``b = 1`` is plain JointNet (the paper's "none" ablation row).

Generation: DDIM from pure noise on both branches; the label estimate fed to the sampler is
``b (2 softmax(logits) - 1)``; the soft label written is ``softmax(logits / T)`` of the last step.
The image is mapped back from [-1, 1] to dB.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.classes import IGNORE_INDEX, NOT_OIL_INDEX, SegClass
from engine.config import ConfigBase
from engine.data.generated import GeneratedWriter, sample_grid_png
from engine.data.samples import AugmentConfig, JointBatches, make_plan
from engine.data.tiles import TileSet, db_to_diffusion, diffusion_to_db
from engine.device import select_device
from engine.diffusion.balance import balance_factor
from engine.diffusion.ddim import DDIMConfig, DDIMSampler, sample
from engine.diffusion.schedule import NoiseSchedule, ScheduleConfig
from engine.diffusion.speckle import (
    GRDH_ENL,
    SPECKLE_CORRELATION_PX,
    SPECKLE_MODES,
    add_speckle_db,
    despeckle_db,
    estimate_enl,
)
from engine.errors import InputError, ModelError
from engine.io.atomic import EngineFolder, Inputs, atomic_file
from engine.models.sar_jointnet import JointNetConfig, SARJointNet, label_x0_from_logits
from engine.progress import Progress
from engine.train.checkpoint import BEST, LAST, tiles_digest
from engine.train.loop import LoopConfig, TrainResult, run_fingerprint, train

LABEL_LOSSES = ("ce", "mse")
WEIGHTS_SUFFIX = ".safetensors"
META_SUFFIX = ".json"
#: SAR-JointNet's run folder (``dakd train-jointnet --work-dir``): its checkpoints, all that ``--overwrite`` may
#: delete there (:func:`engine.io.atomic.check_work_folder`).
JOINTNET_WORK = EngineFolder("SAR-JointNet work folder", (LAST, BEST))


@dataclass(frozen=True)
class JointTrainConfig(ConfigBase):
    """Settings of SAR-JointNet training beyond the loop's.

    Attributes:
        model: UNet sizes and classes.
        schedule: the noise schedule.
        balance: b; None computes it from the training tiles (``balance_stat``), 1.0 turns it off.
        balance_stat: ``rms`` (SNR match, default) or ``std``.
        db_range: the dB span mapped to [-1, 1].
        label_loss: ``ce`` (SAR-JointNet) or ``mse`` (JointNet).
        image_loss_weight: weight of the image MSE.
        label_loss_weight: weight of the label loss.
        min_valid_fraction: tiles with less valid area are not used for diffusion training.
        augment: flips and rotations (no dB shift: the generator should learn the real levels).
        crop_px: train on random crops of this size (None: whole tiles); generation size is separate.
        speckle: ``physics`` (learn speckle-filtered tiles; generation draws Gamma speckle with the
            tiles' ENL, :mod:`engine.diffusion.speckle`) or ``learned`` (raw tiles, before issue 17).
        despeckle_px: the multilook window of the ``physics`` mode's speckle filter.
        enl: equivalent number of looks of the drawn speckle (None: estimated on the tiles' background).
    """

    model: JointNetConfig = field(default_factory=JointNetConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    balance: float | None = None
    balance_stat: str = "rms"
    db_range: tuple[float, float] = (-35.0, 5.0)
    label_loss: str = "ce"
    image_loss_weight: float = 1.0
    label_loss_weight: float = 1.0
    min_valid_fraction: float = 0.9
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(db_shift=0.0))
    crop_px: int | None = None
    speckle: str = "physics"
    despeckle_px: int = 5
    enl: float | None = None

    def __post_init__(self) -> None:
        if self.speckle not in SPECKLE_MODES:
            raise ValueError(f"unknown speckle mode {self.speckle!r}; valid: {', '.join(SPECKLE_MODES)}")


def compute_balance(tiles: TileSet, db_range: tuple[float, float], stat: str = "rms") -> float:
    """B for these tiles: the SNR-matching rule of :mod:`engine.diffusion.balance` over valid pixels."""
    return balance_factor(
        (db_to_diffusion(t, db_range) for t in tiles.images_db),
        (v for v in tiles.valid),
        stat=stat,
        num_classes=tiles.num_classes,
    )


class JointTask:
    """SAR-JointNet as a :class:`~engine.train.loop.TrainTask`."""

    stage_name = "train SAR-JointNet"

    def __init__(self, tiles: TileSet, config: JointTrainConfig, balance: float, seed: int) -> None:
        if config.label_loss not in LABEL_LOSSES:
            raise ValueError(f"unknown label loss {config.label_loss!r}; valid: {', '.join(LABEL_LOSSES)}")
        keep = tiles.valid.reshape(len(tiles), -1).mean(axis=1) >= config.min_valid_fraction
        if not keep.any():  # the loop's "no training samples" would name neither the cause nor the fix
            raise InputError(
                f"SAR-JointNet: none of the {len(tiles)} training tiles is at least {config.min_valid_fraction:.0%} "
                "valid (nodata covers more of each), so it has nothing to learn from; give scenes with more valid "
                "pixels (dakd finetune: or --aug-ratio 0, to train without generated pairs)"
            )
        self.tiles = tiles.subset(np.nonzero(keep)[0]) if not keep.all() else tiles
        self.config = config
        self.balance = balance
        self.schedule = NoiseSchedule(config.schedule)
        self.num_classes = tiles.num_classes
        self.batches = JointBatches(self.tiles, config.db_range, config.augment, seed, config.crop_px)
        self.plan = make_plan(self.tiles, None, 0.0, 1, seed)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Every tile once, shuffled."""
        return self.plan.order(epoch)

    def make_batch(self, sample_ids: np.ndarray, epoch: int, positions: np.ndarray) -> dict[str, torch.Tensor]:
        """Diffusion-domain images, validity and labels; "not oil" pixels count as unlabelled.

        SAR-JointNet generates whole one-hot label maps, and "any class but oil" is none of them; as
        a class id (254) it would crash the CE or, clamped, teach "land".
        """
        batch = self.batches.batch(sample_ids, epoch, positions)
        batch["label"] = torch.where(batch["label"] == NOT_OIL_INDEX, IGNORE_INDEX, batch["label"])
        return batch

    def signed_label(self, labels: torch.Tensor) -> torch.Tensor:
        """B * (2 onehot - 1), uniform one-hot on ignored pixels."""
        ignored = labels == IGNORE_INDEX
        one_hot = F.one_hot(labels.clamp(0, self.num_classes - 1), self.num_classes).permute(0, 3, 1, 2).float()
        one_hot = torch.where(ignored[:, None], torch.full_like(one_hot, 1.0 / self.num_classes), one_hot)
        return self.balance * (2.0 * one_hot - 1.0)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Image MSE (valid pixels) + label CE (labelled pixels) at a random t per sample."""
        image, valid, labels = batch["image"], batch["valid"], batch["label"]
        label_x0 = self.signed_label(labels)
        timesteps = self.schedule.sample_timesteps(image.shape[0], image.device)
        noisy_image = self.schedule.add_noise(image, torch.randn_like(image), timesteps)
        noisy_label = self.schedule.add_noise(label_x0, torch.randn_like(label_x0), timesteps)
        image_x0, logits = model(noisy_image, noisy_label, timesteps)
        weight = valid.float()
        image_loss = ((image_x0.float() - image) ** 2 * weight).sum() / weight.sum().clamp_min(1.0)
        if self.config.label_loss == "ce":
            label_loss = (
                F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX)
                if (labels != IGNORE_INDEX).any()
                else logits.sum() * 0.0
            )
        else:
            label_loss = F.mse_loss(label_x0_from_logits(logits, self.balance), label_x0)
        total = self.config.image_loss_weight * image_loss + self.config.label_loss_weight * label_loss
        return total, {"image_mse": float(image_loss.detach()), "label_loss": float(label_loss.detach())}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, Any] | None:
        """No validation score: diffusion quality is judged by FID after generation."""
        return None


@dataclass
class TrainedJointNet:
    """A trained SAR-JointNet with what generation needs to know."""

    model: SARJointNet
    balance: float
    schedule: NoiseSchedule
    db_range: tuple[float, float]
    classes: tuple[SegClass, ...]
    metadata: dict[str, Any]


def jointnet_identity(tiles: TileSet, config: JointTrainConfig) -> dict[str, Any]:
    """Return SAR-JointNet's part of a run's fingerprint (:func:`engine.train.loop.run_fingerprint`).

    Each part, and why a resumed run must share it:

    - ``classes``: the label maps it generates are of these classes;
    - ``jointnet``: every setting of this trainer (network, noise schedule, b, dB range, losses, speckle);
    - ``data.train``: a digest of the training tiles' pixels, validity and labels (as given, before the speckle
      filter), which the generator learns and the card of a model trained on its pairs describes.
    """
    return {
        "classes": [[c.id, c.name] for c in tiles.classes],
        "jointnet": config.to_dict(),
        "data": {"train": tiles_digest(tiles)},
    }


def jointnet_fingerprint(tiles: TileSet, config: JointTrainConfig, loop: LoopConfig) -> dict[str, Any]:
    """Return the fingerprint a SAR-JointNet trained on ``tiles`` carries in its sidecar (``training.fingerprint``).

    ``dakd finetune --resume`` reuses the SAR-JointNet of its work folder only when this matches.
    """
    return run_fingerprint(JointTask.stage_name, loop, jointnet_identity(tiles, config))


def train_jointnet(
    tiles: TileSet,
    config: JointTrainConfig,
    loop: LoopConfig,
    run_dir: str | Path | None = None,
    progress: Progress | None = None,
    resume: bool = False,
) -> tuple[TrainedJointNet, TrainResult]:
    """Train SAR-JointNet on real tiles; the returned model carries the EMA weights.

    b is computed from ``tiles`` unless ``config.balance`` is set.
    """
    progress = progress or Progress()
    identity = jointnet_identity(tiles, config)  # the tiles as given, before the speckle filter
    tiles, speckle = speckle_targets(tiles, config, progress)
    balance = (
        config.balance if config.balance is not None else compute_balance(tiles, config.db_range, config.balance_stat)
    )
    progress.log(
        "info",
        f"SAR-JointNet balancing factor b = {balance:.4f}"
        + (" (computed from the training tiles)" if config.balance is None else " (given)"),
    )
    model_config = replace(config.model, num_classes=tiles.num_classes)
    torch.manual_seed(loop.seed)
    model = SARJointNet(model_config)
    task = JointTask(tiles, config, balance, loop.seed)
    result = train(model, task, loop, run_dir, progress, resume, identity)
    if result.ema_state is not None:
        model.load_state_dict({k: v.to(dtype=model.state_dict()[k].dtype) for k, v in result.ema_state.items()})
    metadata = {
        "balance": balance,
        "balance_computed": config.balance is None,
        "balance_stat": config.balance_stat,
        "label_loss": config.label_loss,
        "crop_px": config.crop_px,
        "speckle": speckle,
        "steps": result.steps,
        "tiles": len(task.tiles),
        "loop": loop.to_dict(),
        "final_loss": result.loss_history[-1][1] if result.loss_history else None,
        "fingerprint": run_fingerprint(task.stage_name, loop, identity),
    }
    trained = TrainedJointNet(model.cpu(), balance, task.schedule, config.db_range, tiles.classes, metadata)
    return trained, result


def speckle_targets(tiles: TileSet, config: JointTrainConfig, progress: Progress) -> tuple[TileSet, dict[str, Any]]:
    """Return the tiles SAR-JointNet learns and how its images get speckle (``metadata["speckle"]``).

    ``physics``: the tiles speckle-filtered, and the ENL (given, or measured on the background class of
    the raw tiles). ``learned``: the tiles as they are.
    """
    if config.speckle == "learned":
        return tiles, {"mode": "learned"}
    enl, estimated = config.enl, config.enl is None
    if enl is None:
        background = tiles.valid & (tiles.labels == tiles.classes[0].id)
        enl = estimate_enl(tiles.images_db, background)
        if enl is None:
            progress.log("warning", f"no homogeneous {tiles.classes[0].name} to measure speckle on; ENL {GRDH_ENL}")
            enl, estimated = GRDH_ENL, False
    filtered = np.empty_like(tiles.images_db)  # tile by tile: the whole set is never held in float32
    for index, (image, valid) in enumerate(zip(tiles.images_db, tiles.valid)):
        filtered[index] = despeckle_db(image, valid, config.despeckle_px)
    progress.log(
        "info", f"SAR-JointNet learns speckle-filtered tiles; generated images get Gamma speckle, ENL {enl:.2f}"
    )
    despeckled = replace(tiles, images_db=filtered)
    return despeckled, {
        "mode": "physics",
        "enl": round(float(enl), 3),
        "enl_estimated": estimated,
        "despeckle_px": config.despeckle_px,
        "correlation_px": SPECKLE_CORRELATION_PX,
    }


def jointnet_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights.safetensors, sidecar.json)`` of a SAR-JointNet at ``path``: what is written, checked and read."""
    weights = Path(path).expanduser().with_suffix(WEIGHTS_SUFFIX)
    return weights, weights.with_suffix(META_SUFFIX)


def save_jointnet(path: str | Path, trained: TrainedJointNet, overwrite: bool = True, inputs: Inputs = ()) -> Path:
    """Write weights (safetensors) and a JSON sidecar beside them; returns the weights path.

    ``overwrite`` and ``inputs`` are :func:`~engine.io.atomic.atomic_file`'s: ``dakd train-jointnet`` passes its
    ``--overwrite`` and data, so an earlier model or a data file is not replaced at the end of a run either.
    """
    from safetensors.torch import save

    weights, sidecar = jointnet_paths(path)
    inputs = list(inputs)  # read by both files' checks
    meta = {
        "format": "dakd-sar-jointnet",
        "version": 1,
        "model": trained.model.config.to_dict(),
        "schedule": trained.schedule.config_dict(),
        "balance": trained.balance,
        "db_range": list(trained.db_range),
        "classes": [{"id": c.id, "name": c.name, "rgb": list(c.rgb)} for c in trained.classes],
        "training": trained.metadata,
    }
    with (  # both checked before either is written
        atomic_file(weights, overwrite, inputs) as tmp_weights,
        atomic_file(sidecar, overwrite, inputs) as tmp_sidecar,
    ):
        # Written by Python, not by save_file: a full disk is then an OSError that atomic_file names in one line.
        tmp_weights.write_bytes(save({k: v.contiguous() for k, v in trained.model.state_dict().items()}))
        tmp_sidecar.write_text(json.dumps(meta, indent=2, default=str))
    return weights


def load_jointnet(path: str | Path) -> TrainedJointNet:
    """Read a SAR-JointNet written by :func:`save_jointnet` (never unpickles).

    ``dakd generate --jointnet`` takes any path: a broken, hand-edited or truncated pair of files is refused in
    one line naming the file, never an internal error.

    Raises:
        ModelError: missing, unreadable or mismatching files.
    """
    from safetensors.torch import load_file

    weights, sidecar = jointnet_paths(path)
    if not weights.is_file() or not sidecar.is_file():
        raise ModelError(
            f"{weights}: SAR-JointNet weights or their .json sidecar not found; train one with 'dakd train-jointnet'"
        )
    meta = _read_sidecar(sidecar)
    try:
        model = SARJointNet(JointNetConfig.from_dict(meta["model"], str(sidecar)))
        classes = tuple(SegClass(int(c["id"]), str(c["name"]), tuple(c["rgb"])) for c in meta["classes"])
        balance = float(meta["balance"])
        schedule = NoiseSchedule.from_config(meta["schedule"])
        low, high = (float(value) for value in meta["db_range"])
        training = dict(meta.get("training") or {})
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        what = f"no {error.args[0]!r} entry" if isinstance(error, KeyError) else str(error).splitlines()[0]
        raise ModelError(
            f"{sidecar}: not a SAR-JointNet sidecar this engine can read ({what}); use the .json that "
            "'dakd train-jointnet' wrote beside the weights"
        ) from None
    try:
        state = load_file(str(weights))
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        raise ModelError(f"{weights}: not readable SAR-JointNet weights ({error}); train them again") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ModelError(f"{weights}: weights do not fit the sidecar's model ({str(error).splitlines()[0]})") from None
    model.eval()
    return TrainedJointNet(model, balance, schedule, (low, high), classes, training)


def _read_sidecar(sidecar: Path) -> dict[str, Any]:
    """Return a SAR-JointNet sidecar's JSON object, refusing an unreadable file or another kind of JSON."""
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{sidecar}: cannot read the SAR-JointNet sidecar ({error}); train it again") from None
    if not isinstance(meta, dict) or meta.get("format") != "dakd-sar-jointnet":
        raise ModelError(f"{sidecar}: not a SAR-JointNet sidecar; give the weights 'dakd train-jointnet' wrote")
    return meta


@dataclass(frozen=True)
class GenerateConfig(ConfigBase):
    """Sampling settings: how many pairs, DDIM steps/eta, batch, soft-label temperature, tile size."""

    count: int
    steps: int = 50
    eta: float = 0.0
    batch_size: int = 8
    temperature: float = 1.0
    tile_px: int = 256
    seed: int = 0
    device: str = "auto"


@torch.no_grad()
def generate_pairs(
    trained: TrainedJointNet, config: GenerateConfig, out_dir: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Sample ``config.count`` pairs into ``out_dir`` (a folder being written; see ``engine.data.generated``).

    Returns:
        The manifest written to ``dataset.json``.
    """
    progress = progress or Progress()
    device = select_device(config.device).device
    model = trained.model.to(device).eval()
    sampler = DDIMSampler(trained.schedule, DDIMConfig(config.steps, config.eta))
    generator = torch.Generator().manual_seed(config.seed)
    writer = GeneratedWriter(out_dir)
    speckle = trained.metadata.get("speckle", {"mode": "learned"})  # generators saved before issue 17: learned
    speckle_rng = np.random.default_rng([config.seed, 17])
    num_classes = len(trained.classes)
    size = config.tile_px
    preview_images: list[np.ndarray] = []
    preview_soft: list[np.ndarray] = []
    batches = -(-config.count // config.batch_size)
    with progress.stage("generate pairs", batches * config.steps) as stage:
        for start in range(0, config.count, config.batch_size):
            count = min(config.batch_size, config.count - start)
            noise_x = torch.randn((count, 1, size, size), generator=generator).to(device)
            noise_y = torch.randn((count, num_classes, size, size), generator=generator).to(device)
            last_logits: dict[str, torch.Tensor] = {}

            def denoise(
                states: Sequence[torch.Tensor],
                timesteps: torch.Tensor,
                last_logits: dict[str, torch.Tensor] = last_logits,
            ) -> list[torch.Tensor]:
                image_x0, logits = model(states[0], states[1], timesteps)
                last_logits["logits"] = logits
                return [image_x0.float().clamp(-1.0, 1.0), label_x0_from_logits(logits, trained.balance)]

            image_x0, _ = sample(
                denoise, sampler, [noise_x, noise_y], generator, on_step=lambda *_: stage.advance(step=stage.done + 1)
            )
            soft = torch.softmax(last_logits["logits"].float() / config.temperature, dim=1)
            images_db = diffusion_to_db(image_x0[:, 0].cpu().numpy(), trained.db_range)
            if speckle["mode"] == "physics":
                images_db = add_speckle_db(images_db, speckle["enl"], speckle["correlation_px"], speckle_rng)
            soft_np = soft.cpu().numpy()
            writer.add(images_db, soft_np)
            if len(preview_images) < 32:
                preview_images.extend(images_db[: 32 - len(preview_images)])
                preview_soft.extend(soft_np[: 32 - len(preview_soft)])
    sample_grid_png(
        out_dir / "samples.png", np.stack(preview_images), np.stack(preview_soft), trained.classes, trained.db_range
    )
    metadata = {
        "db_range": list(trained.db_range),
        "balance": trained.balance,
        "sampler": {"name": "ddim", **sampler.config.to_dict()},
        "soft_label_temperature": config.temperature,
        "speckle": speckle,
        "schedule": trained.schedule.config_dict(),
        "seed": config.seed,
        "jointnet": trained.metadata,
    }
    writer.finish(trained.classes, metadata)
    return json.loads((out_dir / "dataset.json").read_text())
