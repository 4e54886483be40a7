"""What "Fine-tune on my labels" asks ``dakd finetune`` to do, and what it reads back when it is done.

Shared by the fine-tune dialog and the two Processing algorithms: a :class:`FinetuneRequest` holds
the analyst's choices, :func:`finetune_arguments` turns it into the ``dakd finetune`` command line
(the engine's own options, see ``engine/cli/train.py``), and :func:`read_report` reads the run's
``report.json`` for the metrics table and the sample grid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qgis.PyQt.QtCore import QVariant

from .contract import EngineContract, current_contract
from .engine_command import engine_option
from .translation import tr


def preset_labels(contract: EngineContract | None = None) -> dict[str, str]:
    """Return the engine's ``dakd finetune --preset`` names, in its order, with what they mean for the analyst.

    A preset this plugin has no words for (an engine newer than the plugin) is shown by its name.
    """
    words = {
        "quick": tr("Quick – one GPU, about 15–30 minutes"),
        "standard": tr("Standard – one GPU, several hours"),
        "paper": tr("Paper – the paper's setting, about a day on one GPU"),
        "cpu-default": tr("CPU – about an hour on 2 CPU cores for a few thousand tiles (the default model's recipe)"),
        "tiny": tr("Tiny – a few minutes on a CPU, to try the pipeline (the model is not useful)"),
    }
    return {name: words.get(name, name) for name in (contract or current_contract()).presets}


def preset_for_device(device: str, contract: EngineContract | None = None) -> str:
    """Return the engine's preset for ``device``: ``cuda``/``cuda:0`` -> its GPU preset, anything else its CPU one."""
    presets = (contract or current_contract()).value("presets") or {}
    return str(presets.get("gpu") if device.strip().lower().startswith("cuda") else presets.get("cpu"))


def background_labels(contract: EngineContract | None = None) -> dict[str, str]:
    """Return the engine's ``--background`` values with what they make of the pixels outside every polygon."""
    words = {
        "sea": tr("Sea – everything I did not outline is sea"),
        "not-oil": tr("Not oil – I outlined only the oil (or have a binary oil mask)"),
        "ignore": tr("Ignore – I checked only the outlined areas"),
    }
    return {name: words.get(name, name) for name in (contract or current_contract()).values("labels", "backgrounds")}


def label_targets(contract: EngineContract | None = None) -> tuple[str, ...]:
    """Classes a label value can be mapped to (the engine's class names, ``not-oil`` and ``ignore``)."""
    return (contract or current_contract()).values("labels", "targets")


def dataset_formats(contract: EngineContract | None = None) -> tuple[str, ...]:
    """Return the data-set folder formats of ``--data-format`` (the engine's, less ``scenes``: rasters and labels)."""
    return tuple(name for name in (contract or current_contract()).values("data_formats") if name != "scenes")


@dataclass
class FinetuneRequest:
    """One fine-tuning run as the analyst set it up.

    Attributes:
        output: model path without extension (``NAME`` → ``NAME.json`` + ``NAME.safetensors``).
        name: model name written in the card.
        scenes: SAR raster files (labelled-scenes input).
        labels: one label polygon file for all scenes, and its ``layer`` inside the file.
        class_field: attribute holding each polygon's class.
        class_map: label value → one of :func:`label_targets` (values not listed must already be class names).
        background: what the pixels outside every polygon are (:func:`background_labels`): ``sea``, ``not-oil``
            (only oil was outlined: the engine trains them as "any class but oil", never as sea) or ``ignore``.
        dataset: an OSD/SOS data-set folder instead of scenes, with its ``dataset_format``.
        val_share: share of scenes kept for validation.
        preset: one of the engine's presets (:func:`preset_labels`); "" = the engine's default.
        steps, jointnet_steps, aug_ratio, balance: advanced overrides (None: the preset's value).
        init: model card to start from.
        device: one of the engine's devices (``PluginSettings.devices``).
        overwrite: pass ``--overwrite``: the engine then replaces an existing ``output`` model and empties its
            work folder. Only for an output the caller may replace: one the plugin made for this run (the
            Fine-tune window's own training folder) or a Processing destination the analyst chose.
    """

    output: str
    name: str = ""
    scenes: list[str] = field(default_factory=list)
    labels: str = ""
    layer: str = ""
    class_field: str = "class"
    class_map: dict[str, str] = field(default_factory=dict)
    background: str = "sea"
    dataset: str = ""
    dataset_format: str = "osd"
    val_share: float = 0.2
    preset: str = ""
    steps: int | None = None
    jointnet_steps: int | None = None
    aug_ratio: float | None = None
    balance: float | None = None
    init: str = ""
    device: str = "auto"
    overwrite: bool = False

    @property
    def work_dir(self) -> Path:
        """Where ``dakd finetune`` keeps checkpoints, generated pairs and ``report.json``."""
        return Path(self.output + ".work")


