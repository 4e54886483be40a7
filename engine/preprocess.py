"""Unit conversion and detector-input normalisation.

Scenes deliver linear power (σ0, or DN² for uncalibrated inputs); a detector says in its
:class:`~engine.detectors.base.InputSpec` whether it wants linear values or normalised dB. These
functions are the only place the engine converts between units, so the threshold detector, the
model detector, the simulator and the data loaders agree on what "dB" means.

Units:
    ``linear``: σ0 power (calibrated). ``intensity``: DN² (uncalibrated power). Both are power.
    ``amplitude``: DN (square root of power). ``db``: 10·log10(power).
    ``db-8bit``: an 8-bit picture (0..255) of σ0 linear in dB over an unknown span, as display exports and the
    OSD/SOS data sets are; read as :data:`PICTURE_DB_RANGE`, the span the data-set loaders assume. The true span
    is unknown, so absolute levels mean little: the default model's input channels (contrast to the local sea,
    ``engine.models.inputs``) do not depend on them, and its robustness bench scores such pictures
    (``bench/robustness.py``, docs/model.md).
"""

from __future__ import annotations

import numpy as np

from engine.contract import UNITS
from engine.detectors.base import InputSpec
from engine.errors import InputError

#: Smallest power converted to dB; keeps log10 finite on zeros (nodata is masked anyway).
POWER_FLOOR = 1e-10
_POWER_UNITS = ("linear", "intensity")
#: Units in dB: 0 is a legal value there, negative values too.
DB_UNITS = ("db", "db-8bit")
#: The dB span an 8-bit picture (``db-8bit``) is read as: the data-set loaders' (engine.data.osd.DEFAULT_DB_RANGE).
PICTURE_DB_RANGE = (-35.0, 5.0)


def _check_units(units: str) -> None:
    if units not in UNITS:
        raise InputError(f"unknown units {units!r}; use one of: {', '.join(UNITS)}")


def to_linear(values: np.ndarray, units: str) -> np.ndarray:
    """Convert ``values`` in ``units`` to linear power (float32).

    dB values that overflow float32 (above ~385 dB, i.e. garbage) become ``inf``; callers mark
    non-finite results invalid.
    """
    _check_units(units)
    values = np.asarray(values).astype(np.float32, copy=False)
    if units in _POWER_UNITS:
        return values
    if units == "db-8bit":
        from engine.data.tiles import byte_to_db

        values, units = byte_to_db(values, PICTURE_DB_RANGE), "db"
    if units == "db":
        with np.errstate(over="ignore"):
            return np.power(np.float32(10.0), values / np.float32(10.0), dtype=np.float32)
    return np.square(values, dtype=np.float32)  # amplitude


def from_linear(power: np.ndarray, units: str) -> np.ndarray:
    """Convert linear power to ``units`` (float32); the inverse of :func:`to_linear`.

    dB of zero or negative power is ``10·log10(POWER_FLOOR)`` (-100 dB) rather than ``-inf``.
    """
    _check_units(units)
    power = np.asarray(power).astype(np.float32, copy=False)
    if units in _POWER_UNITS:
        return power
    if units in DB_UNITS:
        db = (10.0 * np.log10(np.maximum(power, np.float32(POWER_FLOOR)))).astype(np.float32)
        if units == "db":
            return db
        from engine.data.tiles import db_to_byte

        return db_to_byte(db, PICTURE_DB_RANGE).astype(np.float32)
    return np.sqrt(np.maximum(power, np.float32(0.0)), dtype=np.float32)  # amplitude


def normalise_sigma0(sigma0_linear: np.ndarray, valid: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Turn linear σ0 tiles into what a detector wants, as ``spec`` says; nodata pixels become 0.

    The dB counterpart for training tiles, :func:`engine.data.tiles.clip_standardise_db`, takes no mask:
    its caller sets nodata to 0 afterwards, so both paths feed the network the same values.

    Args:
        sigma0_linear: linear power, any shape.
        valid: same shape; False on nodata and padding.
        spec: ``units="linear"`` passes values through; ``units="db"`` converts to dB, clips to
            ``spec.db_range`` and maps to ``(dB - spec.mean) / spec.std``.

    Returns:
        float32 array of the same shape. Invalid pixels are 0 (for dB specs, 0 is the mean, the
        least surprising value for a network; detectors also receive ``valid``).

    Notes:
        Training fills invalid pixels with the clip floor instead (``engine.data.samples``). Filling
        with the floor here too was tried and measured worse with the bundled model on the held-out
        scenes (false alarms 7.9 -> 21.1 per 1000 km², spill recall 55 -> 38 %), so the two differ on
        purpose; making training use 0 as well needs a retrained model to check.

    Raises:
        InputError: ``spec.units`` is not ``linear`` or ``db``, or ``spec.std`` is not positive.
    """
    if spec.units == "linear":
        out = np.asarray(sigma0_linear, dtype=np.float32).copy()
    elif spec.units == "db":
        if not spec.std > 0:
            raise InputError(f"input spec std must be positive, got {spec.std}; fix the model card")
        low, high = spec.db_range
        db = np.clip(from_linear(sigma0_linear, "db"), low, high)
        out = ((db - np.float32(spec.mean)) / np.float32(spec.std)).astype(np.float32)
    else:
        raise InputError(
            f"detector input units {spec.units!r} are not supported; use 'linear' or 'db' in the model card"
        )
    out[~valid] = 0.0
    return out
