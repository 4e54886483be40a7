import numpy as np
import pytest
from scipy import ndimage

from engine.data.synth.lookalikes import MIN_LABEL_DB, draw_biogenic, draw_internal_waves, draw_rain_cell, label_dark

SHAPE = (500, 500)
CENTRE = (250.0, 250.0)


def test_label_dark_threshold():
    darkening = np.array([0.2, 0.6, 1.4, 1.6, -3.0], np.float32)
    assert label_dark(darkening, 3.0).tolist() == [False, False, False, True, False]
    assert label_dark(darkening, 0.4).tolist() == [False, False, True, True, False]  # at least MIN_LABEL_DB
    assert MIN_LABEL_DB == 1.0


def test_biogenic_film_is_weak_and_filamentary():
    film = draw_biogenic(CENTRE, 2.0, 2.0, 10.0, SHAPE, np.random.default_rng(0))
    assert film is not None
    assert float(film.darkening_db.max()) <= 2.0 + 1e-5 and float(film.darkening_db.min()) >= 0.0
    labelled = film.label
    assert labelled.any()
    # Filaments: 50-250 m wide at most, so eroding by 13 px (130 m each side) removes nearly everything.
    eroded = ndimage.binary_erosion(labelled, iterations=13)
    assert eroded.sum() < 0.05 * labelled.sum()


def test_rain_cell_has_dark_core_and_bright_downwind_rim():
    cell = draw_rain_cell(CENTRE, 1.5, 4.0, 2.0, 90.0, 10.0, SHAPE, np.random.default_rng(1))
    darkening = cell.darkening_db
    centre = (int(CENTRE[0]) - cell.patch.rows.start, int(CENTRE[1]) - cell.patch.cols.start)
    assert darkening[centre] == pytest.approx(4.0, abs=0.5)
    row = darkening[centre[0]]
    downwind_rim = row[centre[1] + 120 : centre[1] + 180].min()  # wind blows to the right (90 deg)
    upwind_rim = row[centre[1] - 180 : centre[1] - 120].min()
    assert downwind_rim < -1.0 and downwind_rim < upwind_rim
    assert cell.label[centre] and not np.any(cell.label & (darkening < 0))


def test_internal_wave_packet_has_bright_and_dark_bands():
    packet = draw_internal_waves(CENTRE, 2.0, 10.0, SHAPE, np.random.default_rng(2))
    darkening = packet.darkening_db
    assert darkening.max() == pytest.approx(2.0, abs=0.1)
    assert darkening.min() == pytest.approx(-2.0, abs=0.1)
    _, bands = ndimage.label(packet.label)
    assert bands >= 2
    assert packet.info["waves"] >= 3
