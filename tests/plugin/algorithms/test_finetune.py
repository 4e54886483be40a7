"""The Processing algorithms "Fine-tune on my labels" and "Train DAKD pipeline (advanced)"."""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback

pytestmark = pytest.mark.qgis


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


def test_oil_only_labels_reach_the_engine_as_background_not_oil(algorithm_error, labelled_scenes, tmp_path):
    """ "Outside the polygons: not oil" becomes --background not-oil: with the bundled five-class base model the
    engine reads the rest as "not oil" (and, asked for generated pairs as well, refuses them in one line)."""
    from dakd_qgis.models import bundled_model_path

    scenes, labels = labelled_scenes
    message = algorithm_error(
        "dakd:finetuneonmylabels",
        {
            "SCENES": [str(p) for p in scenes],
            "LABELS": f"{labels}|layername=labels",
            "CLASS_FIELD": "label",
            "CLASS_MAP": "slick=oil",
            "BACKGROUND": 1,
            "AUG_RATIO": 1,
            "PRESET": 4,
            "DEVICE": 1,
            "BASE_MODEL": str(bundled_model_path()),
            "OUTPUT": str(tmp_path / "model.json"),
        },
    )
    assert "generated pairs need labels that name every class" in message and "only oil / not oil" in message
    assert not (tmp_path / "model.json").exists()
