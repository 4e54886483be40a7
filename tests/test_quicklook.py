"""The quick-look numbers each polygon, so the report's table and the image meet."""

import numpy as np
from affine import Affine
from PIL import Image

from engine.quicklook import TITLE_PX, QuicklookCanvas, map_flips, render_quicklook


def test_polygons_are_numbered_in_their_class_colour(tmp_path):
    canvas = QuicklookCanvas(512, 512)
    canvas.add(0, 0, np.full((512, 512), 0.05, np.float32), np.ones((512, 512), bool))
    ring = np.array([[100, 100], [300, 100], [300, 140], [100, 140]], float)
    plain, numbered = tmp_path / "plain.png", tmp_path / "numbered.png"
    render_quicklook(plain, canvas, [("oil", ring)], "t")
    render_quicklook(numbered, canvas, [("oil", ring)], "t", labels=[(7, "oil", 200.0, 120.0)])
    before = np.asarray(Image.open(plain).convert("RGB"))
    after = np.asarray(Image.open(numbered).convert("RGB"))
    changed = np.argwhere((before != after).any(axis=2))
    assert len(changed) > 10  # the digit, with its dark stroke
    rows, cols = changed[:, 0] - TITLE_PX, changed[:, 1]
    assert 100 < rows.mean() < 140 and 195 < cols.mean() < 225  # beside the label point, inside the outline
    oil_red = tuple(after[tuple(changed[np.argmax(after[changed[:, 0], changed[:, 1]].sum(axis=1))])])
    assert oil_red != (0, 0, 0)


def test_a_south_up_scene_is_shown_north_up_with_its_outlines(tmp_path):
    """Audit: an ascending Sentinel-1 pass in radar geometry (rows run north) came out upside down against the map
    QGIS shows beside it; the picture and its outlines are turned to the map's way."""
    canvas = QuicklookCanvas(512, 512)
    sigma0 = np.full((512, 512), 0.01, np.float32)
    sigma0[:128] = 1.0  # bright first rows: the south of a south-up scene
    canvas.add(0, 0, sigma0, np.ones((512, 512), bool))
    ring = np.array([[100, 20], [300, 20], [300, 60], [100, 60]], float)  # oil near the first rows
    as_stored, turned = tmp_path / "as_stored.png", tmp_path / "turned.png"
    render_quicklook(as_stored, canvas, [("oil", ring)], "t")
    render_quicklook(turned, canvas, [("oil", ring)], "t", flips=map_flips(Affine(10, 0, 0, 0, 10, 0), True))
    for path, bright_rows, oil_rows in ((as_stored, slice(0, 128), (20, 60)), (turned, slice(384, 512), (452, 492))):
        picture = np.asarray(Image.open(path).convert("RGB")).astype(int)[TITLE_PX:]
        grey = picture.mean(axis=2)
        assert grey[bright_rows, 400:].mean() > grey[:, 400:].mean() + 50, path.name
        colour = np.argwhere(np.ptp(picture, axis=2) > 60)  # the outline: the only coloured pixels
        assert oil_rows[0] - 3 <= colour[:, 0].min() and colour[:, 0].max() <= oil_rows[1] + 3, (path.name, colour)


def test_map_flips_follow_the_transform_and_keep_pixel_space():
    assert map_flips(Affine(10, 0, 0, 0, -10, 0), True) == (False, False)  # north up
    assert map_flips(Affine(10, 0, 0, 0, 10, 0), True) == (True, False)  # ascending radar geometry
    assert map_flips(Affine(-10, 0, 0, 0, -10, 0), True) == (False, True)  # descending radar geometry
    assert map_flips(Affine(1, 0, 0, 0, 1, 0), False) == (False, False)  # no CRS: pixel space as it is
