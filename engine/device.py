"""Where torch work runs and how much of it fits: device choice, autocast dtype, batch sizes, OOM back-off.

Shared by detection and training. Analysts rarely know which device they have, so ``auto`` picks
CUDA, then Apple MPS, then the CPU, and always says why (the reason goes into run summaries). A run
that runs out of GPU memory halves its batch and carries on instead of failing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

from engine.contract import DEVICES, PRECISIONS, device_problem
from engine.errors import DakdError

log = logging.getLogger("dakd")
T = TypeVar("T")

DEVICE_CHOICES = DEVICES  # the name callers of this module know


@dataclass(frozen=True)
class DeviceChoice:
    """The device a run uses and the one-line reason it was chosen (for the run summary)."""

    device: torch.device
    reason: str

    @property
    def name(self) -> str:
        """Human-readable device name, e.g. ``cuda:0 (NVIDIA H100)`` or ``cpu (2 threads)``."""
        if self.device.type == "cuda":
            return f"{self.device} ({torch.cuda.get_device_name(self.device)})"
        if self.device.type == "cpu":
            return f"cpu ({torch.get_num_threads()} threads)"
        return str(self.device)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(requested: str = "auto") -> DeviceChoice:
    """Pick the device: ``auto`` tries CUDA, then MPS, then CPU; an explicit choice is checked.

    Args:
        requested: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Raises:
        DakdError: the requested device is unknown or not available on this machine.
    """
    problem = device_problem(requested)
    if problem:
        raise DakdError(problem)
    kind = requested.split(":", 1)[0]
    cuda_ok = torch.cuda.is_available()
    if kind == "auto":
        if cuda_ok:
            return DeviceChoice(torch.device("cuda:0"), "auto: a CUDA GPU is available")
        if _mps_available():
            return DeviceChoice(torch.device("mps"), "auto: no CUDA GPU; Apple MPS is available")
        why = "this torch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
        return DeviceChoice(torch.device("cpu"), f"auto: {why} and no Apple MPS, so the CPU is used")
    if kind == "cuda":
        if not cuda_ok:
            raise DakdError(
                f"--device {requested}: no CUDA GPU is visible to torch {torch.__version__}; "
                "use --device auto or --device cpu"
            )
        device = torch.device(requested if ":" in requested else "cuda:0")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DakdError(
                f"--device {requested}: only {torch.cuda.device_count()} CUDA GPU(s) visible; "
                "use cuda:0 or --device auto"
            )
        return DeviceChoice(device, f"requested {requested}")
    if kind == "mps":
        if not _mps_available():
            raise DakdError("--device mps: Apple MPS is not available on this machine; use --device auto or cpu")
        return DeviceChoice(torch.device("mps"), "requested mps")
    return DeviceChoice(torch.device("cpu"), "requested cpu")


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """Return the autocast dtype for ``precision`` on ``device``; None means plain float32.

    ``auto`` is bf16 on CUDA GPUs that support it, else fp16 on CUDA and MPS, and float32 on the CPU
    (CPU autocast is slower than float32 for these models and less accurate).

    Raises:
        DakdError: unknown precision, or half precision asked for on the CPU.
    """
    if precision not in PRECISIONS:
        raise DakdError(f"unknown precision {precision!r}; use one of: {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return None
    if device.type == "cpu":
        if precision == "auto":
            return None
        raise DakdError(f"--precision {precision} is for GPUs; use --precision fp32 or auto on the CPU")
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def free_memory_bytes(device: torch.device) -> int | None:
    """Memory free for new tensors on ``device`` (CUDA: driver-reported; CPU: MemAvailable); None if unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "mps":
        recommended = getattr(torch.mps, "recommended_max_memory", None)
        allocated = getattr(torch.mps, "driver_allocated_memory", None)
        if recommended is None or allocated is None:
            return None
        return max(0, int(recommended()) - int(allocated()))
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if hasattr(os, "sysconf") and "SC_AVPHYS_PAGES" in os.sysconf_names:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return None


def batch_size_for_memory(
    free_bytes: int | None, bytes_per_sample: int, max_batch: int, min_batch: int = 1, fraction: float = 0.6
) -> int:
    """Return the largest power-of-two batch in ``[min_batch, max_batch]`` fitting ``fraction`` of free memory.

    Powers of two keep the halving back-off on the same sizes. ``free_bytes`` None gives ``max_batch``.
    """
    if free_bytes is None or bytes_per_sample <= 0:
        return max_batch
    fits = int(free_bytes * fraction // bytes_per_sample)
    batch = min_batch
    while batch * 2 <= min(fits, max_batch):
        batch *= 2
    return max(min_batch, min(batch, max_batch))


def is_out_of_memory(error: BaseException) -> bool:
    """Tell CUDA/MPS/CPU allocation failures, which a smaller batch may avoid, from other errors."""
    if isinstance(error, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message)


def release_cached_memory(device: torch.device) -> None:
    """Return cached blocks to the driver after an OOM so the retry sees them as free."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch.mps, "empty_cache"):
        torch.mps.empty_cache()


def map_batches(
    fn: Callable[[int, int], T],
    total: int,
    batch_size: int,
    device: torch.device,
    min_batch_size: int = 1,
) -> tuple[list[T], int]:
    """Call ``fn(start, stop)`` over ``[0, total)`` in batches, halving the batch on out-of-memory.

    A batch that runs out of memory is retried at half the size (never below ``min_batch_size``);
    later batches keep the smaller size.

    Returns:
        The results in order and the batch size that finally worked (callers keep it for the next call).

    Raises:
        DakdError: even ``min_batch_size`` does not fit.
    """
    results: list[T] = []
    start = 0
    while start < total:
        stop = min(total, start + batch_size)
        try:
            results.append(fn(start, stop))
        except Exception as error:  # noqa: BLE001 - only OOMs are handled; everything else re-raises
            if not is_out_of_memory(error):
                raise
            release_cached_memory(device)
            if batch_size <= min_batch_size:
                raise DakdError(
                    f"out of memory on {device} even with a batch of {batch_size}; "
                    "close other programs, use a smaller model, or use --device cpu"
                ) from None
            batch_size = max(min_batch_size, batch_size // 2)
            log.warning("out of memory on %s; retrying with batch size %d", device, batch_size)
            continue
        start = stop
    return results, batch_size
