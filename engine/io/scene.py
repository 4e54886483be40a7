"""The scene interface every reader provides (GeoTIFF/GDAL rasters, Sentinel-1 GRD products).

Downstream code (tiling, detectors, vectorisation, the data loaders) sees only this interface, so a
new input format is one new reader, never a branch in the pipeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from engine.errors import InputError


def reader_number(key: str, value: Any, example: str, positive: bool = False) -> float:
    """Return a numeric reader option (``--reader-option KEY=VALUE``) as a float, or raise a one-line error.

    Reader options arrive as text or JSON from the command line; a word, a boolean, or (with
    ``positive``) a value that is not a finite number above 0 would otherwise fail deep inside GDAL
    or silently give nonsense areas (a negative pixel size). Both readers check through here.

    Args:
        key: the option name, for the message.
        value: what the user gave (number or text; ``"nan"`` reads as NaN).
        example: a valid setting for the message, e.g. ``"pixel_size_m=10"``.
        positive: require a finite value above 0 (sizes); otherwise any float, NaN and ±Inf included.
    """
    number = None
    if not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
    if number is None:
        raise InputError(f"--reader-option {key}={value}: not a number; give one, e.g. {example}")
    if positive and not (math.isfinite(number) and number > 0):
        raise InputError(f"--reader-option {key}={value}: must be a positive number, e.g. {example}")
    return number


@dataclass(frozen=True)
class SceneInfo:
    """Facts about an opened scene, as the engine sees it (``dakd info`` prints these).

    ``transform`` maps pixel (col, row) to CRS coordinates. Without a CRS (none in the file, or one the engine
    cannot use, e.g. ``LOCAL_CS``) it is the identity, whatever geotransform the file holds: that geotransform
    places nothing on the globe and its units are unknown, so all outputs are in pixel space (x = column,
    y = -row, where QGIS puts a raster without georeferencing). ``pixel_size_m`` is the ground length in metres
    of one column step and one row step (x, y): for georeferenced rasters measured at the scene centre by
    :func:`engine.io.raster.pixel_ground_m` (``hypot(a, d)`` and ``hypot(b, e)`` on the ground, so rotated
    grids, geographic CRSs and Web Mercator give true metres and areas and window sizes in km work for them);
    without a CRS the assumed 10 m or ``--reader-option pixel_size_m``; for Sentinel-1 products the grid
    spacing (radar geometry: range and azimuth spacing). ``metadata`` carries product facts (scene id,
    acquisition time, platform, polarisation...) that go into the run summary and polygon attributes.
    """

    path: str
    width: int
    height: int
    crs: CRS | None
    transform: Affine
    band: int
    band_name: str | None
    units: str
    units_reason: str
    nodata: float | None
    pixel_size_m: tuple[float, float]
    scene_id: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def is_geographic(self) -> bool:
        """True when the CRS is in degrees (e.g. EPSG:4326)."""
        return self.crs is not None and self.crs.is_geographic


class Scene(Protocol):
    """A single-band SAR scene read window by window; never loaded whole.

    Notes:
        A scene whose pixel grid is not an affine image of its CRS (a Sentinel-1 product kept in radar
        geometry) also provides ``map_crs``, ``pixel_to_map(cols, rows) -> (xs, ys)`` and
        ``map_to_pixel(xs, ys) -> (cols, rows)``. ``info.transform`` is then only an affine fit;
        vectorisation and the land mask look these hooks up with ``getattr`` and use them when present.
    """

    info: SceneInfo

    def read_sigma0(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Read a window as float32 linear backscatter and a boolean validity mask.

        The window lies inside the scene. Values are linear power (σ0 for calibrated inputs; DN² for
        uncalibrated DN). Invalid pixels (nodata, NaN/Inf, zero borders) are False in the mask and
        0 in the values.
        """
        ...

    def close(self) -> None:
        """Release the underlying dataset."""
        ...
