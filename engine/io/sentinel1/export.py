"""Write a product's calibrated σ0 as a GeoTIFF (what ``dakd calibrate`` does), streamed window by window.

In UTM geometry the GeoTIFF is north-up on the scene's 10 m grid. In radar geometry it keeps the
product's own pixel grid (line and pixel unchanged) and carries the product's GCPs (EPSG:4326), as
the measurement TIFF does; GIS software places it from those GCPs.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from engine.io.atomic import atomic_file, output_write_errors
from engine.io.raster import GDAL_CACHE_MB, add_overviews, create_output_raster
from engine.io.sentinel1.geocode import GCP_CRS
from engine.io.sentinel1.scene import Sentinel1Scene
from engine.preprocess import from_linear
from engine.progress import Progress

#: Side of the windows written at once (a multiple of the output's 256 px blocks).
EXPORT_WINDOW_PX = 1024


def export_windows(width: int, height: int, size: int = EXPORT_WINDOW_PX) -> list[Window]:
    """Row-major windows of ``size`` px covering a ``width`` x ``height`` raster."""
    return [
        Window(col, row, min(size, width - col), min(size, height - row))
        for row in range(0, height, size)
        for col in range(0, width, size)
    ]


def write_sigma0(
    scene: Sentinel1Scene,
    out_path: str | os.PathLike[str],
    db: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the scene's σ0 (linear, or dB with ``db``) to a float32 GeoTIFF; nodata is NaN.

    The file appears only when complete (written under a temporary name, then renamed). Band
    description ``Sigma0_<POL>`` or ``Sigma0_<POL>_db`` (SNAP's names, which ``dakd detect`` reads as
    units), product metadata as GeoTIFF tags, overviews for quick display.

    Args:
        scene: an open product scene (its geometry decides the grid).
        out_path: the ``.tif`` to write.
        db: write 10·log10(σ0) instead of linear σ0.
        overwrite: replace an existing file.
        progress: progress events and cancellation, one step per window.

    Returns:
        A summary: path, size, CRS, geometry, valid fraction, seconds.

    Notes:
        GDAL's block cache is capped for the run (its default, 5 % of RAM, grew to 1.2 GB while
        writing a full product); windows are written once, so the scene's block cache is not needed.
    """
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        return _write_sigma0(scene, out_path, db, overwrite, progress or Progress())


def _write_sigma0(
    scene: Sentinel1Scene, out_path: str | os.PathLike[str], db: bool, overwrite: bool, progress: Progress
) -> dict[str, Any]:
    started = time.monotonic()
    info = scene.info
    radar = scene.options.geometry == "radar"
    band_name = f"Sigma0_{info.band_name}" + ("_db" if db else "")
    grid_info = replace(info, crs=None, transform=Affine.identity()) if radar else info
    windows = export_windows(info.width, info.height)
    valid_pixels = 0
    # Reading errors are InputError already (the product reader's own); what is left is writing (a full disk...).
    with atomic_file(out_path, overwrite=overwrite) as tmp, output_write_errors(out_path, "--out"):
        dataset = create_output_raster(tmp, grid_info, 1, "float32", float("nan"), [band_name], predictor=3)
        try:
            if radar:
                dataset.gcps = (scene.gcps, GCP_CRS)
            dataset.update_tags(
                **{k: str(v) for k, v in info.metadata.items()}, units="dB" if db else "linear power", quantity="sigma0"
            )
            if db:
                dataset.set_band_unit(1, "dB")
            with progress.stage("calibrate", len(windows)) as stage:
                for window in windows:
                    values, valid = scene.read_sigma0(window)
                    out = from_linear(values, "db") if db else values
                    out = np.where(valid, out, np.float32(np.nan)).astype(np.float32)
                    dataset.write(out, 1, window=window)
                    valid_pixels += int(valid.sum())
                    stage.advance(1)
        finally:
            dataset.close()
        add_overviews(tmp, "average", check_cancelled=progress.check_cancelled)
    return {
        "path": str(Path(out_path).expanduser().absolute()),
        "width": info.width,
        "height": info.height,
        "crs": "GCPs (EPSG:4326)" if radar else f"EPSG:{cast(CRS, info.crs).to_epsg()}",  # UTM: always a CRS
        "geometry": scene.options.geometry,
        "band": band_name,
        "valid_fraction": round(valid_pixels / (info.width * info.height), 4),
        "seconds": round(time.monotonic() - started, 1),
    }
