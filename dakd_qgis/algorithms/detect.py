"""Processing algorithm "Detect oil spills" (``dakd:detectoilspills``).

It runs ``dakd detect`` (a thin wrapper over ``engine.detect.run_detection``, the function the
right-click action uses too) in a child process writing into a private temporary folder; only when
the run has succeeded are the results copied to the destinations QGIS gave (feature sink, two
rasters). A failed or cancelled run therefore leaves no output behind. The run's one-page report
(``report.html``) is kept in a folder of its own in Processing's temporary folder, since the run
folder is removed; its path is the HTML output ``REPORT``, which the Results Viewer lists.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsLayerTreeGroup,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputHtml,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterBand,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingUtils,
    QgsProject,
    QgsProperty,
    QgsRasterFileWriter,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QIcon

from .. import compat
from ..contract import current_contract
from ..deps import missing_package_names
from ..detection import (
    LAND_MASK_FILE,
    DetectOutcome,
    DetectRequest,
    detect_default,
    land_mask_labels,
    make_request,
    method_labels,
    probability_bands,
    progress_reporter,
    replaced_input,
    request_inputs,
    run_detect,
    summary_sentence,
    unit_choices,
)
from ..engine_command import EngineRunError, missing_packages_sentence
from ..layer_sources import InputProblem, engine_band, file_shows_layer, ogr_file, raster_file, write_copy
from ..layers import new_result_group, show_result_layer
from ..paths import help_url, icon_path, partial_beside
from ..settings import PluginSettings
from ..translation import tr
from .common import feedback_log, optional_value, raster_from_string, sentence


def detect_help() -> str:
    """Return the help panel of "Detect oil spills" (HTML without line breaks: QGIS starts a paragraph at each)."""
    return "".join(
        (
            "<p>",
            tr(
                "Finds oil spills, look-alikes and ships in a Sentinel-1 SAR scene and returns them as polygons, "
                "with an oil probability raster and a class raster."
            ),
            "</p>",
            "<h3>",
            tr("Input"),
            "</h3><p>",
            tr(
                "<b>SAR raster layer</b>: a single-polarisation backscatter raster (VV is best), as linear sigma0, dB, "
                "or uncalibrated amplitude/intensity DN. A <b>Sentinel-1 product</b> may be given instead: a GRD "
                "<code>.SAFE</code> folder's <code>manifest.safe</code> or the downloaded <code>.zip</code>; it is "
                "calibrated to sigma0 on the fly, and used instead of the layer. Geographic rasters (EPSG:4326) are "
                "fine: areas are computed in metres."
            ),
            "</p><p>",
            tr(
                "<b>Band</b>: the band to analyse; empty takes the only band, or the one named VV. With a Sentinel-1 "
                "product the number counts the product's polarisations as its manifest lists them, whatever the list "
                "shows (that is the layer's): 1 = VV and 2 = VH in a VV+VH (1SDV) product. <b>Input units</b>: "
                "<i>auto</i> reads them from the file's metadata (and guesses from the value range when it has none); "
                "set them when you know better. An 8-bit picture (a display export, linear in dB) is <i>db-8bit</i>: "
                "the model reads it, but no wind can be estimated from it."
            ),
            "</p>",
            "<h3>",
            tr("Method and model"),
            "</h3><p>",
            tr(
                "<b>Model card</b>: a SAROSS-Net model (.json with its .safetensors weights). Empty: the default model "
                "(Settings…), or the model shipped with the plugin. <b>Method</b>: <i>auto</i> uses the model when one "
                "is available and the classical adaptive-threshold detector otherwise; <i>threshold</i> needs no model "
                "and only finds dark spots (oil and look-alikes are not told apart)."
            ),
            "</p><p>",
            tr(
                "<b>Device</b>: <i>auto</i> uses a CUDA GPU when torch sees one, else Apple's MPS where it has "
                "it, else the CPU; the log says which and why."
            ),
            "</p>",
            "<h3>",
            tr("Land and area of interest"),
            "</h3><p>",
            tr(
                "<b>Land mask</b>: <i>auto</i> ignores land from the global OpenStreetMap coastline (installed with "
                "the engine; without it the run goes on unmasked and the log says why); <i>none</i> keeps every pixel; "
                "or choose your own <b>Land polygons</b>. <b>Shoreline buffer</b>: sea this close to land is ignored "
                "too (100 m by default). <b>Area of interest</b>: an extent (e.g. the map canvas) or polygons (e.g. "
                "the selected features); only tiles inside are read, and an area outside the scene is refused."
            ),
            "</p>",
            "<h3>",
            tr("Tiling and filtering"),
            "</h3><p>",
            tr(
                "<b>Tile overlap</b>: pixels shared by neighbouring 256×256 tiles; more overlap gives smoother seams "
                "and takes longer; it is raised automatically when the detector needs more context. <b>Minimum "
                "area</b>: oil and look-alike regions smaller than this are dropped (km²; ships are kept from a few "
                "pixels). <b>Probability threshold</b> (advanced): when set, a pixel only becomes oil, look-alike or "
                "ship if that class's probability reaches it; empty takes the most probable class. <b>Batch size</b> "
                "(advanced): tiles per step; empty lets the detector choose, and a GPU that runs out of memory halves "
                "it by itself."
            ),
            "</p>",
            "<h3>",
            tr("Wind"),
            "</h3><p>",
            tr(
                "<b>Wind direction</b> (optional): where the wind blows from, in degrees clockwise from north (e.g. "
                "from a weather model). With a Sentinel-1 product each slick then gets one wind speed instead of a "
                "range over all directions; a plain raster has no look direction, so there it is not used (the report "
                "says so). Empty: the range."
            ),
            "</p>",
            "<h3>",
            tr("Outputs"),
            "</h3><p>",
            tr(
                "<b>Oil spill polygons</b>: one feature per connected region, with its class (oil, look-alike, ship), "
                "area and size in km, mean and maximum probability, a confidence letter, centroid, and the scene, "
                "detector and model it came from. <b>Class probabilities</b> (may be skipped): one byte band per class "
                "(band names say which; oil is band 2), value = probability × 250, 255 = no data; it is shown as the "
                "oil probability from 0 to 1. <b>Classes</b> (may be skipped): 0 sea, 1 oil, 2 look-alike, 3 ship, "
                "4 land, 255 no data. The layers loaded at the end go into one group, polygons on top and the class "
                "raster unchecked. <b>Report</b>: the run's one-page report (numbered quick-look, the table of "
                "polygons with their wind and possible source, the scene, model and caveats) as a self-contained HTML "
                "file in Processing's temporary folder; the Results Viewer lists it and opens it in the browser."
            ),
            "</p><p>",
            tr("Cancel stops the run within one batch of tiles and writes nothing."),
            "</p>",
        )
    )


class _SarLayerParameter(QgsProcessingParameterRasterLayer):
    """The SAR raster input: required, except that a Sentinel-1 product may stand in for it.

    Not flagged optional, so QGIS does not label it "[optional]"; an empty value is still accepted
    here and :meth:`DetectOilSpillsAlgorithm.checkParameterValues` asks for a layer or a product.
    """

    def clone(self) -> _SarLayerParameter:  # noqa: D102 - QGIS API
        copy = _SarLayerParameter(self.name(), self.description(), self.defaultValue())
        copy.setFlags(self.flags())
        copy.setHelp(self.help())
        return copy

    def checkValueIsAcceptable(self, value: Any, context: QgsProcessingContext | None = None) -> bool:  # noqa: N802
        """Accept an empty value (a product may be given instead); anything else as QGIS checks it.

        A file path becomes a layer here, the first thing ``qgis_process`` does with it: loaded so that nothing is
        written beside the file (:func:`.common.raster_from_string`), and found again by the checks after this one.
        """
        if value is None or value == "":
            return True
        if context is not None:
            raster_from_string(value, context)
        return super().checkValueIsAcceptable(value, context)


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
    LAND_MASK = "LAND_MASK"
    LAND_LAYER = "LAND_LAYER"
    LAND_BUFFER_M = "LAND_BUFFER_M"
    AOI_EXTENT = "AOI_EXTENT"
    AOI_LAYER = "AOI_LAYER"
    WIND_DIR = "WIND_DIR"
    OUTPUT = "OUTPUT"
    PROBABILITY = "PROBABILITY"
    CLASSES = "CLASSES"
    REPORT = "REPORT"

    def name(self) -> str:  # noqa: D102 - QGIS API
        return "detectoilspills"

    def displayName(self) -> str:  # noqa: N802, D102 - QGIS API
        return tr("Detect oil spills")

    def shortDescription(self) -> str:  # noqa: N802, D102 - QGIS API
        return tr("Oil spill, look-alike and ship polygons from a Sentinel-1 SAR scene.")

    def shortHelpString(self) -> str:  # noqa: N802, D102 - QGIS API
        return detect_help()

    def helpUrl(self) -> str:  # noqa: N802, D102 - QGIS API
        return help_url("user-guide/qgis", "detect-oil-spills-processing")

    def icon(self) -> QIcon:  # noqa: D102 - QGIS API
        return QIcon(icon_path("detect"))

    def tags(self) -> list[str]:  # noqa: D102 - QGIS API
        return ["oil", "spill", "sar", "sentinel-1", "radar", "segmentation", "ship", "look-alike", "dakd"]

    def createInstance(self) -> DetectOilSpillsAlgorithm:  # noqa: N802, D102 - QGIS API
        return DetectOilSpillsAlgorithm()

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802, D102 - QGIS API
        sar = _SarLayerParameter(self.INPUT, tr("SAR raster layer"))
        sar.setHelp(tr("The scene to analyse; not needed when a Sentinel-1 product is given below."))
        self.addParameter(sar)
        product = QgsProcessingParameterFile(
            self.PRODUCT,
            tr("…or a Sentinel-1 product"),
            compat.FILE_BEHAVIOR_FILE,
            optional=True,
            fileFilter=tr("Sentinel-1 products (manifest.safe *.zip *.SAFE);;All files (*)"),
        )
        product.setHelp(
            tr("A Sentinel-1 GRD product, its manifest.safe or the downloaded .zip; used instead of the layer.")
        )
        self.addParameter(product)
        self.addParameter(QgsProcessingParameterBand(self.BAND, tr("Band"), None, self.INPUT, optional=True))
        self.addParameter(
            QgsProcessingParameterEnum(self.UNITS, tr("Input units"), list(unit_choices()), defaultValue=0)
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.MODEL, tr("Model card"), compat.FILE_BEHAVIOR_FILE, extension="json", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(self.METHOD, tr("Method"), list(method_labels().values()), defaultValue=0)
        )
        self.addParameter(
            QgsProcessingParameterEnum(self.DEVICE, tr("Device"), list(current_contract().devices), defaultValue=0)
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.OVERLAP_PX,
                tr("Tile overlap (pixels)"),
                compat.NUMBER_INTEGER,
                detect_default("overlap_px"),
                minValue=0,
                maxValue=detect_default("max_overlap_px"),
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.MIN_AREA_KM2,
                tr("Minimum area (km²)"),
                compat.NUMBER_DOUBLE,
                detect_default("min_area_km2"),
                minValue=0.0,
            )
        )
        self._add_area_parameters()
        wind = QgsProcessingParameterNumber(
            self.WIND_DIR,
            tr("Wind direction (°, from)"),
            compat.NUMBER_DOUBLE,
            None,
            optional=True,
            minValue=0.0,
            maxValue=360.0,
        )
        wind.setHelp(
            tr(
                "Where the wind blows from, degrees clockwise from north (Sentinel-1 products). Empty: the "
                "wind speed is a range over all directions."
            )
        )
        self.addParameter(wind)
        advanced = [
            QgsProcessingParameterNumber(
                self.PROB_THRESHOLD,
                tr("Probability threshold"),
                compat.NUMBER_DOUBLE,
                None,
                optional=True,
                minValue=0.01,
                maxValue=1.0,
            ),
            QgsProcessingParameterNumber(
                self.BATCH_SIZE,
                tr("Batch size (tiles per step)"),
                compat.NUMBER_INTEGER,
                None,
                optional=True,
                minValue=1,
                maxValue=256,
            ),
        ]
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | compat.PARAMETER_FLAG_ADVANCED)
            self.addParameter(parameter)
        self.parameterDefinition(self.BAND).setHelp(
            tr(
                "Empty: the only band, or the band named VV. With a Sentinel-1 product: its polarisation in the "
                "product's order (1 = VV, 2 = VH in a VV+VH product), not a band of the layer listed."
            )
        )
        self.parameterDefinition(self.MODEL).setHelp(tr("Empty: the default model (Settings…)."))
        self.parameterDefinition(self.PROB_THRESHOLD).setHelp(tr("Empty: each pixel takes its most probable class."))
        self.parameterDefinition(self.BATCH_SIZE).setHelp(tr("Empty: the detector chooses."))
        self.addParameter(
            QgsProcessingParameterFeatureSink(self.OUTPUT, tr("Oil spill polygons"), compat.SOURCE_TYPE_POLYGON)
        )
        # Optional, created unless skipped (as QGIS's own algorithms do): qgis_process needs only INPUT and OUTPUT.
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                self.PROBABILITY, tr("Class probabilities"), optional=True, createByDefault=True
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterDestination(self.CLASSES, tr("Classes"), optional=True, createByDefault=True)
        )
        self.addOutput(QgsProcessingOutputHtml(self.REPORT, tr("Report")))

    def _add_area_parameters(self) -> None:
        """Land mask (auto / none / a polygon layer, shoreline buffer) and area of interest (extent or polygons)."""
        self.addParameter(
            QgsProcessingParameterEnum(
                self.LAND_MASK, tr("Land mask"), list(land_mask_labels().values()), defaultValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.LAND_LAYER, tr("Land polygons"), [compat.SOURCE_TYPE_POLYGON], optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.LAND_BUFFER_M,
                tr("Shoreline buffer (m)"),
                compat.NUMBER_DOUBLE,
                detect_default("land_buffer_m"),
                minValue=0.0,
            )
        )
        self.addParameter(QgsProcessingParameterExtent(self.AOI_EXTENT, tr("Area of interest (extent)"), optional=True))
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.AOI_LAYER, tr("Area of interest (polygons)"), [compat.SOURCE_TYPE_POLYGON], optional=True
            )
        )
        self.parameterDefinition(self.LAND_LAYER).setHelp(tr("Used when the land mask is 'the polygon layer below'."))
        self.parameterDefinition(self.AOI_EXTENT).setHelp(
            tr("Empty: the whole scene. The map canvas extent is one click away.")
        )
        self.parameterDefinition(self.AOI_LAYER).setHelp(
            tr("Empty: the whole scene. Tick 'Selected features only' to detect inside the selected polygons.")
        )

    def _area_options(self, parameters: dict[str, Any], context: QgsProcessingContext) -> dict[str, Any]:
        """``land_mask``, ``land_buffer_m`` and ``aoi`` for the request: layers as files, the extent as text.

        A layer's selected features (or a layer the engine cannot open) are written to a file first by QGIS
        (``parameterAsCompatibleSourceLayerPath``); the engine reprojects and checks them.
        """
        choice = list(land_mask_labels())[self.parameterAsEnum(parameters, self.LAND_MASK, context)]
        land_mask = choice
        if choice == LAND_MASK_FILE:
            land_mask = self._layer_file(parameters, self.LAND_LAYER, context)
            if not land_mask:
                raise InputProblem(
                    tr(
                        "the land mask is 'the polygon layer below' but no land polygons are chosen; "
                        "choose a polygon layer, or the land mask auto"
                    )
                )
        aoi = self._layer_file(parameters, self.AOI_LAYER, context) or None
        if aoi is None and parameters.get(self.AOI_EXTENT) not in (None, ""):
            extent = self.parameterAsExtent(parameters, self.AOI_EXTENT, context)
            crs = self.parameterAsExtentCrs(parameters, self.AOI_EXTENT, context)
            if not extent.isNull() and not extent.isEmpty():
                aoi = (
                    f"{extent.xMinimum()!r},{extent.yMinimum()!r},{extent.xMaximum()!r},{extent.yMaximum()!r},"
                    f"{crs.toWkt() if not crs.authid() else crs.authid()}"
                )
        return {
            "land_mask": land_mask,
            "aoi": aoi,
            "land_buffer_m": self.parameterAsDouble(parameters, self.LAND_BUFFER_M, context),
        }

    def _layer_file(self, parameters: dict[str, Any], key: str, context: QgsProcessingContext) -> str:
        """Return the file the engine reads for a polygon layer parameter ("" when none is chosen).

        A layer whose file holds what QGIS shows (:func:`file_shows_layer`) goes through QGIS's
        ``parameterAsCompatibleSourceLayerPath``: the file itself, or QGIS's copy of a selection or of one layer
        of a file that holds several. Any other layer (unsaved edits, a filter, a scratch layer)
        is written by :func:`write_copy`, the label layers' writer: QGIS hands on the file without the unsaved
        edits, and its copy of a GeoPackage dropped the polygons drawn but not saved.
        """
        if parameters.get(key) in (None, ""):
            return ""
        layer, selected = _chosen_layer(parameters.get(key), context)
        if layer is not None and not file_shows_layer(layer):
            return write_copy(layer, Path(QgsProcessingUtils.generateTempFilename(f"{key}.gpkg")), key, selected)
        # QGIS needs a feedback to write a copy (None crashes).
        path = self.parameterAsCompatibleSourceLayerPath(
            parameters, key, context, ["gpkg", "shp", "geojson"], "gpkg", QgsProcessingFeedback()
        )
        return path or ""

    def checkParameterValues(  # noqa: N802, D102 - QGIS API
        self,
        parameters: dict[str, Any],
        context: QgsProcessingContext,
    ) -> tuple[bool, str]:
        has_layer = parameters.get(self.INPUT) not in (None, "")
        has_product = parameters.get(self.PRODUCT) not in (None, "")
        if not has_layer and not has_product:
            return False, tr("Choose a SAR raster layer or a Sentinel-1 product.")
        if has_layer and not has_product:
            problem = _unreadable_input(parameters.get(self.INPUT), context)
            if problem:
                return False, problem
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(  # noqa: N802, D102 - QGIS API
        self,
        parameters: dict[str, Any],
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        settings = PluginSettings.load()
        missing = missing_package_names(settings.engine_python)
        if missing:
            raise QgsProcessingException(sentence(missing_packages_sentence(missing)))
        parameters = _absolute_destinations(parameters, (self.OUTPUT, self.PROBABILITY, self.CLASSES), context)
        work_dir = Path(tempfile.mkdtemp(prefix="dakd-detect-", dir=QgsProcessingUtils.tempFolder()))
        queued = set(context.layersToLoadOnCompletion())
        try:
            request, source_name = self._request(parameters, context, settings, work_dir / "run")
            self._refuse_replacing_inputs(parameters, context, request)
            rasters = self._raster_destinations(parameters, context, request)
            _refuse_unwritable_rasters(rasters, work_dir)
            for warning in request.warnings:
                feedback.pushWarning(sentence(warning))
            outcome = _run_with_feedback(request, settings, feedback)
            feedback.pushInfo(tr("Found {summary}.").format(summary=summary_sentence(outcome)))
            if feedback.isCanceled():
                raise QgsProcessingException(tr("Cancelled by the user; no output was written."))
            return self._write_outputs(outcome, parameters, context, feedback, source_name, rasters)
        except BaseException:
            # The raster destinations were asked for before the run, which queues them for loading: a failed run
            # must not leave QGIS loading a file of that name (an earlier run's) or saying it was not generated.
            context.setLayersToLoadOnCompletion(
                {layer: details for layer, details in context.layersToLoadOnCompletion().items() if layer in queued}
            )
            raise
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)

    def _request(
        self, parameters: dict[str, Any], context: QgsProcessingContext, settings: PluginSettings, out_dir: Path
    ) -> tuple[DetectRequest, str]:
        product = self.parameterAsFile(parameters, self.PRODUCT, context)
        band = self.parameterAsInt(parameters, self.BAND, context) or None
        try:
            if product:
                if not Path(product).exists():
                    raise InputProblem(tr("Sentinel-1 product {path} does not exist").format(path=product))
                input_path, source_name = product, Path(product.rstrip("/\\")).name
                if source_name.lower() == "manifest.safe":
                    source_name = Path(product).parent.name
            else:
                raster_from_string(parameters.get(self.INPUT), context)  # a path: loaded writing nothing beside it
                layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
                if layer is None:
                    raise InputProblem(
                        _unreadable_input(parameters.get(self.INPUT), context)
                        or tr("cannot open the input raster; check the path or choose a layer")
                    )
                input_path, source_name = raster_file(layer), layer.name()
                band = engine_band(layer, band)  # the band QGIS shows (a Sentinel-1 product's: its polarisation)
            request = make_request(
                input_path,
                out_dir,
                settings,
                band=band,
                units=unit_choices()[self.parameterAsEnum(parameters, self.UNITS, context)],
                method=list(method_labels())[self.parameterAsEnum(parameters, self.METHOD, context)],
                model_path=self.parameterAsFile(parameters, self.MODEL, context),
                device=current_contract().devices[self.parameterAsEnum(parameters, self.DEVICE, context)],
                overlap_px=self.parameterAsInt(parameters, self.OVERLAP_PX, context),
                min_area_km2=self.parameterAsDouble(parameters, self.MIN_AREA_KM2, context),
                prob_threshold=optional_value(
                    parameters, self.PROB_THRESHOLD, self.parameterAsDouble(parameters, self.PROB_THRESHOLD, context)
                ),
                batch_size=optional_value(
                    parameters, self.BATCH_SIZE, self.parameterAsInt(parameters, self.BATCH_SIZE, context)
                ),
                wind_dir_deg=optional_value(
                    parameters, self.WIND_DIR, self.parameterAsDouble(parameters, self.WIND_DIR, context)
                ),
                **self._area_options(parameters, context),
            )
            return request, source_name
        except InputProblem as error:
            raise QgsProcessingException(sentence(str(error))) from error

    def _refuse_replacing_inputs(
        self, parameters: dict[str, Any], context: QgsProcessingContext, request: DetectRequest
    ) -> None:
        """Refuse, before any work, an output file that is one of the run's inputs (scene, model, layers)."""
        inputs = request_inputs(request) + self._layer_files(parameters, context)
        for key in (self.OUTPUT, self.PROBABILITY, self.CLASSES):
            output = _output_file(parameters.get(key), context)
            reason = replaced_input(output[0], inputs) if output else ""
            if reason:
                raise QgsProcessingException(
                    sentence(
                        tr("{reason}; choose another file for “{output}”").format(
                            reason=reason, output=self.parameterDefinition(key).description()
                        )
                    )
                )

    def _layer_files(self, parameters: dict[str, Any], context: QgsProcessingContext) -> list[Path]:
        """Return the files behind the land and area layers themselves.

        With selected features QGIS hands the engine a copy, so the request names the copy: the analyst's own
        file, which an output of the same name would replace, is named here.
        """
        files = []
        for key in (self.LAND_LAYER, self.AOI_LAYER):
            layer = _chosen_layer(parameters.get(key), context)[0]
            path = ogr_file(layer) if layer is not None else ""
            if path:
                files.append(Path(path))
        return files

    def _raster_destinations(
        self, parameters: dict[str, Any], context: QgsProcessingContext, request: DetectRequest
    ) -> list[_RasterOutput]:
        """Return the raster outputs to write, the skipped ones left out.

        Asked once, before the run: a temporary output gets a new file name each time it is asked for. The
        probabilities have a band per class of the detector the run uses (:func:`probability_bands`: two for the
        threshold detector or a binary model, which a PNG holds), the classes one band.
        """
        wanted = (
            (self.PROBABILITY, "probability.tif", probability_bands(request)),
            (self.CLASSES, "classes.tif", 1),
        )
        rasters = []
        for key, run_file, bands in wanted:
            destination = self.parameterAsOutputLayer(parameters, key, context)
            if destination:  # empty: the analyst skipped this output
                rasters.append(_RasterOutput(key, run_file, destination, max(bands, 1)))
        return rasters

    def _write_outputs(
        self,
        outcome: DetectOutcome,
        parameters: dict[str, Any],
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        source_name: str,
        rasters: list[_RasterOutput],
    ) -> dict[str, Any]:
        """Put the run's results at the destinations, so that a failure leaves none of them written.

        The rasters are written first under partial names of our own beside their destinations (a format GDAL
        cannot write, a folder that cannot be written fail here, before any destination is touched), then the
        polygons go into the sink, and only then are the rasters renamed into place. On a failure the partial
        files go, and so do the folders this method made while they are empty.
        """
        run_dir = outcome.out_dir
        spills = QgsVectorLayer(f"{run_dir / 'spills.gpkg'}|layername=spills", "spills", "ogr")
        if not spills.isValid():
            raise QgsProcessingException(
                tr("The engine wrote no readable spills.gpkg in {folder}.").format(folder=run_dir)
            )
        sink_file = _output_file(parameters.get(self.OUTPUT), context)
        files = [raster.destination for raster in rasters] + ([Path(sink_file[0])] if sink_file else [])
        new_folders = _missing_folders(files)
        staged: list[_StagedRaster] = []
        try:
            for raster in rasters:
                staged.append(_stage_raster(run_dir / raster.run_file, raster.destination))
            _make_parent_folder(parameters, self.OUTPUT, context)
            # parameterAsSink alone: parameterAsOutputLayer on a sink would queue a second, never-created layer
            # ("memory:Oil spill polygons") for loading, and QGIS would report it as not correctly generated.
            sink, sink_id = self.parameterAsSink(
                parameters, self.OUTPUT, context, spills.fields(), compat.MULTIPOLYGON, spills.crs()
            )
            if sink is None:
                raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
            for feature in spills.getFeatures():
                copy = QgsFeature(spills.fields())
                copy.setAttributes(feature.attributes())
                copy.setGeometry(feature.geometry())
                sink.addFeature(copy, compat.SINK_FAST_INSERT)
            del sink  # flush and close the file before QGIS loads it
            for raster in staged:
                raster.place()
        except BaseException:
            for raster in staged:
                raster.discard()
            _remove_empty(new_folders)  # only folders this run made, and only while they hold nothing
            # The traceback keeps this frame: a layer or sink left in it outlives QGIS and crashed Python at exit.
            spills = sink = None  # noqa: F841
            raise
        results = {self.OUTPUT: sink_id}
        for raster in rasters:
            results[raster.key] = raster.output
        group = _ResultGroup(source_name)
        for key, role in ((self.OUTPUT, "spills"), (self.PROBABILITY, "probability"), (self.CLASSES, "classes")):
            if key in results:
                _show_on_load(context, results[key], group, role)
        kept = _keep_report(outcome.report_path, feedback) if outcome.report_path is not None else None
        if kept is not None:
            results[self.REPORT] = str(kept)
        return results


