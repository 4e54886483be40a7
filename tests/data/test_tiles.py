import numpy as np
import pytest

from engine.classes import IGNORE_INDEX, OSD_CLASSES
from engine.data.tiles import (
    clip_standardise_db,
    concat_tilesets,
    cut_tiles,
    db_to_diffusion,
    diffusion_to_db,
    spill_repeats,
    tile_origins,
)
from engine.detectors.base import InputSpec


def test_tile_origins_cover_the_edge() -> None:
    assert tile_origins(256, 256, 256) == [0]
    assert tile_origins(600, 256, 256) == [0, 256, 344]
    assert tile_origins(100, 256, 256) == [0]


def test_cut_tiles_marks_nodata_ignore_and_pads_small_scenes() -> None:
    image = np.full((50, 70), -20.0, np.float32)
    valid = np.ones((50, 70), bool)
    valid[:, :10] = False
    labels = np.zeros((50, 70), np.uint8)
    labels[0:5, 30:40] = 1
    tiles = cut_tiles(image, valid, labels, "s", OSD_CLASSES, db_floor=-35.0, tile_px=64, min_valid_fraction=0.5)
    assert tiles.origins == [(0, 0), (0, 6)]  # rows padded to 64; columns 0 and 70 - 64
    tile = tiles.labels[0]
    assert (tile[:, :10] == IGNORE_INDEX).all()  # nodata columns
    assert (tile[50:, :] == IGNORE_INDEX).all()  # padding rows
    assert tiles.images_db[0][0, 0] == -35.0 and not tiles.valid[0][0, 0]


def test_a_scene_smaller_than_a_tile_is_kept_when_most_of_it_is_valid() -> None:
    """A 200 px scene with a nodata wedge (72% valid) filled under half of a padded 256 px tile and was
    dropped as "unlabelled or nodata"; the fractions are of the pixels inside the scene."""
    valid = np.ones((200, 200), bool)
    valid[:, :56] = False
    labels = np.zeros((200, 200), np.uint8)
    tiles = cut_tiles(np.full((200, 200), -20.0), valid, labels, "s", OSD_CLASSES, -35.0, tile_px=256)
    assert len(tiles) == 1 and tiles.valid[0].sum() == 200 * 144
    assert (tiles.labels[0][200:, :] == IGNORE_INDEX).all() and not tiles.valid[0][:, 200:].any()
    valid[:, :110] = False  # now mostly nodata: still dropped
    assert len(cut_tiles(np.full((200, 200), -20.0), valid, labels, "s", OSD_CLASSES, -35.0, tile_px=256)) == 0


def test_cut_tiles_drops_mostly_nodata_and_unlabelled_tiles() -> None:
    image = np.zeros((64, 128), np.float32)
    valid = np.ones((64, 128), bool)
    valid[:, 64:] = False
    labels = np.zeros((64, 128), np.uint8)
    tiles = cut_tiles(image, valid, labels, "s", OSD_CLASSES, -35.0, tile_px=64)
    assert len(tiles) == 1 and tiles.origins == [(0, 0)]
    unlabelled = np.full((64, 64), IGNORE_INDEX, np.uint8)
    assert len(cut_tiles(image[:, :64], valid[:, :64], unlabelled, "s", OSD_CLASSES, -35.0, tile_px=64)) == 0


def test_spill_repeats_and_concat() -> None:
    labels = np.zeros((3, 8, 8), np.uint8)
    labels[1, :4, :4] = 1  # 16 oil pixels
    labels[2, 0, 0] = 1  # a stray pixel
    np.testing.assert_array_equal(spill_repeats(labels, [1], 3), [1, 3, 1])
    with pytest.raises(ValueError):
        spill_repeats(labels, [1], 0)
    one = cut_tiles(np.zeros((8, 8)), np.ones((8, 8), bool), np.zeros((8, 8), np.uint8), "a", OSD_CLASSES, -35, 8)
    both = concat_tilesets([one, one])
    assert len(both) == 2 and both.scene_ids == ["a", "a"]


def test_domains() -> None:
    db = np.array([-40.0, -35.0, -15.0, 5.0, 9.0], np.float32)
    np.testing.assert_allclose(db_to_diffusion(db, (-35, 5)), [-1, -1, 0, 1, 1])
    np.testing.assert_allclose(diffusion_to_db(db_to_diffusion(db, (-35, 5)), (-35, 5)), [-35, -35, -15, 5, 5])
    spec = InputSpec(units="db", db_range=(-35, 5), mean=-20, std=5)
    np.testing.assert_allclose(clip_standardise_db(db, spec), [-3, -3, 1, 5, 5])


def test_fold_labels_between_binary_and_five_classes() -> None:
    """Binary labels meet a five-class model as oil / "not oil", five-class labels a binary model as oil / rest."""
    from engine.classes import BINARY_CLASSES, NOT_OIL_INDEX, SegClass
    from engine.data.tiles import can_fold, fold_labels, folding_note

    binary = np.array([[0, 1, IGNORE_INDEX]], np.uint8)
    np.testing.assert_array_equal(fold_labels(binary, BINARY_CLASSES, OSD_CLASSES), [[NOT_OIL_INDEX, 1, IGNORE_INDEX]])
    five = np.array([[0, 1, 2, 3, 4, NOT_OIL_INDEX, IGNORE_INDEX]], np.uint8)
    np.testing.assert_array_equal(fold_labels(five, OSD_CLASSES, BINARY_CLASSES), [[0, 1, 0, 0, 0, 0, IGNORE_INDEX]])
    np.testing.assert_array_equal(fold_labels(five, OSD_CLASSES, OSD_CLASSES), five)  # same classes: as they are
    no_oil = (SegClass(0, "sea", (0, 0, 0)), SegClass(1, "ship", (9, 9, 9)), SegClass(2, "land", (0, 9, 0)))
    assert not can_fold(OSD_CLASSES, no_oil) and not can_fold(BINARY_CLASSES, no_oil)
    assert not can_fold(OSD_CLASSES, OSD_CLASSES[:3])  # ship and land have nowhere to go
    with pytest.raises(ValueError, match="cannot train or score"):
        fold_labels(five, OSD_CLASSES, no_oil)
    assert "scored as oil against the rest" in folding_note(BINARY_CLASSES, OSD_CLASSES)
    assert "look-alike, ship, land are folded into not oil" in folding_note(OSD_CLASSES, BINARY_CLASSES)
    assert folding_note(OSD_CLASSES, OSD_CLASSES) is None


def test_partial_labels_are_counted_apart_never_as_sea() -> None:
    from engine.classes import BINARY_CLASSES, NOT_OIL_INDEX

    labels = np.zeros((1, 4, 4), np.uint8)
    labels[0, 0] = 1
    labels[0, 1:3] = NOT_OIL_INDEX
    tiles = cut_tiles(np.full((4, 4), -20.0), np.ones((4, 4), bool), labels[0], "a", OSD_CLASSES, -35.0, 4)
    assert tiles.has_partial_labels()
    assert tiles.class_pixel_counts() == {"sea": 4, "oil": 4, "look-alike": 0, "ship": 0, "land": 0, "not oil": 8}
    assert tiles.summary()["class_pixels"]["not oil"] == 8
    assert tiles.with_classes(OSD_CLASSES) is tiles
    folded = tiles.with_classes(BINARY_CLASSES)
    assert folded.classes == BINARY_CLASSES and not folded.has_partial_labels()
    assert folded.class_pixel_counts() == {"sea": 12, "oil": 4} and folded.images_db is tiles.images_db
