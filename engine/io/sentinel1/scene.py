"""A Sentinel-1 GRD product as an engine :class:`~engine.io.scene.Scene`: σ0 read window by window.

``open_product`` checks the product, parses its annotation for one polarisation and returns a scene
whose pixel grid is either the product's UTM zone at 10 m (``geometry="utm"``, the default) or the
product's own radar grid (``geometry="radar"``).

Streaming: a UTM scene is cut into aligned blocks (``block_px``, 512 by default). A block is made by
finding the radar window its footprint needs (:meth:`GcpGeocoder.source_window`), reading and
calibrating only that window, and warping it. Blocks are kept in a small LRU cache (two block rows
by default), so the detector's overlapping tiles, read in row order, reuse them and every read of a
pixel returns the same value whatever window it comes in. Memory is bounded by the cache.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.transform import from_gcps
from rasterio.windows import Window

from engine.errors import InputError
from engine.io.scene import SceneInfo, reader_number
from engine.io.sentinel1.annotation import (
    ImageAnnotation,
    LineVectors,
    NoiseAnnotation,
    parse_calibration,
    parse_image_annotation,
    parse_noise,
    parse_xml,
)
from engine.io.sentinel1.calibrate import CalibrationOptions, RadarCalibrator
from engine.io.sentinel1.geocode import GcpGeocoder, gcps_from_grid
from engine.io.sentinel1.product import (
    MANIFEST,
    ManifestInfo,
    ProductLocation,
    check_supported,
    choose_polarisation,
    parse_manifest,
)

GEOMETRIES = ("utm", "radar")


@dataclass(frozen=True)
class ProductOptions:
    """How a product is opened (the ``reader_options`` that ``open_scene`` passes on).

    Attributes:
        pol: polarisation band to read (VV by default; VH, HH, HV where the product has them).
        geometry: ``"utm"`` (north-up UTM grid) or ``"radar"`` (product grid with GCPs).
        pixel_size_m: UTM grid spacing.
        calibration: DN -> σ0 options (noise removal, floor, border noise).
        block_px: side of the cached UTM blocks.
        cache_block_rows: how many rows of blocks the cache keeps.
    """

    pol: str = "VV"
    geometry: str = "utm"
    pixel_size_m: float = 10.0
    calibration: CalibrationOptions = field(default_factory=CalibrationOptions)
    block_px: int = 512
    cache_block_rows: float = 2.0


#: Reader options that must be above 0 (sizes and counts); the other numeric ones may be 0.
_POSITIVE_OPTIONS = ("pixel_size_m", "block_px", "border_run_px")


def _checked_option(key: str, value: Any, default: Any) -> Any:
    """One product reader option, checked against the type of its default (one-line error otherwise).

    Options arrive from ``--reader-option KEY=VALUE`` as JSON or text: a word where a number belongs
    failed deep in the geocoder, and ``pixel_size_m=-10`` or ``block_px=0`` gave nonsense or a crash.
    """
    if isinstance(default, bool) or key == "mask_border_noise":
        if isinstance(value, bool) or (value is None and key == "mask_border_noise"):
            return value
        raise InputError(f"--reader-option {key}={value}: must be true or false")
    number = reader_number(key, value, f"{key}={default}", positive=key in _POSITIVE_OPTIONS)
    if not (math.isfinite(number) and number >= 0):
        raise InputError(f"--reader-option {key}={value}: must be a finite number, 0 or more, e.g. {key}={default}")
    if isinstance(default, int):
        if not number.is_integer():
            raise InputError(f"--reader-option {key}={value}: must be a whole number, e.g. {key}={default}")
        return int(number)
    return number


def _iso_utc(timestamp: str) -> str:
    return timestamp + "Z" if timestamp and not timestamp.endswith("Z") else timestamp


class Sentinel1Scene:
    """One polarisation of a GRD product, calibrated to σ0 (linear) and georeferenced, read by windows.

    Build it with :func:`open_product`. Besides the :class:`~engine.io.scene.Scene` protocol it offers
    :meth:`read_radar_sigma0` (the product grid, whatever the geometry), ``gcps`` (GDAL GCPs of the
    radar grid) and ``geocoder``.
    """

    def __init__(
        self,
        location: ProductLocation,
        manifest: ManifestInfo,
        annotation: ImageAnnotation,
        sigma_lut: LineVectors,
        noise: NoiseAnnotation,
        measurement_path: str,
        options: ProductOptions,
    ):
        self.location = location
        self.manifest = manifest
        self.annotation = annotation
        self.options = options
        self.measurement_path = measurement_path
        try:
            with warnings.catch_warnings():  # GRD TIFFs have GCPs but no geotransform; we use the annotation's GCPs
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self._dataset = rasterio.open(measurement_path)
        except RasterioIOError as error:
            local = Path(measurement_path)
            if local.is_file() and not os.access(local, os.R_OK):  # not damaged: someone else's file
                raise InputError(
                    f"{location.user_path}: permission denied on its measurement raster {local.name}; ask for "
                    "access to the product's files, or copy the product elsewhere"
                ) from None
            raise InputError(
                f"{location.user_path}: cannot open the measurement raster ({error}); the product is "
                "damaged or incompletely downloaded"
            ) from None
        if (self._dataset.height, self._dataset.width) != (annotation.height, annotation.width):
            shape = f"{self._dataset.width}x{self._dataset.height}"
            self._dataset.close()
            raise InputError(
                f"{location.user_path}: the measurement raster is {shape} but the annotation says "
                f"{annotation.width}x{annotation.height}; the product is inconsistent"
            )
        self.calibrator = RadarCalibrator(
            sigma_lut, noise, (annotation.height, annotation.width), self._read_dn, manifest.ipf, options.calibration
        )
        self.gcps: list[GroundControlPoint] = gcps_from_grid(annotation.geolocation)
        try:
            self.geocoder = GcpGeocoder(self.gcps, (annotation.height, annotation.width), options.pixel_size_m)
        except Exception as error:  # GDAL cannot fit the tie points (a damaged geolocation grid)
            self._dataset.close()
            raise InputError(
                f"{location.user_path}: cannot georeference from the annotation's geolocation grid "
                f"({str(error).splitlines()[0] if str(error) else type(error).__name__})"
            ) from None
        self._cache: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.info = self._scene_info()
        blocks_per_row = math.ceil(self.info.width / options.block_px)
        self._cache_blocks = max(4, int(options.cache_block_rows * blocks_per_row) + 2)

    # -- facts ------------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """Product facts for the run summary and polygon attributes (JSON-serialisable)."""
        m, a, opts = self.manifest, self.annotation, self.options
        noise_applied = opts.calibration.remove_noise
        return {
            "source": "Sentinel-1 GRD product",
            "product_id": self.location.name,
            "platform": m.platform,
            "mission": m.mission or a.mission,
            "mode": m.mode,
            "product_type": m.product_type,
            "polarisation": a.polarisation,
            "polarisations": list(m.polarisations),
            "acquisition_start": _iso_utc(m.start_time or a.first_line_time),
            "acquisition_stop": _iso_utc(m.stop_time or a.last_line_time),
            "absolute_orbit": m.absolute_orbit,
            "relative_orbit": m.relative_orbit,
            "pass": m.pass_direction or a.pass_direction.upper(),
            "ipf_version": m.ipf_version,
            "timeliness": m.timeliness,
            "geometry": opts.geometry,
            "calibration": "sigma0 (sigmaNought LUT, bilinear)",
            "thermal_noise_removed": noise_applied,
            "thermal_noise_vectors": self.calibrator.noise.generation if noise_applied else "not applied",
            "border_noise_masked": bool(self.calibrator.mask_border),
            "sigma0_floor_linear": opts.calibration.floor_linear,
            "radar_size_px": [a.width, a.height],
            "radar_spacing_m": [a.range_spacing_m, a.azimuth_spacing_m],
            "incidence_mid_deg": a.incidence_mid_deg,
        }

    def _scene_info(self) -> SceneInfo:
        a, opts = self.annotation, self.options
        if opts.geometry == "utm":
            grid = self.geocoder.grid
            crs, transform, width, height = grid.crs, grid.transform, grid.width, grid.height
            pixel_size = (opts.pixel_size_m, opts.pixel_size_m)
        else:
            # Radar grid: the exact mapping is the GCP spline (``pixel_to_map``, used for polygons
            # and the land mask). The affine transform is only its least-squares fit in UTM, for
            # consumers that need one: off by up to ~250 m over sea, more over relief.
            crs, width, height = self.geocoder.utm_crs, a.width, a.height
            transform = from_gcps(self.geocoder.utm_gcps)
            pixel_size = (a.range_spacing_m, a.azimuth_spacing_m)
        noise = "thermal noise removed" if opts.calibration.remove_noise else "thermal noise kept"
        return SceneInfo(
            path=self.location.user_path,
            width=width,
            height=height,
            crs=crs,
            transform=transform,
            band=1,
            band_name=a.polarisation,
            units="linear",
            units_reason=f"Sentinel-1 GRD product calibrated to sigma0 by the engine ({noise})",
            nodata=None,
            pixel_size_m=pixel_size,
            scene_id=self.location.name,
            metadata=self.metadata(),
        )

    # -- pixel <-> map (used by --land-mask and GCP-aware outputs) ---------------------------------
    @property
    def map_crs(self) -> CRS:
        """The product's UTM zone: the map CRS of :meth:`map_to_pixel` / :meth:`pixel_to_map`."""
        return self.geocoder.utm_crs

    def map_to_pixel(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scene pixel (col, row; corner convention) of UTM points: the GCP spline in radar geometry."""
        if self.options.geometry == "radar":
            return self.geocoder.map_to_radar(np.asarray(xs), np.asarray(ys))
        cols, rows = ~self.info.transform @ (np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        return np.asarray(cols), np.asarray(rows)

    def pixel_to_map(self, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """UTM coordinates of scene pixel positions (corner convention): the inverse of :meth:`map_to_pixel`."""
        if self.options.geometry == "radar":
            return self.geocoder.radar_to_map(np.asarray(cols), np.asarray(rows))
        xs, ys = self.info.transform @ (np.asarray(cols, dtype=float), np.asarray(rows, dtype=float))
        return np.asarray(xs), np.asarray(ys)

    def viewing_geometry(self, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Incidence angle and radar look azimuth (both deg) at scene pixel positions (corner convention).

        The wind inversion (:mod:`engine.wind`) needs both: σ0 of the sea depends on the incidence and on the
        wind direction relative to the look. The incidence is the annotation's geolocation grid interpolated
        linearly (nearest outside its hull); the look azimuth, clockwise from north, is the geodesic bearing
        of increasing range (GRD pixels run from near to far range) through the GCP spline.
        """
        from scipy.interpolate import griddata

        from engine.io.geodesy import distance_bearing

        if self.options.geometry == "radar":
            radar_cols, radar_rows = np.asarray(cols, dtype=float), np.asarray(rows, dtype=float)
        else:
            radar_cols, radar_rows = self.geocoder.map_to_radar(*self.pixel_to_map(cols, rows))
        grid = self.annotation.geolocation
        points = np.column_stack([grid.lines + 0.5, grid.pixels + 0.5])  # annotation numbers address centres
        where = np.column_stack([radar_rows, radar_cols])
        incidence = griddata(points, grid.incidence_deg, where, method="linear")
        outside = ~np.isfinite(incidence)
        if outside.any():
            incidence[outside] = griddata(points, grid.incidence_deg, where[outside], method="nearest")
        lon0, lat0 = self.geocoder.radar_to_lonlat(radar_cols, radar_rows)
        lon1, lat1 = self.geocoder.radar_to_lonlat(radar_cols + 100.0, radar_rows)
        look = np.array(
            [
                distance_bearing(a, b, np.array([c]), np.array([d]))[1][0]
                for a, b, c, d in zip(np.ravel(lon0), np.ravel(lat0), np.ravel(lon1), np.ravel(lat1))
            ]
        )
        return incidence, look.reshape(np.shape(lon0))

    # -- reading ----------------------------------------------------------------------------------
    def _read_dn(self, window: Window) -> np.ndarray:
        try:
            return self._dataset.read(1, window=window)
        except RasterioError as error:  # a truncated download: calibrate said "internal error", detect "writing failed"
            from engine.io.raster import error_text

            raise InputError(
                f"{self.location.user_path}: cannot read the measurement pixels at line {int(window.row_off)}, pixel "
                f"{int(window.col_off)} ({error_text(error)}); the product is damaged or incompletely downloaded: "
                "download it again"
            ) from error

    def read_radar_sigma0(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """σ0 (float32 linear) and validity of a window of the product's own grid."""
        return self.calibrator.calibrate(_check_window(window, self.annotation.width, self.annotation.height))

    def read_sigma0(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """σ0 (float32 linear, 0 where invalid) and validity of a scene window (UTM or radar grid)."""
        if self.options.geometry == "radar":
            return self.read_radar_sigma0(window)
        window = _check_window(window, self.info.width, self.info.height)
        row0, col0 = int(window.row_off), int(window.col_off)
        rows, cols = int(window.height), int(window.width)
        values = np.zeros((rows, cols), dtype=np.float32)
        valid = np.zeros((rows, cols), dtype=bool)
        block = self.options.block_px
        for block_row in range(row0 // block, (row0 + rows - 1) // block + 1):
            for block_col in range(col0 // block, (col0 + cols - 1) // block + 1):
                block_values, block_valid = self._block(block_row, block_col)
                # Intersection of the request with this block, in both frames.
                top, left = max(row0, block_row * block), max(col0, block_col * block)
                bottom = min(row0 + rows, block_row * block + block_values.shape[0])
                right = min(col0 + cols, block_col * block + block_values.shape[1])
                out = np.s_[top - row0 : bottom - row0, left - col0 : right - col0]
                src = np.s_[
                    top - block_row * block : bottom - block_row * block,
                    left - block_col * block : right - block_col * block,
                ]
                values[out] = block_values[src]
                valid[out] = block_valid[src]
        return values, valid

    def _block(self, block_row: int, block_col: int) -> tuple[np.ndarray, np.ndarray]:
        key = (block_row, block_col)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        block = self.options.block_px
        dst = Window(
            block_col * block,
            block_row * block,
            min(block, self.info.width - block_col * block),
            min(block, self.info.height - block_row * block),
        )
        shape = (int(dst.height), int(dst.width))
        src = self.geocoder.source_window(dst)
        sigma0, valid = self.calibrator.calibrate(src) if src is not None else (None, None)
        if sigma0 is None or valid is None or not valid.any():  # outside the swath, or no data: nothing to warp
            result = (np.zeros(shape, np.float32), np.zeros(shape, bool))
        else:
            sigma0[~valid] = np.nan
            warped = self.geocoder.warp_window(sigma0, src, dst)
            ok = np.isfinite(warped)
            warped[~ok] = 0.0
            result = (warped, ok)
        self._cache[key] = result
        while len(self._cache) > self._cache_blocks:
            self._cache.popitem(last=False)
        return result

    def close(self) -> None:
        """Release the measurement dataset, the zip and the GDAL transformer."""
        self._cache.clear()
        self._dataset.close()
        self.geocoder.close()
        self.location.close()

    def __enter__(self) -> Sentinel1Scene:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _check_window(window: Window, width: int, height: int) -> Window:
    col0, row0 = int(round(window.col_off)), int(round(window.row_off))
    cols, rows = int(round(window.width)), int(round(window.height))
    if col0 < 0 or row0 < 0 or cols <= 0 or rows <= 0 or col0 + cols > width or row0 + rows > height:
        raise ValueError(f"window {window} is not inside the {width}x{height} scene")
    return Window(col0, row0, cols, rows)


def _polarisation_name(pol: str | int, manifest: ManifestInfo, path: str) -> str:
    """``"vv"`` -> ``"VV"``; a band number (``1``, ``"2"``) -> the manifest's n-th polarisation."""
    text = str(pol).strip().upper()
    if not text.isdigit():
        return text
    index = int(text)
    if not 1 <= index <= len(manifest.polarisations):
        listed = ", ".join(manifest.polarisations) or "none"
        raise InputError(f"{path}: band {index} does not exist; the product's bands are {listed} (use --pol)")
    return manifest.polarisations[index - 1]


def open_product(path: str | Path, pol: str | int = "VV", geometry: str = "utm", **options: Any) -> Sentinel1Scene:
    """Open a Sentinel-1 GRD product (``.SAFE`` folder, ``manifest.safe`` or ``.zip``) as a σ0 scene.

    Args:
        path: the product as downloaded; a zip is read in place (``/vsizip/``), never unpacked.
        pol: polarisation band (``VV`` default; ``VH``/``HH``/``HV`` where present), or a band
            number counting the manifest's polarisations (1 = the first, VV in a 1SDV product).
        geometry: ``"utm"`` (default; warp to the product's UTM zone at 10 m) or ``"radar"``
            (product grid, GCP georeferencing).
        **options: further :class:`ProductOptions` fields (``pixel_size_m``, ``block_px``...) or
            :class:`~engine.io.sentinel1.calibrate.CalibrationOptions` fields (``remove_noise``,
            ``floor_linear``, ``mask_border_noise``...).

    Raises:
        InputError: not a product, not GRD/IW (with the reason), missing polarisation or files.
    """
    geometry = str(geometry).lower()
    if geometry not in GEOMETRIES:
        raise InputError(f"--geometry {geometry}: not a geometry; use one of {', '.join(GEOMETRIES)}")
    calibration_fields = set(CalibrationOptions.__dataclass_fields__)
    product_fields = set(ProductOptions.__dataclass_fields__) - {"pol", "geometry", "calibration"}
    unknown = set(options) - calibration_fields - product_fields
    if unknown:
        raise InputError(f"unknown Sentinel-1 reader option(s): {', '.join(sorted(unknown))}")
    defaults = {
        **{key: getattr(CalibrationOptions(), key) for key in calibration_fields},
        **{key: getattr(ProductOptions(), key) for key in product_fields},
    }
    options = {key: _checked_option(key, value, defaults[key]) for key, value in options.items()}
    calibration = CalibrationOptions(**{k: v for k, v in options.items() if k in calibration_fields})
    product_options = replace(
        ProductOptions(geometry=geometry, calibration=calibration),
        **{k: v for k, v in options.items() if k in product_fields},
    )

    location = ProductLocation(path)
    try:
        manifest = parse_manifest(location.read_bytes(MANIFEST), f"{path}: {MANIFEST}", location.name)
        check_supported(manifest, str(path))
        product_options = replace(product_options, pol=_polarisation_name(pol, manifest, str(path)))
        files = choose_polarisation(manifest, location, product_options.pol)
        # choose_polarisation has checked that all four files are named and present.
        annotation_file, calibration_file = cast(str, files.annotation), cast(str, files.calibration)
        noise_file, measurement_file = cast(str, files.noise), cast(str, files.measurement)
        annotation = parse_image_annotation(
            parse_xml(location.read_bytes(annotation_file), annotation_file), f"{path}: {annotation_file}"
        )
        if annotation.product_type.upper() != "GRD":
            check_supported(replace(manifest, product_type=annotation.product_type.upper()), str(path))
        sigma_lut = parse_calibration(
            parse_xml(location.read_bytes(calibration_file), calibration_file), f"{path}: {calibration_file}"
        )
        noise = parse_noise(parse_xml(location.read_bytes(noise_file), noise_file), f"{path}: {noise_file}")
        return Sentinel1Scene(
            location, manifest, annotation, sigma_lut, noise, location.gdal_path(measurement_file), product_options
        )
    except BaseException:
        location.close()
        raise
