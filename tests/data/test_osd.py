from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.classes import IGNORE_INDEX, OSD_CLASSES
from engine.data.datasets import load_dataset
from engine.errors import InputError


def test_reads_labels_1d_from_the_root_with_split(osd_folder: Path) -> None:
    tiles = load_dataset("osd", osd_folder, split="train", tile_px=64)
    # 96x160 -> rows (0, 32) x cols (0, 64, 96) = 6 tiles per image, 3 images
    assert len(tiles) == 18
    assert tiles.classes == OSD_CLASSES
    assert set(tiles.scenes()) == {"img_0000", "img_0001", "img_0002"}
    first = tiles.labels[0]
    assert first[15, 15] == 1 and first[45, 62] == 2 and first[5, 5] == 0
    # the oil rectangle is 60 grey levels darker: about 9.4 dB in the default -35..5 dB span
    image = tiles.images_db[0].astype(np.float32)
    assert image[12:28, 12:48].mean() < image[60:64, 30:60].mean() - 7


def test_rgb_labels_match_labels_1d(osd_folder: Path) -> None:
    split = osd_folder / "train"
    from_ids = load_dataset("osd", split, split=None, tile_px=64)
    (split / "labels_1D").rename(split / "unused")
    from_rgb = load_dataset("osd", split, split=None, tile_px=64)
    np.testing.assert_array_equal(from_ids.labels, from_rgb.labels)


def test_unknown_colour_is_one_line_error(osd_folder: Path) -> None:
    split = osd_folder / "train"
    (split / "labels_1D").rename(split / "unused")
    label = np.asarray(Image.open(split / "labels" / "img_0001.png")).copy()
    label[0, 0] = (12, 34, 56)
    Image.fromarray(label).save(split / "labels" / "img_0001.png")
    with pytest.raises(InputError, match=r"img_0001.png: 1 pixels have colour \(12, 34, 56\)"):
        load_dataset("osd", split, tile_px=64)


def test_white_rgb_means_ignore(osd_folder: Path) -> None:
    split = osd_folder / "train"
    (split / "labels_1D").rename(split / "unused")
    label = np.asarray(Image.open(split / "labels" / "img_0000.png")).copy()
    label[0:5, 0:5] = 255
    Image.fromarray(label).save(split / "labels" / "img_0000.png")
    tiles = load_dataset("osd", split, tile_px=64)
    assert (tiles.labels[0, 0:5, 0:5] == IGNORE_INDEX).all()


def test_missing_label_and_missing_folder(osd_folder: Path, tmp_path: Path) -> None:
    (osd_folder / "train" / "labels_1D" / "img_0002.png").unlink()
    with pytest.raises(InputError, match="no label file for 1 image"):
        load_dataset("osd", osd_folder / "train", tile_px=64)
    with pytest.raises(InputError, match="no images folder; give a split folder of the OSD data set"):
        load_dataset("osd", tmp_path, split="nope")


def test_label_ids_above_255_are_refused_not_wrapped(osd_folder: Path) -> None:
    """A 16-bit label with id 257 became 1 (oil) in a cast to uint8; wide labels with ids 0-255 still read."""
    split = osd_folder / "train"
    path = split / "labels_1D" / "img_0001.png"
    ids = np.asarray(Image.open(path)).astype(np.uint16)
    Image.fromarray(ids).save(path)  # a 16-bit PNG of the same ids: read as before
    np.testing.assert_array_equal(load_dataset("osd", split, tile_px=64).labels[6], ids[:64, :64])
    ids[5, 5] = 257
    Image.fromarray(ids).save(path)
    with pytest.raises(InputError) as raised:
        load_dataset("osd", split, tile_px=64)
    assert str(raised.value) == (
        f"{path}: label values [257] do not fit an 8-bit label (whole numbers 0-255); save the labels as an 8-bit PNG"
    )
