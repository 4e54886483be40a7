import numpy as np
import pytest

from engine.classes import OSD_CLASSES
from engine.data.split import split_by_scene
from engine.data.tiles import TileSet
from engine.errors import InputError


def make_tiles(scene_ids: list[str], origins: list[tuple[int, int]] | None = None, size: int = 8) -> TileSet:
    count = len(scene_ids)
    return TileSet(
        np.zeros((count, size, size), np.float16),
        np.ones((count, size, size), bool),
        np.zeros((count, size, size), np.uint8),
        scene_ids,
        OSD_CLASSES,
        origins or [(0, 0)] * count,
    )


def test_no_scene_on_both_sides() -> None:
    tiles = make_tiles([f"scene{i % 5}" for i in range(40)])
    train, val = split_by_scene(tiles, 0.2, seed=1)
    assert len(train) + len(val) == 40
    assert not set(train.scene_ids) & set(val.scene_ids)
    assert len(val.scenes()) == 1 and len(train.scenes()) == 4
    again_train, again_val = split_by_scene(tiles, 0.2, seed=1)
    assert again_val.scene_ids == val.scene_ids


def test_single_scene_splits_spatially_without_overlap() -> None:
    origins = [(row, col) for row in (0, 8, 16, 24, 28) for col in (0, 8)]
    train, val = split_by_scene(make_tiles(["one"] * len(origins), origins), 0.3)
    val_top = min(r for r, _ in val.origins)
    assert val.origins and train.origins
    assert all(r + 8 <= val_top for r, _ in train.origins)  # no training tile reaches into validation rows


def test_bad_share_and_empty() -> None:
    with pytest.raises(InputError, match="--val-share"):
        split_by_scene(make_tiles(["a", "b"]), 1.0)
    train, val = split_by_scene(make_tiles(["a", "b"]), 0.0)
    assert len(train) == 2 and len(val) == 0


def test_a_scene_too_small_to_split_names_the_tile_size_in_use() -> None:
    # Two 8 px tiles 4 px apart overlap: no training tile is left clear of validation. The message said 256 px.
    with pytest.raises(InputError, match=r"at least two tiles of 8 px side by side"):
        split_by_scene(make_tiles(["one", "one"], [(0, 0), (4, 0)]), 0.5)
