"""Turning a detection output folder into styled layers in a layer group.

The styles are QML files in ``resources/styles`` (made by ``make_styles.py`` from the engine's class
colours): polygons by class with "oil 2.31 km²" labels, the oil probability as a ramp from
transparent to red, and the class raster with the OSD palette (added unchecked).

Notes:
    ``probability.tif`` has one band per detector class, named after the class; the style shows
    band 2 (oil in both class schemes) and :func:`styled_layer` re-points it to the band named
    ``oil`` in case a model orders its classes differently.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsLayerTreeGroup, QgsMapLayer, QgsProject, QgsRasterLayer, QgsVectorLayer

from .paths import style_path


def styled_layer(layer: QgsMapLayer, style: str) -> QgsMapLayer:
    """Apply ``resources/styles/<style>.qml`` to ``layer``; raise ``ValueError`` if the layer is not valid."""
    if not layer.isValid():
        raise ValueError(f"cannot open {layer.source()} as a layer")
    message, ok = layer.loadNamedStyle(str(style_path(style)))
    if not ok:
        raise ValueError(f"cannot apply style {style}: {message}")
    if style == "probability":
        # GDAL band descriptions show as "Band 2: oil" (the engine names each band after its class).
        oil_band = next((band for band in range(1, layer.bandCount() + 1)
                         if layer.bandName(band).split(": ", 1)[-1] == "oil"), None)
        if oil_band is not None and hasattr(layer.renderer(), "setBand"):
            layer.renderer().setBand(oil_band)
    return layer


def add_detection_layers(run_dir: Path, source_name: str, project: QgsProject) -> QgsLayerTreeGroup:
    """Add a run's polygons, probability and class rasters to ``project`` in a new top group.

    Args:
        run_dir: the engine's output folder (``spills.gpkg``, ``probability.tif``, ``classes.tif``).
        source_name: name of the analysed layer, used in the group name.
        project: the project to add to.

    Returns:
        The group ``"Oil spills – <source_name>"`` holding the three layers, polygons on top.
    """
    layers = [
        (styled_layer(QgsVectorLayer(f"{run_dir / 'spills.gpkg'}|layername=spills", "Oil spill polygons", "ogr"),
                      "spills"), True),
        (styled_layer(QgsRasterLayer(str(run_dir / "probability.tif"), "Oil probability"), "probability"), True),
        (styled_layer(QgsRasterLayer(str(run_dir / "classes.tif"), "Classes"), "classes"), False),
    ]
    group = project.layerTreeRoot().insertGroup(0, f"Oil spills – {source_name}")
    for layer, visible in layers:
        project.addMapLayer(layer, False)
        group.addLayer(layer).setItemVisibilityChecked(visible)
    return group
