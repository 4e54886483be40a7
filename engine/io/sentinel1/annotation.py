"""Parsing of the Sentinel-1 L1 annotation XML: image facts, calibration LUTs, noise vectors, GCPs.

The XML layout follows the Sentinel-1 Product Specification (S1-RS-MDA-52-7441) and the product
annotation schemas shipped in each ``.SAFE/support`` folder. Only what the engine needs is read.

Two generations of noise annotation exist and both are parsed:

* IPF < 2.9: ``noiseVectorList/noiseVector`` with a ``noiseLut`` per range vector (range only).
* IPF >= 2.9: ``noiseRangeVectorList/noiseRangeVector`` (``noiseRangeLut``) plus
  ``noiseAzimuthVectorList/noiseAzimuthVector`` blocks (``noiseAzimuthLut``), one or more per
  sub-swath, each valid on a rectangle of lines x samples.

Notes:
    The XML is parsed with the standard library. Python >= 3.11 bundles expat >= 2.4.1, which refuses
    entity-expansion bombs, and ElementTree never fetches external entities, so reading a product a
    user downloaded is safe without ``defusedxml``.
"""

from __future__ import annotations

# Safe for user files with Python's bundled expat (see the module Notes).
import xml.etree.ElementTree as ET  # nosec B405
from dataclasses import dataclass

import numpy as np

from engine.errors import InputError


def parse_xml(data: bytes, name: str) -> ET.Element:
    """Parse an annotation file's bytes; a broken file becomes a one-line :class:`InputError`."""
    try:
        return ET.fromstring(data)  # nosec B314
    except ET.ParseError as error:
        raise InputError(f"{name}: not valid XML ({error}); the product is damaged, download it again") from None


def local_name(tag: str) -> str:
    """Return the tag without its ``{namespace}`` prefix (the manifest mixes several namespaces)."""
    return tag.rsplit("}", 1)[-1]


def _text(root: ET.Element, path: str, name: str) -> str:
    node = root.find(path)
    if node is None or node.text is None:
        raise InputError(f"{name}: missing <{path.split('/')[-1]}>; the annotation is incomplete or not Sentinel-1")
    return node.text.strip()


def _numbers(node: ET.Element | None, name: str, dtype: type = float) -> np.ndarray:
    if node is None or node.text is None:
        raise InputError(f"{name}: a LUT vector is empty; the annotation is incomplete")
    return np.array(node.text.split(), dtype=np.float64).astype(dtype)


@dataclass(frozen=True)
class LineVectors:
    """LUT vectors given at some image lines, each sampled at its own pixel positions.

    This is the shape of the calibration LUTs (``calibrationVector``) and of the range noise vectors.
    Vectors may differ in length and pixel positions (they do in recent IPF noise annotations).
    """

    lines: np.ndarray  # (n,) int64, ascending
    pixels: tuple[np.ndarray, ...]  # n arrays of ascending pixel positions
    values: tuple[np.ndarray, ...]  # n arrays of LUT values, same lengths as ``pixels``


@dataclass(frozen=True)
class AzimuthNoiseBlock:
    """One ``noiseAzimuthVector``: an azimuth LUT valid on lines × samples of one sub-swath block."""

    swath: str
    first_line: int
    last_line: int
    first_sample: int
    last_sample: int
    lines: np.ndarray  # ascending line positions of the LUT
    values: np.ndarray


@dataclass(frozen=True)
class NoiseAnnotation:
    """Thermal noise vectors; ``azimuth_blocks`` is empty for IPF < 2.9 products."""

    range_vectors: LineVectors
    azimuth_blocks: tuple[AzimuthNoiseBlock, ...]
    generation: str  # "range-only (IPF < 2.9)" or "range x azimuth (IPF >= 2.9)"


@dataclass(frozen=True)
class GeolocationGrid:
    """The annotation's geolocation grid: tie points (line, pixel) -> (lat, lon, height) on WGS84."""

    lines: np.ndarray
    pixels: np.ndarray
    latitudes: np.ndarray
    longitudes: np.ndarray
    heights_m: np.ndarray
    incidence_deg: np.ndarray


@dataclass(frozen=True)
class ImageAnnotation:
    """Facts from the product annotation (``annotation/s1?-*.xml``) of one polarisation."""

    mission: str
    product_type: str
    mode: str
    polarisation: str
    width: int
    height: int
    range_spacing_m: float
    azimuth_spacing_m: float
    first_line_time: str
    last_line_time: str
    pass_direction: str
    incidence_mid_deg: float
    geolocation: GeolocationGrid


