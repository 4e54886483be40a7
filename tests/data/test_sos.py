from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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


def rewrite_masks(split: Path, save) -> None:
    """Save every mask of ``split`` again in another convention: ``save(oil, path)`` with ``oil`` boolean (H, W)."""
    for path in sorted((split / "gt").glob("*.png")):
        oil = np.asarray(Image.open(path)) > 127
        path.unlink()
        save(oil, path)


def palette_mask(oil: np.ndarray, palette: list[int]) -> Image.Image:
    """A "P" image holding index 1 on oil and 0 elsewhere, with ``palette`` (flat RGB triplets)."""
    image = Image.fromarray(oil.astype(np.uint8), "P")
    image.putpalette(palette)
    return image


@pytest.mark.parametrize(
    "save",
    [
        pytest.param(lambda oil, path: Image.fromarray(oil.astype(np.uint8)).save(path), id="0-1 grey"),
        pytest.param(lambda oil, path: palette_mask(oil, [0, 0, 0, 255, 0, 0]).save(path), id="red palette"),
        pytest.param(lambda oil, path: palette_mask(oil, [0, 0, 0, 255, 255, 255]).save(path), id="white palette"),
        pytest.param(
            lambda oil, path: Image.fromarray(np.stack([oil * 255, oil * 0, oil * 0], 2).astype(np.uint8)).save(path),
            id="red RGB",
        ),
        pytest.param(
            lambda oil, path: Image.fromarray(oil.astype(np.uint16)).save(path.with_suffix(".tif")), id="0-1 16-bit"
        ),
        pytest.param(
            lambda oil, path: Image.fromarray(oil.astype(np.uint8) * 255).save(path.with_suffix(".jpg"), quality=70),
            id="0-255 JPEG",
        ),
    ],
)
def test_every_mask_convention_reads_the_same_oil(sos_folder: Path, save) -> None:
    """0/1 masks, palette masks and coloured masks were all sea before (oil only above grey 127); JPEG noise
    near 0 and 255 still reads as the 0/255 mask it was."""
    expected = load_dataset("sos", sos_folder, tile_px=64).labels
    rewrite_masks(sos_folder / "train", save)
    labels = load_dataset("sos", sos_folder, tile_px=64).labels
    assert expected.sum() > 1000 and (labels == expected).mean() > 0.999


def test_a_palette_whose_colours_contradict_its_indices_is_refused(sos_folder: Path) -> None:
    """Index 0 white (or an oil index black) could mean either convention: one line naming the file, no guess."""
    rewrite_masks(sos_folder / "train", lambda oil, path: palette_mask(oil, [255, 255, 255, 0, 0, 0]).save(path))
    with pytest.raises(InputError) as raised:
        load_dataset("sos", sos_folder, tile_px=64)
    message = str(raised.value)
    mask = sos_folder / "train" / "gt" / "0_mask.png"
    assert message.startswith(f"{mask}: palette index 0 is colour (255, 255, 255)")
    assert "0 = sea, any other = oil" in message and "\n" not in message


def test_a_16_bit_mask_above_255_is_refused(sos_folder: Path) -> None:
    rewrite_masks(sos_folder / "train", lambda oil, path: Image.fromarray(oil.astype(np.uint16) * 1000).save(path))
    with pytest.raises(InputError, match=r"0_mask.png: label values \[1000\] do not fit an 8-bit label"):
        load_dataset("sos", sos_folder, tile_px=64)


def test_a_jpeg_mask_of_noise_near_black_is_sea(tmp_path: Path) -> None:
    """In a JPEG, 0/1 values are compression noise around black sea, not a 0/1 mask."""
    from engine.data.sos import read_sos_mask

    noise = (np.random.default_rng(0).random((64, 64)) < 0.3).astype(np.uint8)
    path = tmp_path / "clean.jpg"
    Image.fromarray(noise).save(path, quality=95)
    assert set(np.unique(np.asarray(Image.open(path))).tolist()) <= {0, 1}  # the case this test is about
    assert read_sos_mask(path).sum() == 0
    lossless = tmp_path / "clean.png"
    Image.fromarray(noise).save(lossless)
    assert read_sos_mask(lossless).sum() == noise.sum()
