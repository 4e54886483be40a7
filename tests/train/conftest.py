"""Tiny labelled tiles with an answer a small net can learn: dark rectangles (oil) on speckled sea."""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Iterator

import numpy as np
import pytest

from engine.classes import OSD_CLASSES
from engine.data.tiles import TileSet
from engine.detectors.base import InputSpec
from engine.models.unet import UNetConfig

#: A small plain segmentation UNet (no timestep embedding) for fast loop tests.
SMALL_UNET = UNetConfig(
    in_channels=1,
    out_channels=5,
    base_channels=8,
    channel_mults=(1, 2),
    num_res_blocks=1,
    attention_levels=(),
    time_embedding=False,
    norm_groups=4,
)


def make_tiles(count: int = 6, size: int = 64, seed: int = 0, scenes: int = 3) -> TileSet:
    rng = np.random.default_rng(seed)
    sea_db = -20 + 10 * np.log10(rng.gamma(4.4, 1 / 4.4, (count, size, size)))
    labels = np.zeros((count, size, size), np.uint8)
    for index in range(count):
        height, width = rng.integers(size // 4, size // 2, 2)
        row, col = rng.integers(0, size - height), rng.integers(0, size - width)
        labels[index, row : row + height, col : col + width] = 1
    image = np.where(labels == 1, sea_db - 9.0, sea_db)
    return TileSet(
        image.astype(np.float16),
        np.ones_like(labels, bool),
        labels,
        [f"scene{i % scenes}" for i in range(count)],
        OSD_CLASSES,
        [(0, 0)] * count,
    )


@pytest.fixture
def tiles() -> TileSet:
    return make_tiles()


@pytest.fixture
def spec() -> InputSpec:
    return InputSpec(units="db", db_range=(-35.0, 5.0), mean=-20.0, std=4.0, tile_size=64)


@contextlib.contextmanager
def file_size_limit(limit_bytes: int) -> Iterator[None]:
    """Let this process write no file past ``limit_bytes``: the kernel's RLIMIT_FSIZE fails a longer write with
    EFBIG (Python ignores SIGXFSZ), as a full disk fails it with ENOSPC, in the test's own process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
