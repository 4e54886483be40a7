"""Read a single-band SAR raster (GeoTIFF or any GDAL raster) as a windowed scene.

:func:`open_raster` opens the file with rasterio, picks the band, works out the units and the
pixel size, and returns a :class:`RasterScene` whose :meth:`~RasterScene.read_sigma0` turns any
window into linear backscatter plus a validity mask. Nothing is read whole: units are decided from
a sparse grid of small windows, and detection reads the scene tile by tile.

What "valid" means (False pixels are ignored by detectors and written as nodata):
    * the raw value differs from the band's nodata value (from metadata, or the ``nodata`` option);
    * the value is finite (NaN and ±Inf are nodata);
    * for linear, amplitude and intensity units the value is not exactly 0 (Sentinel-1 GRD and SNAP
      exports fill their borders with zeros; a backscatter of exactly 0 carries no signal). In dB,
      0 is a legal value and stays valid;
    * a GDAL per-dataset mask or alpha band, where the file has one, says the pixel is valid.

Units (``--units``): ``linear`` (calibrated σ0 power), ``db`` (10·log10 of it), ``amplitude``
(uncalibrated DN, as in the GRD measurement TIFFs), ``intensity`` (DN²) and ``db-8bit`` (an 8-bit picture
linear in dB over an unknown span, :mod:`engine.preprocess`). ``auto`` decides in this order and logs the
reason: band unit/description metadata (SNAP names such as ``Sigma0_VV_db`` or ``Amplitude_VV``, unit
strings such as ``dB``), then the data type (uint8 without a scale is an 8-bit picture, ``db-8bit``; other
integers without a scale are DN amplitude), then statistics of the sample (mostly negative or a negative
median → dB; a median below 1.5 → linear σ0; larger positive values → DN amplitude, or DN intensity above a
median of 3000). GDAL scale/offset metadata are applied before anything else, so an Int16 raster of
hundredths of dB with ``scale=0.01`` reads as dB.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.errors import CRSError, NotGeoreferencedWarning, RasterioError
from rasterio.warp import transform as transform_points
from rasterio.windows import Window

from engine.contract import UNITS
from engine.errors import InputError
from engine.io.geodesy import distance_bearing
from engine.io.scene import SceneInfo, reader_number
from engine.preprocess import DB_UNITS, to_linear

log = logging.getLogger("dakd")

#: Pixel size assumed when a raster has no CRS: Sentinel-1 IW GRDH pixel spacing (10 m).
ASSUMED_PIXEL_SIZE_M = 10.0
#: The largest ``--reader-option pixel_size_m``: detection is built for 10-40 m radar pixels.
MAX_PIXEL_SIZE_M = 1000.0
#: WGS84 ellipsoid (semi-major axis in m, first eccentricity squared), for pixel sizes in degrees.
WGS84_A_M = 6378137.0
WGS84_E2 = 6.69437999014e-3
#: A projected CRS whose metre differs from a ground metre by more than this share where it is measured (Mercator and
#: Web Mercator away from the equator: 2x at 60°) is measured on the ellipsoid; UTM and national grids stay well under.
MAX_PROJECTION_SCALE_ERROR = 0.01
#: Sparse sample used for the units decision and ``dakd info``: up to this many windows per axis...
SAMPLE_GRID = 8
#: ...of this many pixels square.
SAMPLE_WINDOW_PX = 64
#: The reader options (``--reader-option KEY=VALUE``) :func:`open_raster` takes.
RASTER_READER_OPTIONS = ("nodata", "pixel_size_m")


def error_text(error: BaseException) -> str:
    """GDAL's own words for an error (rasterio chains them as ``__cause__``), on one line."""
    parts: list[str] = []
    seen: BaseException | None = error
    while seen is not None and len(parts) < 3:
        text = str(seen).strip()
        if text and "See previous exception" not in text:
            parts.append(text.splitlines()[0])
        seen = seen.__cause__ or seen.__context__
    return "; ".join(parts) or type(error).__name__


def quiet_libtiff() -> bool:
    """Stop libtiff printing lines of its own on stderr ("_tiffWriteProc: No space left on device."); True if done.

    GDAL gives libtiff an error handler for each file it opens, which turns libtiff's errors into GDAL errors that
    rasterio raises and the engine says in one line (a full disk: :func:`~engine.io.atomic.space_failure`). GDAL's
    own write and seek procedures report through libtiff's process-wide handler instead, whose default prints on
    stderr: a GeoTIFF write that failed on a full disk showed those lines above the engine's one. Clearing that
    handler loses nothing the engine does not say itself. It is done in the libtiff bundled with rasterio's wheel
    (``rasterio.libs``, ``rasterio/.dylibs``); with a GDAL of the system (conda, OSGeo4W) nothing changes.
    """
    import ctypes

    package = Path(rasterio.__file__).parent
    for folder in (package.parent / "rasterio.libs", package / ".dylibs"):
        for library in sorted(folder.glob("*tiff*")) if folder.is_dir() else []:
            try:
                libtiff = ctypes.CDLL(str(library))  # the copy GDAL loaded: already in the process, not loaded again
                set_handler = libtiff.TIFFSetErrorHandler
            except (OSError, AttributeError):
                continue
            set_handler.restype, set_handler.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
            set_handler(None)
            return True
    return False


