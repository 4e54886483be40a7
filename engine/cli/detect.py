"""``dakd detect`` and ``dakd info``: thin wrappers over :func:`engine.detect.run_detection` and ``open_scene``."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from engine.cli.options import add_device_option, add_out_option, add_report_out_option, report_to_out
from engine.contract import BACKENDS, METHODS, PRECISIONS, SHIP_MODES, UNITS
from engine.progress import Progress


def _band(text: str) -> int | str:
    """Read a band number (``-1`` too: refused as a number out of range, not as "no band has that name") or name."""
    return int(text) if re.fullmatch(r"\s*[+-]?\d+\s*", text) else text


#: Reader settings that have their own option: ``--reader-option band=2`` used to crash (a keyword given twice).
_OWN_OPTIONS = {
    "band": "--band",
    "units": "--units",
    "land_mask": "--land-mask",
    "pol": "--pol",
    "geometry": "--geometry",
}


def _reader_option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if key in _OWN_OPTIONS:
        raise argparse.ArgumentTypeError(f"{key} has its own option: use {_OWN_OPTIONS[key]} {value}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="GeoTIFF / GDAL raster, or Sentinel-1 .SAFE / .zip")
    parser.add_argument(
        "--band", type=_band, default=None, help="band number or name (e.g. VV); default: the only band, or VV first"
    )
    parser.add_argument(
        "--units",
        choices=("auto", *UNITS),
        default="auto",
        help="pixel units; auto decides from metadata, data type and statistics (default)",
    )
    parser.add_argument(
        "--reader-option",
        type=_reader_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="reader option, repeatable (rasters: nodata=0, pixel_size_m=10)",
    )
    # Sentinel-1 products and land mask (issue 7, engine.io.sentinel1 / engine.io.landmask).
    parser.add_argument("--pol", default=None, help="Sentinel-1 product: polarisation VV (default), VH, HH or HV")
    parser.add_argument(
        "--geometry",
        choices=("utm", "radar"),
        default=None,
        help="Sentinel-1 product: utm = warp to the product's UTM zone at 10 m (default); "
        "radar = the product's own grid, georeferenced by its GCPs",
    )
    parser.add_argument(
        "--land-mask",
        metavar="auto|none|PATH",
        default=None,
        help="land pixels are ignored: auto = the global OSM coastline (detect's default for "
        "georeferenced scenes), none, or a polygon layer of land (Shapefile, GeoPackage...)",
    )


def _product_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--pol`` / ``--geometry`` as Sentinel-1 reader options; refused for other inputs."""
    from engine.errors import InputError
    from engine.io import is_sentinel1_path

    options = {key: value for key, value in (("pol", args.pol), ("geometry", args.geometry)) if value is not None}
    if options and not is_sentinel1_path(args.input):
        flags = " and ".join(f"--{key}" for key in options)
        raise InputError(
            f"{flags} only apply to Sentinel-1 products (.SAFE folder or .zip); {args.input} is a raster "
            "(use --band for its band)"
        )
    return options


def register(subparsers: Any) -> None:
    """Add ``detect`` and ``info`` to the ``dakd`` parser."""
    _register_detect(subparsers)
    _register_info(subparsers)


def _register_detect(subparsers: Any) -> None:
    """Add ``dakd detect``, its defaults taken from :class:`engine.detect.DetectParams`."""
    from engine.detect import DetectParams

    defaults = DetectParams(input_path="", out_dir="")
    detect = subparsers.add_parser(
        "detect",
        help="detect oil spills in a SAR scene",
        description="Detect oil spills, look-alikes and ships in a SAR scene. Writes spills.gpkg, probability.tif, "
        "classes.tif, quicklook.png, summary.json and report.html into --out DIR (atomically: a failed or "
        "cancelled run leaves nothing there).",
    )
    _add_input_options(detect)
    add_out_option(detect, "DIR", "output directory", required=True)
    detect.add_argument(
        "--method",
        choices=METHODS,
        default=defaults.method,
        help="auto: the model if a card is available, else the SNAP threshold (default)",
    )
    detect.add_argument("--model", dest="model_path", metavar="PATH", default=None, help="model card (.json)")
    _add_model_options(detect, defaults)
    _add_tiling_and_region_options(detect, defaults)
    detect.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    detect.set_defaults(func=run_detect)


def _add_model_options(detect: argparse.ArgumentParser, defaults: Any) -> None:
    """``dakd detect``'s options for the device and the network's runtime."""
    add_device_option(
        detect,
        defaults.device,
        "auto: CUDA, then Apple MPS, then CPU (default); cpu, cuda, cuda:N, mps; the summary says which and why",
    )
    detect.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="model detector: what runs the network; auto (default) takes the fastest installed for "
        "the device (OpenVINO, then ONNX Runtime, then torch on the CPU; torch on GPUs) and the "
        "summary says why; the ONNX backends run the card's ONNX export (dakd model export)",
    )
    detect.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="model detector: autocast dtype (auto: bf16/fp16 on GPUs, fp32 on the CPU and with "
        "the ONNX backends); bf16 with OpenVINO runs the encoder and decoder in bf16, faster where the CPU "
        "has bf16 units, agreeing with fp32 on 99.85 %% of the sample scene's pixels (docs/benchmarks.md)",
    )
    detect.add_argument(
        "--compile",
        action="store_true",
        help="model detector: torch.compile the network (slow first batch, faster after, GPUs)",
    )
    detect.add_argument(
        "--scan-backend",
        choices=("auto", "reference", "parallel", "mamba_ssm", "triton"),
        default=None,
        help="model detector: selective-scan implementation (default auto)",
    )


