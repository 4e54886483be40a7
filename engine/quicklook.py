"""The quick-look PNG: the scene in dB, reduced to at most :data:`QUICKLOOK_MAX_PX`, with the polygons drawn.

The background is averaged block by block *during* the detection pass (each scene pixel is seen
once, through the tiles' cores), so making the quick-look costs no second read of the scene.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import numpy as np
from affine import Affine
from PIL import Image, ImageDraw

from engine.classes import OSD_CLASSES
from engine.preprocess import from_linear

#: Longest side of the quick-look background, in pixels.
QUICKLOOK_MAX_PX = 1024
#: Small scenes are enlarged (nearest neighbour) until the longest side reaches this.
QUICKLOOK_MIN_PX = 512
#: Colour of nodata pixels (dark slate, distinct from dark sea).
NODATA_RGB = (40, 44, 52)
#: Outlines drawn between two checks for cancellation.
CANCEL_CHECK_OUTLINES = 500
#: Grey levels of the background, and the height of the title bar in pixels.
GREY_LEVELS = 64
TITLE_PX = 16
#: Polygon numbers drawn at most (beyond, the image would be numbers only; the table lists every polygon).
MAX_LABELS = 300


class QuicklookCanvas:
    """Block-averages a scene's σ0 in dB into a small image while the scene streams past.

    Args:
        height, width: scene size in pixels.
        max_px: longest side of the result.
    """

    def __init__(self, height: int, width: int, max_px: int = QUICKLOOK_MAX_PX) -> None:
        self.factor = max(1, math.ceil(max(height, width) / max_px))
        self.shape = (math.ceil(height / self.factor), math.ceil(width / self.factor))
        self._sum = np.zeros(self.shape, dtype=np.float64)
        self._count = np.zeros(self.shape, dtype=np.int64)

    def add(self, row0: int, col0: int, sigma0: np.ndarray, valid: np.ndarray) -> None:
        """Add a block of linear σ0 whose top-left scene pixel is (``row0``, ``col0``)."""
        if not valid.any():
            return
        f = self.factor
        rows = (row0 + np.arange(sigma0.shape[0])) // f
        cols = (col0 + np.arange(sigma0.shape[1])) // f
        first_row, first_col = rows[0], cols[0]
        local = (rows - first_row)[:, None] * (cols[-1] - first_col + 1) + (cols - first_col)[None, :]
        size = (rows[-1] - first_row + 1) * (cols[-1] - first_col + 1)
        db = from_linear(sigma0, "db")
        sums = np.bincount(local[valid], weights=db[valid], minlength=size)
        counts = np.bincount(local[valid], minlength=size)
        block = (slice(first_row, rows[-1] + 1), slice(first_col, cols[-1] + 1))
        self._sum[block] += sums.reshape(self._sum[block].shape)
        self._count[block] += counts.reshape(self._count[block].shape)

    def background(self) -> np.ndarray:
        """Return the mean dB per block, NaN where no valid pixel fell."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self._count > 0, self._sum / np.maximum(self._count, 1), np.nan)


def _palette() -> tuple[list[int], dict[str, int]]:
    """Build a palette (64 greys, nodata, class colours, white) and the index of each named colour."""
    colours = [(round(i * 255 / (GREY_LEVELS - 1)),) * 3 for i in range(GREY_LEVELS)]
    index = {"nodata": len(colours)}
    colours.append(NODATA_RGB)
    for seg_class in OSD_CLASSES:
        index[seg_class.name] = len(colours)
        colours.append(seg_class.rgb)
    index["text"] = len(colours)
    colours.append((255, 255, 255))
    flat = [v for rgb in colours for v in rgb]
    return flat + [0] * (768 - len(flat)), index


