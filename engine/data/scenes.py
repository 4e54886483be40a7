"""Labelled user scenes: SAR rasters with label polygons (GeoPackage/Shapefile) or label rasters.

An analyst labels a few scenes in QGIS, either as polygons with a class attribute or as a label
raster, and fine-tunes on them. Rasters are opened through ``engine.io.open_scene`` (the same
reader as detection, so units and nodata are handled identically) and read tile window by tile
window, never whole.

Label polygons:
    - ``class_field`` holds each polygon's class: a class name (``oil``, ``look-alike``, ``ship``,
      ``land``, ``sea``), a class id (0-4), or any value mapped with ``class_map``
      (e.g. ``{"slick": "oil", "unsure": "ignore"}``). ``ignore`` (aliases ``unlabelled``,
      ``unlabeled``) marks areas the losses and metrics skip.
    - Pixels outside every polygon are ``background`` (``sea`` by default, or ``ignore`` when only
      part of the scene was checked, or ``not-oil`` when only oil was outlined: the rest is then
      "any class but oil", :data:`~engine.classes.NOT_OIL_INDEX`, and polygons of class
      ``background`` mean the same).
    - ``not-oil`` is also a class value of its own (e.g. ``--class-map water=not-oil``).
    - Where polygons overlap, the more specific class wins: not-oil < sea < land < look-alike < oil <
      ship < ignore.

Label rasters hold class ids (0-4, 255 = ignore); their nodata (and NaN) is ignore too, and numeric
``class_map`` values (``{"255": "oil"}``) map other values. With background ``not-oil`` a 0 means "not oil"
instead of sea: a binary mask (0 background, 1 oil) then says exactly what it knows.
    - Polygons in another CRS are reprojected to the raster's CRS.
    - A file with several polygon layers needs the layer named (fiona would read the first).

Only polygons label areas: a file of points or lines is refused (a point would label one pixel and
the background the rest), and the points and lines of a mixed file are skipped with one warning.

Errors (one line, naming the file and the fix): labels outside the raster, unknown class values,
empty label sets, label files without polygons, a label raster of another size without georeferencing
or not overlapping the scene, a label raster of only 0 and 255 (a 0/255 oil mask read as sea and ignore).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from engine.classes import IGNORE_INDEX, NOT_OIL_INDEX, OSD_CLASSES, SEA, SegClass
from engine.contract import CLASS_ALIASES, IGNORE_NAMES, NOT_OIL_NAMES
from engine.data.osd import check_ids
from engine.data.tiles import (
    TILE_SIZE_PX,
    TileSet,
    concat_tilesets,
    cut_tiles,
    empty_tileset,
    require_tiles,
    tile_origins,
)
from engine.errors import InputError
from engine.progress import Progress

log = logging.getLogger("dakd")

#: Paint order when polygons overlap: later wins.
PAINT_ORDER = ("not-oil", "sea", "land", "look-alike", "oil", "ship", "ignore")


@dataclass(frozen=True)
class LabelledScene:
    """One raster and its labels (exactly one of ``label_vector`` and ``label_raster``)."""

    raster: str
    label_vector: str | None = None
    label_raster: str | None = None
    layer: str | None = None
    band: int | str | None = None
    units: str = "auto"


@dataclass(frozen=True)
class LabelSpec:
    """How label values become classes.

    Attributes:
        class_field: polygon attribute holding the class.
        class_map: label value (as text) -> class name or ``ignore``; overrides the built-in names.
        background: class of pixels outside all polygons: ``sea``, ``ignore`` or ``not-oil`` (any class
            but oil: for labels that outline only oil; then a 0 in a label raster means not oil too).
        classes: the class scheme.
    """

    class_field: str = "class"
    class_map: dict[str, str] = field(default_factory=dict)
    background: str = "sea"
    classes: tuple[SegClass, ...] = OSD_CLASSES


def parse_class_map(items: Sequence[str]) -> dict[str, str]:
    """Parse ``VALUE=CLASS`` strings from the command line.

    Raises:
        InputError: on an item without ``=``.
    """
    mapping = {}
    for item in items:
        value, sep, name = item.partition("=")
        if not sep:
            raise InputError(f"--class-map {item!r}: write VALUE=CLASS, e.g. slick=oil or 9=ignore")
        mapping[value.strip()] = name.strip()
    return mapping


def label_text(value: Any) -> str:
    """Return a label value as ``--class-map`` names it: its text, and ``""`` for an empty (NULL) value."""
    return "" if value is None else str(value).strip()


def resolve_class(value: Any, spec: LabelSpec, source: str) -> int:
    """Return the class id (or IGNORE_INDEX) for one label value; raises InputError for unknown values."""
    text = label_text(value)
    whole = whole_number_text(value)
    names = (text, whole) if whole else (text,)
    target = next((spec.class_map[name] for name in names if name in spec.class_map), names[-1])
    lowered = target.lower()
    if lowered in IGNORE_NAMES:
        return IGNORE_INDEX
    if lowered in NOT_OIL_NAMES or (lowered == "background" and background_is_not_oil(spec)):
        return NOT_OIL_INDEX
    lowered = CLASS_ALIASES.get(lowered, lowered)
    for seg_class in spec.classes:
        if lowered == seg_class.name or lowered == str(seg_class.id):
            return seg_class.id
    valid = ", ".join(c.name for c in spec.classes)
    raise InputError(
        f"{source}: unknown class {text!r} in field {spec.class_field!r}; use one of {valid}, not-oil, ignore, "
        f"or map it with --class-map {text or 'VALUE'}=CLASS"
    )


def whole_number_text(value: Any) -> str | None:
    """Return a whole-number float label as an integer's text (``1.0`` -> ``"1"``), else None.

    A class-id field stored as decimal numbers (a Shapefile or GeoPackage "Real" field) holds 1.0 for
    oil; read as the text "1.0" it matched no class id and no ``--class-map 1=oil``.
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def raster_class_map(spec: LabelSpec) -> list[tuple[float, int]]:
    """Return the numeric ``--class-map`` values as (raster value, class id); ``slick=oil`` is for polygons only.

    Raises:
        InputError: a numeric value mapped to no class.
    """
    pairs = []
    for value in spec.class_map:
        try:
            number = float(value)
        except ValueError:
            continue
        if not np.isfinite(number):
            continue
        try:
            pairs.append((number, resolve_class(value, spec, "--class-map")))
        except InputError:
            valid = ", ".join([*(c.name for c in spec.classes), "not-oil", "ignore"])
            raise InputError(
                f"--class-map {value}={spec.class_map[value]}: no such class; map it to one of {valid}"
            ) from None
    return pairs


