"""Sensor effects: thermal noise with sub-swath structure, Gamma speckle, nodata borders, DN quantisation.

Order, as in the instrument and the GRD processor: the noise-free backscatter plus the thermal
noise floor (NESZ) is multiplied by speckle; then the product is optionally quantised to UInt16
digital numbers through a sigmaNought LUT, and pixels outside the swath/product are nodata.

- **Speckle**: fully developed speckle of a multilooked intensity image is Gamma distributed with
  shape L (the number of looks) and mean 1 (Goodman, *Speckle Phenomena in Optics*, 2007, ch. 3;
  Oliver & Quegan, *Understanding SAR Images*, 2004, ch. 4). Sentinel-1 IW GRDH has ENL ≈ 4.4
  (ESA Sentinel-1 User Handbook / product definition). Real GRDH speckle is correlated over ~2 px
  because the 10 m pixels oversample a ~20 m resolution cell; we reproduce this by drawing a
  Gaussian field with that correlation and mapping it through the Gamma quantile function
  (a Gaussian copula), which keeps the Gamma marginal (and therefore the ENL) exact.
- **NESZ**: the shape across the swath is taken from a real product: the noise LUT divided by the
  squared sigmaNought LUT of S1B_IW_GRDH_1SDV_20211223T051122 (``tests/data/sentinel1``), averaged over its
  27 azimuth vectors. Each sub-swath has its own scalloped profile (low in the beam centre, high at
  the edges) and there are steps at the IW1/IW2 and IW2/IW3 boundaries. The simulator shifts the
  profile to a drawn swath mean, scales the scalloping and redraws the boundary steps.
- **DN quantisation**: GRD stores ``DN = sqrt(sigma0) * A`` rounded to UInt16, where ``A`` is the
  sigmaNought calibration LUT (≈660 at near range to ≈560 at far range in the same product);
  calibration is ``sigma0 = DN² / A²``, so dark pixels are coarsely quantised.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, special

from engine.data.synth.geometry import IW_FAR_DEG, IW_NEAR_DEG, SUBSWATH_BOUNDARIES_DEG
from engine.data.synth.noise import lookup

#: Reference NESZ (dB) per sub-swath as (incidence deg, NESZ dB) knots, from the real S1B product
#: named in the module docstring (15 knots per sub-swath, denser toward the sub-swath edges where
#: the profile is steep; linear interpolation is within 0.3 dB of the product everywhere).
REFERENCE_NESZ_KNOTS: tuple[tuple[tuple[float, float], ...], ...] = (
    (
        (30.309, -22.29),
        (30.388, -22.50),
        (30.619, -23.01),
        (30.991, -23.64),
        (31.481, -24.16),
        (32.064, -24.51),
        (32.705, -24.71),
        (33.373, -24.88),
        (34.033, -25.08),
        (34.652, -25.18),
        (35.200, -25.02),
        (35.655, -24.62),
        (35.993, -24.12),
        (36.202, -23.72),
        (36.273, -23.57),
    ),
    (
        (36.276, -23.56),
        (36.346, -23.71),
        (36.555, -24.31),
        (36.892, -25.12),
        (37.338, -25.90),
        (37.861, -26.52),
        (38.432, -27.01),
        (39.025, -27.35),
        (39.627, -27.39),
        (40.231, -27.09),
        (40.739, -26.57),
        (41.122, -25.94),
        (41.415, -25.33),
        (41.600, -24.87),
        (41.663, -24.71),
    ),
    (
        (41.665, -24.69),
        (41.725, -25.86),
        (41.901, -26.68),
        (42.176, -27.78),
        (42.537, -28.88),
        (42.959, -29.75),
        (43.423, -30.25),
        (43.912, -30.25),
        (44.395, -29.68),
        (44.850, -28.61),
        (45.252, -27.23),
        (45.598, -25.79),
        (45.862, -24.52),
        (46.027, -23.71),
        (46.083, -23.69),
    ),
)
#: sigmaNought LUT at near and far range of the same product (used for DN quantisation).
CALIBRATION_A_NEAR = 663.9
CALIBRATION_A_FAR = 559.3
#: Smallest valid DN (0 is nodata in GRD products).
MIN_VALID_DN = 1


def subswath_index(incidence_deg: np.ndarray) -> np.ndarray:
    """0, 1 or 2 for IW1, IW2, IW3."""
    return np.searchsorted(np.asarray(SUBSWATH_BOUNDARIES_DEG), incidence_deg, side="right")


def reference_nesz_db(incidence_deg: np.ndarray) -> np.ndarray:
    """Return the measured NESZ profile (dB) at ``incidence_deg``, each sub-swath interpolated on its own."""
    incidence = np.clip(np.asarray(incidence_deg, dtype=np.float64), IW_NEAR_DEG, IW_FAR_DEG)
    which = subswath_index(incidence)
    out = np.empty(incidence.shape, dtype=np.float64)
    for k, knots in enumerate(REFERENCE_NESZ_KNOTS):
        sel = which == k
        table = np.asarray(knots)
        out[sel] = np.interp(incidence[sel], table[:, 0], table[:, 1])
    return out


def _reference_mean_db() -> float:
    grid = np.linspace(IW_NEAR_DEG, IW_FAR_DEG, 2001)
    return float(reference_nesz_db(grid).mean())


@dataclass(frozen=True)
class NoiseProfile:
    """Drawn NESZ parameters: swath mean, scallop scale and the extra step at each boundary."""

    mean_db: float
    scallop_scale: float
    steps_db: tuple[float, float]

    def nesz_db(self, incidence_deg: np.ndarray) -> np.ndarray:
        """NESZ (dB) at ``incidence_deg``: the reference shape, rescaled, shifted, with steps."""
        reference = reference_nesz_db(incidence_deg)
        shaped = self.mean_db + self.scallop_scale * (reference - _REFERENCE_MEAN_DB)
        which = subswath_index(np.clip(incidence_deg, IW_NEAR_DEG, IW_FAR_DEG))
        # Each later sub-swath sits lower by the cumulative drawn steps (as in the reference product);
        # the offsets are centred so the swath mean stays near mean_db.
        offsets = np.array([0.0, -self.steps_db[0], -self.steps_db[0] - self.steps_db[1]])
        return shaped + offsets[which] - offsets.mean()

    def summary(self) -> dict[str, Any]:
        """Parameters for the JSON sidecar."""
        return {
            "mean_db": round(self.mean_db, 3),
            "scallop_scale": round(self.scallop_scale, 3),
            "subswath_steps_db": [round(s, 3) for s in self.steps_db],
        }


_REFERENCE_MEAN_DB = _reference_mean_db()


def draw_noise_profile(
    mean_db: tuple[float, float],
    scallop_scale: tuple[float, float],
    step_db: tuple[float, float],
    rng: np.random.Generator,
) -> NoiseProfile:
    """Draw the scene's NESZ parameters from the config ranges."""
    return NoiseProfile(
        float(rng.uniform(*mean_db)),
        float(rng.uniform(*scallop_scale)),
        (float(rng.uniform(*step_db)), float(rng.uniform(*step_db))),
    )


