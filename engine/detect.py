"""The one detection function: a SAR raster in, spill polygons and rasters out.

The CLI (``dakd detect``), the QGIS Processing algorithm and the layer context action all call
:func:`run_detection` with a :class:`DetectParams`. It opens the scene, builds the detector, streams
the scene tile by tile through the detector into the output rasters, traces polygons, draws the
quick-look and writes the run summary, all inside an atomic output directory: a failed or
cancelled run leaves nothing at ``out_dir``.

Outputs (names are an interface; the plugin loads them):

==================  ==============================================================================
``spills.gpkg``     layer ``spills``: one MultiPolygon per oil / look-alike / ship region, with the
                    attributes of :data:`engine.io.vector.SPILL_FIELDS`
``probability.tif`` uint8, one band per detector class (band description = class name), value =
                    round(p·250), nodata 255; tiled, DEFLATE, internal overviews (average)
``classes.tif``     uint8 class ids (0 sea, 1 oil, 2 look-alike, 3 ship, 4 land), nodata 255;
                    overviews (nearest)
``quicklook.png``   the scene in dB with the polygons drawn
``summary.json``    inputs, parameters, detector, tiling, counts, areas, timings, warnings
``report.html``     one page for the analyst: numbered quick-look, polygon table, context, caveats
                    (:mod:`engine.report`)
==================  ==============================================================================
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from engine import __version__
from engine.classes import VECTOR_CLASS_NAMES, SegClass
from engine.contract import DEFAULT_MIN_AREA_KM2, DEFAULT_OVERLAP_PX
from engine.detectors import (
    card_tile_size,
    check_detector_options,
    check_device_and_backend,
    choose_method,
    select_detector,
)
from engine.errors import InputError, OutputError
from engine.io import mask_scene, open_scene
from engine.io.aoi import area_of_interest, check_aoi
from engine.io.atomic import EngineFolder, atomic_output_dir, check_output_dir, output_write_errors, write_failure
from engine.io.landmask import DEFAULT_BUFFER_M, check_land_mask
from engine.io.raster import GDAL_CACHE_MB, add_overviews, create_output_raster
from engine.io.scene import Scene, SceneInfo
from engine.io.vector import SPILLS_LAYER, write_polygons
from engine.progress import Progress
from engine.quicklook import QuicklookCanvas, map_flips, render_quicklook
from engine.report import write_report
from engine.sources import SOURCE_MAX_KM, link_sources
from engine.tiling import FLUSH_ROWS, Tile, TileGrid, plan_grid, stitch_scene
from engine.vectorize import PROB_NODATA, PROB_SCALE, VectorizeResult, iter_spill_records
from engine.wind import check_background_window, check_wind_dir, wind_estimator

log = logging.getLogger("dakd")

SPILLS_FILE = "spills.gpkg"
PROBABILITY_FILE = "probability.tif"
CLASSES_FILE = "classes.tif"
QUICKLOOK_FILE = "quicklook.png"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
CLASS_NODATA = 255
#: Temporary raster for the vectoriser: the class id where a polygon class won, else 0; striped, because GDAL's
#: polygonize reads scanlines (fast on strips, very slow on compressed tiles). Deleted before the output appears.
_POLYGON_CLASSES_FILE = ".polygon-classes.tif"
#: An earlier detection output: the only kind of folder ``--overwrite`` replaces (see engine.io.atomic).
DETECTION_OUTPUT = EngineFolder(
    "detection output",
    (SPILLS_FILE, PROBABILITY_FILE, CLASSES_FILE, QUICKLOOK_FILE, SUMMARY_FILE, REPORT_FILE),
    marker=SUMMARY_FILE,
)
#: Largest scene taken: 10^10 px, about 23 Sentinel-1 IW GRD scenes (26,000 x 16,700 px each), a 100,000 px
#: square. A larger raster is no single product (a VRT declaring a wrong size, a continent-wide mosaic); it
#: would run for days and write terabytes, so it is refused before any work.
MAX_SCENE_PIXELS = 10**10
#: Share of the machine's memory the streaming buffers may take; the detector and GDAL's cache need the rest.
MAX_MEMORY_SHARE = 0.75
#: Bytes on disk per scene pixel, DEFLATE and overviews included: a probability band (model probabilities
#: of the sample scene measured 0.27), the class raster and the temporary polygon-class raster (both mostly
#: one value). Set high on purpose: a run that passes the check should not fill the disk.
_DISK_BYTES_PER_PIXEL = {"probability": 0.5, "classes": 0.25, "polygon classes": 0.25}
#: Room kept free on the disk beyond the estimate (the GeoPackage, the quick-look, GDAL's temporaries).
_DISK_MARGIN_BYTES = 32 * 2**20


@dataclass
class DetectParams:
    """Everything a detection run needs; the CLI and the plugin fill one of these.

    Attributes:
        input_path: GeoTIFF/GDAL raster or Sentinel-1 product.
        out_dir: output directory (created; see the module table for its files).
        method: ``auto``, ``threshold`` or ``model`` (see :mod:`engine.detectors`).
        model_path: model card for ``model`` (``auto`` also uses it when given).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (the threshold detector always runs on the CPU).
        band: band number or description (``"VV"``); ``None`` = the only band, or VV first.
        units: ``auto``, ``linear``, ``db``, ``db-8bit``, ``amplitude`` or ``intensity``.
        overlap_px: tile overlap in pixels (raised automatically to fit the detector's context).
        batch_size: tiles per batch; ``None`` lets the detector choose.
        min_area_km2: oil and look-alike regions smaller than this are dropped (SNAP: 0.1 km²);
            ships are kept from a few pixels (see :mod:`engine.vectorize`).
        prob_threshold: when set, a pixel only becomes oil / look-alike / ship if that class's
            probability is at least this; otherwise it gets the most probable other class.
        overwrite: replace an existing non-empty ``out_dir``.
        background_window_km: threshold detector background window (SNAP default 0.5 km); with any detector, the
            window of the wind estimate's background σ0 around each slick (:mod:`engine.wind`).
        threshold_k_db: threshold detector shift k in dB (SNAP default 2.0); the model ignores it.
        reader_options: passed to the scene reader (e.g. ``nodata``, ``pixel_size_m``; Sentinel-1
            options such as ``pol`` and ``geometry``).
        land_mask: ``auto`` (the global coastline; the default, unmasked with the reason in the summary where it
            cannot be placed), ``none``, or a polygon layer of land; land pixels are ignored
            (:mod:`engine.io.landmask`).
        land_buffer_m: shoreline buffer in metres: sea pixels this close to the mask's land are ignored too.
        aoi: area of interest, a polygon layer or ``xmin,ymin,xmax,ymax[,crs]``; tiles outside are never read
            (:mod:`engine.io.aoi`).
        detector_options: extra detector options (threshold: ``speckle_filter_px``,
            ``softness_db``; ships: the :class:`~engine.detectors.cfar.CfarConfig` fields such as ``pfa``;
            model: whatever its loader accepts).
        ships: for a model with a ship class: ``cfar`` (default) merges SNAP's CFAR bright targets into the
            ship class, ``model`` uses the network's ship class alone, ``off`` finds no ships (see
            :mod:`engine.detectors.cfar`). The threshold detector finds oil only and ignores it.
        wind_dir_deg: the direction the wind blows from (degrees clockwise from north), when the analyst
            knows it; the wind speed around each slick is then one value instead of a range (:mod:`engine.wind`).
    """

    input_path: str
    out_dir: str
    method: str = "auto"
    model_path: str | None = None
    device: str = "auto"
    band: int | str | None = None
    units: str = "auto"
    overlap_px: int = DEFAULT_OVERLAP_PX
    batch_size: int | None = None
    min_area_km2: float = DEFAULT_MIN_AREA_KM2
    prob_threshold: float | None = None
    overwrite: bool = False
    background_window_km: float = 0.5
    threshold_k_db: float = 2.0
    reader_options: dict[str, Any] = field(default_factory=dict)
    detector_options: dict[str, Any] = field(default_factory=dict)
    land_mask: str | None = "auto"
    ships: str = "cfar"
    land_buffer_m: float = DEFAULT_BUFFER_M
    aoi: str | None = None
    wind_dir_deg: float | None = None


@dataclass
class DetectResult:
    """What a run produced. Paths point into the final ``out_dir``."""

    out_dir: Path
    spills_path: Path
    probability_path: Path
    classes_path: Path
    quicklook_path: Path
    summary_path: Path
    report_path: Path
    counts: dict[str, int]
    areas_km2: dict[str, float]
    device: str
    summary: dict[str, Any]


def _check_params(params: DetectParams) -> None:
    if params.overlap_px < 0:
        raise InputError(f"--overlap must be 0 or more pixels, got {params.overlap_px}")
    if params.batch_size is not None and params.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {params.batch_size}")
    if not 0 <= params.min_area_km2 < float("inf"):  # inf dropped every region in silence
        raise InputError(f"--min-area-km2 must be 0 or more and finite, got {params.min_area_km2}")
    if params.prob_threshold is not None and not 0 < params.prob_threshold <= 1:
        raise InputError(f"--prob-threshold must be in (0, 1], got {params.prob_threshold}")
    wind_dir_problem = check_wind_dir(params.wind_dir_deg)
    if wind_dir_problem:
        raise InputError(wind_dir_problem)
    # What can be judged without the scene (the files, their polygons, the buffer, an extent's syntax) is judged
    # before the scene is read or a model loads; the rest when they are placed on the scene.
    check_land_mask(params.land_mask, params.land_buffer_m)
    if params.aoi:
        check_aoi(params.aoi)
    _check_detector_params(params)


def _check_detector_params(params: DetectParams) -> None:
    """Judge the detector's options before the scene opens or a model loads (a model takes seconds to minutes).

    The threshold settings' ranges and the ship mode, the overlap against a model's tile, read from its card
    (plan_grid's own rule; the context is judged once the detector is built), and the device, backend and runtime
    options a model run can be refused for (:func:`~engine.detectors.check_device_and_backend`). The threshold
    detector's tile grows with its background window in pixels, so its overlap is judged once the scene's pixel size
    is known (:func:`_run`), as is the background window itself.
    """
    check_detector_options(
        params.method,
        params.ships,
        background_window_km=params.background_window_km,
        threshold_k_db=params.threshold_k_db,
        **params.detector_options,
    )
    tile_size = card_tile_size(params.method, params.model_path)
    if tile_size is not None:
        plan_grid(1, 1, tile_size, params.overlap_px)
    check_device_and_backend(params.method, params.model_path, params.device, **params.detector_options)


def classify(probabilities: np.ndarray, classes: tuple[SegClass, ...], prob_threshold: float | None) -> np.ndarray:
    """Class ids (uint8) from ``(C, H, W)`` probabilities: the most probable class, with ``prob_threshold``.

    With ``prob_threshold``, a polygon class (oil, look-alike, ship) wins only when its probability
    reaches the threshold; otherwise the most probable non-polygon class (sea, land) is used.
    """
    ids = np.array([c.id for c in classes], dtype=np.uint8)
    winner = probabilities.argmax(axis=0)
    if prob_threshold is None:
        return ids[winner]
    is_vector = np.array([c.name in VECTOR_CLASS_NAMES for c in classes])
    weak = is_vector[winner] & (np.take_along_axis(probabilities, winner[None], 0)[0] < prob_threshold)
    background = np.where(is_vector[:, None, None], -1.0, probabilities).argmax(axis=0)
    return ids[np.where(weak, background, winner)]


class _RasterOutputs:
    """The stitcher's sink: writes probability, class and (temporary) polygon-class rasters band by band."""

    def __init__(
        self,
        folder: Path,
        info: SceneInfo,
        classes: tuple[SegClass, ...],
        prob_threshold: float | None,
        progress: Progress,
    ) -> None:
        self.progress = progress
        self.classes = classes
        self.prob_threshold = prob_threshold
        self.vector_ids = np.array([c.id for c in classes if c.name in VECTOR_CLASS_NAMES], dtype=np.uint8)
        self.valid_pixels = 0
        self.probability = create_output_raster(
            folder / PROBABILITY_FILE, info, len(classes), "uint8", PROB_NODATA, [c.name for c in classes], predictor=2
        )
        self.class_map = create_output_raster(folder / CLASSES_FILE, info, 1, "uint8", CLASS_NODATA, ["class"])
        self.polygon_classes = create_output_raster(
            folder / _POLYGON_CLASSES_FILE, info, 1, "uint8", None, ["polygon classes"], tiled=False
        )

    def __call__(self, row0: int, probabilities: np.ndarray, valid: np.ndarray) -> None:
        self.progress.check_cancelled()  # rows of empty tiles are written too, with no batch to count them
        window = rasterio.windows.Window(0, row0, valid.shape[1], valid.shape[0])
        encoded = np.rint(probabilities * PROB_SCALE).astype(np.uint8)
        encoded[:, ~valid] = PROB_NODATA
        class_ids = classify(probabilities, self.classes, self.prob_threshold)
        polygon_classes = np.where(np.isin(class_ids, self.vector_ids) & valid, class_ids, 0).astype(np.uint8)
        self.polygon_classes.write(polygon_classes, 1, window=window)
        class_ids[~valid] = CLASS_NODATA
        self.probability.write(encoded, window=window)
        self.class_map.write(class_ids, 1, window=window)
        self.valid_pixels += int(valid.sum())

    def close(self) -> None:
        for dataset in (self.probability, self.class_map, self.polygon_classes):
            dataset.close()


def json_ready(value: Any) -> Any:
    """Return ``value`` as strict JSON can hold it: paths as text, numpy numbers as Python's, NaN and ±Inf as text.

    Python's ``json`` writes NaN as a bare ``NaN``, which other JSON readers (jq, JavaScript, most languages) refuse:
    ``summary.json`` and ``dakd info --json`` of a raster whose nodata is NaN (as ``dakd calibrate`` writes) were
    not JSON to them. ``"nan"``, ``"inf"`` and ``"-inf"`` are what ``--nodata`` and reader options accept back.
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def scene_description(info: SceneInfo) -> dict[str, Any]:
    """Return the scene facts recorded in the run summary and printed by ``dakd info``."""
    crs = info.crs
    return {
        "path": info.path,
        "scene_id": info.scene_id,
        "width": info.width,
        "height": info.height,
        "crs": None if crs is None else (f"EPSG:{crs.to_epsg()}" if crs.to_epsg() else crs.to_wkt()),
        "band": info.band,
        "band_name": info.band_name,
        "units": info.units,
        "units_reason": info.units_reason,
        "nodata": info.nodata,
        "pixel_size_m": [round(v, 4) for v in info.pixel_size_m],
        "metadata": info.metadata,
    }


class _WarningCollector(logging.Handler):
    """Keeps the run's warnings for the summary."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def check_detect_output(params: DetectParams) -> Path:
    """Refuse ``params.out_dir`` before any work if the run could not write it, or could lose files by replacing it.

    The one check of a detection's output folder (:func:`run_detection` makes it; the plugin gets it through
    ``dakd detect``): ``--overwrite`` replaces only an earlier detection output (:data:`DETECTION_OUTPUT`), and
    never a folder that holds the input, the model or the land mask, the current folder, a home folder or a
    file-system root (:func:`engine.io.atomic.check_replaceable`).

    Returns:
        The output folder as an absolute path.

    Raises:
        OutputError: the one-line refusal.
    """
    return check_output_dir(params.out_dir, params.overwrite, _input_files(params), DETECTION_OUTPUT)


def _input_files(params: DetectParams) -> tuple[str | None, ...]:
    """Return the files a run reads (``--land-mask auto``/``none`` and an extent typed as ``--aoi`` are not files)."""
    optional = (params.land_mask, params.aoi)
    return (params.input_path, params.model_path, *(p for p in optional if p and os.path.exists(p)))


def _physical_memory_bytes() -> int | None:
    """Return the machine's memory in bytes (None where the OS does not say, e.g. Windows)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def _size_text(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e8 else f"{n_bytes / 1e6:.0f} MB"


def check_resources(info: SceneInfo, n_classes: int, tile_size: int, out_dir: str | os.PathLike[str]) -> None:
    """Refuse, before any work, a scene too large to detect, or one whose outputs the disk or memory cannot hold.

    The estimates are logged. Detection streams the scene, so its memory grows with the scene's width
    (a band of ``tile_size + FLUSH_ROWS`` rows of every class), its disk use with the pixel count.

    Raises:
        InputError: the scene has more than :data:`MAX_SCENE_PIXELS`, or a row band needs more than
            :data:`MAX_MEMORY_SHARE` of the machine's memory.
        OutputError: the outputs would not fit in the free space of ``out_dir``'s disk.
    """
    pixels = info.width * info.height
    size = f"{info.width} x {info.height} px"
    if pixels > MAX_SCENE_PIXELS:
        raise InputError(
            f"{info.path}: {size} is more than dakd detects in one run ({MAX_SCENE_PIXELS:,} px; a "
            "Sentinel-1 IW GRD scene is about 26,000 x 16,700 px); check the file (a VRT may declare a "
            "wrong size) or cut the scene into parts"
        )
    # Per column: the stitcher's float32 sums, weights and validity over its rows, and one flushed band of
    # float32 probabilities, their uint8 codes and the class maps.
    per_column = (4 * n_classes + 5) * (tile_size + FLUSH_ROWS) + (5 * n_classes + 24) * FLUSH_ROWS
    memory = per_column * info.width
    total_memory = _physical_memory_bytes()
    if total_memory is not None and memory > MAX_MEMORY_SHARE * total_memory:
        raise InputError(
            f"{info.path}: a scene {info.width} px wide needs about {_size_text(memory)} of memory to "
            f"detect, more than this machine can give ({_size_text(total_memory)} in all); cut the "
            "scene into narrower parts"
        )
    need = (
        pixels
        * (
            n_classes * _DISK_BYTES_PER_PIXEL["probability"]
            + _DISK_BYTES_PER_PIXEL["classes"]
            + _DISK_BYTES_PER_PIXEL["polygon classes"]
        )
        + _DISK_MARGIN_BYTES
    )
    folder = Path(out_dir).expanduser().absolute().parent
    while not folder.is_dir() and folder.parent != folder:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    log.info(
        "%s scene: outputs need about %s, %s free in %s; streaming needs about %s of memory",
        size,
        _size_text(need),
        _size_text(free),
        folder,
        _size_text(memory),
    )
    if need > free:
        raise OutputError(
            f"not enough disk space for the outputs of a {size} scene: they need about "
            f"{_size_text(need)}, {_size_text(free)} is free in {folder}; free disk space or choose "
            "another --out"
        )


def run_detection(params: DetectParams, progress: Progress | None = None) -> DetectResult:
    """Detect oil spills (and look-alikes and ships, with a model that has them) in one scene.

    Args:
        params: what to read, how to detect and where to write.
        progress: progress events and cancellation (``progress.cancel``); checked for every tile read,
            every band of rows written, between overview levels, every 100 traced regions and while
            drawing the quick-look (GDAL's polygonize is one call that cannot be interrupted).

    Returns:
        The output paths, counts and areas per class, the device and the run summary.

    Raises:
        InputError: the input cannot be used (missing, not a raster, corrupt, all nodata, bad units...).
        OutputError: ``out_dir`` exists without ``overwrite`` or cannot be written.
        ModelError: the model card cannot be used.
        Cancelled: the user cancelled; nothing was written to ``out_dir``.
    """
    progress = progress or Progress()
    _check_params(params)
    check_detect_output(params)  # paths only: refused before the scene opens
    collector = _WarningCollector()
    log.addHandler(collector)
    try:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
            return _run(params, progress, collector)
    finally:
        log.removeHandler(collector)


def _nothing_to_search(info: Any, scene: Any = None) -> InputError:
    """Return the error for a scene with no pixel left to search, naming what removed the last valid pixels.

    A land mask or an area of interest can remove every pixel of a valid scene; blaming the file's nodata then
    would send the analyst to the wrong fix. The reverse holds too: an all-nodata scene on a coast is the
    file's fault, and "pass --land-mask none" would cost a second full run that ends in the same place. So a
    wrapper of ``scene`` (:class:`engine.io.aoi.AoiScene`, :class:`engine.io.landmask.LandMaskedScene`) is
    named only when it saw a valid pixel before it cut (its ``valid_before_*`` flag).
    """
    aoi = info.metadata.get("aoi")
    land = info.metadata.get("land_mask") or {}
    if aoi and getattr(scene, "valid_before_aoi", False):
        covered = "nodata or land" if land.get("used") else "nodata"
        return InputError(
            f"{info.path}: every pixel inside --aoi {aoi.get('source')} is {covered} while pixels around it are "
            "valid; check the area of interest"
        )
    if land.get("used") and getattr(scene, "valid_before_land_mask", False):
        blamed = _land_mask_blamed(info, land)
        if blamed is not None:
            return blamed
    sample = info.metadata.get("sample") or {}
    if aoi and not (sample and sample.get("valid_fraction") == 0):  # the scene may have data away from the area
        return InputError(
            f"{info.path}: every pixel in and around --aoi {aoi.get('source')} is nodata (NaN, zero or the "
            "nodata value); give an area over the scene's valid pixels, or check the file's nodata value or --band"
        )
    return InputError(
        f"{info.path}: contains no valid pixels (all nodata, NaN or zero); check the file, its nodata value or --band"
    )


def _land_mask_blamed(info: Any, land: dict[str, Any]) -> InputError | None:
    """Return the error naming the land mask that removed every valid pixel (None if this mask cannot have)."""
    if land.get("mode") == "auto" and land.get("coast_in_scene"):
        return InputError(
            f"{info.path}: every pixel is land or nodata by the global coastline (--land-mask auto); "
            "if the scene is at sea its georeferencing is wrong, else pass --land-mask none"
        )
    if land.get("mode") == "file":
        return InputError(
            f"{info.path}: every pixel is land or nodata by --land-mask {land.get('source')}; "
            "check that layer, or pass --land-mask none"
        )
    return None


def _run(params: DetectParams, progress: Progress, collector: _WarningCollector) -> DetectResult:
    started = time.monotonic()
    run_time = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    timings: dict[str, float] = {}
    scene = open_scene(params.input_path, band=params.band, units=params.units, **params.reader_options)
    try:
        info = scene.info
        sample = info.metadata.get("sample", {})
        if sample.get("pixels") == info.width * info.height and sample.get("valid_fraction") == 0:
            raise _nothing_to_search(info)
        # placed before the model loads (an ONNX export can take a minute): a mistyped area is refused at once
        area = area_of_interest(scene, params.aoi) if params.aoi else None
        _check_wind_window(params, info)
        detector, choice = select_detector(
            params.method,
            params.model_path,
            params.device,
            ships=params.ships,
            background_window_km=params.background_window_km,
            threshold_k_db=params.threshold_k_db,
            **params.detector_options,
        )
        log.info("detector: %s (%s)", choice.method, choice.reason)
        _say_what_the_threshold_options_do(params, choice.method)
        # The scene's pixel size sets the threshold detector's tiles: its overlap is judged here, before the size
        # checks (which need the tile), the land mask and the output folder. The masks change no pixel size.
        detector.prepare(info)
        grid = _plan_grid(info, detector, params.overlap_px)
        check_resources(info, len(detector.classes), detector.input_spec.tile_size, params.out_dir)
        scene = mask_scene(scene, params.land_mask, params.land_buffer_m, params.aoi, area)  # after the size checks
        info = scene.info
        timings["open_s"] = round(time.monotonic() - started, 3)
        # A failed write is judged inside the block, while the partial output still fills a full disk.
        with (
            atomic_output_dir(params.out_dir, params.overwrite, _input_files(params), DETECTION_OUTPUT) as folder,
            output_write_errors(params.out_dir),
        ):
            result = _detect_into(folder, scene, detector, grid, params, progress, timings, run_time)
            summary = _summary(params, info, detector, choice, result, timings, started, run_time, collector)
            (folder / SUMMARY_FILE).write_text(json.dumps(json_ready(summary), indent=2, allow_nan=False))
            write_report(folder / REPORT_FILE, json_ready(summary), result.records, folder / QUICKLOOK_FILE)
    except OSError as error:  # reading errors are InputError already; what is left is writing (disk full...)
        raise write_failure(error, params.out_dir, "--out") from error
    finally:
        scene.close()
    out = Path(params.out_dir).expanduser().absolute()
    return DetectResult(
        out_dir=out,
        spills_path=out / SPILLS_FILE,
        probability_path=out / PROBABILITY_FILE,
        classes_path=out / CLASSES_FILE,
        quicklook_path=out / QUICKLOOK_FILE,
        summary_path=out / SUMMARY_FILE,
        report_path=out / REPORT_FILE,
        counts=summary["counts"],
        areas_km2=summary["areas_km2"],
        device=summary["detector"]["device"],
        summary=summary,
    )


def _check_wind_window(params: DetectParams, info: SceneInfo) -> None:
    """Refuse a background window too large for the wind estimate around each slick, before a model loads.

    The threshold detector refuses its own (the same limit, naming itself) when it is prepared for the scene.
    """
    if params.method == "threshold" or choose_method(params.method, params.model_path).method == "threshold":
        return
    problem = check_background_window(params.background_window_km, info.pixel_size_m)
    if problem:
        raise InputError(problem)


def _say_what_the_threshold_options_do(params: DetectParams, method: str) -> None:
    """Warn that the model ignores ``--threshold-k-db``; say that ``--background-window-km`` sets only the wind's."""
    if method == "threshold":
        return
    defaults = {f.name: f.default for f in fields(DetectParams)}
    if params.threshold_k_db != defaults["threshold_k_db"]:
        log.warning("--threshold-k-db applies to --method threshold only; the %s detector ignores it", method)
    if params.background_window_km != defaults["background_window_km"]:
        log.info(
            "--background-window-km %g: with the %s detector it sets only the window of the wind estimate around "
            "each slick",
            params.background_window_km,
            method,
        )


def _plan_grid(info: SceneInfo, detector: Any, overlap_px: int) -> TileGrid:
    """Return the scene's tile grid for a prepared detector (the overlap raised to cover its context: plan_grid)."""
    grid = plan_grid(info.height, info.width, detector.input_spec.tile_size, overlap_px, detector.context_px)
    if grid.overlap_px != overlap_px:
        log.info(
            "tile overlap raised from %d to %d px to cover the detector's %d px context",
            overlap_px,
            grid.overlap_px,
            detector.context_px,
        )
    return grid


@dataclass
class _PassResult:
    grid: Any
    stitch: Any
    vectors: VectorizeResult
    valid_pixels: int
    features: int
    #: The polygons' attributes (for the report), and what the wind and source context rest on (summary).
    records: list[dict[str, Any]]
    context: dict[str, Any]


def _add_output_overviews(folder: Path, progress: Progress) -> None:
    """Overviews of the probability (average) and class (nearest) rasters, so QGIS draws a full scene fast."""
    with progress.stage("overviews", total=2) as stage:
        add_overviews(folder / PROBABILITY_FILE, "average", check_cancelled=progress.check_cancelled)
        stage.advance()
        add_overviews(folder / CLASSES_FILE, "nearest", check_cancelled=progress.check_cancelled)
        stage.advance()


def _spill_records(
    folder: Path,
    scene: Scene,
    classes: tuple[Any, ...],
    params: DetectParams,
    run_fields: dict[str, Any],
    wind: Any,
    progress: Progress,
) -> tuple[list[tuple[Any, dict[str, Any]]], VectorizeResult]:
    """Trace the polygons and their attributes, held in memory.

    One dict per polygon (GDAL's polygonize holds every region anyway): a slick's source is known only once
    every ship is traced.
    """
    vectors = VectorizeResult(counts={}, areas_km2={}, dropped_small=0, outlines=[])
    records = list(
        iter_spill_records(
            str(folder / _POLYGON_CLASSES_FILE),
            str(folder / PROBABILITY_FILE),
            scene,
            classes,
            params.min_area_km2,
            run_fields,
            vectors,
            progress,
            wind=wind,
            background_window_km=params.background_window_km,
        )
    )
    return records, vectors


def _detect_into(
    folder: Path,
    scene: Scene,
    detector: Any,
    grid: TileGrid,
    params: DetectParams,
    progress: Progress,
    timings: dict[str, float],
    run_time: str,
) -> _PassResult:
    info = scene.info
    classes = tuple(detector.classes)
    batch_size = params.batch_size or int(getattr(detector, "default_batch_size", 8))
    canvas = QuicklookCanvas(info.height, info.width)

    def add_to_quicklook(tile: Tile, sigma0: np.ndarray, valid: np.ndarray) -> None:
        canvas.add(tile.core[0], tile.core[2], sigma0, valid)

    step = time.monotonic()
    outputs = _RasterOutputs(folder, info, classes, params.prob_threshold, progress)
    try:
        stitch = stitch_scene(
            scene,
            detector.predict,
            grid,
            len(classes),
            detector.input_spec,
            batch_size,
            outputs,
            progress,
            on_core=add_to_quicklook,
        )
    finally:
        outputs.close()
    if getattr(scene, "non_finite_reads", 0):
        log.warning("%s: NaN/Inf values found; they are treated as nodata", info.path)
    if stitch.tiles_skipped == stitch.tiles_total or outputs.valid_pixels == 0:
        raise _nothing_to_search(info, scene)
    timings["detect_s"] = round(time.monotonic() - step, 3)
    timings.update({f"detect_{name}": seconds for name, seconds in stitch.times.items()})  # per stage (tiling)

    step = time.monotonic()
    _add_output_overviews(folder, progress)
    timings["overviews_s"] = round(time.monotonic() - step, 3)

    step = time.monotonic()
    progress.check_cancelled()
    describe = detector.describe()
    run_fields = {
        "source_scene": info.scene_id,
        "acquisition_time": info.metadata.get("acquisition_start"),
        "detector": describe.name,
        "model_id": describe.model_id,
        "run_time": run_time,
    }
    wind = wind_estimator(scene, params.wind_dir_deg)
    records, vectors = _spill_records(folder, scene, classes, params, run_fields, wind, progress)
    linked = link_sources(records, info.crs, info.pixel_size_m)
    written = write_polygons(folder / SPILLS_FILE, records, info.crs, SPILLS_LAYER)
    (folder / _POLYGON_CLASSES_FILE).unlink()
    timings["vectorise_s"] = round(time.monotonic() - step, 3)

    step = time.monotonic()
    counts = ", ".join(f"{n} {name}" for name, n in vectors.counts.items()) or "no detections"
    title = f"{info.scene_id} - {describe.name} - {counts}".encode("ascii", "replace").decode()
    flips = map_flips(info.transform, info.crs is not None)
    render_quicklook(
        folder / QUICKLOOK_FILE, canvas, vectors.outlines, title, progress.check_cancelled, vectors.labels, flips
    )
    timings["quicklook_s"] = round(time.monotonic() - step, 3)
    has_ships = any(c.name == "ship" for c in classes)
    context = {
        "wind": {"method": wind.reason, "wind_dir_deg": params.wind_dir_deg},
        "sources": {
            "method": (
                f"nearest ship within {SOURCE_MAX_KM:g} km of either end of each oil polygon"
                if has_ships
                else "not searched: the detector finds no ships"
            ),
            "max_km": SOURCE_MAX_KM if has_ships else None,
            "oil_with_source": linked,
        },
    }
    return _PassResult(grid, stitch, vectors, outputs.valid_pixels, written, [props for _, props in records], context)


def _summary(
    params: DetectParams,
    info: SceneInfo,
    detector: Any,
    choice: Any,
    result: _PassResult,
    timings: dict[str, float],
    started: float,
    run_time: str,
    collector: _WarningCollector,
) -> dict[str, Any]:
    describe = detector.describe()
    names = [c.name for c in detector.classes if c.name in VECTOR_CLASS_NAMES]
    counts = {name: result.vectors.counts.get(name, 0) for name in names}
    areas = {name: round(result.vectors.areas_km2.get(name, 0.0), 6) for name in names}
    timings["total_s"] = round(time.monotonic() - started, 3)
    grid = result.grid
    return {
        "engine_version": __version__,
        "run_time": run_time,
        "input": scene_description(info),
        "parameters": {k: v for k, v in asdict(params).items() if k not in ("input_path", "out_dir")},
        "detector": {
            "method": choice.method,
            "method_reason": choice.reason,
            "name": describe.name,
            "model_id": describe.model_id,
            "device": describe.device,
            "device_reason": describe.device_reason,
            "classes": [c.name for c in detector.classes],
            "default_model": _is_default_card(choice),
            **describe.extra,
        },
        "tiling": {
            "tile_size": grid.tile_size,
            "overlap_px": grid.overlap_px,
            "context_px": grid.context_px,
            "tiles_total": result.stitch.tiles_total,
            "tiles_skipped": result.stitch.tiles_skipped,
            "batches": result.stitch.batches,
        },
        "land_mask": info.metadata.get("land_mask", {"mode": "none", "used": False, "reason": "no --land-mask"}),
        "aoi": info.metadata.get("aoi"),
        "valid_fraction": round(result.valid_pixels / (info.width * info.height), 6),
        "counts": counts,
        "areas_km2": areas,
        "features": result.features,
        "dropped_small_regions": result.vectors.dropped_small,
        **result.context,
        "timings_s": timings,
        "outputs": {
            "spills": SPILLS_FILE,
            "spills_layer": SPILLS_LAYER,
            "probability": PROBABILITY_FILE,
            "classes": CLASSES_FILE,
            "quicklook": QUICKLOOK_FILE,
            "summary": SUMMARY_FILE,
            "report": REPORT_FILE,
        },
        "warnings": list(collector.messages),
    }


def _is_default_card(choice: Any) -> bool:
    """Whether the run used the bundled default model card (its report caveat: trained on simulated scenes only)."""
    from engine.detectors import DEFAULT_MODEL_CARD

    if choice.method != "model" or not choice.model_path:
        return False
    return choice.from_default_card or Path(choice.model_path).resolve() == DEFAULT_MODEL_CARD.resolve()


def format_summary(result: DetectResult) -> str:
    """Return a one-screen text summary of a run (what ``dakd detect`` prints)."""
    summary = result.summary
    scene = summary["input"]
    detector = summary["detector"]
    lines = [
        f"Scene     {scene['scene_id']}  ({scene['width']} x {scene['height']} px, {scene['crs'] or 'no CRS'}, "
        f"units {scene['units']})",
        f"Detector  {detector['name']} ({detector['model_id']}) on {detector['device']}: {detector['method_reason']}",
        f"Tiles     {summary['tiling']['tiles_total']} of {summary['tiling']['tile_size']} px, "
        f"{summary['tiling']['tiles_skipped']} empty skipped; valid pixels {summary['valid_fraction']:.1%}",
    ]
    for name, count in result.counts.items():
        lines.append(f"  {name:<11} {count:>5} polygon(s), {result.areas_km2[name]:.3f} km²")
    if not result.counts or not any(result.counts.values()):
        lines.append("  no oil, look-alikes or ships found above the size limits")
    timings = summary["timings_s"]
    lines.append(f"Time      {timings['total_s']:.1f} s (detection {timings.get('detect_s', 0):.1f} s)")
    if summary["warnings"]:
        lines.append(f"Warnings  {len(summary['warnings'])} (see summary.json)")
    lines.append(f"Output    {result.out_dir}/")
    for key in ("spills", "probability", "classes", "quicklook", "summary", "report"):
        lines.append(f"          {summary['outputs'][key]}")
    return "\n".join(lines)


__all__ = ["DetectParams", "DetectResult", "run_detection", "classify", "format_summary"]
