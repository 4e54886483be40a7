"""σ0 from the real LUTs, checked against values worked out by hand from the XML text."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from rasterio.windows import Window

from engine.io.sentinel1 import open_product
from engine.io.sentinel1.annotation import LineVectors
from engine.io.sentinel1.calibrate import SIGMA0_FLOOR_LINEAR, interpolate_line_vectors

# (line, pixel) inside the DN patches of the test product. Line 1000 lies between the calibration
# vectors at 668 and 1336 and the noise vectors at 668 and 1336; pixel 1234 between LUT pixels 1200
# and 1240. (1336, 1200) is a LUT node. 8889 | 8890 is the IW1 | IW2 azimuth-noise block boundary.
POINTS = [(1000, 1234), (1336, 1200), (900, 1150), (1099, 1349), (5050, 8889), (5050, 8890), (5013, 8931)]


def _vectors(path, vector_tag, lut_tag):
    root = ET.parse(path).getroot()
    return [
        (
            int(v.find("line").text),
            [int(p) for p in v.find("pixel").text.split()],
            [float(x) for x in v.find(lut_tag).text.split()],
        )
        for v in root.iter(vector_tag)
    ]


def _linear(xs, ys, x):
    """Straight-line interpolation between the two nodes around x, written out."""
    for j in range(len(xs) - 1):
        if xs[j] <= x <= xs[j + 1]:
            return ys[j] + (x - xs[j]) / (xs[j + 1] - xs[j]) * (ys[j + 1] - ys[j])
    raise ValueError(x)


def _by_hand(vectors, line, pixel):
    """Bilinear: along pixel within the two vectors bracketing the line, then along line between them."""
    for (line0, pixels0, values0), (line1, pixels1, values1) in zip(vectors, vectors[1:]):
        if line0 <= line <= line1:
            a0, a1 = _linear(pixels0, values0, pixel), _linear(pixels1, values1, pixel)
            return a0 + (line - line0) / (line1 - line0) * (a1 - a0)
    raise ValueError(line)


def _azimuth_by_hand(noise_path, line, pixel):
    root = ET.parse(noise_path).getroot()
    for block in root.iter("noiseAzimuthVector"):
        if int(block.find("firstRangeSample").text) <= pixel <= int(block.find("lastRangeSample").text):
            lines = [int(x) for x in block.find("line").text.split()]
            return _linear(lines, [float(x) for x in block.find("noiseAzimuthLut").text.split()], line)
    raise ValueError(pixel)


def _dn_at(kit, line, pixel):
    for patch in kit.standard_patches().values():
        rows, cols = patch.dn.shape
        if patch.row <= line < patch.row + rows and patch.col <= pixel < patch.col + cols:
            return float(patch.dn[line - patch.row, pixel - patch.col])
    raise ValueError((line, pixel))


def _read_point(scene, line, pixel):
    values, valid = scene.read_radar_sigma0(Window(pixel, line, 1, 1))
    return float(values[0, 0]), bool(valid[0, 0])


@pytest.fixture(scope="module")
def xml_paths(full_product, kit):
    calibration = full_product / "annotation" / "calibration" / f"calibration-{kit.STEM}.xml"
    noise = full_product / "annotation" / "calibration" / f"noise-{kit.STEM}.xml"
    return calibration, noise


def test_sigma0_equals_the_formula_worked_by_hand(full_product, kit, xml_paths):
    calibration_path, noise_path = xml_paths
    sigma_lut = _vectors(calibration_path, "calibrationVector", "sigmaNought")
    noise_range = _vectors(noise_path, "noiseRangeVector", "noiseRangeLut")
    with open_product(full_product, geometry="radar") as scene:
        for line, pixel in POINTS:
            dn = _dn_at(kit, line, pixel)
            a = _by_hand(sigma_lut, line, pixel)
            eta = _by_hand(noise_range, line, pixel) * _azimuth_by_hand(noise_path, line, pixel)
            expected = max((dn * dn - eta) / (a * a), SIGMA0_FLOOR_LINEAR)
            value, valid = _read_point(scene, line, pixel)
            assert valid
            assert value == pytest.approx(expected, rel=1e-5), (line, pixel)


def test_lut_node_value_is_taken_verbatim(full_product, kit, xml_paths):
    root = ET.parse(xml_paths[0]).getroot()
    vector = next(v for v in root.iter("calibrationVector") if v.find("line").text == "1336")
    pixels = vector.find("pixel").text.split()
    a_node = float(vector.find("sigmaNought").text.split()[pixels.index("1200")])
    with open_product(full_product, geometry="radar", remove_noise=False) as scene:
        value, _ = _read_point(scene, 1336, 1200)
    assert value == pytest.approx(_dn_at(kit, 1336, 1200) ** 2 / a_node**2, rel=1e-6)


def test_noise_subtracted_is_range_times_azimuth(full_product, xml_paths):
    calibration_path, noise_path = xml_paths
    sigma_lut = _vectors(calibration_path, "calibrationVector", "sigmaNought")
    noise_range = _vectors(noise_path, "noiseRangeVector", "noiseRangeLut")
    window = Window(8850, 5000, 100, 100)  # across the IW1 | IW2 boundary
    with (
        open_product(full_product, geometry="radar") as denoised,
        open_product(full_product, geometry="radar", remove_noise=False) as raw,
    ):
        with_noise, valid = raw.read_radar_sigma0(window)
        without_noise, _ = denoised.read_radar_sigma0(window)
    kept = without_noise > SIGMA0_FLOOR_LINEAR  # where the clip did not act
    assert valid.all() and kept.mean() > 0.9
    for line, pixel in [(5050, 8889), (5050, 8890), (5099, 8949), (5000, 8850)]:
        r, c = line - 5000, pixel - 8850
        if not kept[r, c]:
            continue
        a = _by_hand(sigma_lut, line, pixel)
        eta = _by_hand(noise_range, line, pixel) * _azimuth_by_hand(noise_path, line, pixel)
        assert (with_noise[r, c] - without_noise[r, c]) * a * a == pytest.approx(eta, rel=1e-3)
    # The IW1 and IW2 azimuth LUTs differ, so the noise steps at the block boundary.
    az_iw1 = _azimuth_by_hand(noise_path, 5050, 8889)
    az_iw2 = _azimuth_by_hand(noise_path, 5050, 8890)
    assert abs(az_iw1 - az_iw2) > 5e-4


def test_clip_to_floor_and_dn0_nodata(full_product):
    with open_product(full_product, geometry="radar") as scene:
        values, valid = scene.read_radar_sigma0(Window(1150, 900, 200, 200))
        dn = scene._read_dn(Window(1150, 900, 200, 200))
        outside, outside_valid = scene.read_radar_sigma0(Window(2000, 2000, 16, 16))  # unwritten: DN 0
    low = (dn.astype(float) ** 2) < 1000  # noise is about 1500-2000 DN² here, so these are clipped
    assert low.any() and np.all(values[low] == np.float32(SIGMA0_FLOOR_LINEAR)) and valid[low].all()
    assert not outside_valid.any() and not outside.any()


def test_legacy_product_uses_range_noise_only(legacy_product, kit, xml_paths):
    calibration_path, noise_path = xml_paths
    sigma_lut = _vectors(calibration_path, "calibrationVector", "sigmaNought")
    noise_range = _vectors(noise_path, "noiseRangeVector", "noiseRangeLut")
    with open_product(legacy_product, geometry="radar") as scene:
        assert scene.info.metadata["thermal_noise_vectors"].startswith("range-only")
        assert scene.info.metadata["border_noise_masked"] is True
        for line, pixel in POINTS:
            dn = _dn_at(kit, line, pixel)
            a = _by_hand(sigma_lut, line, pixel)
            expected = max((dn * dn - _by_hand(noise_range, line, pixel)) / (a * a), SIGMA0_FLOOR_LINEAR)
            value, _ = _read_point(scene, line, pixel)
            assert value == pytest.approx(expected, rel=1e-5), (line, pixel)


def test_border_noise_masked_for_legacy_products_only(full_product, legacy_product):
    # Columns 0-39 DN 0, 40-119 DN 5 (border noise), 120-599 DN 1500 (sea), lines 3000-3063.
    with open_product(legacy_product, geometry="radar") as legacy, open_product(full_product, geometry="radar") as new:
        _, legacy_valid = legacy.read_radar_sigma0(Window(0, 3000, 600, 64))
        _, inner_valid = legacy.read_radar_sigma0(Window(100, 3010, 100, 20))  # does not touch the edge itself
        _, new_valid = new.read_radar_sigma0(Window(0, 3000, 600, 64))
    assert not legacy_valid[:, :120].any() and legacy_valid[:, 120:].all()
    assert not inner_valid[:, :20].any() and inner_valid[:, 20:].all()
    # IPF >= 2.9 products already have DN 0 at the border; only DN 0 is masked there.
    assert not new_valid[:, :40].any() and new_valid[:, 40:].all()


def test_bilinear_interpolation_reproduces_a_plane_on_ragged_vectors():
    def plane(line, pixel):
        return 2.0 * line + 3.0 * pixel + 1.0

    lines = np.array([0, 10, 30])
    pixels = (np.array([0, 5, 20]), np.array([0, 10, 20]), np.array([0, 20]))
    values = tuple(plane(line, p).astype(float) for line, p in zip(lines, pixels))
    grid = interpolate_line_vectors(LineVectors(lines, pixels, values), np.arange(0, 31), np.arange(0, 21))
    rows, cols = np.mgrid[0:31, 0:21]
    np.testing.assert_allclose(grid, plane(rows, cols), rtol=1e-12)
    beyond = interpolate_line_vectors(LineVectors(lines, pixels, values), np.array([40]), np.array([25]))
    assert beyond[0, 0] == plane(30, 20)  # held at the last vector and last pixel


def test_a_lone_bright_speckle_does_not_end_the_border():
    from engine.io.sentinel1.calibrate import _border_run_length

    row = np.full(40, -100.0)
    row[5] = 1e4  # speckle inside the noisy border
    row[12:] = 1e4  # data
    row[15] = -1.0  # one dark data pixel does not matter
    assert _border_run_length(row[None, :], 0.5, 8).tolist() == [12]
    assert _border_run_length(np.full((1, 30), -5.0), 0.5, 8).tolist() == [30]  # all border within the limit


def test_a_product_without_data_reads_as_nodata_in_both_geometries(shared_safe):
    """The real product's stub measurement is all DN 0: every window is nodata (and read without the LUTs)."""
    for geometry in ("radar", "utm"):
        with open_product(shared_safe, geometry=geometry) as scene:
            middle = Window(scene.info.width // 2, scene.info.height // 2, 300, 300)
            values, valid = scene.read_sigma0(middle)
        assert values.shape == valid.shape == (300, 300)
        assert not valid.any() and not values.any() and values.dtype == np.float32
