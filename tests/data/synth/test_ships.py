import numpy as np
import pytest

from engine.data.synth.geometry import draw_geometry, slant_range_km
from engine.data.synth.ships import (
    IRF_NULL_PX,
    ShipSpec,
    azimuth_shift_px,
    draw_wake,
    impulse_response,
    render_ship,
)
from engine.preprocess import from_linear

SEA = 0.03  # -15 dB


def _geometry(orbit_direction: str = "ascending"):
    return draw_geometry(400, 10.0, (35.0, 35.0), orbit_direction, np.random.default_rng(0))


def test_impulse_response_sidelobes():
    response = impulse_response(-20.0)
    centre = len(response) // 2
    assert response[centre] == 1.0
    first_sidelobe = response[centre + int(IRF_NULL_PX) + 1 : centre + 2 * int(IRF_NULL_PX) + 1].max()
    assert float(from_linear(first_sidelobe, "db")) == pytest.approx(-20.0, abs=0.6)


def test_ship_peak_brightness_cross_and_label():
    sea = np.full((300, 300), SEA, np.float32)
    spec = ShipSpec((150.0, 150.0), 30.0, 150.0, 0.0, 25.0, wake=False)
    ship = render_ship(spec, sea, _geometry(), 10.0, -17.0, np.random.default_rng(0))
    power = ship.power
    assert float(from_linear(power.max() / SEA, "db")) == pytest.approx(25.0, abs=0.01)
    peak_row, peak_col = np.unravel_index(np.argmax(power), power.shape)
    # Sidelobe cross: 12 px along the image axes is much brighter than 12 px along the diagonal.
    along_axes = max(power[peak_row, peak_col + 12], power[peak_row + 12, peak_col])
    diagonal = power[peak_row + 9, peak_col + 9]
    assert along_axes > 10 * diagonal
    label = ship.label
    assert label[peak_row, peak_col]
    assert 5 < label.sum() < 200  # a 150 m ship is a blob of a few tens of pixels, not the cross


def test_moving_ship_is_displaced_along_the_track():
    geometry = _geometry()
    # Heading along the look direction (away from the radar) at 5 m/s.
    spec = ShipSpec((150.0, 150.0), geometry.look_azimuth_deg, 100.0, 5.0, 20.0, wake=True)
    dy, dx = azimuth_shift_px(spec, geometry, 150, 10.0)
    expected_m = slant_range_km(35.0) * 1000.0 * 5.0 * np.sin(np.deg2rad(35.0)) / 7600.0
    assert np.hypot(dy, dx) * 10.0 == pytest.approx(expected_m, rel=0.01)
    # Receding from the radar: shifted against the flight direction (ascending flies north = up).
    assert dy > 0
    assert azimuth_shift_px(ShipSpec((1.0, 1.0), 0.0, 50.0, 0.0, 20.0, False), geometry, 1, 10.0) == (0.0, 0.0)


def test_wake_is_dark_behind_the_ship():
    spec = ShipSpec((200.0, 200.0), 0.0, 100.0, 6.0, 20.0, wake=True)  # heading north: wake below
    wake = draw_wake(spec, 2.0, 10.0, (400, 400), np.random.default_rng(0), labelled=True)
    darkening = wake.darkening_db
    behind = darkening[200 - wake.patch.rows.start + 20, 200 - wake.patch.cols.start]
    ahead_rows = 200 - wake.patch.rows.start - 20
    assert behind > 1.0
    if ahead_rows >= 0:
        assert darkening[ahead_rows, 200 - wake.patch.cols.start] == 0.0
    assert darkening.min() < 0  # bright Kelvin arms
    assert wake.label.any()