def _add_tiling_and_region_options(detect: argparse.ArgumentParser, defaults: Any) -> None:
    """``dakd detect``'s options for tiles, polygons, the threshold detector, ships, wind, land and the AOI."""
    detect.add_argument(
        "--overlap",
        dest="overlap_px",
        type=int,
        default=defaults.overlap_px,
        metavar="PX",
        help=f"tile overlap in pixels, at most half the tile (128 px for the usual 256-pixel tiles; "
        f"default {defaults.overlap_px})",
    )
    detect.add_argument("--batch-size", type=int, default=None, metavar="N", help="tiles per batch")
    detect.add_argument(
        "--min-area-km2",
        type=float,
        default=defaults.min_area_km2,
        metavar="KM2",
        help=f"drop oil/look-alike regions smaller than this (default {defaults.min_area_km2}; "
        "ships are kept from 4 pixels)",
    )
    detect.add_argument(
        "--prob-threshold",
        type=float,
        default=None,
        metavar="P",
        help="minimum class probability for oil/look-alike/ship pixels (default: most probable class)",
    )
    detect.add_argument(
        "--background-window-km",
        type=float,
        default=defaults.background_window_km,
        metavar="KM",
        help=f"background window: the threshold detector's, and the wind estimate's around each slick with any "
        f"detector (default {defaults.background_window_km} km)",
    )
    detect.add_argument(
        "--threshold-k-db",
        type=float,
        default=defaults.threshold_k_db,
        metavar="DB",
        help=f"threshold detector: darkness below the background in dB (default {defaults.threshold_k_db})",
    )
    detect.add_argument(
        "--ships",
        choices=SHIP_MODES,
        default=defaults.ships,
        help="model with a ship class: cfar = the network plus SNAP's CFAR bright-target detector "
        "(default), model = the network alone, off = no ships",
    )
    detect.add_argument(
        "--wind-dir",
        dest="wind_dir_deg",
        type=float,
        default=None,
        metavar="DEG",
        help="direction the wind blows from, degrees clockwise from north (e.g. from a weather "
        "model): the wind speed around each slick becomes one value instead of a range over "
        "directions (Sentinel-1 products; a plain raster has no look direction)",
    )
    detect.add_argument(
        "--land-buffer-m",
        type=float,
        default=defaults.land_buffer_m,
        metavar="M",
        help=f"shoreline buffer: sea pixels this close to the land mask are ignored too (default "
        f"{defaults.land_buffer_m:g} m)",
    )
    detect.add_argument(
        "--aoi",
        default=None,
        metavar="FILE|xmin,ymin,xmax,ymax[,crs]",
        help="detect only inside this polygon layer or extent (CRS default EPSG:4326); tiles outside are never read",
    )


def _register_info(subparsers: Any) -> None:
    """Add ``dakd info``: the raster as the engine reads it."""
    info = subparsers.add_parser(
        "info",
        help="describe a raster as the engine sees it",
        description="Print what the engine reads from a raster: size, CRS, band, units and "
        "why, nodata, pixel size and sampled statistics.",
    )
    _add_input_options(info)
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_report_out_option(info, "the description")
    info.set_defaults(func=run_info)


def _model_options(args: argparse.Namespace) -> dict[str, Any]:
    """Model-detector options the user set (none are passed when unset, so threshold runs accept them)."""
    options = {
        "precision": args.precision,
        "scan_backend": args.scan_backend,
        "compile": args.compile or None,
        "backend": args.backend,
    }
    return {key: value for key, value in options.items() if value is not None}


def run_detect(args: argparse.Namespace, progress: Progress) -> int:
    """Run detection from parsed arguments; print the summary (or a ``done`` event with ``--progress json``)."""
    from engine.detect import DetectParams, format_summary, run_detection

    params = DetectParams(
        input_path=args.input,
        out_dir=args.out,
        method=args.method,
        model_path=args.model_path,
        device=args.device,
        band=args.band,
        units=args.units,
        overlap_px=args.overlap_px,
        batch_size=args.batch_size,
        min_area_km2=args.min_area_km2,
        prob_threshold=args.prob_threshold,
        overwrite=args.overwrite,
        background_window_km=args.background_window_km,
        threshold_k_db=args.threshold_k_db,
        reader_options=dict(args.reader_option, **_product_options(args)),
        land_mask=args.land_mask if args.land_mask is not None else DetectParams.land_mask,
        land_buffer_m=args.land_buffer_m,
        aoi=args.aoi,
        detector_options=_model_options(args),
        ships=args.ships,
        wind_dir_deg=args.wind_dir_deg,
    )
    result = run_detection(params, progress)
    if args.progress == "json":
        progress.emit(
            {
                "event": "done",
                "out_dir": str(result.out_dir),
                "counts": result.counts,
                "areas_km2": result.areas_km2,
                "device": result.device,
                "outputs": result.summary["outputs"],
            }
        )
    else:
        print(format_summary(result))
    return 0


def run_info(args: argparse.Namespace, progress: Progress) -> int:
    """Print how the engine sees a raster."""
    from engine.detect import json_ready, scene_description
    from engine.io import open_scene

    scene = open_scene(
        args.input,
        band=args.band,
        units=args.units,
        land_mask=args.land_mask,
        **dict(args.reader_option, **_product_options(args)),
    )
    try:
        description = scene_description(scene.info)
    finally:
        scene.close()
    with report_to_out(args, [args.input]):
        if args.json:
            print(json.dumps(json_ready(description), indent=2, default=str, allow_nan=False))
            return 0
        metadata = description.pop("metadata", {})
        for key, value in {**description, **metadata}.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k} {_short(v)}" for k, v in value.items())
            print(f"{key:>18}: {_short(value)}")
    return 0


def _short(value: Any) -> str:
    """Numbers to 4 significant digits, everything else as is."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e12 else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)
