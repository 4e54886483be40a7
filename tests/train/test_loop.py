from pathlib import Path

import numpy as np
import pytest
import torch

from engine.classes import BINARY_CLASSES
from engine.data.samples import AugmentConfig
from engine.errors import Cancelled, DakdError, OutputError
from engine.models.unet import UNet
from engine.progress import Progress
from engine.train.loop import LoopConfig, train, warmup_cosine
from engine.train.segmenter import SegmenterConfig, SegmenterTask, evaluate_model, train_segmenter

from .conftest import SMALL_UNET, file_size_limit, make_tiles


def small_task(tiles, spec, **config):
    return SegmenterTask(tiles, tiles, None, spec, SegmenterConfig(**config), seed=0)


def test_saross_net_overfits_a_few_tiles(spec) -> None:
    """The real SAROSS-Net (XS) learns four tiles: the loss falls and validation mIoU passes 70."""
    tiles = make_tiles(4)
    tiles.classes = BINARY_CLASSES
    config = SegmenterConfig(augment=AugmentConfig(db_shift=0.0))
    model, result = train_segmenter(
        tiles, tiles, None, spec, config, LoopConfig(max_steps=40, batch_size=4, lr=3e-3, min_eval_interval=10)
    )
    first = np.mean([loss for _, loss in result.loss_history[:3]])
    last = np.mean([loss for _, loss in result.loss_history[-3:]])
    assert last < 0.6 * first
    assert result.best_score is not None and result.best_score > 70
    assert evaluate_model(model, tiles, spec, "cpu")["miou"] == pytest.approx(result.best_score)


def cancel_at_step(step: int, config: LoopConfig, run_dir: Path, tiles, spec) -> None:
    """Run a fresh model (seed 0) into ``run_dir`` and cancel it once it reaches ``step``, as Ctrl-C would."""
    seen = {"step": 0}

    def sink(event):
        if event.get("event") == "progress":
            seen["step"] = event["step"]

    torch.manual_seed(0)
    with pytest.raises(Cancelled):
        train(UNet(SMALL_UNET), small_task(tiles, spec), config, run_dir, Progress(sink, lambda: seen["step"] >= step))


def test_resume_reproduces_an_uninterrupted_run(tmp_path: Path, tiles, spec) -> None:
    config = LoopConfig(max_steps=6, batch_size=2, lr=1e-3, checkpoint_every=2, seed=3)
    torch.manual_seed(0)
    straight = train(UNet(SMALL_UNET), small_task(tiles, spec), config)

    cancel_at_step(3, config, tmp_path, tiles, spec)
    torch.manual_seed(1)  # the resumed run must not depend on the fresh model's weights or the global RNG
    resumed = train(UNet(SMALL_UNET), small_task(tiles, spec), config, tmp_path, resume=True)
    assert resumed.steps == 6
    assert [round(v, 6) for _, v in resumed.loss_history] == [round(v, 6) for _, v in straight.loss_history]
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)


