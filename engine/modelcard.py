"""Model cards: a model is ``NAME.safetensors`` (weights) plus ``NAME.json`` (what the model needs and is).

The card says everything detection must know instead of assuming it: the architecture and the
exact build config, the classes (names and colours), the input band and units and the
normalisation (mirroring :class:`engine.detectors.base.InputSpec`), the tile size and overlap, a
training-data summary, the metrics, and the engine version. Loading never unpickles anything:
weights are safetensors, metadata is JSON. The card is also embedded in the safetensors header, so
a ``.safetensors`` file copied on its own still loads.

Example card (abridged)::

    {"format": "dakd-model-card", "format_version": 1, "name": "saross-xs-osd",
     "architecture": "saross_net", "variant": "saross_net_xs", "build": {"encoder": "mambavision", ...},
     "classes": [{"id": 0, "name": "sea", "rgb": [0, 0, 0]}, ...],
     "input": {"band": "VV", "calibration": "sigma0", "pixel_size_m": 10.0, "pixel_size_tolerance": 3.0,
               "units": "db", "db_range": [-35.0, 5.0], "mean": -20.0, "std": 6.0, "tile_size": 256},
     "tiling": {"overlap_px": 64, "context_px": 32},
     "training": {...}, "metrics": {...}, "engine_version": "0.1.0", "created": "2025-...",
     "weights": {"file": "saross-xs-osd.safetensors", "sha256": "..."}}
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from engine import __version__
from engine.classes import SegClass
from engine.contract import MODEL_CARD_FORMAT, file_sha256, weights_problem
from engine.detectors.base import InputSpec
from engine.errors import ModelError
from engine.io.atomic import atomic_file
from engine.io.scene import SceneInfo

if TYPE_CHECKING:  # only annotations: reading a card (dakd model list) must not import torch
    import torch

    from engine.models.saross_net import SarossNet

#: What every card's ``"format"`` says (defined in :mod:`engine.contract`, which the plugin reads).
CARD_FORMAT = MODEL_CARD_FORMAT
CARD_FORMAT_VERSION = 1
#: Key of the card JSON inside the safetensors header.
METADATA_KEY = "dakd_model_card"
ARCHITECTURES = ("saross_net",)
#: Scene units that are radiometrically calibrated σ0 (``amplitude``/``intensity`` are raw DN).
CALIBRATED_UNITS = ("linear", "db")
#: σ0 whose absolute level is unknown (an 8-bit picture, ``db-8bit``): a σ0 model still reads it, as -35..5 dB,
#: since its input channels compare each pixel to the local sea; the wind (CMOD) cannot.
PICTURE_UNITS = ("db-8bit",)


@dataclass(frozen=True)
class ModelCard:
    """What a trained model is and needs. Write with :func:`save_model_card`, read with :func:`load_model_card`.

    Attributes:
        name: short model id (goes into run summaries and polygon attributes).
        architecture: ``saross_net``.
        variant: the :data:`engine.models.MODEL_VARIANTS` name it was built from (informative).
        build: the full :class:`engine.models.SarossNetConfig` as a dict; rebuilds the network.
        classes: output classes in logit order.
        input_spec: normalisation and tile size (units ``db`` or ``linear``).
        band: polarisation the model was trained on (``VV``, ``VH``, ``HH``...), or ``any``.
        calibration: ``sigma0`` (calibrated inputs only) or ``any`` (also raw DN scenes).
        pixel_size_m: ground pixel size of the training data, or None when unknown.
        pixel_size_tolerance: accepted ratio between scene and training pixel size.
        overlap_px: tile overlap detection should use.
        context_px: edge pixels whose output depends on data outside the tile.
        training: free-form training-data summary (data sets, tiles, epochs, generated pairs).
        metrics: free-form evaluation results (e.g. ``{"val": {"miou": ...}}``).
        description: one paragraph for ``dakd model info``.
        engine_version: engine version that wrote the card.
        created: ISO-8601 UTC time of writing.
    """

    name: str
    build: dict[str, Any]
    classes: tuple[SegClass, ...]
    input_spec: InputSpec = field(default_factory=lambda: InputSpec(units="db"))
    architecture: str = "saross_net"
    variant: str = ""
    band: str = "VV"
    calibration: str = "sigma0"
    pixel_size_m: float | None = 10.0
    pixel_size_tolerance: float = 3.0
    overlap_px: int = 64
    context_px: int = 32
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    engine_version: str = __version__
    created: str = ""

    def to_json_dict(self, weights_file: str, weights_sha256: str) -> dict[str, Any]:
        """Return the card as written to disk."""
        spec = self.input_spec
        return {
            "format": CARD_FORMAT,
            "format_version": CARD_FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
            "architecture": self.architecture,
            "variant": self.variant,
            "build": self.build,
            "classes": [{"id": c.id, "name": c.name, "rgb": list(c.rgb)} for c in self.classes],
            "input": {
                "band": self.band,
                "calibration": self.calibration,
                "pixel_size_m": self.pixel_size_m,
                "pixel_size_tolerance": self.pixel_size_tolerance,
                "units": spec.units,
                "db_range": list(spec.db_range),
                "mean": spec.mean,
                "std": spec.std,
                "tile_size": spec.tile_size,
            },
            "tiling": {"overlap_px": self.overlap_px, "context_px": self.context_px},
            "training": self.training,
            "metrics": self.metrics,
            "engine_version": self.engine_version,
            "created": self.created or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "weights": {"file": weights_file, "sha256": weights_sha256},
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any], source: str) -> ModelCard:
        """Parse and validate a card dict; ``source`` names the file in error messages.

        Raises:
            ModelError: not a card, a newer format, or a missing/invalid field (named in the message).
        """
        _card_object(data, source)  # a card dict may come from elsewhere than read_card_data
        try:
            inputs = data["input"]
            tiling = data.get("tiling", {})
            card = cls(
                name=str(data["name"]),
                build=dict(data["build"]),
                architecture=str(data["architecture"]),
                variant=str(data.get("variant", "")),
                # The card format's "rgb" is [r, g, b] and "db_range" is [low, high].
                classes=tuple(
                    SegClass(
                        int(c["id"]), str(c["name"]), cast("tuple[int, int, int]", tuple(int(v) for v in c["rgb"]))
                    )
                    for c in data["classes"]
                ),
                input_spec=InputSpec(
                    units=str(inputs["units"]),
                    db_range=cast("tuple[float, float]", tuple(float(v) for v in inputs["db_range"])),
                    mean=float(inputs["mean"]),
                    std=float(inputs["std"]),
                    tile_size=int(inputs["tile_size"]),
                ),
                band=str(inputs.get("band", "any")),
                calibration=str(inputs.get("calibration", "sigma0")),
                pixel_size_m=None if inputs.get("pixel_size_m") is None else float(inputs["pixel_size_m"]),
                pixel_size_tolerance=float(inputs.get("pixel_size_tolerance", 3.0)),
                overlap_px=int(tiling.get("overlap_px", 64)),
                context_px=int(tiling.get("context_px", 32)),
                training=dict(data.get("training", {})),
                metrics=dict(data.get("metrics", {})),
                description=str(data.get("description", "")),
                engine_version=str(data.get("engine_version", "")),
                created=str(data.get("created", "")),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as error:  # Overflow: int(Infinity) of a hand edit
            raise ModelError(
                f"{source}: invalid model card ({type(error).__name__}: {error}); re-export the model with 'dakd train'"
            ) from None
        card.validate(source)
        return card

    def validate(self, source: str) -> None:
        """Check internal consistency; raise ModelError naming ``source`` and the bad field."""
        if self.architecture not in ARCHITECTURES:
            raise ModelError(
                f"{source}: unknown architecture {self.architecture!r}; this engine knows {', '.join(ARCHITECTURES)}"
            )
        if [c.id for c in self.classes] != list(range(len(self.classes))):
            raise ModelError(f"{source}: class ids must be 0..{len(self.classes) - 1} in order")
        if _whole_number(self.build.get("num_classes", len(self.classes))) != len(self.classes):
            raise ModelError(
                f"{source}: build.num_classes={self.build.get('num_classes')} but "
                f"{len(self.classes)} classes are listed"
            )
        spec = self.input_spec
        if spec.units not in ("db", "linear") or not (math.isfinite(spec.mean) and 0 < spec.std < math.inf):
            raise ModelError(f"{source}: input units must be 'db' or 'linear', mean a number and std positive")
        if (
            len(spec.db_range) != 2
            or not all(map(math.isfinite, spec.db_range))
            or spec.db_range[0] >= spec.db_range[1]
        ):
            raise ModelError(f"{source}: input.db_range must be two numbers [low, high] with low < high, e.g. [-35, 5]")
        if self.overlap_px < 0 or self.overlap_px >= self.input_spec.tile_size:
            raise ModelError(f"{source}: tiling.overlap_px must be in [0, tile_size)")
        if not self.pixel_size_tolerance >= 1:  # the scene check accepts ratios in [1/tolerance, tolerance]
            raise ModelError(f"{source}: input.pixel_size_tolerance must be 1 or more (a ratio either way)")


def _whole_number(value: Any) -> int | None:
    """``int(value)``, or None when it is not a number (a hand-edited card): compared, it then fails the check."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity, which json reads
        return None


