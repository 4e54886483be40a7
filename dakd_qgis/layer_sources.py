"""The files behind QGIS layers, which is what the engine reads.

The engine opens files (rasterio, fiona), never QGIS layers: that keeps it free of QGIS and lets
it run in another thread or process. These helpers find a layer's file, or (for label polygons
drawn in a scratch layer) write one. Either way the engine must read what the analyst sees: a file
that holds something else (a whole archive for one of its members, a vector file without the
unsaved edits shown on the map) is written out first or refused, never passed on as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

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

#: A source GDAL reads through a virtual file system (``/vsicurl/``...) or a driver's own name (``NETCDF:``,
#: ``SENTINEL1_CALIB:``...), which QGIS leaves undecoded: no file on disk holds what the layer shows.
_GDAL_NAME = re.compile(r"^(?:/vsi[a-z0-9_]+/|[A-Za-z][A-Za-z0-9_]+:)")


class InputProblem(ValueError):
    """A layer or option cannot be handed to the engine; the message says what to do instead."""


def raster_file(layer: QgsRasterLayer) -> str:
    """Return the file behind a raster layer (GDAL provider), as the engine can open it.

    Only a file GDAL reads as it is, so the engine reads the same pixels: QGIS decodes a member of a zip
    (``/vsizip/a.zip/x.tif``) to the zip and a sub-dataset (``GPKG:a.gpkg:table``) to its container, which
    the engine would read as another input (a whole Sentinel-1 product for one of its TIFFs, say). The one
    member passed on is a Sentinel-1 zip's own ``manifest.safe`` (:func:`_product_zip`).

    Raises:
        InputProblem: the layer is invalid, not a file GDAL reads (WMS, memory, virtual...), read from
            inside an archive or through a GDAL driver's sub-dataset name, or its file is gone.
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
    parts = QgsProviderRegistry.instance().decodeUri("gdal", layer.source())
    if _text(parts, "vsiPrefix"):
        product = _product_zip(parts)
        if not product:
            raise _read_through_gdal(layer)
        return product
    path = _text(parts, "path") or layer.source()
    if _text(parts, "layerName") or _GDAL_NAME.match(path):
        raise _read_through_gdal(layer)
    if not Path(path).exists():
        raise InputProblem(
            tr("the file {path} of layer '{name}' no longer exists; put it back, or add it again").format(
                path=path, name=layer.name()
            )
        )
    return path


@contextmanager
def no_sidecar_files() -> Iterator[None]:
    """Open rasters in this thread without GDAL writing ``.aux.xml`` files beside them (its PAM off).

    A Processing input given as a file path becomes a layer when QGIS checks or reads the parameter, and a new
    raster layer computes band statistics for its contrast stretch, which GDAL saves beside the file when the
    layer closes (``scene.tif.aux.xml``, or ``manifest.safe.aux.xml`` inside a Sentinel-1 product): a run left
    a file in the analyst's folder. Such a layer only names the file for the engine, which opens it itself, so
    it needs nothing GDAL keeps there. Whether GDAL writes is decided when a file is opened, so only layers made
    inside the block are affected, and only in this thread: layers the map canvas opens meanwhile keep their
    ``.aux.xml``, read and written as ever.
    """
    from osgeo import gdal

    previous = gdal.GetThreadLocalConfigOption("GDAL_PAM_ENABLED", None)
    gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", "NO")
    try:
        yield
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_PAM_ENABLED", previous)


def engine_band(layer: QgsRasterLayer, band: int | None) -> int | str | None:
    """Return the ``--band`` that reads band ``band`` of ``layer`` as QGIS numbers it (None: the engine's default).

    A Sentinel-1 product's layer (its ``manifest.safe``, the ``.SAFE`` folder or the zip's manifest) numbers its
    bands as GDAL's SAFE driver lists the measurement files (VH before VV in a 1SDV product), while the engine
    counts the manifest's polarisations (VV first), so the number read the other one. Its polarisation name
    (GDAL's ``POLARIZATION`` of that band) reads the band the analyst chose. Any other raster: the number itself.
    """
    if not band:
        return None
    from osgeo import gdal

    dataset = gdal.OpenEx(layer.source(), gdal.OF_RASTER)
    if dataset is None or dataset.GetDriver().ShortName != "SAFE" or not 1 <= band <= dataset.RasterCount:
        return band
    return dataset.GetRasterBand(band).GetMetadataItem("POLARIZATION") or band


