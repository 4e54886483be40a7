"""``--land-mask PATH``: mark land pixels invalid from any polygon layer the analyst has.

The layer (Shapefile, GeoPackage, GeoJSON, any OGR format; its first layer) is read once: only the
features near the scene are kept (a bounding-box filter in the layer's CRS), reprojected to the
scene's map CRS, clipped to the scene and indexed. Each window read then rasterises just the
polygons that touch it (pixel centres inside a polygon are land), so a global coastline file
costs little memory and the scene still streams.

Scenes map between pixels and map coordinates through their affine ``transform``. A scene can
offer a non-affine mapping instead (a Sentinel-1 product in radar geometry maps through its GCP
spline) by providing ``map_crs``, ``map_to_pixel(xs, ys) -> (cols, rows)`` and the inverse
``pixel_to_map``; polygon vertices are then mapped through it.

Without ``--land-mask`` nothing here runs: the model's land class handles coasts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import fiona
import numpy as np
import shapely
from affine import Affine
from rasterio import features
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform_bounds, transform_geom
from rasterio.windows import Window
from shapely.geometry import box, mapping, shape

from engine.errors import InputError
from engine.io.scene import Scene

log = logging.getLogger("dakd")

#: Kept around the scene when clipping polygons, in pixels (so edges are never cut inside a window).
CLIP_MARGIN_PX = 16

PixelMapper = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _scene_mapping(scene: Scene) -> tuple[CRS, PixelMapper, PixelMapper]:
    """Return the scene's map CRS and its map -> pixel / pixel -> map functions."""
    custom = getattr(scene, "map_to_pixel", None)
    if callable(custom):
        return scene.map_crs, custom, scene.pixel_to_map
    info = scene.info
    if info.crs is None:
        raise InputError(f"{info.path}: has no coordinate system, so --land-mask cannot be placed on it; use a "
                         "georeferenced scene")
    inverse = ~info.transform

    def to_pixel(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return inverse @ (np.asarray(xs), np.asarray(ys))

    def to_map(cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return info.transform @ (np.asarray(cols), np.asarray(rows))

    return info.crs, to_pixel, to_map


class LandMask:
    """Land polygons on a scene's pixel grid, rasterised window by window.

    Args:
        path: polygon layer (any OGR vector format; the first layer is used).
        scene: the scene the mask is for (its grid and CRS).
    """

    def __init__(self, path: str | os.PathLike[str], scene: Scene) -> None:
        self.path = os.fspath(path)
        info = scene.info
        map_crs, to_pixel, to_map = _scene_mapping(scene)
        # Scene outline in map coordinates (its corners and edge midpoints, through the scene's mapping).
        cols = np.array([0, info.width / 2, info.width, info.width, info.width, info.width / 2, 0, 0], dtype=float)
        rows = np.array([0, 0, 0, info.height / 2, info.height, info.height, info.height, info.height / 2], dtype=float)
        xs, ys = to_map(cols, rows)
        scene_box = box(float(np.min(xs)), float(np.min(ys)), float(np.max(xs)), float(np.max(ys)))
        pixel_box = box(-CLIP_MARGIN_PX, -CLIP_MARGIN_PX, info.width + CLIP_MARGIN_PX, info.height + CLIP_MARGIN_PX)
        polygons = []
        for geometry in self._read_near(scene_box, map_crs):
            pixel_geometry = shapely.transform(geometry, lambda xy: np.column_stack(to_pixel(xy[:, 0], xy[:, 1])))
            clipped = pixel_geometry.intersection(pixel_box) if pixel_geometry.is_valid else (
                shapely.make_valid(pixel_geometry).intersection(pixel_box))
            polygons.extend(p for p in shapely.get_parts(clipped) if p.geom_type in ("Polygon", "MultiPolygon"))
        self.polygons = polygons
        self._tree = shapely.STRtree(polygons)
        log.info("land mask %s: %d polygon(s) over the scene", self.path, len(polygons))

    def _read_near(self, scene_box: Any, map_crs: CRS) -> list[Any]:
        try:
            with fiona.open(self.path) as layer:
                if layer.crs_wkt:
                    layer_crs = CRS.from_wkt(layer.crs_wkt)
                else:
                    log.warning("%s: the layer has no CRS; assuming WGS84 longitude/latitude", self.path)
                    layer_crs = CRS.from_epsg(4326)
                left, bottom, right, top = scene_box.bounds
                margin = 0.02 * max(right - left, top - bottom)
                bounds = transform_bounds(map_crs, layer_crs, *scene_box.buffer(margin).bounds, densify_pts=21)
                geometries = []
                for feature in layer.filter(bbox=bounds):
                    if feature.geometry is None or "Polygon" not in feature.geometry.type:
                        continue
                    projected = transform_geom(layer_crs, map_crs, dict(feature.geometry.__geo_interface__))
                    geometries.append(shape(projected))
                return geometries
        except (fiona.errors.FionaError, CRSError, OSError) as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise InputError(f"--land-mask {self.path}: cannot read it as a polygon layer ({first}); give a "
                             "Shapefile, GeoPackage or GeoJSON of land polygons") from None

    def land(self, window: Window) -> np.ndarray:
        """Boolean array of the window: True where the pixel centre lies on land."""
        col0, row0 = float(window.col_off), float(window.row_off)
        rows, cols = int(window.height), int(window.width)
        hits = self._tree.query(box(col0, row0, col0 + cols, row0 + rows))
        if len(hits) == 0:
            return np.zeros((rows, cols), dtype=bool)
        shapes = [(mapping(self.polygons[i]), 1) for i in hits]
        burned = features.rasterize(shapes, out_shape=(rows, cols), transform=Affine.translation(col0, row0),
                                    fill=0, dtype="uint8")
        return burned.astype(bool)


class LandMaskedScene:
    """A scene whose land pixels (from a :class:`LandMask`) read as invalid; everything else is the scene's."""

    def __init__(self, scene: Scene, mask: LandMask) -> None:
        self.scene = scene
        self.mask = mask
        self.info = replace(scene.info, metadata={**scene.info.metadata, "land_mask": mask.path,
                                                  "land_mask_polygons": len(mask.polygons)})

    def read_sigma0(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Read the scene's σ0 and validity, with land pixels set invalid (value 0)."""
        values, valid = self.scene.read_sigma0(window)
        land = self.mask.land(window)
        if land.any():
            values = np.where(land, np.float32(0.0), values)
            valid = valid & ~land
        return values, valid

    def close(self) -> None:
        """Close the underlying scene."""
        self.scene.close()

    def __getattr__(self, name: str) -> Any:  # gcps, pixel_to_map... of the wrapped scene
        if name == "scene":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.scene, name)


def apply_land_mask(scene: Scene, path: str | os.PathLike[str] | None) -> Scene:
    """Wrap ``scene`` so land from ``path`` is invalid; returns ``scene`` itself when ``path`` is None."""
    if path is None or path == "":
        return scene
    if not os.path.exists(path):
        raise InputError(f"--land-mask {path}: no such file; give a polygon layer of land (e.g. a coastline data set)")
    return LandMaskedScene(scene, LandMask(path, scene))