def geographic_pixel_size_m(lat_deg: float, dlon_deg: float, dlat_deg: float) -> tuple[float, float]:
    """Ground size in metres of a pixel of ``dlon_deg`` × ``dlat_deg`` at latitude ``lat_deg`` on WGS84.

    Uses the prime-vertical radius N for east-west and the meridional radius M for north-south
    (e.g. Torge & Müller, *Geodesy*, 4th ed., eqs. 4.15 and 4.16), exact to well below a
    millimetre per pixel for pixels smaller than a kilometre.
    """
    phi = math.radians(lat_deg)
    w = math.sqrt(1.0 - WGS84_E2 * math.sin(phi) ** 2)
    prime_vertical_m = WGS84_A_M / w
    meridional_m = WGS84_A_M * (1.0 - WGS84_E2) / w**3
    return (
        abs(math.radians(dlon_deg)) * prime_vertical_m * math.cos(phi),
        abs(math.radians(dlat_deg)) * meridional_m,
    )


def ground_offsets_m(crs: Any, x: float, y: float, steps: list[tuple[float, float]]) -> np.ndarray:
    """East and north offsets on the WGS84 ellipsoid, in metres, of the steps ``(dx, dy)`` (CRS units) from ``(x, y)``.

    Returns an ``(len(steps), 2)`` array; NaN where PROJ cannot take the points to longitude/latitude (outside the
    projection's domain).
    """
    xs = [x] + [x + dx for dx, _ in steps]
    ys = [y] + [y + dy for _, dy in steps]
    try:
        lons, lats = transform_points(crs, "EPSG:4326", xs, ys)
    except Exception:  # noqa: BLE001 - GDAL's transform errors (CPLE_*) have no public base class
        return np.full((len(steps), 2), np.nan)
    km, bearing = distance_bearing(lons[0], lats[0], np.asarray(lons[1:]), np.asarray(lats[1:]))
    azimuth = np.radians(bearing)
    return np.column_stack([km * np.sin(azimuth), km * np.cos(azimuth)]) * 1000.0


def ground_lengths_m(crs: Any, x: float, y: float, steps: list[tuple[float, float]]) -> np.ndarray:
    """Lengths on the WGS84 ellipsoid, in metres, of the steps ``(dx, dy)`` (CRS units) taken from ``(x, y)``.

    NaN where PROJ cannot take the points to longitude/latitude (outside the projection's domain).
    """
    offsets = ground_offsets_m(crs, x, y, steps)
    return np.hypot(offsets[:, 0], offsets[:, 1])


def pixel_ground_m(crs: Any, transform: Affine, col: float, row: float) -> tuple[float, float, float]:
    """Ground size of the pixel at ``(col, row)`` of a georeferenced grid: ``(size_x, size_y, area_m2)``.

    ``size_x`` and ``size_y`` are the ground lengths in metres of one column step (the geotransform's ``(a, d)``)
    and one row step (``(b, e)``), ``area_m2`` the ground area of the pixel, the parallelogram they span. A rotated
    or sheared grid (a rotated GeoTIFF, the affine fit of a radar-geometry product) has ``b, d != 0``: there the
    steps are ``hypot(a, d)`` and ``hypot(b, e)`` long, not ``|a|`` and ``|e|``, and the area is ``|a*e - b*d|``,
    not ``|a*e|`` and, on a sheared grid, not ``size_x * size_y`` either. Every pixel size and pixel area of the
    engine comes from here.

    Geographic CRSs: the steps in degrees become metres east and north with the ellipsoid's radii at the pixel's
    latitude (:func:`geographic_pixel_size_m`). A degree of longitude is not a degree of latitude, so on a rotated
    grid ``hypot(a, d)`` in degrees is no length at all (at 60° N, 10 m pixels turned by 10° came out 9.89 x 10.44
    m). Projected CRSs: the CRS's own metres, measured on the ellipsoid instead where the CRS distorts by more than
    :data:`MAX_PROJECTION_SCALE_ERROR` (Web Mercator away from the equator, :func:`projection_distorts`).
    """
    steps = [(transform.a, transform.d), (transform.b, transform.e)]  # one column, one row
    x, y = transform @ (col, row)
    if crs.is_geographic:
        east_per_deg, north_per_deg = geographic_pixel_size_m(y, 1.0, 1.0)
        ground = np.array([[dx * east_per_deg, dy * north_per_deg] for dx, dy in steps])
    else:
        ground = np.array(steps, dtype=np.float64) * crs.linear_units_factor[1]
        measured = ground_offsets_m(crs, x, y, steps)
        if projection_distorts(tuple(np.hypot(ground[:, 0], ground[:, 1])), np.hypot(measured[:, 0], measured[:, 1])):
            ground = measured
    size_x, size_y = np.hypot(ground[:, 0], ground[:, 1])
    area = abs(ground[0, 0] * ground[1, 1] - ground[0, 1] * ground[1, 0])
    return float(size_x), float(size_y), float(area)