def card_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights.safetensors, card.json)`` for a path given as either file, or as the stem."""
    path = Path(path).expanduser()
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_model_card(path: str | Path, model: torch.nn.Module, card: ModelCard, overwrite: bool = True) -> Path:
    """Write ``model``'s weights and ``card`` as ``NAME.safetensors`` + ``NAME.json``; returns the JSON path.

    Both files are written under temporary names and renamed when complete.

    Raises:
        ModelError: the model's config disagrees with ``card.build``.
        OutputError: the files cannot be written.
    """
    from safetensors.torch import save

    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_dict") and config.to_dict() != card.build:
        raise ModelError(f"{path}: card.build does not match the model's config; build the card from model.config")
    card.validate(str(path))
    weights_path, card_path = card_paths(path)
    state = {key: tensor.detach().cpu().contiguous() for key, tensor in model.state_dict().items()}
    with (
        atomic_file(weights_path, overwrite=overwrite) as tmp_weights,
        atomic_file(card_path, overwrite=overwrite) as tmp_card,
    ):
        # One dict for both copies (same "created"); the header copy has no hash (it cannot hold its own).
        data = card.to_json_dict(weights_path.name, "")
        # Written by Python, not by safetensors' save_file: a full disk is then an OSError atomic_file names.
        tmp_weights.write_bytes(save(state, metadata={METADATA_KEY: json.dumps(data)}))
        data["weights"]["sha256"] = file_sha256(tmp_weights)
        tmp_card.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return card_path


def new_model_card(model: torch.nn.Module, name: str, classes: tuple[SegClass, ...], **fields: Any) -> ModelCard:
    """Make a card for ``model`` (``build`` and ``variant`` taken from it); ``fields`` set the other fields."""
    config: Any = model.config  # the architecture's config dataclass (e.g. SarossNetConfig)
    return ModelCard(
        name=name,
        build=config.to_dict(),
        classes=tuple(classes),
        variant=fields.pop("variant", f"{config.encoder}/{config.variant}"),
        **fields,
    )


def load_model_card(path: str | Path) -> ModelCard:
    """Read a card from ``NAME.json`` (or from the header of ``NAME.safetensors`` when the JSON is missing).

    Raises:
        ModelError: neither file exists, the JSON is broken, or the card is invalid.
    """
    return ModelCard.from_json_dict(*read_card_data(path))


def read_card_data(path: str | Path) -> tuple[dict[str, Any], str]:
    """Return a card's raw JSON object (with its ``weights`` entry) and where it came from.

    Raises:
        ModelError: neither file exists, or the JSON is broken.
    """
    weights_path, card_path = card_paths(path)
    if card_path.is_file():
        try:
            data = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelError(f"{card_path}: cannot read the model card ({error}); re-export the model") from None
        return _card_object(data, card_path), str(card_path)
    if weights_path.is_file():
        return _header_card(weights_path), str(weights_path)
    raise ModelError(f"{path}: no model found; give a model's .json or .safetensors file (see 'dakd model list')")


#: JSON's names for the values :func:`json.loads` returns, for "not a model card" messages.
_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


#: Card fields that hold a JSON object: every reader calls ``.get`` on them.
_OBJECT_FIELDS = ("build", "input", "tiling", "weights", "training", "metrics")


def _card_object(data: Any, source: str | Path) -> dict[str, Any]:
    """Return ``data`` if it is a card this engine reads: a JSON object, our format, its objects objects.

    Every reader of a card (``dakd model info/list``, detection, the ONNX export) looks up keys in it and
    in its objects: an array or a string reaching them would be an AttributeError ("internal error"), not
    the one-line refusal ``dakd model list`` shows beside the cards it can read.
    """
    if not isinstance(data, dict):
        raise ModelError(
            f"{source}: not a DAKD model card (it holds a JSON {_json_kind(data)}, not an object); "
            "give a model's .json card"
        )
    if data.get("format") != CARD_FORMAT:
        raise ModelError(f'{source}: not a DAKD model card (no "format": "{CARD_FORMAT}")')
    version = _whole_number(data.get("format_version", 0))
    if version is None:
        raise ModelError(f'{source}: invalid model card ("format_version" is not a number); re-export the model')
    if version > CARD_FORMAT_VERSION:
        raise ModelError(
            f"{source}: card format {version} is newer than this engine ({__version__}) reads; update the plugin"
        )
    for name in _OBJECT_FIELDS:
        if name in data and not isinstance(data[name], dict):
            raise ModelError(
                f'{source}: invalid model card ("{name}" holds a JSON {_json_kind(data[name])}, not an object); '
                "correct it or re-export the model with 'dakd train'"
            )
    return data


def _json_kind(value: Any) -> str:
    """JSON's name for a value :func:`json.loads` returned (``array``, ``string``...), for refusals."""
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _header_card(weights_path: Path) -> dict[str, Any]:
    """Return the card copy in a ``.safetensors`` header, read as numpy: a detection-only install has no torch."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights_path), framework="numpy") as handle:
            header = (handle.metadata() or {}).get(METADATA_KEY)
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        raise ModelError(f"{weights_path}: not a readable safetensors file ({error})") from None
    if header is None:
        raise ModelError(f"{weights_path}: has no model card; put its .json card beside it")
    try:
        data = json.loads(header)
    except json.JSONDecodeError as error:
        raise ModelError(
            f"{weights_path}: its model card is not valid JSON ({error}); put its .json card beside it"
        ) from None
    return _card_object(data, weights_path)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[SarossNet, ModelCard]:
    """Build the network a card describes and load its weights (no pickle); returns ``(model.eval(), card)``.

    Raises:
        ModelError: missing or corrupt weights, a hash mismatch, or weights that do not fit the build.
    """
    data, source = read_card_data(path)
    card = ModelCard.from_json_dict(data, source)
    weights_path, card_path = card_paths(path)
    problem = weights_problem(card_path, data)  # a header copy records no sha256: nothing to check but the file
    if problem:
        raise ModelError(problem)
    model = build_model_from_card(card)
    from safetensors.torch import load_file

    try:
        state = load_file(str(weights_path), device="cpu")
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        raise ModelError(f"{weights_path}: cannot read weights ({error})") from None
    # Tensors of other shapes (a card edited by hand, or beside other weights): load_state_dict raises on them.
    expected = model.state_dict()
    reshaped = [name for name, tensor in state.items() if name in expected and expected[name].shape != tensor.shape]
    if reshaped:
        raise ModelError(
            f"{weights_path}: weights do not fit the card's build ({len(reshaped)} tensors of another shape, e.g. "
            f"{reshaped[0]}); put the card these weights were saved with beside them, or re-export the model"
        )
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ModelError(
            f"{weights_path}: weights do not fit the card's build "
            f"(missing {len(result.missing_keys)}, unexpected {len(result.unexpected_keys)} tensors)"
        )
    return model.to(device).eval(), card


def build_model_from_card(card: ModelCard) -> SarossNet:
    """Build a randomly initialised network with the card's architecture and build config."""
    from engine.models import build_saross_net

    try:
        return build_saross_net(card.build)
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"model {card.name!r}: cannot build {card.architecture} from the card ({error})") from None


