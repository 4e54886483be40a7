from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.io.sentinel1.annotation import (
    parse_calibration,
    parse_image_annotation,
    parse_noise,
    parse_xml,
)


def _root(safe: Path, relative: str):
    path = safe / relative
    return parse_xml(path.read_bytes(), str(path))


def test_image_annotation_of_the_real_product(shared_safe, kit):
    annotation = parse_image_annotation(_root(shared_safe, f"annotation/{kit.STEM}.xml"), "annotation")
    assert (annotation.width, annotation.height) == (26102, 16705)
    assert (annotation.mission, annotation.product_type, annotation.mode, annotation.polarisation) == (
        "S1B",
        "GRD",
        "IW",
        "VV",
    )
    assert annotation.range_spacing_m == annotation.azimuth_spacing_m == 10.0
    grid = annotation.geolocation
    assert grid.lines.size == 210
    assert sorted(set(grid.lines))[-1] == 16704 and sorted(set(grid.pixels))[-1] == 26101
    first = np.flatnonzero((grid.lines == 0) & (grid.pixels == 0))[0]
    assert grid.latitudes[first] == pytest.approx(42.37675280764677)
    assert grid.longitudes[first] == pytest.approx(15.32209672548896)


def test_calibration_vectors(shared_safe, kit):
    lut = parse_calibration(_root(shared_safe, f"annotation/calibration/calibration-{kit.STEM}.xml"), "calibration")
    assert lut.lines.size == 27
    assert list(lut.lines[:4]) == [0, 668, 1336, 2005]
    assert lut.pixels[0][:3].tolist() == [0, 40, 80] and lut.pixels[0][-1] == 26101
    assert lut.values[0][0] == pytest.approx(663.8558)


def test_noise_vectors_new_generation(shared_safe, kit):
    noise = parse_noise(_root(shared_safe, f"annotation/calibration/noise-{kit.STEM}.xml"), "noise")
    assert noise.generation.startswith("range x azimuth")
    assert noise.range_vectors.lines.size == 27
    assert noise.range_vectors.values[0][0] == pytest.approx(2375.788)
    extents = [(b.swath, b.first_sample, b.last_sample, b.first_line, b.last_line) for b in noise.azimuth_blocks]
    assert extents == [("IW1", 0, 8889, 0, 16704), ("IW2", 8890, 17700, 0, 16704), ("IW3", 17701, 26101, 0, 16704)]
    assert noise.azimuth_blocks[0].values[0] == pytest.approx(1.091791)


def test_noise_vectors_legacy_generation(shared_safe, kit):
    text = (shared_safe / f"annotation/calibration/noise-{kit.STEM}.xml").read_text()
    noise = parse_noise(parse_xml(kit.legacy_noise(text).encode(), "noise"), "noise")
    assert noise.generation.startswith("range-only")
    assert noise.azimuth_blocks == ()
    assert noise.range_vectors.values[0][0] == pytest.approx(2375.788)


def test_broken_xml_is_one_clear_line():
    with pytest.raises(InputError, match="not valid XML") as info:
        parse_xml(b"<calibration><unclosed></calibration>", "calibration.xml")
    assert "\n" not in str(info.value)


def test_mismatched_lut_vector_is_refused(shared_safe, kit):
    text = (shared_safe / f"annotation/calibration/calibration-{kit.STEM}.xml").read_text()
    broken = text.replace('<sigmaNought count="654">6.638558e+02 ', '<sigmaNought count="654">', 1)
    with pytest.raises(InputError, match="653 values for 654 pixels"):
        parse_calibration(parse_xml(broken.encode(), "calibration"), "calibration")