def _chosen_layer(value: Any, context: QgsProcessingContext) -> tuple[QgsVectorLayer | None, bool]:
    """Return the vector layer a polygon parameter names (None if none) and whether only its selection counts.

    ``parameterAsVectorLayer`` gives None for a value with "Selected features only" (a source definition).
    """
    selected = False
    if isinstance(value, QgsProcessingFeatureSourceDefinition):  # a layer id or path, with its selection flag
        selected = value.selectedFeaturesOnly
        value = value.source.staticValue()
    if isinstance(value, str) and value:
        value = QgsProcessingUtils.mapLayerFromString(value, context)
    return (value if isinstance(value, QgsVectorLayer) else None), selected


def _unreadable_input(value: Any, context: QgsProcessingContext) -> str:
    """Say why the SAR raster input cannot be used ("" when QGIS can load it or it is not a file path)."""
    if not isinstance(value, str) or not value or raster_from_string(value, context) is not None:
        return ""
    text = value.split("|")[0]
    path = Path(text)
    if not path.suffix and not path.parent.name:
        return tr("There is no raster layer named {name} in the project.").format(name=value)
    if not path.exists():  # named as typed: Path makes ``/vsizip//data/a.zip`` ``/vsizip/data/a.zip``
        return tr("The input raster {path} does not exist.").format(path=text)
    if path.is_file() and path.stat().st_size == 0:
        return tr("The input raster {path} is an empty file (0 bytes).").format(path=path)
    return tr("{path} is not a raster QGIS can read (GDAL does not recognise its format).").format(path=path)


