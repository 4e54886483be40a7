"""The folder data-set registry: one loader, one signature and one set of errors for OSD and SOS."""

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.classes import BINARY_CLASSES
from engine.data.datasets import DATASETS, load_dataset, split_folder
from engine.data.folders import FolderDataset
from engine.data.sos import read_sos_mask
from engine.data.split import resolve_split_folder
from engine.errors import InputError

from .conftest import write_osd


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


def test_a_split_that_is_not_there_is_refused_not_replaced_by_the_folder(osd_folder: Path, tmp_path: Path) -> None:
    """--split test on a split folder read that folder (training tiles scored as held-out ones); a root without
    the split names the splits it has. The default split still reads a split folder as it is."""
    with pytest.raises(InputError) as raised:
        load_dataset("osd", osd_folder / "train", split="test", tile_px=64)
    message = str(raised.value)
    assert message.startswith(f"{osd_folder / 'train'}: it holds images/ itself (one split, with no test/ folder")
    assert f"give {(osd_folder / 'test').resolve()} as --dataset" in message and "\n" not in message
    flat = write_osd(tmp_path / "flat", 1)  # a data set without splits (as dakd simulate-tiles writes)
    with pytest.raises(InputError, match=r"flat: it holds images/ itself .* give the test folder as --dataset"):
        load_dataset("osd", flat, split="test", tile_px=64)
    assert len(load_dataset("osd", flat, tile_px=64)) > 0 and len(load_dataset("osd", flat, "flat", tile_px=64)) > 0
    shutil.rmtree(osd_folder / "test")
    with pytest.raises(InputError) as raised:
        load_dataset("osd", osd_folder, split="test", tile_px=64)
    assert str(raised.value) == (
        f"{osd_folder}: no test/ split folder; the splits here are train: give one of them as --split, "
        "or another data-set folder as --dataset"
    )


def test_split_train_on_the_test_split_folder_is_refused_and_a_missing_split_reads_the_folder(osd_folder: Path) -> None:
    """--split train on ROOT/test read the held-out tiles as the training split (train was accepted on any split
    folder, as it was also what a missing --split became); a split not given still reads a split folder as it is,
    and a root's train/ folder."""
    test = osd_folder / "test"
    with pytest.raises(InputError) as raised:
        load_dataset("osd", test, split="train", tile_px=64)
    message = str(raised.value)
    assert message.startswith(f"{test}: it holds images/ itself (one split, with no train/ folder in it)")
    assert f"give {(osd_folder / 'train').resolve()} as --dataset, or leave out --split" in message
    assert "\n" not in message
    assert split_folder("osd", test, None) == split_folder("osd", test, "Test") == test
    assert split_folder("osd", osd_folder, None) == split_folder("osd", osd_folder, "train") == osd_folder / "train"
    assert load_dataset("osd", test, tile_px=64).scenes() == load_dataset("osd", test, "test", tile_px=64).scenes()
    assert len(load_dataset("osd", osd_folder, tile_px=64).scenes()) == 3  # the root's train/ (3 images)


@pytest.mark.parametrize(("key", "other"), [("osd", "sos"), ("sos", "osd")])
def test_a_folder_of_the_other_data_set_is_refused_naming_its_format(folders, key, other) -> None:
    """SOS accepts OSD's images/ and labels/ names, so --data-format sos read an OSD folder (colour labels as
    masks) and scored it differently; the marker folders (OSD labels_1D/, SOS sat/ and gt/) tell them apart."""
    for folder, split in ((folders[key], "train"), (folders[key] / "train", None)):
        with pytest.raises(InputError) as raised:
            load_dataset(other, folder, split=split, tile_px=64)
        message = str(raised.value)
        assert message.startswith(f"{folders[key] / 'train'}: a folder of the {DATASETS[key].name} data set (")
        assert message.endswith(f"not {DATASETS[other].name}; use --data-format {key}") and "\n" not in message


def test_a_registered_data_set_is_a_declaration(sos_folder: Path, monkeypatch) -> None:
    copy = FolderDataset("SOS copy", BINARY_CLASSES, ("sat",), ("gt",), read_sos_mask)
    monkeypatch.setitem(DATASETS, "sos-copy", copy)
    tiles = load_dataset("sos-copy", sos_folder, tile_px=64)
    np.testing.assert_array_equal(tiles.labels, load_dataset("sos", sos_folder, tile_px=64).labels)


def first_image(folder: Path) -> Path:
    return sorted((folder / "train").glob("*/*.jpg"))[0]


@pytest.mark.parametrize("key", ["osd", "sos"])
@pytest.mark.parametrize(("dtype", "kind"), [("uint16", "16-bit"), ("float32", "32-bit float")])
def test_16_bit_and_float_images_are_refused_not_clipped(folders, key, dtype, kind) -> None:
    """Converting them to 8-bit clipped a 0-4000 image to mostly 255 and zeroed floats; the folder loaders read
    8-bit pictures and point calibrated rasters to --scene."""
    import rasterio
    from rasterio.transform import Affine

    jpeg = first_image(folders[key])
    with Image.open(jpeg) as image:
        width, height = image.size
    scene = jpeg.with_suffix(".tif")
    values = np.linspace(0, 4000 if dtype == "uint16" else 0.05, width * height).reshape(height, width)
    jpeg.unlink()
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": dtype}
    profile.update(crs="EPSG:32633", transform=Affine(10, 0, 500000, 0, -10, 4500000))  # a GeoTIFF
    with rasterio.open(scene, "w", **profile) as raster:
        raster.write(values.astype(dtype), 1)
    with pytest.raises(InputError) as raised:
        load_dataset(key, folders[key], tile_px=64)
    message = str(raised.value)
    assert message.startswith(f"{scene}: a {kind} image") and "\n" not in message
    assert "8-bit pictures" in message and "--scene RASTER" in message and "--label-raster FILE" in message


@pytest.mark.parametrize("key", ["osd", "sos"])
def test_a_data_set_without_oil_warns_once(folders, key, monkeypatch) -> None:
    """Every label oil-free is nearly always a mask-convention mistake: one warning line naming the folder."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)  # counted here, once each, whatever handlers earlier tests left
    monkeypatch.setattr(handler, "emit", records.append)
    logger = logging.getLogger("dakd")
    monkeypatch.setattr(logger, "level", logging.INFO)
    logger.addHandler(handler)
    try:
        load_dataset(key, folders[key], tile_px=64)
        assert records == []
        label_folder = "labels_1D" if key == "osd" else "gt"
        for path in (folders[key] / "train" / label_folder).glob("*.png"):
            labels = np.asarray(Image.open(path)).copy()
            labels[labels == 1 if key == "osd" else labels > 127] = 0  # OSD: the other classes stay
            Image.fromarray(labels).save(path)
        tiles = load_dataset(key, folders[key], tile_px=64)
    finally:
        logger.removeHandler(handler)
    assert len(tiles) > 0 and tiles.class_pixel_counts()["oil"] == 0
    assert [r.getMessage().count("\n") for r in records] == [0]
    message = records[0].getMessage()
    assert message.startswith(f"{folders[key] / 'train'}: none of the {len(tiles)} ") and "labelled oil" in message
