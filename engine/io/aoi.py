"""``--aoi FILE|xmin,ymin,xmax,ymax[,crs]``: detect only inside an area of interest.

The area is a polygon layer (its polygons, any CRS) or an extent typed as four numbers and an optional
CRS (``EPSG:4326`` when none is given: what an alert or a map shows). It is placed on the scene's pixel
grid with the land mask's machinery (:class:`engine.io.landmask.PixelPolygons`), and the scene is wrapped
so that pixels outside read as invalid. A window wholly outside is answered without reading the scene,
so tiles outside the area are never read, and the stitcher skips them as empty.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from typing import Any

import numpy as np
import shapely
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.windows import Window
from shapely.geometry import box

from engine.errors import InputError
from engine.io.landmask import PixelPolygons, layer_contents_without_polygons
from engine.io.scene import Scene

log = logging.getLogger("dakd")

_NUMBER = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
_EXTENT = re.compile(rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}(?:,\s*(.+?)\s*)?$")
_HOW = "give a polygon layer or xmin,ymin,xmax,ymax[,crs] (e.g. 19.5,35.8,20.3,36.4,EPSG:4326)"


def parse_extent(text: str) -> tuple[tuple[float, float, float, float], CRS] | None:
    """Return ``((xmin, ymin, xmax, ymax), crs)`` for an extent typed as text, or None if it is not one.

    Raises:
        InputError: it looks like an extent but is empty or names an unknown CRS.
    """
    match = _EXTENT.match(text)
    if match is None:
        return None
    xmin, ymin, xmax, ymax = (float(v) for v in match.groups()[:4])
    try:
        crs = CRS.from_user_input(match.group(5) or "EPSG:4326")
    except CRSError:
        raise InputError(
            f"--aoi {text}: {match.group(5)} is not a coordinate system; use e.g. EPSG:4326 or EPSG:32634"
        ) from None
    if crs.is_geographic and xmax < xmin and xmax + 360 - xmin < 180:
        xmax += 360  # across the antimeridian (179.9 to -179.9); a swapped pair would span more than half the globe
    if not (xmin < xmax and ymin < ymax):
        raise InputError(f"--aoi {text}: xmin must be less than xmax and ymin less than ymax; {_HOW}")
    return (xmin, ymin, xmax, ymax), crs


class AoiScene:
    """A scene whose pixels outside the area of interest read as invalid, and are not read at all.

    ``valid_before_aoi`` records whether any pixel read (the windows that meet the area) was valid before the
    area cut it, so a run left with nothing to search blames the area only when the area removed something.
    """

    def __init__(self, scene: Scene, area: PixelPolygons, spec: str) -> None:
        self.scene = scene
        self.area = area
        self.reads_skipped = 0
        self.valid_before_aoi = False
        bounds = shapely.unary_union(area.polygons).bounds
        self.info = replace(
            scene.info,
            metadata={
                **scene.info.metadata,
                "aoi": {
                    "source": spec,
                    "polygons": len(area.polygons),
                    "pixel_bounds": [round(float(v), 1) for v in bounds],
                },
            },
        )

    def read_sigma0(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Read the window (only if it meets the area), with pixels outside the area invalid (value 0)."""
        shape = (int(window.height), int(window.width))
        if not self.area.touches(window):
            self.reads_skipped += 1
            return np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=bool)
        values, valid = self.scene.read_sigma0(window)
        if not self.valid_before_aoi and valid.any():
            self.valid_before_aoi = True
        inside = self.area.land(window)
        if not inside.all():
            values = np.where(inside, values, np.float32(0.0))
            valid = valid & inside
        return values, valid

    def close(self) -> None:
        """Close the underlying scene."""
        self.scene.close()

    def __getattr__(self, name: str) -> Any:  # gcps, pixel_to_map, non_finite_reads... of the wrapped scene
        if name == "scene":
            raise AttributeError(name)
        return getattr(self.scene, name)


def check_aoi(spec: str | os.PathLike[str]) -> None:
    """Refuse an area of interest that cannot work without opening the scene (before the scene is read).

    Raises:
        InputError: ``spec`` is neither a file nor an extent, or a file that cannot be read or holds no polygon.
    """
    text = os.fspath(spec)
    if not os.path.exists(text):
        if parse_extent(text) is None:
            raise _not_an_area(text)
        return
    contents = layer_contents_without_polygons(text, "--aoi")
    if contents is not None:
        raise _no_polygon(text, contents)


def _not_an_area(text: str) -> InputError:
    return InputError(f"--aoi {text}: no such file, and not an extent; {_HOW}")


def _no_polygon(text: str, contents: str) -> InputError:
    """Points or lines: "outside the scene" would send the analyst to move them."""
    return InputError(
        f"--aoi {text}: holds {contents}; an area of interest needs polygons "
        "(or give an extent xmin,ymin,xmax,ymax[,crs])"
    )


def area_of_interest(scene: Scene, spec: str | os.PathLike[str]) -> PixelPolygons:
    """Place the area of interest ``spec`` on the scene's pixel grid, clipped to the scene.

    Raises:
        InputError: the area is neither a file nor an extent, cannot be read, holds no polygon, or lies outside
            the scene.
    """
    text = os.fspath(spec)
    is_file = os.path.exists(text)
    if is_file:
        area = PixelPolygons(text, scene, option="--aoi")
    else:
        extent = parse_extent(text)
        if extent is None:
            raise _not_an_area(text)
        area = PixelPolygons(text, scene, geometries=([box(*extent[0])], extent[1]), option="--aoi")
    info = scene.info
    area.clip_to(info.width, info.height)
    contents = area.contents_without_polygons() if is_file and not area.polygons else None
    if contents is not None:
        raise _no_polygon(text, contents)
    if not area.polygons:
        raise InputError(
            f"--aoi {text}: lies outside the scene {info.path}; give an area that overlaps it "
            "(an extent without a CRS is read as EPSG:4326 longitude/latitude)"
        )
    log.info("area of interest %s: %d polygon(s) on the scene", text, len(area.polygons))
    return area
