"""``--land-mask auto|none|PATH``: mark land pixels invalid, from a global coastline or a polygon layer.

``auto`` (the default for georeferenced scenes) takes land from the global coastline of
:mod:`engine.io.coastline`; ``PATH`` from any polygon layer the analyst has; ``none`` keeps every pixel.
Either mask can be widened by a shoreline buffer in metres (SNAP's "shoreline extension"): coastline
data, geolocation and the wet/dry line all err by tens of metres, and a coast's bright edge reads as a
dark/bright contrast the detectors would otherwise take for oil or ships.

A polygon layer:

The layer (Shapefile, GeoPackage, GeoJSON, any OGR format; its first layer) is read once: only the
features near the scene are kept (a bounding-box filter in the layer's CRS), reprojected to the
scene's map CRS, clipped to the scene and indexed. Each window read then rasterises just the
polygons that touch it (pixel centres inside a polygon are land), so a global coastline file
costs little memory and the scene still streams.

Scenes map between pixels and map coordinates through their affine ``transform``. A scene can
offer a non-affine mapping instead (a Sentinel-1 product in radar geometry maps through its GCP
spline) by providing ``map_crs``, ``map_to_pixel(xs, ys) -> (cols, rows)`` and the inverse
``pixel_to_map``; polygon vertices are then mapped through it.

With ``none`` (or a scene without coordinates under ``auto``) nothing here runs: the model's land
class handles coasts. The same pixel-polygon machinery (:class:`PixelPolygons`) places ``--aoi``
(:mod:`engine.io.aoi`).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol, cast

import fiona
import numpy as np
import shapely
from affine import Affine
from rasterio import features
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform_bounds, transform_geom
from rasterio.windows import Window
from scipy import ndimage
from shapely.geometry import box, mapping, shape

from engine.contract import DEFAULT_LAND_BUFFER_M
from engine.errors import InputError
from engine.io.scene import Scene
from engine.io.vector import layer_geometry_types

log = logging.getLogger("dakd")

#: Kept around the scene when clipping polygons, in pixels (so edges are never cut inside a window).
CLIP_MARGIN_PX = 16

PixelMapper = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def is_georeferenced(scene: Scene) -> bool:
    """Tell whether map coordinates can be placed on the scene (a CRS, or a GCP mapping)."""
    return callable(getattr(scene, "map_to_pixel", None)) or scene.info.crs is not None


def _scene_mapping(scene: Scene, option: str = "--land-mask") -> tuple[CRS, PixelMapper, PixelMapper]:
    """Return the scene's map CRS and its map -> pixel / pixel -> map functions."""
    custom = getattr(scene, "map_to_pixel", None)
    if callable(custom):
        mapped = cast(Any, scene)  # a scene with its own mapping, e.g. Sentinel1Scene (see the module docstring)
        return mapped.map_crs, custom, mapped.pixel_to_map
    info = scene.info
    if info.crs is None:
        raise InputError(
            f"{info.path}: has no coordinate system, so {option} cannot be placed on it; use a georeferenced scene"
        )
    inverse = ~info.transform

    def to_pixel(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return inverse @ (np.asarray(xs), np.asarray(ys))

    def to_map(cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return info.transform @ (np.asarray(cols), np.asarray(rows))

    return info.crs, to_pixel, to_map


class PixelPolygons:
    """Polygons (land, an area of interest) on a scene's pixel grid, rasterised window by window.

    Args:
        path: polygon layer (any OGR vector format; the first layer is used), or a name for ``geometries``.
        scene: the scene the polygons are for (its grid and CRS).
        geometries: ``(geometries, crs)`` to place instead of reading ``path`` (an extent typed on the command
            line); they are densified, so straight lines in their CRS stay straight where they bend in the scene's.
        option: the command-line option, for messages.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        scene: Scene,
        geometries: tuple[list[Any], CRS] | None = None,
        option: str = "--land-mask",
    ) -> None:
        self.path = os.fspath(path)
        self.option = option
        info = scene.info
        map_crs, to_pixel, to_map = _scene_mapping(scene, option)
        # Scene outline in map coordinates (its corners and edge midpoints, through the scene's mapping).
        cols = np.array([0, info.width / 2, info.width, info.width, info.width, info.width / 2, 0, 0], dtype=float)
        rows = np.array([0, 0, 0, info.height / 2, info.height, info.height, info.height, info.height / 2], dtype=float)
        xs, ys = to_map(cols, rows)
        scene_box = box(float(np.min(xs)), float(np.min(ys)), float(np.max(xs)), float(np.max(ys)))
        pixel_box = box(-CLIP_MARGIN_PX, -CLIP_MARGIN_PX, info.width + CLIP_MARGIN_PX, info.height + CLIP_MARGIN_PX)
        near = self._read_near(scene_box, map_crs) if geometries is None else _project(*geometries, map_crs)
        polygons: list[Any] = []  # shapely polygons
        for geometry in near:
            pixel_geometry = shapely.transform(geometry, lambda xy: np.column_stack(to_pixel(xy[:, 0], xy[:, 1])))
            clipped = (
                pixel_geometry.intersection(pixel_box)
                if pixel_geometry.is_valid
                else (shapely.make_valid(pixel_geometry).intersection(pixel_box))
            )
            # Not the empty polygon a shape beside the scene clips to: counted, it made a mask that masks nothing
            # "used", and an area of interest beside the scene "1 polygon(s) over the scene".
            parts = shapely.get_parts(clipped)
            polygons.extend(p for p in parts if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty)
        self.polygons = polygons
        self._tree = shapely.STRtree(polygons)

    def _read_near(self, scene_box: Any, map_crs: CRS) -> list[Any]:
        try:
            with fiona.open(self.path, layer=polygon_layer(self.path, self.option)) as layer:
                if layer.crs_wkt:
                    layer_crs = CRS.from_wkt(layer.crs_wkt)
                else:
                    log.warning("%s: the layer has no CRS; assuming WGS84 longitude/latitude", self.path)
                    layer_crs = CRS.from_epsg(4326)
                left, bottom, right, top = scene_box.bounds
                margin = 0.02 * max(right - left, top - bottom)
                bounds = transform_bounds(map_crs, layer_crs, *scene_box.buffer(margin).bounds, densify_pts=21)
                geometries, seen = [], set()
                for bbox in _antimeridian_split(bounds):
                    for feature in layer.filter(bbox=bbox):
                        if feature.id in seen or feature.geometry is None or "Polygon" not in feature.geometry.type:
                            continue
                        seen.add(feature.id)
                        projected = transform_geom(layer_crs, map_crs, dict(feature.geometry.__geo_interface__))
                        geometries.append(shape(projected))
                return geometries
        except (fiona.errors.FionaError, CRSError, OSError) as error:
            raise _unreadable(self.path, self.option, error) from None

    def contents_without_polygons(self) -> str | None:
        """Say what the layer holds ("12 LineString features and no polygon") when it has no polygon at all.

        Only polygons near the scene are read, so an empty :attr:`polygons` cannot tell a layer of lines or
        points (the wrong file: refuse it) from polygons elsewhere (the wrong place: warn); see
        :func:`layer_contents_without_polygons`.
        """
        return layer_contents_without_polygons(self.path, self.option)

    def clip_to(self, width: int, height: int) -> None:
        """Keep only the polygon parts inside the ``width`` x ``height`` scene (no margin): an area of interest."""
        inside = box(0, 0, width, height)
        clipped = (polygon.intersection(inside) for polygon in self.polygons)
        self.polygons = [p for p in clipped if not p.is_empty and p.area > 0]
        self._tree = shapely.STRtree(self.polygons)

    def touches(self, window: Window) -> bool:
        """Tell whether any polygon touches the window (cheap: the spatial index only)."""
        col0, row0 = float(window.col_off), float(window.row_off)
        return len(self._tree.query(box(col0, row0, col0 + float(window.width), row0 + float(window.height)))) > 0

    def land(self, window: Window) -> np.ndarray:
        """Boolean array of the window: True where the pixel centre lies inside a polygon."""
        col0, row0 = float(window.col_off), float(window.row_off)
        rows, cols = int(window.height), int(window.width)
        hits = self._tree.query(box(col0, row0, col0 + cols, row0 + rows))
        if len(hits) == 0:
            return np.zeros((rows, cols), dtype=bool)
        shapes = [(mapping(self.polygons[i]), 1) for i in hits]
        burned = features.rasterize(
            shapes, out_shape=(rows, cols), transform=Affine.translation(col0, row0), fill=0, dtype="uint8"
        )
        return burned.astype(bool)

    def describe(self) -> dict[str, Any]:
        """Describe the mask for the run summary."""
        return {"mode": "file", "used": True, "source": self.path, "polygons": len(self.polygons)}


def _antimeridian_split(bounds: tuple[float, float, float, float]) -> list[tuple[float, float, float, float]]:
    """Split longitude bounds that cross the antimeridian (``left > right``, as ``transform_bounds`` gives them).

    OGR reads such a box as the rest of the world: the polygons of a scene across 180 degrees were all missed (its
    islands unmasked, its area of interest "outside the scene").
    """
    left, bottom, right, top = bounds
    if left <= right:
        return [bounds]
    return [(left, bottom, 180.0, top), (-180.0, bottom, right, top)]


def _unreadable(path: str, option: str, error: Exception) -> InputError:
    """Build the one-line refusal of a layer that fiona or its CRS cannot read."""
    if path.lower().endswith(".shp") and not any(os.path.exists(path[:-4] + ext) for ext in (".shx", ".SHX")):
        return InputError(
            f"{option} {path}: the Shapefile's .shx is missing; copy all the files of the Shapefile "
            "(.shp, .shx, .dbf, .prj) into one folder, or give a GeoPackage"
        )
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return InputError(
        f"{option} {path}: cannot read it as a polygon layer ({first}); give a Shapefile, GeoPackage or GeoJSON "
        "of polygons"
    )


def polygon_layer(path: str, option: str) -> str | None:
    """Name the layer of ``path`` to read: its only polygon layer when the first layer has none, else the first.

    A GeoPackage of coastlines as lines with a land layer after them was refused as "no polygon" although the
    land the analyst meant is in it. Several polygon layers after a non-polygon first one are ambiguous.

    Returns:
        None for the first layer (a file with one layer, or a first layer of polygons).

    Raises:
        InputError: the file cannot be read, or several later layers hold polygons.
    """
    try:
        kinds = layer_geometry_types(path)
    except (fiona.errors.FionaError, OSError) as error:
        raise _unreadable(path, option, error) from None
    names = list(kinds)
    if len(names) < 2:
        return None
    polygons = [name for name in names if "Polygon" in kinds[name]]
    if not polygons or polygons[0] == names[0]:
        return None
    if len(polygons) > 1:
        raise InputError(
            f"{option} {path}: its first layer {names[0]} holds no polygons and {len(polygons)} other layers "
            f"do ({', '.join(polygons)}); save the one you mean as its own file"
        )
    log.info("%s %s: reading its polygon layer %s (the first layer, %s, holds none)", option, path, *polygons, names[0])
    return polygons[0]


def layer_contents_without_polygons(path: str, option: str) -> str | None:
    """Say what the layer holds ("12 LineString features and no polygon") when it has no polygon at all.

    This reads the whole layer's feature types, stopping at the first polygon, so a polygon layer costs one
    feature.

    Returns:
        None when the layer has a polygon somewhere; otherwise its contents in words.

    Raises:
        InputError: the file cannot be read as a vector layer.
    """
    counts: Counter[str] = Counter()
    try:
        with fiona.open(path, layer=polygon_layer(path, option)) as layer:
            for feature in layer:
                kind = feature.geometry.type if feature.geometry is not None else "empty-geometry"
                if "Polygon" in kind:
                    return None
                counts[kind] += 1
    except (fiona.errors.FionaError, OSError) as error:
        raise _unreadable(path, option, error) from None
    if not counts:
        return "no features at all"
    held = ", ".join(f"{n} {kind} feature{'' if n == 1 else 's'}" for kind, n in counts.most_common())
    return f"{held} and no polygon"


def _project(geometries: list[Any], crs: CRS, map_crs: CRS) -> list[Any]:
    """Reproject ``geometries`` from ``crs`` to the scene's map CRS, densified so their edges follow the curve."""
    out = []
    for geometry in geometries:
        dense = shapely.segmentize(geometry, max(geometry.length / 256, 1e-9))
        out.append(shape(transform_geom(crs, map_crs, mapping(dense))))
    return out


class LandSource(Protocol):
    """What :class:`LandMaskedScene` needs of a mask: land per window, and a description for the summary."""

    def land(self, window: Window) -> np.ndarray:
        """Return True where the pixel is land."""
        ...

    def describe(self) -> dict[str, Any]:
        """Mode, source and reason, for the run summary."""
        ...


class LandMaskedScene:
    """A scene whose land pixels (from a mask, widened by ``buffer_m``) read as invalid; the rest is the scene's.

    ``valid_before_land_mask`` records whether any pixel read was valid before the mask, so a run left with
    nothing to search blames the mask only when the mask removed something (an all-nodata scene on a coast is
    the file's fault, not the coastline's).
    """

    def __init__(self, scene: Scene, mask: LandSource, buffer_m: float = 0.0) -> None:
        self.scene = scene
        self.mask = mask
        self.valid_before_land_mask = False
        self.buffer_m = float(buffer_m)
        size_x, size_y = scene.info.pixel_size_m
        self._sampling = (float(size_y), float(size_x))
        self._pad = int(np.ceil(self.buffer_m / max(min(size_x, size_y), 1e-6))) if self.buffer_m > 0 else 0
        described = {**mask.describe(), "buffer_m": self.buffer_m}
        extra = {"land_mask_polygons": described["polygons"]} if "polygons" in described else {}
        self.info = replace(scene.info, metadata={**scene.info.metadata, "land_mask": described, **extra})

    def land(self, window: Window) -> np.ndarray:
        """Land in the window, widened by the shoreline buffer (land up to ``buffer_m`` outside counts)."""
        pad = self._pad
        if pad == 0:
            return self.mask.land(window)
        padded = Window(window.col_off - pad, window.row_off - pad, window.width + 2 * pad, window.height + 2 * pad)
        land = self.mask.land(padded)
        if land.any():
            land = ndimage.distance_transform_edt(~land, sampling=self._sampling) <= self.buffer_m
        return land[pad : pad + int(window.height), pad : pad + int(window.width)]

    def read_sigma0(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Read the scene's σ0 and validity, with land pixels set invalid (value 0)."""
        values, valid = self.scene.read_sigma0(window)
        if not self.valid_before_land_mask and valid.any():
            self.valid_before_land_mask = True
        land = self.land(window)
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


#: Shoreline buffer of the command line and the plugin, in metres: about the along-shore error of the OSM
#: coastline plus Sentinel-1 geolocation, and a 10 m pixel's bright coastal edge; SNAP's 'shoreline extension'.
DEFAULT_BUFFER_M = DEFAULT_LAND_BUFFER_M  # the name callers of this module know


def _skip(scene: Scene, mode: str, reason: str, **extra: Any) -> Scene:
    """Return the scene unmasked, with the reason in its metadata (and the log) so the summary says why."""
    described = {"mode": mode, "used": False, "reason": reason, **extra}
    scene.info = replace(scene.info, metadata={**scene.info.metadata, "land_mask": described})
    return scene


#: Widest shoreline buffer, in metres: the buffer is for coastline and geolocation errors (tens of metres). Each
#: window is read this much wider, so 30 km at 10 m took 1.5 GB for a 512-pixel tile, and 1e300 crashed.
MAX_LAND_BUFFER_M = 10_000.0


def check_land_buffer(buffer_m: float) -> str | None:
    """Return why ``--land-buffer-m`` is unusable (negative, not finite, over :data:`MAX_LAND_BUFFER_M`), or None."""
    if not 0 <= buffer_m <= MAX_LAND_BUFFER_M:
        return (
            f"--land-buffer-m must be 0 or more metres, at most {MAX_LAND_BUFFER_M:g}, got {buffer_m:g}; "
            "to leave out a wider coastal strip, draw it into the land polygons or use --aoi"
        )
    return None


def _check_exists(path: str) -> None:
    if not os.path.exists(path):
        raise InputError(
            f"--land-mask {path}: no such file; give a polygon layer of land (e.g. a coastline data "
            "set), auto (the global coastline) or none"
        )


def check_land_mask(path: str | os.PathLike[str] | None, buffer_m: float) -> None:
    """Refuse a land mask that cannot work without opening the scene: run before the scene is read or a model loads.

    The mask was checked only once placed on the scene, after the model had loaded (minutes, on the first ONNX
    export): a mistyped path, a layer of coastlines as lines or a negative buffer cost that wait.

    Raises:
        InputError: the buffer is out of range, or ``path`` is missing, unreadable or holds no polygon.
    """
    problem = check_land_buffer(buffer_m)
    if problem:
        raise InputError(problem)
    if path is None or os.fspath(path) in ("", "auto", "none"):
        return
    text = os.fspath(path)
    _check_exists(text)
    contents = layer_contents_without_polygons(text, "--land-mask")
    if contents is not None:
        raise _no_polygon(text, contents)


def _no_polygon(path: str, contents: str) -> InputError:
    return InputError(
        f"--land-mask {path}: holds {contents}; a land mask needs polygons of land (or use --land-mask auto)"
    )


def apply_land_mask(scene: Scene, path: str | os.PathLike[str] | None, buffer_m: float = 0.0) -> Scene:
    """Wrap ``scene`` so land is invalid; ``path`` is a polygon layer, ``"auto"`` (global coastline) or ``"none"``.

    ``None`` returns ``scene`` itself. ``"auto"`` never fails: without coordinates, without the coastline
    package or without its data the scene comes back unmasked, with a warning (for georeferenced scenes) and
    the reason in ``info.metadata["land_mask"]``.
    """
    if path is None or path == "":
        return scene
    problem = check_land_buffer(buffer_m)
    if problem:
        raise InputError(problem)
    text = os.fspath(path)
    if text == "none":
        return _skip(scene, "none", "--land-mask none")
    if text == "auto":
        return _auto(scene, buffer_m)
    _check_exists(text)
    mask = PixelPolygons(text, scene)
    if not mask.polygons:
        return _no_land_over_scene(scene, mask)
    log.info("--land-mask %s: %d polygon(s) over the scene", mask.path, len(mask.polygons))
    return LandMaskedScene(scene, mask, buffer_m)


def _no_land_over_scene(scene: Scene, mask: PixelPolygons) -> Scene:
    """Refuse a layer without any polygon; for polygons that all lie elsewhere, warn and leave the scene unmasked.

    A layer of coastlines as lines (or an empty one) is the wrong file: masking nothing and reporting the mask
    as used would let coasts come out as oil behind a report that says land was masked. Polygons elsewhere may
    be right (a regional layer, a scene offshore), but the analyst must see that nothing was masked.

    Raises:
        InputError: the layer holds no polygon at all.
    """
    contents = mask.contents_without_polygons()
    if contents is not None:
        raise _no_polygon(mask.path, contents)
    log.warning(
        "--land-mask %s: no land polygon over the scene, so no land is masked and coasts can come out as oil; "
        "check that the layer covers the scene, or use --land-mask auto",
        mask.path,
    )
    return _skip(scene, "file", f"no land polygon over the scene in {mask.path}", source=mask.path, polygons=0)


def _auto(scene: Scene, buffer_m: float) -> Scene:
    from engine.io.coastline import CoastlineMask, CoastlineUnavailable

    if not is_georeferenced(scene):
        reason = "the scene has no coordinate system, so no coastline can be placed on it"
        log.info("land mask auto: none (%s)", reason)
        return _skip(scene, "auto", reason)
    try:
        mask = CoastlineMask(scene)
    except CoastlineUnavailable as error:
        log.warning("land mask auto: detecting without a land mask: %s", error)
        return _skip(scene, "auto", str(error))
    log.info("land mask auto: %s", mask.describe()["reason"])
    return LandMaskedScene(scene, mask, buffer_m)