def projection_distorts(nominal_m: tuple[float, ...], ground_m: np.ndarray) -> bool:
    """Whether ground lengths differ from the CRS's own (``nominal_m``) by more than :data:`MAX_PROJECTION_SCALE_ERROR`.

    False where the ground lengths could not be computed (a point outside the projection's domain).
    """
    ratio = np.asarray(ground_m, dtype=np.float64) / np.asarray(nominal_m, dtype=np.float64)
    return bool(np.isfinite(ratio).all() and np.abs(ratio - 1.0).max() > MAX_PROJECTION_SCALE_ERROR)


class RasterScene:
    """A band of a GDAL raster read window by window as linear backscatter (the :class:`Scene` protocol).

    Build it with :func:`open_raster` (or :func:`engine.io.open_scene`), not directly. Close it, or use it
    as a context manager; detection keeps it open for the whole run.
    """

    def __init__(
        self,
        dataset: Any,
        info: SceneInfo,
        scale: float,
        offset: float,
        raw_nodata: float | None,
        zero_is_nodata: bool,
        use_gdal_mask: bool,
        units_declared: bool,
    ) -> None:
        self._dataset = dataset
        self.info = info
        self._scale = scale
        self._offset = offset
        self._raw_nodata = raw_nodata
        self._zero_is_nodata = zero_is_nodata
        self._use_gdal_mask = use_gdal_mask
        self._units_declared = units_declared
        self._negatives_warned = False
        #: NaN/Inf pixels met in reads so far (pixels read twice count twice); detection warns when non-zero.
        self.non_finite_reads = 0

    def __enter__(self) -> RasterScene:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the GDAL dataset."""
        self._dataset.close()

    def read_raw(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Read a window in the file's own units (scale/offset applied) and its validity mask.

        Raises:
            InputError: GDAL cannot decode the pixels (a truncated or corrupt file).
        """
        info = self.info
        if (
            window.col_off < 0
            or window.row_off < 0
            or window.col_off + window.width > info.width
            or window.row_off + window.height > info.height
        ):
            raise ValueError(f"window {window} lies outside the {info.width}×{info.height} scene")
        try:
            raw = self._dataset.read(info.band, window=window)
            gdal_mask = self._dataset.read_masks(info.band, window=window) if self._use_gdal_mask else None
        except RasterioError as error:
            raise InputError(
                f"{info.path}: cannot read pixels at row {int(window.row_off)}, column {int(window.col_off)}: the "
                f"file is truncated or corrupt ({error_text(error)}); re-export or re-download it"
            ) from error
        valid = np.ones(raw.shape, dtype=bool)
        if np.issubdtype(raw.dtype, np.floating):
            valid &= np.isfinite(raw)
            nan_is_nodata = self._raw_nodata is not None and math.isnan(self._raw_nodata)
            unexpected = np.isinf(raw) if nan_is_nodata else ~valid  # declared NaN nodata is not worth a warning
            self.non_finite_reads += int(np.count_nonzero(unexpected))
        if self._raw_nodata is not None:
            valid &= ~np.isnan(raw) if math.isnan(self._raw_nodata) else raw != self._raw_nodata
        if self._zero_is_nodata:
            valid &= raw != 0
        if gdal_mask is not None:
            valid &= gdal_mask > 0
        values = raw.astype(np.float32)
        if self._scale != 1.0 or self._offset != 0.0:
            values = values * np.float32(self._scale) + np.float32(self._offset)
        values[~valid] = 0.0
        return values, valid

    def read_sigma0(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Read a window as float32 linear power and a boolean validity mask (see the module notes).

        Raises:
            InputError: the file cannot be decoded, or it holds negative values while linear,
                amplitude or intensity units were declared.
        """
        values, valid = self.read_raw(window)
        units = self.info.units
        if units not in DB_UNITS:
            negative = valid & (values < 0)
            if negative.any():
                if self._units_declared:
                    raise InputError(
                        f"{self.info.path}: has negative values (e.g. {float(values[negative].min()):.3g}) but --units "
                        f"{units} was given; negative backscatter means dB: use --units db or --units auto"
                    )
                if not self._negatives_warned:
                    log.warning("%s: negative values in %s units are treated as nodata", self.info.path, units)
                    self._negatives_warned = True
                valid &= ~negative
        linear = to_linear(values, units)
        valid &= np.isfinite(linear)
        linear[~valid] = 0.0
        return linear, valid


def _select_band(dataset: Any, path: str, band: int | str | None) -> int:
    count = dataset.count
    names = [d or "" for d in dataset.descriptions]
    listing = ", ".join(f"{i + 1}={n or '(no name)'}" for i, n in enumerate(names))
    if isinstance(band, str) and band.strip().isdigit():
        band = int(band)
    if isinstance(band, int):
        if not 1 <= band <= count:
            raise InputError(f"{path}: has {count} band(s), there is no band {band}; use --band 1..{count} ({listing})")
        return band
    if isinstance(band, str):
        wanted = band.strip().lower()
        exact = [i + 1 for i, n in enumerate(names) if n.lower() == wanted]
        partial = [i + 1 for i, n in enumerate(names) if wanted in n.lower()]
        if exact:
            return exact[0]
        if len(partial) == 1:
            return partial[0]
        reason = "several bands match" if partial else "no band has that name"
        raise InputError(f"{path}: {reason} {band!r}; use --band with a number or one of: {listing}")
    if count == 1:
        return 1
    vv = [i + 1 for i, n in enumerate(names) if "vv" in n.lower()]
    chosen = vv[0] if vv else 1
    log.info(
        "%s has %d bands (%s); using band %d%s (choose another with --band)",
        path,
        count,
        listing,
        chosen,
        " (VV)" if vv else "",
    )
    return chosen


def _is_rgb_picture(dataset: Any) -> bool:
    if dataset.count < 3 or dataset.dtypes[0] != "uint8":
        return False
    interp = tuple(dataset.colorinterp[:3])
    return interp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue) or dataset.count in (3, 4)


def _sample_windows(width: int, height: int) -> list[Window]:
    """List a sparse grid of windows over the scene, always including both corners (truncation shows there)."""
    if width * height <= (SAMPLE_GRID * SAMPLE_WINDOW_PX) ** 2:
        return [Window(0, 0, width, height)]
    size_x, size_y = min(SAMPLE_WINDOW_PX, width), min(SAMPLE_WINDOW_PX, height)
    xs = np.unique(np.linspace(0, width - size_x, SAMPLE_GRID).round().astype(int))
    ys = np.unique(np.linspace(0, height - size_y, SAMPLE_GRID).round().astype(int))
    return [Window(int(x), int(y), size_x, size_y) for y in ys for x in xs]


def _metadata_units(dataset: Any, band: int) -> tuple[str, str] | None:
    """Units named by the file itself (band unit, band description, tags), as (units, reason)."""
    unit = (dataset.units[band - 1] or "").strip().lower()
    name = (dataset.descriptions[band - 1] or "").strip().lower()
    tags = {k.lower(): str(v).lower() for k, v in {**dataset.tags(), **dataset.tags(band)}.items()}
    tag_unit = tags.get("units") or tags.get("unit") or tags.get("sar_units") or ""
    for label, text in (("band unit", unit), ("units tag", tag_unit)):
        if text in ("db", "decibel", "decibels", "intensity_db"):
            return "db", f"{label} is {text!r}"
        if text in ("linear", "linear power", "sigma0", "power"):
            return "linear", f"{label} is {text!r}"
        if text in ("amplitude", "dn"):
            return "amplitude", f"{label} is {text!r}"
        if text == "intensity":
            calibrated = any(c in name for c in ("sigma0", "beta0", "gamma0"))
            return ("linear" if calibrated else "intensity"), f"{label} is 'intensity' and band name {name!r}"
    if name:
        calibrated = any(c in name for c in ("sigma0", "sigma_0", "beta0", "gamma0"))
        if "db" in name.replace("_", " ").split() or name.endswith("_db") or name.endswith("db"):
            return "db", f"band name {name!r} ends in dB"
        if calibrated:
            return "linear", f"band name {name!r} is a calibrated backscatter without dB"
        if name.startswith("amplitude"):
            return "amplitude", f"band name {name!r}"
        if name.startswith("intensity"):
            return "intensity", f"band name {name!r}"
    return None


def decide_units(values: np.ndarray, dtype: str, scaled: bool, metadata: tuple[str, str] | None) -> tuple[str, str]:
    """Choose units for ``--units auto`` from metadata, data type and sampled valid values.

    Args:
        values: valid sampled values in the file's units (after scale/offset).
        dtype: the band's data type name.
        scaled: True when the band has a GDAL scale or offset.
        metadata: what :func:`_metadata_units` found, if anything.

    Returns:
        ``(units, reason)``; the reason is logged and recorded in the run summary.
    """
    picture = dtype == "uint8" and not scaled
    if metadata is not None:
        if metadata[0] == "db" and picture:
            return "db-8bit", f"from metadata: {metadata[1]}, in uint8 without a scale: an 8-bit picture of dB"
        return metadata[0], f"from metadata: {metadata[1]}"
    finite = values[np.isfinite(values)]
    nonzero = finite[finite != 0]
    if nonzero.size == 0:
        return "linear", "no valid pixels in the sample; assuming linear σ0"
    negative_fraction = float((nonzero < 0).mean())
    median = float(np.median(nonzero))
    if picture:
        return "db-8bit", (
            f"uint8 values without a scale are an 8-bit picture (median {median:.4g}), not DN (Sentinel-1 DN are "
            "16-bit): read as linear in dB over -35..5 dB, its unknown span"
        )
    if np.issubdtype(np.dtype(dtype), np.integer) and not scaled and negative_fraction == 0:
        return "amplitude", f"{dtype} integers without a scale are DN amplitude (median {median:.4g})"
    if median < 0 or negative_fraction > 0.05:
        return "db", f"{negative_fraction:.0%} of sampled values are negative (median {median:.3g}): dB"
    if median < 1.5:
        return "linear", f"positive values with median {median:.3g}: linear σ0"
    if median > 3000:
        return "intensity", f"positive values with median {median:.4g}: DN intensity"
    return "amplitude", f"positive values with median {median:.4g}: DN amplitude"


def _unusable_crs(crs: Any) -> str | None:
    """Name a CRS the engine can neither measure in metres nor place on the globe; None for a usable or no CRS.

    GDAL reads a GeoTIFF whose geokeys it cannot decode as an engineering CRS (``LOCAL_CS``), and a geocentric
    CRS (EPSG:4978) has no map plane: neither has a linear unit factor or a way to longitude/latitude, so every
    later step that measures the scene or places a coastline on it would fail. Such a raster is read as one
    without a CRS (pixel coordinates, assumed pixel size), with a warning that says how to fix the file.
    """
    if crs is None or crs.is_geographic:
        return None
    try:
        _ = crs.linear_units_factor  # raises for engineering and geocentric CRSs
    except CRSError:
        wkt = crs.to_wkt()
        if wkt.startswith("GEOCCS"):
            return "a geocentric coordinate system"
        if wkt.startswith("LOCAL_CS"):
            return "an engineering coordinate system (LOCAL_CS; GDAL reads one where it cannot decode the geokeys)"
        return "a coordinate system that is not a map projection"
    return None


def _pixel_size_m(
    dataset: Any, path: str, override_m: float | None, unusable: str | None
) -> tuple[tuple[float, float], str | None]:
    """Pixel ground size (x, y) in metres, and a warning when it had to be assumed or the CRS is ignored.

    ``unusable`` names the file's CRS when :func:`_unusable_crs` rejected it: the raster is then treated as
    one without a CRS, and the warning says so even when ``override_m`` gives the size.
    """
    crs = dataset.crs
    assumed = f"sizes in km assume {ASSUMED_PIXEL_SIZE_M:g} m pixels (Sentinel-1 IW GRD)"
    if unusable:
        size = ASSUMED_PIXEL_SIZE_M if override_m is None else float(override_m)
        sizes = "" if override_m is not None else f" and {assumed}"
        return (size, size), (
            f"{path} has {unusable}, which is ignored: outputs are in pixel coordinates{sizes}; {_ASSIGN_CRS}"
        )
    if override_m is not None:
        return (float(override_m), float(override_m)), None
    if crs is None:
        source = (
            "GCPs only (for map coordinates warp it with gdalwarp, or, for a Sentinel-1 measurement TIFF, open its "
            ".SAFE product)"
            if dataset.gcps[0]
            else "no CRS"
        )
        return (ASSUMED_PIXEL_SIZE_M, ASSUMED_PIXEL_SIZE_M), (
            f"{path} has {source}: outputs are in pixel coordinates and {assumed}"
        )
    transform = dataset.transform
    size_x, size_y, _ = pixel_ground_m(crs, transform, dataset.width / 2, dataset.height / 2)
    if not crs.is_geographic:
        # A Web Mercator (EPSG:3857) raster at 60° N has 20 CRS metres per 10 m on the ground: taking its metres as
        # they are made every area four times too large and the detector's background window half as wide as meant.
        nominal = math.hypot(transform.a, transform.d) * crs.linear_units_factor[1]
        if size_x > 0 and abs(nominal / size_x - 1.0) > MAX_PROJECTION_SCALE_ERROR:
            log.info(
                "%s: the CRS's metres are %.2fx the ground's here; pixel size measured on the ground: %.4g x %.4g m",
                path,
                nominal / size_x,
                size_x,
                size_y,
            )
    return (size_x, size_y), None


#: The fix for a raster whose CRS is unusable (see :func:`_unusable_crs`).
_ASSIGN_CRS = "assign its real map CRS (e.g. gdal_edit.py -a_srs EPSG:32633 FILE) for map outputs"


def open_raster(
    path: str | os.PathLike[str],
    band: int | str | None = None,
    units: str = "auto",
    nodata: float | None = None,
    pixel_size_m: float | None = None,
) -> RasterScene:
    """Open a GDAL raster as a :class:`RasterScene`.

    Args:
        path: GeoTIFF or any GDAL raster.
        band: 1-based band number, or a band description (exact, or a unique part such as ``"VV"``).
            ``None`` takes the only band, or the first band whose description contains VV.
        units: ``auto`` or one of :data:`engine.contract.UNITS`.
        nodata: raw nodata value overriding the file's metadata.
        pixel_size_m: pixel size to use when the raster has no CRS (default 10 m, with a warning).

    Returns:
        The opened scene; close it when done.

    Raises:
        InputError: the file is missing, empty, not a raster, corrupt, has no pixels, is an 8-bit RGB
            picture without an explicit ``band``, or the band/units are invalid.
    """
    path_text = str(path)
    if units != "auto" and units not in UNITS:
        raise InputError(f"unknown --units {units!r}; use one of: auto, {', '.join(UNITS)}")
    if nodata is not None:
        nodata = reader_number("nodata", nodata, "nodata=0 or nodata=nan")
    if pixel_size_m is not None:
        pixel_size_m = reader_number("pixel_size_m", pixel_size_m, "pixel_size_m=10", positive=True)
        if pixel_size_m > MAX_PIXEL_SIZE_M:  # 1e300 was taken as it came: every area and window absurd, no word
            raise InputError(
                f"--reader-option pixel_size_m={pixel_size_m:g}: at most {MAX_PIXEL_SIZE_M:g} m (Sentinel-1 GRD pixels "
                "are 10 to 40 m); give the size of one pixel in metres, e.g. pixel_size_m=10"
            )
    file_path = Path(path_text)
    if not file_path.exists():
        raise InputError(f"{path_text}: no such file; check the path")
    if file_path.is_dir():
        raise InputError(f"{path_text} is a folder, not a raster; give a GeoTIFF or a Sentinel-1 .SAFE product")
    if file_path.stat().st_size == 0:
        raise InputError(f"{path_text}: the file is empty (0 bytes); re-export or re-download it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            dataset = rasterio.open(path_text)
    except RasterioError as error:
        text = error_text(error)
        if "not recognized" in text or "not recognised" in text:
            raise InputError(
                f"{path_text}: not a raster GDAL can read; give a GeoTIFF (or another GDAL raster) of SAR backscatter"
            ) from error
        raise InputError(
            f"{path_text}: cannot open the raster, it is truncated or corrupt ({text}); re-export or re-download it"
        ) from error
    try:
        return _build_scene(dataset, path_text, band, units, nodata, pixel_size_m)
    except BaseException:
        dataset.close()
        raise


def _build_scene(
    dataset: Any, path: str, band: int | str | None, units: str, nodata: float | None, pixel_size_m: float | None
) -> RasterScene:
    if dataset.width == 0 or dataset.height == 0 or dataset.count == 0:
        raise InputError(
            f"{path}: the raster has no pixels ({dataset.width}×{dataset.height}, {dataset.count} bands); re-export it"
        )
    if band is None and _is_rgb_picture(dataset):
        raise InputError(
            f"{path} is an 8-bit RGB picture, not radar backscatter; export the calibrated σ0 band as a "
            "single-band GeoTIFF, or pass --band 1 to read its first band as an 8-bit picture of σ0 in dB"
        )
    band_index = _select_band(dataset, path, band)
    dtype = dataset.dtypes[band_index - 1]
    if units == "auto" and dataset.colorinterp[band_index - 1] == ColorInterp.palette:
        raise InputError(
            f"{path}: band {band_index} has a colour table, as a class map or label raster has, not radar "
            "backscatter; give the SAR scene (or pass --units if this really is backscatter)"
        )
    if dtype.startswith("complex"):  # reading it as float32 would silently drop the imaginary part
        raise InputError(
            f"{path}: band {band_index} holds complex values ({dtype}), as in SLC data; detect it to "
            "intensity first (|z|², e.g. SNAP Calibrate to σ0) or use the GRD product"
        )
    if _is_rgb_picture(dataset):
        log.warning(
            "%s is an 8-bit RGB picture; using band %d: a rendered picture is reliable only if it is linear in σ0 dB",
            path,
            band_index,
        )
    scale = float(dataset.scales[band_index - 1] or 1.0)
    offset = float(dataset.offsets[band_index - 1] or 0.0)
    raw_nodata = nodata if nodata is not None else dataset.nodatavals[band_index - 1]
    flags = dataset.mask_flag_enums[band_index - 1]
    use_gdal_mask = MaskFlags.per_dataset in flags or MaskFlags.alpha in flags
    unusable = _unusable_crs(dataset.crs)
    # Without a usable CRS the file's geotransform (if any) places nothing: pixel coordinates, as SceneInfo says.
    grid = (None, Affine.identity()) if unusable or dataset.crs is None else (dataset.crs, dataset.transform)
    pixel_size, pixel_warning = _pixel_size_m(dataset, path, pixel_size_m, unusable)
    if pixel_warning:
        log.warning("%s", pixel_warning)

    # A provisional scene reads the sample; zeros count as nodata unless the file turns out to be dB.
    probe = RasterScene(
        dataset,
        _info(dataset, path, band_index, "linear", "", raw_nodata, pixel_size, {}, grid),
        scale,
        offset,
        raw_nodata,
        zero_is_nodata=False,
        use_gdal_mask=use_gdal_mask,
        units_declared=False,
    )
    samples, sample_valid = [], []
    for window in _sample_windows(dataset.width, dataset.height):
        values, valid = probe.read_raw(window)
        samples.append(values.ravel())
        sample_valid.append(valid.ravel())
    sample = np.concatenate(samples)
    sample_ok = np.concatenate(sample_valid)
    if units == "auto":
        chosen, reason = decide_units(
            sample[sample_ok], dtype, scale != 1.0 or offset != 0.0, _metadata_units(dataset, band_index)
        )
        log.info("%s: units %s (%s); override with --units", path, chosen, reason)
    else:
        chosen, reason = units, "given with --units"
    if chosen == "db-8bit":
        _check_picture_values(path, sample[sample_ok & np.isfinite(sample)])
    elif chosen == "db" and dtype == "uint8" and scale == 1.0 and offset == 0.0:
        raise InputError(
            f"{path}: uint8 values without a scale cannot be dB (they would be 0 to 255 dB); an 8-bit picture "
            "of dB is --units db-8bit, or use --units auto"
        )
    zero_is_nodata = chosen not in DB_UNITS  # 0 dB is legal; 0 in a picture is its darkest grey
    good = sample_ok & (sample != 0) if zero_is_nodata else sample_ok
    stats = _sample_stats(sample, good, probe.non_finite_reads)
    metadata: dict[str, Any] = {
        "driver": dataset.driver,
        "dtype": dtype,
        "band_count": dataset.count,
        "band_names": [d or "" for d in dataset.descriptions],
        "scale": scale,
        "offset": offset,
        "sample": stats,
        **({"pixel_size_warning": pixel_warning} if pixel_warning else {}),
    }
    info = _info(dataset, path, band_index, chosen, reason, raw_nodata, pixel_size, metadata, grid)
    return RasterScene(
        dataset, info, scale, offset, raw_nodata, zero_is_nodata, use_gdal_mask, units_declared=units != "auto"
    )


def _check_picture_values(path: str, values: np.ndarray) -> None:
    """Refuse ``--units db-8bit`` for values an 8-bit picture cannot hold (a float dB file given it by mistake)."""
    if values.size and (values.min() < 0 or values.max() > 255):
        raise InputError(
            f"{path}: values from {values.min():.4g} to {values.max():.4g} are not an 8-bit picture (0-255); "
            "use --units db for dB, or --units auto"
        )


def _sample_stats(sample: np.ndarray, good: np.ndarray, non_finite: int) -> dict[str, Any]:
    values = sample[good]
    stats: dict[str, Any] = {
        "pixels": int(sample.size),
        "valid_fraction": round(float(good.mean()), 4) if sample.size else 0.0,
    }
    if values.size:
        p2, median, p98 = np.percentile(values, [2, 50, 98])
        stats.update(
            min=float(values.min()), p2=float(p2), median=float(median), p98=float(p98), max=float(values.max())
        )
    stats["non_finite"] = non_finite
    return stats


def _info(
    dataset: Any,
    path: str,
    band: int,
    units: str,
    reason: str,
    nodata: float | None,
    pixel_size: tuple[float, float],
    metadata: dict[str, Any],
    grid: tuple[Any, Any],
) -> SceneInfo:
    """Describe the scene; ``grid`` is its ``(crs, transform)``: the file's, or none and pixels when unusable."""
    tags = {k.lower(): v for k, v in dataset.tags().items()}
    scene_id = tags.get("product_id") or tags.get("product_name") or tags.get("scene_id") or Path(path).stem
    return SceneInfo(
        path=path,
        width=dataset.width,
        height=dataset.height,
        crs=grid[0],
        transform=grid[1],
        band=band,
        band_name=dataset.descriptions[band - 1],
        units=units,
        units_reason=reason,
        nodata=None if nodata is None else float(nodata),
        pixel_size_m=pixel_size,
        scene_id=str(scene_id),
        metadata=metadata,
    )


#: Creation options for the engine's output GeoTIFFs: tiled (256 px blocks, the stitcher's flush height),
#: DEFLATE-compressed, BigTIFF when a full scene might pass 4 GB. GDAL compresses the blocks in worker
#: threads (``num_threads``) while Python goes on with the next tiles, at DEFLATE's fastest level: the maps
#: are mostly one value, and on a full IW scene writing was a quarter of the threshold detector's run.
OUTPUT_BLOCK_PX = 256
#: GDAL block cache during a run (MB). GDAL's default (5 % of RAM) would make memory grow with the machine.
GDAL_CACHE_MB = 256
_OUTPUT_PROFILE = {
    "driver": "GTiff",
    "tiled": True,
    "blockxsize": OUTPUT_BLOCK_PX,
    "blockysize": OUTPUT_BLOCK_PX,
    "compress": "deflate",
    "zlevel": 1,
    "num_threads": "ALL_CPUS",
    "bigtiff": "if_safer",
    "interleave": "band",
}


def create_output_raster(
    path: str | os.PathLike[str],
    info: SceneInfo,
    count: int,
    dtype: str,
    nodata: float | None,
    descriptions: list[str] | None = None,
    predictor: int = 1,
    tiled: bool = True,
) -> Any:
    """Open a new GeoTIFF on the scene's grid for writing, window by window.

    Args:
        path: file to create (normally inside an :func:`~engine.io.atomic.atomic_output_dir`).
        info: the scene whose size, CRS and transform the output takes. Without a CRS the output has no
            geotransform at all, as a raster without georeferencing: QGIS places it at x = column, y = -row,
            where the polygons are (:mod:`engine.vectorize`). An identity geotransform (y = +row) put the
            rasters upside down beside them, and a geotransform of the input's put them elsewhere.
        count: number of bands.
        dtype: band data type.
        nodata: nodata value, or None.
        descriptions: band descriptions (shown as band names in QGIS).
        predictor: TIFF predictor (2 helps smooth integer maps compress).
        tiled: 256-pixel tiles (for display); ``False`` writes strips, which GDAL's polygonize reads
            scanline by scanline about 50 times faster than compressed tiles.

    Returns:
        An open rasterio dataset in write mode; the caller closes it.
    """
    profile = dict(
        _OUTPUT_PROFILE,
        width=info.width,
        height=info.height,
        count=count,
        dtype=dtype,
        nodata=nodata,
        crs=info.crs,
        transform=info.transform,
        predictor=predictor,
    )
    if info.crs is None:
        profile.pop("transform")
    if not tiled or info.width < OUTPUT_BLOCK_PX or info.height < OUTPUT_BLOCK_PX:
        profile.update(tiled=False)
        for key in ("blockxsize", "blockysize"):
            profile.pop(key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        dataset = rasterio.open(path, "w", **profile)
    for index, text in enumerate(descriptions or [], start=1):
        dataset.set_band_description(index, text)
    return dataset


def add_overviews(
    path: str | os.PathLike[str],
    resampling: str,
    min_size_px: int = 256,
    check_cancelled: Callable[[], None] | None = None,
) -> list[int]:
    """Build internal overviews (2, 4, 8... until the smaller side is under ``min_size_px``) so QGIS draws fast.

    GDAL builds overviews in one call that cannot be interrupted, so the first level (about three
    quarters of the work) is built on its own and ``check_cancelled`` runs before and after it.

    Args:
        path: a GeoTIFF written by :func:`create_output_raster`.
        resampling: ``average`` for probabilities, ``nearest`` or ``mode`` for class maps.
        min_size_px: stop when the overview's smaller side would be below this.
        check_cancelled: raises to stop (the file is then left with some levels: delete it).

    Returns:
        The overview factors built (empty for small rasters).
    """
    with warnings.catch_warnings(), rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):  # resampling on every core
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "r+") as dataset:
            factors = []
            factor = 2
            while min(dataset.width, dataset.height) // factor >= min_size_px:
                factors.append(factor)
                factor *= 2
            for levels in (factors[:1], factors[1:]):
                if check_cancelled is not None:
                    check_cancelled()
                if levels:
                    dataset.build_overviews(levels, Resampling[resampling])
            if factors:
                dataset.update_tags(ns="rio_overview", resampling=resampling)
    return factors


