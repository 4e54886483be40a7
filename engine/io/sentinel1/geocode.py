"""Georeferencing of GRD products from their geolocation grid (GCPs), window by window.

A GRD measurement has no geotransform: the annotation gives a grid of tie points (GCPs, about 210)
from (line, pixel) to (latitude, longitude, height) on WGS84. Two geometries are offered:

* ``utm`` (default): the scene is a north-up grid in the product's UTM zone at 10 m. Reading a UTM
  window finds the radar window it needs from the GCPs, calibrates only that, and warps it with
  ``rasterio.warp.reproject(..., gcps=...)`` (bilinear). Memory and time scale with the window.
* ``radar``: the product's own pixel grid (line and pixel unchanged) with its GCPs; GDAL/QGIS warp
  it on display, and vector outputs are mapped through the same GCP transform.

Both directions use one mapping, GDAL's thin-plate spline through all GCPs (``SRC_METHOD=GCP_TPS``)
fitted in UTM coordinates, so tie points are honoured exactly and the source window found for a UTM
window is the one the warp samples. Accuracy notes:

* At the GCPs the mapping is exact; between them the spline follows the smooth GRD geometry (the
  grid spacing is ~1300 px x ~2000 lines). How far that interpolation is from the true geometry
  is not known here; as a scale, a spline fitted in lon/lat instead of UTM differs from it by up to
  1.4 px (14 m) between GCPs on the test product. GDAL's warper evaluates the spline approximately,
  to within 0.125 px (its default error threshold).
* A block's warp uses only its own source window, but the mapping is global, so blocks agree.
* GCP positions are those of the annotation (ellipsoid heights of the processor's DEM): over sea
  they are at sea level; over land no terrain correction is done (docs/user-guide/sentinel-1.md).
* Annotation pixel/line numbers address pixel centres; GDAL GCPs address pixel corners, so
  ``+0.5`` is added (:func:`gcps_from_grid`). GDAL's own SAFE driver omits it (a 5 m shift).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import GCPTransformer
from rasterio.warp import reproject
from rasterio.warp import transform as transform_coords
from rasterio.windows import Window

from engine.io.sentinel1.annotation import GeolocationGrid

GCP_CRS = CRS.from_epsg(4326)

#: Extra radar pixels read around the footprint of a UTM window: bilinear needs 1, and the spline's
#: window boundary is sampled every :data:`_EDGE_STEP_PX` pixels, so interior points can bulge out.
SOURCE_MARGIN_PX = 4
_EDGE_STEP_PX = 32


def gcps_from_grid(grid: GeolocationGrid) -> list[GroundControlPoint]:
    """GDAL GCPs (pixel-corner convention, EPSG:4326, z = annotated height) from the geolocation grid."""
    return [
        GroundControlPoint(
            row=float(line) + 0.5, col=float(pixel) + 0.5, x=float(lon), y=float(lat), z=float(h), id=str(i + 1)
        )
        for i, (line, pixel, lat, lon, h) in enumerate(
            zip(grid.lines, grid.pixels, grid.latitudes, grid.longitudes, grid.heights_m)
        )
    ]


def utm_crs_for(lon: float, lat: float) -> CRS:
    """Return the WGS84 / UTM zone CRS containing a point (EPSG 326zz north, 327zz south)."""
    zone = int(np.clip(np.floor((lon + 180.0) / 6.0) + 1, 1, 60))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


@dataclass(frozen=True)
class UtmGrid:
    """A north-up output grid: CRS, affine transform (pixel corners) and size."""

    crs: CRS
    transform: Affine
    width: int
    height: int


class GcpGeocoder:
    """Maps between the radar grid and the product's UTM zone through one GCP thin-plate spline.

    The GCPs are projected to UTM first and the spline is fitted there, for both directions. GDAL's
    warper does the same when it warps GCP rasters to a projected CRS; fitting in lon/lat degrees
    instead gives a different interpolant between GCPs (up to 1.4 px apart on the test product).
    The warp is handed the projected GCPs, so it samples exactly this mapping.

    Args:
        gcps: the product's GCPs in EPSG:4326 (see :func:`gcps_from_grid`).
        radar_shape: (lines, pixels) of the measurement.
        pixel_size_m: output pixel size of the UTM grid.
    """

    def __init__(self, gcps: list[GroundControlPoint], radar_shape: tuple[int, int], pixel_size_m: float = 10.0):
        self.gcps = gcps
        self.height, self.width = radar_shape
        self.pixel_size_m = float(pixel_size_m)
        lons = np.array([g.x for g in gcps])
        lats = np.array([g.y for g in gcps])
        self.utm_crs = utm_crs_for(float(lons.mean()), float(lats.mean()))
        east, north = transform_coords(GCP_CRS, self.utm_crs, lons, lats)
        self.utm_gcps = [
            GroundControlPoint(row=g.row, col=g.col, x=float(x), y=float(y), z=g.z, id=g.id)
            for g, x, y in zip(gcps, east, north)
        ]
        self._spline = GCPTransformer(self.utm_gcps, tps=True)
        self.grid = self._utm_grid()

    def close(self) -> None:
        """Release the GDAL transformer."""
        self._spline.close()

    def radar_to_map(self, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """UTM easting/northing of radar coordinates (pixel-corner convention: (0, 0) is the top-left corner)."""
        xs, ys = self._spline.xy(np.asarray(rows, dtype=float), np.asarray(cols, dtype=float), offset="ul")
        return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)

    def map_to_radar(self, east: np.ndarray, north: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional radar (cols, rows) of UTM points (pixel-corner convention)."""
        rows, cols = self._spline.rowcol(
            np.asarray(east, dtype=float), np.asarray(north, dtype=float), op=np.positive
        )  # an identity ufunc: keep fractional pixels
        return np.asarray(cols, dtype=float), np.asarray(rows, dtype=float)

    def radar_to_lonlat(self, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitude/latitude (WGS84) of radar coordinates (pixel-corner convention)."""
        east, north = self.radar_to_map(cols, rows)
        lons, lats = transform_coords(self.utm_crs, GCP_CRS, east, north)
        return np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)

    def _utm_grid(self) -> UtmGrid:
        # The footprint is the image outline mapped through the spline (edges are slightly curved).
        step = 256
        xs = np.r_[np.arange(0, self.width, step), self.width]
        ys = np.r_[np.arange(0, self.height, step), self.height]
        cols = np.r_[xs, np.full(ys.size, self.width), xs, np.zeros(ys.size)]
        rows = np.r_[np.zeros(xs.size), ys, np.full(xs.size, self.height), ys]
        east, north = self.radar_to_map(cols, rows)
        size = self.pixel_size_m
        left = np.floor(east.min() / size) * size
        top = np.ceil(north.max() / size) * size
        width = int(np.ceil((east.max() - left) / size))
        height = int(np.ceil((top - north.min()) / size))
        return UtmGrid(self.utm_crs, Affine(size, 0.0, left, 0.0, -size, top), width, height)

    def source_window(self, dst_window: Window, margin_px: int = SOURCE_MARGIN_PX) -> Window | None:
        """Find the radar window needed to fill a UTM window, with a margin; None when it lies off the image."""
        col0, row0 = float(dst_window.col_off), float(dst_window.row_off)
        col1, row1 = col0 + float(dst_window.width), row0 + float(dst_window.height)
        xs = np.r_[np.arange(col0, col1, _EDGE_STEP_PX), col1]
        ys = np.r_[np.arange(row0, row1, _EDGE_STEP_PX), row1]
        cols = np.r_[xs, np.full(ys.size, col1), xs, np.full(ys.size, col0)]
        rows = np.r_[np.full(xs.size, row0), ys, np.full(xs.size, row1), ys]
        east, north = self.grid.transform @ (cols, rows)
        src_cols, src_rows = self.map_to_radar(np.asarray(east), np.asarray(north))
        left = int(np.floor(src_cols.min())) - margin_px
        top = int(np.floor(src_rows.min())) - margin_px
        right = int(np.ceil(src_cols.max())) + margin_px
        bottom = int(np.ceil(src_rows.max())) + margin_px
        left, top = max(left, 0), max(top, 0)
        right, bottom = min(right, self.width), min(bottom, self.height)
        if right <= left or bottom <= top:
            return None
        return Window(left, top, right - left, bottom - top)

    def warp_window(self, values: np.ndarray, src_window: Window, dst_window: Window) -> np.ndarray:
        """Warp a radar window (float32, NaN = invalid) onto a UTM window; NaN where there is no data.

        The GCPs are shifted into the source window's pixel frame; a thin-plate spline is unchanged
        by that translation, so every window samples the same mapping. No source nodata is declared:
        NaN then propagates through the bilinear kernel, so an output pixel is valid only when all
        the source pixels it is interpolated from are valid (a conservative edge, at most 1 px).
        """
        col0, row0 = float(src_window.col_off), float(src_window.row_off)
        shifted = [
            GroundControlPoint(row=g.row - row0, col=g.col - col0, x=g.x, y=g.y, z=g.z, id=g.id) for g in self.utm_gcps
        ]
        out = np.full((int(dst_window.height), int(dst_window.width)), np.nan, dtype=np.float32)
        dst_transform = self.grid.transform @ Affine.translation(float(dst_window.col_off), float(dst_window.row_off))
        reproject(
            source=np.ascontiguousarray(values, dtype=np.float32),
            destination=out,
            gcps=shifted,
            src_crs=self.utm_crs,
            dst_transform=dst_transform,
            dst_crs=self.utm_crs,
            dst_nodata=np.nan,  # initialise to NaN: pixels off the source window stay invalid
            resampling=Resampling.bilinear,
            SRC_METHOD="GCP_TPS",
        )
        return out
