"""The quick-look numbers each polygon, so the report's table and the image meet."""

import numpy as np
from PIL import Image

from engine.quicklook import TITLE_PX, QuicklookCanvas, render_quicklook


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
