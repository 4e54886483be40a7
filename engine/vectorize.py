"""Turn the class raster into polygons with the attributes analysts expect (CleanSeaNet-style).

Regions are traced by GDAL's polygonize over a raster *on disk* that holds the class id where a
polygon class (oil, look-alike, ship) won and 0 elsewhere, so the class map is never loaded
whole. Each region then gets its measurements and statistics from small windowed reads.

Rules (also in docs/reference/detection.md):

* **Minimum size.** Oil and look-alike regions smaller than ``min_area_km2`` are dropped (SNAP's
  Oil-Spill-Clustering default is 0.1 km², 1000 px at 10 m). Ships are a few pixels, so that limit
  never applies to them; a ship needs at least :data:`MIN_SHIP_PX` pixels.
* **Geometry.** 8-connected regions, holes kept, simplified by :data:`SIMPLIFY_PX` pixels
  (topology preserved) to remove the pixel staircase. ``area_km2`` and ``pixels`` are those of the
  exact pixel region; perimeter, length, width and orientation are measured on the simplified
  outline, in metres on the ground for projected CRSs (via the CRS unit), geographic CRSs and projections
  whose scale is off by over 1 % at the region, as Web Mercator away from the equator (via a Lambert
  azimuthal equal-area projection centred on each region), and rasters without CRS (via the assumed
  pixel size).
* **length/width/orientation** come from the minimum rotated rectangle: length is its long side,
  width its short side, orientation the bearing of the long side in degrees clockwise from north
  (grid north for projected CRSs), in [0, 180).
* **ship_length_m** (ships only): the estimated hull length, :func:`ship_length_m`.
* **mean_prob / max_prob**: the region's class probability over its pixels.
* **contrast_db**: mean σ0 in dB inside the region minus the mean over a ring :data:`RING_M` metres
  wide around its outer outline (holes, other detected regions and nodata left out). Oil is dark,
  so negative; ships are bright, so positive.
* **confidence** (CleanSeaNet's A/B): ``A`` (very likely) when ``mean_prob`` ≥ :data:`CONFIDENCE_A_PROB`
  and the contrast has the expected sign and is at least :data:`CONFIDENCE_A_CONTRAST_DB` dB
  (darker for oil and look-alikes, brighter for ships), and, for oil and look-alikes, the wind around
  the region is not flagged (too low or too strong for slicks, :mod:`engine.wind`); otherwise ``B`` (possible).
* **wind_speed_ms / wind_speed_min_ms / wind_speed_max_ms / wind_flag / incidence_deg**: the wind
  around the region, CMOD5.N inverted on the background σ0 of the contrast ring (the threshold
  detector's guarded background mean, :func:`engine.detectors.threshold.guarded_background_mean`, sampled
  on the ring); see :mod:`engine.wind`.

Notes:
    GDAL's polygonize keeps every traced region in memory until it finishes, so memory grows with
    the number of regions (not pixels). The threshold detector's speckle filter keeps that number
    small on sea; a very noisy class map (thousands of tiny regions) is slower but still bounded.
    Rasters without a CRS are written as x = column, y = -row: the way QGIS places an
    ungeoreferenced raster, so the polygons overlay the outputs.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio import features
from rasterio.errors import NotGeoreferencedWarning
from rasterio.warp import transform as transform_points
from rasterio.warp import transform_geom
from rasterio.windows import Window
from scipy import ndimage
from shapely import affinity, make_valid
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from engine.classes import LOOKALIKE, OIL, SHIP, SegClass
from engine.detectors.threshold import guarded_background_mean, window_px
from engine.io.raster import ground_lengths_m, projection_distorts
from engine.io.scene import Scene, SceneInfo
from engine.preprocess import from_linear
from engine.progress import Progress
from engine.wind import WindEstimator

#: Ships need at least this many pixels; ``min_area_km2`` only applies to oil and look-alikes.
MIN_SHIP_PX = 4
#: Douglas-Peucker tolerance for the output outlines, in pixels.
SIMPLIFY_PX = 1.0
#: The ship length uses the pixels within this many dB of the ship's brightest pixel: just above the -17 dB
#: sidelobes of the simulator's impulse response (Sentinel-1's are lower), so the sidelobe cross is left out.
SHIP_LENGTH_PEAK_DB = 16.0
#: Width of the ring around a region used as its background for ``contrast_db``.
RING_M = 200.0
#: Confidence A needs at least this mean probability...
CONFIDENCE_A_PROB = 0.8
#: ...and at least this contrast (darker for oil/look-alike, brighter for ships), in dB.
CONFIDENCE_A_CONTRAST_DB = 3.0
#: Probability rasters store ``round(p * PROB_SCALE)`` as uint8; 255 is nodata.
PROB_SCALE = 250
PROB_NODATA = 255
#: Rows read (and polygon parts rasterised) at once when computing statistics of a region.
STATS_CHUNK_ROWS = 128
_DARK_CLASSES = (OIL.name, LOOKALIKE.name)


@dataclass(frozen=True)
class MetricFrame:
    """Maps polygons from pixel space to the output CRS and to ground metres, for one scene.

    ``pixel_to_crs`` (optional) replaces the affine ``info.transform`` for scenes whose pixel grid is
    not affine in their CRS: a Sentinel-1 product in radar geometry maps pixels through its GCP
    spline (``Sentinel1Scene.pixel_to_map``, into ``info.crs``).
    """

    info: SceneInfo
    pixel_to_crs: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None

    def to_output(self, pixel_geometry: BaseGeometry) -> BaseGeometry:
        """Pixel (col, row) geometry → output coordinates (the CRS, or x = col, y = -row without one)."""
        if self.pixel_to_crs is not None and self.info.crs is not None:
            mapper = self.pixel_to_crs
            return shapely.transform(pixel_geometry, lambda xy: np.column_stack(mapper(xy[:, 0], xy[:, 1])))
        transform = self.info.transform if self.info.crs is not None else Affine.scale(1.0, -1.0)
        return affinity.affine_transform(pixel_geometry, _shapely_params(transform))

    def to_metres(self, pixel_geometry: BaseGeometry) -> BaseGeometry:
        """Pixel geometry → a local frame in ground metres (x east, y north)."""
        info = self.info
        if info.crs is None:
            size_x, size_y = info.pixel_size_m
            return affinity.affine_transform(pixel_geometry, _shapely_params(Affine.scale(size_x, -size_y)))
        output = self.to_output(pixel_geometry)
        if not info.crs.is_geographic:
            factor = info.crs.linear_units_factor[1]
            if not self.crs_distorts:
                return affinity.scale(output, factor, factor, origin=(0, 0))
        lon, lat = self.centroid_lonlat(pixel_geometry)
        local = f"+proj=laea +lat_0={lat} +lon_0={lon} +ellps=WGS84 +units=m +no_defs"
        return shape(transform_geom(info.crs, local, mapping(output)))

    @functools.cached_property
    def crs_distorts(self) -> bool:
        """Whether the projected CRS's metres are not ground metres over the scene (Web Mercator away from the equator).

        There regions are measured like those of a geographic CRS; UTM and national grids keep their own metres.
        Judged once, at the scene's centre: a scene spans a degree or two, and PROJ per region cost a scene of
        thousands of regions seconds.
        """
        info = self.info
        if info.crs is None or info.crs.is_geographic:
            return False
        centre = self.to_output(Point(info.width / 2, info.height / 2))
        step = 100.0 / info.crs.linear_units_factor[1]  # 100 m in CRS units
        ground = ground_lengths_m(info.crs, centre.x, centre.y, [(step, 0.0), (0.0, step)])
        return projection_distorts((100.0, 100.0), ground)

    def centroid_lonlat(self, pixel_geometry: BaseGeometry) -> tuple[float, float] | tuple[None, None]:
        """Longitude in [-180, 180) and latitude (WGS84) of the region's centroid; (None, None) without a CRS.

        A geographic raster crossing the antimeridian runs past 180° east (e.g. 179.9° to 180.1°) and
        PROJ passes such longitudes through unchanged; the attribute is always wrapped, so 180.005
        becomes -179.995.
        """
        if self.info.crs is None:
            return None, None
        x, y = self.to_output(pixel_geometry.centroid).coords[0][:2]  # some GEOS builds add a z
        lons, lats = transform_points(self.info.crs, "EPSG:4326", [x], [y])
        return (float(lons[0]) + 180.0) % 360.0 - 180.0, float(lats[0])


def _polygonal(geometry: BaseGeometry) -> Polygon | MultiPolygon:
    """Repair a traced region if needed (8-connected regions can touch themselves at a corner)."""
    if geometry.is_valid:
        return geometry
    parts = [p for p in shapely.get_parts(make_valid(geometry)) if p.geom_type == "Polygon"]
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _shapely_params(transform: Affine) -> list[float]:
    return [transform.a, transform.b, transform.d, transform.e, transform.xoff, transform.yoff]


def shape_measures(metric_geometry: BaseGeometry) -> dict[str, float]:
    """Perimeter, length, width (km) and orientation (° from north) of a polygon in metres."""
    corners = np.asarray(metric_geometry.minimum_rotated_rectangle.exterior.coords)
    sides = np.diff(corners[:3], axis=0)  # two adjacent sides of the rectangle
    lengths = np.hypot(sides[:, 0], sides[:, 1])
    dx, dy = sides[int(np.argmax(lengths))]
    return {
        "perimeter_km": metric_geometry.length / 1000.0,
        "length_km": float(lengths.max()) / 1000.0,
        "width_km": float(lengths.min()) / 1000.0,
        "orientation_deg": round(math.degrees(math.atan2(dx, dy)) % 180.0, 2) % 180.0,
    }


def confidence(
    class_name: str, mean_prob: float | None, contrast_db: float | None, wind_flag: str | None = None
) -> str:
    """CleanSeaNet-style confidence: ``A`` (very likely) or ``B`` (possible); see the module rules.

    A wind flag (too low: look-alikes likely; too strong: slicks rarely visible) keeps a dark region at B:
    an analyst should look at it before it is reported as very likely oil.
    """
    if mean_prob is None or contrast_db is None or mean_prob < CONFIDENCE_A_PROB:
        return "B"
    if wind_flag and class_name in _DARK_CLASSES:
        return "B"
    signed = -contrast_db if class_name in _DARK_CLASSES else contrast_db
    return "A" if signed >= CONFIDENCE_A_CONTRAST_DB else "B"


def iter_regions(polygon_classes_path: str) -> Iterator[tuple[Polygon, int]]:
    """Yield ``(polygon in pixel coordinates, class id)`` for 8-connected regions of non-zero pixels.

    The raster (class id of polygon classes, 0 elsewhere) is read scanline by scanline by GDAL from
    disk; see the module notes on memory. Write it in strips: polygonize over compressed tiles is
    about 50 times slower.

    Notes:
        With a band (not an array) as source, GDAL's polygonize georeferences the output with the
        raster's own geotransform and ignores the ``transform`` argument; the inverse geotransform
        brings the outlines back to pixel corners.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(polygon_classes_path) as classes:
            to_pixels = _shapely_params(~classes.transform)
            band = rasterio.band(classes, 1)
            for geometry, value in features.shapes(band, mask=band, connectivity=8):
                yield affinity.affine_transform(shape(geometry), to_pixels), int(value)


