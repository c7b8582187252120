"""Marks that are not digits, as strokes on the app's 280x280 canvas: what a student draws to test the model.

Each shape is a list of strokes, each stroke a list of (x, y) canvas points, so the same shape can be rendered
here (PIL lines with round ends and joins, like the canvas's brush) or dragged with the mouse in a browser test
(browser_support.draw_strokes). Points are fixed, not random, so every test sees the same marks.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from conftest import CANVAS

Stroke = list[tuple[float, float]]
PEN = 22  # the Draw page's default stroke width

DOT = [[(140.0, 140.0), (141.0, 141.0)]]  # a tap: one short stroke
# A letter A: two slanted strokes meeting at the top and a crossbar, filling most of the canvas.
LETTER_A = [[(80.0, 240.0), (140.0, 40.0), (200.0, 240.0)], [(105.0, 160.0), (175.0, 160.0)]]
LETTER_K = [[(90.0, 40.0), (90.0, 240.0)], [(200.0, 40.0), (90.0, 150.0), (200.0, 240.0)]]
# A scribble: one stroke zigzagging through 25 points spread over the canvas (fixed, drawn once from a seeded rng).
SCRIBBLE = [[(float(x), float(y)) for x, y in np.random.default_rng(0).uniform(50, 230, (25, 2)).round()]]
HASH = [[(110.0, 50.0), (100.0, 230.0)], [(180.0, 50.0), (170.0, 230.0)], [(60.0, 110.0), (220.0, 110.0)],
        [(60.0, 170.0), (220.0, 170.0)]]
# A real digit "1" drawn with the thinnest pen the page offers (5 px) over the whole canvas height.
HAIRLINE_ONE = [[(140.0, 30.0), (140.0, 250.0)]]


def render(strokes: list[Stroke], pen: int = PEN) -> np.ndarray:
    """The strokes drawn white on the app's opaque black RGBA canvas."""
    image = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(image)
    radius = pen / 2
    for stroke in strokes:
        if len(stroke) > 1:
            draw.line(stroke, fill=255, width=pen, joint="curve")
        for x, y in stroke:  # round caps and joins, as the canvas's brush draws them
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=255)
    canvas = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    canvas[..., :3] = np.asarray(image)[..., None]
    canvas[..., 3] = 255
    return canvas