def background_is_not_oil(spec: LabelSpec) -> bool:
    """Return True when the background is "any class but oil" (``--background not-oil``)."""
    return spec.background.strip().lower() in NOT_OIL_NAMES


def _paint_rank(class_id: int, classes: tuple[SegClass, ...]) -> int:
    special = {IGNORE_INDEX: "ignore", NOT_OIL_INDEX: "not-oil"}
    name = special.get(class_id) or next(c.name for c in classes if c.id == class_id)
    return PAINT_ORDER.index(name) if name in PAINT_ORDER else len(PAINT_ORDER) - 1


def read_label_polygons(
    path: str | Path, spec: LabelSpec, target_crs: Any, layer: str | None = None
) -> list[tuple[Any, int]]:
    """Read polygons with their class ids, reprojected to ``target_crs``, in paint order.

    Points and lines are skipped with a warning (:func:`_polygon_features`).

    Raises:
        InputError: unreadable file, missing field, unknown classes, or no polygons (also a file of only
            points or lines).
    """
    import fiona
    from shapely.geometry import shape

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: label file not found")
    try:
        with fiona.open(path, layer=_label_layer(path, layer)) as source:
            fields = list(source.schema["properties"])
            if spec.class_field not in fields:
                raise InputError(
                    f"{path}: no field {spec.class_field!r} (fields: {', '.join(fields) or 'none'}); "
                    "pass --class-field NAME"
                )
            crs = source.crs
            features = [(shape(f["geometry"]), f["properties"][spec.class_field]) for f in source if f["geometry"]]
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001 - fiona raises many driver-specific errors
        raise InputError(f"{path}: cannot read the label polygons ({error}); use a GeoPackage or Shapefile") from None
    if not features:
        raise InputError(f"{path}: the label file has no polygons; draw at least one labelled polygon")
    features = _polygon_features(features, path)
    unknown: dict[str, int] = {}
    shapes = []
    for geometry, value in features:
        try:
            class_id = resolve_class(value, spec, str(path))
        except InputError:
            text = label_text(value)
            unknown[text] = unknown.get(text, 0) + 1
            continue
        shapes.append((geometry, class_id))
    if unknown:
        values = ", ".join(value or "(no value)" for value in sorted(unknown)[:5])
        valid = ", ".join(c.name for c in spec.classes)
        empty = " (--class-map =ignore for polygons without a value)" if "" in unknown else ""
        raise InputError(
            f"{path}: unknown class values {values} in field {spec.class_field!r}; use {valid}, not-oil or "
            f"ignore, or map them with --class-map VALUE=CLASS{empty}"
        )
    shapes = _reproject(shapes, crs, target_crs, path)
    return sorted(shapes, key=lambda item: _paint_rank(item[1], spec.classes))