def _open_map(path: str) -> Any:
    """Open an output map; one without a CRS has no geotransform (:func:`~engine.io.raster.create_output_raster`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path)


@dataclass
class RegionStats:
    """Per-region raster statistics; ``background_sigma0`` (linear) is the wind's input (:mod:`engine.wind`)."""

    mean_prob: float | None
    max_prob: float | None
    contrast_db: float | None
    background_sigma0: float | None = None


@dataclass(frozen=True)
class Background:
    """The threshold detector's background (window in pixels, bright guard in dB), sampled on a region's ring."""

    window_px: int
    bright_guard_db: float = 6.0


def _without_holes(geometry: BaseGeometry) -> BaseGeometry:
    """Fill the region's holes: the contrast ring lies outside its outer outline(s)."""
    return shapely.union_all([Polygon(part.exterior) for part in shapely.get_parts(geometry)])


def region_stats(
    pixel_geometry: BaseGeometry,
    prob_band: int,
    probability: Any,
    polygon_classes: Any,
    scene: Scene,
    ring_px: int,
    background: Background | None = None,
) -> RegionStats:
    """Probability and contrast statistics of one region, read window by window (chunks of rows).

    The ring is the square dilation by ``ring_px`` of the region with its holes filled, minus that
    filled region, other detected regions and nodata; dilation is a box filter over the rasterised
    region, read with a halo of ``ring_px`` rows around each chunk.

    Notes:
        GDAL rasterises a polygon scanline by scanline over all of its edges, so a large region
        with thousands of holes is slow to rasterise whole. Each chunk rasterises only the part of
        the region clipped to that chunk, which keeps the cost near linear in the region size.

    Args:
        pixel_geometry: the region in pixel coordinates.
        prob_band: 1-based band of ``probability`` holding the region's class.
        probability: open probability GeoTIFF (uint8, :data:`PROB_SCALE`, nodata :data:`PROB_NODATA`).
        polygon_classes: open raster of polygon class ids (non-zero where any polygon class was detected).
        scene: the input scene (for σ0).
        ring_px: ring width in pixels.
        background: when given, ``background_sigma0`` is the mean over the ring of the guarded background
            mean (detected regions left out), computed within each chunk of rows.
    """
    info = scene.info
    filled = _without_holes(pixel_geometry)
    min_x, min_y, max_x, max_y = pixel_geometry.bounds
    col0, col1 = max(0, int(math.floor(min_x)) - ring_px), min(info.width, int(math.ceil(max_x)) + ring_px)
    row0, row1 = max(0, int(math.floor(min_y)) - ring_px), min(info.height, int(math.ceil(max_y)) + ring_px)
    prob_sum = prob_count = 0.0
    prob_max = -1.0
    inside_sum = inside_count = ring_sum = ring_count = background_sum = 0.0
    for start in range(row0, row1, STATS_CHUNK_ROWS):
        stop = min(row1, start + STATS_CHUNK_ROWS)
        halo_start, halo_stop = max(row0, start - ring_px), min(row1, stop + ring_px)
        filled_halo = _rasterize_clipped(filled, col0, halo_start, col1, halo_stop)
        near = ndimage.uniform_filter(filled_halo.astype(np.float32), 2 * ring_px + 1, mode="constant") > 1e-4
        chunk = slice(start - halo_start, stop - halo_start)
        window = Window(col0, start, col1 - col0, stop - start)
        inside = _rasterize_clipped(pixel_geometry, col0, start, col1, stop)
        undetected = polygon_classes.read(1, window=window) == 0
        ring = near[chunk] & ~filled_halo[chunk] & undetected
        if not (inside.any() or ring.any()):
            continue
        prob = probability.read(prob_band, window=window)
        prob_ok = inside & (prob != PROB_NODATA)
        if prob_ok.any():
            values = prob[prob_ok].astype(np.float64) / PROB_SCALE
            prob_sum += values.sum()
            prob_count += values.size
            prob_max = max(prob_max, float(values.max()))
        sigma0, valid = scene.read_sigma0(window)
        db = from_linear(sigma0, "db").astype(np.float64)
        inside_sum += db[inside & valid].sum()
        inside_count += np.count_nonzero(inside & valid)
        ring_sum += db[ring & valid].sum()
        ring_count += np.count_nonzero(ring & valid)
        if background is not None and (ring & valid).any():
            sea = valid & undetected
            local = guarded_background_mean(
                np.where(sea, sigma0, np.float32(0.0))[None],
                sea[None],
                background.window_px,
                background.bright_guard_db,
            )[0]
            background_sum += float(local[ring & valid].astype(np.float64).sum())
    contrast = inside_sum / inside_count - ring_sum / ring_count if inside_count and ring_count else None
    return RegionStats(
        mean_prob=round(prob_sum / prob_count, 4) if prob_count else None,
        max_prob=round(prob_max, 4) if prob_count else None,
        contrast_db=None if contrast is None else round(float(contrast), 2),
        background_sigma0=background_sum / ring_count if background is not None and ring_count else None,
    )


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _rasterize_clipped(geometry: BaseGeometry, col0: int, row0: int, col1: int, row1: int) -> np.ndarray:
    """Boolean mask of ``geometry`` (pixel coordinates) over columns ``col0:col1``, rows ``row0:row1``."""
    shape_px = (row1 - row0, col1 - col0)
    part = shapely.clip_by_rect(geometry, col0 - 1, row0 - 1, col1 + 1, row1 + 1)
    if part.is_empty:
        return np.zeros(shape_px, dtype=bool)
    return features.geometry_mask([part], shape_px, Affine.translation(col0, row0), invert=True)