#: Output values that name no file: a temporary layer or a data-provider address (memory:, ogr:, postgis:...).
_NOT_A_FILE = re.compile(r"^(?:TEMPORARY_OUTPUT$|[A-Za-z][A-Za-z0-9_]+:)")


def _output_file(value: Any, context: QgsProcessingContext) -> tuple[str, str] | None:
    """Return ``(path, "|options")`` of an output written to a file, None for a temporary layer or a database."""
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        value, _ok = value.sink.valueAsString(context.expressionContext(), "")
    if not isinstance(value, str) or not value or _NOT_A_FILE.match(value):
        return None
    path, separator, options = value.partition("|")
    return path, separator + options


def _absolute_destinations(
    parameters: dict[str, Any], keys: tuple[str, ...], context: QgsProcessingContext
) -> dict[str, Any]:
    """Return ``parameters`` with relative output paths made absolute, from the current folder.

    OGR and GDAL would otherwise resolve them on their own and fail with their own messages.
    """
    parameters = dict(parameters)
    for key in keys:
        value = parameters.get(key)
        output = _output_file(value, context)
        if output is None or Path(output[0]).expanduser().is_absolute():
            continue
        text = str(Path.cwd() / output[0]) + output[1]
        if isinstance(value, QgsProcessingOutputLayerDefinition):
            value = QgsProcessingOutputLayerDefinition(value)
            value.sink = QgsProperty.fromValue(text)
            parameters[key] = value
        else:
            parameters[key] = text
    return parameters


