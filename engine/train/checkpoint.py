"""Training checkpoints: everything needed to resume a run exactly.

A checkpoint holds the model, optimiser, learning-rate scheduler, AMP scaler and EMA states, the
torch RNG states (CPU and CUDA), the step, the epoch and the position inside the epoch's sample
order, the current batch size (after any out-of-memory halving), the best validation score and
the loss/metric history. Data order and augmentations are drawn from seeded generators
(``engine.data.samples``), so with these states restored the resumed run takes the same steps as
an uninterrupted one.

Files are written atomically (``engine.io.atomic``) with ``torch.save``, synced to the disk before the
rename, and read with ``torch.load(weights_only=True)``, which refuses anything but tensors and plain
containers, so a checkpoint from elsewhere cannot run code. The temporaries of a run killed while saving
are removed by the next run in the folder (:func:`remove_stale_temporaries`).

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
import logging
import os
import stat
import time
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine.errors import ModelError
from engine.io.atomic import TMP_MARK, atomic_file

if TYPE_CHECKING:
    from engine.data.tiles import TileSet

log = logging.getLogger("dakd")

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
#: The option that sets a fingerprint key (or every key under ``prefix.``), by which a refusal names the difference:
#: the analyst knows ``--batch-size``, not ``loop.batch_size``. The same for ``dakd train``, ``dakd train-jointnet``
#: and ``dakd finetune`` unless :data:`_STAGE_OPTIONS` says otherwise; a key set by no one option (the data's
#: digests, the network's shapes) keeps its own name.
_OPTIONS = {
    "loop.max_steps": "--steps",
    "loop.warmup_steps": "--steps",  # follows the step count
    "loop.batch_size": "--batch-size",
    "loop.lr": "--lr",
    "loop.seed": "--seed",
    "loop.precision": "--precision",
    "loop.ema_decay": "--ema",
    "loop.early_stop_patience": "--patience",
    "loop.evaluate_first": "--init",
    "loop.min_gain_over_start": "--min-gain",
    "init": "--init",
    "input.db_range": "--db-range",
    "segmenter.model": "--model",
    "segmenter.skip": "--skip",
    "segmenter.aug_ratio": "--aug-ratio",
    "segmenter.soft_labels": "--hard-labels",
    "segmenter.crop_px": "--crop-px",
    "segmenter.real_only_steps": "--real-only-steps",
    "segmenter.freeze_norm": "--init",  # a run from a trained model keeps its batch-norm statistics
    "segmenter.augment": "--augment",
    "segmenter.loss.retain": "--retain",
    "segmenter.loss.generated_share": "--generated-share",
    "segmenter.model_overrides.input_features": "--input-features",
    "jointnet.model": "--variant",
    "jointnet.balance": "--balance",
    "jointnet.balance_stat": "--balance-stat",
    "jointnet.db_range": "--db-range",
    "jointnet.label_loss": "--label-loss",
    "jointnet.crop_px": "--crop-px",
    "jointnet.speckle": "--speckle",
}
#: Where a stage (the fingerprint's ``stage``, and ``phase`` of SAROSS-Net's real-only phase) takes a key from another
#: option: SAR-JointNet's steps are ``dakd finetune``'s ``--jointnet-steps`` (its ``--steps`` are SAROSS-Net's), and
#: there the preset alone sets its learning rate and size; the real-only phase's steps are ``--real-only-steps``.
_STAGE_OPTIONS = {
    "train SAR-JointNet": {
        "loop.max_steps": "--steps (dakd finetune: --jointnet-steps)",
        "loop.warmup_steps": "--steps (dakd finetune: --jointnet-steps)",
        "loop.ema_decay": "--ema (dakd finetune: --jointnet-steps)",
        "loop.lr": "--lr (dakd finetune: --preset)",
        "jointnet.model": "--variant (dakd finetune: --preset)",
    },
    "train SAROSS-Net": {"loop.early_stop_patience": "--patience (dakd finetune: --preset)"},
    "real-only": {"loop.max_steps": "--real-only-steps", "loop.warmup_steps": "--real-only-steps"},
}


#: A checkpoint temporary (:func:`stale_temporaries`) untouched for this long is left by a killed run. Not any age:
#: another process may be writing a checkpoint into the same folder right now (a second run started there by
#: mistake, or a ``--resume`` while the first is still saving), and removing its temporary would fail its rename.
#: A temporary's time stamp moves with every write, and even a 436 MB checkpoint on a slow disk is written and
#: synced in well under this, so only a temporary nobody writes any more is this old.
STALE_TEMPORARY_S = 10 * 60


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plain containers of tensors and numbers) to ``path`` atomically and durably.

    The temporary is flushed to the disk before it is renamed: otherwise a power cut soon after the rename can
    leave ``last.pt`` empty (the rename reached the disk, the data not yet), and the run cannot be resumed.
    """
    path = Path(path)
    # Serialised in memory and written by Python: torch.save's own writer reports a full disk as a RuntimeError
    # without the error number ("unexpected pos"), which atomic_file cannot name; write raises the OSError.
    data = io.BytesIO()
    torch.save({"format": FORMAT_NAME, **state}, data)
    with atomic_file(path, option="--work-dir") as tmp, tmp.open("wb") as handle:
        handle.write(data.getbuffer())
        handle.flush()
        os.fsync(handle.fileno())
    return path


