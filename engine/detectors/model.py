"""The SAROSS-Net detector: a model card in, class probabilities per tile out.

Implements :class:`engine.detectors.base.Detector`. It loads the card (never unpickling), picks the
device (CUDA → MPS → CPU, with the reason), runs under bf16/fp16 autocast on GPUs, chooses its
batch from free memory, halves it on out-of-memory, and can ``torch.compile`` the network.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from engine.detectors.base import DetectorInfo
from engine.device import (
    DeviceChoice,
    autocast_dtype,
    batch_size_for_memory,
    free_memory_bytes,
    is_out_of_memory,
    map_batches,
    select_device,
)
from engine.errors import DakdError, ModelError
from engine.io.scene import SceneInfo
from engine.modelcard import ModelCard, check_card_against_scene, load_model
from engine.models.scan import SCAN_BACKENDS, available_backends

log = logging.getLogger("dakd")

#: Options :func:`load_model_detector` accepts (the CLI passes them through ``select_detector``).
MODEL_OPTIONS = ("batch_size", "precision", "compile", "scan_backend")
MAX_BATCH = 64
#: Rough activation memory per 256² tile and million parameters at inference, in bytes; used only to
#: pick a starting batch (the OOM back-off corrects it).
_BYTES_PER_TILE_PER_MPARAM = 3_000_000


class ModelDetector:
    """SAROSS-Net behind the detector interface.

    Args:
        model: the network (eval mode).
        card: its model card.
        device: where it runs and why.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (half precision on GPUs only).
        batch_size: tiles per forward pass, or None to choose from free memory.
        compile: wrap the network in ``torch.compile`` (first batch is slow; later ones faster on GPUs).
        model_path: where the card came from (for the run summary).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        card: ModelCard,
        device: DeviceChoice,
        precision: str = "auto",
        batch_size: int | None = None,
        compile: bool = False,
        model_path: str = "",
    ) -> None:
        self.card = card
        self.classes = card.classes
        self.input_spec = card.input_spec
        self.context_px = card.context_px
        self.device_choice = device
        self.model_path = model_path
        self.scan_backend = card.build.get("encoder_options", {}).get("scan_backend", "auto")
        self.precision = precision
        self.dtype = autocast_dtype(device.device, precision)
        self.model = self.eager_model = model.to(device.device).eval()
        self.n_params = sum(p.numel() for p in self.model.parameters())
        #: Bands per tile the network takes (1 for models that compute their own input channels).
        self.input_bands = getattr(getattr(model, "config", None), "input_bands", card.build.get("in_chans", 1))
        self.compiled = False
        if compile:
            self.model = cast(torch.nn.Module, torch.compile(self.model))  # an OptimizedModule
            self.compiled = True
        self.batch_size = batch_size if batch_size else self._batch_from_memory()
        #: Tiles per batch the detection pipeline should read (it asks for this when --batch-size is not given).
        self.default_batch_size = self.batch_size
        self.stats = {"tiles": 0, "forward_s": 0.0}
        self.backend_reason = "--backend torch"

    def _batch_from_memory(self) -> int:
        if self.device_choice.device.type == "cpu":
            return 8
        per_tile = int(
            _BYTES_PER_TILE_PER_MPARAM
            * max(1.0, self.n_params / 1e6)
            * (self.input_spec.tile_size / 256) ** 2
            * (0.5 if self.dtype is not None else 1.0)
        )
        return batch_size_for_memory(free_memory_bytes(self.device_choice.device), per_tile, MAX_BATCH)

    def prepare(self, scene: SceneInfo) -> None:
        """Refuse scenes the model was not trained for (band, calibration, pixel size)."""
        check_card_against_scene(self.card, scene)

    @torch.inference_mode()
    def _forward(self, batch: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        device = self.device_choice.device
        batch = batch.to(device, non_blocking=True)
        valid = valid.to(device, non_blocking=True)
        try:
            logits = self._run_model(batch, valid)
        except Exception as error:  # noqa: BLE001 - a failed compilation falls back to eager mode once
            if not self.compiled or is_out_of_memory(error):
                raise
            log.warning(
                "torch.compile failed (%s: %s); running without --compile",
                type(error).__name__,
                str(error).splitlines()[0] if str(error) else "",
            )
            self.model, self.compiled = self.eager_model, False
            logits = self._run_model(batch, valid)
        return torch.softmax(logits.float(), dim=1).cpu()

    def _run_model(self, batch: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        if self.dtype is None:
            return self.model(batch, valid)
        with torch.autocast(batch.device.type, dtype=self.dtype):
            return self.model(batch, valid)

    def predict(self, tiles: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, classes, H, W)`` float32 for normalised tiles ``(N, 1, H, W)``.

        ``valid`` (same shape) tells the network where nodata is (see :class:`engine.models.SarossNet`).
        """
        started = time.perf_counter()
        inputs = torch.from_numpy(np.ascontiguousarray(tiles, dtype=np.float32))
        bands = self.input_bands
        if inputs.ndim != 4 or inputs.shape[1] != bands:
            raise ModelError(f"model {self.card.name!r} expects tiles (N, {bands}, H, W); got {tuple(inputs.shape)}")
        mask = torch.from_numpy(np.broadcast_to(valid, tiles.shape).copy())
        parts, self.batch_size = map_batches(
            lambda a, b: self._forward(inputs[a:b], mask[a:b]), len(inputs), self.batch_size, self.device_choice.device
        )
        probabilities = torch.cat(parts).numpy()
        self.stats["tiles"] += len(inputs)
        self.stats["forward_s"] += time.perf_counter() - started
        return probabilities

    def describe(self) -> DetectorInfo:
        """Model id, device and the reason it was chosen, precision and batch size for the run summary."""
        dtype = "fp32" if self.dtype is None else str(self.dtype).replace("torch.", "")
        extra: dict[str, Any] = {
            "model_path": self.model_path,
            "architecture": self.card.architecture,
            "variant": self.card.variant,
            "encoder": self.card.build.get("encoder"),
            "encoder_variant": self.card.build.get("variant"),
            "parameters": self.n_params,
            "precision": dtype,
            "batch_size": self.batch_size,
            "compiled": self.compiled,
            "classes": [c.name for c in self.classes],
            "scan_backend": self.scan_backend,
            "input_features": list(self.card.build.get("input_features") or ["db"]),
            "tiles": self.stats["tiles"],
            "forward_s": round(self.stats["forward_s"], 3),
            "engine_version_of_card": self.card.engine_version,
            "backend": "torch",
            "backend_reason": self.backend_reason,
            "backend_version": torch.__version__,
        }
        return DetectorInfo(
            name="model",
            model_id=self.card.name,
            device=self.device_choice.name,
            device_reason=self.device_choice.reason,
            extra=extra,
        )


def check_model_options(device: str, options: Mapping[str, Any]) -> DeviceChoice:
    """Refuse the model detector's options (:data:`MODEL_OPTIONS`) that fail on ``device``; return the device.

    Judged without the card or its weights (seconds, minutes for a large model): before the scene opens, by
    :func:`engine.detectors.check_device_and_backend` for a run on the torch backend, and again by
    :func:`load_model_detector` before the weights load.

    Raises:
        DakdError: an unknown option or device, a scan backend ``device`` cannot run, a batch below 1, or a
            precision the device does not have (:func:`engine.device.autocast_dtype`).
    """
    unknown = sorted(set(options) - set(MODEL_OPTIONS))
    if unknown:
        raise DakdError(f"the model detector has no option(s) {', '.join(unknown)}; valid: {', '.join(MODEL_OPTIONS)}")
    choice = select_device(device)
    scan_backend = options.get("scan_backend")
    if scan_backend:
        if scan_backend not in SCAN_BACKENDS:
            raise DakdError(f"unknown scan backend {scan_backend!r}; use one of: {', '.join(SCAN_BACKENDS)}")
        if scan_backend in ("mamba_ssm", "triton") and (
            scan_backend not in available_backends() or choice.device.type != "cuda"
        ):
            raise DakdError(
                f"--scan-backend {scan_backend} needs a CUDA GPU and the {scan_backend} package; "
                f"on {choice.name} use --scan-backend auto"
            )
    batch_size = options.get("batch_size")
    if batch_size is not None and int(batch_size) < 1:
        raise DakdError(f"--batch-size must be at least 1, got {batch_size}")
    autocast_dtype(choice.device, options.get("precision") or "auto")  # the detector's own check, made early
    return choice


def load_model_detector(model_path: str | Path, device: str = "auto", **options: Any) -> ModelDetector:
    """Load a model card and wrap it as a detector.

    Args:
        model_path: the card's ``.json`` or ``.safetensors`` file.
        device: ``auto``, ``cpu``, ``cuda[:N]`` or ``mps``.
        **options: ``batch_size`` (int, None = from free memory), ``precision`` (``auto``/``fp32``/
            ``bf16``/``fp16``), ``compile`` (bool), ``scan_backend`` (see :mod:`engine.models.scan`).

    Raises:
        ModelError: the card or weights are missing/invalid.
        DakdError: an unknown option, device or precision.
    """
    choice = check_model_options(device, options)
    scan_backend = options.get("scan_backend")
    batch_size = options.get("batch_size")
    model, card = load_model(model_path, device="cpu")
    if scan_backend:
        model.set_scan_backend(scan_backend)
    detector = ModelDetector(
        model,
        card,
        choice,
        precision=options.get("precision") or "auto",
        batch_size=int(batch_size) if batch_size else None,
        compile=bool(options.get("compile", False)),
        model_path=str(model_path),
    )
    if scan_backend:
        detector.scan_backend = scan_backend
    log.info(
        "model %s (%s, %.1fM parameters) on %s: %s",
        card.name,
        card.variant,
        detector.n_params / 1e6,
        choice.name,
        choice.reason,
    )
    return detector
