from pathlib import Path

import numpy as np
import pytest

from engine.classes import BINARY_CLASSES
from engine.data.datasets import load_dataset
from engine.errors import InputError


def test_reads_binary_masks(sos_folder: Path) -> None:
    tiles = load_dataset("sos", sos_folder, split="train", tile_px=64)
    assert len(tiles) == 2 and tiles.classes == BINARY_CLASSES
    labels = tiles.labels[0]
    assert labels[15, 15] == 1 and labels[45, 62] == 0  # look-alike is background in SOS
    assert labels[0, 0] == 1  # grey 200 > 127 counts as oil
    assert set(np.unique(tiles.labels).tolist()) == {0, 1}


def test_missing_mask_folder(tmp_path: Path) -> None:
    (tmp_path / "sat").mkdir()
    with pytest.raises(InputError, match="needs an image folder"):
        load_dataset("sos", tmp_path)
