"""The fine-tune request and its `dakd finetune` command line (checked against the engine's own parser)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.qgis


def _parse(arguments):
    from engine.cli import build_parser

    return build_parser().parse_args(["--progress", "json", *arguments])


def test_scene_request_parses_with_the_engine_cli(tmp_path):
    from dakd_qgis.finetune import FinetuneRequest, finetune_arguments

    request = FinetuneRequest(
        output=str(tmp_path / "m"),
        name="m",
        scenes=["a.tif", "b.tif"],
        labels="l.gpkg",
        layer="labels",
        class_field="kind",
        class_map={"slick": "oil", "boat": "ship"},
        val_share=0.25,
        preset="tiny",
        steps=5,
        aug_ratio=0.0,
        balance=1.0,
        init="base.json",
        device="cpu",
        overwrite=True,
    )
    args = _parse(finetune_arguments(request))
    assert args.command == "finetune" and args.out == str(tmp_path / "m") and args.name == "m"
    assert args.scene == ["a.tif", "b.tif"] and args.labels == ["l.gpkg"] and args.layer == "labels"
    assert args.class_field == "kind" and args.class_map == ["slick=oil", "boat=ship"]
    assert (args.val_share, args.preset, args.segmenter_steps, args.jointnet_steps) == (0.25, "tiny", 5, None)
    assert (args.aug_ratio, args.balance, args.init, args.device, args.overwrite) == (
        0.0,
        1.0,
        "base.json",
        "cpu",
        True,
    )


def test_oil_only_labels_ask_the_engine_for_background_not_oil(tmp_path):
    """Polygons around the oil only: the pixels outside them are "not oil" for the engine, never sea."""
    from dakd_qgis.finetune import FinetuneRequest, background_labels, finetune_arguments, problems
    from engine.data.scenes import LabelSpec, background_is_not_oil

    request = FinetuneRequest(
        output=str(tmp_path / "m"),
        scenes=["a.tif"],
        labels="oil.gpkg",
        class_map={"slick": "oil", "background": "not-oil"},
        background="not-oil",
        init="resources/models/default.json",
    )
    args = _parse(finetune_arguments(request))
    assert args.background == "not-oil" and background_is_not_oil(LabelSpec(background=args.background))
    assert args.class_map == ["slick=oil", "background=not-oil"]
    plain = FinetuneRequest(output="m", scenes=["a.tif"], labels="l.gpkg")
    assert _parse(finetune_arguments(plain)).background == "sea"  # the engine's default, not passed
    assert set(background_labels()) == {"sea", "not-oil", "ignore"} and not problems(request)
    assert problems(FinetuneRequest(output="m", scenes=["a.tif"], labels="l.gpkg", background="land")) == [
        "unknown background 'land'"
    ]


def test_dataset_request_parses_with_the_engine_cli(tmp_path):
    from dakd_qgis.finetune import FinetuneRequest, finetune_arguments

    request = FinetuneRequest(output=str(tmp_path / "osd"), dataset=str(tmp_path), dataset_format="sos")
    args = _parse(finetune_arguments(request))
    assert (args.data_format, args.dataset, args.scene, args.preset) == ("sos", str(tmp_path), [], "quick")
    assert not args.overwrite  # only a request that may replace its output asks for it


def test_problems_name_what_to_fix(tmp_path):
    from dakd_qgis.finetune import FinetuneRequest, problems

    assert problems(FinetuneRequest(output="m")) == ["choose at least one SAR raster", "choose the label polygons"]
    request = FinetuneRequest(
        output="m", scenes=["a.tif"], labels="l.gpkg", class_map={"x": "ignore"}, init=str(tmp_path / "none.json")
    )
    assert problems(request) == [
        "every label value is mapped to ignore: map at least one to a class",
        f"the base model {tmp_path / 'none.json'} does not exist",
    ]


def test_default_class_follows_the_engine():
    from dakd_qgis.finetune import default_class_for, is_known_label
    from engine.classes import IGNORE_INDEX, NOT_OIL_INDEX, OSD_CLASSES
    from engine.data import scenes
    from engine.errors import InputError

    def class_id_known(value):
        try:
            return scenes.resolve_class(value, scenes.LabelSpec(), "labels") == IGNORE_INDEX
        except InputError:
            return False

    # a value the engine does not know ("slick", "boat") starts as ignore, never as oil (issue 12 item 13)
    assert [default_class_for(v) for v in ("oil", "Look-alike", 3, "vessel", "unlabelled", "slick", "boat")] == [
        "oil",
        "look-alike",
        "ship",
        "ship",
        "ignore",
        "ignore",
        "ignore",
    ]
    # the plugin reads the rules from the engine's contract and so reads every value as the engine does
    names = {IGNORE_INDEX: "ignore", NOT_OIL_INDEX: "not-oil"}
    for background in ("sea", "not-oil"):
        spec = scenes.LabelSpec(background=background)
        for value in (
            "Oil",
            " sea ",
            0,
            4,
            "2",
            "lookalike",
            "Oil Spill",
            "background",
            "No Data",
            "slick",
            "",
            None,
            "Not Oil",
            "non-oil",
        ):
            try:
                class_id = scenes.resolve_class(value, spec, "labels")
                expected = names.get(class_id) or OSD_CLASSES[class_id].name
            except InputError:
                expected = "ignore"
            assert default_class_for(value, background) == expected, (value, background)
            if background == "sea":
                assert is_known_label(value) == (expected != "ignore" or class_id_known(value)), value


def test_default_class_works_without_the_engine():
    """In the installed plugin the engine lives in lib/ and is not importable in QGIS: the rules come from its file."""
    import subprocess  # nosec B404 - a fixed argument list
    import sys

    code = (
        "import sys; sys.modules['engine'] = None; from dakd_qgis.finetune import default_class_for; "
        "print(default_class_for('vessel'))"
    )
    from pathlib import Path

    repo_root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, timeout=60, check=False
    )  # nosec B603
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ship"


def test_read_report(tmp_path):
    from dakd_qgis.finetune import read_report

    work = tmp_path / "m.work"
    (work / "generated").mkdir(parents=True)
    (work / "generated" / "samples.png").write_bytes(b"\x89PNG")
    (work / "report.json").write_text(
        json.dumps(
            {
                "model_card": str(tmp_path / "m.json"),
                "metrics": {
                    "validation": {
                        "miou": 55.5,
                        "f1": 60.0,
                        "accuracy": 97.1,
                        "recall": 58.0,
                        "precision": 62.0,
                        "iou": [96.0, float("nan")],
                    },
                    "class_names": ["sea", "oil"],
                },
                "training": {"generation": {"sample_grid": str(work / "generated" / "samples.png")}},
            }
        )
    )
    report = read_report({"event": "done", "model": str(tmp_path / "m.json"), "work_dir": str(work)})
    assert report.metrics_rows[0] == ("mIoU", "55.5 %")
    assert report.class_rows == [("IoU sea", "96.0 %"), ("IoU oil", "–")]
    assert report.sample_grid == work / "generated" / "samples.png"
    with pytest.raises(ValueError, match="cannot read the run report"):
        read_report({"work_dir": str(tmp_path / "missing")})


def test_label_values_and_layer_names_that_start_with_a_dash_reach_the_engine(tmp_path):
    """A label value -1 (a common "unknown"), mapped to ignore, or a layer named "-labels", is no engine option:
    argparse refused ``--class-map -1=ignore`` ("expected one argument") and the training never started."""
    from dakd_qgis.finetune import FinetuneRequest, finetune_arguments

    request = FinetuneRequest(
        output=str(tmp_path / "m"),
        scenes=["a.tif"],
        labels="l.gpkg",
        layer="-labels",
        class_field="-kind",
        class_map={"1": "oil", "-1": "ignore"},
    )
    args = _parse(finetune_arguments(request))
    assert args.class_map == ["1=oil", "-1=ignore"] and (args.layer, args.class_field) == ("-labels", "-kind")
    assert args.scene == ["a.tif"] and args.labels == ["l.gpkg"]