def parse_image_annotation(root: ET.Element, name: str) -> ImageAnnotation:
    """Read image size, spacing, times and the geolocation grid from a product annotation."""
    info = "imageAnnotation/imageInformation/"
    points = root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    if len(points) < 4:
        raise InputError(f"{name}: the geolocation grid has {len(points)} points (need >= 4); cannot georeference")
    grid = np.array(
        [
            [
                float(_text(p, key, name))
                for key in ("line", "pixel", "latitude", "longitude", "height", "incidenceAngle")
            ]
            for p in points
        ]
    )
    return ImageAnnotation(
        mission=_text(root, "adsHeader/missionId", name),
        product_type=_text(root, "adsHeader/productType", name),
        mode=_text(root, "adsHeader/mode", name),
        polarisation=_text(root, "adsHeader/polarisation", name).upper(),
        width=int(_text(root, info + "numberOfSamples", name)),
        height=int(_text(root, info + "numberOfLines", name)),
        range_spacing_m=float(_text(root, info + "rangePixelSpacing", name)),
        azimuth_spacing_m=float(_text(root, info + "azimuthPixelSpacing", name)),
        first_line_time=_text(root, info + "productFirstLineUtcTime", name),
        last_line_time=_text(root, info + "productLastLineUtcTime", name),
        pass_direction=_text(root, "generalAnnotation/productInformation/pass", name),
        incidence_mid_deg=float(_text(root, info + "incidenceAngleMidSwath", name)),
        geolocation=GeolocationGrid(*(np.ascontiguousarray(column) for column in grid.T)),
    )


def _line_vectors(vectors: list[ET.Element], lut_tag: str, name: str) -> LineVectors:
    if not vectors:
        raise InputError(f"{name}: no <{lut_tag}> vectors; the annotation is incomplete")
    rows = []
    for vector in vectors:
        line = int(_text(vector, "line", name))
        pixels = _numbers(vector.find("pixel"), name, np.int64)
        values = _numbers(vector.find(lut_tag), name)
        if pixels.size != values.size or pixels.size == 0:
            raise InputError(
                f"{name}: a <{lut_tag}> vector at line {line} has {values.size} values "
                f"for {pixels.size} pixels; the annotation is damaged"
            )
        rows.append((line, pixels, values))
    rows.sort(key=lambda row: row[0])  # they are in order in real products; be safe
    return LineVectors(
        lines=np.array([row[0] for row in rows], dtype=np.int64),
        pixels=tuple(row[1] for row in rows),
        values=tuple(row[2] for row in rows),
    )


def parse_calibration(root: ET.Element, name: str, lut: str = "sigmaNought") -> LineVectors:
    """Read one calibration LUT (``sigmaNought`` by default) from a calibration annotation."""
    return _line_vectors(root.findall("calibrationVectorList/calibrationVector"), lut, name)


def parse_noise(root: ET.Element, name: str) -> NoiseAnnotation:
    """Read the thermal-noise annotation of either generation (see the module docstring)."""
    range_nodes = root.findall("noiseRangeVectorList/noiseRangeVector")
    if not range_nodes:
        legacy = root.findall("noiseVectorList/noiseVector")
        return NoiseAnnotation(_line_vectors(legacy, "noiseLut", name), (), "range-only (IPF < 2.9)")
    blocks = []
    for node in root.findall("noiseAzimuthVectorList/noiseAzimuthVector"):
        lines = _numbers(node.find("line"), name, np.int64)
        values = _numbers(node.find("noiseAzimuthLut"), name)
        if lines.size != values.size:
            raise InputError(f"{name}: a noiseAzimuthVector has {values.size} values for {lines.size} lines")
        swath = node.find("swath")
        blocks.append(
            AzimuthNoiseBlock(
                swath=swath.text.strip() if swath is not None and swath.text else "",
                first_line=int(_text(node, "firstAzimuthLine", name)),
                last_line=int(_text(node, "lastAzimuthLine", name)),
                first_sample=int(_text(node, "firstRangeSample", name)),
                last_sample=int(_text(node, "lastRangeSample", name)),
                lines=lines,
                values=values,
            )
        )
    return NoiseAnnotation(
        _line_vectors(range_nodes, "noiseRangeLut", name), tuple(blocks), "range x azimuth (IPF >= 2.9)"
    )
