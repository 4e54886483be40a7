import numpy as np
import pytest

from engine.data.synth.shapes import LABEL_COVERAGE, draw_discharge, draw_leak, draw_weathered, soft_edge

SHAPE = (1200, 2400)
CENTRE = (600.0, 1200.0)
HEAD = (600.0, 100.0)


def _draw(kind: str, area_km2: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    if kind == "discharge":
        return draw_discharge(HEAD, 270.0, 0.0, area_km2, 7.0, 10.0, SHAPE, rng)
    if kind == "leak":
        return draw_leak(CENTRE, 45.0, area_km2, 7.0, 10.0, SHAPE, rng)
    return draw_weathered(CENTRE, 90.0, 270.0, area_km2, 7.0, 10.0, SHAPE, rng)


def test_soft_edge_is_half_on_the_edge():
    np.testing.assert_allclose(soft_edge(np.array([-5.0, 0.0, 0.25, 5.0], np.float32)), [0.0, 0.5, 0.75, 1.0])


@pytest.mark.parametrize("kind", ["discharge", "leak", "weathered"])
@pytest.mark.parametrize("area_km2", [0.05, 0.5, 2.0])
def test_area_close_to_target_and_damping_normalised(kind, area_km2):
    slick = _draw(kind, area_km2)
    assert slick is not None and slick.kind == kind
    labelled = slick.coverage >= LABEL_COVERAGE
    area = labelled.sum() * 100.0 / 1e6
    assert area_km2 / 2.0 < area < area_km2 * 2.0
    assert slick.coverage.min() >= 0.0 and slick.coverage.max() <= 1.0
    # The mean damping over the labelled pixels is the drawn damping.
    assert float(slick.damping_field_db[labelled].mean()) == pytest.approx(7.0, abs=1e-3)
    # Every labelled pixel is damped by at least a fifth of it.
    assert float(slick.damping_field_db[labelled].min()) > 7.0 / 5.0


def test_discharge_is_long_narrow_and_widens_toward_the_tail():
    slick = _draw("discharge", 0.5)
    labelled = slick.coverage >= LABEL_COVERAGE
    rows, cols = np.nonzero(labelled)
    length = cols.max() - cols.min()
    assert length > 5 * (rows.max() - rows.min()) / 2  # heading west: the tail runs east of the head
    assert cols.min() + slick.patch.cols.start >= HEAD[1] - 2
    widths = labelled.sum(axis=0)
    columns = np.nonzero(widths)[0]
    head, tail = widths[columns[: len(columns) // 4]], widths[columns[len(columns) // 2 : 3 * len(columns) // 4]]
    assert tail.mean() > head.mean()
    # Fresh oil at the head is thicker (damps more) than the old tail.
    damping = slick.damping_field_db
    head_cols = columns[: len(columns) // 5]
    tail_cols = columns[-len(columns) // 3 : -len(columns) // 5]
    assert damping[:, head_cols][labelled[:, head_cols]].mean() > damping[:, tail_cols][labelled[:, tail_cols]].mean()


def test_leak_drifts_downstream_from_its_source():
    slick = _draw("leak", 1.0)
    rows, cols = np.nonzero(slick.coverage >= LABEL_COVERAGE)
    rows = rows + slick.patch.rows.start
    cols = cols + slick.patch.cols.start
    # Drift azimuth 45 deg: up and to the right of the source.
    assert rows.mean() < CENTRE[0] and cols.mean() > CENTRE[1]


def test_weathered_slick_is_fragmented():
    slick = _draw("weathered", 1.0)
    from scipy import ndimage

    _, pieces = ndimage.label(slick.coverage >= LABEL_COVERAGE)
    assert pieces >= 4


def test_slick_outside_the_scene_is_none():
    rng = np.random.default_rng(0)
    assert draw_leak((-5000.0, -5000.0), 0.0, 0.1, 5.0, 10.0, SHAPE, rng) is None


def test_a_leak_of_a_hundred_square_kilometres():
    slick = draw_leak((1500.0, 1500.0), 100.0, 100.0, 6.0, 10.0, (3000, 3000), np.random.default_rng(5))
    area_km2 = float((slick.coverage >= LABEL_COVERAGE).sum()) * 100.0 / 1e6
    assert 50.0 < area_km2 < 200.0
