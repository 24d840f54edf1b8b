"""How much memory a dataset needs: bytes of ``N`` images, and the count in readable units."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def dataset_bytes(num_images: int, image_shape: Sequence[int], dtype: Any = "uint8") -> int:
    """Bytes needed to hold ``num_images`` images of ``image_shape`` as ``dtype`` in memory.

    Parameters
    ----------
    num_images : int
        How many images.
    image_shape : sequence of int
        The shape of one image, e.g. ``(28, 28, 1)`` or ``(3, 224, 224)``.
    dtype : NumPy dtype or its name
        ``"uint8"`` (1 byte a value, as files decode), ``"float32"`` (4 bytes, what
        models take), ...

    Examples
    --------
    >>> dataset_bytes(70_000, (28, 28, 1))
    54880000
    >>> dataset_bytes(70_000, (28, 28, 1), "float32")
    219520000
    """
    if (
        isinstance(num_images, bool)
        or not isinstance(num_images, int | np.integer)
        or num_images < 0
    ):
        raise ValueError(f"num_images must be a non-negative int, got {num_images!r}.")
    shape = tuple(image_shape)
    if not shape or any(
        isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1 for s in shape
    ):
        raise ValueError(
            f"image_shape must be a sequence of positive ints such as (28, 28, 1), got {image_shape!r}."
        )
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError as err:
        raise TypeError(
            f"dtype {dtype!r} is not a NumPy dtype; use e.g. 'uint8' or 'float32'."
        ) from err
    return int(num_images) * math.prod(int(s) for s in shape) * itemsize


def format_bytes(num_bytes: float) -> str:
    """A byte count in decimal units with three significant digits: ``"54.9 MB"``."""
    if isinstance(num_bytes, bool) or not isinstance(num_bytes, int | float | np.number):
        raise TypeError(f"num_bytes must be a number, got {type(num_bytes).__name__}.")
    if num_bytes < 0 or not math.isfinite(num_bytes):
        raise ValueError(f"num_bytes must be a finite non-negative number, got {num_bytes!r}.")
    value, unit = float(num_bytes), 0
    while value >= 999.5 and unit < len(_UNITS) - 1:
        value, unit = value / 1000, unit + 1
    if unit == 0:
        return f"{int(value)} B"
    return f"{value:.3g} {_UNITS[unit]}"
