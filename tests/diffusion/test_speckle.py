"""Speckle by physics (issue 17): the analytic speckle, the ENL estimate and the multilook filter."""

import numpy as np
import pytest

from engine.diffusion.speckle import add_speckle_db, despeckle_db, estimate_enl


@pytest.mark.parametrize("enl", [1.0, 4.4, 10.0])
def test_drawn_speckle_on_a_constant_field_has_unit_mean_and_the_asked_enl(enl: float) -> None:
    field = np.full((4, 128, 128), -20.0, np.float32)
    speckled = add_speckle_db(field, enl, 0.0, np.random.default_rng(0))
    intensity = np.power(10.0, speckled / 10.0) / np.power(10.0, -2.0)
    assert intensity.mean() == pytest.approx(1.0, rel=0.02)  # multiplicative, unit mean: the level is kept
    assert intensity.mean() ** 2 / intensity.var() == pytest.approx(enl, rel=0.05)
    assert estimate_enl(speckled, np.ones(speckled.shape, bool)) == pytest.approx(enl, rel=0.2)


def test_drawn_speckle_is_independent_per_image_and_reproducible() -> None:
    field = np.full((2, 32, 32), -15.0, np.float32)
    first = add_speckle_db(field, 4.4, 0.6, np.random.default_rng(3))
    assert not np.allclose(first[0], first[1])
    np.testing.assert_array_equal(first, add_speckle_db(field, 4.4, 0.6, np.random.default_rng(3)))


def test_the_enl_estimate_sees_no_speckle_on_a_smooth_image_and_nothing_outside_the_mask() -> None:
    rng = np.random.default_rng(1)
    smooth = (-20.0 + rng.normal(0, 0.01, (1, 64, 64))).astype(np.float32)
    assert estimate_enl(smooth, np.ones(smooth.shape, bool)) > 1000
    assert estimate_enl(smooth, np.zeros(smooth.shape, bool)) is None


def test_multilook_filter_raises_the_enl_and_keeps_nodata_out() -> None:
    rng = np.random.default_rng(2)
    image = add_speckle_db(np.full((1, 96, 96), -20.0, np.float32), 4.4, 0.0, rng)[0]
    valid = np.ones(image.shape, bool)
    valid[:, :10] = False
    image[~valid] = -35.0  # the clip floor the tiles hold at nodata
    filtered = despeckle_db(image, valid, 5)
    assert np.array_equal(filtered[~valid], image[~valid])
    assert filtered[:, 10:14].mean() == pytest.approx(-20.0, abs=1.0)  # no dark halo from the nodata floor
    before = estimate_enl(image[None], valid[None])
    assert estimate_enl(filtered[None], valid[None]) > 5 * before
