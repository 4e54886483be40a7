"""Detectors and the one factory that builds them.

``make_detector(method, model_path, device, **options)`` returns an object following
:class:`engine.detectors.base.Detector`:

* ``threshold``: SNAP's adaptive threshold (:mod:`engine.detectors.threshold`); options
  ``background_window_km``, ``threshold_k_db``, ``speckle_filter_px``, ``softness_db``.
* ``model``: SAROSS-Net from a model card, built by
  ``engine.detectors.model.load_model_detector(model_path, device, **options)``. That module is
  imported only in this branch, so threshold runs never import torch.
* ``auto``: the model when a model path is given or the bundled default card
  (``resources/models/default.json``) exists, else the threshold detector. :func:`select_detector`
  also returns which method was used and why; the run summary records it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.detectors.base import Detector
from engine.errors import DakdError, ModelError

log = logging.getLogger("dakd")

METHODS = ("auto", "threshold", "model")


def _bundled_models_dir() -> Path:
    """Return the bundled ``resources/models`` folder.

    ``<repo>/resources`` in a checkout; ``dakd_qgis/resources`` in the packaged QGIS plugin, whose copy
    of the engine lives in ``dakd_qgis/lib/engine``.
    """
    engine_dir = Path(__file__).resolve().parents[1]
    vendored = engine_dir.parent.parent / "resources" / "models"
    if engine_dir.parent.name == "lib" and vendored.is_dir():
        return vendored
    return engine_dir.parent / "resources" / "models"


#: Where the bundled model cards are (``dakd model list`` lists them).
BUNDLED_MODELS_DIR = _bundled_models_dir()
#: The model card ``auto`` uses when no ``--model`` is given.
DEFAULT_MODEL_CARD = BUNDLED_MODELS_DIR / "default.json"


@dataclass(frozen=True)
class MethodChoice:
    """Which detector a run uses, the model card (if any) and why (for logs and the summary)."""

    method: str
    model_path: str | None
    reason: str
    from_default_card: bool = False


def choose_method(method: str = "auto", model_path: str | None = None,
                  default_card: Path | None = None) -> MethodChoice:
    """Resolve ``auto`` and check that the method and model path fit together.

    ``default_card`` defaults to :data:`DEFAULT_MODEL_CARD` (read at call time).

    Raises:
        DakdError: unknown method, or ``model`` without any model card.
    """
    if method not in METHODS:
        raise DakdError(f"unknown --method {method!r}; use one of: {', '.join(METHODS)}")
    if method == "threshold":
        if model_path:
            log.warning("--model is ignored with --method threshold")
        return MethodChoice("threshold", None, "--method threshold was given")
    if model_path:
        return MethodChoice("model", str(model_path), f"model card {model_path} was given")
    default_card = DEFAULT_MODEL_CARD if default_card is None else default_card
    if default_card.is_file():
        return MethodChoice("model", str(default_card), "the bundled default model card exists", from_default_card=True)
    if method == "model":
        raise ModelError(f"--method model needs a model card: pass --model PATH (no default card at {default_card})")
    return MethodChoice("threshold", None, "no model card given and no bundled default model: using the threshold "
                                           "detector")


def select_detector(method: str = "auto", model_path: str | None = None, device: str = "auto",
                    **options: Any) -> tuple[Detector, MethodChoice]:
    """Build the detector for ``method`` and say which one was used and why.

    Threshold options (see :class:`~engine.detectors.threshold.ThresholdConfig`) go to the threshold
    detector and are dropped for the model; every other option goes to the model loader. When
    ``auto`` picked the bundled default card and it cannot be loaded (torch missing, broken card),
    the threshold detector is used with a warning; an explicit ``--model`` never falls back.

    Raises:
        DakdError / ModelError: unknown method or option, or the model cannot be loaded.
    """
    from engine.detectors.threshold import THRESHOLD_OPTIONS, ThresholdConfig, ThresholdDetector

    threshold_options = {k: v for k, v in options.items() if k in THRESHOLD_OPTIONS}
    model_options = {k: v for k, v in options.items() if k not in THRESHOLD_OPTIONS}
    choice = choose_method(method, model_path)
    if choice.method == "model":
        try:
            from engine.detectors.model import load_model_detector

            return load_model_detector(choice.model_path, device, **model_options), choice
        except (ImportError, ModelError) as error:
            if not (choice.from_default_card and method == "auto"):
                if isinstance(error, ImportError):
                    raise ModelError(f"the model detector cannot be loaded ({error}); reinstall with 'make install' "
                                     "or use --method threshold") from error
                raise
            reason = f"the bundled default model could not be loaded ({error}); using the threshold detector"
            log.warning("%s", reason)
            choice = MethodChoice("threshold", None, reason)
            return ThresholdDetector(ThresholdConfig(**threshold_options), device), choice
    if model_options:
        raise DakdError(f"the threshold detector has no option(s) {', '.join(sorted(model_options))}; valid: "
                        f"{', '.join(THRESHOLD_OPTIONS)}")
    return ThresholdDetector(ThresholdConfig(**threshold_options), device), choice


def make_detector(method: str = "auto", model_path: str | None = None, device: str = "auto",
                  **options: Any) -> Detector:
    """Build a detector (see :func:`select_detector`, which also tells you which method was chosen)."""
    return select_detector(method, model_path, device, **options)[0]