def _label_layer(path: Path, layer: str | None) -> str | None:
    """Return the layer of ``path`` to read: ``layer``, or the file's one layer with geometries.

    Without a layer name fiona opens the first one, so a GeoPackage holding, say, an area-of-interest layer
    before the labels trained on the wrong polygons without a word. Tables without geometries (QGIS's
    ``layer_styles``) are no candidates.

    Raises:
        InputError: no layer ``layer``, or several layers with geometries and none named.
    """
    from engine.io.vector import layer_geometry_types

    kinds = layer_geometry_types(path)
    if layer is not None and layer not in kinds:
        raise InputError(f"{path}: no layer {layer!r} (layers: {', '.join(kinds)}); pass --layer NAME")
    if layer is not None or len(kinds) < 2:
        return layer
    spatial = [name for name, kind in kinds.items() if kind not in ("", "None")]
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        return None
    raise InputError(
        f"{path}: holds {len(spatial)} layers ({', '.join(spatial)}); pass --layer NAME for the one with the labels"
    )


#: Geometry types that label an area. Everything else (points, lines) would burn a pixel or a one-pixel trace
#: while the background class fills the area around it.
POLYGON_TYPES = ("Polygon", "MultiPolygon")


def _polygon_part(geometry: Any) -> Any | None:
    """Return the polygonal part of ``geometry`` (a collection keeps its polygons), or None when it has none."""
    from shapely.geometry import MultiPolygon

    if geometry.geom_type in POLYGON_TYPES:
        return geometry
    if geometry.geom_type != "GeometryCollection":
        return None
    polygons = [part for part in geometry.geoms if part.geom_type == "Polygon"]
    polygons += [poly for part in geometry.geoms if part.geom_type == "MultiPolygon" for poly in part.geoms]
    return MultiPolygon(polygons) if polygons else None


def _polygon_features(features: list[tuple[Any, Any]], path: Path) -> list[tuple[Any, Any]]:
    """Keep the polygons of a label file; refuse a file without any, warn once about the rest.

    Labels say what an area is. A point or a line rasterises to a pixel or a one-pixel trace, and the
    background (sea by default) fills everything around it, so a file of points would silently teach the
    scene's real spills as sea.

    Raises:
        InputError: the file holds no polygon at all.
    """
    kept = [(part, value) for part, value in ((_polygon_part(g), v) for g, v in features) if part is not None]
    skipped = sorted({g.geom_type for g, _ in features if _polygon_part(g) is None})
    if not kept:
        raise InputError(
            f"{path}: holds {', '.join(skipped)} geometries; label polygons are needed (draw the labelled "
            "areas as polygons, or give a label raster)"
        )
    if len(kept) < len(features):
        log.warning(
            "%s: %d of %d label features are not polygons (%s) and are skipped; only polygons label areas",
            path,
            len(features) - len(kept),
            len(features),
            ", ".join(skipped),
        )
    return kept


def _reproject(shapes: list[tuple[Any, int]], source_crs: Any, target_crs: Any, path: Path) -> list[tuple[Any, int]]:
    """Reproject label geometries to the raster CRS with GDAL/PROJ (``rasterio.warp.transform_geom``)."""
    from rasterio.crs import CRS
    from rasterio.warp import transform_geom
    from shapely.geometry import mapping, shape

    if not source_crs or target_crs is None:
        return shapes
    source = CRS.from_user_input(source_crs)
    target = CRS.from_user_input(target_crs)
    if source == target:
        return shapes
    log.info("%s: reprojecting labels from %s to the raster CRS %s", path.name, source.to_string(), target.to_string())
    return [(shape(transform_geom(source, target, mapping(geometry))), class_id) for geometry, class_id in shapes]


