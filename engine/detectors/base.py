"""The detector interface: a batch of normalised tiles in, per-class probabilities out.

Tiling, blending, vectorisation and outputs are the same for every detector; a detector only turns
tiles into probabilities. The threshold detector (SNAP's adaptive threshold) and the SAROSS-Net
model detector both implement this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from engine.classes import SegClass
from engine.io.scene import SceneInfo


@dataclass(frozen=True)
class InputSpec:
    """How a detector wants its tiles: units, normalisation and tile size.

    ``units`` is ``"linear"`` (σ0 power) or ``"db"``. For ``"db"``, values are clipped to
    ``db_range`` and then mapped to ``(x - mean) / std``. Tiles are ``tile_size`` square.
    """

    units: str = "linear"
    db_range: tuple[float, float] = (-35.0, 5.0)
    mean: float = 0.0
    std: float = 1.0
    tile_size: int = 256


@dataclass(frozen=True)
class DetectorInfo:
    """What the run summary and polygon attributes say about the detector."""

    name: str
    model_id: str
    device: str
    device_reason: str
    extra: dict[str, Any] = field(default_factory=dict)


class Detector(Protocol):
    """Turns a batch of tiles into class probabilities."""

    classes: tuple[SegClass, ...]
    input_spec: InputSpec
    #: Pixels at each tile edge whose output depends on data outside the tile; the tiling overlap
    #: must be at least twice this for seam-free results.
    context_px: int

    def prepare(self, scene: SceneInfo) -> None:
        """Adapt to a scene before the first batch (pixel size, units); raise ``ModelError`` on a mismatch."""
        ...

    def predict(self, tiles: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Return float32 probabilities ``(N, len(classes), H, W)`` summing to 1 over classes.

        ``tiles`` is float32 ``(N, 1, H, W)`` normalised as ``input_spec`` says; ``valid`` is bool
        of the same shape (False on nodata and reflection padding outside the scene).
        """
        ...

    def describe(self) -> DetectorInfo:
        """Name, model id and device for the run summary."""
        ...