def in_local_archive(source: str) -> bool:
    """Tell whether a GDAL source is a member of an archive on disk (``/vsizip//data/a.zip/x.tif``, ``/vsitar/``...).

    QGIS loads a typed path as a layer only when it exists on disk, which such a path never does; as a layer, it
    is read or refused by :func:`raster_file` like a member of a zip added to the map.
    """
    parts = QgsProviderRegistry.instance().decodeUri("gdal", source)
    return bool(_text(parts, "vsiPrefix")) and Path(_text(parts, "path")).is_file()


def _text(parts: dict[str, Any], key: str) -> str:
    """Return one part of a decoded layer source as text ("" when absent or NULL)."""
    value = parts.get(key)
    return str(value) if value else ""


def _read_through_gdal(layer: QgsRasterLayer) -> InputProblem:
    """Say why a raster is refused that the engine would read as another input (an archive, a container)."""
    return InputProblem(
        tr(
            "layer '{name}' is read from inside an archive or through a GDAL driver; extract it, or export it "
            "to GeoTIFF (right-click ▸ Export ▸ Save As…), and use that"
        ).format(name=layer.name())
    )


def _product_zip(parts: dict[str, Any]) -> str:
    """Return the zip whose Sentinel-1 ``manifest.safe`` a layer reads in place ("" for any other member).

    A manifest stands for its whole product, in QGIS as in the engine: a layer of an unzipped
    ``manifest.safe`` already goes to the engine as the product, which reads it calibrated. The engine
    reads the downloaded zip as that same product (it opens the manifest inside), so the zip is passed
    on. Only a manifest at the top of the zip, or in its one ``.SAFE`` folder, is the product's own, and
    only a ``.zip`` name is read as a product by the engine; the engine still refuses a zip of several.
    """
    member = PurePosixPath(_text(parts, "vsiSuffix").strip("/"))
    archive = Path(_text(parts, "path"))
    if _text(parts, "vsiPrefix") != "/vsizip/" or member.name.lower() != "manifest.safe" or len(member.parts) > 2:
        return ""
    return str(archive) if archive.suffix.lower() == ".zip" and archive.is_file() else ""


def could_be_sar_scene(layer: QgsRasterLayer) -> bool:
    """Tell whether a raster layer may be a SAR scene to train on: a file, not a detection result, not an image.

    Left out: the plugin's own outputs (probability and class rasters), 8-bit colour images (RGB
    photos, quick-looks, basemaps), rasters with a colour table (class or label rasters), and layers
    that are not files (WMS, XYZ tiles). A layer read from inside an archive stays listed: choosing it
    then says, in one line, what to do (:func:`raster_file`), where leaving it out would say nothing.
    """
    if not isinstance(layer, QgsRasterLayer) or not layer.isValid() or layer.providerType() != "gdal":
        return False
    if layer.customProperty(ROLE_PROPERTY) or _is_result_file(layer):
        return False
    provider = layer.dataProvider()
    bands = range(1, layer.bandCount() + 1)
    if layer.bandCount() >= 3 and all(provider.dataType(band) == compat.DATA_TYPE_BYTE for band in bands):
        return False
    return provider.colorInterpretation(1) != compat.PALETTE_INDEX


def _is_result_file(layer: QgsRasterLayer) -> bool:
    """Tell whether a raster layer is one of the plugin's outputs, in a run folder beside its ``summary.json``."""
    try:
        path = Path(raster_file(layer))
    except InputProblem:
        return False
    outputs = {result.file_name for result in RESULT_LAYERS}
    return path.name in outputs and (path.parent / "summary.json").is_file()


def ogr_file(layer: QgsVectorLayer) -> str:
    """Return the file behind an OGR vector layer (a GeoPackage, a shapefile), or "" for any other layer.

    "" too for a layer read from inside an archive (``/vsizip/a.zip/land.shp``): QGIS decodes its path
    to the archive, which is not the layer's file.
    """
    if layer.providerType() != "ogr":
        return ""
    parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
    path = _text(parts, "path")
    return path if path and not _text(parts, "vsiPrefix") and Path(path).is_file() else ""


