import numpy as np
import pytest

from engine.data.synth.cmod5n import CMOD5N_COEFFICIENTS, cmod5n_sigma0
from engine.preprocess import from_linear


@pytest.mark.parametrize(
    ("speed_ms", "phi_deg", "incidence_deg", "expected_db"),
    [
        (8.0, 0.0, 30.0, -10.1),  # upwind
        (8.0, 0.0, 45.0, -16.6),
        (8.0, 90.0, 35.0, -16.3),  # crosswind
        (5.0, 0.0, 35.0, -16.1),
        (3.0, 0.0, 35.0, -19.2),
    ],
)
def test_published_reference_values(speed_ms, phi_deg, incidence_deg, expected_db):
    sigma0_db = float(from_linear(cmod5n_sigma0(speed_ms, phi_deg, incidence_deg), "db"))
    assert sigma0_db == pytest.approx(expected_db, abs=0.2)


def test_coefficients_are_hersbach_2010_table():
    # Spot checks against Table 1 of Hersbach (2010); index i is c_i.
    assert len(CMOD5N_COEFFICIENTS) == 29
    assert CMOD5N_COEFFICIENTS[1] == -0.6878
    assert CMOD5N_COEFFICIENTS[9] == 6.7329
    assert CMOD5N_COEFFICIENTS[18] == 22.7
    assert CMOD5N_COEFFICIENTS[28] == 1.693


def test_physical_behaviour():
    speeds = np.array([2.0, 4.0, 8.0, 12.0, 16.0])
    # Rougher sea with more wind.
    assert np.all(np.diff(cmod5n_sigma0(speeds, 0.0, 35.0)) > 0)
    # Darker with incidence.
    incidence = np.array([20.0, 30.0, 40.0, 50.0])
    assert np.all(np.diff(cmod5n_sigma0(8.0, 0.0, incidence)) < 0)
    # Upwind > downwind > crosswind at moderate wind (Hersbach 2007, fig. 1).
    up, cross, down = cmod5n_sigma0(8.0, np.array([0.0, 90.0, 180.0]), 40.0)
    assert up > down > cross
    # Symmetric in phi.
    assert cmod5n_sigma0(8.0, 60.0, 35.0) == pytest.approx(cmod5n_sigma0(8.0, -60.0, 35.0))


def test_broadcasts_and_stays_finite_at_calm():
    speed = np.zeros((3, 4))
    sigma0 = cmod5n_sigma0(speed, np.zeros((1, 4)), np.full((3, 1), 35.0))
    assert sigma0.shape == (3, 4)
    assert np.all(np.isfinite(sigma0)) and np.all(sigma0 > 0)
    assert float(from_linear(sigma0[0, 0], "db")) < -30.0
