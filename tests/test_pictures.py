"""wbrad.pictures: panels at their millimetre aspect, outlines, tints and text where the array puts them."""

from __future__ import annotations

import numpy as np
from PIL import Image

from wbrad.pictures import Canvas, edge, grey, tint


def test_grey_tint_and_edge():
    assert grey(np.array([-100.0, 0.0, 50.0, 200.0]), (0.0, 100.0))[:, 0].tolist() == [0, 0, 128, 255]
    assert grey(np.array([0.0, 100.0]), (0.0, 100.0), invert=True)[:, 0].tolist() == [255, 0]
    rgb = tint(np.zeros((2, 2, 3), np.uint8), np.array([[True, False], [False, False]]), (255, 0, 0), 0.5)
    assert rgb[0, 0].tolist() == [128, 0, 0] and rgb[1, 1].tolist() == [0, 0, 0]
    square = np.zeros((5, 5), bool)
    square[1:4, 1:4] = True
    assert edge(square).sum() == 8 and not edge(square)[2, 2]  # the ring of the 3 x 3 square, not its centre


def test_a_panel_keeps_the_millimetre_aspect_and_places_marks_on_the_array(tmp_path):
    canvas = Canvas(400, 400)
    array = np.zeros((10, 20), bool)  # 10 rows of 4 mm, 20 columns of 1 mm: 40 x 20 mm, twice as tall as wide
    array[0, :] = True  # the bottom row once flipped
    panel = canvas.panel(0, grey(array, (0, 1)), (4.0, 1.0), "title", lower=True)
    assert abs(panel.height / panel.width - 2.0) < 0.02 and panel.height > 300
    x, y = panel.at(0, 0)  # row 0 drawn at the bottom
    assert panel.left < x < panel.left + panel.width / 10 and y > panel.top + 0.9 * panel.height
    mask = np.zeros((10, 20), bool)
    mask[4:6, 8:12] = True
    canvas.outline(panel, mask, (255, 0, 0))
    canvas.save(tmp_path / "p.png")
    pixels = np.asarray(Image.open(tmp_path / "p.png").convert("RGB")).astype(int)
    red = (pixels[..., 0] == 255) & (pixels[..., 1] == 0)
    rows, cols = np.nonzero(red)
    (x0, y0), (x1, y1) = panel.at(5.5, 7.5), panel.at(3.5, 11.5)  # the mask's corners, rows 4-5 drawn upwards
    assert abs(cols.min() - x0) <= 1 and abs(cols.max() - x1) <= 2 and abs(rows.min() - y0) <= 1
    assert abs(rows.max() - y1) <= 2
    assert not red[round((y0 + y1) / 2), round((x0 + x1) / 2)]  # an outline, not a fill
