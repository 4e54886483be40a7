"""Random fields and small raster helpers shared by the scene generators.

All fields are made by spectral synthesis (white noise shaped in the Fourier domain), the standard
way to draw Gaussian random fields with a prescribed power spectrum (e.g. Saupe, "Algorithms for
random fractals", in *The Science of Fractal Images*, 1988, ch. 2). A power spectrum
``P(k) ~ k**-beta`` gives fractional Brownian surfaces with fractal dimension ``D = (8 - beta) / 2``
for ``2 < beta < 4``: beta = 3.4 gives coastline-like level sets with D ≈ 1.3.

Every function takes a ``numpy.random.Generator`` and is deterministic for a given generator state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.fft import next_fast_len

#: Fields are drawn on a larger grid (rounded up to an FFT-friendly size) and cropped, so that the
#: FFT's periodic wrap-around does not join opposite scene edges.
_PAD_FACTOR = 1.25

SpectrumFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def spectral_field(shape: tuple[int, int], rng: np.random.Generator, amplitude: SpectrumFn) -> np.ndarray:
    """Draw a zero-mean, unit-std float32 Gaussian field whose Fourier amplitude is ``amplitude(ky, kx)``.

    ``ky`` and ``kx`` are spatial frequencies in cycles per pixel of the output grid.
    """
    pad_shape = (
        next_fast_len(max(8, int(shape[0] * _PAD_FACTOR) + 1), real=True),
        next_fast_len(max(8, int(shape[1] * _PAD_FACTOR) + 1), real=True),
    )
    white = rng.standard_normal(pad_shape, dtype=np.float32)
    spectrum = np.fft.rfft2(white)
    ky = np.fft.fftfreq(pad_shape[0])[:, None]
    kx = np.fft.rfftfreq(pad_shape[1])[None, :]
    weights = amplitude(ky, kx)
    weights[0, 0] = 0.0
    field = np.fft.irfft2(spectrum * weights, s=pad_shape)[: shape[0], : shape[1]]
    return _standardise(field)


def fractal_field(
    shape: tuple[int, int], rng: np.random.Generator, beta: float, min_wavelength_px: float = 2.0
) -> np.ndarray:
    """Fractional-Brownian-like field with power spectrum ``k**-beta`` (unit std).

    ``min_wavelength_px`` rolls the spectrum off above that frequency (a smoothness floor).
    """

    def amplitude(ky: np.ndarray, kx: np.ndarray) -> np.ndarray:
        k = np.hypot(ky, kx)
        k[0, 0] = 1.0
        rolloff = np.exp(-((k * min_wavelength_px) ** 2))
        return k ** (-beta / 2.0) * rolloff

    return spectral_field(shape, rng, amplitude)


def band_field(
    shape: tuple[int, int],
    rng: np.random.Generator,
    wavelength_px: float,
    relative_bandwidth: float = 0.3,
    elongation: float = 1.0,
    angle_deg: float = 0.0,
) -> np.ndarray:
    """Band-pass field: structures of about ``wavelength_px`` (unit std).

    With ``elongation > 1`` the structures are stretched by that factor along ``angle_deg`` (image
    azimuth, clockwise from up), as wind streaks are along the wind.
    """
    k0 = 1.0 / wavelength_px
    theta = np.deg2rad(angle_deg)
    # Unit vector along the stretch direction in (row, col) = (-cos, sin).
    along_y, along_x = -np.cos(theta), np.sin(theta)

    def amplitude(ky: np.ndarray, kx: np.ndarray) -> np.ndarray:
        k_along = ky * along_y + kx * along_x
        k_across = -ky * along_x + kx * along_y
        k = np.hypot(k_along * elongation, k_across)
        return np.exp(-0.5 * ((k - k0) / (relative_bandwidth * k0)) ** 2)

    return spectral_field(shape, rng, amplitude)


def track_noise(position: np.ndarray, samples: int, rng: np.random.Generator, beta: float = 2.0) -> np.ndarray:
    """1-D fractal noise (unit std) along a track, read at ``position`` in [0, 1].

    ``samples`` sets the shortest wavelength (two samples); used for width pulses and wander along
    a slick, which a 2-D field over a long window is too smooth to give.
    """
    white = rng.standard_normal(next_fast_len(2 * samples, real=True))
    k = np.fft.rfftfreq(white.size)
    k[0] = 1.0
    spectrum = np.fft.rfft(white) * k ** (-beta / 2.0)
    spectrum[0] = 0.0
    values = np.fft.irfft(spectrum, n=white.size)[:samples]
    values = (values - values.mean()) / max(float(values.std()), 1e-12)
    grid = np.linspace(0.0, 1.0, samples)
    return np.interp(position, grid, values).astype(np.float32)


def upsample(coarse: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a coarse grid whose cells are ``factor`` x ``factor`` output pixels.

    Pixel centres map to coarse coordinates ``(i + 0.5) / factor - 0.5`` and the edges are held
    constant (what ``scipy.ndimage.zoom(order=1, grid_mode=True, mode="nearest")`` does, about 3x
    faster because the weights repeat with period ``factor``). The coarse grid must cover ``shape``;
    the result is cropped to it and keeps the input dtype.
    """
    if factor == 1:
        return coarse[: shape[0], : shape[1]].copy()
    return _upsample_axis(_upsample_axis(coarse, factor, 0), factor, 1)[: shape[0], : shape[1]]


