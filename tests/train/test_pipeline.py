import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from engine.cli import main
from engine.errors import Cancelled, InputError, ModelError, OutputError
from engine.progress import Progress
from engine.train.pipeline import DataConfig, FinetuneConfig, finetune


@pytest.fixture(scope="module")
def tiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "tiles"
    assert main(["--progress", "none", "simulate-tiles", "--count", "4", "--format", "osd", "--out", str(out)]) == 0
    return out


def config(tiles: Path, output: Path, **changes) -> FinetuneConfig:
    data = DataConfig(format="osd", folder=str(tiles), split=None, val_share=0.25)
    base = dict(output=str(output), data=data, preset="tiny", aug_ratio=0.0, segmenter_steps=6, device="cpu")
    return FinetuneConfig(**dict(base, **changes))


@pytest.mark.slow
def test_interrupted_finetune_resumes_to_the_same_model(tiles: Path, tmp_path: Path) -> None:
    straight = finetune(config(tiles, tmp_path / "straight" / "m"))
    assert straight["steps"] == 6

    seen = {"step": 0}

    def sink(event: dict) -> None:
        if event.get("event") == "progress" and event.get("stage") == "train SAROSS-Net":
            seen["step"] = event["step"]

    with pytest.raises(Cancelled):
        finetune(config(tiles, tmp_path / "cut" / "m"), Progress(sink, lambda: seen["step"] >= 3))
    assert not (tmp_path / "cut" / "m.json").exists()  # nothing half-written
    with pytest.raises(OutputError, match="--resume"):
        finetune(config(tiles, tmp_path / "cut" / "m"))
    resumed = finetune(config(tiles, tmp_path / "cut" / "m", resume=True))
    assert resumed["steps"] == 6
    a = load_file(str(tmp_path / "straight" / "m.safetensors"))
    b = load_file(str(tmp_path / "cut" / "m.safetensors"))
    assert all((a[k] == b[k]).all() for k in a)
    card = json.loads((tmp_path / "cut" / "m.json").read_text())
    assert card["training"]["preset"] == "tiny" and card["metrics"]["validation"]["pixels"] > 0


def test_a_file_made_at_the_output_during_the_run_is_not_replaced(tiles: Path, tmp_path: Path) -> None:
    """The outputs were checked only up front: a curve picture or card saved there during an hour's run (by the
    analyst, or a second run) was replaced at the end without --overwrite, as dakd train already refuses."""
    picture = tmp_path / "m.loss.png"

    def sink(event: dict) -> None:
        if event.get("event") == "stage" and event.get("stage") == "train SAROSS-Net" and not picture.exists():
            picture.write_text("the analyst's picture")

    with pytest.raises(OutputError, match=f"output file {picture} already exists; pass --overwrite"):
        finetune(config(tiles, tmp_path / "m", segmenter_steps=1), Progress(sink))
    assert picture.read_text() == "the analyst's picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.loss.png", "m.work"]  # the run can be --resume'd


def test_unusable_inception_weights_are_refused_before_any_work(tiles: Path, tmp_path: Path) -> None:
    """--inception-weights is read by the run's last step (FID): a missing file was refused there, after the whole
    training, and no model card was written."""
    for weights in (tmp_path / "missing.pth", tmp_path / "inception.safetensors"):
        if weights.suffix == ".safetensors":
            weights.write_bytes(b"not safetensors")
        with pytest.raises(ModelError, match=f"^{weights}: "):
            finetune(config(tiles, tmp_path / "out" / "m", aug_ratio=1.0, inception_weights=str(weights)))
        assert not (tmp_path / "out").exists()


