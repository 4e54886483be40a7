"""Writing the detection polygons to a GeoPackage with fiona.

The layer schema is part of the engine's public interface: the QGIS plugin styles the layer by
``class`` and shows these fields; docs/reference/outputs.md documents each one. An empty result is a
valid GeoPackage with the layer and 0 features.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import fiona
from rasterio.crs import CRS
from shapely.geometry import MultiPolygon, Polygon, mapping

#: Layer name inside ``spills.gpkg``.
SPILLS_LAYER = "spills"
#: Field name → fiona type, in the order they appear in the attribute table.
SPILL_FIELDS: dict[str, str] = {
    "id": "int",
    "class": "str:16",
    "area_km2": "float",
    "perimeter_km": "float",
    "length_km": "float",
    "width_km": "float",
    "orientation_deg": "float",
    "ship_length_m": "float",  # estimated hull length of ships (engine.vectorize.ship_length_m); null for oil
    "mean_prob": "float",
    "max_prob": "float",
    "confidence": "str:1",
    "contrast_db": "float",
    # Wind around oil and look-alikes (engine.wind): CMOD5.N on the background sigma0; null for ships and DN inputs.
    "wind_speed_ms": "float",  # with --wind-dir and a known look direction; else null
    "wind_speed_min_ms": "float",  # range over wind directions (equal to wind_speed_ms when that is known)
    "wind_speed_max_ms": "float",
    "wind_flag": "str:48",  # low or strong wind (engine.wind.LOW_WIND_FLAG / STRONG_WIND_FLAG), else null
    "incidence_deg": "float",  # incidence used (annotation, or the assumed one for plain rasters)
    # Possible source of an oil polygon (engine.sources): the nearest ship within reach of either end.
    "source_id": "int",
    "source_distance_km": "float",
    "source_bearing_deg": "float",  # from the slick's end to the ship, clockwise from north
    "near_spill_id": "int",  # ships: the oil polygon this ship may be the source of
    "centroid_lat": "float",
    "centroid_lon": "float",
    "pixels": "int",
    "source_scene": "str",
    "acquisition_time": "str:32",  # scene start time (UTC, ISO 8601) where the input says (Sentinel-1 products)
    "detector": "str:32",
    "model_id": "str",
    "run_time": "str:32",
}
SPILL_SCHEMA = {"geometry": "MultiPolygon", "properties": SPILL_FIELDS}
#: Records handed to fiona at once.
WRITE_CHUNK = 500


def layer_geometry_types(path: str | os.PathLike[str]) -> dict[str, str]:
    """Return each layer of a vector file, in the file's order, with the geometry type its schema declares.

    ``""`` or ``"None"`` for a table without geometries (QGIS's ``layer_styles``). Which layer to read when a file
    holds several is the caller's rule (labels: the one named or the only one; a land mask: the first with polygons).

    Raises:
        fiona.errors.FionaError, OSError: the file cannot be read as a vector data set.
    """
    kinds = {}
    for name in fiona.listlayers(path):
        with fiona.open(path, layer=name) as layer:
            kinds[name] = str(layer.schema.get("geometry") or "")
    return kinds


def write_polygons(
    path: str | os.PathLike[str],
    records: Iterable[tuple[Polygon | MultiPolygon, dict[str, Any]]],
    crs: CRS | None,
    layer: str = SPILLS_LAYER,
) -> int:
    """Write ``(geometry, properties)`` records to a new GeoPackage layer, streaming in chunks.

    Args:
        path: the ``.gpkg`` to create (normally inside an atomic output directory).
        records: polygons in the output CRS with properties keyed like :data:`SPILL_FIELDS`.
        crs: the layer CRS, or None for pixel coordinates.
        layer: layer name.

    Returns:
        The number of features written (0 still creates the layer).
    """
    options: dict[str, Any] = {"driver": "GPKG", "layer": layer, "schema": SPILL_SCHEMA}
    if crs is not None:
        options["crs_wkt"] = crs.to_wkt()
    written = 0
    with fiona.open(os.fspath(path), "w", **options) as sink:
        chunk = []
        for geometry, properties in records:
            multi = geometry if isinstance(geometry, MultiPolygon) else MultiPolygon([geometry])
            # Fields a record does not set (e.g. acquisition_time of a plain GeoTIFF) are written as null.
            chunk.append({"geometry": mapping(multi), "properties": {**dict.fromkeys(SPILL_FIELDS), **properties}})
            if len(chunk) == WRITE_CHUNK:
                sink.writerecords(chunk)
                written += len(chunk)
                chunk = []
        if chunk:
            sink.writerecords(chunk)
            written += len(chunk)
    return written