def _upsample_axis(grid: np.ndarray, factor: int, axis: int) -> np.ndarray:
    moved = np.moveaxis(grid, axis, 0)
    padded = np.concatenate([moved[:1], moved, moved[-1:]], axis=0)
    n = moved.shape[0]
    phases = []
    for phase in range(factor):
        position = (phase + 0.5) / factor - 0.5  # relative to coarse cell j, in [-0.5, 0.5)
        lower = int(np.floor(position))  # -1 or 0
        weight = grid.dtype.type(position - lower)
        a = padded[1 + lower : 1 + lower + n]
        b = padded[2 + lower : 2 + lower + n]
        phases.append(a + weight * (b - a))
    fine = np.stack(phases, axis=1).reshape((n * factor,) + moved.shape[1:])
    return np.moveaxis(fine, 0, axis)


def lookup(values: np.ndarray, start: float, step: float, table: np.ndarray) -> np.ndarray:
    """``table[round((values - start) / step)]`` with the index clipped to the table (a fast 1-D LUT).

    Used instead of ``np.interp`` on full scenes: with a fine table the nearest-entry error is
    negligible and one gather is ~10x faster than interpolation.
    """
    index = (values - np.float32(start)) * np.float32(1.0 / step) + np.float32(0.5)
    np.clip(index, 0, len(table) - 1, out=index)
    return table[index.astype(np.int32)]


def coarse_shape(shape: tuple[int, ...], factor: int) -> tuple[int, int]:
    """Grid that covers ``shape`` with cells of ``factor`` pixels."""
    return (-(-shape[0] // factor), -(-shape[1] // factor))


def block_mean(mask: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor`` x ``factor`` blocks, on the :func:`coarse_shape` grid (edges padded with 0)."""
    ch, cw = coarse_shape(mask.shape, factor)
    padded = np.zeros((ch * factor, cw * factor), dtype=np.float32)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    return padded.reshape(ch, factor, cw, factor).mean(axis=(1, 3))


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Hermite ramp 0 -> 1 on [0, 1] (clipped outside); float32 in, float32 out."""
    t = np.clip(x, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _standardise(field: np.ndarray) -> np.ndarray:
    field = field - field.mean()
    std = field.std()
    return (field / std if std > 0 else field).astype(np.float32)


@dataclass(frozen=True)
class Patch:
    """A rectangular window of the scene where one object is drawn.

    ``rows``/``cols`` slice the scene; ``y``/``x`` are the pixel-centre coordinates of the window
    (broadcastable column and row vectors, float32) so shape functions can be written in scene
    coordinates.
    """

    rows: slice
    cols: slice

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the window."""
        return (self.rows.stop - self.rows.start, self.cols.stop - self.cols.start)

    @property
    def y(self) -> np.ndarray:
        """Row coordinates of the window's pixel centres, shape (h, 1)."""
        return np.arange(self.rows.start, self.rows.stop, dtype=np.float32)[:, None]

    @property
    def x(self) -> np.ndarray:
        """Column coordinates of the window's pixel centres, shape (1, w)."""
        return np.arange(self.cols.start, self.cols.stop, dtype=np.float32)[None, :]


def patch_around(
    centre_yx: tuple[float, float], half_height: float, half_width: float, shape: tuple[int, ...]
) -> Patch | None:
    """Return the window ``centre ± half`` clipped to the scene, or None if it falls outside."""
    r0 = max(0, int(np.floor(centre_yx[0] - half_height)))
    r1 = min(shape[0], int(np.ceil(centre_yx[0] + half_height)) + 1)
    c0 = max(0, int(np.floor(centre_yx[1] - half_width)))
    c1 = min(shape[1], int(np.ceil(centre_yx[1] + half_width)) + 1)
    if r1 <= r0 or c1 <= c0:
        return None
    return Patch(slice(r0, r1), slice(c0, c1))


def rotated_frame(patch: Patch, origin_yx: tuple[float, float], azimuth_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (u along ``azimuth_deg``, v to its right) of the patch pixels relative to ``origin``.

    Azimuths are compass-like in the image: 0 = up (north), 90 = right (east).
    """
    theta = np.deg2rad(azimuth_deg)
    dy = patch.y - np.float32(origin_yx[0])
    dx = patch.x - np.float32(origin_yx[1])
    u = dx * np.float32(np.sin(theta)) - dy * np.float32(np.cos(theta))
    v = dx * np.float32(np.cos(theta)) + dy * np.float32(np.sin(theta))
    return u, v


def patch_field(shape: tuple[int, int], rng: np.random.Generator, beta: float, max_side_px: int = 384) -> np.ndarray:
    """Fractal field for an object window; large windows are drawn coarse and upsampled (cost cap)."""
    factor = max(1, int(np.ceil(max(shape) / max_side_px)))
    coarse = fractal_field(coarse_shape(shape, factor), rng, beta)
    return upsample(coarse, factor, shape)
