"""Simulate one Sentinel-1 IW GRDH VV scene with exact OSD labels.

``simulate_scene(config, seed)`` runs these steps, each with its own random stream (so changing,
say, the number of spills leaves the wind, the coast and the speckle of that seed unchanged):

1. viewing geometry: pass direction, incidence per column (``geometry.py``);
2. land: coastline, backscatter, harbour (``land.py``);
3. wind field on a 40 m grid, CMOD5.N σ0 of the sea, upsampled (``wind.py``, ``cmod5n.py``);
4. oil slicks, damping the sea by their drawn dB (``shapes.py``);
5. look-alikes: biogenic films, rain cells, internal waves (``lookalikes.py``); calm areas come
   from the wind field;
6. ships with their impulse-response crosses, wakes, and ships at the head of discharges
   (``ships.py``);
7. sensor: thermal noise floor, Gamma speckle, optional DN quantisation, nodata border
   (``sensor.py``).

Labels (OSD ids, :mod:`engine.classes`) are set from the same fields that make the image. From low
to high precedence: sea; look-alike (wind below the threshold, labelled films/rain cores/internal-wave
troughs/wakes); oil (coverage >= 0.5); land; ship; and 255 (:data:`engine.classes.IGNORE_INDEX`)
for nodata and for the rare oil pixels that the image does not show as damped by at least 1 dB
(for instance under a ship's sidelobe cross).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from affine import Affine

from engine import __version__
from engine.classes import IGNORE_INDEX, LAND, LOOKALIKE, OIL, OSD_CLASSES, SEA, SHIP
from engine.data.synth.cmod5n import cmod5n_sigma0
from engine.data.synth.config import SPILL_KINDS, SceneConfig
from engine.data.synth.geometry import ViewingGeometry, draw_geometry
from engine.data.synth.land import LandLayer, draw_land
from engine.data.synth.lookalikes import (
    MIN_LABEL_DB,
    LookAlike,
    draw_biogenic,
    draw_internal_waves,
    draw_rain_cell,
)
from engine.data.synth.noise import block_mean, coarse_shape, upsample
from engine.data.synth.sensor import draw_noise_profile, nodata_wedge, quantise_dn, speckle
from engine.data.synth.shapes import LABEL_COVERAGE, Slick, draw_discharge, draw_leak, draw_weathered
from engine.data.synth.ships import ShipSpec, draw_wake, render_ship
from engine.data.synth.wind import WIND_CELL_PX, WindField, draw_wind
from engine.errors import InputError
from engine.preprocess import from_linear
from engine.progress import Progress

#: Bumped whenever the same (config, seed) would give different pixels; stored in every sidecar.
SIMULATOR_VERSION = 1
#: An oil pixel must be at least this much darker than it would be without oil to keep its label.
MIN_VISIBLE_DAMPING_DB = 1.0
#: Largest seed accepted (numpy SeedSequence takes any non-negative int; we keep it JSON-safe).
MAX_SEED = 2**53

#: Progress steps of one simulation.
SIMULATION_STEPS = 7

_STREAMS = ("geometry", "land", "wind", "oil", "lookalike", "ship", "noise", "speckle", "nodata")


@dataclass
class SceneLayers:
    """Intermediate fields, for tests, debugging and figures (all full resolution unless noted).

    Attributes:
        wind_speed_ms: 10 m wind speed.
        wind_direction_from_deg: wind direction (from), on the coarse wind grid.
        incidence_deg: incidence per column ``(width,)``.
        nesz_db: thermal noise floor per column ``(width,)``.
        sea_sigma0: CMOD5.N σ0 of the clean sea (no oil, look-alikes, land or ships).
        clean_sigma0: the scene before thermal noise and speckle.
        oil_damping_db: damping applied by oil (0 outside slicks).
        lookalike_darkening_db: darkening by look-alikes and wakes (negative = brighter).
        oil_coverage: 0-1 oil coverage.
        land_mask: True on land.
    """

    wind_speed_ms: np.ndarray
    wind_direction_from_deg: np.ndarray
    incidence_deg: np.ndarray
    nesz_db: np.ndarray
    sea_sigma0: np.ndarray
    clean_sigma0: np.ndarray
    oil_damping_db: np.ndarray
    lookalike_darkening_db: np.ndarray
    oil_coverage: np.ndarray
    land_mask: np.ndarray


@dataclass
class SimulatedScene:
    """A simulated scene: image, labels, georeference and every drawn parameter.

    Attributes:
        sigma0: linear σ0, float32 ``(height, width)``; 0 on nodata.
        labels: OSD class ids, uint8; 255 on nodata and unlabelled pixels.
        valid: False on nodata.
        crs_epsg: UTM EPSG code of the grid.
        transform: affine transform (upper-left corner, ``pixel_size_m`` pixels, north up).
        config: the ranges the scene was drawn from.
        seed: the seed that reproduces it.
        params: drawn parameters and class counts (the JSON sidecar's ``scene`` part).
        layers: intermediate fields.
    """

    sigma0: np.ndarray
    labels: np.ndarray
    valid: np.ndarray
    crs_epsg: int
    transform: Affine
    config: SceneConfig
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    layers: SceneLayers | None = None


def rng_for(seed: int, stream: str) -> np.random.Generator:
    """Return the random generator of one simulation step, independent of the other steps' draws."""
    key = int.from_bytes(hashlib.sha256(stream.encode()).digest()[:4], "little")
    return np.random.default_rng(np.random.SeedSequence([seed, key]))


def check_seed(seed: Any, option: str = "--seed") -> int:
    """Return ``seed`` as int, or raise :class:`InputError` naming ``option``."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= int(seed) <= MAX_SEED:
        raise InputError(f"{option} must be an integer between 0 and {MAX_SEED}, got {seed!r}")
    return int(seed)


def simulate_scene(config: SceneConfig, seed: int, progress: Progress | None = None) -> SimulatedScene:
    """Simulate one scene; the same ``config`` and ``seed`` give bit-identical arrays.

    Args:
        config: the ranges to draw from (validated here).
        seed: non-negative integer.
        progress: optional progress reporter (one ``simulate`` stage of :data:`SIMULATION_STEPS`
            steps; cancellable between steps).

    Raises:
        InputError: an invalid config or seed.
    """
    config.validate()
    seed = check_seed(seed)
    if progress is None:
        return _simulate(config, seed, lambda: None)
    with progress.stage("simulate", total=SIMULATION_STEPS) as stage:
        return _simulate(config, seed, stage.advance)


def _simulate(config: SceneConfig, seed: int, step: Callable[[], None]) -> SimulatedScene:
    """Run the steps of :func:`simulate_scene`; ``step()`` is called after each (progress, cancellation)."""
    shape = (config.height_px, config.width_px)
    px = config.pixel_size_m
    rngs = {name: rng_for(seed, name) for name in _STREAMS}
    geometry = draw_geometry(config.width_px, px, config.incidence_deg, config.orbit_direction, rngs["geometry"])
    step()
    land = draw_land(config, shape, geometry, rngs["land"])
    land_mask = land.mask if land is not None else np.zeros(shape, dtype=bool)
    step()

    wind, sea_sigma0, wind_speed = _sea(config, shape, geometry, land, rngs["wind"])
    step()

    oil_db = np.zeros(shape, dtype=np.float32)
    oil_coverage = np.zeros(shape, dtype=np.float32)
    spill_ships: list[ShipSpec] = []
    spills_info = []
    for slick, ship in _draw_spills(config, shape, wind, land_mask, rngs["oil"]):
        np.maximum(
            oil_db[slick.patch.rows, slick.patch.cols],
            slick.damping_field_db,
            out=oil_db[slick.patch.rows, slick.patch.cols],
        )
        np.maximum(
            oil_coverage[slick.patch.rows, slick.patch.cols],
            slick.coverage,
            out=oil_coverage[slick.patch.rows, slick.patch.cols],
        )
        spills_info.append(dict(slick.info, kind=slick.kind, ship_attached=ship is not None))
        if ship is not None:
            spill_ships.append(ship)
    step()

    lookalike_db = np.zeros(shape, dtype=np.float32)
    lookalike_label = np.zeros(shape, dtype=bool)
    lookalikes_info = []
    for feature in _draw_lookalikes(config, shape, wind, land_mask, rngs["lookalike"]):
        _add_lookalike(feature, lookalike_db, lookalike_label)
        lookalikes_info.append(dict(feature.info, kind=feature.kind))
    step()

    ship_power = np.zeros(shape, dtype=np.float32)
    ship_label = np.zeros(shape, dtype=bool)
    ships_info = []
    for spec in _ship_specs(config, shape, land, rngs["ship"]) + spill_ships:
        rendered = render_ship(spec, sea_sigma0, geometry, px, config.sidelobe_level_db, rngs["ship"])
        if rendered is None:
            continue
        ship_power[rendered.patch.rows, rendered.patch.cols] += rendered.power
        ship_label[rendered.patch.rows, rendered.patch.cols] |= rendered.label
        ships_info.append(rendered.info)
        if spec.wake and spec.speed_ms > 1.0:
            wake = draw_wake(
                spec, float(rngs["ship"].uniform(1.0, 3.0)), px, shape, rngs["ship"], config.label_wake_as_lookalike
            )
            if wake is not None:
                _add_lookalike(wake, lookalike_db, lookalike_label)
                lookalikes_info.append(dict(wake.info, kind=wake.kind))
    step()

    # Compose the noise-free scene.
    sea = ~land_mask
    oil_db[land_mask] = 0.0
    oil_coverage[land_mask] = 0.0
    lookalike_db[land_mask] = 0.0
    background = sea_sigma0 * np.power(np.float32(10.0), -lookalike_db / np.float32(10.0))
    with_oil = background * np.power(np.float32(10.0), -oil_db / np.float32(10.0))
    if land is not None:
        background = np.where(land_mask, land.sigma0, background)
        with_oil = np.where(land_mask, land.sigma0, with_oil)
    clean = (with_oil + ship_power).astype(np.float32)

    labels = np.full(shape, SEA.id, dtype=np.uint8)
    labels[sea & (wind_speed < np.float32(config.low_wind_threshold_ms))] = LOOKALIKE.id
    labels[sea & lookalike_label & (lookalike_db >= np.float32(MIN_LABEL_DB))] = LOOKALIKE.id
    oil = sea & (oil_coverage >= np.float32(LABEL_COVERAGE))
    labels[oil] = OIL.id
    invisible = oil & (clean > (background + ship_power) * np.float32(10.0 ** (-MIN_VISIBLE_DAMPING_DB / 10.0)))
    labels[invisible] = IGNORE_INDEX
    labels[land_mask] = LAND.id
    labels[ship_label] = SHIP.id

    # Sensor: noise floor, speckle, quantisation, nodata.
    noise = draw_noise_profile(config.nesz_mean_db, config.nesz_scallop_scale, config.subswath_step_db, rngs["noise"])
    nesz_db = noise.nesz_db(geometry.incidence_deg).astype(np.float32)
    observed = clean + np.power(np.float32(10.0), nesz_db / np.float32(10.0))[None, :]
    if config.speckle_enl > 0:
        observed *= speckle(shape, config.speckle_enl, config.speckle_correlation_px, rngs["speckle"])
    if config.dn_quantisation:
        observed = quantise_dn(observed, geometry.incidence_deg)
    observed = np.maximum(observed, np.float32(1e-7)).astype(np.float32)
    nodata_info = None
    valid = np.ones(shape, dtype=bool)
    nodata_rng = rngs["nodata"]
    if nodata_rng.random() < config.nodata_probability:
        valid, nodata_info = nodata_wedge(shape, geometry.heading_deg, nodata_rng)
        observed[~valid] = 0.0
        labels[~valid] = IGNORE_INDEX
    step()

    params = {
        "simulator_version": SIMULATOR_VERSION,
        "engine_version": __version__,
        "seed": seed,
        "geometry": geometry.summary(),
        "wind": wind.summary,
        "noise": noise.summary(),
        "land": land.summary if land is not None else None,
        "spills": spills_info,
        "lookalikes": lookalikes_info,
        "ships": ships_info,
        "nodata": nodata_info,
        "class_pixels": {c.name: int(np.count_nonzero(labels == c.id)) for c in OSD_CLASSES},
        "ignore_pixels": int(np.count_nonzero(labels == IGNORE_INDEX)),
    }
    layers = SceneLayers(
        wind_speed,
        wind.direction_from_deg,
        geometry.incidence_deg,
        nesz_db,
        sea_sigma0,
        clean,
        oil_db,
        lookalike_db,
        oil_coverage,
        land_mask,
    )
    transform = Affine(px, 0.0, config.origin_easting_m, 0.0, -px, config.origin_northing_m)
    return SimulatedScene(observed, labels, valid, config.utm_epsg, transform, config, seed, params, layers)


def _sea(
    config: SceneConfig,
    shape: tuple[int, int],
    geometry: ViewingGeometry,
    land: LandLayer | None,
    rng: np.random.Generator,
) -> tuple[WindField, np.ndarray, np.ndarray]:
    """Wind field and the CMOD5.N sea σ0, both at full resolution."""
    cshape = coarse_shape(shape, WIND_CELL_PX)
    land_coarse = block_mean(land.mask, WIND_CELL_PX) if land is not None else None
    wind = draw_wind(config, cshape, WIND_CELL_PX * config.pixel_size_m, rng, land_coarse)
    # Incidence at the centre of each coarse cell's columns.
    centres = (np.arange(cshape[1]) + 0.5) * WIND_CELL_PX - 0.5
    incidence = np.interp(centres, np.arange(shape[1]), geometry.incidence_deg)[None, :]
    relative = wind.direction_from_deg - np.float32(geometry.look_azimuth_deg)
    sea_db = from_linear(cmod5n_sigma0(wind.speed_ms, relative, incidence), "db")
    sea_sigma0 = np.power(np.float32(10.0), upsample(sea_db, WIND_CELL_PX, shape) / np.float32(10.0))
    wind_speed = upsample(wind.speed_ms, WIND_CELL_PX, shape)
    return wind, sea_sigma0.astype(np.float32), wind_speed


def _random_sea_point(
    shape: tuple[int, int], land_mask: np.ndarray, rng: np.random.Generator, margin: float = 0.0
) -> tuple[float, float] | None:
    """Draw a random pixel centre on the sea (None when 100 tries all hit land)."""
    for _ in range(100):
        y = float(rng.uniform(margin, shape[0] - margin))
        x = float(rng.uniform(margin, shape[1] - margin))
        if not land_mask[int(y), int(x)]:
            return y, x
    return None


def _wind_to_at(wind: WindField, point: tuple[float, float]) -> float:
    """Direction the wind blows toward at a scene point (deg)."""
    r = min(int(point[0] // WIND_CELL_PX), wind.direction_from_deg.shape[0] - 1)
    c = min(int(point[1] // WIND_CELL_PX), wind.direction_from_deg.shape[1] - 1)
    return float(wind.direction_from_deg[r, c]) + 180.0


def _draw_spills(
    config: SceneConfig, shape: tuple[int, int], wind: WindField, land_mask: np.ndarray, rng: np.random.Generator
) -> list[tuple[Slick, ShipSpec | None]]:
    """Draw the scene's slicks (and the ships at the head of discharges)."""
    kinds = [k for k in SPILL_KINDS if config.spill_kind_weights.get(k, 0.0) > 0]
    weights = np.array([config.spill_kind_weights[k] for k in kinds], dtype=np.float64)
    weights /= weights.sum()
    px = config.pixel_size_m
    scene_km2 = shape[0] * shape[1] * px * px / 1e6
    cap = config.max_spill_scene_fraction * scene_km2
    low, high = min(config.spill_area_km2[0], cap), min(config.spill_area_km2[1], cap)
    count = int(rng.integers(config.spills[0], config.spills[1] + 1))
    out: list[tuple[Slick, ShipSpec | None]] = []
    for _ in range(count):
        kind = kinds[int(rng.choice(len(kinds), p=weights))]
        area = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        damping = float(rng.uniform(*config.damping_db))
        point = _random_sea_point(shape, land_mask, rng)
        if point is None:
            continue
        drift = _wind_to_at(wind, point) + float(rng.normal(0.0, 20.0))
        ship = None
        if kind == "discharge":
            # The ship heads away from the scene centre (±60 deg), so its trail lies mostly inside.
            outward = np.rad2deg(np.arctan2(point[1] - shape[1] / 2.0, -(point[0] - shape[0] / 2.0)))
            heading = float(outward + rng.uniform(-60.0, 60.0))
            slick = draw_discharge(point, heading, drift, area, damping, px, shape, rng, config.discharge_aspect)
            if slick is not None and rng.random() < config.ship_with_discharge_probability:
                ship = ShipSpec(
                    point,
                    heading,
                    float(rng.uniform(*config.ship_length_m)),
                    float(rng.uniform(2.0, 8.0)),
                    float(rng.uniform(*config.ship_brightness_db)),
                    wake=bool(rng.random() < config.wake_probability),
                )
        elif kind == "leak":
            slick = draw_leak(point, drift, area, damping, px, shape, rng)
        else:
            slick = draw_weathered(point, _wind_to_at(wind, point) - 180.0, drift, area, damping, px, shape, rng)
        if slick is not None:
            slick.info["target_area_km2"] = round(area, 4)
            slick.info["area_km2"] = round(float((slick.coverage >= LABEL_COVERAGE).sum()) * px * px / 1e6, 4)
            out.append((slick, ship))
    return out


def _draw_lookalikes(
    config: SceneConfig, shape: tuple[int, int], wind: WindField, land_mask: np.ndarray, rng: np.random.Generator
) -> list[LookAlike]:
    """Draw biogenic films, rain cells and internal-wave packets."""
    px = config.pixel_size_m
    scene_km = min(shape) * px / 1000.0
    features: list[LookAlike | None] = []
    for _ in range(int(rng.integers(config.biogenic_films[0], config.biogenic_films[1] + 1))):
        point = _random_sea_point(shape, land_mask, rng)
        radius_km = float(rng.uniform(0.15, 0.5)) * scene_km
        damping = float(rng.uniform(*config.biogenic_damping_db))
        if point is not None:
            features.append(draw_biogenic(point, damping, radius_km, px, shape, rng))
    for _ in range(int(rng.integers(config.rain_cells[0], config.rain_cells[1] + 1))):
        point = _random_sea_point(shape, land_mask, rng)
        radius_km = min(float(rng.uniform(*config.rain_cell_radius_km)), 0.4 * scene_km)
        core = float(rng.uniform(*config.rain_core_damping_db))
        rim = float(rng.uniform(*config.rain_rim_brightening_db))
        if point is not None:
            features.append(draw_rain_cell(point, radius_km, core, rim, _wind_to_at(wind, point), px, shape, rng))
    for _ in range(int(rng.integers(config.internal_waves[0], config.internal_waves[1] + 1))):
        point = _random_sea_point(shape, land_mask, rng)
        amplitude = float(rng.uniform(*config.internal_wave_amplitude_db))
        if point is not None:
            features.append(draw_internal_waves(point, amplitude, px, shape, rng))
    return [f for f in features if f is not None]


def _add_lookalike(feature: LookAlike, darkening_db: np.ndarray, label: np.ndarray) -> None:
    darkening_db[feature.patch.rows, feature.patch.cols] += feature.darkening_db
    label[feature.patch.rows, feature.patch.cols] |= feature.label


def _ship_specs(
    config: SceneConfig, shape: tuple[int, int], land: LandLayer | None, rng: np.random.Generator
) -> list[ShipSpec]:
    """Free ships at sea and ships moored in the harbour."""
    land_mask = land.mask if land is not None else np.zeros(shape, dtype=bool)
    specs = []
    for _ in range(int(rng.integers(config.ships[0], config.ships[1] + 1))):
        point = _random_sea_point(shape, land_mask, rng, margin=4.0)
        heading = float(rng.uniform(0.0, 360.0))
        length = float(rng.uniform(*config.ship_length_m))
        speed = float(rng.uniform(*config.ship_speed_ms))
        brightness = float(rng.uniform(*config.ship_brightness_db))
        wake = bool(rng.random() < config.wake_probability)
        if point is not None:
            specs.append(ShipSpec(point, heading, length, speed, brightness, wake))
    return specs + (land.moorings if land is not None else [])
