import numpy as np
import pytest
from scipy import ndimage

from engine.data.synth.noise import (
    Patch,
    band_field,
    block_mean,
    fractal_field,
    lookup,
    patch_around,
    rotated_frame,
    upsample,
)


@pytest.mark.parametrize(
    ("coarse_shape", "factor", "shape"),
    [((5, 7), 4, (20, 28)), ((5, 7), 4, (17, 26)), ((6, 3), 3, (18, 9)), ((4, 4), 1, (4, 4))],
)
def test_upsample_is_scipy_bilinear_grid_mode(coarse_shape, factor, shape):
    coarse = np.random.default_rng(0).standard_normal(coarse_shape).astype(np.float32)
    expected = ndimage.zoom(coarse, factor, order=1, grid_mode=True, mode="nearest", prefilter=False)
    result = upsample(coarse, factor, shape)
    assert result.shape == shape and result.dtype == np.float32
    np.testing.assert_allclose(result, expected[: shape[0], : shape[1]], atol=1e-6)


def test_block_mean_by_hand():
    mask = np.zeros((5, 6), bool)
    mask[:2, :2] = True
    mask[4, 5] = True
    means = block_mean(mask, 2)
    assert means.shape == (3, 3)
    assert means[0, 0] == 1.0 and means[2, 2] == 0.25 and means[1, 1] == 0.0


def test_fields_are_standardised_and_deterministic():
    field = fractal_field((64, 80), np.random.default_rng(3), beta=3.0)
    assert field.shape == (64, 80) and field.dtype == np.float32
    assert abs(float(field.mean())) < 1e-5 and float(field.std()) == pytest.approx(1.0, abs=1e-4)
    again = fractal_field((64, 80), np.random.default_rng(3), beta=3.0)
    assert np.array_equal(field, again)


def test_band_field_wavelength_and_elongation():
    # Streaks along azimuth 0 (up): long correlation along rows' direction (vertical), short across.
    field = band_field((256, 256), np.random.default_rng(1), wavelength_px=16.0, elongation=6.0, angle_deg=0.0)
    vertical = np.mean(field[:-8, :] * field[8:, :])
    horizontal = np.mean(field[:, :-8] * field[:, 8:])
    assert vertical > 0.5 and horizontal < 0.0  # half a wavelength across: anti-correlated


def test_lookup_nearest_entry_and_clipping():
    table = np.array([0.0, 10.0, 20.0, 30.0], np.float32)
    values = np.array([-5.0, 0.0, 0.49, 0.51, 1.0, 99.0], np.float32)
    assert lookup(values, 0.0, 1.0, table).tolist() == [0.0, 0.0, 0.0, 10.0, 10.0, 30.0]


def test_patch_around_clips_and_rejects_outside():
    patch = patch_around((2.0, 50.0), 5.0, 5.0, (20, 52))
    assert patch == Patch(slice(0, 8), slice(45, 52))
    assert patch_around((-30.0, 5.0), 5.0, 5.0, (20, 20)) is None


def test_rotated_frame_orientation():
    patch = Patch(slice(0, 11), slice(0, 11))
    u, v = rotated_frame(patch, (5.0, 5.0), 90.0)  # azimuth 90 = to the right (east)
    assert u[5, 10] == pytest.approx(5.0) and v[5, 10] == pytest.approx(0.0, abs=1e-5)
    assert v[10, 5] == pytest.approx(5.0)  # right of "east" is "south" (down)
    u, v = rotated_frame(patch, (5.0, 5.0), 0.0)
    assert u[0, 5] == pytest.approx(5.0) and v[5, 10] == pytest.approx(5.0)
