"""Training checkpoints: everything needed to resume a run exactly.

A checkpoint holds the model, optimiser, learning-rate scheduler, AMP scaler and EMA states, the
torch RNG states (CPU and CUDA), the step, the epoch and the position inside the epoch's sample
order, the current batch size (after any out-of-memory halving), the best validation score and
the loss/metric history. Data order and augmentations are drawn from seeded generators
(``engine.data.samples``), so with these states restored the resumed run takes the same steps as
an uninterrupted one.

Files are written atomically (``engine.io.atomic``) with ``torch.save`` and read with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers, so a
checkpoint from elsewhere cannot run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.errors import ModelError
from engine.io.atomic import atomic_file

FORMAT_NAME = "dakd-train-checkpoint"
LAST = "last.pt"
BEST = "best.pt"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plain containers of tensors and numbers) to ``path`` atomically."""
    path = Path(path)
    with atomic_file(path) as tmp:
        torch.save({"format": FORMAT_NAME, **state}, tmp)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` without unpickling code.

    Raises:
        ModelError: missing file, not a weights-only file, or another format.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint not found; start without --resume or give the run's checkpoint folder")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - every refusal becomes one line
        raise ModelError(
            f"{path}: not a DAKD training checkpoint ({type(error).__name__}); start again without --resume"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_NAME:
        raise ModelError(f"{path}: not a DAKD training checkpoint; start again without --resume")
    return state


def rng_state() -> dict[str, Any]:
    """Return the torch RNG states of this process (CPU, and every CUDA device when present)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
