import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.classes import IGNORE_INDEX
from engine.data.generated import GeneratedWriter, open_generated
from engine.errors import OutputError
from engine.modelcard import load_model
from engine.train.loop import LoopConfig
from engine.train.segmenter import SegmenterConfig, SegmenterTask, train_segmenter, write_model_card

from .conftest import file_size_limit


def fake_generated(folder: Path, tiles, count: int = 4) -> Path:
    writer = GeneratedWriter(folder)
    soft = np.zeros((count, 5, 64, 64), np.float32)
    soft[:, 0] = 0.8
    soft[:, 1] = 0.2
    writer.add(tiles.images_db[:count].astype(np.float32), soft)
    writer.finish(tiles.classes, {"db_range": [-35, 5]})
    return folder


def test_batches_mix_real_and_generated(tmp_path: Path, tiles, spec) -> None:
    generated = open_generated(fake_generated(tmp_path / "gen", tiles))
    task = SegmenterTask(tiles, None, generated, spec, SegmenterConfig(aug_ratio=2.0, spill_oversample=1), seed=0)
    order = task.epoch_order(0)
    assert len(order) == 6 + 12 and (order >= 6).sum() == 12
    batch = task.make_batch(order[:8], 0, np.arange(8))
    flags = batch["generated"].numpy()
    assert flags.any() and (~flags).any()
    # soft labels are distributions wherever there is data; a zoom coarser than the tile leaves nodata around it,
    # which no loss sees (invalid, IGNORE_INDEX, no probability)
    sums, valid = batch["soft"][flags].sum(dim=1).numpy(), batch["valid"][flags][:, 0].numpy()
    assert np.allclose(sums[valid], 1.0, atol=1e-5) and np.allclose(sums[~valid], 0.0)
    assert (batch["label"][flags].numpy()[~valid] == IGNORE_INDEX).all()
    hard = SegmenterTask(tiles, None, generated, spec, SegmenterConfig(aug_ratio=2.0, soft_labels=False), seed=0)
    assert not hard.make_batch(order[:8], 0, np.arange(8))["generated"].any()


