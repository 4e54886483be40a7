import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from engine.data.synth.geometry import SUBSWATH_BOUNDARIES_DEG
from engine.data.synth.sensor import (
    CALIBRATION_A_FAR,
    CALIBRATION_A_NEAR,
    NoiseProfile,
    nodata_wedge,
    quantise_dn,
    reference_nesz_db,
    speckle,
)
from engine.preprocess import from_linear

# The real product metadata kept in the repository (tests/data/sentinel1, see its NOTICE.md).
SENTINEL1_DATA = Path(__file__).resolve().parents[2] / "data" / "sentinel1"


def enl(values: np.ndarray) -> float:
    """Equivalent number of looks: mean² / variance of intensity over a homogeneous area."""
    return float(values.mean() ** 2 / values.var())


@pytest.mark.parametrize("correlation_px", [0.0, 0.6])
def test_speckle_is_unit_mean_gamma_with_the_enl(correlation_px):
    sample = speckle((512, 512), 4.4, correlation_px, np.random.default_rng(0))
    assert sample.dtype == np.float32 and np.all(sample > 0)
    assert float(sample.mean()) == pytest.approx(1.0, abs=0.01)
    assert enl(sample) == pytest.approx(4.4, abs=0.15)
    # Median of Gamma(4.4)/4.4 is below the mean (skewed, as real speckle).
    assert float(np.median(sample)) == pytest.approx(0.926, abs=0.01)


def test_speckle_correlation_is_about_one_pixel():
    white = speckle((256, 256), 4.4, 0.0, np.random.default_rng(1))
    correlated = speckle((256, 256), 4.4, 0.6, np.random.default_rng(1))

    def lag1(values: np.ndarray) -> float:
        centred = values - values.mean()
        return float(np.mean(centred[:, 1:] * centred[:, :-1]) / centred.var())

    assert abs(lag1(white)) < 0.02
    assert 0.2 < lag1(correlated) < 0.6


def _real_nesz() -> tuple[np.ndarray, np.ndarray]:
    """(incidence, NESZ dB) across the swath of the real S1B product, averaged over azimuth."""
    calibration = sorted(SENTINEL1_DATA.glob("*.SAFE/annotation/calibration/calibration-*-vv-*.xml"))
    noise = sorted(SENTINEL1_DATA.glob("*.SAFE/annotation/calibration/noise-*-vv-*.xml"))
    annotation = sorted(SENTINEL1_DATA.glob("*.SAFE/annotation/s1*-iw-grd-vv-*.xml"))
    assert calibration and noise and annotation, f"test data missing in {SENTINEL1_DATA}"
    vector = ET.parse(calibration[0]).getroot().find(".//calibrationVector")
    cal_pixels = np.array(vector.findtext("pixel").split(), float)
    sigma_lut = np.array(vector.findtext("sigmaNought").split(), float)
    points = ET.parse(annotation[0]).getroot().findall(".//geolocationGridPoint")
    line0 = [p for p in points if p.findtext("line") == points[0].findtext("line")]
    grid_pixels = np.array([float(p.findtext("pixel")) for p in line0])
    grid_incidence = np.array([float(p.findtext("incidenceAngle")) for p in line0])
    pixels = np.arange(100, 26000, 200, dtype=float)
    profiles = []
    for noise_vector in ET.parse(noise[0]).getroot().findall(".//noiseRangeVector"):
        noise_pixels = np.array(noise_vector.findtext("pixel").split(), float)
        lut = np.array(noise_vector.findtext("noiseRangeLut").split(), float)
        keep = lut > 0
        nesz = lut[keep] / np.interp(noise_pixels[keep], cal_pixels, sigma_lut) ** 2
        profiles.append(10 * np.log10(np.interp(pixels, noise_pixels[keep], nesz)))
    return np.interp(pixels, grid_pixels, grid_incidence), np.mean(profiles, axis=0)


def test_reference_nesz_matches_the_real_product():
    incidence, real_db = _real_nesz()
    away_from_edges = np.all(np.abs(incidence[:, None] - np.array(SUBSWATH_BOUNDARIES_DEG)) > 0.1, axis=1)
    error = reference_nesz_db(incidence) - real_db
    assert np.max(np.abs(error[away_from_edges])) < 0.3
    assert -31.0 < real_db.min() and real_db.max() < -22.0


def test_drawn_noise_has_the_mean_scale_and_steps():
    boundary = SUBSWATH_BOUNDARIES_DEG[1]
    profile = NoiseProfile(mean_db=-23.0, scallop_scale=0.5, steps_db=(0.0, 1.2))
    grid = np.linspace(30.4, 46.0, 4001)
    nesz = profile.nesz_db(grid)
    assert float(nesz.mean()) == pytest.approx(-23.0, abs=0.5)
    assert -26.0 < nesz.min() and nesz.max() < -20.0
    # The step: the far side of the IW2/IW3 boundary sits lower by the step on top of the reference.
    before, after = profile.nesz_db(np.array([boundary - 0.001, boundary + 0.001]))
    ref_before, ref_after = reference_nesz_db(np.array([boundary - 0.001, boundary + 0.001]))
    assert (before - after) - 0.5 * (ref_before - ref_after) == pytest.approx(1.2, abs=0.05)


def test_dn_quantisation_is_coarse_only_for_dark_pixels():
    incidence = np.linspace(30.3, 46.1, 64)
    sigma0 = np.full((4, 64), 10 ** (-15 / 10), np.float32)
    quantised = quantise_dn(sigma0, incidence)
    assert np.max(np.abs(from_linear(quantised, "db") - (-15.0))) < 0.1
    dark = quantise_dn(np.full((1, 64), 10 ** (-60 / 10), np.float32), incidence)
    assert np.all(dark > 0)  # DN >= 1 (0 is nodata in GRD)
    assert dark[0, 0] == pytest.approx(1.0 / CALIBRATION_A_NEAR**2)
    assert dark[0, -1] == pytest.approx(1.0 / CALIBRATION_A_FAR**2)


def test_nodata_wedge_is_a_tilted_border():
    valid, info = nodata_wedge((200, 300), -12.0, np.random.default_rng(4))
    assert valid.shape == (200, 300) and 0.6 < valid.mean() < 0.97
    assert 8.0 < info["tilt_deg"] < 16.0
    side = info["side"]
    edge = {"left": valid[:, 0], "right": valid[:, -1], "top": valid[0], "bottom": valid[-1]}[side]
    assert not edge.any()
