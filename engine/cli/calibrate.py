"""``dakd calibrate``: a Sentinel-1 GRD product in, its calibrated σ0 GeoTIFF out (the preprocessing alone)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from engine.cli.options import add_out_option
from engine.progress import Progress


def register(subparsers: Any) -> None:
    """Add ``calibrate`` to the ``dakd`` parser."""
    parser = subparsers.add_parser(
        "calibrate",
        help="calibrate a Sentinel-1 GRD product to sigma0 (GeoTIFF)",
        description="Read a Sentinel-1 IW GRD product as downloaded (.SAFE folder, its manifest.safe, or the .zip, "
        "read in place), calibrate it to sigma0 with the product's LUTs, remove thermal noise, mask "
        "borders and write a float32 GeoTIFF (nodata NaN). UTM geometry warps to the product's UTM "
        "zone at 10 m; radar geometry keeps the product's own pixel grid and its GCPs.",
    )
    parser.add_argument("product", metavar="PRODUCT", help="Sentinel-1 GRD .SAFE folder, manifest.safe or .zip")
    add_out_option(parser, "TIF", "output GeoTIFF", required=True)
    parser.add_argument("--pol", default="VV", help="polarisation band: VV (default), VH, HH or HV")
    parser.add_argument(
        "--geometry",
        choices=("utm", "radar"),
        default="utm",
        help="utm: north-up UTM grid at 10 m (default); radar: product grid with GCPs",
    )
    parser.add_argument("--db", action="store_true", help="write 10*log10(sigma0) in dB instead of linear sigma0")
    parser.add_argument("--keep-noise", action="store_true", help="do not subtract the annotated thermal noise")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.set_defaults(func=run_calibrate)


def run_calibrate(args: argparse.Namespace, progress: Progress) -> int:
    """Calibrate the product and write the GeoTIFF; print where it went (a ``done`` event with ``--progress json``)."""
    from engine.errors import InputError
    from engine.io.atomic import check_replaceable
    from engine.io.sentinel1 import has_sentinel1_manifest, open_product
    from engine.io.sentinel1.export import write_sigma0

    if not Path(args.product).expanduser().exists():  # a mistyped path is not "not a Sentinel-1 product"
        raise InputError(f"{args.product}: no such file or folder; check the path")
    if not os.access(Path(args.product).expanduser(), os.R_OK):  # nor is a product the analyst may not read
        raise InputError(f"{args.product}: permission denied; ask for access to the product, or copy it elsewhere")
    if not has_sentinel1_manifest(args.product):
        raise InputError(
            f"{args.product}: not a Sentinel-1 product; dakd calibrate takes a GRD .SAFE folder, its "
            "manifest.safe or the downloaded .zip"
        )
    product = Path(args.product)
    safe = product.parent if product.name.lower() == "manifest.safe" else None
    check_replaceable(args.out, [product, safe])  # never a file of the product (a measurement TIFF in the .SAFE)
    # Each window is written once, so the UTM block cache only needs the blocks of one window.
    with open_product(
        args.product, pol=args.pol, geometry=args.geometry, remove_noise=not args.keep_noise, cache_block_rows=0
    ) as scene:
        summary = write_sigma0(scene, args.out, db=args.db, overwrite=args.overwrite, progress=progress)
    if args.progress == "json":
        progress.emit({"event": "done", **summary})
    else:
        print(
            json.dumps(summary, indent=2)
            if args.debug
            else f"Wrote {summary['path']}: {summary['band']}, {summary['width']} x {summary['height']} px, "
            f"{summary['crs']}, {summary['valid_fraction']:.1%} valid, {summary['seconds']} s"
        )
    return 0
