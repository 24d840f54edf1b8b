"""Validators every model shares, in both frameworks (no framework is imported here).

Each model file imports them from here, never from the package's public face, so the
twins of an architecture check their arguments with the same words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _prod(shape: Sequence[int]) -> int:
    result = 1
    for size in shape:
        result *= int(size)
    return result


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


def check_config(
    in_channels: int, num_classes: int, image_size: int | Sequence[int], *, min_size: int = 1
) -> tuple[int, int, tuple[int, int]]:
    """Validate the common constructor arguments; return ``(C, classes, (H, W))``.

    ``min_size`` is the smallest side the architecture can shrink to 1 pixel
    (``2**k`` for ``k`` 2x2 poolings).
    """
    _positive_int(in_channels, "in_channels")
    _positive_int(num_classes, "num_classes")
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        hw = (image_size, image_size)
    elif isinstance(image_size, Sequence) and len(image_size) == 2:
        hw = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(
            f"image_size must be an int (square images) or (height, width), got {image_size!r}."
        )
    if min(hw) < min_size:
        raise ValueError(
            f"image_size {hw} is too small for this model: each side must be at least "
            f"{min_size} pixels. Resize the images or pick a model with fewer poolings."
        )
    return in_channels, num_classes, hw


def check_rate(value: float, name: str) -> float:
    """A dropout rate in ``[0, 1)``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a float in [0, 1), got {value!r}.")
    return float(value)


def check_widths(values: int | Sequence[int], name: str, *, allow_empty: bool) -> tuple[int, ...]:
    """A tuple of positive layer widths (an int means one layer)."""
    widths = (values,) if isinstance(values, int) else tuple(values)
    if not widths and not allow_empty:
        raise ValueError(f"{name} must name at least one width, got {values!r}.")
    for width in widths:
        _positive_int(width, f"every entry of {name}")
    return widths


def shape_error(expected: tuple[int, ...], got: tuple[int, ...], channels_first: bool) -> str:
    """The message for an input of the wrong shape, with the constructor call that fits it.

    ``expected`` is the shape of one image, ``got`` the shape of the whole batch.
    """
    layout = "(N, C, H, W)" if channels_first else "(N, H, W, C)"
    expected_text = "(N, " + ", ".join(str(s) for s in expected) + ")"
    if len(got) != len(expected) + 1:
        return (
            f"expected {expected_text} images, got a tensor of shape {tuple(got)}: pass a "
            f"batch shaped {layout}; for a single image add the batch axis with x[None]."
        )
    image = tuple(int(s) for s in got[1:])
    got_text = "(N, " + ", ".join(str(s) for s in image) + ")"
    channels, height, width = image if channels_first else (image[2], image[0], image[1])
    size = str(height) if height == width else f"({height}, {width})"
    hint = f"build the model with in_channels={channels}, image_size={size}"
    if channels_first and image == (expected[1], expected[2], expected[0]):
        hint = "the batch looks channels-last (N, H, W, C): reorder it with x.permute(0, 3, 1, 2)"
    elif not channels_first and image == (expected[2], expected[0], expected[1]):
        hint = "the batch looks channels-first (N, C, H, W): reorder it to (N, H, W, C)"
    return f"expected {expected_text} images, got {got_text}: {hint}."
