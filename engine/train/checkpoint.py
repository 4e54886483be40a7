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

A checkpoint also holds its run's *fingerprint* (:func:`check_fingerprint`): plain JSON values and
digests that say which run it belongs to. ``--resume`` continues a run only when the checkpoint's
fingerprint is this run's; a card written after resuming another run's checkpoint would describe this
run's data and settings while every weight came from the other run. What goes into a fingerprint and
why is listed in :func:`engine.train.loop.run_fingerprint`.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine.errors import ModelError
from engine.io.atomic import atomic_file

if TYPE_CHECKING:
    from engine.data.tiles import TileSet

FORMAT_NAME = "dakd-train-checkpoint"
LAST = "last.pt"
BEST = "best.pt"
#: The checkpoint's key holding its run's fingerprint (a flat dict of plain JSON values).
FINGERPRINT = "fingerprint"
#: Bumped when the checkpoint's content or the fingerprint's recipe changes: an older checkpoint is then refused
#: by name ("differs in: checkpoint") instead of failing somewhere in the restore.
FINGERPRINT_VERSION = 1
#: What a refused checkpoint's message tells the analyst to do. Not "start without --resume" alone: the work folder
#: holding the checkpoint is then refused as an earlier run's ("pass --resume ... or --overwrite"), a loop.
RETRY = "start without --resume, with --overwrite or another --work-dir"
#: How many differing fingerprint keys a refusal names before "and N more".
_NAMED_DIFFERENCES = 4


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plain containers of tensors and numbers) to ``path`` atomically."""
    path = Path(path)
    # Serialised in memory and written by Python: torch.save's own writer reports a full disk as a RuntimeError
    # without the error number ("unexpected pos"), which atomic_file cannot name; write_bytes raises the OSError.
    data = io.BytesIO()
    torch.save({"format": FORMAT_NAME, **state}, data)
    with atomic_file(path, option="--work-dir") as tmp:
        tmp.write_bytes(data.getbuffer())
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` without unpickling code.

    Raises:
        ModelError: missing file, not a weights-only file, or another format.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint not found; {RETRY}")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - every refusal becomes one line
        raise ModelError(f"{path}: not a DAKD training checkpoint ({type(error).__name__}); {RETRY}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_NAME:
        raise ModelError(f"{path}: not a DAKD training checkpoint; {RETRY}")
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


def _hasher() -> Any:
    """Return the digest used for fingerprints: SHA-256, the fastest of hashlib's where CPUs accelerate it."""
    return hashlib.sha256()


def arrays_digest(arrays: Iterable[np.ndarray]) -> str:
    """Return a digest of the arrays' dtypes, shapes and bytes (the data a run learns from, not where it lies)."""
    digest = _hasher()
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
        digest.update(contiguous.view(np.uint8).reshape(-1).data)
    return digest.hexdigest()


def tiles_digest(tiles: TileSet | None) -> str | None:
    """Return a digest of the tiles' pixels, validity and labels (None for no tiles).

    Scene names and file paths are left out: a run whose data folder moved is still the same run.
    """
    if tiles is None or len(tiles) == 0:
        return None
    return arrays_digest((tiles.images_db, tiles.valid, tiles.labels))


def state_digest(state: Mapping[str, torch.Tensor], values: bool = True) -> str:
    """Return a digest of a ``state_dict``: its names, shapes and dtypes, and with ``values`` its numbers too."""
    digest = _hasher()
    for name in sorted(state):
        tensor = state[name]
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        if values:
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def _plain_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def json_digest(value: Any) -> str:
    """Return a digest of a JSON-able value (key order aside): a whole manifest in one fingerprint entry."""
    digest = _hasher()
    digest.update(json.dumps(value, sort_keys=True, default=_plain_default).encode())
    return digest.hexdigest()


def flat_fingerprint(parts: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``parts`` as a flat dict of plain JSON values, nested keys joined with dots (``loop.lr``).

    Plain values load with ``torch.load(weights_only=True)``, compare equal after a round trip through a
    checkpoint or a JSON sidecar, and name exactly which setting differs.
    """
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        else:
            flat[prefix] = value

    walk("", json.loads(json.dumps(parts, default=_plain_default)))
    return flat


def fingerprint_differences(saved: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """Return the fingerprint keys whose values differ (or are in only one of the two), sorted."""
    return sorted(key for key in set(saved) | set(expected) if saved.get(key) != expected.get(key))


def check_fingerprint(path: str | Path, saved: Any, expected: Mapping[str, Any]) -> None:
    """Refuse a checkpoint (or saved model) that belongs to another run than the one ``expected`` describes.

    Raises:
        ModelError: ``saved`` differs from ``expected``, or there is none (written by an older engine).
    """
    if not isinstance(saved, Mapping):
        raise ModelError(f"{path}: written by an older engine, so it cannot be matched to this run; {RETRY}")
    differences = fingerprint_differences(saved, expected)
    if not differences:
        return
    named = ", ".join(differences[:_NAMED_DIFFERENCES])
    if len(differences) > _NAMED_DIFFERENCES:
        named += f" and {len(differences) - _NAMED_DIFFERENCES} more"
    raise ModelError(f"{path} is from another run (differs in: {named}); {RETRY}")


def unfit_checkpoint(path: str | Path, error: BaseException) -> ModelError:
    """Return the one-line refusal of a checkpoint whose content does not fit this run (a failed restore)."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
    reason = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    return ModelError(f"{path} does not fit this run ({reason[:160]}); {RETRY}")