def test_every_preset_names_existing_networks_and_the_cli_offers_it() -> None:
    from engine.cli.train import PRESET_NAMES
    from engine.models import MODEL_VARIANTS
    from engine.models.sar_jointnet import jointnet_config
    from engine.train.pipeline import PRESETS

    assert set(PRESET_NAMES) == set(PRESETS)
    for name, preset in PRESETS.items():
        assert preset.segmenter_model in MODEL_VARIANTS, name
        assert jointnet_config(preset.jointnet_variant) is not None
        assert preset.description, name
    default = PRESETS["cpu-default"]  # the bundled model's recipe: CPU-sized; generated pairs only when asked
    assert default.segmenter_model == "saross_net_xs" and default.jointnet_variant == "tiny"
    assert default.aug_ratio == 0 and default.crop_px == 128


def five_class_card(path: Path, classes=None) -> Path:
    """A fresh (untrained) SAROSS-Net-XS card: enough to test how labels meet its classes."""
    from engine.classes import OSD_CLASSES
    from engine.modelcard import new_model_card, save_model_card
    from engine.models import create_model

    classes = classes or OSD_CLASSES
    model = create_model("saross_net_xs", num_classes=len(classes))
    return save_model_card(path, model, new_model_card(model, path.name, classes))


def test_binary_labels_meet_a_five_class_model_as_oil_and_not_oil(tmp_path: Path) -> None:
    """An SOS folder (binary masks) with a five-class --init: background becomes "not oil", never sea."""
    import numpy as np

    from engine.classes import BINARY_CLASSES, IGNORE_INDEX, NOT_OIL_INDEX, OSD_CLASSES
    from engine.errors import ModelError
    from engine.train.pipeline import load_init, load_tiles

    sos = tmp_path / "sos"
    assert (
        main(
            [
                "--progress",
                "none",
                "simulate-tiles",
                "--count",
                "2",
                "--format",
                "sos",
                "--spills",
                "1",
                "--out",
                str(sos),
            ]
        )
        == 0
    )
    tiles = load_tiles(DataConfig(format="sos", folder=str(sos), split=None))
    assert tiles.classes == BINARY_CLASSES
    model, card, folded = load_init(str(five_class_card(tmp_path / "five")), tiles)
    assert model is not None and folded.classes == OSD_CLASSES == card.classes
    np.testing.assert_array_equal(folded.labels == NOT_OIL_INDEX, tiles.labels == 0)
    np.testing.assert_array_equal(folded.labels == 1, tiles.labels == 1)
    assert (tiles.labels == 1).any() and not np.isin(folded.labels, [0, 2, 3, 4, IGNORE_INDEX]).any()
    # without --init a binary data set trains a binary model, as before
    assert load_init(None, tiles)[2] is tiles
    # a model whose classes cannot take these labels is refused before any training
    from engine.classes import SegClass

    no_oil = (SegClass(0, "sea", (0, 0, 0)), SegClass(1, "ship", (9, 9, 9)), SegClass(2, "land", (0, 9, 0)))
    with pytest.raises(ModelError, match="--init .*do not fit the labels"):
        load_init(str(five_class_card(tmp_path / "noil", no_oil)), tiles)


def test_oil_only_labels_without_init_train_a_binary_model() -> None:
    """Oil and "not oil" alone cannot teach four other classes: a fresh model is oil / background."""
    import numpy as np

    from engine.classes import BINARY_CLASSES, NOT_OIL_INDEX, OSD_CLASSES
    from engine.data.tiles import TileSet
    from engine.train.pipeline import classes_to_train, load_init

    labels = np.full((1, 8, 8), NOT_OIL_INDEX, np.uint8)
    labels[0, :2] = 1
    tiles = TileSet(np.zeros((1, 8, 8), np.float16), np.ones((1, 8, 8), bool), labels, ["a"], OSD_CLASSES)
    _, _, folded = load_init(None, tiles)
    assert folded.classes == BINARY_CLASSES and set(np.unique(folded.labels).tolist()) == {0, 1}
    labels[0, 7, 7] = 2  # one look-alike outlined: the five classes stay, the rest is a partial label
    assert classes_to_train(tiles) == OSD_CLASSES


