"""Processing algorithms "Fine-tune on my labels" and "Train DAKD pipeline (advanced)".

Both run ``dakd finetune`` as a child process (a crash or an out-of-memory kill in training cannot
take QGIS down), forward its progress to ``feedback``, stop it when the user cancels, and register
the new model so "Detect oil spills" can use it. They exist so fine-tuning works in batch mode and
the graphical modeler; the "Fine-tune on my labels" dialog is the interactive way, with the same
command line (:func:`dakd_qgis.finetune.finetune_arguments`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
    QgsProcessingUtils,
)
from qgis.PyQt.QtGui import QIcon

from .. import compat
from ..detection import progress_reporter
from ..engine_command import EngineRunError, engine_command, run_engine
from ..finetune import DATASET_FORMATS, PRESETS, FinetuneRequest, finetune_arguments, problems, safe_model_name
from ..layer_sources import InputProblem, raster_file, vector_file
from ..models import ModelRegistryError, register_model
from ..paths import icon_path
from ..settings import DEVICES, PluginSettings
from .common import optional_value, sentence

PRESET_KEYS = list(PRESETS)

TRAINING_HELP = """<p>Runs the DAKD pipeline (arXiv 2412.08116) as a separate <code>dakd finetune</code> process:
SAR-JointNet learns your labelled tiles and generates extra image/soft-label pairs, then SAROSS-Net is trained on
the real and generated pairs. The log shows each stage and the validation mIoU.</p>
<p><b>Preset</b>: quick (one GPU, about half an hour), standard (hours), paper (about a day), tiny (a few
minutes on a CPU, to try the pipeline; the model is not useful). <b>Validation share</b>: share of scenes kept
aside to measure the model. Advanced: <b>SAROSS-Net steps</b> and <b>SAR-JointNet steps</b> override the preset,
<b>augmentation ratio</b> is the number of generated pairs per real tile (0 skips the diffusion model), <b>b</b> is
the balancing factor (empty: computed from the data; 1 turns it off). <b>Base model</b>: start from this model
card (its normalisation is kept).</p>
<p><b>Model card</b>: where the new model is written (.json + .safetensors). With <b>Register</b> the model is
also copied into the plugin's model list and becomes the default for Detect oil spills.</p>
<p>Cancel stops training after the current step; the run's work folder keeps its checkpoints.</p>"""


