"""A digit drawn with a font, to explain label-changing augmentations where MNIST is not at hand.

It is synthetic, for explaining an operation (a 6 turned upside down reads as a 9), not
data to report results on; say so where it is shown.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def synthetic_digit(digit: int | str, size: int = 28) -> np.ndarray:
    """A digit drawn in white on black with Pillow's built-in font: uint8 ``(size, size, 1)``.

    Synthetic, for explaining an operation (a 6 turned upside down reads as a 9), not
    data to report results on. Drawn four times larger and scaled down, so its edges are
    smooth like a scanned digit's.
    """
    text = str(digit)
    if len(text) != 1 or not text.isdigit():
        raise ValueError(f"digit must be one of 0-9, got {digit!r}.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int of at least 8 pixels, got {size!r}.")
    big = 4 * size
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=int(0.8 * big))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    # centre the glyph's ink box, not the text origin
    draw.text(
        ((big - (right - left)) / 2 - left, (big - (bottom - top)) / 2 - top),
        text,
        fill=255,
        font=font,
    )
    small = canvas.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.uint8)[..., None]
