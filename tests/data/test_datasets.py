"""The folder data-set registry: one loader, one signature and one set of errors for OSD and SOS."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.classes import BINARY_CLASSES
from engine.data.datasets import DATASETS, load_dataset
from engine.data.folders import FolderDataset
from engine.data.sos import read_sos_mask
from engine.data.split import resolve_split_folder
from engine.errors import InputError


@pytest.fixture
def folders(osd_folder: Path, sos_folder: Path) -> dict[str, Path]:
    return {"osd": osd_folder, "sos": sos_folder}


@pytest.mark.parametrize("key", ["osd", "sos"])
def test_every_data_set_takes_split_stride_nodata_and_limit(folders, key) -> None:
    whole = load_dataset(key, folders[key], split="train", tile_px=64)
    one_image = load_dataset(key, folders[key], split="train", tile_px=64, limit=1)
    assert 0 < len(one_image) < len(whole) and len(one_image.scenes()) == 1
    overlapping = load_dataset(key, folders[key] / "train", split=None, tile_px=32, stride_px=16, limit=1)
    assert len(overlapping) > len(load_dataset(key, folders[key] / "train", split=None, tile_px=32, limit=1))
    # Dark pixels (value 0 after clipping the synthetic noise) are rare; nodata=value drops only them.
    first_image = sorted((folders[key] / "train").glob("*/*.jpg"))[0]
    value = int(np.asarray(Image.open(first_image).convert("L"))[0, 0])
    masked = load_dataset(key, folders[key], tile_px=64, nodata=value, limit=1)
    assert not masked.valid.all() and masked.valid.mean() > 0.5


@pytest.mark.parametrize("key", ["osd", "sos"])
def test_an_empty_result_is_the_same_one_line_error_everywhere(folders, key) -> None:
    for path in (folders[key] / "train").glob("*/*.jpg"):  # every pixel nodata: no tile is left
        with Image.open(path) as image:
            size = image.size
        Image.new("L", size, 7).save(path)
    with pytest.raises(InputError) as raised:
        load_dataset(key, folders[key], tile_px=64, nodata=7)
    message = str(raised.value)
    assert (
        message.endswith(
            "train: no usable tile: every tile is unlabelled or nodata; check that the labels cover valid sea pixels"
        )
        and "\n" not in message
    )


def test_unknown_data_set_and_missing_split_folder(osd_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown data set 'coco'; use one of osd, sos"):
        load_dataset("coco", osd_folder)
    with pytest.raises(InputError, match=r"no images folder; give a split folder of the OSD data set .* --split"):
        load_dataset("osd", tmp_path, split="nope")
    assert resolve_split_folder(osd_folder, "test", ("images",), "OSD") == osd_folder / "test"
    assert resolve_split_folder(osd_folder / "test", "train", ("images",), "OSD") == osd_folder / "test"


def test_a_registered_data_set_is_a_declaration(sos_folder: Path, monkeypatch) -> None:
    copy = FolderDataset("SOS copy", BINARY_CLASSES, ("sat",), ("gt",), read_sos_mask)
    monkeypatch.setitem(DATASETS, "sos-copy", copy)
    tiles = load_dataset("sos-copy", sos_folder, tile_px=64)
    np.testing.assert_array_equal(tiles.labels, load_dataset("sos", sos_folder, tile_px=64).labels)
