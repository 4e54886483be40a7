"""Small helpers shared by the plugin's Processing algorithms."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from qgis.core import QgsMapLayer, QgsProcessingContext, QgsProcessingUtils, QgsRasterLayer

from ..layer_sources import in_local_archive, no_sidecar_files
from ..translation import tr


def optional_value(parameters: dict[str, Any], key: str, value: Any) -> Any:
    """Return None for an optional number left empty (``parameterAsInt``/``Double`` would give 0), else ``value``."""
    return None if parameters.get(key) in (None, "") else value


def sentence(message: str, empty: str = "") -> str:
    """Turn an engine message (a lower-case one-liner) into the sentence Processing shows.

    A message that ends with an ellipsis (most end on the menu item "Settings…") gets no full stop after it.
    """
    message = message.strip()
    if not message:
        return empty or tr("The run failed.")
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?", "…")) else message + "."


def feedback_log(feedback: Any) -> Callable[[str, str], None]:
    """Return a sink for engine log events that shows each at its level in the Processing log.

    Errors go to ``reportError`` (not fatal: the run's end says whether it failed), warnings to ``pushWarning``
    (the fine-tune algorithms once showed them as plain information), the rest to ``pushInfo``.
    """

    def log(level: str, message: str) -> None:
        if level == "error":
            feedback.reportError(message, False)
        elif level == "warning":
            feedback.pushWarning(message)
        else:
            feedback.pushInfo(message)

    return log


def raster_from_string(value: Any, context: QgsProcessingContext) -> QgsMapLayer | None:
    """Return the raster layer a Processing value names (a project layer, or a file path loaded now), or None.

    A path is loaded as a raster only, without GDAL writing beside it (:func:`.layer_sources.no_sidecar_files`),
    and kept in the context, where QGIS's own look-ups of the same value find it. QGIS itself tries a path as a
    vector first, and OGR's GML reader then opened a Sentinel-1 ``manifest.safe`` and wrote ``manifest.gfs``
    into the analyst's product. A member of an archive (``/vsizip/<zip>/<product>.SAFE/manifest.safe``), which
    QGIS does not load from a path since no such file is on disk, is loaded here as a GDAL layer: it is then read
    or refused as the same layer added to the map is (:func:`.layer_sources.raster_file`), not called missing.
    """
    if not isinstance(value, str) or not value:
        return None
    with no_sidecar_files():
        layer = QgsProcessingUtils.mapLayerFromString(value, context, True, QgsProcessingUtils.LayerHint.Raster)
        if layer is None and in_local_archive(value):
            layer = QgsRasterLayer(value, PurePosixPath(value).stem, "gdal")
            if not layer.isValid():
                return None
            context.temporaryLayerStore().addMapLayer(layer)
    return layer
