import numpy as np
import pytest

from engine.data.osd import DEFAULT_DB_RANGE
from engine.detectors.base import InputSpec
from engine.errors import InputError
from engine.preprocess import PICTURE_DB_RANGE, POWER_FLOOR, from_linear, normalise_sigma0, to_linear


def test_unit_conversions_by_hand():
    np.testing.assert_allclose(to_linear(np.array([-10.0, 0.0, 10.0]), "db"), [0.1, 1.0, 10.0], rtol=1e-6)
    np.testing.assert_allclose(to_linear(np.array([3.0]), "amplitude"), [9.0])
    np.testing.assert_allclose(to_linear(np.array([0.2]), "intensity"), [0.2])
    np.testing.assert_allclose(from_linear(np.array([0.01, 100.0]), "db"), [-20.0, 20.0], rtol=1e-6)
    np.testing.assert_allclose(from_linear(np.array([16.0]), "amplitude"), [4.0])
    np.testing.assert_allclose(from_linear(to_linear(np.array([20.0]), "db"), "amplitude"), [10.0], rtol=1e-6)


@pytest.mark.parametrize("units", ["linear", "db", "amplitude", "intensity"])
def test_round_trip_through_linear(units):
    values = np.array([0.5, 2.0, 7.0], dtype=np.float32)
    np.testing.assert_allclose(from_linear(to_linear(values, units), units), values, rtol=1e-5)


def test_an_8bit_picture_spans_the_loaders_db_range_and_round_trips():
    pixels = np.array([0, 51, 255], dtype=np.uint8)
    np.testing.assert_allclose(from_linear(to_linear(pixels, "db-8bit"), "db"), [-35.0, -27.0, 5.0], atol=1e-4)
    np.testing.assert_array_equal(from_linear(to_linear(pixels, "db-8bit"), "db-8bit"), pixels)
    assert PICTURE_DB_RANGE == DEFAULT_DB_RANGE  # detection reads a picture as the data-set loaders do


def test_db_of_zero_is_floored_not_infinite():
    assert from_linear(np.array([0.0]), "db")[0] == pytest.approx(10 * np.log10(POWER_FLOOR))


def test_unknown_units_are_refused():
    with pytest.raises(InputError, match="unknown units 'kelvin'"):
        to_linear(np.ones(2), "kelvin")


def test_normalise_linear_passes_values_and_zeroes_invalid():
    values = np.array([[0.1, 0.2], [0.3, 0.4]], np.float32)
    valid = np.array([[True, False], [True, True]])
    out = normalise_sigma0(values, valid, InputSpec(units="linear"))
    np.testing.assert_allclose(out, [[0.1, 0.0], [0.3, 0.4]], rtol=1e-7)
    assert values[0, 1] == np.float32(0.2)  # the input is not modified


def test_normalise_sigma0_to_db_clips_and_standardises():
    values = np.array([1e-5, 0.01, 1.0, 1000.0], np.float32)  # -50, -20, 0, 30 dB
    spec = InputSpec(units="db", db_range=(-35.0, 5.0), mean=-15.0, std=5.0)
    out = normalise_sigma0(values, np.ones(4, bool), spec)
    np.testing.assert_allclose(out, [(-35 + 15) / 5, (-20 + 15) / 5, 15 / 5, (5 + 15) / 5], rtol=1e-5)


def test_normalise_rejects_bad_specs():
    with pytest.raises(InputError, match="std must be positive"):
        normalise_sigma0(np.ones(2), np.ones(2, bool), InputSpec(units="db", std=0.0))
    with pytest.raises(InputError, match="'amplitude' are not supported"):
        normalise_sigma0(np.ones(2), np.ones(2, bool), InputSpec(units="amplitude"))