def _make_parent_folder(parameters: dict[str, Any], key: str, context: QgsProcessingContext) -> None:
    """Create the folder of an output file (QGIS does not for feature sinks)."""
    output = _output_file(parameters.get(key), context)
    if output is None:
        return
    folder = Path(output[0]).expanduser().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise QgsProcessingException(
            tr("Cannot create the folder {folder} for the output {path} ({reason}).").format(
                folder=folder, path=output[0], reason=error.strerror or error
            )
        ) from error


def _run_with_feedback(
    request: DetectRequest, settings: PluginSettings, feedback: QgsProcessingFeedback
) -> DetectOutcome:
    sink = progress_reporter(feedback.setProgress, feedback.setProgressText, feedback_log(feedback))
    try:
        return run_detect(request, settings.python_executable(), sink, feedback.pushConsoleInfo, feedback.isCanceled)
    except EngineRunError as error:
        raise QgsProcessingException(sentence(str(error))) from error


def _keep_report(report: Path, feedback: QgsProcessingFeedback) -> Path | None:
    """Copy the run's report out of the run folder (removed when the algorithm ends) and return the copy.

    The copy goes into a new folder in Processing's temporary folder, as QGIS keeps temporary outputs: it
    outlives the run, so the Results Viewer can open it, and writes nothing beside the analyst's outputs.
    The report is one self-contained file (the quick-look is inlined), so the copy needs nothing else.
    It comes after the outputs are in place, so a failed copy (a full temporary disk) is one line in the log
    and None, not a failed run.
    """
    folder = None
    try:
        folder = Path(tempfile.mkdtemp(prefix="dakd-report-", dir=QgsProcessingUtils.tempFolder()))
        kept = folder / report.name
        shutil.copyfile(report, kept)
    except OSError as error:
        if folder is not None:  # our own new folder, with at most a half copy in it
            shutil.rmtree(folder, ignore_errors=True)
        feedback.reportError(
            tr("The run's report could not be kept ({reason}); the outputs are written.").format(
                reason=error.strerror or error
            ),
            False,
        )
        return None
    return kept


