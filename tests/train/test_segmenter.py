import json
from pathlib import Path

import numpy as np

from engine.data.generated import GeneratedWriter, open_generated
from engine.modelcard import load_model
from engine.train.loop import LoopConfig
from engine.train.segmenter import SegmenterConfig, SegmenterTask, train_segmenter, write_model_card


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
    assert np.allclose(batch["soft"][flags].sum(dim=1).numpy(), 1.0, atol=1e-5)
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


def test_training_on_not_oil_labels_scores_oil_against_the_rest(tmp_path: Path, tiles, spec) -> None:
    """Binary labels on a five-class model: a real tiny training run, validated as oil vs rest."""
    from engine.classes import NOT_OIL_INDEX
    from engine.train.segmenter import evaluate_model

    partial = tiles.subset(range(len(tiles)))
    partial.labels[partial.labels == 0] = NOT_OIL_INDEX
    model, result = train_segmenter(
        partial, partial.subset([0, 1]), None, spec, SegmenterConfig(),
        LoopConfig(max_steps=3, batch_size=4, lr=1e-3), tmp_path / "run",
    )
    assert np.isfinite([loss for _, loss in result.loss_history]).all()
    assert result.eval_history and "not oil" in result.eval_history[-1]["class_names"]
    scored = evaluate_model(model, partial.subset([0, 1]), spec, "cpu")
    assert scored["class_names"] == ["not oil", "oil"] and "oil against the rest" in scored["folding"]
    assert scored["pixels"] == 2 * 64 * 64 == int(np.sum(scored["confusion"]))
    assert scored["exact"]["pixels"] == int((partial.labels[:2] == 1).sum())  # only oil is exact
    full = evaluate_model(model, tiles.subset([0, 1]), spec, "cpu")  # five-class labels: as before
    assert full["class_names"][0] == "sea" and "folding" not in full and len(full["confusion"]) == 5
