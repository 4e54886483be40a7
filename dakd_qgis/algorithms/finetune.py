"""Processing algorithms "Fine-tune on my labels" and "Train DAKD pipeline (advanced)".

Both run ``dakd finetune`` as a child process (a crash or an out-of-memory kill in training cannot
take QGIS down), forward its progress to ``feedback``, stop it when the user cancels, and register
the new model so "Detect oil spills" can use it. They exist so fine-tuning works in batch mode and
the graphical modeler; the "Fine-tune on my labels" dialog is the interactive way, with the same
command line (:func:`dakd_qgis.finetune.finetune_arguments`).
"""

from __future__ import annotations

import shutil
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
from ..contract import current_contract
from ..detection import progress_reporter
from ..engine_command import EngineRunError, engine_command, run_engine
from ..finetune import (
    FinetuneRequest,
    background_labels,
    dataset_formats,
    finetune_arguments,
    preset_labels,
    problems,
    safe_model_name,
)
from ..layer_sources import InputProblem, raster_file, vector_file
from ..models import ModelRegistryError, free_model_name, register_model
from ..paths import help_url, icon_path
from ..settings import PluginSettings
from ..translation import tr
from .common import feedback_log, optional_value, raster_from_string, sentence


def training_help() -> str:
    """Return the help paragraphs both training algorithms share (HTML without line breaks)."""
    return "".join(
        (
            "<p>",
            tr(
                "Runs the DAKD pipeline (arXiv 2412.08116) as a separate <code>dakd finetune</code> process: "
                "SAR-JointNet learns your labelled tiles and generates extra image/soft-label pairs, then SAROSS-Net "
                "is trained on the real and generated pairs. The log shows each stage and the validation mIoU."
            ),
            "</p><p>",
            tr(
                "<b>Preset</b>: quick (one GPU, about half an hour), standard (hours), paper (about a day), CPU (about "
                "an hour on 2 CPU cores for a few thousand tiles), tiny (a few minutes on a CPU, to try the pipeline; "
                "the model is not useful). <b>Validation share</b>: share of scenes kept aside to measure the model. "
                "Advanced: <b>SAROSS-Net steps</b> and <b>SAR-JointNet steps</b> override the preset, <b>augmentation "
                "ratio</b> is the number of generated pairs per real tile (0 skips the diffusion model), <b>b</b> is "
                "the balancing factor (empty: computed from the data; 1 turns it off). <b>Base model</b>: start from "
                "this model card (its normalisation is kept)."
            ),
            "</p><p>",
            tr(
                "<b>Model card</b>: where the new model is written (.json + .safetensors). With <b>Register and "
                "use for detection</b> the model is also copied into the plugin's model list under the card's name "
                "(NAME-2, NAME-3… when a registered model has it: that one is never replaced) and becomes the "
                "default for Detect oil spills, unless the validation share is 0: a model measured on nothing is "
                "registered but not made the default."
            ),
            "</p><p>",
            tr("Cancel stops training after the current step; the run's work folder keeps its checkpoints."),
            "</p>",
        )
    )


def _load_scenes(value: Any, context: QgsProcessingContext) -> None:
    """Load the SAR rasters given as file paths the way that writes nothing beside them (``raster_from_string``).

    QGIS's own check of the parameter and ``parameterAsLayerList`` then find them in ``context``: loading them
    themselves, they left ``scene.tif.aux.xml`` (and ``manifest.gfs`` in a Sentinel-1 product) beside the files.
    """
    for item in value if isinstance(value, (list, tuple)) else [value]:
        raster_from_string(item, context)