def ship_length_m(pixel_geometry: BaseGeometry, scene: Scene) -> float | None:
    """Estimated hull length of a ship region in metres, from the spread of its bright pixels.

    The pixels of the region within :data:`SHIP_LENGTH_PEAK_DB` of its brightest pixel are taken as the
    hull; their positions (in ground metres, from the pixel size) have the largest principal variance
    ``λ``. A uniform bar of length ``L`` sampled by pixels of size ``d`` has ``λ = (L² - d²) / 12``, so
    ``L = √(12·λ + d²)`` (``d`` = the geometric mean pixel size). The threshold relative to the peak leaves
    out the sidelobe cross and most of the impulse-response spread, which would lengthen every bright ship,
    while the weak ends of a hull stay in.

    Notes:
        Measured on 128 simulated ships of 30-300 m (tuning scenes, not the test set): median error 13 m
        (9 %), mean absolute error 23 m, 90 % within 46 m, mean bias -6 m. Ships whose peak is less than
        20 dB above the sea around them come out about 27 m short (their weak hull ends sink into the sea),
        as do hulls over 220 m (-29 m); ships 20-30 dB above the sea come out about 6 m long. Two ships in
        one region, a ship beside a bright platform or a moving ship smeared in azimuth give their combined
        extent. Resolution limits hulls shorter than about 30 m (two GRD pixels) to about that.

    Returns:
        The length, or None when the region has no valid pixel.
    """
    info = scene.info
    min_x, min_y, max_x, max_y = pixel_geometry.bounds
    col0, row0 = max(0, int(math.floor(min_x))), max(0, int(math.floor(min_y)))
    col1, row1 = min(info.width, int(math.ceil(max_x))), min(info.height, int(math.ceil(max_y)))
    if col1 <= col0 or row1 <= row0:
        return None
    sigma0, valid = scene.read_sigma0(Window(col0, row0, col1 - col0, row1 - row0))
    inside = _rasterize_clipped(pixel_geometry, col0, row0, col1, row1) & valid
    if not inside.any():
        return None
    rows, cols = np.nonzero(inside)
    values = sigma0[rows, cols].astype(np.float64)
    bright = values >= values.max() * 10.0 ** (-SHIP_LENGTH_PEAK_DB / 10.0)
    size_x, size_y = info.pixel_size_m
    points = np.column_stack([cols[bright] * size_x, rows[bright] * size_y]).astype(np.float64)
    spread = float(np.linalg.eigvalsh(np.cov(points.T, bias=True))[-1]) if len(points) > 1 else 0.0
    return math.sqrt(12.0 * spread + size_x * size_y)