class _TrainingAlgorithm(QgsProcessingAlgorithm):
    """Options shared by both training algorithms; subclasses add their data inputs."""

    PRESET = "PRESET"
    VAL_SHARE = "VAL_SHARE"
    STEPS = "STEPS"
    JOINTNET_STEPS = "JOINTNET_STEPS"
    AUG_RATIO = "AUG_RATIO"
    BALANCE = "BALANCE"
    BASE_MODEL = "BASE_MODEL"
    DEVICE = "DEVICE"
    REGISTER = "REGISTER"
    OUTPUT = "OUTPUT"
    REGISTERED = "REGISTERED"
    VALIDATION_MIOU = "VALIDATION_MIOU"

    def group(self) -> str:  # noqa: D102 - QGIS API
        return "Training"

    def groupId(self) -> str:  # noqa: N802, D102 - QGIS API
        return "training"

    def icon(self) -> QIcon:  # noqa: D102 - QGIS API
        return QIcon(icon_path("finetune"))

    def shortHelpString(self) -> str:  # noqa: N802, D102 - QGIS API
        return self.data_help() + TRAINING_HELP

    def data_help(self) -> str:
        """Return the help paragraph about this algorithm's data inputs."""
        return ""

    def add_data_parameters(self) -> None:
        """Add the data inputs (subclasses)."""

    def data_request(self, parameters: dict[str, Any], context: QgsProcessingContext, request: FinetuneRequest,
                     scratch: Path) -> None:
        """Fill the data fields of ``request`` (subclasses); raise ``InputProblem`` on bad inputs."""

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802, D102 - QGIS API
        self.add_data_parameters()
        self.addParameter(QgsProcessingParameterNumber(self.VAL_SHARE, "Validation share (of scenes)",
                                                       compat.NUMBER_DOUBLE, 0.2, minValue=0.0, maxValue=0.9))
        self.addParameter(QgsProcessingParameterEnum(self.PRESET, "Preset", list(PRESETS.values()), defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum(self.DEVICE, "Device", list(DEVICES), defaultValue=0))
        advanced = [
            QgsProcessingParameterNumber(self.STEPS, "SAROSS-Net steps (empty: preset)", compat.NUMBER_INTEGER,
                                         None, optional=True, minValue=1),
            QgsProcessingParameterNumber(self.JOINTNET_STEPS, "SAR-JointNet steps (empty: preset)",
                                         compat.NUMBER_INTEGER, None, optional=True, minValue=1),
            QgsProcessingParameterNumber(self.AUG_RATIO, "Augmentation ratio (generated pairs per real tile)",
                                         compat.NUMBER_DOUBLE, None, optional=True, minValue=0.0, maxValue=4.0),
            QgsProcessingParameterNumber(self.BALANCE, "Balancing factor b (empty: computed; 1: off)",
                                         compat.NUMBER_DOUBLE, None, optional=True, minValue=0.01, maxValue=100.0),
        ]
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | compat.PARAMETER_FLAG_ADVANCED)
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterFile(self.BASE_MODEL, "Base model card (optional)",
                                                     compat.FILE_BEHAVIOR_FILE, extension="json", optional=True))
        self.addParameter(QgsProcessingParameterBoolean(self.REGISTER, "Register the model and make it the default",
                                                        True))
        self.addParameter(QgsProcessingParameterFileDestination(self.OUTPUT, "Model card", "Model cards (*.json)"))
        self.addOutput(QgsProcessingOutputFile(self.REGISTERED, "Registered model card"))
        self.addOutput(QgsProcessingOutputNumber(self.VALIDATION_MIOU, "Validation mIoU (%)"))

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,  # noqa: N802, D102
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        settings = PluginSettings.load()
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        stem = output[:-5] if output.lower().endswith(".json") else output

        def integer(key: str) -> int | None:
            return optional_value(parameters, key, self.parameterAsInt(parameters, key, context))

        def number(key: str) -> float | None:
            return optional_value(parameters, key, self.parameterAsDouble(parameters, key, context))

        request = FinetuneRequest(
            output=stem, name=safe_model_name(Path(stem).name),
            preset=PRESET_KEYS[self.parameterAsEnum(parameters, self.PRESET, context)],
            val_share=self.parameterAsDouble(parameters, self.VAL_SHARE, context),
            steps=integer(self.STEPS), jointnet_steps=integer(self.JOINTNET_STEPS),
            aug_ratio=number(self.AUG_RATIO), balance=number(self.BALANCE),
            init=self.parameterAsFile(parameters, self.BASE_MODEL, context),
            device=DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)])
        scratch = Path(tempfile.mkdtemp(prefix="dakd-train-", dir=QgsProcessingUtils.tempFolder()))
        try:
            self.data_request(parameters, context, request, scratch)
        except InputProblem as error:
            raise QgsProcessingException(sentence(str(error))) from error
        found = problems(request)
        if found:
            raise QgsProcessingException("Cannot start: " + "; ".join(found) + ".")
        arguments = engine_command(settings.python_executable(), finetune_arguments(request))
        feedback.pushCommandInfo(" ".join(arguments))
        sink = progress_reporter(feedback.setProgress, feedback.setProgressText,
                                 lambda level, message: feedback.pushInfo(message))
        try:
            done = run_engine(arguments, sink, feedback.pushConsoleInfo, feedback.isCanceled)
        except (EngineRunError, OSError) as error:
            raise QgsProcessingException(sentence(str(error))) from error
        card = str(done.get("model") or stem + ".json")
        results: dict[str, Any] = {self.OUTPUT: card, self.REGISTERED: "",
                                   self.VALIDATION_MIOU: done.get("validation_miou")}
        if self.parameterAsBoolean(parameters, self.REGISTER, context):
            try:
                registered = register_model(Path(card), settings, request.name, make_default=True,
                                            validate=False)  # the engine has just written and checked it
            except ModelRegistryError as error:
                raise QgsProcessingException(f"The model was trained ({card}) but not registered: {error}") from error
            feedback.pushInfo(f"Registered {registered} as the default model.")
            results[self.REGISTERED] = str(registered)
        return results


