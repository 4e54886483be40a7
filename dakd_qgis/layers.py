"""How a detection's results appear in the project, the same from Processing and from the right-click action.

One group *Oil spills – <scene>* at the top of the Layers panel holds the polygons (on top), the oil
probability and the class raster (unchecked, so it does not hide the probability). The styles are
QML files in ``resources/styles`` (made by ``make_styles.py`` from the engine's class colours):
polygons by class with "oil 2.31 km²" labels, the oil probability as a ramp from transparent to
red (legend 0–1), the class raster with the OSD palette.

Notes:
    ``probability.tif`` has one band per detector class, named after the class; the style shows
    band 2 (oil in both class schemes) and :func:`styled_layer` re-points it to the band named
    ``oil`` in case a model orders its classes differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qgis.core import QgsLayerTreeGroup, QgsLayerTreeLayer, QgsMapLayer, QgsProject, QgsRasterLayer, QgsVectorLayer

from .paths import style_path
from .translation import tr

#: Custom property of a result's layer-tree node: which output it is (keeps the order in the group).
ROLE_PROPERTY = "dakd_oilspill/role"


@dataclass(frozen=True)
class ResultLayer:
    """One output of a run as the project shows it."""

    role: str  # the style name too: spills, probability, classes
    file_name: str
    visible: bool

    @property
    def title(self) -> str:
        """The layer's name in the Layers panel."""
        return {"spills": tr("Oil spill polygons"), "probability": tr("Oil probability"), "classes": tr("Classes")}[
            self.role
        ]


#: The outputs in their order in the group, top first.
RESULT_LAYERS = (
    ResultLayer("spills", "spills.gpkg", True),
    ResultLayer("probability", "probability.tif", True),
    ResultLayer("classes", "classes.tif", False),
)
_ORDER = [result.role for result in RESULT_LAYERS]


def styled_layer(layer: QgsMapLayer, style: str) -> QgsMapLayer:
    """Apply ``resources/styles/<style>.qml`` to ``layer``; raise ``ValueError`` if the layer is not valid."""
    if not layer.isValid():
        raise ValueError(tr("cannot open {source} as a layer").format(source=layer.source()))
    message, ok = layer.loadNamedStyle(str(style_path(style)))
    if not ok:
        raise ValueError(tr("cannot apply style {style}: {reason}").format(style=style, reason=message))
    if style == "probability":
        # GDAL band descriptions show as "Band 2: oil" (the engine names each band after its class).
        oil_band = next(
            (band for band in range(1, layer.bandCount() + 1) if layer.bandName(band).split(": ", 1)[-1] == "oil"), None
        )
        if oil_band is not None and hasattr(layer.renderer(), "setBand"):
            layer.renderer().setBand(oil_band)
    return layer


def new_result_group(project: QgsProject, source_name: str) -> QgsLayerTreeGroup:
    """Add the empty group *Oil spills – <source_name>* at the top of the Layers panel."""
    return project.layerTreeRoot().insertGroup(0, tr("Oil spills – {name}").format(name=source_name))


def show_result_layer(
    project: QgsProject, group: QgsLayerTreeGroup, layer: QgsMapLayer, role: str
) -> QgsLayerTreeLayer:
    """Style ``layer`` as the output ``role`` and put it in ``group`` at its place, checked or not.

    A layer already in the project (Processing adds its outputs before calling the plugin) is moved
    into the group; another is added. Raises ``ValueError`` if the layer is not valid.
    """
    result = RESULT_LAYERS[_ORDER.index(role)]
    styled_layer(layer, role)
    layer.setName(result.title)
    layer.setCustomProperty(ROLE_PROPERTY, role)  # e.g. so the fine-tune window does not offer it as a scene
    old_node = None
    if project.mapLayer(layer.id()) is None:
        project.addMapLayer(layer, False)
    else:
        old_node = project.layerTreeRoot().findLayer(layer.id())
    position = sum(
        1
        for child in group.children()
        if child.customProperty(ROLE_PROPERTY) in _ORDER
        and _ORDER.index(child.customProperty(ROLE_PROPERTY)) < _ORDER.index(role)
    )
    node = group.insertLayer(position, layer)
    node.setCustomProperty(ROLE_PROPERTY, role)
    node.setItemVisibilityChecked(result.visible)
    if old_node is not None and old_node.parent() is not None:
        # Only now: a layer whose last tree node goes is removed from the project by QGIS.
        old_node.parent().removeChildNode(old_node)
    return node


def add_detection_layers(run_dir: Path, source_name: str, project: QgsProject) -> QgsLayerTreeGroup:
    """Add a run's polygons, probability and class rasters to ``project`` in a new top group.

    Args:
        run_dir: the engine's output folder (``spills.gpkg``, ``probability.tif``, ``classes.tif``).
        source_name: name of the analysed layer, used in the group name.
        project: the project to add to.

    Returns:
        The group ``"Oil spills – <source_name>"`` holding the three layers, polygons on top.
    """
    layers = []
    for result in RESULT_LAYERS:
        path = run_dir / result.file_name
        layer = (
            QgsVectorLayer(f"{path}|layername=spills", result.title, "ogr")
            if result.role == "spills"
            else QgsRasterLayer(str(path), result.title)
        )
        styled_layer(layer, result.role)  # all three readable before anything is added
        layers.append((layer, result.role))
    group = new_result_group(project, source_name)
    for layer, role in layers:
        show_result_layer(project, group, layer, role)
    return group