def _open_scene(scene: LabelledScene) -> Any:
    from engine.io import open_scene

    return open_scene(scene.raster, band=scene.band, units=scene.units)


def _sigma0_to_db(linear: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from engine.preprocess import from_linear

    db = from_linear(linear, "db")
    valid = valid & np.isfinite(db) & (linear > 0)
    return np.where(valid, db, 0.0).astype(np.float32), valid


def load_labelled_scenes(
    scenes: Iterable[LabelledScene],
    spec: LabelSpec,
    db_floor: float,
    tile_px: int = TILE_SIZE_PX,
    min_valid_fraction: float = 0.5,
    progress: Progress | None = None,
) -> TileSet:
    """Tile every labelled scene, window by window.

    Args:
        scenes: rasters and their labels.
        spec: class field, value mapping and background class.
        db_floor: value for invalid pixels (the lower end of the dB clip range).
        tile_px: tile side.
        min_valid_fraction: tiles with fewer valid pixels are skipped.
        progress: one step per tile window.

    Raises:
        InputError: see the module docstring.
    """
    scenes = list(scenes)
    if not scenes:
        raise InputError("no labelled scenes given; pass --scene RASTER with --labels FILE (or --label-raster)")
    parts = []
    for index, scene in enumerate(scenes):
        parts.append(
            _load_one(
                scene, f"{Path(scene.raster).stem}#{index}", spec, db_floor, tile_px, min_valid_fraction, progress
            )
        )
    source = scenes[0].raster if len(scenes) == 1 else f"{len(scenes)} labelled scenes"
    return require_tiles(concat_tilesets(parts) if parts else empty_tileset(spec.classes, tile_px), str(source))


def _load_one(
    scene: LabelledScene,
    scene_id: str,
    spec: LabelSpec,
    db_floor: float,
    tile_px: int,
    min_valid_fraction: float,
    progress: Progress | None,
) -> TileSet:
    from rasterio.windows import Window

    if (scene.label_vector is None) == (scene.label_raster is None):
        raise InputError(f"{scene.raster}: give either a label vector file or a label raster, not both or neither")
    opened = _open_scene(scene)
    try:
        label_source = _LabelSource(scene, spec, opened.info)
    except BaseException:
        opened.close()
        raise
    try:
        info = opened.info
        rows = tile_origins(info.height, tile_px, tile_px)
        cols = tile_origins(info.width, tile_px, tile_px)
        parts = []
        with (progress or Progress()).stage(f"tile {Path(scene.raster).name}", len(rows) * len(cols)) as stage:
            for row in rows:
                for col in cols:
                    window = Window(col, row, min(tile_px, info.width - col), min(tile_px, info.height - row))
                    labels = label_source.read(window)
                    if (labels != IGNORE_INDEX).any():
                        linear, valid = opened.read_sigma0(window)
                        image_db, valid = _sigma0_to_db(linear, valid)
                        part = cut_tiles(
                            image_db,
                            valid,
                            labels,
                            scene_id,
                            spec.classes,
                            db_floor,
                            tile_px,
                            min_valid_fraction=min_valid_fraction,
                        )
                        part.origins = [(row + r, col + c) for r, c in part.origins]
                        parts.append(part)
                    stage.advance()
        label_source.check_values()
    finally:
        label_source.close()
        opened.close()
    return concat_tilesets(parts) if parts else empty_tileset(spec.classes, tile_px)


def _window_transform(window: Any, transform: Any) -> Any:
    """Return the transform of a window of a grid, as ``rasterio.windows.transform`` does.

    rasterio's own multiplies with ``*``, which affine warns against (``PendingDeprecationWarning``) at every window.
    """
    from affine import Affine

    return transform @ Affine.translation(window.col_off, window.row_off)


class _LabelSource:
    """Label windows on the scene's pixel grid, from polygons or a label raster."""

    def __init__(self, scene: LabelledScene, spec: LabelSpec, info: Any) -> None:
        self.spec = spec
        self.info = info
        self.background = (
            IGNORE_INDEX
            if spec.background.lower() in IGNORE_NAMES
            else resolve_class(spec.background, spec, "--background")
        )
        self.dataset: Any = None  # the open label raster (rasterio), when the labels are one
        self.shapes: list[tuple[Any, int]] = []
        if scene.label_vector is not None:
            self._init_vector(scene)
        else:
            self._init_raster(scene)

    def _init_vector(self, scene: LabelledScene) -> None:
        from shapely.geometry import box
        from shapely.strtree import STRtree

        if self.info.crs is None:
            raise InputError(
                f"{scene.raster}: the raster has no CRS, so label polygons cannot be placed; "
                "georeference it or use a label raster"
            )
        # A LabelledScene has exactly one of label_vector and label_raster: here, the vector.
        shapes = read_label_polygons(cast(str, scene.label_vector), self.spec, self.info.crs, scene.layer)
        transform = self.info.transform
        corners = [transform @ (0, 0), transform @ (self.info.width, self.info.height)]
        bounds = box(
            min(c[0] for c in corners),
            min(c[1] for c in corners),
            max(c[0] for c in corners),
            max(c[1] for c in corners),
        )
        inside = [(g, c) for g, c in shapes if g.intersects(bounds)]
        if not inside:
            raise InputError(
                f"{scene.label_vector}: no label polygon lies inside {scene.raster}; check that the "
                "labels belong to this raster (and their CRS)"
            )
        if len(inside) < len(shapes):
            log.warning(
                "%s: %d of %d label polygons lie outside %s and are ignored",
                scene.label_vector,
                len(shapes) - len(inside),
                len(shapes),
                Path(scene.raster).name,
            )
        self.shapes = inside
        self.tree = STRtree([g for g, _ in inside])

    def _init_raster(self, scene: LabelledScene) -> None:
        import rasterio

        self._whole_labels: np.ndarray | None = None  # an off-grid label raster, warped window by window
        self.value_map = raster_class_map(self.spec)  # a bad --class-map is refused before the file is opened
        self.values: set[float] = set()  # the label values read that neither nodata nor --class-map covers
        try:
            self.dataset = rasterio.open(scene.label_raster)
        except rasterio.errors.RasterioIOError as error:
            raise InputError(f"{scene.label_raster}: cannot open the label raster ({error})") from None
        same_grid = (self.dataset.width, self.dataset.height) == (self.info.width, self.info.height) and (
            self.dataset.crs is None
            or self.info.crs is None
            or (self.dataset.crs == self.info.crs and self.dataset.transform.almost_equals(self.info.transform))
        )
        if not same_grid and (self.dataset.crs is None or self.info.crs is None):
            raise InputError(
                f"{scene.label_raster}: the label raster is {self.dataset.width}x{self.dataset.height} "
                f"but {scene.raster} is {self.info.width}x{self.info.height} and one has no "
                "georeferencing; export the labels on the raster's grid"
            )
        self.same_grid = same_grid
        self.label_path = cast(str, scene.label_raster)  # the one label source when there is no label_vector
        if not same_grid:
            try:
                self._check_overlap(scene)
            except InputError:
                self.dataset.close()
                raise

    def _check_overlap(self, scene: LabelledScene) -> None:
        """Refuse a label raster on another grid that does not cover any of the scene (one line naming both)."""
        from rasterio.coords import disjoint_bounds
        from rasterio.warp import transform_bounds

        bounds = transform_bounds(self.dataset.crs, self.info.crs, *self.dataset.bounds)
        transform = self.info.transform
        corners = [transform @ (0, 0), transform @ (self.info.width, self.info.height)]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        if disjoint_bounds(bounds, (min(xs), min(ys), max(xs), max(ys))):
            raise InputError(
                f"{scene.label_raster}: the label raster does not overlap {scene.raster}; check that the labels "
                "belong to this raster (and their CRS)"
            )

    def check_values(self) -> None:
        """Refuse a label raster that holds only 0 and 255, once all of it was read.

        255 means ignore, so a binary mask saved 0/255 (as SOS masks and many tools write oil) read as sea
        with its oil left out, and trained a model that had never seen oil, without a word.

        Raises:
            InputError: the one line naming the file and both ways to say what 255 means.
        """
        if self.dataset is not None and self.values == {0, IGNORE_INDEX}:
            raise InputError(
                f"{self.label_path}: holds only 0 and {IGNORE_INDEX}, and {IGNORE_INDEX} means ignore, so nothing "
                f"is oil; for a 0/{IGNORE_INDEX} oil mask pass --class-map {IGNORE_INDEX}=oil (with --background "
                f"not-oil), or --class-map {IGNORE_INDEX}=ignore if it marks unlabelled pixels"
            )

    def read(self, window: Any) -> np.ndarray:
        """Class ids for one window of the scene grid (IGNORE_INDEX where unlabelled)."""
        if self.dataset is None:
            return self._rasterize(window)
        return self._read_raster(window)

    def _rasterize(self, window: Any) -> np.ndarray:
        from rasterio.features import rasterize
        from shapely.geometry import Polygon

        shape = (int(window.height), int(window.width))
        transform = _window_transform(window, self.info.transform)
        area = Polygon([transform @ corner for corner in ((0, 0), (shape[1], 0), (shape[1], shape[0]), (0, shape[0]))])
        hits = sorted(int(i) for i in self.tree.query(area))
        if not hits and self.background == IGNORE_INDEX:
            return np.full(shape, IGNORE_INDEX, np.uint8)
        shapes = [self.shapes[i] for i in hits]  # already in paint order: indices are sorted
        out = np.full(shape, self.background, np.uint8)
        if shapes:
            rasterize(shapes, out=out, transform=transform, all_touched=False)
        return out

    def _read_raster(self, window: Any) -> np.ndarray:
        from rasterio.warp import Resampling, reproject

        if self.same_grid:
            return self._class_ids(self.dataset.read(1, window=window), self.dataset.nodata)
        if self._whole_labels is None:  # read once per scene, not once per window
            self._whole_labels = self._class_ids(self.dataset.read(1), self.dataset.nodata)
        data = np.full((int(window.height), int(window.width)), IGNORE_INDEX, np.uint8)
        reproject(
            self._whole_labels,
            data,
            src_transform=self.dataset.transform,
            src_crs=self.dataset.crs,
            dst_transform=_window_transform(window, self.info.transform),
            dst_crs=self.info.crs,
            resampling=Resampling.nearest,
            src_nodata=IGNORE_INDEX,
            dst_nodata=IGNORE_INDEX,
        )
        return data

    def _class_ids(self, data: np.ndarray, nodata: float | None) -> np.ndarray:
        """Class ids of label raster values: nodata (and NaN) is ignore, ``--class-map`` values are mapped.

        Ids are made before any warping, in the raster's own type: a cast to uint8 first wrapped 16-bit
        values and a nodata of -9999 made the warp fail.

        Raises:
            InputError: values that are no class id, nodata nor mapped, or not whole numbers (naming the file).
        """
        labelled = np.isfinite(data) if data.dtype.kind == "f" else np.ones(data.shape, bool)
        if nodata is not None and not np.isnan(nodata):
            labelled &= data != nodata
        values = data[labelled]
        fractions = values[values % 1 != 0] if data.dtype.kind == "f" else values[:0]
        if fractions.size:  # 1.5 was cut to 1 (oil) without a word
            raise InputError(
                f"{self.label_path}: holds values that are not whole numbers (e.g. {fractions[0]:g}), and a label "
                "raster holds class ids; give class ids (0 sea, 1 oil, 2 look-alike, 3 ship, 4 land, 255 ignore)"
            )
        ids = np.full(data.shape, IGNORE_INDEX, np.int64)
        ids[labelled] = values
        mapped = np.zeros(data.shape, bool)
        for value, class_id in self.value_map:
            hit = data == value
            ids[hit] = class_id
            mapped |= hit
        rest = labelled & ~mapped
        if self.values <= {0, IGNORE_INDEX}:  # all check_values needs to know; np.unique is not free
            self.values.update(np.unique(data[rest]).tolist())
        fix = "fix the label raster or map them with --class-map VALUE=CLASS"
        check_ids(np.where(mapped, IGNORE_INDEX, ids), self.spec.classes, Path(self.label_path), fix)
        if self.background == NOT_OIL_INDEX:  # a binary mask's 0 is background, which says only "not oil"
            ids[rest & (ids == SEA.id)] = NOT_OIL_INDEX
        return ids.astype(np.uint8)

    def close(self) -> None:
        """Close the label raster, if one is open."""
        if self.dataset is not None:
            self.dataset.close()
