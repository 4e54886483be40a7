"""Processing algorithm "Detect oil spills" (``dakd:detectoilspills``).

It runs ``dakd detect`` (a thin wrapper over ``engine.detect.run_detection``, the function the
right-click action uses too) in a child process writing into a private temporary folder; only when
the run has succeeded are the results copied to the destinations QGIS gave (feature sink, two
rasters). A failed or cancelled run therefore leaves no output behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsFeature,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterBand,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingUtils,
    QgsRasterFileWriter,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QIcon

from .. import compat
from ..detection import (
    DEFAULT_MIN_AREA_KM2,
    DEFAULT_OVERLAP_PX,
    METHOD_CHOICES,
    UNITS_CHOICES,
    DetectOutcome,
    DetectRequest,
    make_request,
    progress_reporter,
    run_detect,
    summary_sentence,
)
from ..engine_command import EngineRunError
from ..layer_sources import InputProblem, raster_file
from ..layers import styled_layer
from ..paths import icon_path
from ..settings import DEVICES, PluginSettings
from .common import optional_value, sentence

HELP = """<p>Finds oil spills, look-alikes and ships in a Sentinel-1 SAR scene and returns them as polygons,
with an oil probability raster and a class raster.</p>
<h3>Input</h3>
<p><b>SAR raster layer</b>: a single-polarisation backscatter raster (VV is best), as linear sigma0, dB, or
uncalibrated amplitude/intensity DN. <b>Sentinel-1 product</b> may be given instead: a GRD
<code>.SAFE</code> folder's <code>manifest.safe</code> or the downloaded <code>.zip</code>; it is calibrated to
sigma0 on the fly. Geographic rasters (EPSG:4326) are fine: areas are computed in metres.</p>
<p><b>Band</b>: the band to analyse; empty takes the only band, or the one named VV. <b>Input units</b>:
<i>auto</i> reads them from the file's metadata (and guesses from the value range when it has none); set them
when you know better.</p>
<h3>Method and model</h3>
<p><b>Model card</b>: a SAROSS-Net model (.json with its .safetensors weights). Empty: the default model
(Settings…), or the model shipped with the plugin. <b>Method</b>: <i>auto</i> uses the model when one is
available and the classical adaptive-threshold detector otherwise; <i>threshold</i> needs no model and
only finds dark spots (oil and look-alikes are not told apart).</p>
<p><b>Device</b>: <i>auto</i> uses a CUDA GPU when torch sees one, else the CPU; the log says which and
why.</p>
<h3>Tiling and filtering</h3>
<p><b>Tile overlap</b>: pixels shared by neighbouring 256x256 tiles; more overlap gives smoother seams
and takes longer; it is raised automatically when the detector needs more context. <b>Minimum area</b>:
oil and look-alike regions smaller than this are dropped (km²; ships are kept from a few pixels).
<b>Probability threshold</b> (advanced): when set, a pixel only becomes oil, look-alike or ship if that
class's probability reaches it; empty takes the most probable class. <b>Batch size</b> (advanced): tiles
per step; empty lets the detector choose, and a GPU that runs out of memory halves it by itself.</p>
<h3>Outputs</h3>
<p><b>Oil spill polygons</b>: one feature per connected region, with its class (oil, look-alike, ship),
area and size in km, mean and maximum probability, a confidence letter, centroid, and the scene, detector
and model it came from. <b>Class probabilities</b>: one byte band per class (band names say which; oil is
band 2), value = probability × 250, 255 = no data; it is styled to show the oil band. <b>Classes</b>: 0 sea,
1 oil, 2 look-alike, 3 ship, 4 land, 255 no data.</p>
<p>Cancel stops the run within one batch of tiles and writes nothing.</p>"""


class DetectOilSpillsAlgorithm(QgsProcessingAlgorithm):
    """Detect oil spills in a SAR raster or Sentinel-1 product (the engine's ``run_detection``)."""

    INPUT = "INPUT"
    PRODUCT = "PRODUCT"
    BAND = "BAND"
    UNITS = "UNITS"
    MODEL = "MODEL"
    METHOD = "METHOD"
    DEVICE = "DEVICE"
    OVERLAP_PX = "OVERLAP_PX"
    MIN_AREA_KM2 = "MIN_AREA_KM2"
    PROB_THRESHOLD = "PROB_THRESHOLD"
    BATCH_SIZE = "BATCH_SIZE"
    OUTPUT = "OUTPUT"
    PROBABILITY = "PROBABILITY"
    CLASSES = "CLASSES"

    def name(self) -> str:  # noqa: D102 - QGIS API
        return "detectoilspills"

    def displayName(self) -> str:  # noqa: N802, D102 - QGIS API
        return "Detect oil spills"

    def shortDescription(self) -> str:  # noqa: N802, D102 - QGIS API
        return "Oil spill, look-alike and ship polygons from a Sentinel-1 SAR scene."

    def shortHelpString(self) -> str:  # noqa: N802, D102 - QGIS API
        return HELP

    def icon(self) -> QIcon:  # noqa: D102 - QGIS API
        return QIcon(icon_path("detect"))

    def tags(self) -> list[str]:  # noqa: D102 - QGIS API
        return ["oil", "spill", "sar", "sentinel-1", "radar", "segmentation", "ship", "look-alike", "dakd"]

    def createInstance(self) -> DetectOilSpillsAlgorithm:  # noqa: N802, D102 - QGIS API
        return DetectOilSpillsAlgorithm()

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802, D102 - QGIS API
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, "SAR raster layer", optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.PRODUCT, "…or a Sentinel-1 GRD product (manifest.safe or .zip)", compat.FILE_BEHAVIOR_FILE,
            optional=True, fileFilter="Sentinel-1 products (manifest.safe *.zip *.SAFE);;All files (*)"))
        self.addParameter(QgsProcessingParameterBand(self.BAND, "Band (empty: the only band, or VV)", None,
                                                     self.INPUT, optional=True))
        self.addParameter(QgsProcessingParameterEnum(self.UNITS, "Input units", list(UNITS_CHOICES), defaultValue=0))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, "Model card (empty: the default model)", compat.FILE_BEHAVIOR_FILE, extension="json",
            optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.METHOD, "Method", ["auto (model if available, else threshold)", "model (SAROSS-Net)",
                                    "threshold (classical, no model)"], defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum(self.DEVICE, "Device", list(DEVICES), defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.OVERLAP_PX, "Tile overlap (pixels)", compat.NUMBER_INTEGER, DEFAULT_OVERLAP_PX, minValue=0,
            maxValue=192))
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_AREA_KM2, "Minimum area (km²)", compat.NUMBER_DOUBLE, DEFAULT_MIN_AREA_KM2, minValue=0.0))
        advanced = [
            QgsProcessingParameterNumber(self.PROB_THRESHOLD, "Probability threshold (empty: most probable class)",
                                         compat.NUMBER_DOUBLE, None, optional=True, minValue=0.01, maxValue=1.0),
            QgsProcessingParameterNumber(self.BATCH_SIZE, "Batch size (tiles per step; empty: automatic)",
                                         compat.NUMBER_INTEGER, None, optional=True, minValue=1, maxValue=256),
        ]
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | compat.PARAMETER_FLAG_ADVANCED)
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Oil spill polygons", compat.SOURCE_TYPE_POLYGON))
        self.addParameter(QgsProcessingParameterRasterDestination(self.PROBABILITY, "Class probabilities"))
        self.addParameter(QgsProcessingParameterRasterDestination(self.CLASSES, "Classes"))

    def checkParameterValues(self, parameters: dict[str, Any],  # noqa: N802, D102 - QGIS API
                             context: QgsProcessingContext) -> tuple[bool, str]:
        has_layer = parameters.get(self.INPUT) not in (None, "")
        has_product = parameters.get(self.PRODUCT) not in (None, "")
        if not has_layer and not has_product:
            return False, "Choose a SAR raster layer or a Sentinel-1 product."
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,  # noqa: N802, D102
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        settings = PluginSettings.load()
        work_dir = Path(tempfile.mkdtemp(prefix="dakd-detect-", dir=QgsProcessingUtils.tempFolder()))
        try:
            request = self._request(parameters, context, settings, work_dir / "run")
            outcome = _run_with_feedback(request, settings, feedback)
            feedback.pushInfo(f"Found {summary_sentence(outcome)}.")
            if feedback.isCanceled():
                raise QgsProcessingException("Cancelled by the user; no output was written.")
            return self._write_outputs(outcome, parameters, context)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)

    def _request(self, parameters: dict[str, Any], context: QgsProcessingContext, settings: PluginSettings,
                 out_dir: Path) -> DetectRequest:
        product = self.parameterAsFile(parameters, self.PRODUCT, context)
        try:
            if product:
                if not Path(product).exists():
                    raise InputProblem(f"Sentinel-1 product {product} does not exist")
                input_path = product
            else:
                layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
                if layer is None:
                    raise InputProblem(f"cannot open the input raster {parameters.get(self.INPUT)!r}; "
                                       "check the path or choose a layer")
                input_path = raster_file(layer)
            return make_request(
                input_path, out_dir, settings,
                band=self.parameterAsInt(parameters, self.BAND, context) or None,
                units=UNITS_CHOICES[self.parameterAsEnum(parameters, self.UNITS, context)],
                method=METHOD_CHOICES[self.parameterAsEnum(parameters, self.METHOD, context)],
                model_path=self.parameterAsFile(parameters, self.MODEL, context),
                device=DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)],
                overlap_px=self.parameterAsInt(parameters, self.OVERLAP_PX, context),
                min_area_km2=self.parameterAsDouble(parameters, self.MIN_AREA_KM2, context),
                prob_threshold=optional_value(parameters, self.PROB_THRESHOLD, self.parameterAsDouble(
                    parameters, self.PROB_THRESHOLD, context)),
                batch_size=optional_value(parameters, self.BATCH_SIZE, self.parameterAsInt(
                    parameters, self.BATCH_SIZE, context)),
            )
        except InputProblem as error:
            raise QgsProcessingException(sentence(str(error))) from error

    def _write_outputs(self, outcome: DetectOutcome, parameters: dict[str, Any],
                       context: QgsProcessingContext) -> dict[str, Any]:
        run_dir = outcome.out_dir
        spills = QgsVectorLayer(f"{run_dir / 'spills.gpkg'}|layername=spills", "spills", "ogr")
        if not spills.isValid():
            raise QgsProcessingException(f"The engine wrote no readable spills.gpkg in {run_dir}.")
        sink_path = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if os.path.isabs(sink_path):  # a file; QGIS does not create missing folders for sinks
            Path(sink_path).parent.mkdir(parents=True, exist_ok=True)
        sink, sink_id = self.parameterAsSink(parameters, self.OUTPUT, context, spills.fields(),
                                             compat.MULTIPOLYGON, spills.crs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        for feature in spills.getFeatures():
            copy = QgsFeature(spills.fields())
            copy.setAttributes(feature.attributes())
            copy.setGeometry(feature.geometry())
            sink.addFeature(copy, compat.SINK_FAST_INSERT)
        results = {self.OUTPUT: sink_id}
        for key, name in ((self.PROBABILITY, "probability.tif"), (self.CLASSES, "classes.tif")):
            destination = self.parameterAsOutputLayer(parameters, key, context)
            _replace_raster(run_dir / name, Path(destination))
            results[key] = destination
        _style_on_load(context, sink_id, "spills")
        _style_on_load(context, results[self.PROBABILITY], "probability")
        _style_on_load(context, results[self.CLASSES], "classes")
        return results


def _run_with_feedback(request: DetectRequest, settings: PluginSettings,
                       feedback: QgsProcessingFeedback) -> DetectOutcome:
    def log(level: str, message: str) -> None:
        if level in ("warning", "error"):
            feedback.reportError(message, False)
        else:
            feedback.pushInfo(message)

    sink = progress_reporter(feedback.setProgress, feedback.setProgressText, log)
    try:
        return run_detect(request, settings.python_executable(), sink, feedback.pushConsoleInfo, feedback.isCanceled)
    except EngineRunError as error:
        raise QgsProcessingException(sentence(str(error))) from error


def _replace_raster(source: Path, destination: Path) -> None:
    """Put a copy of ``source`` at ``destination`` in one rename, translating with GDAL for non-GeoTIFF names."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.stem}.partial{destination.suffix}")
    try:
        if destination.suffix.lower() in (".tif", ".tiff"):
            shutil.copyfile(source, partial)
        else:
            from osgeo import gdal

            driver = QgsRasterFileWriter.driverForExtension(destination.suffix) or "GTiff"
            if gdal.Translate(str(partial), str(source), format=driver) is None:
                raise QgsProcessingException(f"GDAL cannot write {destination} as {driver}; choose a .tif output.")
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)


class _StyleOnLoad(QgsProcessingLayerPostProcessorInterface):
    """Applies one of the plugin's QML styles to an output layer when Processing loads it."""

    def __init__(self, style: str) -> None:
        super().__init__()
        self.style = style

    def postProcessLayer(self, layer: Any, context: QgsProcessingContext,  # noqa: N802, D102 - QGIS API
                         feedback: QgsProcessingFeedback) -> None:
        if layer is None:
            return
        try:
            styled_layer(layer, self.style).triggerRepaint()
        except ValueError as error:
            feedback.reportError(f"The output is not styled: {error}", False)


#: The latest post-processors, referenced here so Python cannot collect one before QGIS calls it.
_STYLERS: deque[_StyleOnLoad] = deque(maxlen=32)


def _style_on_load(context: QgsProcessingContext, layer_id: str, style: str) -> None:
    if not context.willLoadLayerOnCompletion(layer_id):
        return
    styler = _StyleOnLoad(style)
    _STYLERS.append(styler)
    context.layerToLoadOnCompletionDetails(layer_id).setPostProcessor(styler)
