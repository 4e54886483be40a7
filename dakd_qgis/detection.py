"""What the Processing algorithm and the right-click action share to run ``engine.detect.run_detection``.

Detection runs in a child Python process, ``python -m engine --progress json detect ...``: the CLI is
a thin wrapper over ``run_detection``, so all three front ends use the one detection function.

Notes:
    Why not call ``run_detection`` inside QGIS: QGIS's executables link the system GEOS and GDAL
    into the global symbol scope, and the pip wheels of shapely, rasterio and fiona bundle their own
    copies. Inside a QGIS process the wheels' calls bind to QGIS's libraries instead (checked with
    ``qgis_process`` on Debian 12: shapely 2.2 then returns 3-D coordinates with NaN heights and
    polygon tracing fails). A child process has only the wheels' libraries, so it behaves exactly
    like ``dakd detect``; it also keeps torch's memory and any crash out of QGIS. The cost is about a
    second of start-up per run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contract import EngineContract, current_contract
from .engine_command import EngineRunError, engine_command, engine_option, run_engine
from .events import event_percent
from .layer_sources import InputProblem
from .models import card_classes, weights_path
from .settings import PluginSettings
from .translation import tr

#: The ``--land-mask`` choice that stands for "the polygon layer below" (the engine's keywords come from its contract).
LAND_MASK_FILE = "file"


def method_labels(contract: EngineContract | None = None) -> dict[str, str]:
    """Return the engine's ``--method`` values, in its order, with what they mean for the analyst."""
    words = {
        "auto": tr("auto (model if available, else threshold)"),
        "model": tr("model (SAROSS-Net)"),
        "threshold": tr("threshold (classical, no model)"),
    }
    return {name: words.get(name, name) for name in (contract or current_contract()).methods}


def land_mask_labels(contract: EngineContract | None = None) -> dict[str, str]:
    """Return the engine's ``--land-mask`` keywords with their words, and :data:`LAND_MASK_FILE` last."""
    words = {"auto": tr("auto (global OpenStreetMap coastline)"), "none": tr("none")}
    keywords = (contract or current_contract()).values("land_masks")
    return {**{name: words.get(name, name) for name in keywords}, LAND_MASK_FILE: tr("the polygon layer below")}


def unit_choices(contract: EngineContract | None = None) -> tuple[str, ...]:
    """Return the ``--units`` choices: ``auto`` (read from the file), then the engine's units."""
    return ("auto", *(contract or current_contract()).values("units"))


def detect_default(key: str, contract: EngineContract | None = None) -> Any:
    """Return one of the engine's detection defaults (``overlap_px``, ``max_overlap_px``, ``min_area_km2``...)."""
    return (contract or current_contract()).value("detect_defaults", key)


@dataclass
class DetectRequest:
    """One detection run: the ``dakd detect`` options (names as in ``engine.detect.DetectParams``)."""

    input_path: str
    out_dir: str
    method: str = "auto"
    model_path: str | None = None
    device: str = "auto"
    precision: str = "auto"
    #: A band number, or a Sentinel-1 product's polarisation name (``layer_sources.engine_band``).
    band: int | str | None = None
    units: str = "auto"
    #: None: the engine's default (:func:`detect_default`), as for every number below.
    overlap_px: int | None = None
    min_area_km2: float | None = None
    prob_threshold: float | None = None
    batch_size: int | None = None
    #: ``auto`` (the global coastline), ``none`` or a polygon layer file; passed as ``--land-mask``.
    land_mask: str = "auto"
    land_buffer_m: float | None = None
    #: A polygon layer file or ``xmin,ymin,xmax,ymax,crs``; passed as ``--aoi`` (None: the whole scene).
    aoi: str | None = None
    #: Where the wind blows from, degrees clockwise from north; passed as ``--wind-dir`` (None: not known).
    wind_dir_deg: float | None = None
    #: What the analyst should know before the run (e.g. the default model is gone); not engine options.
    warnings: list[str] = field(default_factory=list)
    #: Pass ``--overwrite``: an earlier detection output in ``out_dir`` is replaced (Processing, where the analyst
    #: chose the folder; the engine refuses any other folder). The right-click run reserves a new empty folder.
    overwrite: bool = True


def chosen_model(method: str, model_path: str, settings: PluginSettings) -> str | None:
    """Return the model card to pass to the engine: the one given, else the default from Settings, else None.

    None lets the engine decide: its bundled default card if there is one (falling back to the
    threshold detector if that card cannot load), else (``auto``) the threshold detector, or
    (``model``) a clear error.

    Raises:
        InputProblem: the given card does not exist.
    """
    if method == "threshold":
        return None
    if model_path:
        if not Path(model_path).is_file():
            raise InputProblem(
                tr(
                    "model card {path} does not exist; choose a .json model card, or leave the model "
                    "empty for the default"
                ).format(path=model_path)
            )
        return model_path
    if settings.default_model and Path(settings.default_model).is_file():
        return settings.default_model
    return None


