"""Detectors and the one factory that builds them.

``select_detector(method, model_path, device, **options)`` returns a detector following
:class:`engine.detectors.base.Detector`, and which method it chose and why:

* ``threshold``: SNAP's adaptive threshold (:mod:`engine.detectors.threshold`); options
  ``background_window_km``, ``threshold_k_db``, ``speckle_filter_px``, ``softness_db``.
* ``model``: SAROSS-Net from a model card, built by
  ``engine.detectors.model.load_model_detector(model_path, device, **options)``. That module is
  imported only in this branch, so threshold runs never import torch.
* ``auto``: the model when a model path is given or the bundled default card
  (``resources/models/default.json``) exists, else the threshold detector. :func:`select_detector`
  also returns which method was used and why; the run summary records it.

Ships (``ships``, ``dakd detect --ships``): a detector with a ship class is wrapped by
:class:`engine.detectors.cfar.ShipsDetector`, which merges SNAP's CFAR bright targets into that class
(``cfar``, the default) or folds the class into sea (``off``); ``model`` keeps the network's ship class
alone. The threshold detector has no ship class and is never wrapped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.contract import DEFAULT_MODEL_CARD_NAME, METHODS, bundled_models_dir, device_problem
from engine.detectors.base import Detector
from engine.errors import DakdError, ModelError

log = logging.getLogger("dakd")


#: Where the bundled model cards are (``dakd model list`` lists them).
BUNDLED_MODELS_DIR = bundled_models_dir()
#: The model card ``auto`` uses when no ``--model`` is given.
DEFAULT_MODEL_CARD = BUNDLED_MODELS_DIR / DEFAULT_MODEL_CARD_NAME


@dataclass(frozen=True)
class MethodChoice:
    """Which detector a run uses, the model card (if any) and why (for logs and the summary)."""

    method: str
    model_path: str | None
    reason: str
    from_default_card: bool = False


def choose_method(
    method: str = "auto", model_path: str | None = None, default_card: Path | None = None
) -> MethodChoice:
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
    return MethodChoice(
        "threshold", None, "no model card given and no bundled default model: using the threshold detector"
    )


def select_detector(
    method: str = "auto", model_path: str | None = None, device: str = "auto", ships: str = "cfar", **options: Any
) -> tuple[Detector, MethodChoice]:
    """Build the detector for ``method`` and say which one was used and why.

    Threshold options (see :class:`~engine.detectors.threshold.ThresholdConfig`) go to the threshold
    detector and are dropped for the model; CFAR options (:class:`~engine.detectors.cfar.CfarConfig`) go
    to the ship detector of a model with a ship class (``ships``: ``cfar``, ``model`` or ``off``, see the
    module notes); every other option goes to the model loader. When
    ``auto`` picked the bundled default card and it cannot be loaded (torch missing, broken card, its weights
    missing or not the card's: ``engine.runtimes`` refuses those on every backend),
    the threshold detector is used with a warning; an explicit ``--model`` never falls back.

    Raises:
        DakdError / ModelError: unknown method or option, or the model cannot be loaded.
    """
    from engine.detectors.threshold import ThresholdConfig, ThresholdDetector

    _check_ships(ships)
    threshold_options, cfar_options, model_options = _split_options(options)
    choice = choose_method(method, model_path)
    if choice.method == "model":
        try:
            return with_ships(_load_model(choice, device, model_options), ships, **cfar_options), choice
        except (ImportError, ModelError) as error:
            if not (choice.from_default_card and method == "auto"):
                if isinstance(error, ImportError):
                    raise ModelError(
                        f"the model detector cannot be loaded ({error}); reinstall with 'make install' "
                        "or use --method threshold"
                    ) from error
                raise
            reason = f"the bundled default model could not be loaded ({error}); using the threshold detector"
            log.warning("%s", reason)
            choice = MethodChoice("threshold", None, reason)
            return ThresholdDetector(ThresholdConfig(**threshold_options), device), choice
    _refuse_other_options(model_options, cfar_options)
    if ships != "cfar":
        log.warning("--ships %s applies to models with a ship class; the threshold detector finds oil only", ships)
    return ThresholdDetector(ThresholdConfig(**threshold_options), device), choice


def check_detector_options(method: str = "auto", ships: str = "cfar", **options: Any) -> None:
    """Refuse the detector options that can be judged before the scene opens or a model loads.

    The ship mode; the threshold settings' ranges (:class:`~engine.detectors.threshold.ThresholdConfig`), whatever
    the method, since the wind around a slick reads the background window too; with ``method`` ``threshold``,
    options that detector does not have; the CFAR ship detector's settings (:class:`~engine.detectors.cfar.CfarConfig`,
    built once the model has loaded). :func:`select_detector` judges them again (a run of ``auto`` may fall back to
    the threshold detector); the background window in pixels needs the scene's pixel size.

    Raises:
        DakdError: the refusal :func:`select_detector` would give.
    """
    from engine.detectors.cfar import CfarConfig
    from engine.detectors.threshold import ThresholdConfig

    _check_ships(ships)
    threshold_options, cfar_options, model_options = _split_options(options)
    ThresholdConfig(**threshold_options)
    if method == "threshold":
        _refuse_other_options(model_options, cfar_options)
    CfarConfig(**cfar_options)


def check_device_and_backend(
    method: str = "auto", model_path: str | None = None, device: str = "auto", **options: Any
) -> None:
    """Refuse the device and the model's runtime options that can be judged before the scene opens or a model loads.

    For every method, a ``device`` that names no device (``gpu``), without importing torch (the threshold detector
    runs on the CPU and ignores a valid one). For a run of the model detector (``auto`` with a card, or ``model``):
    a named ``backend`` (unknown, not installed, or an ONNX backend on a GPU: :func:`~engine.runtimes.choose_backend`)
    and, for an ONNX backend, the options it cannot run (torch's, a precision, a batch size); for torch (named, or
    ``auto``'s choice on a GPU or for a torch-only option), the device and the options it cannot run, a half
    precision on the CPU or a scan backend (:func:`engine.detectors.model.check_model_options`, which the model's
    loading calls again: torch is imported, as that run needs it anyway). What ``auto`` picks on the CPU otherwise
    depends on the card's ONNX export, so it is judged when the model loads (:func:`_load_model`, which judges all of
    this again).

    Raises:
        DakdError: the refusal the model's loading would give later.
    """
    problem = device_problem(device)  # engine.device.select_device's own rule, without importing torch
    if problem:
        raise DakdError(problem)
    if method == "threshold" or choose_method(method, model_path).method != "model":
        return
    from engine.runtimes import ONNX_BACKENDS, choose_backend

    _, _, model_options = _split_options(options)
    requested = model_options.get("backend") or "auto"
    torch_options = _torch_only_options(model_options)
    if requested == "auto" and not device.startswith(("cuda", "mps")) and not torch_options:
        return
    backend = choose_backend(requested, device, torch_options=torch_options)
    if backend.backend in ONNX_BACKENDS:
        _check_onnx_options(backend.backend, torch_options, model_options)
    else:
        from engine.detectors.model import check_model_options

        check_model_options(device, {k: v for k, v in model_options.items() if k != "backend"})


def card_tile_size(method: str = "auto", model_path: str | None = None) -> int | None:
    """Return the tile size of the model card a run of ``method`` loads, read from the card alone (no weights).

    None when the run uses the threshold detector (its tiles grow with the background window in pixels, so with
    the scene's pixel size), or when ``auto``'s bundled default card cannot be read (:func:`select_detector` then
    falls back to the threshold detector).

    Raises:
        DakdError / ModelError: unknown method, ``model`` without a card, or a ``--model`` card that cannot be read.
    """
    if method == "threshold":  # choose_method would warn a second time about an ignored --model
        return None
    choice = choose_method(method, model_path)
    if choice.method != "model" or choice.model_path is None:
        return None
    from engine.modelcard import load_model_card

    try:
        return load_model_card(choice.model_path).input_spec.tile_size
    except ModelError:
        if choice.from_default_card and method == "auto":
            return None
        raise


def _check_ships(ships: str) -> None:
    from engine.detectors.cfar import SHIP_MODES

    if ships not in SHIP_MODES:
        raise DakdError(f"unknown --ships {ships!r}; use one of: {', '.join(SHIP_MODES)}")


def _split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Return ``options`` split into the threshold detector's, the CFAR ship detector's and the model loader's."""
    from engine.detectors.cfar import CFAR_OPTIONS
    from engine.detectors.threshold import THRESHOLD_OPTIONS

    threshold_options = {k: v for k, v in options.items() if k in THRESHOLD_OPTIONS}
    cfar_options = {k: v for k, v in options.items() if k in CFAR_OPTIONS}
    model_options = {k: v for k, v in options.items() if k not in THRESHOLD_OPTIONS + CFAR_OPTIONS}
    return threshold_options, cfar_options, model_options


def _refuse_other_options(model_options: dict[str, Any], cfar_options: dict[str, Any]) -> None:
    """Refuse model or CFAR options given to the threshold detector."""
    from engine.detectors.threshold import THRESHOLD_OPTIONS

    if model_options or cfar_options:
        unknown = ", ".join(sorted({**model_options, **cfar_options}))
        raise DakdError(f"the threshold detector has no option(s) {unknown}; valid: {', '.join(THRESHOLD_OPTIONS)}")


def _load_model(choice: MethodChoice, device: str, options: dict[str, Any]) -> Detector:
    """Load the model detector on the backend ``options["backend"]`` asks for (``auto``: see engine.runtimes)."""
    from engine.runtimes import ONNX_BACKENDS, ExportCacheError, choose_backend, has_onnx, load_runtime_detector

    model_path = choice.model_path
    if model_path is None:  # choose_method never picks "model" without a card
        raise DakdError("the model method needs a model card: pass --model")
    options = dict(options)
    requested = options.pop("backend", None) or "auto"
    torch_options = _torch_only_options(options)
    exported = choice.from_default_card or has_onnx(model_path)
    backend = choose_backend(requested, device, exported=exported, torch_options=torch_options)
    log.info("backend: %s on %s (%s)", backend.backend, backend.device, backend.reason)
    reason = backend.reason
    if backend.backend in ONNX_BACKENDS:
        _check_onnx_options(backend.backend, torch_options, options)
        try:
            return load_runtime_detector(
                model_path,
                backend,
                precision=options.get("precision"),
                batch_size=options.get("batch_size"),
                device=device,
            )
        except ExportCacheError as error:  # torch made the export, so it can run the card: auto still detects
            if requested != "auto":
                raise
            reason = f"auto: {backend.backend} needs an ONNX export, and {error}"
            log.warning("%s; running the model with torch", reason)
    from engine.detectors.model import load_model_detector

    detector = load_model_detector(model_path, device, **options)
    detector.backend_reason = reason
    return detector


def _torch_only_options(options: dict[str, Any]) -> tuple[str, ...]:
    """Return the model options only the torch backend runs, as named in refusals (``compile``, ``precision fp16``)."""
    from engine.runtimes import TORCH_ONLY_OPTIONS, installed_backends

    torch_options = tuple(name for name in TORCH_ONLY_OPTIONS if options.get(name))
    if options.get("precision") == "fp16" or (
        options.get("precision") == "bf16" and "openvino" not in installed_backends()
    ):
        torch_options += (f"precision {options['precision']}",)  # of the ONNX backends, OpenVINO alone runs bf16
    return torch_options


def _check_onnx_options(backend: str, torch_options: tuple[str, ...], options: dict[str, Any]) -> None:
    """Refuse options the ONNX backend ``backend`` cannot run, before its ONNX file is found, exported or compiled."""
    from engine.runtimes import check_runtime_options

    if torch_options:
        verb = "applies" if len(torch_options) == 1 else "apply"
        raise DakdError(f"{', '.join(torch_options)} {verb} to --backend torch only, not {backend}")
    check_runtime_options(backend, options.get("precision"), options.get("batch_size"))


def with_ships(detector: Detector, ships: str = "cfar", **cfar_options: Any) -> Detector:
    """Wrap a detector that has a ship class for ``ships`` (see the module notes); others are returned as they are.

    Raises:
        DakdError: unknown ship mode or CFAR option values.
    """
    from engine.detectors.cfar import CfarConfig, ShipsDetector

    config = CfarConfig(**cfar_options)
    if "ship" not in [c.name for c in detector.classes]:
        if ships != "model":
            log.info("ships: the detector has no ship class; --ships %s does not apply", ships)
        return detector
    if ships == "model":
        if cfar_options:
            log.warning("CFAR option(s) %s are ignored with --ships model", ", ".join(sorted(cfar_options)))
        return detector
    return ShipsDetector(detector, ships, config)