#: Gaussian-to-Gamma lookup resolution (quantile function sampled on this many points in ±6 sigma).
_COPULA_POINTS = 65537
_COPULA_LIMIT = 6.0


def speckle(shape: tuple[int, int], enl: float, correlation_px: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-mean Gamma(enl) speckle, spatially correlated over ``correlation_px`` (float32).

    Notes:
        The Gamma marginal is exact up to the lookup-table interpolation (< 0.1 % in the variance),
        so ``mean² / var`` of the speckle is ``enl`` whatever the correlation.
    """
    gauss = rng.standard_normal(shape, dtype=np.float32)
    if correlation_px > 0:
        gauss = ndimage.gaussian_filter(gauss, correlation_px, mode="reflect", truncate=3.0)
        gauss /= np.float32(_smoothed_white_std(correlation_px))
    step = 2.0 * _COPULA_LIMIT / (_COPULA_POINTS - 1)
    return lookup(gauss, -_COPULA_LIMIT, step, _gamma_quantile_table(float(enl)))


@functools.lru_cache(maxsize=8)
def _gamma_quantile_table(enl: float) -> np.ndarray:
    """Unit-mean Gamma(enl) quantiles at standard-normal values on the copula grid (cached: ~0.1 s)."""
    grid = np.linspace(-_COPULA_LIMIT, _COPULA_LIMIT, _COPULA_POINTS)
    quantiles = special.gammaincinv(enl, special.ndtr(grid)) / enl
    table = (quantiles / _gamma_lut_mean(grid, quantiles)).astype(np.float32)
    table.setflags(write=False)
    return table


def _smoothed_white_std(sigma_px: float) -> float:
    """Std of unit white noise after ``gaussian_filter(sigma)`` (the same truncated kernel)."""
    radius = int(3.0 * sigma_px + 0.5)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (x / sigma_px) ** 2)
    kernel /= kernel.sum()
    # A separable 2-D kernel k(x)k(y) scales the variance by (sum k²)², so the std by sum k².
    return float(np.sum(kernel**2))


def _gamma_lut_mean(grid: np.ndarray, quantiles: np.ndarray) -> float:
    """Mean of the tabulated distribution under the standard normal (renormalises LUT truncation)."""
    density = np.exp(-0.5 * grid**2)
    return float(np.sum(quantiles * density) / np.sum(density))


def quantise_dn(sigma0: np.ndarray, incidence_deg: np.ndarray) -> np.ndarray:
    """Round σ0 to UInt16 DN through an incidence-dependent sigmaNought LUT and calibrate back."""
    fraction = (np.clip(incidence_deg, IW_NEAR_DEG, IW_FAR_DEG) - IW_NEAR_DEG) / (IW_FAR_DEG - IW_NEAR_DEG)
    lut = (CALIBRATION_A_NEAR + (CALIBRATION_A_FAR - CALIBRATION_A_NEAR) * fraction).astype(np.float32)[None, :]
    dn = np.clip(np.rint(np.sqrt(sigma0) * lut), MIN_VALID_DN, 65535)
    return (dn * dn / (lut * lut)).astype(np.float32)


def nodata_wedge(shape: tuple[int, int], heading_deg: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Draw a product-border wedge: the area beyond a line tilted like the track, on one scene side.

    Returns the boolean valid mask and the wedge parameters.
    """
    h, w = shape
    side = ["left", "right", "top", "bottom"][int(rng.integers(4))]
    tilt = np.deg2rad(abs(heading_deg % 180.0 - (0.0 if heading_deg % 180.0 < 90 else 180.0)) + rng.uniform(-3, 3))
    depth = float(rng.uniform(0.05, 0.3))
    yy = np.arange(h, dtype=np.float32)[:, None] / max(h - 1, 1)
    xx = np.arange(w, dtype=np.float32)[None, :] / max(w - 1, 1)
    slope = np.float32(np.tan(tilt)) * (1.0 if rng.random() < 0.5 else -1.0)
    if side == "left":
        valid = xx >= depth + slope * (yy - 0.5) * h / w
    elif side == "right":
        valid = xx <= 1.0 - depth + slope * (yy - 0.5) * h / w
    elif side == "top":
        valid = yy >= depth + slope * (xx - 0.5) * w / h
    else:
        valid = yy <= 1.0 - depth + slope * (xx - 0.5) * w / h
    return np.broadcast_to(valid, shape).copy(), {
        "side": side,
        "depth": round(depth, 3),
        "tilt_deg": round(float(np.rad2deg(tilt)), 2),
    }