def test_train_and_write_model_card(tmp_path: Path, tiles, spec) -> None:
    generated = open_generated(fake_generated(tmp_path / "gen", tiles))
    model, result = train_segmenter(
        tiles,
        tiles.subset([0, 1]),
        generated,
        spec,
        SegmenterConfig(aug_ratio=1.0),
        LoopConfig(max_steps=3, batch_size=4, lr=1e-3),
        tmp_path / "run",
    )
    assert result.eval_history and (tmp_path / "run" / "best.pt").is_file()
    card_path = write_model_card(
        tmp_path / "out" / "oilnet",
        model,
        "oilnet",
        tiles.classes,
        spec.__class__(units="db", mean=-20, std=4, tile_size=256),
        result,
        {"data": tiles.summary()},
        {"validation": {"miou": result.best_score}},
    )
    card = json.loads(card_path.read_text())
    assert card["metrics"]["validation"]["miou"] == result.best_score
    assert card["training"]["data"]["tiles"] == 6 and card["training"]["curves"] == [
        "oilnet.loss.png",
        "oilnet.miou.png",
    ]
    for name in ("oilnet.safetensors", "oilnet.loss.png", "oilnet.miou.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    loaded, loaded_card = load_model(card_path)
    assert loaded_card.input_spec.mean == -20 and loaded.config.num_classes == 5


def test_a_model_card_the_disk_cannot_hold_leaves_no_curves_and_no_card(tmp_path: Path, tiles, spec) -> None:
    """The curve pictures were written first, each on its own: a card whose weights did not fit on the disk left
    MODEL.loss.png and MODEL.miou.png of a model that is not there."""
    model, result = train_segmenter(tiles, None, None, spec, SegmenterConfig(), LoopConfig(max_steps=1, batch_size=2))
    out = tmp_path / "out"
    with file_size_limit(200_000), pytest.raises(OutputError) as refused:  # the pictures fit, the weights do not
        card_spec = spec.__class__(units="db", mean=-20, std=4, tile_size=256)
        write_model_card(out / "oilnet", model, "oilnet", tiles.classes, card_spec, result, {}, {})
    assert str(refused.value).startswith(f"writing {out / 'oilnet.safetensors'} failed: the file grew past ")
    assert not out.exists()


def test_training_on_not_oil_labels_scores_oil_against_the_rest(tmp_path: Path, tiles, spec) -> None:
    """Binary labels on a five-class model: a real tiny training run, validated as oil vs rest."""
    from engine.classes import NOT_OIL_INDEX
    from engine.train.segmenter import evaluate_model

    partial = tiles.subset(range(len(tiles)))
    partial.labels[partial.labels == 0] = NOT_OIL_INDEX
    model, result = train_segmenter(
        partial,
        partial.subset([0, 1]),
        None,
        spec,
        SegmenterConfig(),
        LoopConfig(max_steps=3, batch_size=4, lr=1e-3),
        tmp_path / "run",
    )
    assert np.isfinite([loss for _, loss in result.loss_history]).all()
    assert result.eval_history and "not oil" in result.eval_history[-1]["class_names"]
    scored = evaluate_model(model, partial.subset([0, 1]), spec, "cpu")
    assert scored["class_names"] == ["not oil", "oil"] and "oil against the rest" in scored["folding"]
    assert scored["pixels"] == 2 * 64 * 64 == int(np.sum(scored["confusion"]))
    assert scored["exact"]["pixels"] == int((partial.labels[:2] == 1).sum())  # only oil is exact
    full = evaluate_model(model, tiles.subset([0, 1]), spec, "cpu")  # five-class labels: as before
    assert full["class_names"][0] == "sea" and "folding" not in full and len(full["confusion"]) == 5


def test_retention_distils_from_a_frozen_copy_of_the_starting_model(tmp_path: Path, tiles, spec) -> None:
    """``retain`` > 0 with an init model: the loss logs a retention term, and the teacher is a frozen copy.

    Were the teacher the model being trained, retention would be zero at every step."""

    from engine.classes import NOT_OIL_INDEX
    from engine.train.losses import LossWeights
    from engine.train.segmenter import build_segmenter

    partial = tiles.subset(range(len(tiles)))
    partial.labels[partial.labels == 0] = NOT_OIL_INDEX
    config = SegmenterConfig(loss=LossWeights(retain=1.0))
    start = build_segmenter(config, partial.num_classes)
    before = {k: v.clone() for k, v in start.state_dict().items()}
    seen: list[dict] = []

    def sink(event: dict) -> None:
        if event.get("event") == "progress" and "retain" in event:
            seen.append(event)

    from engine.progress import Progress

    model, result = train_segmenter(
        partial,
        None,
        None,
        spec,
        config,
        LoopConfig(max_steps=2, batch_size=4, lr=1e-3),
        None,
        Progress(sink),
        init_model=start,
    )
    assert np.isfinite([loss for _, loss in result.loss_history]).all()
    assert seen and all(event["retain"] > 0 for event in seen)  # a real distillation term, logged
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed  # the student trained
    batch = SegmenterTask(partial, None, None, spec, config, 0).make_batch(np.arange(4), 0, np.arange(4))
    copy = build_segmenter(config, partial.num_classes)
    copy.load_state_dict(before)
    full = SegmenterTask(
        partial, None, None, spec, SegmenterConfig(loss=LossWeights(retain=1.0)), 0, teacher=copy.eval()
    )
    _, terms = full.loss(model.train(), batch)
    assert terms["retain"] > 0
    _, same = full.loss(copy, batch)
    assert abs(same["retain"]) < 1e-5  # distance from the starting model, zero at the start
    task = SegmenterTask(partial, None, None, spec, config, 0, teacher=None)
    assert task.teacher is None  # nothing to distil from without a starting model


def test_freeze_norm_keeps_the_batch_norm_statistics_of_the_starting_model(tmp_path: Path, tiles, spec) -> None:
    """Fine-tuning from a model (freeze_norm): the weights train, the batch-norm running statistics do not move."""

    from engine.train.segmenter import build_segmenter

    def statistics(model) -> dict:
        return {k: v.clone() for k, v in model.state_dict().items() if "running_" in k}

    for freeze in (True, False):
        config = SegmenterConfig(freeze_norm=freeze)
        start = build_segmenter(config, tiles.num_classes)
        assert statistics(start), "SAROSS-Net has batch-norm layers"
        before_stats = statistics(start)
        before_weights = {k: v.clone() for k, v in start.state_dict().items() if k.endswith("weight")}
        model, _ = train_segmenter(
            tiles,
            tiles.subset([0]),
            None,
            spec,
            config,
            LoopConfig(max_steps=2, batch_size=4, lr=1e-3),
            None,
            init_model=start,
        )
        after = model.state_dict()
        moved = [k for k, v in before_stats.items() if not torch.equal(v, after[k])]
        assert bool(moved) is not freeze, (freeze, moved[:3])
        assert any(not torch.equal(v, after[k]) for k, v in before_weights.items())  # it did train


def test_real_only_phase_ends_the_run_on_real_tiles_alone(tmp_path: Path, tiles, spec) -> None:
    """The last ``real_only_steps`` steps see no generated pair, start from the first phase, and resume."""
    from engine.progress import Progress
    from engine.train.segmenter import REAL_ONLY_DIR

    generated = open_generated(fake_generated(tmp_path / "gen", tiles))
    shares: list[float] = []

    def sink(event: dict) -> None:
        if event.get("event") == "progress" and "share" in event:
            shares.append(event["share"])

    config = SegmenterConfig(aug_ratio=2.0, real_only_steps=2)
    loop = LoopConfig(max_steps=5, batch_size=4, lr=1e-3)
    model, result = train_segmenter(
        tiles, tiles.subset([0, 1]), generated, spec, config, loop, tmp_path / "run", Progress(sink)
    )
    assert result.steps == 5 and len(result.loss_history) == 5
    assert result.extra["real_only_phase"] == {
        "steps": 2,
        "first_phase_steps": 3,
        "lr": 1e-4,
        "improved_on_first_phase": result.best_step is not None and result.best_step > 3,
    }
    assert len(shares) == 5 and max(shares[:3]) > 0 and shares[3:] == [0.0, 0.0]
    assert [e["step"] for e in result.eval_history if e.get("phase") == "real-only"][0] == 3  # its start competes
    assert (tmp_path / "run" / REAL_ONLY_DIR / "last.pt").is_file()
    again, resumed = train_segmenter(
        tiles, tiles.subset([0, 1]), generated, spec, config, loop, tmp_path / "run", resume=True
    )
    assert resumed.steps == 5 and resumed.loss_history == result.loss_history  # nothing trained twice
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])
    plain, _ = train_segmenter(tiles, None, None, spec, config, LoopConfig(max_steps=2, batch_size=4), None)
    assert plain is not None  # without generated pairs the phase does not apply: two ordinary steps
    with pytest.raises(ValueError, match="fewer than"):
        train_segmenter(tiles, None, generated, spec, config, LoopConfig(max_steps=2, batch_size=4), None)


