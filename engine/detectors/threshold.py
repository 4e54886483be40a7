"""SNAP's adaptive-threshold oil-spill detector, vectorised, with a soft probability.

The rule is ESA SNAP's Oil-Spill-Detection operator (s1tbx ``OilSpillDetectionOp``, after Solberg,
Brekke & Solberg, IGARSS 2004), applied to **linear** σ0:

    pixel is oil  ⇔  v < mean_bg / 10^(k/10)  ⇔  Δ = 10·log10(mean_bg / v) > k

``mean_bg`` is the mean of the valid pixels in a square background window of
``background_window_km`` (SNAP default 0.5 km, i.e. ``dim·1000 / min(pixel spacing)`` pixels),
``k`` the threshold shift in dB (SNAP default 2.0). Nodata pixels are left out of the mean, as
SNAP does. SNAP's Oil-Spill-Clustering step (drop 8-connected clusters under 0.1 km²) is the
``min_area_km2`` filter of :mod:`engine.vectorize`.

Three additions, all documented in docs/reference/detection.md:

* ``v`` is the mean over a small ``speckle_filter_px`` box (default 5 px) before the test. SNAP's help
  asks for a speckle filter before the operator; without one, single pixels of speckle fall below
  the threshold all over the sea. ``speckle_filter_px=1`` gives SNAP's raw per-pixel rule.
* Bright targets (ships, platforms, land: more than ``bright_guard_db``, default 6 dB, above the
  background mean) are left out of the background mean in a second pass. With SNAP's plain mean,
  the sea around every ship looks dark relative to its inflated background and comes out as a ring
  of "oil". ``bright_guard_db=0`` gives SNAP's plain mean.
* The hard rule becomes a probability ``p_oil = 1 / (1 + exp(-(Δ - k) / softness_db))``, so
  ``p_oil > 0.5`` is exactly SNAP's rule, ``softness_db`` (default 1 dB) sets how fast confidence
  grows with darkness (Δ = k + 2.2 dB gives 0.9), and blending and ``mean_prob`` are meaningful.

Local means are separable running-sum box filters over the valid pixels (sum of values / number of
valid pixels), so the cost per pixel does not depend on the window size.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields

import numpy as np
from scipy import ndimage

from engine.classes import BINARY_CLASSES, SegClass
from engine.config import ConfigBase
from engine.detectors.base import DetectorInfo, InputSpec
from engine.errors import DakdError
from engine.io.scene import SceneInfo
from engine.tiling import DEFAULT_TILE_SIZE, MIN_RAMP_PX

log = logging.getLogger("dakd")

#: Largest background window in pixels: 10 km at 10 m pixels (SNAP's default is 0.5 km, its graph setting 4.5 km).
#: It already needs 2048-pixel tiles; --background-window-km 1000 asked for 524 288-pixel tiles and ran out of memory.
MAX_BACKGROUND_WINDOW_PX = 1001
#: Smallest tile of the threshold detector. Its result at a pixel needs only the pixels within its context, so
#: tiles need not match a network's 256 px: at 512 px the 64 px overlap costs 1.3 times the pixels instead of 1.8
#: (the whole run on a 8192² scene about 10 % faster; bench/detect.py).
THRESHOLD_TILE_PX = 512


#: The largest --threshold-k-db: oil darker than its sea by more than σ0's whole range (about 30 dB) is none.
MAX_THRESHOLD_K_DB = 30.0


@dataclass(frozen=True)
class ThresholdConfig(ConfigBase):
    """Parameters of the threshold detector (the CLI exposes the first two).

    Attributes:
        background_window_km: side of the square background window (SNAP ``backgroundWindowDim``).
        threshold_k_db: threshold shift k in dB, ≥ 0 (SNAP ``k``).
        speckle_filter_px: side of the box speckle filter applied to the tested value (1 = none).
        softness_db: width of the logistic ramp turning Δ - k into a probability.
        bright_guard_db: pixels brighter than the background mean by more than this (ships, platforms,
            land) are left out of the background mean in a second pass; 0 turns the guard off.
    """

    background_window_km: float = 0.5
    threshold_k_db: float = 2.0
    speckle_filter_px: int = 5
    softness_db: float = 1.0
    bright_guard_db: float = 6.0

    def __post_init__(self) -> None:
        if not 0 < self.background_window_km < math.inf:  # inf crashed converting to pixels
            raise DakdError(f"--background-window-km must be positive, got {self.background_window_km}")
        if not 0 <= self.threshold_k_db <= MAX_THRESHOLD_K_DB:  # inf (or 1e300) would call nothing oil, without a word
            raise DakdError(
                f"--threshold-k-db must be 0 to {MAX_THRESHOLD_K_DB:g} dB (SNAP's default is 2), "
                f"got {self.threshold_k_db}"
            )
        if self.speckle_filter_px < 1 or self.speckle_filter_px % 2 == 0:
            raise DakdError(f"speckle_filter_px must be an odd number ≥ 1, got {self.speckle_filter_px}")
        if not self.softness_db > 0:
            raise DakdError(f"softness_db must be positive, got {self.softness_db}")
        if not self.bright_guard_db >= 0:
            raise DakdError(f"bright_guard_db must be 0 (off) or more, got {self.bright_guard_db}")


#: Option names :func:`engine.detectors.select_detector` routes to this detector.
THRESHOLD_OPTIONS = tuple(f.name for f in fields(ThresholdConfig))


def box_mean(values: np.ndarray, size: int) -> np.ndarray:
    """Mean over a centred ``size`` × ``size`` box at every pixel of the last two axes, zeros outside.

    A separable running-sum box filter (``scipy.ndimage.uniform_filter``; it accumulates in double
    precision), so the cost per pixel does not depend on the window size.

    Args:
        values: float32 array ``(N, H, W)``.
        size: odd box side in pixels.

    Returns:
        float32 array of the same shape.
    """
    return ndimage.uniform_filter(values, size=(1, size, size), mode="constant")


def valid_fraction(valid: np.ndarray, size: int) -> np.ndarray:
    """Fraction of valid pixels in each ``size`` box (what :func:`box_mean` of the values must be divided by).

    Fully valid tiles (most of a scene) get the separable product of two 1-D fractions, which is exact
    and much cheaper than filtering the mask.
    """
    fraction = np.empty(valid.shape, dtype=np.float32)
    height, width = valid.shape[-2:]
    full = (
        ndimage.uniform_filter1d(np.ones(height, np.float32), size, mode="constant")[:, None]
        * ndimage.uniform_filter1d(np.ones(width, np.float32), size, mode="constant")[None, :]
    )
    for index, tile_valid in enumerate(valid):
        if tile_valid.all():
            fraction[index] = full
        else:
            fraction[index] = box_mean(tile_valid[None].astype(np.float32), size)[0]
    return fraction


def window_px(window_km: float, pixel_size_m: tuple[float, float]) -> int:
    """SNAP's window size in pixels, ``dim·1000 / min(spacing)``, made odd (centred) and at least 3.

    An even size rounds up (0.5 km at 10 m: SNAP's 50 px becomes 51), an odd one stays.
    """
    pixels = int(round(window_km * 1000.0 / min(pixel_size_m)))
    return max(3, 2 * (pixels // 2) + 1)


#: Bright pixels per tile up to which the guarded second pass is a correction around each of them
#: (:func:`guarded_background_mean`); beyond, the box filters run again over the whole tile.
SPARSE_BRIGHT_PX = 256


def guarded_background_mean(values: np.ndarray, valid: np.ndarray, window: int, bright_guard_db: float) -> np.ndarray:
    """Mean of the valid pixels in a ``window``-pixel box, bright targets left out: the local sea background.

    One implementation for the detector's background (what a pixel is compared with) and for the wind
    around a slick (:mod:`engine.vectorize`, :mod:`engine.wind`): ships and platforms, often at a slick's
    end, would otherwise raise the background and both the darkness and the wind read from it. A first
    pass takes the plain mean; pixels more than ``bright_guard_db`` above it are left out of a second pass.
    ``bright_guard_db`` 0 gives the plain mean (SNAP's).

    Speckle alone puts a few pixels per tile above a 6 dB guard, so nearly every tile has some, but
    rarely many: up to :data:`SPARSE_BRIGHT_PX` of them, the second pass removes each one's value and
    count from the box sums of the windows that hold it, instead of filtering the whole tile again (a
    third of the threshold detector's time). Both ways give the same mean.

    Args:
        values: ``(N, H, W)`` linear values, 0 where invalid.
        valid: ``(N, H, W)`` validity.
        window: odd box side in pixels.
        bright_guard_db: guard in dB above the first-pass mean; 0 turns the guard off.
    """
    window_mean = box_mean(values, window)
    fraction = valid_fraction(valid, window)
    background = window_mean / np.maximum(fraction, 1e-6)
    if bright_guard_db <= 0:
        return background
    bright = valid & (values > background * np.float32(10 ** (bright_guard_db / 10)))
    counts = bright.sum(axis=(1, 2))
    dense = np.flatnonzero(counts > SPARSE_BRIGHT_PX)
    if dense.size:  # many bright pixels (land, a platform field): filter the kept pixels again
        kept = valid[dense] & ~bright[dense]
        kept_values = np.where(kept, values[dense], np.float32(0.0))
        background[dense] = box_mean(kept_values, window) / np.maximum(valid_fraction(kept, window), 1e-6)
    for index in np.flatnonzero((counts > 0) & (counts <= SPARSE_BRIGHT_PX)):
        _take_out_bright(background[index], window_mean[index], fraction[index], values[index], bright[index], window)
    return background


def _take_out_bright(
    background: np.ndarray,
    window_mean: np.ndarray,
    fraction: np.ndarray,
    values: np.ndarray,
    bright: np.ndarray,
    window: int,
) -> None:
    """Update one tile's ``background`` in place: its few ``bright`` pixels leave the box sums around each.

    ``window_mean`` and ``fraction`` (the box sums divided by the box area) are updated too; only the
    windows around bright pixels change, so only they are divided again.
    """
    half, area = window // 2, np.float32(window * window)
    height, width = bright.shape
    boxes = []
    for row, col in zip(*np.nonzero(bright)):
        box = (
            slice(max(0, row - half), min(height, row + half + 1)),
            slice(max(0, col - half), min(width, col + half + 1)),
        )
        window_mean[box] -= values[row, col] / area
        fraction[box] -= 1 / area
        boxes.append(box)
    for box in boxes:
        kept = fraction[box]
        # every valid pixel of the window was bright: no background (0), as filtering the kept pixels gives
        background[box] = np.where(kept < 0.5 / area, 0.0, window_mean[box] / np.maximum(kept, 1e-6))


class ThresholdDetector:
    """The :class:`~engine.detectors.base.Detector` for SNAP's adaptive threshold (classes sea, oil).

    Call :meth:`prepare` with the scene before :meth:`predict`: the background window is given in km
    and becomes pixels from the scene's pixel size, which also sets ``context_px`` and the tile size.
    """

    classes: tuple[SegClass, ...] = BINARY_CLASSES
    #: Tiles per batch when the caller does not choose (small: the work is per-pixel numpy).
    default_batch_size = 16

    def __init__(self, config: ThresholdConfig | None = None, device: str = "auto") -> None:
        self.config = config or ThresholdConfig()
        if device not in ("auto", "cpu"):
            log.warning("the threshold detector runs on the CPU; --device %s is ignored", device)
        self.input_spec = InputSpec(units="linear")
        self.background_px = 0
        self.context_px = 0

    def prepare(self, scene: SceneInfo) -> None:
        """Convert the km window to pixels for this scene and size the tiles to fit the context.

        Tiles are :data:`THRESHOLD_TILE_PX` and grow when the window is large (e.g. SNAP's 4.5 km graph
        setting at 10 m is 451 px), keeping the overlap below half the tile.
        """
        background_px = window_px(self.config.background_window_km, scene.pixel_size_m)
        if background_px > MAX_BACKGROUND_WINDOW_PX:
            metres = min(scene.pixel_size_m)
            largest_km = MAX_BACKGROUND_WINDOW_PX * metres / 1000
            pixels = background_px if background_px < 10**9 else f"{background_px:.3g}"  # 1e300 km: 300 digits
            raise DakdError(
                f"--background-window-km {self.config.background_window_km:g} is {pixels} px at "
                f"this scene's {metres:.3g} m pixels, more than the {MAX_BACKGROUND_WINDOW_PX} px the "
                f"threshold detector handles; use at most {largest_km:.3g} km (SNAP's default is 0.5 km)"
            )
        self.background_px = background_px
        self.context_px = self.background_px // 2 + self.config.speckle_filter_px // 2
        tile_size = THRESHOLD_TILE_PX  # grown until plan_grid's overlap rule fits the context
        while 2 * (2 * self.context_px + MIN_RAMP_PX) > tile_size:
            tile_size *= 2
        self.input_spec = InputSpec(units="linear", tile_size=tile_size)
        # The same pixels per batch as 16 tiles of 256 px: larger tiles take fewer per batch (memory).
        self.default_batch_size = max(1, type(self).default_batch_size * DEFAULT_TILE_SIZE**2 // tile_size**2)
        log.info(
            "threshold detector: background window %g km = %d px, k = %g dB, tiles %d px",
            self.config.background_window_km,
            self.background_px,
            self.config.threshold_k_db,
            tile_size,
        )

    def contrast_db(self, tiles: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Δ = 10·log10(background mean / speckle-filtered value) in dB, per pixel; NaN where undefined."""
        if self.background_px == 0:
            raise DakdError("the threshold detector was not prepared for a scene; call prepare() first")
        values = np.where(valid, tiles, np.float32(0.0)).astype(np.float32, copy=False)
        background = self.background_mean(values, valid)
        size = self.config.speckle_filter_px
        local = box_mean(values, size) / np.maximum(valid_fraction(valid, size), 1e-6) if size > 1 else values
        undefined = ~valid | (background <= 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = np.divide(background, local, out=background)  # in place: these arrays are large
            np.log10(delta, out=delta)
        delta *= np.float32(10.0)
        delta[undefined] = np.nan
        return delta

    def background_mean(self, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Mean of the valid pixels in the background window, bright targets left out (see ``bright_guard_db``).

        Args:
            values: ``(N, H, W)`` linear values, 0 where invalid.
            valid: ``(N, H, W)`` validity.
        """
        return guarded_background_mean(values, valid, self.background_px, self.config.bright_guard_db)

    def predict(self, tiles: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, 2, H, W)`` for (sea, oil); invalid pixels are sea with probability 1."""
        delta = self.contrast_db(tiles[:, 0], valid[:, 0])
        undefined = np.isnan(delta)
        # p_oil = 1 / (1 + exp(-(delta - k) / softness)), computed in place on delta's array
        scaled = delta
        scaled -= np.float32(self.config.threshold_k_db)
        scaled *= np.float32(-1.0 / self.config.softness_db)
        np.clip(scaled, -60.0, 60.0, out=scaled)
        with np.errstate(over="ignore", invalid="ignore"):
            np.exp(scaled, out=scaled)
        scaled += np.float32(1.0)
        oil = np.reciprocal(scaled, out=scaled)
        oil[undefined] = 0.0
        probabilities = np.empty((oil.shape[0], 2, *oil.shape[1:]), dtype=np.float32)
        probabilities[:, 1] = oil
        np.subtract(np.float32(1.0), oil, out=probabilities[:, 0])
        return probabilities

    def describe(self) -> DetectorInfo:
        """Name, id and parameters for the run summary."""
        reason = "the threshold detector is numpy code on the CPU"
        return DetectorInfo(
            name="threshold",
            model_id="snap-adaptive-threshold",
            device="cpu",
            device_reason=reason,
            extra={
                **self.config.to_dict(),
                "background_window_px": self.background_px,
                "context_px": self.context_px,
                "rule": "oil where 10*log10(mean_bg / v) > k; p_oil = logistic((delta - k) / softness_db)",
            },
        )