@dataclass(frozen=True)
class _RasterOutput:
    """One raster output to write: its parameter, the run's file it copies, its destination, its band count."""

    key: str
    run_file: str
    #: The destination as QGIS gave it (the id of the layer it loads at the end).
    output: str
    bands: int

    @property
    def destination(self) -> Path:
        """The destination file."""
        return Path(self.output)


#: GDAL formats that describe other files instead of holding the pixels (a .vrt names the run's temporary raster).
REFERENCE_DRIVERS = ("VRT",)


def _gdal_driver(destination: Path) -> str | None:
    """Return the GDAL driver that writes ``destination`` (None for a GeoTIFF name: the run's file is copied)."""
    if destination.suffix.lower() in (".tif", ".tiff"):
        return None
    return QgsRasterFileWriter.driverForExtension(destination.suffix) or "GTiff"


def _cannot_write_as(destination: Path, driver: str) -> str:
    return tr("GDAL cannot write {path} as {driver}; choose a .tif output.").format(path=destination, driver=driver)


def _cannot_write(destination: Path, error: OSError) -> str:
    return tr("Cannot write {path} ({reason}); choose another folder, or free disk space.").format(
        path=destination, reason=error.strerror or error
    )


def _refuse_unwritable_rasters(rasters: list[_RasterOutput], scratch: Path) -> None:
    """Refuse, before the run, a raster output that names a folder or a format GDAL cannot write.

    The check writes a small raster of the output's shape (byte bands, as many as the output has) in the format
    its name asks for, inside ``scratch`` (the run's own temporary folder): JPEG, for one, takes one or three
    bands, and the probabilities have more. Nothing is written beside the destination. A failure it cannot
    foresee (a full disk) still leaves nothing: :meth:`DetectOilSpillsAlgorithm._write_outputs` writes the
    rasters under partial names before anything else.
    """
    for raster in rasters:
        if raster.destination.is_dir():
            error = IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
            raise QgsProcessingException(_cannot_write(raster.destination, error))
        driver = _gdal_driver(raster.destination)
        if driver in REFERENCE_DRIVERS:  # it would point into the run's folder, which is removed at the end
            raise QgsProcessingException(
                tr(
                    "A {driver} file only points at other files, and this run's are temporary: {path} would point at "
                    "nothing. Choose a .tif output."
                ).format(driver=driver, path=raster.destination)
            )
        if driver is not None and not _gdal_can_write(driver, raster.destination.suffix, raster.bands, scratch):
            raise QgsProcessingException(_cannot_write_as(raster.destination, driver))