def test_runs_from_a_model_retain_and_freeze_batch_norm_and_others_do_not() -> None:
    from engine.train.pipeline import DEFAULT_RETAIN, starting_model_settings

    from_model = starting_model_settings(None, has_init=True)
    assert from_model["loss"].retain == DEFAULT_RETAIN > 0 and from_model["freeze_norm"] is True
    assert starting_model_settings(0.0, has_init=True)["loss"].retain == 0.0  # --retain 0 turns it off
    fresh = starting_model_settings(None, has_init=False)
    assert fresh["loss"].retain == 0.0 and fresh["freeze_norm"] is False
    with pytest.raises(InputError, match="--retain 2: .*--init"):
        starting_model_settings(2.0, has_init=False)


def test_train_refuses_retain_without_init_before_reading_data(tmp_path: Path, capsys) -> None:
    code = main(
        [
            "--progress",
            "none",
            "train",
            "--data-format",
            "osd",
            "--dataset",
            str(tmp_path / "missing"),
            "--retain",
            "1",
            "--output",
            str(tmp_path / "m"),
        ]
    )
    assert code == 2 and capsys.readouterr().err.strip().startswith("dakd: error: --retain 1")


def test_overwrite_knows_the_real_only_phase_checkpoints_as_its_own(tmp_path: Path) -> None:
    """A work folder with the real-only phase's checkpoints is a fine-tune's; a stranger's file in it is not."""
    from engine.train.pipeline import FINETUNE_WORK
    from engine.train.segmenter import REAL_ONLY_DIR

    phase = tmp_path / "segmenter" / REAL_ONLY_DIR
    phase.mkdir(parents=True)
    (phase / "last.pt").write_bytes(b"x")
    (tmp_path / "segmenter" / "best.pt").write_bytes(b"x")
    assert FINETUNE_WORK.foreign_entry(tmp_path) is None
    (phase / "notes.txt").write_text("mine")
    assert FINETUNE_WORK.foreign_entry(tmp_path) == f"holds segmenter/{REAL_ONLY_DIR}/notes.txt"


@pytest.mark.slow
def test_a_run_cut_in_its_real_only_phase_resumes_to_the_same_model(tiles: Path, tmp_path: Path) -> None:
    """Generated pairs, then a real-only phase (issue 17): cut in that phase and resumed, it ends as a straight run."""
    from engine.train.consistency import GateConfig

    changes = dict(aug_ratio=1.0, gate=GateConfig(enabled=False), jointnet_steps=4, real_only_steps=3)
    straight = finetune(config(tiles, tmp_path / "straight" / "m", **changes))
    assert straight["steps"] == 6
    card = json.loads((tmp_path / "straight" / "m.json").read_text())
    assert card["training"]["segmenter"]["real_only_steps"] == 3
    assert card["training"]["real_only_phase"]["first_phase_steps"] == 3
    seen = {"progress": 0}

    def sink(event: dict) -> None:
        if event.get("event") == "progress" and event.get("stage") == "train SAROSS-Net":
            seen["progress"] += 1

    with pytest.raises(Cancelled):  # the fifth step is the real-only phase's second
        finetune(config(tiles, tmp_path / "cut" / "m", **changes), Progress(sink, lambda: seen["progress"] >= 5))
    assert (tmp_path / "cut" / "m.work" / "segmenter" / "real-only" / "last.pt").is_file()
    finetune(config(tiles, tmp_path / "cut" / "m", resume=True, **changes))
    a = load_file(str(tmp_path / "straight" / "m.safetensors"))
    b = load_file(str(tmp_path / "cut" / "m.safetensors"))
    assert all((a[k] == b[k]).all() for k in a)
    with pytest.raises(InputError, match="--real-only-steps 6"):
        finetune(config(tiles, tmp_path / "bad" / "m", **dict(changes, real_only_steps=6)))
    assert not (tmp_path / "bad").exists()  # refused before any work


