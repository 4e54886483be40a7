import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from engine.data.synth.geometry import (
    IW_FAR_DEG,
    IW_NEAR_DEG,
    draw_geometry,
    ground_range_km,
    incidence_from_ground_range,
    slant_range_km,
)

# The real product metadata kept in the repository (tests/data/sentinel1, see its NOTICE.md).
SENTINEL1_DATA = Path(__file__).resolve().parents[2] / "data" / "sentinel1"


def _real_geolocation() -> tuple[np.ndarray, np.ndarray]:
    """(pixel, incidence) of the first geolocation-grid line of the real S1B GRDH annotation."""
    annotations = sorted(SENTINEL1_DATA.glob("*.SAFE/annotation/s1*-iw-grd-vv-*.xml"))
    assert annotations, f"test data missing in {SENTINEL1_DATA}"
    points = ET.parse(annotations[0]).getroot().findall(".//geolocationGridPoint")
    line0 = [p for p in points if p.findtext("line") == points[0].findtext("line")]
    pixels = np.array([float(p.findtext("pixel")) for p in line0])
    incidence = np.array([float(p.findtext("incidenceAngle")) for p in line0])
    return pixels, incidence


def test_incidence_across_range_matches_real_product():
    pixels, incidence = _real_geolocation()
    # Ground range (10 m pixels) from the first pixel, predicted from the real incidence angles.
    predicted_km = ground_range_km(incidence) - ground_range_km(incidence[0])
    actual_km = pixels * 10.0 / 1000.0
    assert np.max(np.abs(predicted_km - actual_km)) < 0.01 * actual_km[-1]  # within 1 % of the swath
    assert incidence[0] == pytest.approx(IW_NEAR_DEG, abs=0.1)
    assert incidence[-1] == pytest.approx(IW_FAR_DEG, abs=0.1)


def test_inverse_and_slant_range():
    angles = np.array([30.0, 38.0, 46.0])
    np.testing.assert_allclose(incidence_from_ground_range(ground_range_km(angles)), angles, atol=0.01)
    slant = slant_range_km(angles)
    assert np.all(np.diff(slant) > 0) and 750 < slant[0] < 1000  # S1 IW: roughly 800-950 km


def test_physical_placement_spans_small_incidence_range():
    geometry = draw_geometry(2048, 10.0, None, "ascending", np.random.default_rng(0))
    assert geometry.near_range_left and geometry.look_azimuth_deg == pytest.approx(78.0)
    assert np.all(np.diff(geometry.incidence_deg) > 0)
    span = geometry.incidence_deg[-1] - geometry.incidence_deg[0]
    assert 0.9 < span < 1.6  # 20 km of a 260 km, 16 deg swath
    assert IW_NEAR_DEG <= geometry.incidence_deg.min() and geometry.incidence_deg.max() <= IW_FAR_DEG


def test_descending_looks_west_with_near_range_on_the_right():
    geometry = draw_geometry(100, 10.0, (30.0, 46.0), "descending", np.random.default_rng(0))
    assert geometry.look_azimuth_deg == pytest.approx(282.0)
    assert geometry.incidence_deg[0] == pytest.approx(46.0) and geometry.incidence_deg[-1] == pytest.approx(30.0)