def _gdal_can_write(driver: str, suffix: str, bands: int, scratch: Path) -> bool:
    """Tell whether GDAL's ``driver`` writes a georeferenced byte raster of ``bands`` bands (tried in ``scratch``)."""
    from osgeo import gdal

    folder = Path(tempfile.mkdtemp(prefix="format-check-", dir=scratch))
    try:
        sample = gdal.GetDriverByName("MEM").Create("", 16, 16, bands, gdal.GDT_Byte)
        sample.SetGeoTransform((0.0, 0.001, 0.0, 0.0, 0.0, -0.001))
        sample.SetProjection(QgsCoordinateReferenceSystem("EPSG:4326").toWkt())
        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            written = gdal.Translate(str(folder / f"check{suffix}"), sample, format=driver)
        except RuntimeError:  # GDAL's exceptions, when something in this process turned them on
            written = None
        finally:
            gdal.PopErrorHandler()
        can_write = written is not None
        del written, sample  # closed before the folder goes
        return can_write
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class _StagedRaster:
    """A raster written under a partial name of our own beside its destination, not yet in place."""

    partial: Path
    destination: Path

    def place(self) -> None:
        """Rename the partial files into place: a format of several files moves whole, its main file last."""
        try:
            for path in sorted(_written_as(self.partial), key=lambda path: path == self.partial):
                path.replace(self.destination.with_name(self.destination.stem + path.name[len(self.partial.stem) :]))
        except OSError as error:
            raise QgsProcessingException(_cannot_write(self.destination, error)) from error

    def discard(self) -> None:
        """Remove whatever is left under the partial name (never a file of the analyst's)."""
        try:
            for path in _written_as(self.partial):
                path.unlink(missing_ok=True)
        except OSError:  # the folder itself is gone
            pass