def test_resume_refuses_a_checkpoint_trained_on_other_data_or_from_another_model(tmp_path: Path, tiles, spec) -> None:
    """The same network and settings on other tiles, or from another --init model: another run, refused in one line."""
    from engine.errors import ModelError
    from engine.train.segmenter import build_segmenter

    from .conftest import make_tiles

    config, loop = SegmenterConfig(), LoopConfig(max_steps=2, batch_size=4, lr=1e-3)
    model, first = train_segmenter(tiles, tiles.subset([0, 1]), None, spec, config, loop, tmp_path / "run")
    other = make_tiles(seed=5)
    with pytest.raises(ModelError, match=r"last.pt is from another run \(differs in: data.train, data.validation\)"):
        train_segmenter(other, other.subset([0, 1]), None, spec, config, loop, tmp_path / "run", resume=True)
    start = build_segmenter(config, tiles.num_classes)
    with pytest.raises(ModelError, match=r"\(differs in: --init\); start without --resume"):
        train_segmenter(
            tiles, tiles.subset([0, 1]), None, spec, config, loop, tmp_path / "run", resume=True, init_model=start
        )
    again, resumed = train_segmenter(
        tiles, tiles.subset([0, 1]), None, spec, config, loop, tmp_path / "run", resume=True
    )
    assert resumed.loss_history == first.loss_history  # this run's checkpoint: resumed, nothing trained twice
    assert all(torch.equal(value, again.state_dict()[key]) for key, value in model.state_dict().items())


def test_curves_without_a_writable_home_print_nothing(tmp_path: Path) -> None:
    """matplotlib warns at import when it cannot write its cache in the home folder: no second line under the run's."""
    import subprocess
    import sys

    script = (
        "from pathlib import Path; import torch\n"
        "from engine.train.loop import TrainResult\n"
        "from engine.train.segmenter import render_curves\n"
        "result = TrainResult(torch.nn.Linear(1, 1), 2, 1, [(1, 1.0), (2, 0.5)], [{'step': 2, 'score': 40.0}],"
        " 40.0, 2, None, None, False, 'cpu')\n"
        f"pictures = render_curves(Path({str(tmp_path / 'run')!r}), result)\n"
        "assert all(data.startswith(b'\\x89PNG') for _, data in pictures)\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MPL", "XDG_"))}
    env["HOME"] = "/proc/self"  # not a folder anyone can write, root included
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=Path(__file__).parents[2], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