class _SceneLayersParameter(QgsProcessingParameterMultipleLayers):
    """The SAR rasters to train on, as QGIS checks them, but loaded from file paths by :func:`_load_scenes` first.

    Checking a value is the first thing ``qgis_process`` and the Processing dialog do with it.
    """

    def clone(self) -> _SceneLayersParameter:  # noqa: D102 - QGIS API
        copy = _SceneLayersParameter(self.name(), self.description(), self.layerType(), self.defaultValue())
        copy.setFlags(self.flags())
        copy.setHelp(self.help())
        return copy

    def checkValueIsAcceptable(  # noqa: N802, D102
        self, value: Any, context: QgsProcessingContext | None = None
    ) -> bool:
        if context is not None:
            _load_scenes(value, context)
        return super().checkValueIsAcceptable(value, context)


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
        return tr("Training")

    def groupId(self) -> str:  # noqa: N802, D102 - QGIS API
        return "training"

    def icon(self) -> QIcon:  # noqa: D102 - QGIS API
        return QIcon(icon_path("finetune"))

    def shortHelpString(self) -> str:  # noqa: N802, D102 - QGIS API
        return self.data_help() + training_help()

    def helpUrl(self) -> str:  # noqa: N802, D102 - QGIS API
        return help_url("user-guide/qgis", "fine-tune-on-my-labels")

    def data_help(self) -> str:
        """Return the help paragraph about this algorithm's data inputs."""
        return ""

    def add_data_parameters(self) -> None:
        """Add the data inputs (subclasses)."""

    def data_request(
        self, parameters: dict[str, Any], context: QgsProcessingContext, request: FinetuneRequest, scratch: Path
    ) -> None:
        """Fill the data fields of ``request`` (subclasses); raise ``InputProblem`` on bad inputs."""

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802, D102 - QGIS API
        self.add_data_parameters()
        self.addParameter(
            QgsProcessingParameterNumber(
                self.VAL_SHARE, tr("Validation share"), compat.NUMBER_DOUBLE, 0.2, minValue=0.0, maxValue=0.9
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(self.PRESET, tr("Preset"), list(preset_labels().values()), defaultValue=0)
        )
        self.addParameter(
            QgsProcessingParameterEnum(self.DEVICE, tr("Device"), list(current_contract().devices), defaultValue=0)
        )
        advanced = [
            QgsProcessingParameterNumber(
                self.STEPS, tr("SAROSS-Net steps"), compat.NUMBER_INTEGER, None, optional=True, minValue=1
            ),
            QgsProcessingParameterNumber(
                self.JOINTNET_STEPS, tr("SAR-JointNet steps"), compat.NUMBER_INTEGER, None, optional=True, minValue=1
            ),
            QgsProcessingParameterNumber(
                self.AUG_RATIO,
                tr("Augmentation ratio"),
                compat.NUMBER_DOUBLE,
                None,
                optional=True,
                minValue=0.0,
                maxValue=4.0,
            ),
            QgsProcessingParameterNumber(
                self.BALANCE,
                tr("Balancing factor b"),
                compat.NUMBER_DOUBLE,
                None,
                optional=True,
                minValue=0.01,
                maxValue=100.0,
            ),
        ]
        advanced[0].setHelp(tr("Empty: the preset's value."))
        advanced[1].setHelp(tr("Empty: the preset's value."))
        advanced[2].setHelp(tr("Generated pairs per real tile; empty: the preset's value."))
        advanced[3].setHelp(tr("Empty: computed from the data; 1 turns it off."))
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | compat.PARAMETER_FLAG_ADVANCED)
            self.addParameter(parameter)
        self.addParameter(
            QgsProcessingParameterFile(
                self.BASE_MODEL, tr("Base model"), compat.FILE_BEHAVIOR_FILE, extension="json", optional=True
            )
        )
        self.addParameter(QgsProcessingParameterBoolean(self.REGISTER, tr("Register and use for detection"), True))
        self.addParameter(
            QgsProcessingParameterFileDestination(self.OUTPUT, tr("Model card"), tr("Model cards (*.json)"))
        )
        self.addOutput(QgsProcessingOutputFile(self.REGISTERED, tr("Registered model card")))
        self.addOutput(QgsProcessingOutputNumber(self.VALIDATION_MIOU, tr("Validation mIoU (%)")))

    def processAlgorithm(
        self,
        parameters: dict[str, Any],
        context: QgsProcessingContext,  # noqa: N802, D102
        feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        settings = PluginSettings.load()  # for starting the run; the registration reads them again at the end
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        stem = output[:-5] if output.lower().endswith(".json") else output
        register = self.parameterAsBoolean(parameters, self.REGISTER, context)
        models = settings.models_dir(create=False)
        if Path(stem).expanduser().resolve().parent == models.resolve():
            # the engine would write over a registered model (the default one, maybe) before anyone is asked
            raise QgsProcessingException(
                tr(
                    "Choose a Model card outside the plugin's model folder {folder}: with Register the model is "
                    "copied there under a free name."
                ).format(folder=models)
            )
        wanted = safe_model_name(Path(stem).name)
        name = free_model_name(settings, wanted) if register else wanted

        def integer(key: str) -> int | None:
            return optional_value(parameters, key, self.parameterAsInt(parameters, key, context))

        def number(key: str) -> float | None:
            return optional_value(parameters, key, self.parameterAsDouble(parameters, key, context))

        request = FinetuneRequest(
            output=stem,
            name=name,
            preset=list(preset_labels())[self.parameterAsEnum(parameters, self.PRESET, context)],
            val_share=self.parameterAsDouble(parameters, self.VAL_SHARE, context),
            steps=integer(self.STEPS),
            jointnet_steps=integer(self.JOINTNET_STEPS),
            aug_ratio=number(self.AUG_RATIO),
            balance=number(self.BALANCE),
            init=self.parameterAsFile(parameters, self.BASE_MODEL, context),
            device=current_contract().devices[self.parameterAsEnum(parameters, self.DEVICE, context)],
            overwrite=True,  # the destination the analyst chose, replaced as every Processing output is
        )
        # A new folder of our own for the copies the engine reads (a layer's selection, a layer that is no plain
        # file); removed whatever the end (done, failed, cancelled), and never a folder the analyst named.
        scratch = Path(tempfile.mkdtemp(prefix="dakd-train-", dir=QgsProcessingUtils.tempFolder()))
        try:
            try:
                self.data_request(parameters, context, request, scratch)
            except InputProblem as error:
                raise QgsProcessingException(sentence(str(error))) from error
            found = problems(request)
            if found:
                raise QgsProcessingException(tr("Cannot start: {reasons}.").format(reasons="; ".join(found)))
            if name != wanted:
                self._say_renamed(feedback, wanted, name)
            arguments = engine_command(settings.python_executable(), finetune_arguments(request))
            feedback.pushCommandInfo(" ".join(arguments))
            sink = progress_reporter(feedback.setProgress, feedback.setProgressText, feedback_log(feedback))
            try:
                done = run_engine(
                    arguments, sink, feedback.pushConsoleInfo, feedback.isCanceled, process_name=tr("training process")
                )
            except (EngineRunError, OSError) as error:
                raise QgsProcessingException(sentence(str(error))) from error
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if not done:
            # The engine says "done" only after the model is written; a child that ended without it (exit 0 in a
            # non-first torchrun rank) wrote none, and the run must not report the card, nor register it, as made.
            raise QgsProcessingException(tr("The training process ended without writing a model."))
        card = str(done.get("model") or stem + ".json")
        results: dict[str, Any] = {
            self.OUTPUT: card,
            self.REGISTERED: "",
            self.VALIDATION_MIOU: done.get("validation_miou"),
        }
        if register:
            # A model measured on no validation scene never becomes the default unasked (nobody can ask here).
            measured = isinstance(done.get("validation_miou"), (int, float)) and request.val_share > 0
            try:
                settings = PluginSettings.load()  # as they are now: Settings… may have changed during the run
                name = free_model_name(settings, request.name)  # registered meanwhile: never replaced
                if name != request.name:
                    self._say_renamed(feedback, request.name, name)
                registered = register_model(
                    Path(card), settings, name, make_default=measured, validate=False
                )  # the engine has just written and checked it
            except ModelRegistryError as error:
                raise QgsProcessingException(
                    tr("The model was trained ({card}) but not registered: {reason}").format(card=card, reason=error)
                ) from error
            if measured:
                feedback.pushInfo(tr("Registered {card} as the default model.").format(card=registered))
            else:
                feedback.pushWarning(
                    tr(
                        "Registered {card}, but not as the default model: with a validation share "
                        "of 0 it was not measured. Make it the default in Models… if you trust "
                        "it."
                    ).format(card=registered)
                )
            results[self.REGISTERED] = str(registered)
        return results

    @staticmethod
    def _say_renamed(feedback: QgsProcessingFeedback, wanted: str, name: str) -> None:
        feedback.pushWarning(
            tr(
                "A model named '{wanted}' is already registered and is kept: this one is registered as '{name}'."
            ).format(wanted=wanted, name=name)
        )


class FinetuneAlgorithm(_TrainingAlgorithm):
    """Fine-tune on SAR rasters with label polygons (``dakd finetune --scene ... --labels ...``)."""

    SCENES = "SCENES"
    LABELS = "LABELS"
    CLASS_FIELD = "CLASS_FIELD"
    CLASS_MAP = "CLASS_MAP"
    BACKGROUND = "BACKGROUND"

    def name(self) -> str:  # noqa: D102 - QGIS API
        return "finetuneonmylabels"

    def displayName(self) -> str:  # noqa: N802, D102 - QGIS API
        return tr("Fine-tune on my labels")

    def createInstance(self) -> FinetuneAlgorithm:  # noqa: N802, D102 - QGIS API
        return FinetuneAlgorithm()

    def data_help(self) -> str:
        """Describe the scene and label inputs."""
        return (
            "<p>"
            + tr(
                "<b>SAR rasters</b>: the scenes you labelled. <b>Label polygons</b>: one layer for all "
                "scenes (reprojected as needed). <b>Class field</b>: the "
                "attribute with each polygon's class: a class name (oil, look-alike, ship, land, sea), an id "
                "0-4, or any value mapped in <b>Value mapping</b>, e.g. <code>slick=oil, boat=ship, "
                "unsure=ignore</code>. <b>Outside the polygons</b>: sea, or <i>not oil</i> when you "
                "outlined only the oil (the rest is trained as any class but oil, never as sea), or "
                "ignore when you checked only the outlined areas."
            )
            + "</p>"
        )

    def add_data_parameters(self) -> None:
        """Add SAR rasters, label polygons, class field and value mapping."""
        self.addParameter(_SceneLayersParameter(self.SCENES, tr("SAR rasters"), compat.SOURCE_TYPE_RASTER))
        self.addParameter(
            QgsProcessingParameterVectorLayer(self.LABELS, tr("Label polygons"), [compat.SOURCE_TYPE_POLYGON])
        )
        self.addParameter(
            QgsProcessingParameterField(
                self.CLASS_FIELD, tr("Class field"), "class", self.LABELS, compat.FIELD_TYPE_ANY
            )
        )
        mapping = QgsProcessingParameterString(self.CLASS_MAP, tr("Value mapping"), "", optional=True)
        mapping.setHelp(
            tr("VALUE=CLASS pairs, comma separated, e.g. slick=oil, boat=ship; =ignore for polygons without a value")
        )
        self.addParameter(mapping)
        self.addParameter(
            QgsProcessingParameterEnum(
                self.BACKGROUND, tr("Outside the polygons"), list(background_labels().values()), defaultValue=0
            )
        )

    def data_request(
        self, parameters: dict[str, Any], context: QgsProcessingContext, request: FinetuneRequest, scratch: Path
    ) -> None:
        """Fill scenes, labels, class field and mapping."""
        _load_scenes(parameters.get(self.SCENES), context)
        request.scenes = [raster_file(layer) for layer in self.parameterAsLayerList(parameters, self.SCENES, context)]
        labels = self.parameterAsVectorLayer(parameters, self.LABELS, context)
        request.labels, request.layer = vector_file(labels, scratch)
        fields = self.parameterAsFields(parameters, self.CLASS_FIELD, context)
        request.class_field = fields[0] if fields else "class"
        request.class_map = parse_mapping(self.parameterAsString(parameters, self.CLASS_MAP, context))
        request.background = list(background_labels())[self.parameterAsEnum(parameters, self.BACKGROUND, context)]


class TrainPipelineAlgorithm(_TrainingAlgorithm):
    """The DAKD pipeline on an OSD or SOS data-set folder (``dakd finetune --data-format ...``)."""

    DATASET = "DATASET"
    DATASET_FORMAT = "DATASET_FORMAT"

    def name(self) -> str:  # noqa: D102 - QGIS API
        return "traindakdpipeline"

    def displayName(self) -> str:  # noqa: N802, D102 - QGIS API
        return tr("Train DAKD pipeline (advanced)")

    def icon(self) -> QIcon:  # noqa: D102 - QGIS API
        return QIcon(icon_path("train"))

    def createInstance(self) -> TrainPipelineAlgorithm:  # noqa: N802, D102 - QGIS API
        return TrainPipelineAlgorithm()

    def data_help(self) -> str:
        """Describe the data-set folder input."""
        return (
            "<p>"
            + tr(
                "<b>Data-set folder</b>: an Oil Spill Detection (OSD, Krestenitis et al.) or SOS data set "
                "laid out as published (images and label masks); its <code>train</code> split is "
                "used."
            )
            + "</p>"
        )

    def add_data_parameters(self) -> None:
        """Add the data-set folder and its format."""
        self.addParameter(QgsProcessingParameterFile(self.DATASET, tr("Data-set folder"), compat.FILE_BEHAVIOR_FOLDER))
        self.addParameter(
            QgsProcessingParameterEnum(
                self.DATASET_FORMAT, tr("Data-set format"), [name.upper() for name in dataset_formats()], defaultValue=0
            )
        )

    def data_request(
        self, parameters: dict[str, Any], context: QgsProcessingContext, request: FinetuneRequest, scratch: Path
    ) -> None:
        """Fill the data-set folder and format."""
        request.dataset = self.parameterAsFile(parameters, self.DATASET, context)
        request.dataset_format = dataset_formats()[self.parameterAsEnum(parameters, self.DATASET_FORMAT, context)]


def parse_mapping(text: str) -> dict[str, str]:
    """Parse ``"slick=oil, boat=ship"`` into ``{"slick": "oil", "boat": "ship"}``; ``=ignore`` names empty values.

    Raises:
        QgsProcessingException: an item without ``=``.
    """
    mapping = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        value, sep, target = item.partition("=")
        if not sep:
            raise QgsProcessingException(
                tr("Value mapping item {item}: write VALUE=CLASS, e.g. slick=oil.").format(item=repr(item))
            )
        mapping[value.strip()] = target.strip().lower()
    return mapping