@dataclass
class VectorizeResult:
    """Counts and areas per class, and outlines for the quick-look."""

    counts: dict[str, int]
    areas_km2: dict[str, float]
    dropped_small: int
    outlines: list[tuple[str, np.ndarray]]
    #: ``(id, class name, col, row)``: a point inside each kept region (scene pixels), where the quick-look numbers it.
    labels: list[tuple[int, str, float, float]] = field(default_factory=list)


def iter_spill_records(
    polygon_classes_path: str,
    prob_path: str,
    scene: Scene,
    classes: tuple[SegClass, ...],
    min_area_km2: float,
    run_fields: dict[str, Any],
    result: VectorizeResult,
    progress: Progress | None = None,
    max_outlines: int = 20000,
    wind: WindEstimator | None = None,
    background_window_km: float = 0.5,
) -> Iterator[tuple[Polygon, dict[str, Any]]]:
    """Yield ``(geometry in the output CRS, attributes)`` for every kept region, updating ``result``.

    Args:
        polygon_classes_path: raster of class ids where a polygon class won, 0 elsewhere (see
            :func:`iter_regions`).
        prob_path: the probability raster written by detection.
        scene: the input scene (σ0 for contrast, georeferencing).
        classes: the detector's classes; class ids in the raster are ``SegClass.id`` and the
            probability band of class ``c`` is ``classes.index(c) + 1``.
        min_area_km2: minimum area of oil and look-alike regions.
        run_fields: ``source_scene``, ``detector``, ``model_id``, ``run_time`` for every record.
        result: filled in as records are produced (counts, areas, outlines for the quick-look).
        progress: checked for cancellation every 100 regions.
        max_outlines: outlines kept for the quick-look.
        wind: fills the wind attributes (:mod:`engine.wind`); None leaves them null.
        background_window_km: the background window the wind's σ0 is averaged over (the threshold
            detector's ``background_window_km``).
    """
    info = scene.info
    frame = MetricFrame(info, getattr(scene, "pixel_to_map", None))  # GCP mapping of radar-geometry products
    by_id = {c.id: (index + 1, c) for index, c in enumerate(classes)}
    # An upper bound for the cheap test below, never the reported area: the product of the column and row step
    # lengths is the pixel's area on a north-up or rotated grid and more than it (|a*e - b*d|) on a sheared one.
    pixel_area_km2 = info.pixel_size_m[0] * info.pixel_size_m[1] / 1e6
    ring_px = max(2, int(round(RING_M / min(info.pixel_size_m))))
    # Only a calibrated input gives a wind; the background of an uncalibrated one (DN) would be averaged for nothing.
    calibrated = wind is not None and wind.calibrated
    background = Background(window_px(background_window_km, info.pixel_size_m)) if calibrated else None
    next_id = 1
    stage = (progress or Progress()).stage("vectorise")
    with stage, _open_map(prob_path) as probability, _open_map(polygon_classes_path) as polygon_classes:
        for seen, (pixel_geometry, class_id) in enumerate(iter_regions(polygon_classes_path), start=1):
            if seen % 100 == 0:
                stage.advance(100)
            band, seg_class = by_id[class_id]
            pixels = int(round(pixel_geometry.area))
            if seg_class.name == SHIP.name:
                keep = pixels >= MIN_SHIP_PX
            else:
                # Cheap test on the pixel count first; the exact ground area decides near the limit.
                keep = pixels * pixel_area_km2 >= 0.8 * min_area_km2
            area_km2 = frame.to_metres(pixel_geometry).area / 1e6 if keep else 0.0
            if seg_class.name != SHIP.name and area_km2 < min_area_km2:
                keep = False
            if not keep:
                result.dropped_small += 1
                continue
            pixel_geometry = _polygonal(pixel_geometry)
            simplified = pixel_geometry.simplify(SIMPLIFY_PX, preserve_topology=True)
            stats = region_stats(
                pixel_geometry,
                band,
                probability,
                polygon_classes,
                scene,
                ring_px,
                background if seg_class.name in _DARK_CLASSES else None,
            )
            lon, lat = frame.centroid_lonlat(pixel_geometry)
            label = pixel_geometry.representative_point()
            winds = _wind_attributes(wind, seg_class.name, stats.background_sigma0, pixel_geometry.centroid)
            properties = {
                "id": next_id,
                "class": seg_class.name,
                "area_km2": round(area_km2, 6),
                **{k: round(v, 4) for k, v in shape_measures(frame.to_metres(simplified)).items()},
                "ship_length_m": _rounded(
                    ship_length_m(pixel_geometry, scene) if seg_class.name == SHIP.name else None, 1
                ),
                "mean_prob": stats.mean_prob,
                "max_prob": stats.max_prob,
                "confidence": confidence(seg_class.name, stats.mean_prob, stats.contrast_db, winds["wind_flag"]),
                "contrast_db": stats.contrast_db,
                **winds,
                "centroid_lat": None if lat is None else round(lat, 6),
                "centroid_lon": None if lon is None else round(lon, 6),
                "pixels": pixels,
                **run_fields,
            }
            result.labels.append((next_id, seg_class.name, label.x, label.y))
            next_id += 1
            result.counts[seg_class.name] = result.counts.get(seg_class.name, 0) + 1
            result.areas_km2[seg_class.name] = result.areas_km2.get(seg_class.name, 0.0) + area_km2
            for part in shapely.get_parts(simplified):
                if len(result.outlines) < max_outlines:
                    result.outlines.append((seg_class.name, np.asarray(part.exterior.coords)))
            yield frame.to_output(simplified), properties


def _wind_attributes(
    wind: WindEstimator | None, class_name: str, background_sigma0: float | None, centroid: BaseGeometry
) -> dict[str, Any]:
    """Wind fields of a region: estimated for oil and look-alikes (slicks), null for ships and without an estimator."""
    if wind is None or class_name not in _DARK_CLASSES:
        return dict.fromkeys(WIND_FIELDS)
    return wind.attributes(background_sigma0, centroid.x, centroid.y)


#: The wind attributes :func:`iter_spill_records` adds (see :class:`engine.wind.WindEstimator`).
WIND_FIELDS = ("wind_speed_ms", "wind_speed_min_ms", "wind_speed_max_ms", "wind_flag", "incidence_deg")
