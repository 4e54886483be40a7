"""Several processes under ``torchrun``: process-group setup and the few collective helpers the loop needs.

``torchrun --nproc_per_node N -m engine.cli train ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`setup` then joins the process group (NCCL on GPUs, gloo on CPUs) and picks
this process's device. Without those variables everything runs in one process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the run (rank, world size, local rank)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and reports progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1


def setup(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun; returns this process's info and device.

    On CUDA each process takes ``cuda:LOCAL_RANK``. Calling it twice is harmless. Prefer
    :func:`process_group`, which also leaves the group again.
    """
    if not launched_by_torchrun():
        return DistInfo(), device
    world_size = int(os.environ["WORLD_SIZE"])
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # Long timeout: other processes wait at a barrier while the first one generates pairs.
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", timeout=dt.timedelta(hours=6))
    return DistInfo(rank, world_size, local_rank), device


def launched_by_torchrun() -> bool:
    """Return True when torchrun (or another launcher setting ``RANK`` and ``WORLD_SIZE``) started this process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[tuple[DistInfo, torch.device]]:
    """Join the process group for the block (see :func:`setup`) and leave it at the end, also on error.

    Whoever joins the group leaves it: a block entered with the group already joined (the fine-tune
    pipeline holds it across its stages, for the barriers between them) leaves it joined. A group left
    behind makes torch warn at exit and keeps NCCL's resources until the process ends.
    """
    joined_before = dist.is_available() and dist.is_initialized()
    info, device = setup(device)
    try:
        yield info, device
    finally:
        if not joined_before:
            teardown()


def is_main_process() -> bool:
    """Return True unless this is a torchrun process other than rank 0 (works before the group is joined)."""
    return int(os.environ.get("RANK", "0")) == 0


def barrier(info: DistInfo | None = None) -> None:
    """Wait for every process (no-op in a single process)."""
    if (info is None or info.enabled) and dist.is_available() and dist.is_initialized():
        dist.barrier()


def teardown() -> None:
    """Leave the process group, if joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
