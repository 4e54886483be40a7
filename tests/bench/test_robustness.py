"""bench/robustness.py: the export conditions are what their names say (a JPEG through GDAL, a stretch)."""

import importlib.util
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "bench"
spec = importlib.util.spec_from_file_location("bench_robustness", BENCH / "robustness.py")
robustness = importlib.util.module_from_spec(spec)
spec.loader.exec_module(robustness)


def speckled_tile_with_a_slick() -> np.ndarray:
    rng = np.random.default_rng(0)
    power = rng.gamma(4.4, 1 / 4.4, (256, 256)) * 10 ** (-1.5)
    power[100:140, 40:220] *= 10 ** (-0.8)  # an 8 dB darker slick
    return (10 * np.log10(power)).astype(np.float32)


def test_jpeg_export_is_the_stretch_with_jpeg_losses() -> None:
    image = speckled_tile_with_a_slick()
    stretched = robustness.stretch_8bit(image)
    jpeg = robustness.jpeg_8bit(image)
    assert jpeg.shape == image.shape
    low, high = robustness.READ_RANGE
    assert jpeg.min() >= low and jpeg.max() <= high
    difference = np.abs(jpeg - stretched)
    assert difference.mean() > 0.05  # compressed: speckle is not kept exactly
    assert abs(float(jpeg.mean() - stretched.mean())) < 0.5  # but the levels are
    assert jpeg[100:140, 40:220].mean() < jpeg[:80].mean() - 3  # and the slick stays dark


def test_the_printed_mean_compares_with_earlier_runs() -> None:
    assert "30 m" not in robustness.MEAN_OF and "8bit p2-p98 JPEG" not in robustness.MEAN_OF
    assert len(robustness.MEAN_OF) == 11


def test_placed_export_puts_the_sea_at_the_grey_asked_for() -> None:
    image = speckled_tile_with_a_slick()
    low, high = robustness.READ_RANGE
    for grey in robustness.LEVEL_GREYS:
        placed = robustness.placed_8bit(image, grey, 20.0)
        sea_grey = (np.median(placed) - low) / (high - low) * 255
        assert abs(sea_grey - grey) <= 1
    narrow, wide = robustness.placed_8bit(image, 128, 8.0), robustness.placed_8bit(image, 128, 60.0)
    assert np.std(narrow) > 3 * np.std(wide)  # a narrow span stretches the same tile's contrast


def test_oil_share_groups_score_each_tile_in_its_own_group() -> None:
    small = np.zeros((256, 256), np.uint8)
    small[:10, :100] = 1  # 1.5 % oil
    large = np.zeros((256, 256), np.uint8)
    large[:160] = 1  # 62.5 % oil
    large[250:] = robustness.IGNORE_INDEX
    assert robustness.oil_share(small) == 1000 / 65536
    assert robustness.oil_share(large) == 160 / 250
    found_small = small.astype(bool)  # the small slick found exactly
    missed_large = np.zeros_like(large, bool)  # the large one missed
    scores = robustness.iou_by_oil_share([found_small, missed_large], [small, large])
    assert scores["0.5-5 %"] == 100.0 and scores[">= 40 %"] == 0.0
    assert np.isnan(scores["5-20 %"]) and np.isnan(scores["20-40 %"])
    assert robustness.share_histogram([small, large]) == {"0.5-5 %": 1, "5-20 %": 0, "20-40 %": 0, ">= 40 %": 1}


def test_the_big_spill_scenes_are_their_own_seeds_and_a_valid_config() -> None:
    group = robustness.BIG_SPILL_GROUP
    config = group.config()  # SceneConfig checks its fields
    assert config.max_spill_scene_fraction == 0.45 and config.spill_area_km2 == (8.0, 60.0)
    seeds = set(range(group.first_seed, group.first_seed + group.count))
    for other in robustness.TEST_GROUPS:
        for shift in (0, robustness.VALIDATION_SEED_SHIFT):
            first = other.first_seed + shift
            assert not seeds & set(range(first, first + other.count))
    assert min(seeds) > 5089  # above the training seeds of make default-model (1000-4023) and stage 4 (5000-5089)
