import os
from pathlib import Path

import pytest
import torch

from engine.errors import ModelError
from engine.train.checkpoint import (
    LAST,
    check_fingerprint,
    difference_names,
    load_checkpoint,
    save_checkpoint,
)


def test_a_checkpoint_reaches_the_disk_before_it_is_renamed_into_place(tmp_path: Path, monkeypatch) -> None:
    """Without a sync before the rename, a power cut soon after it can leave last.pt empty: the rename reached the
    disk, the data not yet. The file synced is the one renamed, complete, while last.pt still held the old one."""
    real_fsync = os.fsync
    synced = []

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        info = os.fstat(fd)
        synced.append((info.st_ino, info.st_size, (tmp_path / LAST).read_bytes()))

    save_checkpoint(tmp_path / LAST, {"step": 1})
    before = (tmp_path / LAST).read_bytes()
    monkeypatch.setattr(os, "fsync", recording_fsync)
    save_checkpoint(tmp_path / LAST, {"step": 2, "weights": torch.arange(1000)})
    final = (tmp_path / LAST).stat()
    assert [(ino, size) for ino, size, _ in synced] == [(final.st_ino, final.st_size)]
    assert synced[0][2] == before  # synced before the rename
    assert load_checkpoint(tmp_path / LAST)["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [LAST]


def test_a_refusal_names_the_options_that_differ_not_internal_keys() -> None:
    """The analyst knows --batch-size, not loop.batch_size; what no one option sets (data, network) keeps its name."""
    saross = {"stage": "train SAROSS-Net"}
    assert difference_names(["loop.batch_size", "loop.lr", "data.train", "network"], saross) == [
        "--batch-size",
        "--lr",
        "data.train",
        "network",
    ]
    steps = ["loop.max_steps", "loop.warmup_steps"]  # one option sets both
    assert difference_names(steps, saross) == ["--steps"]
    assert difference_names(steps, {**saross, "phase": "real-only"}) == ["--real-only-steps"]
    assert difference_names(steps, {"stage": "train SAR-JointNet"}) == ["--steps (dakd finetune: --jointnet-steps)"]
    assert difference_names(["segmenter.augment.zoom", "segmenter.model_overrides.input_features"], saross) == [
        "--augment",
        "--input-features",
    ]
    saved = {"stage": "train SAROSS-Net", "loop.batch_size": 8, "loop.seed": 0, "segmenter.skip": "caft"}
    expected = {**saved, "loop.batch_size": 4, "loop.seed": 1, "segmenter.skip": "conv"}
    with pytest.raises(ModelError) as refused:
        check_fingerprint("work/last.pt", saved, expected)
    assert str(refused.value) == (
        "work/last.pt is from another run (differs in: --batch-size, --seed, --skip); start without --resume, "
        "with --overwrite or another --work-dir"
    )