def write_raster(
    path: str | os.PathLike[str],
    array: np.ndarray,
    crs: Any = None,
    transform: Any = None,
    nodata: float | None = None,
    band_names: list[str] | None = None,
    units: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
) -> Path:
    """Write a small in-memory array as a GeoTIFF in one go (fixtures, samples, examples).

    Large outputs stream window by window through :func:`create_output_raster` instead.

    Args:
        path: file to write.
        array: ``(H, W)`` or ``(bands, H, W)``; its dtype is the file's (apply any scale yourself).
        crs: anything rasterio accepts (``"EPSG:32633"``), or None for a raster without CRS.
        transform: affine pixel → CRS transform; identity when None.
        nodata: nodata value.
        band_names: band descriptions.
        units: band unit string (e.g. ``"dB"``), written for every band.
        scale: GDAL scale metadata (value = raw · scale + offset).
        offset: GDAL offset metadata.

    Returns:
        ``path`` as a Path.
    """
    data = array[None] if array.ndim == 2 else array
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": crs,
        "nodata": nodata,
    }
    if transform is not None:
        profile["transform"] = transform
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dataset:
            dataset.write(data)
            for index in range(1, data.shape[0] + 1):
                if band_names:
                    dataset.set_band_description(index, band_names[index - 1])
                if units:
                    dataset.set_band_unit(index, units)
            if scale is not None or offset is not None:
                dataset.scales = [1.0 if scale is None else scale] * data.shape[0]
                dataset.offsets = [0.0 if offset is None else offset] * data.shape[0]
    return Path(path)