def missing_default_model_warning(method: str, model_path: str, settings: PluginSettings) -> str:
    """Say so when the default model chosen in Settings no longer exists ("" when all is well).

    Detection then uses the bundled model (or the threshold detector), which the analyst must know.
    """
    if method == "threshold" or model_path or not settings.default_model or Path(settings.default_model).is_file():
        return ""
    return tr(
        "the default model {path} no longer exists; using the model shipped with the plugin instead (choose "
        "another default in DAKD Oil Spill ▸ Engine ▸ Models…)"
    ).format(path=settings.default_model)


def make_request(input_path: str, out_dir: Path, settings: PluginSettings, **options: Any) -> DetectRequest:
    """Build a :class:`DetectRequest` from the plugin settings and per-run options.

    ``method`` defaults to ``auto``, ``model_path`` to the default model (:func:`chosen_model`) and
    ``device`` and ``precision`` to the Settings ones; other options are :class:`DetectRequest` fields.
    """
    method = options.pop("method", "auto")
    given_model = options.pop("model_path", "") or ""
    model_path = chosen_model(method, given_model, settings)
    device = options.pop("device", "") or settings.device
    precision = options.pop("precision", "") or settings.precision
    warning = missing_default_model_warning(method, given_model, settings)
    return DetectRequest(
        input_path=input_path,
        out_dir=str(out_dir),
        method=method,
        model_path=model_path,
        device=device,
        precision=precision,
        warnings=[warning] if warning else [],
        **options,
    )


def request_inputs(request: DetectRequest) -> list[Path]:
    """Return what a run reads: the scene (a product's ``.SAFE`` folder for its manifest) and the model files."""
    scene = Path(request.input_path).expanduser()
    inputs = [scene.parent if scene.name.lower() == "manifest.safe" else scene]
    if request.model_path:
        card = Path(request.model_path).expanduser()
        inputs += [card, weights_path(card)]
    # os.path.exists: an extent "x,y,X,Y,<WKT of a CRS without an id>" is longer than a file name may be, and
    # Path.exists() raised "File name too long" out of the Processing algorithm.
    inputs += [
        Path(p).expanduser() for p in (request.land_mask, request.aoi) if p and os.path.exists(os.path.expanduser(p))
    ]
    return inputs


def probability_bands(request: DetectRequest, contract: EngineContract | None = None) -> int:
    """Return how many bands the run of ``request`` writes into its probability raster: one per detector class.

    ``threshold`` runs the threshold detector (the contract's ``threshold_classes``); a model card (given, or the
    Settings default that :func:`make_request` passes on) runs that card, one band per class it lists (two for a
    binary fine-tune; a card that cannot be read counts every class of the contract, and the run refuses it);
    without one, the engine runs the detector its contract names (``default_detector_classes``: its default card,
    or the threshold detector where it has none it can read). ``model`` without a usable card is refused by the run.
    """
    contract = contract or current_contract()
    if request.method == "threshold":
        return len(contract.threshold_classes)
    if request.model_path:
        return len(card_classes(Path(request.model_path))) or len(contract.class_names)
    return len(contract.default_detector_classes)


def replaced_input(destination: str, inputs: list[Path]) -> str:
    """Say why the output file ``destination`` must not be written ("" when it may).

    The plugin's side of the engine's ``--overwrite`` rule (``engine.io.atomic.check_replaceable``):
    an output may replace an earlier file of that name, as in every QGIS algorithm, but never a file the
    run reads, nor a file inside an input folder (a ``.SAFE`` product). A folder is never an output file.
    """
    path = Path(destination).expanduser().absolute()
    if not path.exists():
        return ""
    real = path.resolve()
    if path.is_dir():
        return tr("will not replace {path}: it is a folder, not a file").format(path=path)
    for given in inputs:
        source = given.absolute().resolve()
        if real == source:
            return tr("will not replace {path}: it is an input of this run").format(path=path)
        if source.is_dir() and source in real.parents:
            return tr("will not replace {path}: it lies inside the input {input}").format(path=path, input=given)
    return ""


def detect_arguments(request: DetectRequest) -> list[str]:
    """Return the ``dakd detect`` sub-command and options for ``request`` (an argument list, no shell)."""
    arguments = [
        "detect",
        request.input_path,
        *engine_option("--out", request.out_dir),
        *(["--overwrite"] if request.overwrite else []),
        "--method",
        request.method,
        "--device",
        request.device,
        "--units",
        request.units,
        *engine_option("--land-mask", request.land_mask),
    ]
    if request.precision != "auto":  # left out when automatic: an engine without --precision still runs
        arguments += ["--precision", request.precision]
    for option, value in (
        ("--overlap", request.overlap_px),
        ("--min-area-km2", request.min_area_km2),
        ("--land-buffer-m", request.land_buffer_m),
        ("--model", request.model_path),
        ("--band", request.band),
        ("--aoi", request.aoi),
        ("--prob-threshold", request.prob_threshold),
        ("--batch-size", request.batch_size),
        ("--wind-dir", request.wind_dir_deg),
    ):
        if value is not None:
            arguments += engine_option(option, f"{value:g}" if isinstance(value, float) else str(value))
    return arguments