class FinetuneAlgorithm(_TrainingAlgorithm):
    """Fine-tune on SAR rasters with label polygons (``dakd finetune --scene ... --labels ...``)."""

    SCENES = "SCENES"
    LABELS = "LABELS"
    CLASS_FIELD = "CLASS_FIELD"
    CLASS_MAP = "CLASS_MAP"

    def name(self) -> str:  # noqa: D102 - QGIS API
        return "finetuneonmylabels"

    def displayName(self) -> str:  # noqa: N802, D102 - QGIS API
        return "Fine-tune on my labels"

    def createInstance(self) -> FinetuneAlgorithm:  # noqa: N802, D102 - QGIS API
        return FinetuneAlgorithm()

    def data_help(self) -> str:
        """Describe the scene and label inputs."""
        return ("<p><b>SAR rasters</b>: the scenes you labelled. <b>Label polygons</b>: one layer for all scenes "
                "(reprojected as needed; pixels outside polygons are sea). <b>Class field</b>: the attribute with "
                "each polygon's class: a class name (oil, look-alike, ship, land, sea), an id 0-4, or any value "
                "mapped in <b>Value mapping</b>, e.g. <code>slick=oil, boat=ship, unsure=ignore</code>.</p>")

    def add_data_parameters(self) -> None:
        """Add SAR rasters, label polygons, class field and value mapping."""
        self.addParameter(QgsProcessingParameterMultipleLayers(self.SCENES, "SAR rasters", compat.SOURCE_TYPE_RASTER))
        self.addParameter(QgsProcessingParameterVectorLayer(self.LABELS, "Label polygons",
                                                            [compat.SOURCE_TYPE_POLYGON]))
        self.addParameter(QgsProcessingParameterField(self.CLASS_FIELD, "Class field", "class", self.LABELS,
                                                      compat.FIELD_TYPE_ANY))
        self.addParameter(QgsProcessingParameterString(self.CLASS_MAP, "Value mapping (VALUE=CLASS, comma separated)",
                                                       "", optional=True))

    def data_request(self, parameters: dict[str, Any], context: QgsProcessingContext, request: FinetuneRequest,
                     scratch: Path) -> None:
        """Fill scenes, labels, class field and mapping."""
        request.scenes = [raster_file(layer) for layer in self.parameterAsLayerList(parameters, self.SCENES, context)]
        labels = self.parameterAsVectorLayer(parameters, self.LABELS, context)
        request.labels, request.layer = vector_file(labels, scratch)
        fields = self.parameterAsFields(parameters, self.CLASS_FIELD, context)
        request.class_field = fields[0] if fields else "class"
        request.class_map = parse_mapping(self.parameterAsString(parameters, self.CLASS_MAP, context))


class TrainPipelineAlgorithm(_TrainingAlgorithm):
    """The DAKD pipeline on an OSD or SOS data-set folder (``dakd finetune --data-format ...``)."""

    DATASET = "DATASET"
    DATASET_FORMAT = "DATASET_FORMAT"

    def name(self) -> str:  # noqa: D102 - QGIS API
        return "traindakdpipeline"

    def displayName(self) -> str:  # noqa: N802, D102 - QGIS API
        return "Train DAKD pipeline (advanced)"

    def icon(self) -> QIcon:  # noqa: D102 - QGIS API
        return QIcon(icon_path("train"))

    def createInstance(self) -> TrainPipelineAlgorithm:  # noqa: N802, D102 - QGIS API
        return TrainPipelineAlgorithm()

    def data_help(self) -> str:
        """Describe the data-set folder input."""
        return ("<p><b>Data-set folder</b>: an Oil Spill Detection (OSD, Krestenitis et al.) or SOS data set laid "
                "out as published (images and label masks); its <code>train</code> split is used.</p>")

    def add_data_parameters(self) -> None:
        """Add the data-set folder and its format."""
        self.addParameter(QgsProcessingParameterFile(self.DATASET, "Data-set folder", compat.FILE_BEHAVIOR_FOLDER))
        self.addParameter(QgsProcessingParameterEnum(self.DATASET_FORMAT, "Data-set format",
                                                     [name.upper() for name in DATASET_FORMATS], defaultValue=0))

    def data_request(self, parameters: dict[str, Any], context: QgsProcessingContext, request: FinetuneRequest,
                     scratch: Path) -> None:
        """Fill the data-set folder and format."""
        request.dataset = self.parameterAsFile(parameters, self.DATASET, context)
        request.dataset_format = DATASET_FORMATS[self.parameterAsEnum(parameters, self.DATASET_FORMAT, context)]


def parse_mapping(text: str) -> dict[str, str]:
    """Parse ``"slick=oil, boat=ship"`` into ``{"slick": "oil", "boat": "ship"}``.

    Raises:
        QgsProcessingException: an item without ``=``.
    """
    mapping = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        value, sep, target = item.partition("=")
        if not sep or not value.strip():
            raise QgsProcessingException(f"Value mapping item {item!r}: write VALUE=CLASS, e.g. slick=oil.")
        mapping[value.strip()] = target.strip().lower()
    return mapping
