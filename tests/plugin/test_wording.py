"""The plugin's words for engine messages: parameter names instead of command-line flags (issue 12 item 16)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "engine, plugin",
    [
        (
            "scene.tif: has 1 band(s), there is no band 3; use --band 1..1 (1=(no name))",
            "scene.tif: has 1 band(s), there is no band 3; set “Band” to 1..1 (1=(no name))",
        ),
        (
            "--device cuda: no CUDA GPU is visible to torch 2.13; use --device auto or --device cpu",
            "“Device” cuda: no CUDA GPU is visible to torch 2.13; set “Device” to auto or set “Device” to cpu",
        ),
        (
            "out of memory: use a smaller --batch-size or close other programs",
            "out of memory: use a smaller “Batch size” or close other programs",
        ),
        ("stopping after the current batch (press Ctrl-C again to abort at once)", "stopping after the current batch"),
        (
            "internal error (KeyError: 'x'); rerun with --debug and report it",
            "internal error (KeyError: 'x'); please report it with the log (View ▸ Panels ▸ Log Messages)",
        ),
        (
            "labels.gpkg: unknown class 'boat'; map it with --class-map boat=CLASS",
            "labels.gpkg: unknown class 'boat'; map it with “Value mapping” boat=CLASS",
        ),
        (
            "no training tiles left after the validation split; lower --val-share or add scenes",
            "no training tiles left after the validation split; lower “Validation share” or add scenes",
        ),
        (
            "the training loss became nan; lower --lr or use --precision fp32",
            "the training loss became nan; lower the engine setting “lr” or set the engine setting “precision” to fp32",
        ),
        (
            "S1A.SAFE: the product has no HH band (it has: VH, VV); pass --pol VH",
            "S1A.SAFE: the product has no HH band (it has: VH, VV); set “Band” to VH",
        ),
        (
            "S1A.SAFE: band 3 does not exist; the product's bands are VV, VH (use --pol)",
            "S1A.SAFE: band 3 does not exist; the product's bands are VV, VH (set “Band”)",
        ),
        ("dakd: error: x.json: not a DAKD model card", "x.json: not a DAKD model card"),
        ("a sentence without flags, e.g. a range -5 to --", "a sentence without flags, e.g. a range -5 to --"),
    ],
)
def test_engine_flags_become_parameter_names(engine, plugin):
    from dakd_qgis.wording import plugin_wording

    assert plugin_wording(engine) == plugin


def test_every_flag_the_plugin_passes_has_a_name():
    """Each option the plugin hands the engine is one of its own parameters, so it has a label here."""
    from dakd_qgis.detection import DetectRequest, detect_arguments
    from dakd_qgis.finetune import FinetuneRequest, finetune_arguments
    from dakd_qgis.wording import flag_labels

    detect = detect_arguments(
        DetectRequest(
            "in.tif",
            "out",
            model_path="m.json",
            band=1,
            prob_threshold=0.5,
            batch_size=2,
            aoi="sea.gpkg",
            wind_dir_deg=200.0,
        )
    )
    finetune = finetune_arguments(
        FinetuneRequest(
            "m",
            name="m",
            scenes=["a.tif"],
            labels="l.gpkg",
            layer="l",
            class_map={"a": "oil"},
            steps=1,
            jointnet_steps=1,
            aug_ratio=0.0,
            balance=1.0,
            init="b.json",
        )
    )
    passed = {argument[2:] for argument in detect + finetune if argument.startswith("--")} - {"overwrite"}
    assert passed <= set(flag_labels()), passed - set(flag_labels())


def test_the_labels_are_the_plugins_parameter_labels(dakd_provider):
    """The names used in messages are the labels the analyst sees in the Processing dialogs."""
    from qgis.core import QgsApplication

    from dakd_qgis.wording import flag_labels

    shown = set()
    for algorithm_id in ("dakd:detectoilspills", "dakd:finetuneonmylabels", "dakd:traindakdpipeline"):
        algorithm = QgsApplication.processingRegistry().algorithmById(algorithm_id)
        shown |= {re.sub(r" \(.*\)$", "", p.description()) for p in algorithm.parameterDefinitions()}
    dialog_only = {"New model name", "output"}  # the fine-tune window's name box; the detection output folder
    assert set(flag_labels().values()) - dialog_only <= shown, set(flag_labels().values()) - dialog_only - shown


def test_engine_messages_reach_the_analyst_through_the_wording():
    """The three ways engine text reaches QGIS all go through plugin_wording (source check)."""
    for module, needle in (
        ("events.py", "plugin_wording(error_message)"),
        ("engine_command.py", "plugin_wording(line)"),
        ("dialogs/finetune_dialog.py", "plugin_wording(line)"),
        ("models.py", "plugin_wording(reason)"),
    ):
        assert needle in (REPO / "dakd_qgis" / module).read_text(), module
