"""The files behind QGIS layers, which is what the engine reads.

The engine opens files (rasterio, fiona), never QGIS layers: that keeps it free of QGIS and lets
it run in another thread or process. These helpers find a layer's file, or (for label polygons
drawn in a scratch layer) write one.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsCoordinateTransformContext,
    QgsProviderRegistry,
    QgsRasterLayer,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

from . import compat
from .layers import RESULT_LAYERS, ROLE_PROPERTY
from .translation import tr


class InputProblem(ValueError):
    """A layer or option cannot be handed to the engine; the message says what to do instead."""


def raster_file(layer: QgsRasterLayer) -> str:
    """Return the file behind a raster layer (GDAL provider), as the engine can open it.

    Raises:
        InputProblem: the layer is invalid or not a file GDAL reads (WMS, memory, virtual...).
    """
    if layer is None or not layer.isValid():
        raise InputProblem(tr("the input raster layer is not valid; check that its file still exists"))
    if layer.providerType() != "gdal":
        raise InputProblem(
            tr(
                "layer '{name}' is a {provider} layer, not a file; export it to GeoTIFF (right-click ▸ "
                "Export ▸ Save As…) and use that"
            ).format(name=layer.name(), provider=layer.providerType())
        )
    return str(QgsProviderRegistry.instance().decodeUri("gdal", layer.source()).get("path") or layer.source())


def could_be_sar_scene(layer: QgsRasterLayer) -> bool:
    """Tell whether a raster layer may be a SAR scene to train on: a file, not a detection result, not an image.

    Left out: the plugin's own outputs (probability and class rasters), 8-bit colour images (RGB
    photos, quick-looks, basemaps), rasters with a colour table (class or label rasters), and layers
    that are not files (WMS, XYZ tiles).
    """
    if not isinstance(layer, QgsRasterLayer) or not layer.isValid() or layer.providerType() != "gdal":
        return False
    if layer.customProperty(ROLE_PROPERTY):
        return False
    path = Path(raster_file(layer))
    outputs = {result.file_name for result in RESULT_LAYERS}
    if path.name in outputs and (path.parent / "summary.json").is_file():
        return False
    provider = layer.dataProvider()
    bands = range(1, layer.bandCount() + 1)
    if layer.bandCount() >= 3 and all(provider.dataType(band) == compat.DATA_TYPE_BYTE for band in bands):
        return False
    return provider.colorInterpretation(1) != compat.PALETTE_INDEX


def ogr_file(layer: QgsVectorLayer) -> str:
    """Return the file behind an OGR vector layer (a GeoPackage, a shapefile), or "" for any other layer."""
    if layer.providerType() != "ogr":
        return ""
    path = QgsProviderRegistry.instance().decodeUri("ogr", layer.source()).get("path") or ""
    return str(path) if path and Path(path).is_file() else ""


def vector_file(layer: QgsVectorLayer, export_dir: Path) -> tuple[str, str]:
    """Return ``(file, layer name)`` of a vector layer, writing it to a GeoPackage first if it is not a file.

    Args:
        layer: the label polygons (any provider: a file, a scratch layer, a database table).
        export_dir: where to write ``<layer name>.gpkg`` when the layer is not an OGR file.

    Raises:
        InputProblem: the layer is invalid or cannot be written.
    """
    if layer is None or not layer.isValid():
        raise InputProblem(tr("the label layer is not valid; check that its file still exists"))
    path = ogr_file(layer)
    parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
    if path and not parts.get("subset"):
        return path, str(parts.get("layerName") or "")
    export_dir.mkdir(parents=True, exist_ok=True)
    target = export_dir / "labels.gpkg"
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = "labels"
    result = QgsVectorFileWriter.writeAsVectorFormatV2(layer, str(target), QgsCoordinateTransformContext(), options)
    if result[0] != QgsVectorFileWriter.NoError:
        raise InputProblem(
            tr("cannot save the label layer '{name}' as {path}: {reason}").format(
                name=layer.name(), path=target, reason=result[1]
            )
        )
    return str(target), "labels"