def file_shows_layer(layer: QgsVectorLayer) -> bool:
    """Tell whether a vector layer's file holds what QGIS shows of it, so the engine may read the file itself.

    Not so for a layer that is no plain OGR file, has a filter (a QGIS notion the file knows nothing of)
    or has unsaved edits: the analyst sees the polygons added, moved or deleted since the last save, and
    so must the engine. Such a layer is written to a file first (its features as QGIS shows them, edits
    included) rather than refused: that copy is what the analyst expects the run to use, and whether to
    save or discard the edits stays their decision, not a precondition of the run.
    """
    return bool(ogr_file(layer)) and not layer.subsetString() and not layer.isModified()


def _ogr_layer_name(layer: QgsVectorLayer) -> str:
    """Return the name of an OGR layer inside its file ("" for a file of one layer named by nothing).

    QGIS names a layer of a GeoPackage by number (``file.gpkg|layerid=1``) as often as by name; the engine takes
    ``--layer NAME`` only, and without it a file of several layers is refused (it once read the first one).
    """
    registry = QgsProviderRegistry.instance()
    parts = registry.decodeUri("ogr", layer.source())
    name = _text(parts, "layerName")
    if name or parts.get("layerId") is None:
        return name
    for details in registry.querySublayers(ogr_file(layer)):
        if details.providerKey() == "ogr" and details.layerNumber() == int(parts["layerId"]):
            return details.name()
    return ""


def vector_file(layer: QgsVectorLayer, export_dir: Path) -> tuple[str, str]:
    """Return ``(file, layer name)`` of a vector layer, writing it to a GeoPackage first if its file is not it.

    The layer's own file is used only when it holds what QGIS shows (:func:`file_shows_layer`); otherwise
    the features as shown (unsaved edits included, a filter applied) are written to ``labels.gpkg``.

    Args:
        layer: the label polygons (any provider: a file, a scratch layer, a database table).
        export_dir: where to write ``labels.gpkg`` when the layer's file is not what QGIS shows.

    Raises:
        InputProblem: the layer is invalid or cannot be written.
    """
    if layer is None or not layer.isValid():
        raise InputProblem(tr("the label layer is not valid; check that its file still exists"))
    if file_shows_layer(layer):
        return ogr_file(layer), _ogr_layer_name(layer)
    export_dir.mkdir(parents=True, exist_ok=True)
    return write_copy(layer, export_dir / "labels.gpkg", "labels"), "labels"


def write_copy(layer: QgsVectorLayer, target: Path, layer_name: str, selected_only: bool = False) -> str:
    """Write the features of ``layer`` as QGIS shows them (unsaved edits included) to a new GeoPackage.

    The layer's primary key (a GeoPackage's ``fid``) is left out and the copy numbers its features
    itself: a feature drawn but not saved holds the text "Autogenerate" there, and GDAL refused to write
    it (QGIS's own Processing copy dropped such features without a word). Every other field is kept.

    Args:
        layer: the polygons to copy.
        target: the GeoPackage to write (replaced if it exists).
        layer_name: the name of the layer inside it.
        selected_only: copy only the selected features.

    Returns:
        ``target``, as text.

    Raises:
        InputProblem: the copy cannot be written (the message names the layer and the file).
    """
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = layer_name
    options.onlySelectedFeatures = selected_only
    keys = set(layer.primaryKeyAttributes())
    options.attributes = [index for index in range(layer.fields().count()) if index not in keys]
    options.skipAttributeCreation = not options.attributes  # an empty list would mean every field, the key too
    result = QgsVectorFileWriter.writeAsVectorFormatV3(layer, str(target), QgsCoordinateTransformContext(), options)
    if result[0] != QgsVectorFileWriter.NoError:
        raise InputProblem(
            tr("cannot write the polygons of layer '{name}' to {path}: {reason}").format(
                name=layer.name(), path=target, reason=result[1]
            )
        )
    return str(target)
