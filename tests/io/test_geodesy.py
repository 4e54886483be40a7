"""Geodesic distance and bearing through GDAL's PROJ, checked against known WGS84 values."""

import numpy as np
import pytest

from engine.io.geodesy import distance_bearing


def test_a_degree_along_the_meridian_and_the_equator():
    km, bearing = distance_bearing(0.0, 0.0, np.array([0.0, 1.0, 0.0, -1.0]), np.array([1.0, 0.0, -1.0, 0.0]))
    # WGS84: 110.574 km per degree of latitude at the equator, 111.319 km per degree of longitude on it.
    np.testing.assert_allclose(km, [110.574, 111.319, 110.574, 111.319], atol=0.001)
    np.testing.assert_allclose(bearing, [0.0, 90.0, 180.0, 270.0], atol=1e-6)


def test_bearings_at_high_latitude_follow_the_geodesic_not_the_grid():
    (km,), (bearing,) = distance_bearing(15.0, 60.0, np.array([16.0]), np.array([60.0]))
    assert km == pytest.approx(55.8, abs=0.1)  # cos(60°) shortens a degree of longitude to about half
    assert 89.0 < bearing < 90.0  # the geodesic east from 60°N starts slightly north of east
