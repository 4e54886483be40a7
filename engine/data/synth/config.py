"""Parameters of a simulated scene: every range the simulator draws from, with units in the names.

A :class:`SceneConfig` holds *ranges*, not drawn values: ``simulate_scene(config, seed)`` draws the
actual wind, spills, look-alikes and ships from them, so one config plus a list of seeds makes a
data set, and a second config with other ranges makes a held-out test set. Ranges are ``(low, high)``
pairs, inclusive; count ranges are integers. The config is saved in every JSON sidecar and can be
loaded back with :meth:`SceneConfig.from_dict` (:class:`engine.config.ConfigBase`: unknown keys are an
error, so a typo never passes silently).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from engine.config import ConfigBase
from engine.errors import InputError

#: Largest scene simulated in memory (pixels): about 16 float32 layers of this size are alive at once.
MAX_SCENE_PIXELS = 64 * 1024 * 1024
#: Smallest side; below this most objects no longer fit.
MIN_SIDE_PX = 32

SPILL_KINDS = ("discharge", "leak", "weathered")
ORBIT_DIRECTIONS = ("ascending", "descending", "random")


@dataclass(frozen=True)
class SceneConfig(ConfigBase):
    """Ranges and switches for one simulated Sentinel-1 IW GRDH VV scene.

    Geometry:
        width_px, height_px: scene size; columns run along range, rows along azimuth.
        pixel_size_m: ground pixel size (GRDH: 10 m).
        incidence_deg: ``None`` places the scene at a random position in the real IW swath
            (30.3-46.1 deg over ~260 km, so a 2 km scene spans ~0.15 deg). A ``(near, far)`` pair
            stretches that incidence range linearly across the scene instead (for tests and demos).
        orbit_direction: ascending (looks east, near range on the left), descending, or random.

    Wind (CMOD5.N input):
        wind_speed_ms: range of the scene-mean 10 m wind speed.
        wind_direction_from_deg: range of the scene-mean direction the wind blows from (deg from
            north); the look direction is 78 deg (ascending) or 282 deg (descending), so e.g.
            ``(78, 78)`` with an ascending pass is upwind.
        wind_limits_ms: the wind field is clipped to this range everywhere.
        wind_variability: relative std of mesoscale speed variations (fraction of the mean).
        wind_direction_variability_deg: std of mesoscale direction variations.
        gust_strength: relative amplitude of convective gust cells, drawn per scene.
        streak_strength: relative amplitude of wind streaks (boundary-layer rolls) along the wind.
        front_probability: chance of a wind front (speed jump and veer) across the scene.
        low_wind_patches: count range of sheltered/calm patches that drop below the threshold.
        low_wind_threshold_ms: sea with wind below this is labelled look-alike (too calm for oil
            to show, and dark like oil).

    Oil (class 1):
        spills: count range of spills.
        spill_kind_weights: relative frequency of discharge, leak, weathered.
        spill_area_km2: range of spill areas, drawn log-uniformly; capped at
            ``max_spill_scene_fraction`` of the scene.
        damping_db: range of oil damping (drawn per spill; the mean over the slick).
        discharge_aspect: range of a discharge's length / mean width (long thin trails at the top).
        ship_with_discharge_probability: chance that a discharge has its ship at the head.

    Look-alikes (class 2):
        biogenic_films, rain_cells, internal_waves: count ranges.
        biogenic_damping_db: weak damping of natural films.
        rain_cell_radius_km, rain_core_damping_db, rain_rim_brightening_db: rain cell shape.
        internal_wave_amplitude_db: modulation depth of internal-wave bands.
        label_wake_as_lookalike: label ships' dark turbulent wakes as look-alike (else sea).

    Ships (class 3):
        ships: count range of free ships (discharging ships come on top).
        ship_brightness_db: peak pixel above the local sea.
        ship_length_m: hull length range.
        ship_speed_ms: ship speed range (a moving ship is shifted in azimuth off its wake).
        wake_probability: chance that a moving ship shows a wake.
        sidelobe_level_db: peak sidelobe ratio of the impulse response (the cross arms).

    Land (class 4):
        land_probability: chance that a coast is present.
        land_fraction: range of the land share when it is.
        harbour_probability: chance of a harbour (breakwaters, quays, moored ships) on the coast.

    Sensor:
        speckle_enl: equivalent number of looks of the Gamma speckle (GRDH: 4.4); 0 disables it.
        speckle_correlation_px: Gaussian correlation length of the speckle (0 = white).
        nesz_mean_db: range of the swath-mean noise-equivalent sigma0 (the reference S1B product's
            mean is -26.1 dB, its profile -30.3 to -22.3 dB; the default keeps profiles within about
            -29.5 to -20.5 dB).
        nesz_scallop_scale: scale of the sub-swath scalloping around that mean (1 = as measured).
        subswath_step_db: range of the noise step at each sub-swath boundary.
        nodata_probability: chance of a nodata wedge at one scene edge (product border).
        dn_quantisation: round to UInt16 digital numbers through a sigmaNought LUT and back.

    Georeference:
        utm_epsg, origin_easting_m, origin_northing_m: CRS and upper-left corner.
    """

    width_px: int = 1024
    height_px: int = 1024
    pixel_size_m: float = 10.0
    incidence_deg: tuple[float, float] | None = None
    orbit_direction: str = "random"

    wind_speed_ms: tuple[float, float] = (3.5, 11.0)
    wind_direction_from_deg: tuple[float, float] = (0.0, 360.0)
    wind_limits_ms: tuple[float, float] = (2.0, 14.0)
    wind_variability: float = 0.08
    wind_direction_variability_deg: float = 8.0
    gust_strength: tuple[float, float] = (0.0, 0.12)
    streak_strength: tuple[float, float] = (0.0, 0.05)
    front_probability: float = 0.25
    low_wind_patches: tuple[int, int] = (0, 1)
    low_wind_threshold_ms: float = 3.0

    spills: tuple[int, int] = (1, 3)
    spill_kind_weights: dict[str, float] = field(
        default_factory=lambda: {"discharge": 0.5, "leak": 0.25, "weathered": 0.25}
    )
    spill_area_km2: tuple[float, float] = (0.05, 300.0)
    max_spill_scene_fraction: float = 0.12
    damping_db: tuple[float, float] = (3.0, 10.0)
    discharge_aspect: tuple[float, float] = (25.0, 150.0)
    ship_with_discharge_probability: float = 0.5

    biogenic_films: tuple[int, int] = (0, 1)
    biogenic_damping_db: tuple[float, float] = (1.0, 3.0)
    rain_cells: tuple[int, int] = (0, 1)
    rain_cell_radius_km: tuple[float, float] = (1.0, 5.0)
    rain_core_damping_db: tuple[float, float] = (2.0, 6.0)
    rain_rim_brightening_db: tuple[float, float] = (1.0, 3.0)
    internal_waves: tuple[int, int] = (0, 1)
    internal_wave_amplitude_db: tuple[float, float] = (1.0, 3.0)
    label_wake_as_lookalike: bool = True

    ships: tuple[int, int] = (0, 4)
    ship_brightness_db: tuple[float, float] = (15.0, 30.0)
    ship_length_m: tuple[float, float] = (30.0, 300.0)
    ship_speed_ms: tuple[float, float] = (0.0, 10.0)
    wake_probability: float = 0.5
    sidelobe_level_db: float = -17.0

    land_probability: float = 0.35
    land_fraction: tuple[float, float] = (0.05, 0.35)
    harbour_probability: float = 0.3

    speckle_enl: float = 4.4
    speckle_correlation_px: float = 0.6
    nesz_mean_db: tuple[float, float] = (-26.5, -24.0)
    nesz_scallop_scale: tuple[float, float] = (0.5, 1.0)
    subswath_step_db: tuple[float, float] = (0.0, 1.0)
    nodata_probability: float = 0.15
    dn_quantisation: bool = False

    utm_epsg: int = 32634
    origin_easting_m: float = 400000.0
    origin_northing_m: float = 4000000.0

    config_error: ClassVar[type[Exception]] = InputError

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str | None = None) -> SceneConfig:
        """Build a config from a (partial) dict, as :meth:`ConfigBase.from_dict` does, and validate it.

        Raises:
            InputError: an unknown key or a malformed value, naming ``source`` and the key.
        """
        config = super().from_dict(values, source)
        config.validate(source or "scene config")
        return config

    def replace(self, **changes: Any) -> SceneConfig:
        """Return a copy with some fields changed (validated)."""
        config = dataclasses.replace(self, **changes)
        config.validate()
        return config

    def validate(self, source: str = "scene config") -> None:
        """Check every field; raise :class:`InputError` naming the first bad one and its valid range."""
        for name, (kind, low, high) in FIELD_LIMITS.items():
            value = getattr(self, name)
            # FIELD_LIMITS gives every int a low, and every number and range both bounds.
            if kind == "int":
                _check_int(source, name, value, int(cast(float, low)), None if high is None else int(high))
            elif kind == "number":
                _check_number(source, name, value, cast(float, low), cast(float, high))
            elif kind == "range":
                _check_range(source, name, value, cast(float, low), cast(float, high))
            elif kind == "bool":
                _check_bool(source, name, value)
            else:
                _check_count(source, name, value)
        if self.width_px * self.height_px > MAX_SCENE_PIXELS:
            raise InputError(
                f"{source}: size {self.width_px}x{self.height_px} is over the "
                f"{MAX_SCENE_PIXELS // (1024 * 1024)} Mpx limit; simulate smaller scenes or tiles"
            )
        if self.incidence_deg is not None:
            _check_range(source, "incidence_deg", self.incidence_deg, 18.0, 58.0)
        if self.orbit_direction not in ORBIT_DIRECTIONS:
            raise InputError(f"{source}: orbit_direction must be one of {', '.join(ORBIT_DIRECTIONS)}")
        if not self.wind_limits_ms[0] <= self.wind_speed_ms[0] <= self.wind_speed_ms[1] <= self.wind_limits_ms[1]:
            raise InputError(
                f"{source}: wind_speed_ms {list(self.wind_speed_ms)} lies outside wind_limits_ms "
                f"{list(self.wind_limits_ms)}; choose speeds inside it or widen it with "
                f"--set wind_limits_ms=[low,high] (up to [0.2, 35])"
            )
        _check_weights(source, "spill_kind_weights", self.spill_kind_weights, SPILL_KINDS)
        if self.speckle_enl != 0:
            _check_number(source, "speckle_enl", self.speckle_enl, 0.5, 1000.0)


#: Valid values per field: (kind, low, high); kinds are ``int``, ``number``, ``range`` (a (low, high)
#: pair within [low, high]), ``count`` (a (min, max) pair of non-negative integers) and ``bool`` (true or false).
#: The fields not here are checked on their own in :meth:`SceneConfig.validate`; a test keeps every field checked.
FIELD_LIMITS: dict[str, tuple[str, float | None, float | None]] = {
    "width_px": ("int", MIN_SIDE_PX, None),
    "height_px": ("int", MIN_SIDE_PX, None),
    "pixel_size_m": ("number", 1.0, 100.0),
    "wind_limits_ms": ("range", 0.2, 35.0),
    "wind_speed_ms": ("range", 0.2, 35.0),
    "wind_direction_from_deg": ("range", -360.0, 720.0),
    "wind_variability": ("number", 0.0, 0.5),
    "wind_direction_variability_deg": ("number", 0.0, 90.0),
    "gust_strength": ("range", 0.0, 0.5),
    "streak_strength": ("range", 0.0, 0.3),
    "front_probability": ("number", 0.0, 1.0),
    "low_wind_patches": ("count", None, None),
    "low_wind_threshold_ms": ("number", 0.0, 10.0),
    "spills": ("count", None, None),
    "spill_area_km2": ("range", 1e-3, 1e4),
    "max_spill_scene_fraction": ("number", 0.001, 0.8),
    "damping_db": ("range", 0.5, 20.0),
    "discharge_aspect": ("range", 2.0, 1000.0),
    "ship_with_discharge_probability": ("number", 0.0, 1.0),
    "biogenic_films": ("count", None, None),
    "biogenic_damping_db": ("range", 0.2, 10.0),
    "rain_cells": ("count", None, None),
    "rain_cell_radius_km": ("range", 0.1, 50.0),
    "rain_core_damping_db": ("range", 0.0, 15.0),
    "rain_rim_brightening_db": ("range", 0.0, 10.0),
    "internal_waves": ("count", None, None),
    "internal_wave_amplitude_db": ("range", 0.0, 10.0),
    "ships": ("count", None, None),
    "ship_brightness_db": ("range", 0.0, 60.0),
    "ship_length_m": ("range", 5.0, 500.0),
    "ship_speed_ms": ("range", 0.0, 25.0),
    "wake_probability": ("number", 0.0, 1.0),
    "sidelobe_level_db": ("number", -60.0, -3.0),
    "land_probability": ("number", 0.0, 1.0),
    "land_fraction": ("range", 0.0, 0.9),
    "harbour_probability": ("number", 0.0, 1.0),
    "speckle_correlation_px": ("number", 0.0, 5.0),
    "nesz_mean_db": ("range", -60.0, -10.0),
    "nesz_scallop_scale": ("range", 0.0, 3.0),
    "subswath_step_db": ("range", 0.0, 5.0),
    "nodata_probability": ("number", 0.0, 1.0),
    "utm_epsg": ("int", 32601, 32760),
    "origin_easting_m": ("number", 0.0, 1e6),  # a UTM zone's eastings lie within 0-1000 km
    "origin_northing_m": ("number", 0.0, 1e7),  # 0 at the equator to 10,000 km (south zones count from there)
    "label_wake_as_lookalike": ("bool", None, None),
    "dn_quantisation": ("bool", None, None),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_number(source: str, name: str, value: Any, low: float, high: float) -> None:
    if not _is_number(value) or not low <= value <= high:
        raise InputError(f"{source}: {name} must be a number in [{low:g}, {high:g}], got {value!r}")


def _check_int(source: str, name: str, value: Any, low: int, high: int | None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        limit = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise InputError(f"{source}: {name} must be an integer {limit}, got {value!r}")


def _check_bool(source: str, name: str, value: Any) -> None:
    """Refuse anything but true or false: ``--set dn_quantisation=False`` gave the text "False", which counted as on."""
    if not isinstance(value, bool):
        raise InputError(f"{source}: {name} must be true or false (JSON, lower case), got {value!r}")


def _check_range(source: str, name: str, value: Any, low: float, high: float) -> None:
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(_is_number(v) for v in value)
        or not low <= value[0] <= value[1] <= high
    ):
        raise InputError(
            f"{source}: {name} must be a (low, high) pair with {low:g} <= low <= high <= {high:g}, got {value!r}"
        )


def _check_count(source: str, name: str, value: Any) -> None:
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or not 0 <= value[0] <= value[1] <= 1000
    ):
        raise InputError(f"{source}: {name} must be a (min, max) pair of counts with 0 <= min <= max, got {value!r}")


def _check_weights(source: str, name: str, value: Any, kinds: tuple[str, ...]) -> None:
    if (
        not isinstance(value, dict)
        or not set(value) <= set(kinds)
        or not all(_is_number(v) and v >= 0 for v in value.values())
        or sum(value.values()) <= 0
    ):
        raise InputError(
            f"{source}: {name} must map some of {', '.join(kinds)} to non-negative weights "
            f"with a positive sum, got {value!r}"
        )