def check_card_against_scene(card: ModelCard, scene: SceneInfo) -> None:
    """Refuse a scene the model was not trained for, with a one-line reason and fix.

    Checks the polarisation (when both say), calibration (a σ0 model on raw DN), and the pixel size
    (beyond ``pixel_size_tolerance`` times the training pixel size either way).

    Raises:
        ModelError: naming the scene, the model and what to change.
    """
    polarisation = _scene_polarisation(scene)
    if card.band.lower() != "any" and polarisation and polarisation.upper() != card.band.upper():
        raise ModelError(
            f"{scene.path}: band is {polarisation} but model {card.name!r} was trained on {card.band}; "
            f"choose the {card.band} band (--band) or a {polarisation} model"
        )
    if card.calibration == "sigma0" and scene.units not in (*CALIBRATED_UNITS, *PICTURE_UNITS):
        raise ModelError(
            f"{scene.path}: values are uncalibrated {scene.units} ({scene.units_reason}) but model "
            f"{card.name!r} needs calibrated sigma0; calibrate the scene or pass --units if it is sigma0"
        )
    if card.pixel_size_m:
        scene_px = max(scene.pixel_size_m)
        ratio = scene_px / card.pixel_size_m
        if not 1 / card.pixel_size_tolerance <= ratio <= card.pixel_size_tolerance:
            raise ModelError(
                f"{scene.path}: pixel size {scene_px:.1f} m is too far from the model's "
                f"{card.pixel_size_m:.1f} m (model {card.name!r}); resample the scene to about "
                f"{card.pixel_size_m:.0f} m first"
            )


_POLARISATION_IN_NAME = re.compile(r"(?<![A-Z])(VV|VH|HH|HV)(?![A-Z])")


def _scene_polarisation(scene: SceneInfo) -> str | None:
    """Find the scene's polarisation in reader metadata, else in a band name such as ``Sigma0_VV_db``."""
    for key in ("polarisation", "polarization"):
        value = scene.metadata.get(key)
        if value:
            return str(value)
    match = _POLARISATION_IN_NAME.search((scene.band_name or "").upper())
    return match.group(1) if match else None