def test_resume_refuses_another_runs_checkpoint_in_one_line(tmp_path: Path, tiles, spec) -> None:
    """A finished run's last.pt under another run's settings or data: refused, never its weights under our card."""
    from dataclasses import replace

    from engine.errors import ModelError
    from engine.train.checkpoint import BEST, FINGERPRINT, LAST, load_checkpoint, save_checkpoint

    config = LoopConfig(max_steps=2, batch_size=2, lr=1e-3, checkpoint_every=1)
    identity = {"data": {"train": "tiles A"}}
    train(UNet(SMALL_UNET), small_task(tiles, spec), config, tmp_path, identity=identity)
    cases = [
        (UNet(SMALL_UNET), replace(config, lr=2e-3), identity, "--lr"),  # the analyst's option, not loop.lr
        (UNet(SMALL_UNET), replace(config, batch_size=1), identity, "--batch-size"),
        (UNet(replace(SMALL_UNET, base_channels=4)), config, identity, "network"),
        (UNet(SMALL_UNET), config, {"data": {"train": "tiles B"}}, "data.train"),
    ]
    for model, other, other_identity, differs in cases:
        with pytest.raises(ModelError) as refused:
            train(model, small_task(tiles, spec), other, tmp_path, resume=True, identity=other_identity)
        message = str(refused.value)
        assert message == (
            f"{tmp_path / LAST} is from another run (differs in: {differs}); start without --resume, with "
            "--overwrite or another --work-dir"
        )
    # where it runs and how often it saves may change: the same run, resumed, trains nothing twice
    moved = replace(config, device="cpu", checkpoint_every=0)
    assert train(UNet(SMALL_UNET), small_task(tiles, spec), moved, tmp_path, resume=True, identity=identity).steps == 2
    saved = load_checkpoint(tmp_path / LAST)
    damaged = {k: v for k, v in saved.items() if k not in ("format", "loop")}  # a layout this engine cannot read
    save_checkpoint(tmp_path / LAST, damaged)
    with pytest.raises(ModelError, match=r"last.pt does not fit this run \(KeyError: 'loop'\); start without --resume"):
        train(UNet(SMALL_UNET), small_task(tiles, spec), config, tmp_path, resume=True, identity=identity)
    older = {k: v for k, v in saved.items() if k not in ("format", FINGERPRINT)}  # as an engine before fingerprints
    save_checkpoint(tmp_path / LAST, older)
    with pytest.raises(ModelError, match="last.pt: written by an older engine, so it cannot be matched to this run"):
        train(UNet(SMALL_UNET), small_task(tiles, spec), config, tmp_path, resume=True, identity=identity)
    save_checkpoint(tmp_path / LAST, {k: v for k, v in saved.items() if k != "format"})
    best = load_checkpoint(tmp_path / BEST)
    save_checkpoint(tmp_path / BEST, {**{k: v for k, v in best.items() if k != "format"}, FINGERPRINT: {"other": 1}})
    with pytest.raises(ModelError, match=r"best.pt is from another run \(differs in: "):
        train(UNet(SMALL_UNET), small_task(tiles, spec), config, tmp_path, resume=True, identity=identity)


