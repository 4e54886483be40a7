"""Scene reading and output writing.

:func:`open_scene` is the one entry point for inputs: it looks at the path and hands it to the
right reader. Every reader returns an object following :class:`engine.io.scene.Scene`, so detection,
``dakd info`` and the data loaders never branch on the input format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import InputError
from engine.io.scene import Scene

if TYPE_CHECKING:
    from engine.io.landmask import PixelPolygons


def is_sentinel1_path(path: str | os.PathLike[str]) -> bool:
    """Tell whether ``path`` goes to the Sentinel-1 reader (``.SAFE``, ``manifest.safe``, ``.zip`` or a manifest).

    Decided by the name first, so a broken product still reaches the reader and gets its one-line error;
    :func:`engine.io.sentinel1.has_sentinel1_manifest` is the strict check that looks inside.
    """
    candidate = Path(path)
    name = candidate.name.lower()
    if name.endswith(".safe") or name == "manifest.safe" or name.endswith(".zip"):
        return True
    # A renamed product folder (no .SAFE suffix) is recognised by its manifest (issue 7).
    from engine.io.sentinel1.product import has_sentinel1_manifest

    return has_sentinel1_manifest(candidate)


def open_scene(
    path: str | os.PathLike[str],
    band: int | str | None = None,
    units: str = "auto",
    land_mask: str | os.PathLike[str] | None = None,
    land_buffer_m: float = 0.0,
    aoi: str | os.PathLike[str] | None = None,
    **reader_options: Any,
) -> Scene:
    """Open a SAR scene for windowed reading.

    Args:
        path: a GeoTIFF / GDAL raster, or a Sentinel-1 GRD product (``.SAFE`` folder,
            ``manifest.safe`` or ``.zip``).
        band: band number (1-based) or description (``"VV"``); for Sentinel-1 products the
            polarisation. ``None`` takes the only band, or VV first.
        units: ``auto`` or one of ``linear``, ``db``, ``amplitude``, ``intensity`` (rasters only;
            Sentinel-1 products are calibrated by their reader).
        land_mask: polygon layer of land (any OGR format); land pixels read as invalid
            (:mod:`engine.io.landmask`); ``"auto"`` takes land from the global coastline, never failing
            (:mod:`engine.io.coastline`); ``None`` or ``"none"``: no mask (the model's land class handles coasts).
        land_buffer_m: shoreline buffer: pixels this close to land are masked too.
        aoi: area of interest, a polygon layer or ``"xmin,ymin,xmax,ymax[,crs]"`` (:mod:`engine.io.aoi`);
            pixels outside read as invalid and windows wholly outside are never read.
        **reader_options: passed to the reader. Rasters accept ``nodata`` (raw nodata override) and
            ``pixel_size_m`` (used when there is no CRS). Sentinel-1 options are the reader's.

    Returns:
        An open :class:`~engine.io.scene.Scene`; call ``close()`` when done.

    Raises:
        InputError: the path is missing or cannot be read as a scene (one-line message).
    """
    path_text = os.fspath(path)
    if not Path(path_text).exists():
        raise InputError(f"{path_text}: no such file; check the path")
    if is_sentinel1_path(path_text):
        # Sentinel-1 dispatch: the reader lives in engine.io.sentinel1 (imported lazily so plain rasters never
        # need it). It receives the band as the polarisation unless a ``pol`` option is given.
        try:
            from engine.io import sentinel1
        except ImportError as error:
            raise InputError(
                f"{path_text}: Sentinel-1 products are not supported by this installation ({error}); "
                "export the calibrated σ0 band as a GeoTIFF"
            ) from error
        options = dict(reader_options)
        if band is not None and "pol" not in options:
            options["pol"] = band
        scene: Scene = sentinel1.open_product(path_text, **options)
    else:
        from engine.io.raster import RASTER_READER_OPTIONS, open_raster

        unknown = sorted(set(reader_options) - set(RASTER_READER_OPTIONS))
        if unknown:
            raise InputError(
                f"--reader-option {unknown[0]}: not an option for rasters; use "
                f"{' or '.join(f'{key}=VALUE' for key in RASTER_READER_OPTIONS)}"
            )
        scene = open_raster(path_text, band=band, units=units, **reader_options)
    try:
        return mask_scene(scene, land_mask, land_buffer_m, aoi)
    except BaseException:
        scene.close()
        raise


def mask_scene(
    scene: Scene,
    land_mask: str | os.PathLike[str] | None = None,
    land_buffer_m: float = 0.0,
    aoi: str | os.PathLike[str] | None = None,
    area: PixelPolygons | None = None,
) -> Scene:
    """Wrap an open scene with its land mask and area of interest (the arguments of :func:`open_scene`).

    Land mask inside, area of interest outside: a window outside the area costs neither a read nor a mask.
    The area is placed first, so an area outside the scene is refused before the coastline loads. Detection
    places it itself (``area``, from :func:`engine.io.aoi.area_of_interest`) before it loads the model, so a
    mistyped ``--aoi`` is refused at once, and calls this after its size checks, so a scene too large to detect
    is refused before any mask is built. On an error the caller still owns ``scene`` and closes it.
    """
    if land_mask is None and aoi is None:
        return scene
    from engine.io.aoi import AoiScene, area_of_interest
    from engine.io.landmask import apply_land_mask

    if area is None and aoi is not None and os.fspath(aoi) != "":
        area = area_of_interest(scene, aoi)
    scene = apply_land_mask(scene, land_mask, land_buffer_m)
    return scene if area is None or aoi is None else AoiScene(scene, area, os.fspath(aoi))
