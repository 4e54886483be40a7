"""Ships: SNAP's two-parameter CFAR bright-target detector, run beside a network and merged into its ship class.

The rule is ESA SNAP's ship detector (s1tbx ``AdaptiveThresholdingOp`` of the Ocean Object Detection
graph, after D. J. Crisp, "The state-of-the-art in ship detection in synthetic aperture radar imagery",
DSTO-RR-0272, 2004), applied to **linear** σ0:

    pixel is a target  ⇔  x_t > μ_b + t·σ_b  ⇔  z = (x_t - μ_b) / σ_b > t,    t = Φ⁻¹(1 - 10^(-pfa))

``x_t`` is the mean of the target window (``target_window_m``) centred on the pixel; ``μ_b`` and ``σ_b``
are the mean and the (population) standard deviation of the **background ring**: the square background
window (``background_window_m``) minus the square guard window (``guard_window_m``), which must be larger
than the largest ship so that the ship does not raise its own background. ``t`` is SNAP's "detector
design parameter" ``√2·erf⁻¹(1 - 2·10^(-pfa))``, the Gaussian quantile for a false-alarm probability
``10^(-pfa)``; SNAP's default ``pfa`` 6.5 gives t = 4.98. SNAP's Object-Discrimination step then keeps the
8-connected target clusters whose bounding-box diagonal lies between ``min_target_m`` and ``max_target_m``.

Where this differs from SNAP, and why (also in docs/reference/detection.md):

* Windows are odd and centred (:func:`engine.detectors.threshold.window_px`: SNAP's ``dim / spacing``
  made odd, at least 3 px). The defaults are SNAP's guard (500 m) and background (800 m) windows and its
  pfa; the target window is 30 m (3 × 3 px at 10 m) instead of SNAP's 50 m, because the simulator's and
  Sentinel-1's smallest ships (30 m, a main lobe of about 2 px) lose too much contrast in a 5 × 5 mean.
  A 3 × 3 mean is still needed: on one-pixel targets the Gaussian t lets through the heavy tail of speckle
  (4.4-look gamma speckle exceeds μ + 4.98σ with probability 4·10⁻⁴ per pixel, hundreds per scene).
* Statistics are running-sum box filters over the valid pixels (:func:`~engine.detectors.threshold.box_mean`),
  so the cost per pixel does not depend on the window sizes: ring sum = background-box sum - guard-box
  sum, ``σ_b² = Σx²/n - μ_b²``. Nodata and land are left out of the target mean and the ring (SNAP masks
  land before the operator); a pixel is tested only when it is valid, at least half of its target window
  and at least a quarter of its ring are usable.
* Land is whatever the network calls land (``p_land ≥ land_probability``), plus the ``--land-mask``
  pixels, which the scene already marks invalid. Bright land next to sea would otherwise be a target.
  No target may lie within ``shore_buffer_m`` (100 m) of that land (:func:`shore_zone`, SNAP's
  "shoreline extension"): on the held-out simulated scenes 92 % of the false ships touched or lay within
  100 m of the network's land (bright coast and quays it had not called land), against 8 % of the real
  ones (ships moored at quays, which are therefore missed).
* Clusters are measured inside the tile (256 px), so an object cut by a tile edge is measured by its
  part in that tile; the blending gives a tile's outer context margin no weight.
* A target pixel becomes a ship probability ``c = logistic((z - t) / softness)`` (so every target has
  c > 0.5; 0 elsewhere), merged as ``p_ship = max(p_ship, c)`` with the other classes scaled so that the
  probabilities still sum to 1 (:func:`merge_ships`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy import ndimage, special

from engine import contract
from engine.classes import LAND, SEA, SHIP, SegClass
from engine.config import ConfigBase
from engine.detectors.base import Detector, DetectorInfo, InputSpec
from engine.detectors.threshold import box_mean, valid_fraction, window_px
from engine.errors import DakdError
from engine.io.scene import SceneInfo
from engine.preprocess import normalise_sigma0
from engine.tiling import MIN_RAMP_PX

log = logging.getLogger("dakd")

SHIP_MODES = contract.SHIP_MODES
#: A pixel is tested when at least this share of its target window is usable (valid, not land)...
MIN_TARGET_FRACTION = 0.5
#: ...and at least this share of its background ring.
MIN_RING_FRACTION = 0.25


@dataclass(frozen=True)
class CfarConfig(ConfigBase):
    """Parameters of the CFAR ship detector (Python: ``DetectParams.detector_options``).

    Attributes:
        target_window_m: side of the target window whose mean is tested (SNAP ``targetWindowSizeInMeter``).
        guard_window_m: side of the guard window left out of the background; larger than the largest ship
            (SNAP ``guardWindowSizeInMeter``, default 500 m).
        background_window_m: side of the background window (SNAP ``backgroundWindowSizeInMeter``, 800 m).
        pfa: false-alarm probability as ``10^(-pfa)`` (SNAP ``pfa``, default 6.5, i.e. t = 4.98).
        min_target_m, max_target_m: clusters whose bounding-box diagonal is outside this range are dropped
            (SNAP Object-Discrimination ``minTargetSizeInMeter`` / ``maxTargetSizeInMeter``).
        land_probability: pixels with at least this land probability are left out (0 < p ≤ 1).
        shore_buffer_m: no target within this distance of land (SNAP's "shoreline extension"): bright
            coast, rocks and quays that the network leaves out of its land otherwise come out as ships.
            Ships moored at a quay or closer to the coast than this are missed.
        softness: width, in background standard deviations, of the logistic turning z - t into a probability.
    """

    target_window_m: float = 30.0
    guard_window_m: float = 500.0
    background_window_m: float = 800.0
    pfa: float = 6.5
    min_target_m: float = 30.0
    max_target_m: float = 600.0
    land_probability: float = 0.5
    shore_buffer_m: float = 100.0
    softness: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.target_window_m < self.guard_window_m < self.background_window_m:
            raise DakdError(
                f"CFAR windows must satisfy 0 < target < guard < background, got target "
                f"{self.target_window_m} m, guard {self.guard_window_m} m, background "
                f"{self.background_window_m} m"
            )
        if not 0 < self.pfa < 300:
            raise DakdError(
                f"CFAR pfa is the exponent x of a false-alarm probability 10^-x (SNAP default 6.5); got {self.pfa}"
            )
        if not 0 <= self.min_target_m <= self.max_target_m:
            raise DakdError(
                f"CFAR target sizes must satisfy 0 <= min_target_m <= max_target_m, got "
                f"{self.min_target_m} and {self.max_target_m}"
            )
        if not 0 < self.land_probability <= 1:
            raise DakdError(f"land_probability must be in (0, 1], got {self.land_probability}")
        if not 0 <= self.shore_buffer_m <= 5000:
            raise DakdError(f"CFAR shore_buffer_m must be in [0, 5000] m, got {self.shore_buffer_m}")
        if not self.softness > 0:
            raise DakdError(f"CFAR softness must be positive, got {self.softness}")

    @property
    def t(self) -> float:
        """SNAP's detector design parameter ``√2·erf⁻¹(1 - 2·10^(-pfa))`` (the Gaussian ``1 - 10^(-pfa)`` quantile)."""
        return float(-special.ndtri(10.0**-self.pfa))


#: Option names :func:`engine.detectors.select_detector` routes to the CFAR ship detector.
CFAR_OPTIONS = tuple(f.name for f in fields(CfarConfig))


@dataclass(frozen=True)
class CfarWindows:
    """The CFAR windows in pixels for one pixel size (odd sides, centred)."""

    target_px: int
    guard_px: int
    background_px: int
    pixel_size_m: tuple[float, float]

    @classmethod
    def for_scene(cls, config: CfarConfig, pixel_size_m: tuple[float, float]) -> CfarWindows:
        """Convert the metre windows with SNAP's ``dim / spacing`` rule, made odd (:func:`window_px`).

        Raises:
            DakdError: the guard or background window is no larger than the window inside it at this pixel size.
        """
        sizes = [
            window_px(metres / 1000.0, pixel_size_m)
            for metres in (config.target_window_m, config.guard_window_m, config.background_window_m)
        ]
        if not sizes[0] < sizes[1] < sizes[2]:
            raise DakdError(
                f"CFAR windows of {sizes[0]}, {sizes[1]} and {sizes[2]} px at {min(pixel_size_m):g} m "
                "pixels leave no guard or background ring; use larger guard/background windows"
            )
        return cls(sizes[0], sizes[1], sizes[2], pixel_size_m=(pixel_size_m[0], pixel_size_m[1]))

    @property
    def context_px(self) -> int:
        """How far from a pixel its statistic reaches (half the background window)."""
        return self.background_px // 2


def cfar_statistic(sigma0: np.ndarray, usable: np.ndarray, windows: CfarWindows) -> np.ndarray:
    """Return z = (target mean - ring mean) / ring standard deviation per pixel, NaN where it is not tested.

    Args:
        sigma0: linear σ0 tiles ``(N, H, W)``.
        usable: ``(N, H, W)`` bool: valid and not land (left out of every mean).
        windows: from :meth:`CfarWindows.for_scene`.

    Returns:
        float32 ``(N, H, W)``; NaN where the pixel is unusable, its target window is less than
        :data:`MIN_TARGET_FRACTION` usable or its ring less than :data:`MIN_RING_FRACTION`, or the ring is flat.
    """
    values = np.where(usable, sigma0, 0.0).astype(np.float64)
    target, guard, background = windows.target_px, windows.guard_px, windows.background_px

    def box_sum(array: np.ndarray, size: int) -> np.ndarray:
        return box_mean(array, size) * float(size * size)

    def box_count(size: int) -> np.ndarray:
        return valid_fraction(usable, size).astype(np.float64) * float(size * size)

    target_count = box_count(target)
    target_mean = box_sum(values, target) / np.maximum(target_count, 1.0)
    ring_count = box_count(background) - box_count(guard)
    ring_sum = box_sum(values, background) - box_sum(values, guard)
    squares = values * values
    ring_squares = box_sum(squares, background) - box_sum(squares, guard)
    ring_mean = ring_sum / np.maximum(ring_count, 1.0)
    ring_var = ring_squares / np.maximum(ring_count, 1.0) - ring_mean * ring_mean
    tested = (
        usable
        & (target_count >= MIN_TARGET_FRACTION * target * target - 1e-3)
        & (ring_count >= MIN_RING_FRACTION * (background * background - guard * guard))
        & (ring_var > 0)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (target_mean - ring_mean) / np.sqrt(ring_var)
    return np.where(tested, z, np.nan).astype(np.float32)


def discriminate(targets: np.ndarray, windows: CfarWindows, config: CfarConfig) -> np.ndarray:
    """Keep the 8-connected target clusters whose bounding-box diagonal is within the size limits.

    SNAP's Object-Discrimination: size = √(length² + width²) of the cluster's bounding box in metres
    (``(rows) · y spacing`` and ``(cols) · x spacing``).

    Args:
        targets: ``(N, H, W)`` bool target pixels.
        windows: for the pixel size.
        config: the size limits.
    """
    kept = np.zeros_like(targets)
    size_x, size_y = windows.pixel_size_m
    for index, tile in enumerate(targets):
        if not tile.any():
            continue
        labels, count = ndimage.label(tile, structure=np.ones((3, 3), bool))
        good = np.zeros(count + 1, dtype=bool)
        for number, box in enumerate(ndimage.find_objects(labels), start=1):
            rows, cols = box[0].stop - box[0].start, box[1].stop - box[1].start
            diagonal = math.hypot(rows * size_y, cols * size_x)
            good[number] = config.min_target_m <= diagonal <= config.max_target_m
        kept[index] = good[labels]
    return kept


def shore_zone(land: np.ndarray, windows: CfarWindows, config: CfarConfig) -> np.ndarray:
    """Land grown by ``shore_buffer_m`` (a square of that half-side around every land pixel), ``(N, H, W)`` bool."""
    radius = int(round(config.shore_buffer_m / min(windows.pixel_size_m)))
    if radius < 1 or not land.any():
        return land
    return ndimage.maximum_filter(land, size=(1, 2 * radius + 1, 2 * radius + 1), mode="constant", cval=False)


def ship_confidence(
    sigma0: np.ndarray, usable: np.ndarray, windows: CfarWindows, config: CfarConfig, shore: np.ndarray | None = None
) -> np.ndarray:
    """CFAR ship probability per pixel: ``logistic((z - t) / softness)`` on kept targets (> 0.5), 0 elsewhere.

    ``shore`` (``(N, H, W)`` bool, :func:`shore_zone`) marks where no target may lie.
    """
    z = cfar_statistic(sigma0, usable, windows)
    with np.errstate(invalid="ignore"):
        hits = np.nan_to_num(z, nan=-np.inf) > config.t
        if shore is not None:
            hits &= ~shore
        targets = discriminate(hits, windows, config)
    confidence = special.expit((np.where(targets, z, 0.0) - config.t) / config.softness)
    return np.where(targets, confidence, 0.0).astype(np.float32)


def merge_ships(probabilities: np.ndarray, confidence: np.ndarray, ship_index: int) -> np.ndarray:
    """``p_ship = max(p_ship, c)``; the other classes keep their ratios and are scaled to sum to ``1 - p_ship``.

    Args:
        probabilities: ``(N, C, H, W)`` summing to 1 over classes.
        confidence: ``(N, H, W)`` CFAR ship probability.
        ship_index: the ship channel.
    """
    ship = probabilities[:, ship_index]
    merged_ship = np.maximum(ship, confidence)
    rest = 1.0 - ship
    scale = np.ones_like(rest)
    np.divide(1.0 - merged_ship, rest, out=scale, where=rest > 1e-6)
    merged = probabilities * scale[:, None]
    merged[:, ship_index] = merged_ship
    return merged.astype(np.float32)


def fold_ships_into_sea(probabilities: np.ndarray, ship_index: int, sea_index: int) -> np.ndarray:
    """``--ships off``: the ship probability is added to sea, so no pixel is a ship."""
    folded = probabilities.copy()
    folded[:, sea_index] += folded[:, ship_index]
    folded[:, ship_index] = 0.0
    return folded


def _index(classes: tuple[SegClass, ...], wanted: SegClass) -> int | None:
    names = [c.name for c in classes]
    return names.index(wanted.name) if wanted.name in names else None


class ShipsDetector:
    """A detector with a ship class, with its ships from CFAR (``cfar``) or with no ships (``off``).

    Implements :class:`~engine.detectors.base.Detector`. It asks for **linear** σ0 tiles, normalises them
    for the wrapped detector itself (:func:`engine.preprocess.normalise_sigma0` with the wrapped ``input_spec``,
    exactly what the tiler would have done), runs it, and then runs :func:`ship_confidence` on the linear
    values with the wrapped detector's land left out.

    Args:
        inner: the network's detector; must have a ship class.
        mode: ``cfar`` or ``off`` (``model`` needs no wrapper).
        config: CFAR parameters.
    """

    def __init__(self, inner: Detector, mode: str = "cfar", config: CfarConfig | None = None) -> None:
        if mode not in ("cfar", "off"):
            raise DakdError(f"unknown ship mode {mode!r} for the ship wrapper; use cfar or off")
        self.inner = inner
        self.mode = mode
        self.config = config or CfarConfig()
        self.classes = tuple(inner.classes)
        ship_index, sea_index = _index(self.classes, SHIP), _index(self.classes, SEA)
        if ship_index is None or sea_index is None:
            raise DakdError(
                f"--ships {mode} needs a detector with sea and ship classes; this one has "
                f"{', '.join(c.name for c in self.classes)}"
            )
        self.ship_index, self.sea_index = ship_index, sea_index
        self.land_index = _index(self.classes, LAND)
        self.input_spec = InputSpec(units="linear", tile_size=inner.input_spec.tile_size)
        self.context_px = inner.context_px
        self.windows: CfarWindows | None = None
        self.target_pixels = 0

    @property
    def default_batch_size(self) -> int:
        """The wrapped detector's batch size (it splits batches itself on out-of-memory)."""
        return int(getattr(self.inner, "default_batch_size", 8))

    def prepare(self, scene: SceneInfo) -> None:
        """Prepare the wrapped detector, size the CFAR windows for the pixel size and check they fit the tiles."""
        self.inner.prepare(scene)
        self.context_px = self.inner.context_px
        if self.mode != "cfar":
            return
        self.windows = CfarWindows.for_scene(self.config, scene.pixel_size_m)
        self.context_px = max(self.inner.context_px, self.windows.context_px)
        if 2 * self.context_px + MIN_RAMP_PX >= self.input_spec.tile_size:
            raise DakdError(
                f"the CFAR background window of {self.windows.background_px} px does not fit in "
                f"{self.input_spec.tile_size}-pixel tiles; use a smaller background_window_m or "
                "--ships model"
            )
        log.info(
            "ships: CFAR with target %d px, guard %d px, background %d px, t = %.2f (pfa 10^-%g)",
            self.windows.target_px,
            self.windows.guard_px,
            self.windows.background_px,
            self.config.t,
            self.config.pfa,
        )

    def predict(self, tiles: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, C, H, W)`` of the wrapped detector, with CFAR ships merged (or ships folded into sea)."""
        probabilities = np.asarray(
            self.inner.predict(normalise_sigma0(tiles, valid, self.inner.input_spec), valid), dtype=np.float32
        )
        if self.mode == "off":
            return fold_ships_into_sea(probabilities, self.ship_index, self.sea_index)
        if self.windows is None:
            raise DakdError("the ship detector was not prepared for a scene; call prepare() first")
        usable = valid[:, 0].copy()
        shore = None
        if self.land_index is not None:
            land = probabilities[:, self.land_index] >= self.config.land_probability
            usable &= ~land
            shore = shore_zone(land, self.windows, self.config)
        confidence = ship_confidence(tiles[:, 0], usable, self.windows, self.config, shore)
        self.target_pixels += int(np.count_nonzero(confidence))
        return merge_ships(probabilities, confidence, self.ship_index)

    def describe(self) -> DetectorInfo:
        """Describe the wrapped detector, with the ship mode and the CFAR parameters added."""
        info = self.inner.describe()
        extra: dict[str, Any] = {"ships": self.mode}
        if self.mode == "cfar":
            extra["cfar"] = {
                **self.config.to_dict(),
                "t": round(self.config.t, 4),
                "windows_px": None
                if self.windows is None
                else [self.windows.target_px, self.windows.guard_px, self.windows.background_px],
                "rule": "target where (mean_target - mean_ring) / std_ring > t, land and nodata "
                "left out; clusters kept when min <= bbox diagonal <= max",
            }
        return dataclasses.replace(info, extra={**info.extra, **extra})