def _temporary_patterns(names: Iterable[str]) -> list[str]:
    """Return the name patterns of :func:`engine.io.atomic.atomic_file`'s temporaries of ``names``."""
    return [f".{Path(name).stem}{TMP_MARK}*{Path(name).suffix}" for name in names]


def stale_temporaries(folder: str | Path, now: float | None = None) -> list[Path]:
    """Return the temporaries of ``folder``'s checkpoints that a killed run left behind.

    Only :func:`save_checkpoint`'s own (``.last.tmp-XXXX.pt``, ``.best.tmp-XXXX.pt``), only regular files (no link,
    whose target may be anything), and only those no process has written for :data:`STALE_TEMPORARY_S`.
    """
    patterns = _temporary_patterns((LAST, BEST))
    now = time.time() if now is None else now
    stale = []
    try:
        with os.scandir(folder) as scan:
            entries = list(scan)
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        if not any(fnmatchcase(entry.name, pattern) for pattern in patterns):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # renamed or removed by its writer meanwhile
            continue
        if stat.S_ISREG(info.st_mode) and now - info.st_mtime >= STALE_TEMPORARY_S:
            stale.append(Path(entry.path))
    return sorted(stale)


def remove_stale_temporaries(folder: str | Path) -> int:
    """Remove :func:`stale_temporaries` from ``folder``, logging once how much was freed; return the bytes freed.

    A run killed while it saved a checkpoint (SIGKILL, the system out of memory) cannot remove its temporary,
    which is as large as a checkpoint (hundreds of MB) and would stay for good: the run that next trains in the
    folder removes it.
    """
    freed, removed = 0, 0
    for path in stale_temporaries(folder):
        try:
            size = path.lstat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:  # left as it was: not worth stopping a run for
            log.warning("could not remove the stale checkpoint temporary %s (%s)", path, error.strerror or error)
            continue
        freed, removed = freed + size, removed + 1
    if removed:
        log.info(
            "removed %d stale checkpoint temporar%s of a killed run from %s, freeing %.1f MB",
            removed,
            "y" if removed == 1 else "ies",
            folder,
            freed / 2**20,
        )
    return freed


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


def difference_names(keys: Iterable[str], expected: Mapping[str, Any]) -> list[str]:
    """Return the options (:data:`_OPTIONS`) that set the fingerprint ``keys`` of the run ``expected`` describes.

    Each option is named once, sorted; a key that no option sets keeps its name (``data.train``, ``network``).
    """
    options = {**_OPTIONS}
    for stage in (expected.get("stage"), expected.get("phase")):
        options.update(_STAGE_OPTIONS.get(stage, {}) if isinstance(stage, str) else {})
    names = set()
    for key in keys:
        parts = key.split(".")
        prefixes = (".".join(parts[:end]) for end in range(len(parts), 0, -1))  # the longest first
        names.add(next((options[prefix] for prefix in prefixes if prefix in options), key))
    return sorted(names)


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
    differences = difference_names(differences, expected)
    named = ", ".join(differences[:_NAMED_DIFFERENCES])
    if len(differences) > _NAMED_DIFFERENCES:
        named += f" and {len(differences) - _NAMED_DIFFERENCES} more"
    raise ModelError(f"{path} is from another run (differs in: {named}); {RETRY}")


def unfit_checkpoint(path: str | Path, error: BaseException) -> ModelError:
    """Return the one-line refusal of a checkpoint whose content does not fit this run (a failed restore)."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
    reason = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    return ModelError(f"{path} does not fit this run ({reason[:160]}); {RETRY}")
