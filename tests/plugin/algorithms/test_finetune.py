"""The Processing algorithms "Fine-tune on my labels" and "Train DAKD pipeline (advanced)"."""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback

pytestmark = pytest.mark.qgis

SENTINEL1 = Path(__file__).resolve().parents[2] / "data" / "sentinel1"


def _scratch_folders():
    """The fine-tune's own ``dakd-train-*`` folders in Processing's temporary folder."""
    from qgis.core import QgsProcessingUtils

    return set(Path(QgsProcessingUtils.tempFolder()).glob("dakd-train-*"))


def test_parse_mapping():
    from dakd_qgis.algorithms.finetune import parse_mapping

    assert parse_mapping(" slick=oil, boat = Ship ,") == {"slick": "oil", "boat": "ship"}
    assert parse_mapping("=ignore, slick=oil") == {"": "ignore", "slick": "oil"}  # polygons without a value
    with pytest.raises(QgsProcessingException, match="VALUE=CLASS"):
        parse_mapping("slick")


def test_unknown_class_in_mapping_is_refused_before_training(algorithm_error, labelled_scenes, tmp_path):
    scenes, labels = labelled_scenes
    message = algorithm_error(
        "dakd:finetuneonmylabels",
        {
            "SCENES": [str(p) for p in scenes],
            "LABELS": f"{labels}|layername=labels",
            "CLASS_FIELD": "label",
            "CLASS_MAP": "slick=petrol",
            "PRESET": 3,
            "OUTPUT": str(tmp_path / "model.json"),
        },
    )
    assert "unknown classes in the mapping: petrol" in message
    assert not (tmp_path / "model.json").exists()
    assert not (tmp_path / "model.work").exists()
    assert _scratch_folders() == set()  # the algorithm's own scratch folder goes with a refusal too


def test_a_scene_inside_a_zip_is_refused_in_one_line(dakd_provider, labelled_scenes, zipped_scene, tmp_path):
    """Trust: a scene layer of ``/vsizip/delivery.zip/scene.tif`` went to the engine as the zip."""
    import processing
    from qgis.core import QgsProject, QgsRasterLayer

    _scenes, labels = labelled_scenes
    layer = QgsRasterLayer(zipped_scene, "zipped scene", "gdal")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    parameters = {
        "SCENES": [layer.id()],
        "LABELS": f"{labels}|layername=labels",
        "CLASS_FIELD": "label",
        "CLASS_MAP": "slick=oil",
        "PRESET": 3,
        "OUTPUT": str(tmp_path / "model.json"),
    }
    try:
        with pytest.raises(QgsProcessingException) as raised:
            processing.run("dakd:finetuneonmylabels", parameters)
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    message = str(raised.value)
    assert message.startswith("Layer 'zipped scene' is read from inside an archive or through a GDAL driver; extract")
    assert "\n" not in message and not (tmp_path / "model.json").exists()
    assert _scratch_folders() == set()


def test_rasters_given_as_files_get_nothing_written_beside_them(
    dakd_provider, labelled_scenes, folder_listing, tmp_path
):
    """Trust: SAR rasters given as file paths (batch mode, a script) became QGIS layers, and the run left files in
    the analyst's folders, refused or not: GDAL saved their statistics as ``scene0.tif.aux.xml``, and OGR's GML
    reader, which QGIS tried first, wrote ``manifest.gfs`` into a Sentinel-1 product."""
    import shutil

    import processing
    from qgis.core import QgsProcessingContext

    scenes, labels = labelled_scenes
    product = next(SENTINEL1.glob("*.SAFE"))
    manifest = Path(shutil.copytree(product, tmp_path / product.name)) / "manifest.safe"
    before = folder_listing(tmp_path)
    context = QgsProcessingContext()  # GDAL writes the statistics when the layers in it close
    parameters = {
        "SCENES": [str(p) for p in scenes] + [str(manifest)],
        "LABELS": f"{labels}|layername=labels",
        "CLASS_FIELD": "label",
        "CLASS_MAP": "slick=petrol",  # refused once the scenes are read, before any training
        "OUTPUT": str(tmp_path / "model.json"),
    }
    with pytest.raises(QgsProcessingException, match="petrol"):
        processing.run("dakd:finetuneonmylabels", parameters, context=context)
    context.temporaryLayerStore().removeAllMapLayers()
    after = folder_listing(tmp_path)
    assert sorted(set(after) - set(before)) == []
    assert after == before


