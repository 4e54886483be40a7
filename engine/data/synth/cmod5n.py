"""CMOD5.N: the C-band VV geophysical model function for equivalent-neutral 10 m winds.

Source: H. Hersbach, "Comparison of C-Band Scatterometer CMOD5.N Equivalent Neutral Winds with
ECMWF", J. Atmos. Oceanic Technol. 27 (2010) 721-736, which re-fits the 28 coefficients of CMOD5
(Hersbach, Stoffelen & de Haan, JGR 112, C03006, 2007) to neutral winds. The functional form below
is CMOD5's, equations (2)-(8) of the 2007 paper; the coefficient table is Table 1 of the 2010 paper.

Notation (paper -> code)::

    v      wind speed (m/s)                         wind_speed_ms
    phi    wind direction relative to the look      relative_direction_deg
           direction; 0 = upwind (wind blowing
           toward the radar), 90 = crosswind
    theta  incidence angle (deg)                    incidence_deg
    x      (theta - 40) / 25                        x
    B0, B1, B2  isotropic, upwind/downwind and upwind/crosswind terms
    sigma0 = B0 * (1 + B1 cos(phi) + B2 cos(2 phi)) ** 1.6
"""

from __future__ import annotations

import numpy as np

#: CMOD5.N coefficients c1..c28 (Hersbach 2010, Table 1); index 0 is unused so that
#: ``CMOD5N_COEFFICIENTS[i]`` is the paper's c_i.
CMOD5N_COEFFICIENTS = np.array(
    [
        0.0,
        -0.6878,
        -0.7957,
        0.3380,
        -0.1728,
        0.0000,
        0.0040,
        0.1103,
        0.0159,
        6.7329,
        2.7713,
        -2.2885,
        0.4971,
        -0.7250,
        0.0450,
        0.0066,
        0.3222,
        0.0120,
        22.7000,
        2.0813,
        3.0000,
        8.3659,
        -3.3428,
        1.3236,
        6.2437,
        2.3893,
        0.3249,
        4.1590,
        1.6930,
    ]
)

#: Incidence angle (deg) at which x = 0, and the scale of x.
_THETA_CENTRE_DEG = 40.0
_THETA_SCALE_DEG = 25.0
#: Exponent of the harmonic expansion.
_ZPOW = 1.6


def cmod5n_sigma0(
    wind_speed_ms: np.ndarray | float,
    relative_direction_deg: np.ndarray | float,
    incidence_deg: np.ndarray | float,
) -> np.ndarray:
    """Normalised radar cross section σ0 (linear) of the sea for VV at C band.

    Args:
        wind_speed_ms: 10 m equivalent-neutral wind speed; CMOD5.N is fitted for about 0.2-35 m/s.
        relative_direction_deg: wind direction relative to the radar look direction: 0 when the
            wind blows toward the radar (upwind), 90 crosswind, 180 downwind.
        incidence_deg: local incidence angle; fitted for 18-58 deg (Sentinel-1 IW is 30-46 deg).

    Returns:
        σ0 as a float64 array (broadcast shape of the inputs), linear power ratio.

    Notes:
        Computed in float64: the ``a3 ** gamma`` term underflows in float32 at very low winds.
        Winds below 0.2 m/s are treated as 0.2 m/s (the model's lower limit) so the function stays
        finite for calm water.
    """
    c = CMOD5N_COEFFICIENTS
    v = np.maximum(np.asarray(wind_speed_ms, dtype=np.float64), 0.2)
    phi = np.deg2rad(np.asarray(relative_direction_deg, dtype=np.float64))
    x = (np.asarray(incidence_deg, dtype=np.float64) - _THETA_CENTRE_DEG) / _THETA_SCALE_DEG

    # B0: isotropic term (eq. 3-5 of Hersbach et al. 2007).
    a0 = c[1] + c[2] * x + c[3] * x**2 + c[4] * x**3
    a1 = c[5] + c[6] * x
    a2 = c[7] + c[8] * x
    gamma = c[9] + c[10] * x + c[11] * x**2
    s0 = c[12] + c[13] * x
    s = a2 * v
    # a3 = 1/(1+exp(-s)) above s0; below, a smooth power-law continuation that keeps B0 -> 0 as v -> 0.
    with np.errstate(over="ignore"):
        logistic_s = 1.0 / (1.0 + np.exp(-s))
        logistic_s0 = 1.0 / (1.0 + np.exp(-s0))
    ratio = np.where(s < s0, np.maximum(s, 1e-12) / s0, 1.0)
    a3 = np.where(s < s0, logistic_s0 * ratio ** (s0 * (1.0 - logistic_s0)), logistic_s)
    b0 = a3**gamma * 10.0 ** (a0 + a1 * v)

    # B1: upwind/downwind asymmetry (eq. 6).
    b1 = c[15] * v * (0.5 + x - np.tanh(4.0 * (x + c[16] + c[17] * v)))
    b1 = (c[14] * (1.0 + x) - b1) / (np.exp(0.34 * (v - c[18])) + 1.0)

    # B2: upwind/crosswind anisotropy (eq. 7-8), with the low-wind continuation of v/v0 + 1.
    v0 = c[21] + c[22] * x + c[23] * x**2
    d1 = c[24] + c[25] * x + c[26] * x**2
    d2 = c[27] + c[28] * x
    y0, n = c[19], c[20]
    a = y0 - (y0 - 1.0) / n
    b = 1.0 / (n * (y0 - 1.0) ** (n - 1.0))
    y = v / v0 + 1.0
    y = np.where(y < y0, a + b * np.maximum(y - 1.0, 0.0) ** n, y)
    b2 = (-d1 + d2 * y) * np.exp(-y)

    return b0 * (1.0 + b1 * np.cos(phi) + b2 * np.cos(2.0 * phi)) ** _ZPOW