def problems(request: FinetuneRequest, contract: EngineContract | None = None) -> list[str]:
    """List what must change before the run can start (empty when it can), by the engine's contract."""
    contract = contract or current_contract()
    found = [contract.problem] if contract.blocking else []
    if request.dataset:
        if not Path(request.dataset).is_dir():
            found.append(tr("the data-set folder {folder} does not exist").format(folder=request.dataset))
    else:
        if not request.scenes:
            found.append(tr("choose at least one SAR raster"))
        if not request.labels:
            found.append(tr("choose the label polygons"))
        if not request.class_field:
            found.append(tr("choose the field that holds the class"))
    if request.preset and request.preset not in contract.presets:
        found.append(tr("unknown preset {preset}").format(preset=repr(request.preset)))
    bad = sorted({target for target in request.class_map.values() if target not in label_targets(contract)})
    if bad:
        found.append(tr("unknown classes in the mapping: {classes}").format(classes=", ".join(bad)))
    if request.background not in background_labels(contract):
        found.append(tr("unknown background {background}").format(background=repr(request.background)))
    if request.class_map and all(target == "ignore" for target in request.class_map.values()):
        found.append(tr("every label value is mapped to ignore: map at least one to a class"))
    if not 0.0 <= request.val_share < 1.0:
        found.append(tr("the validation share must be from 0 to 0.9"))
    if request.init and not Path(request.init).is_file():
        found.append(tr("the base model {path} does not exist").format(path=request.init))
    return found


def finetune_arguments(request: FinetuneRequest) -> list[str]:
    """Return the ``dakd finetune`` sub-command and options for ``request`` (an argument list, no shell)."""
    arguments = [
        "finetune",
        *engine_option("--out", request.output),
        "--device",
        request.device,
        "--val-share",
        f"{request.val_share:g}",
    ]
    if request.overwrite:
        arguments.append("--overwrite")
    if request.preset:
        arguments += ["--preset", request.preset]
    if request.name:
        arguments += engine_option("--name", request.name)
    if request.dataset:
        arguments += ["--data-format", request.dataset_format, *engine_option("--dataset", request.dataset)]
    else:
        for scene in request.scenes:
            arguments += engine_option("--scene", scene)
        arguments += [*engine_option("--labels", request.labels), *engine_option("--class-field", request.class_field)]
        if request.layer:
            arguments += engine_option("--layer", request.layer)
        for value, target in request.class_map.items():
            arguments += engine_option("--class-map", f"{value}={target}")
        if request.background != "sea":
            arguments += ["--background", request.background]
    for option, value in (
        ("--steps", request.steps),
        ("--jointnet-steps", request.jointnet_steps),
        ("--aug-ratio", request.aug_ratio),
        ("--balance", request.balance),
    ):
        if value is not None:
            arguments += [option, f"{value:g}" if isinstance(value, float) else str(value)]
    if request.init:
        arguments += engine_option("--init", request.init)
    return arguments


def label_key(value: Any) -> str:
    """Return a label value as the engine reads it from the file: its text, and ``""`` when it is empty.

    QGIS gives an empty (NULL) attribute as None or as a null QVariant whose text is "NULL"; the engine
    reads the file itself and sees no value, so ``""`` is what its ``--class-map`` must name (``=ignore``).
    """
    if value is None or (isinstance(value, QVariant) and value.isNull()):
        return ""
    return str(value).strip()