def test_missing_dataset_folder_is_a_readable_error(algorithm_error, tmp_path):
    message = algorithm_error(
        "dakd:traindakdpipeline",
        {
            "DATASET": str(tmp_path / "no-such-folder"),
            "DATASET_FORMAT": 0,
            "PRESET": 3,
            "OUTPUT": str(tmp_path / "m.json"),
        },
    )
    assert "no-such-folder does not exist" in message


@pytest.mark.slow
def test_finetune_algorithm_trains_and_registers(dakd_provider, labelled_scenes, tmp_path, isolated_plugin_settings):
    import processing

    from dakd_qgis.settings import PluginSettings

    scenes, labels = labelled_scenes
    feedback = QgsProcessingFeedback()
    progress = []
    feedback.progressChanged.connect(progress.append)
    result = processing.run(
        "dakd:finetuneonmylabels",
        {
            "SCENES": [str(p) for p in scenes],
            "LABELS": f"{labels}|layername=labels",
            "CLASS_FIELD": "label",
            "CLASS_MAP": "slick=oil",
            "VAL_SHARE": 0.5,
            "PRESET": 3,
            "DEVICE": 1,
            "STEPS": 3,
            "JOINTNET_STEPS": 2,
            "OUTPUT": str(tmp_path / "trained" / "batch-model.json"),
        },
        feedback=feedback,
    )
    assert Path(result["OUTPUT"]).is_file() and Path(result["OUTPUT"]).with_suffix(".safetensors").is_file()
    registered = Path(result["REGISTERED"])
    assert registered.parent == isolated_plugin_settings.models_dir() and registered.is_file()
    assert PluginSettings.load().default_model == str(registered)
    assert isinstance(result["VALIDATION_MIOU"], float)
    assert progress and max(progress) == 100
    assert _scratch_folders() == set()


def test_oil_only_labels_reach_the_engine_as_background_not_oil(algorithm_error, labelled_scenes, tmp_path):
    """ "Outside the polygons: not oil" becomes --background not-oil: with the bundled five-class base model the
    engine reads the rest as "not oil" (and, asked for generated pairs as well, refuses them in one line)."""

    scenes, labels = labelled_scenes
    message = algorithm_error(
        "dakd:finetuneonmylabels",
        _binary_labels_with_pairs(scenes, labels, tmp_path / "model.json"),
    )
    assert "generated pairs need labels that name every class" in message and "only oil / not oil" in message
    assert not (tmp_path / "model.json").exists()


class _Feedback(QgsProcessingFeedback):
    """Keeps the warnings the algorithm gives (the Processing log shows them to the analyst)."""

    def __init__(self):
        super().__init__()
        self.warnings = []

    def pushWarning(self, text):  # noqa: N802 - QGIS API
        self.warnings.append(text)
        super().pushWarning(text)


def _process(algorithm_id, parameters, feedback):
    from qgis.core import QgsApplication, QgsProcessingContext

    algorithm = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
    try:
        algorithm.processAlgorithm(parameters, QgsProcessingContext(), feedback)
    except QgsProcessingException as error:
        return str(error)
    finally:
        del algorithm
    raise AssertionError(f"{algorithm_id} did not fail")


def test_a_registered_name_is_kept_and_the_run_says_which_name_it_takes(
    dakd_provider, labelled_scenes, tmp_path, model_card, isolated_plugin_settings
):
    """Audit: the algorithm registered under the card's file name and replaced a model of that name, the default
    one included. It now says before the engine starts which free name the new model will have."""
    from dakd_qgis.models import register_model
    from dakd_qgis.settings import PluginSettings

    default = register_model(model_card, isolated_plugin_settings, "model", make_default=True, validate=False)
    kept = default.read_bytes(), default.with_suffix(".safetensors").read_bytes()
    scenes, labels = labelled_scenes
    feedback = _Feedback()
    message = _process(  # the engine refuses these options at once (see the test above): no training
        "dakd:finetuneonmylabels",
        _binary_labels_with_pairs(scenes, labels, tmp_path / "model.json"),
        feedback,
    )
    assert "only oil / not oil" in message  # the engine ran: the warning came first, then the engine's own
    assert feedback.warnings[0] == (
        "A model named 'model' is already registered and is kept: this one is registered as 'model-2'."
    )
    assert all("label polygons lie outside" in warning for warning in feedback.warnings[1:])
    assert (default.read_bytes(), default.with_suffix(".safetensors").read_bytes()) == kept
    assert PluginSettings.load().default_model == str(default)