@pytest.mark.slow
def test_resume_refuses_another_runs_work_folder(tiles: Path, tmp_path: Path) -> None:
    """A finished run's work folder given to a run on other data or with another network: refused before any step.

    The audit's case: "resumed at step 2 of 2", no step trained, and a card naming the new data over the other
    run's weights. Its SAR-JointNet (and the pairs it made) are another run's too.
    """
    from engine.errors import ModelError
    from engine.train.consistency import GateConfig

    other = tmp_path / "other-tiles"
    simulate = ["--progress", "none", "simulate-tiles", "--count", "4", "--format", "osd", "--seed", "7"]
    assert main([*simulate, "--out", str(other)]) == 0
    pairs = dict(aug_ratio=1.0, gate=GateConfig(enabled=False), jointnet_steps=2, segmenter_steps=2)
    finetune(config(tiles, tmp_path / "a" / "m", **pairs))
    work = tmp_path / "a" / "m.work"
    on_other_data = config(other, tmp_path / "b" / "m", work_dir=str(work), resume=True, **pairs)
    with pytest.raises(ModelError, match=r"jointnet.safetensors is from another run \(differs in: data.train\)"):
        finetune(on_other_data)
    with pytest.raises(ModelError, match=r"segmenter/last.pt is from another run \(differs in: --skip, network\)"):
        finetune(config(tiles, tmp_path / "b" / "m", work_dir=str(work), resume=True, skip="conv", **pairs))
    (work / "jointnet.safetensors").unlink()  # then its checkpoint is what --resume would continue
    with pytest.raises(ModelError, match=r"jointnet/last.pt is from another run \(differs in: data.train\)"):
        finetune(on_other_data)
    assert not (tmp_path / "b").exists()  # no card, no curves
    made = (work / "generated" / "dataset.json").stat().st_mtime_ns
    resumed = finetune(config(tiles, tmp_path / "a" / "m", resume=True, overwrite=True, **pairs))
    assert resumed["steps"] == 2  # its own run: resumed at its end, nothing trained twice
    assert (work / "generated" / "dataset.json").stat().st_mtime_ns == made  # and its pairs reused


def test_the_card_names_the_split_folder_it_read_not_only_the_root(tiles: Path, tmp_path: Path) -> None:
    """Audit: a model trained from an OSD root named only the root as its data, so nobody could tell from the
    card whether its train/ or its test/ split was read."""
    from engine.train.pipeline import _sources

    root = tmp_path / "root"
    root.mkdir()
    (root / "train").symlink_to(tiles, target_is_directory=True)
    (root / "test").symlink_to(tiles, target_is_directory=True)
    assert _sources(DataConfig(format="osd", folder=str(root))) == [str(root / "train")]
    assert _sources(DataConfig(format="osd", folder=str(root), split="test")) == [str(root / "test")]
    assert _sources(DataConfig(format="osd", folder=str(tiles))) == [str(tiles)]


def test_a_run_that_fails_before_its_first_file_removes_the_work_folder_it_made(tmp_path: Path) -> None:
    """``--aug-ratio 1`` on one 256 px scene stops in SAR-JointNet (too little valid area to learn from): it left an
    empty MODEL.work (and the folders above it) that the run itself had made. A work folder that was there stays."""
    simulate = ["--progress", "none", "simulate", "--size", "256", "256", "--seed", "1", "--units", "linear"]
    assert main([*simulate, "--polygons", "--spills", "1", "--no-quicklook", "--out", str(tmp_path / "s")]) == 0
    run = ["--progress", "none", "finetune", "--scene", str(tmp_path / "s" / "sim_scene.tif"), "--labels"]
    run += [str(tmp_path / "s" / "sim_labels.gpkg"), "--val-share", "0", "--preset", "tiny", "--aug-ratio", "1"]
    run += ["--device", "cpu", "--out", str(tmp_path / "new" / "m")]
    assert main(run) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]
    (tmp_path / "there.work").mkdir()
    assert main([*run, "--work-dir", str(tmp_path / "there.work")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s", "there.work"]