def default_class_for(value: Any, background: str = "sea", contract: EngineContract | None = None) -> str:
    """Guess the class of a label value: what the engine reads it as, else ``ignore``.

    The engine already understands class names, ids (0-4) and common aliases ("slick" is not one, "spill"
    is); anything else ("boat", "unsure") starts as ``ignore``, never as a class it may not be: the
    window marks those rows so the analyst maps them.
    With ``background`` ``not-oil`` a value "background" means "not oil", as it does for the engine.
    """
    return engine_reading(value, background, contract) or "ignore"


def is_known_label(value: Any, contract: EngineContract | None = None) -> bool:
    """Tell whether the engine reads ``value`` as a class or as ignore by itself (no mapping needed)."""
    return engine_reading(value, "sea", contract) is not None


def engine_reading(value: Any, background: str = "sea", contract: EngineContract | None = None) -> str | None:
    """Return the class name, ``not-oil`` or ``ignore`` the engine reads a label value as; None if it cannot.

    By the label rules of the engine's contract (its ``labels``), since the engine itself is never imported
    into QGIS's process.
    """
    contract = contract or current_contract()
    text = str(value).strip().lower() if value is not None else ""
    if text in contract.values("labels", "ignore_names"):
        return "ignore"
    if text in contract.values("labels", "not_oil_names") or (text == "background" and background == "not-oil"):
        return "not-oil"
    text = (contract.value("labels", "aliases") or {}).get(text, text)
    return next((name for class_id, name in enumerate(contract.class_names) if text in (name, str(class_id))), None)


def safe_model_name(text: str) -> str:
    """Make a file-name-safe model name (letters, digits, ``-``, ``_``, ``.``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-.") or "my-model"


@dataclass(frozen=True)
class FinetuneReport:
    """What the end of a run shows: the card, the validation metrics and the sample grid.

    Attributes:
        validated: whether the run measured the model on validation scenes (a model without a measure
            is never made the default without asking).
    """

    model_card: Path
    metrics_rows: list[tuple[str, str]]
    class_rows: list[tuple[str, str]]
    sample_grid: Path | None
    curves: list[Path]
    validated: bool = True


def read_report(done_event: dict[str, Any]) -> FinetuneReport:
    """Read ``report.json`` of a finished run (its ``work_dir`` and ``model`` come in the ``done`` event).

    Raises:
        ValueError: the report is missing or unreadable (the message names the file).
    """
    work_dir = Path(str(done_event.get("work_dir", "")))
    report_path = work_dir / "report.json"
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(
            tr("cannot read the run report {path}: {reason}").format(path=report_path, reason=error)
        ) from error
    card = Path(str(done_event.get("model") or report.get("model_card")))
    validation = report.get("metrics", {}).get("validation", {}) or {}
    names = report.get("metrics", {}).get("class_names", [])
    metrics_rows = [
        (label, _percent(validation.get(key)))
        for key, label in (
            ("miou", tr("mIoU")),
            ("f1", tr("F1")),
            ("accuracy", tr("Accuracy")),
            ("recall", tr("Recall")),
            ("precision", tr("Precision")),
        )
    ]
    class_rows = [
        (tr("IoU {name}").format(name=name), _percent(value)) for name, value in zip(names, validation.get("iou", []))
    ]
    generation = report.get("training", {}).get("generation") or {}
    grid = Path(generation["sample_grid"]) if generation.get("sample_grid") else None
    curves = sorted(card.parent.glob(f"{card.stem}*.png"))
    validated = isinstance(validation.get("miou"), (int, float)) and validation.get("miou") == validation.get("miou")
    return FinetuneReport(card, metrics_rows, class_rows, grid if grid and grid.is_file() else None, curves, validated)


def _percent(value: Any) -> str:
    if not isinstance(value, (int, float)) or value != value:  # None or NaN: class absent from validation
        return "–"
    return f"{value:.1f} %"