def _stage_raster(source: Path, destination: Path) -> _StagedRaster:
    """Write a copy of ``source`` for ``destination`` under a partial name beside it; ``place`` puts it there.

    Names other than GeoTIFF are translated with GDAL. The partial name is new and our own (``mkstemp``): a fixed
    name could be a file of the analyst's, replaced and then deleted. Whatever GDAL wrote under it is removed if
    the copy fails. A folder that cannot be written (read-only, full, not a folder) is one line, not a traceback.
    """
    try:
        if destination.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        staged = _StagedRaster(partial_beside(destination), destination)
    except OSError as error:
        raise QgsProcessingException(_cannot_write(destination, error)) from error
    try:
        driver = _gdal_driver(destination)
        if driver is None:
            shutil.copyfile(source, staged.partial)
        else:
            from osgeo import gdal

            try:  # the dataset is closed (and flushed) at once: it is not kept
                written = gdal.Translate(str(staged.partial), str(source), format=driver) is not None
            except RuntimeError:  # GDAL's exceptions, when something in this process turned them on
                written = False
            if not written:
                raise QgsProcessingException(_cannot_write_as(destination, driver))
    except OSError as error:
        staged.discard()
        raise QgsProcessingException(_cannot_write(destination, error)) from error
    except BaseException:
        staged.discard()
        raise
    return staged


