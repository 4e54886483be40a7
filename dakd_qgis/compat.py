"""Names that moved between QGIS 3.22 and 3.34+ (and QGIS 4), resolved once at import.

QGIS 3.22 has the old unscoped enums (``QgsMapLayerType.RasterLayer``,
``QgsProcessingParameterNumber.Double``); later releases add scoped ones under ``Qgis``
(``Qgis.LayerType.Raster``, ``Qgis.ProcessingNumberParameterType.Double``) and QGIS 4 drops
the old names. Every other module imports the value from here instead of picking one spelling.

Notes:
    Each constant is looked up newest name first, so on 3.34+ the scoped enum is used and no
    deprecation warning is raised; on 3.22 the old name is the only one there.
"""

from __future__ import annotations

from typing import Any

import qgis.core as qgis_core
from qgis.core import Qgis


def _pick(*dotted_names: str) -> Any:
    """Return the first attribute path that exists in ``qgis.core`` (e.g. ``"Qgis.LayerType.Raster"``)."""
    for dotted in dotted_names:
        value: Any = qgis_core
        try:
            for part in dotted.split("."):
                value = getattr(value, part)
        except AttributeError:
            continue
        return value
    raise ImportError(f"none of {', '.join(dotted_names)} exists in this QGIS {Qgis.QGIS_VERSION}")


#: Layer type of raster layers, for ``addCustomActionForLayerType`` and ``layer.type()`` checks.
RASTER_LAYER_TYPE = _pick("Qgis.LayerType.Raster", "QgsMapLayerType.RasterLayer")
#: Geometry type of the spill polygons.
MULTIPOLYGON = _pick("Qgis.WkbType.MultiPolygon", "QgsWkbTypes.MultiPolygon")
NUMBER_DOUBLE = _pick("Qgis.ProcessingNumberParameterType.Double", "QgsProcessingParameterNumber.Double")
NUMBER_INTEGER = _pick("Qgis.ProcessingNumberParameterType.Integer", "QgsProcessingParameterNumber.Integer")
FILE_BEHAVIOR_FILE = _pick("Qgis.ProcessingFileParameterBehavior.File", "QgsProcessingParameterFile.File")
FILE_BEHAVIOR_FOLDER = _pick("Qgis.ProcessingFileParameterBehavior.Folder", "QgsProcessingParameterFile.Folder")
PARAMETER_FLAG_ADVANCED = _pick(
    "Qgis.ProcessingParameterFlag.Advanced", "QgsProcessingParameterDefinition.FlagAdvanced"
)
SOURCE_TYPE_POLYGON = _pick("Qgis.ProcessingSourceType.VectorPolygon", "QgsProcessing.TypeVectorPolygon")
SOURCE_TYPE_RASTER = _pick("Qgis.ProcessingSourceType.Raster", "QgsProcessing.TypeRaster")
FIELD_TYPE_ANY = _pick("Qgis.ProcessingFieldParameterDataType.Any", "QgsProcessingParameterField.Any")
POLYGON_LAYER_FILTER = _pick("Qgis.LayerFilter.PolygonLayer", "QgsMapLayerProxyModel.PolygonLayer")
TASK_CAN_CANCEL = _pick("QgsTask.Flag.CanCancel", "QgsTask.CanCancel")
SINK_FAST_INSERT = _pick("QgsFeatureSink.Flag.FastInsert", "QgsFeatureSink.FastInsert")
MESSAGE_INFO = _pick("Qgis.MessageLevel.Info", "Qgis.Info")
MESSAGE_WARNING = _pick("Qgis.MessageLevel.Warning", "Qgis.Warning")
MESSAGE_CRITICAL = _pick("Qgis.MessageLevel.Critical", "Qgis.Critical")
MESSAGE_SUCCESS = _pick("Qgis.MessageLevel.Success", "Qgis.Success")
#: Raster data type of 8-bit images (RGB photos, quick-looks) and of the plugin's own output rasters.
DATA_TYPE_BYTE = _pick("Qgis.DataType.Byte", "Qgis.Byte")
#: Colour interpretation of a band with a colour table (a class or label raster, not backscatter).
PALETTE_INDEX = _pick("Qgis.RasterColorInterpretation.PaletteIndex", "QgsRaster.PaletteIndex")