def test_a_model_card_in_the_plugins_model_folder_is_refused(
    algorithm_error, labelled_scenes, isolated_plugin_settings
):
    """The engine would write over a registered model (with --overwrite) before anyone is asked."""
    scenes, labels = labelled_scenes
    message = algorithm_error(
        "dakd:finetuneonmylabels",
        {
            "SCENES": [str(p) for p in scenes],
            "LABELS": f"{labels}|layername=labels",
            "CLASS_FIELD": "label",
            "CLASS_MAP": "slick=oil",
            "PRESET": 4,
            "OUTPUT": str(isolated_plugin_settings.models_dir() / "default-model.json"),
        },
    )
    assert message.startswith("Choose a Model card outside the plugin's model folder")
    assert not list(isolated_plugin_settings.models_dir().iterdir())


def _binary_labels_with_pairs(scenes, labels, output):
    """Parameters the engine refuses at once (oil / not oil labels asked for generated pairs): no training."""
    from dakd_qgis.models import bundled_model_path

    return {
        "SCENES": [str(p) for p in scenes],
        "LABELS": f"{labels}|layername=labels",
        "CLASS_FIELD": "label",
        "CLASS_MAP": "slick=oil",
        "BACKGROUND": 1,
        "AUG_RATIO": 1,
        "PRESET": 4,
        "DEVICE": 1,
        "BASE_MODEL": str(bundled_model_path()),
        "OUTPUT": str(output),
    }


def test_the_scratch_folder_goes_when_the_run_ends(dakd_provider, labelled_scenes, tmp_path, isolated_plugin_settings):
    """Audit: each run left its ``dakd-train-*`` folder in Processing's temporary folder, with the copy of the
    label layer the engine read (a filtered layer is copied there). The folder is removed when the run ends;
    only that folder: the label file and the analyst's folders stay."""
    scenes, labels = labelled_scenes
    commands = []

    class Recording(_Feedback):
        def pushCommandInfo(self, info):  # noqa: N802 - QGIS API
            commands.append(info)
            super().pushCommandInfo(info)

    parameters = _binary_labels_with_pairs(scenes, labels, tmp_path / "model.json")
    parameters["LABELS"] = f"{labels}|layername=labels|subset=\"label\" = 'slick'"  # filtered: copied for the engine
    message = _process("dakd:finetuneonmylabels", parameters, Recording())
    assert "only oil / not oil" in message  # the engine read the copy, then refused the options
    arguments = commands[0].split()
    copy = Path(arguments[arguments.index("--labels") + 1])
    assert copy.name == "labels.gpkg" and copy.parent.name.startswith("dakd-train-")
    assert not copy.parent.exists() and _scratch_folders() == set()
    assert labels.is_file() and all(scene.is_file() for scene in scenes)


def test_engine_warnings_reach_the_processing_log_as_warnings():
    """Audit: the fine-tune algorithms showed the engine's warnings ("no fine-tuned step beat the --init model")
    as plain information; both algorithms now log each engine event at its level."""
    from dakd_qgis.algorithms.common import feedback_log

    feedback = _Feedback()
    log = feedback_log(feedback)
    log("warning", "no fine-tuned step beat the --init model")
    log("info", "step 10/20")
    assert feedback.warnings == ["no fine-tuned step beat the --init model"]


@pytest.mark.parametrize("register", [False, True])
def test_a_training_that_ends_without_its_done_event_is_no_success(
    dakd_provider, labelled_scenes, tmp_path, isolated_plugin_settings, monkeypatch, register
):
    """Audit: the engine says "done" only after the model card is written. A ``dakd finetune`` that exits 0 without
    it (here a torchrun rank other than the first, as ``RANK=1`` in QGIS's environment makes it) wrote no model, yet
    the algorithm returned a card that does not exist as its output, or said "The model was trained" with Register.
    It now fails as the fine-tune dialog does, and registers nothing."""
    scenes, labels = labelled_scenes
    monkeypatch.setenv("RANK", "1")  # the child inherits QGIS's environment
    output = tmp_path / "trained" / "batch-model.json"
    parameters = {
        "SCENES": [str(p) for p in scenes],
        "LABELS": f"{labels}|layername=labels",
        "CLASS_FIELD": "label",
        "CLASS_MAP": "slick=oil",
        "VAL_SHARE": 0.5,
        "PRESET": 4,
        "DEVICE": 1,
        "STEPS": 2,
        "JOINTNET_STEPS": 1,
        "AUG_RATIO": 0,
        "REGISTER": register,
        "OUTPUT": str(output),
    }
    message = _process("dakd:finetuneonmylabels", parameters, _Feedback())
    assert message == "The training process ended without writing a model."
    assert not output.exists() and not list(isolated_plugin_settings.models_dir(create=False).glob("*.json"))