def _replace_raster(source: Path, destination: Path) -> None:
    """Put a copy of ``source`` at ``destination`` by renames (:func:`_stage_raster`, then its ``place``)."""
    staged = _stage_raster(source, destination)
    try:
        staged.place()
    finally:
        staged.discard()


def _missing_folders(files: list[Path]) -> list[Path]:
    """Return the folders above ``files`` that do not exist yet, deepest first (those a write would make)."""
    missing: list[Path] = []
    for file in files:
        folder = file.expanduser().parent
        while not folder.exists() and folder != folder.parent and folder not in missing:
            missing.append(folder)
            folder = folder.parent
    return sorted(missing, key=lambda folder: len(folder.parts), reverse=True)


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) that are empty; one that holds anything is kept."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            continue


def _written_as(partial: Path) -> list[Path]:
    """Return the files under ``partial``'s unique name: the raster and any sidecar GDAL wrote beside it."""
    return [path for path in partial.parent.iterdir() if path.name.startswith(partial.stem)]


class _ResultGroup:
    """The layer group one run's outputs go into when Processing loads them (made with the first of them)."""

    def __init__(self, source_name: str) -> None:
        self.source_name = source_name
        self.group: QgsLayerTreeGroup | None = None

    def for_project(self, project: QgsProject) -> QgsLayerTreeGroup:
        """Return the group, adding it at the top of the project's layer tree the first time."""
        if self.group is None:
            self.group = new_result_group(project, self.source_name)
        return self.group


class _ShowOnLoad(QgsProcessingLayerPostProcessorInterface):
    """Styles an output layer when Processing loads it and puts it in the run's group, as right-click does."""

    def __init__(self, group: _ResultGroup, role: str, project: QgsProject) -> None:
        super().__init__()
        self.group = group
        self.role = role
        self.project = project

    def postProcessLayer(
        self,
        layer: Any,
        context: QgsProcessingContext,  # noqa: N802, D102 - QGIS API
        feedback: QgsProcessingFeedback,
    ) -> None:
        if layer is None:
            return
        project = self.project or context.project() or QgsProject.instance()
        try:
            show_result_layer(project, self.group.for_project(project), layer, self.role).layer().triggerRepaint()
        except ValueError as error:
            feedback.reportError(tr("The output is not styled: {reason}").format(reason=error), False)


#: The latest post-processors, referenced here so Python cannot collect one before QGIS calls it.
_POST_PROCESSORS: deque[_ShowOnLoad] = deque(maxlen=32)


def _show_on_load(context: QgsProcessingContext, layer_id: str, group: _ResultGroup, role: str) -> None:
    if not context.willLoadLayerOnCompletion(layer_id):
        return
    details = context.layerToLoadOnCompletionDetails(layer_id)
    post_processor = _ShowOnLoad(group, role, details.project)
    _POST_PROCESSORS.append(post_processor)
    details.setPostProcessor(post_processor)