def stretch_db(db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``db`` stretched from its 2nd to 98th percentile to [0, 1], and where it is finite (NaN: no data)."""
    finite = np.isfinite(db)
    low, high = np.percentile(db[finite], [2, 98]) if finite.any() else (0.0, 1.0)
    return np.clip((np.nan_to_num(db, nan=low) - low) / max(high - low, 1e-6), 0, 1), finite


def map_flips(transform: Affine, has_crs: bool) -> tuple[bool, bool]:
    """Return (upside down, mirrored): how a scene's pixel grid lies against a map with north up and east right.

    A Sentinel-1 product kept in radar geometry is stored as the satellite saw it: an ascending pass's first line
    is its southernmost (upside down against the map QGIS shows beside it), and a descending pass looks west, so
    its columns run from east to west (mirrored). The quick-look is turned to the map's way, so that the analyst
    finds the slick where the map has it. Judged from the transform's (or its affine fit's) diagonal: a row step
    that goes north (``e > 0``) is upside down, a column step that goes west (``a < 0``) mirrored. Without a CRS
    the pixel grid is all there is, and is kept.
    """
    if not has_crs:
        return False, False
    return transform.e > 0, transform.a < 0


def render_quicklook(
    path: str | os.PathLike[str],
    canvas: QuicklookCanvas,
    outlines: Sequence[tuple[str, np.ndarray]],
    title: str,
    check_cancelled: Callable[[], None] | None = None,
    labels: Sequence[tuple[int, str, float, float]] = (),
    flips: tuple[bool, bool] = (False, False),
) -> tuple[int, int]:
    """Write the quick-look PNG: grey dB background (2–98 % stretch), class-coloured outlines, numbers, a title bar.

    The PNG is a palette image (64 grey levels plus the class colours), which keeps it small.

    Args:
        path: the PNG to write.
        canvas: the accumulated background.
        outlines: ``(class name, (N, 2) array of scene pixel (col, row) coordinates)`` per outline.
        title: one ASCII line shown at the top (scene and counts).
        check_cancelled: called every :data:`CANCEL_CHECK_OUTLINES` outlines (raises to stop): tens of
            thousands of long outlines take a while to draw.
        labels: ``(id, class name, col, row)`` per polygon to number (scene pixels), so the report's table and
            the analyst's eye meet on the image; at most :data:`MAX_LABELS` are drawn.
        flips: (upside down, mirrored) from :func:`map_flips`: the image is turned to the map's way, outlines too.

    Returns:
        The image size (width, height).
    """
    palette, colour = _palette()
    grey, finite = stretch_db(canvas.background())
    indices = np.rint(grey * (GREY_LEVELS - 1)).astype(np.uint8)
    indices[~finite] = colour["nodata"]
    zoom = max(1, QUICKLOOK_MIN_PX // max(indices.shape))
    indices = np.kron(indices, np.ones((zoom, zoom), dtype=np.uint8)) if zoom > 1 else indices
    flip_rows, flip_cols = flips
    indices = indices[:: -1 if flip_rows else 1, :: -1 if flip_cols else 1]
    height, width = indices.shape

    def place(col: float, row: float) -> tuple[float, float]:
        """Image (x, y) of a scene pixel position, in the picture turned as ``flips`` says (title bar excluded)."""
        x, y = col * scale, row * scale
        return (width - x if flip_cols else x), (height - y if flip_rows else y)

    image = Image.new("P", (indices.shape[1], indices.shape[0] + TITLE_PX), 0)
    image.putpalette(palette)
    image.paste(Image.fromarray(indices, "P"), (0, TITLE_PX))
    draw = ImageDraw.Draw(image)
    scale = zoom / canvas.factor
    line_width = max(2, round(max(image.size) / 400))  # thick enough to see a thin slick's outline
    for index, (class_name, ring) in enumerate(outlines):
        if check_cancelled is not None and index % CANCEL_CHECK_OUTLINES == 0:
            check_cancelled()
        points = [(x, y + TITLE_PX) for x, y in (place(col, row) for col, row in np.asarray(ring).tolist())]
        if len(points) >= 2:
            draw.line(points + [points[0]], fill=colour.get(class_name, colour["text"]), width=line_width)
    for polygon_id, class_name, col, row in list(labels)[:MAX_LABELS]:
        x, y = place(col, row)
        x, y = x + line_width + 1, y + TITLE_PX - 5
        draw.text((x, y), str(polygon_id), fill=colour.get(class_name, colour["text"]), stroke_width=1, stroke_fill=0)
    draw.text((4, 2), title.encode("ascii", "replace").decode(), fill=colour["text"])
    image.save(os.fspath(path), format="PNG", optimize=True)
    return image.size