def progress_reporter(
    set_percent: Callable[[float], None],
    set_text: Callable[[str], None] | None = None,
    on_log: Callable[[str, str], None] | None = None,
) -> Callable[[dict[str, Any]], None]:
    """Make a sink for engine events that forwards them to QGIS progress callbacks.

    Args:
        set_percent: receives 0-100 for the current stage (``feedback.setProgress``, ``task.setProgress``).
        set_text: receives ``"detect 12/120"``-style text when a stage starts or advances.
        on_log: receives ``(level, message)`` of engine log events.
    """

    def sink(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "log" and on_log is not None:
            on_log(str(event.get("level", "info")), str(event.get("message", "")))
            return
        percent = event_percent(event)
        if percent is not None:
            set_percent(percent)
        if set_text is not None and kind in ("stage", "progress") and event.get("stage"):
            total = event.get("total")
            count = f" {event.get('done', 0)}/{total}" if total else ""
            set_text(f"{event['stage']}{count}")  # the engine's stage name, as the log shows it

    return sink


@dataclass(frozen=True)
class DetectOutcome:
    """What a finished run reports (the ``done`` event of ``dakd detect``, plus its summary file).

    Attributes:
        detector: the ``detector`` record of ``summary.json`` (``method``, ``model_id``...); empty if unreadable.
        report_path: the run's ``report.html`` (the engine writes it; the message bar offers to open it), or None
            when the engine wrote none (an engine older than the report).
    """

    out_dir: Path
    counts: dict[str, int]
    areas_km2: dict[str, float]
    device: str
    detector: dict[str, Any] = field(default_factory=dict)
    report_path: Path | None = None

    @classmethod
    def from_done_event(cls, event: dict[str, Any]) -> DetectOutcome:
        """Read the ``done`` event; raise ``ValueError`` if it does not describe a finished run."""
        if "out_dir" not in event:
            raise ValueError(tr("the engine finished without saying where its outputs are"))
        out_dir = Path(event["out_dir"])
        summary_name = (event.get("outputs") or {}).get("summary") or "summary.json"
        try:
            detector = json.loads((out_dir / summary_name).read_text(encoding="utf-8")).get("detector") or {}
        except (OSError, ValueError, AttributeError):
            detector = {}
        report = out_dir / str((event.get("outputs") or {}).get("report") or "report.html")
        return cls(
            out_dir,
            dict(event.get("counts") or {}),
            dict(event.get("areas_km2") or {}),
            str(event.get("device") or "cpu"),
            detector if isinstance(detector, dict) else {},
            report if report.is_file() else None,
        )

    def detector_name(self) -> str:
        """Name what found the results: ``model 'default'`` or ``the threshold detector``."""
        if self.detector.get("method") == "threshold" or self.detector.get("name") == "threshold":
            return tr("the threshold detector")
        model = self.detector.get("model_id")
        return tr("model '{name}'").format(name=model) if model else ""


def run_detect(
    request: DetectRequest,
    python: str,
    on_event: Callable[[dict[str, Any]], None],
    on_text: Callable[[str], None],
    is_canceled: Callable[[], bool],
) -> DetectOutcome:
    """Run ``dakd detect`` for ``request`` in a child process with ``python`` and wait for it.

    Raises:
        EngineRunError: the run failed, crashed or was cancelled (one sentence for the user).
    """
    arguments = engine_command(python, detect_arguments(request))
    on_text(" ".join(arguments))
    done = run_engine(arguments, on_event, on_text, is_canceled, process_name=tr("detection process"))
    try:
        return DetectOutcome.from_done_event(done)
    except ValueError as error:
        raise EngineRunError(str(error)) from error


def summary_sentence(outcome: DetectOutcome) -> str:
    """Say what a run found and with what, e.g. ``"3 oil spills, 41.2 km², cuda:0, model 'default' (1 ship)"``."""
    counts, areas = outcome.counts, outcome.areas_km2
    spills = int(counts.get("oil", 0))
    area_km2 = f"{float(areas.get('oil', 0.0)):.1f}"
    sentence = (
        tr("1 oil spill, {area} km², {device}") if spills == 1 else tr("{count} oil spills, {area} km², {device}")
    ).format(count=spills, area=area_km2, device=outcome.device)
    detector = outcome.detector_name()
    if detector:
        sentence += ", " + detector
    plural = {
        "look-alike": (tr("1 look-alike"), tr("{count} look-alikes")),
        "ship": (tr("1 ship"), tr("{count} ships")),
    }
    others = [
        plural[name][0 if counts[name] == 1 else 1].format(count=counts[name]) for name in plural if counts.get(name)
    ]
    return sentence + (f" ({', '.join(others)})" if others else "")