def test_resume_may_change_the_precision_as_it_may_the_device(tmp_path: Path, tiles, spec) -> None:
    """``--precision auto`` and ``fp32`` are the same float32 run on the CPU: a run stopped under one resumes under the
    other and takes the uninterrupted run's steps; a checkpoint whose fingerprint still holds the precision (written
    before precision could change on resume, by the same engine version) is resumed too."""
    from dataclasses import replace

    from engine.train.checkpoint import FINGERPRINT, LAST, load_checkpoint, save_checkpoint

    config = LoopConfig(max_steps=3, batch_size=2, lr=1e-3, checkpoint_every=1, precision="auto", device="cpu")
    torch.manual_seed(0)
    straight = train(UNet(SMALL_UNET), small_task(tiles, spec), config)
    cancel_at_step(1, config, tmp_path, tiles, spec)
    assert load_checkpoint(tmp_path / LAST)["loop"]["step"] == 1
    resumed = train(UNet(SMALL_UNET), small_task(tiles, spec), replace(config, precision="fp32"), tmp_path, resume=True)
    assert [round(v, 6) for _, v in resumed.loss_history] == [round(v, 6) for _, v in straight.loss_history]
    saved = load_checkpoint(tmp_path / LAST)
    assert "loop.precision" not in saved[FINGERPRINT]
    earlier = {**saved[FINGERPRINT], "loop.precision": "fp32"}  # as this engine version wrote it before
    save_checkpoint(tmp_path / LAST, {**{k: v for k, v in saved.items() if k != "format"}, FINGERPRINT: earlier})
    assert train(UNet(SMALL_UNET), small_task(tiles, spec), config, tmp_path, resume=True).steps == 3


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`")  # a fresh scaler skips a step
def test_a_checkpoint_without_fp16_resumes_in_fp16_with_a_fresh_gradient_scaler(
    tmp_path: Path, tiles, spec, monkeypatch
) -> None:
    """A run saved in float32 (or bf16) has no gradient-scaler state; resumed in fp16 (as when ``--device`` moves a
    ``--precision auto`` run from the CPU to a GPU without bf16) its scaler starts fresh, not a "does not fit" refusal.
    fp16 is for GPUs, so the CPU stands in for one here, computing under fp16 autocast."""
    from dataclasses import replace

    from engine.train import loop
    from engine.train.checkpoint import LAST, load_checkpoint

    config = LoopConfig(max_steps=2, batch_size=2, lr=1e-3, checkpoint_every=1, device="cpu")
    with pytest.raises(Cancelled):
        train(UNet(SMALL_UNET), small_task(tiles, spec), config, tmp_path, Progress(None, lambda: True))
    assert load_checkpoint(tmp_path / LAST)["scaler"] == {}
    monkeypatch.setattr(loop, "autocast_dtype", lambda device, precision: torch.float16)  # a GPU's fp16, on the CPU
    resumed = train(UNet(SMALL_UNET), small_task(tiles, spec), replace(config, precision="fp16"), tmp_path, resume=True)
    assert resumed.steps == 2
    assert load_checkpoint(tmp_path / LAST)["scaler"]["scale"] > 0


def killed_while_saving(path: Path) -> Path:
    """Return the temporary a process left when it was killed (SIGKILL) while :func:`atomic_file` wrote ``path``."""
    import signal
    import subprocess
    import sys

    code = (
        "import os, signal, sys\n"
        "from engine.io.atomic import atomic_file\n"
        "with atomic_file(sys.argv[1], option='--work-dir') as tmp:\n"
        "    tmp.write_bytes(os.urandom(300_000))\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    before = set(path.parent.iterdir())
    killed = subprocess.run([sys.executable, "-c", code, str(path)], check=False)
    assert killed.returncode == -signal.SIGKILL
    (left,) = set(path.parent.iterdir()) - before
    return left


def test_a_run_removes_the_checkpoint_temporaries_a_killed_run_left_and_nothing_else(
    tmp_path: Path, tiles, spec, caplog, monkeypatch
) -> None:
    """A run killed while saving (SIGKILL, the system out of memory) leaves a hidden temporary as large as a
    checkpoint (hundreds of MB), which no later run removed. The next run in the folder removes an old one; one
    written minutes ago (another process may be saving right now), a link and other files stay."""
    import logging
    import os
    import time

    from engine.io.atomic import TMP_MARK
    from engine.train.checkpoint import BEST, LAST, STALE_TEMPORARY_S

    run = tmp_path / "run"
    config = LoopConfig(max_steps=2, batch_size=2, lr=1e-3, checkpoint_every=1)
    train(UNet(SMALL_UNET), small_task(tiles, spec), config, run)
    old = time.time() - STALE_TEMPORARY_S - 60
    stale_last, stale_best = killed_while_saving(run / LAST), killed_while_saving(run / BEST)
    recent = killed_while_saving(run / LAST)
    assert stale_last.name.startswith(f".last{TMP_MARK}") and stale_last.suffix == ".pt"
    elsewhere = tmp_path / "kept.pt"
    elsewhere.write_bytes(b"an analyst's file")
    kept = [
        recent,
        run / f".last{TMP_MARK}notes.txt",  # another suffix
        run / f".report{TMP_MARK}abcd.json",  # another file's temporary
        run / "notes.pt",
        run / f".best{TMP_MARK}link.pt",  # a link, whatever it points to
    ]
    for path in kept[1:4]:
        path.write_bytes(b"not ours")
    kept[4].symlink_to(elsewhere)
    for path in (stale_last, stale_best, *kept[1:]):
        os.utime(path, (old, old), follow_symlinks=False)
    monkeypatch.setattr(logging.getLogger("dakd"), "propagate", True)  # the CLI's setup turns it off

    with caplog.at_level(logging.INFO, logger="dakd"):
        assert train(UNet(SMALL_UNET), small_task(tiles, spec), config, run, resume=True).steps == 2
    assert not stale_last.exists() and not stale_best.exists()
    assert all(path.is_symlink() or path.is_file() for path in kept) and elsewhere.is_file()
    assert (run / LAST).is_file() and (run / BEST).is_file()
    # One record; in the whole suite caplog's handler can sit on both "dakd" and the root and list it twice.
    freed = {id(r): r.getMessage() for r in caplog.records if "stale checkpoint temporar" in r.getMessage()}
    assert list(freed.values()) == [
        f"removed 2 stale checkpoint temporaries of a killed run from {run}, freeing 0.6 MB"
    ]


class OomAboveTwo(SegmenterTask):
    """Raises the CUDA out-of-memory error for batches above 2, as a GPU with little memory would."""

    def loss(self, model, batch):
        if batch["image"].shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().loss(model, batch)


def test_a_checkpoint_the_disk_cannot_hold_stops_the_run_in_one_line_naming_the_work_folder(
    tmp_path: Path, tiles, spec
) -> None:
    """torch.save reported it as "RuntimeError: [enforce fail at inline_container.cc] unexpected pos": an internal
    error. Now it is the one line of a failed write (here past a file-size limit; a full disk reads the same)."""
    run = tmp_path / "run"
    with file_size_limit(20_000), pytest.raises(OutputError) as refused:
        train(UNet(SMALL_UNET), small_task(tiles, spec), LoopConfig(max_steps=2, batch_size=2, checkpoint_every=1), run)
    assert str(refused.value).startswith(f"writing {run / 'last.pt'} failed: the file grew past the largest file ")
    assert str(refused.value).endswith("choose another --work-dir or raise the limit (ulimit -f)")
    assert not run.exists()  # no partial checkpoint, and no folder made for it


def test_out_of_memory_halves_the_batch_and_continues(tiles, spec) -> None:
    logs = []
    task = OomAboveTwo(tiles, None, None, spec, SegmenterConfig(), seed=0)
    result = train(
        UNet(SMALL_UNET), task, LoopConfig(max_steps=3, batch_size=8), progress=Progress(lambda e: logs.append(e))
    )
    assert result.steps == 3 and result.batch_size == 2
    assert sum("batch size halved" in e.get("message", "") for e in logs) == 2

    class AlwaysOom(OomAboveTwo):
        def loss(self, model, batch):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(DakdError, match="even at batch size 1"):
        train(
            UNet(SMALL_UNET),
            AlwaysOom(tiles, None, None, spec, SegmenterConfig(), 0),
            LoopConfig(max_steps=2, batch_size=2),
        )


def test_early_stopping_and_progress_events(tiles, spec) -> None:
    class Flat(SegmenterTask):
        def evaluate(self, model, device):
            return {"score": 50.0, "miou": 50.0}

    events = []
    result = train(
        UNet(SMALL_UNET),
        Flat(tiles, None, None, spec, SegmenterConfig(spill_oversample=1), 0),
        LoopConfig(max_steps=100, batch_size=6, early_stop_patience=2),
        progress=Progress(events.append),
    )
    assert result.stopped_early and result.steps == 3  # evaluations at steps 1 (best), 2, 3
    progress = [e for e in events if e["event"] == "progress"]
    assert {"stage", "step", "total", "loss", "metric", "eta_s"} <= set(progress[-1])
    assert progress[-1]["metric"] == 50.0 and progress[-1]["total"] == 100


def test_warmup_cosine() -> None:
    factor = warmup_cosine(100, 10, 0.1)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(100) == pytest.approx(0.1) and 0.1 < factor(55) < 1.0


def test_evaluate_first_keeps_the_starting_weights_when_training_only_makes_them_worse(tiles, spec) -> None:
    """With ``evaluate_first`` (fine-tuning from --init) the starting weights compete for the best checkpoint."""

    class Worse(SegmenterTask):
        def evaluate(self, model, device):
            calls.append(1)
            return {"score": 60.0 if len(calls) == 1 else 10.0}

    calls: list[int] = []
    model = UNet(SMALL_UNET)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(
        model,
        Worse(tiles, None, None, spec, SegmenterConfig(spill_oversample=1), 0),
        LoopConfig(max_steps=3, batch_size=6, lr=1e-2, evaluate_first=True),
    )
    assert result.eval_history[0]["step"] == 0 and result.best_step == 0 and result.best_score == 60.0
    assert all(torch.equal(start[k], v) for k, v in result.best_state.items())
    assert not all(torch.equal(start[k], v) for k, v in model.state_dict().items())  # it did train


@pytest.mark.parametrize(("min_gain", "best_step"), [(0.5, 0), (0.0, 3)])
def test_a_checkpoint_replaces_the_starting_weights_only_by_the_set_margin(tiles, spec, min_gain, best_step) -> None:
    """Scores 60 at the start, then 60.2: within a 0.5 margin the starting weights stay the best."""

    class SlightlyBetter(SegmenterTask):
        def evaluate(self, model, device):
            calls.append(1)
            return {"score": 60.0 + 0.2 * (len(calls) - 1)}

    calls: list[int] = []
    result = train(
        UNet(SMALL_UNET),
        SlightlyBetter(tiles, None, None, spec, SegmenterConfig(spill_oversample=1), 0),
        LoopConfig(max_steps=3, batch_size=2, lr=1e-3, evaluate_first=True, min_gain_over_start=min_gain),
    )
    assert [e["step"] for e in result.eval_history] == [0, 3]
    assert result.best_step == best_step


def _torchrun_env(monkeypatch) -> None:
    """What torchrun sets for one process on this machine (gloo on the CPU), with a free port."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in {
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }.items():
        monkeypatch.setenv(name, value)


def test_a_run_under_torchrun_leaves_the_process_group_it_joined(monkeypatch, tiles, spec) -> None:
    """train() joins the (gloo, world size 1) group and destroys it at the end, also when the run fails."""
    _torchrun_env(monkeypatch)
    joined = []

    class Watched(SegmenterTask):
        def loss(self, model, batch):
            joined.append(torch.distributed.is_initialized())
            return super().loss(model, batch)

    result = train(
        UNet(SMALL_UNET),
        Watched(tiles, None, None, spec, SegmenterConfig(), seed=0),
        LoopConfig(max_steps=2, batch_size=2, device="cpu"),
    )
    assert result.steps == 2 and joined == [True, True]
    assert not torch.distributed.is_initialized()

    class Broken(SegmenterTask):
        def loss(self, model, batch):
            raise RuntimeError("a bug in the task")

    with pytest.raises(RuntimeError, match="a bug in the task"):
        train(
            UNet(SMALL_UNET),
            Broken(tiles, None, None, spec, SegmenterConfig(), seed=0),
            LoopConfig(max_steps=2, batch_size=2, device="cpu"),
        )
    assert not torch.distributed.is_initialized()


def test_a_group_joined_by_the_caller_stays_joined(monkeypatch, tiles, spec) -> None:
    """The pipeline holds the group across its stages (barriers between them): train() must not leave it."""
    from engine.train import distributed

    _torchrun_env(monkeypatch)
    with distributed.process_group(torch.device("cpu")) as (info, _):
        assert info.world_size == 1 and torch.distributed.is_initialized()
        train(UNet(SMALL_UNET), small_task(tiles, spec), LoopConfig(max_steps=1, batch_size=2, device="cpu"))
        assert torch.distributed.is_initialized()
        distributed.barrier()
    assert not torch.distributed.is_initialized()
