"""scikit-learn's handwritten digits, upscaled to Fashion-MNIST's 28 x 28 pixels.

The 1,797 digits (8 x 8 pixels, 16 grey levels) ship inside scikit-learn, so they
load offline. :func:`upscaled_digits` returns them as an :class:`ImageSet` of uint8
28 x 28 images, bright strokes on black like Fashion-MNIST, split once into a pool
to draw training labels from and a held-out test half.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cnncourse.data.imageset import ImageSet

__all__ = ["DIGIT_SPLITS", "upscaled_digits"]

DIGIT_SPLITS = ("pool", "test", "all")


def upscaled_digits(split: str = "all", size: int = 28) -> ImageSet:
    """The digits as ``(N, size, size, 1)`` uint8 images, class names ``"0"`` to ``"9"``.

    ``split="pool"`` and ``"test"`` are a fixed, stratified half each (every other
    image of each class, in file order); ``"all"`` is every image.
    """
    if split not in DIGIT_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(DIGIT_SPLITS)}.")
    if not isinstance(size, int) or isinstance(size, bool) or size < 8:
        raise ValueError(
            f"size must be an int of at least 8 (the digits' own size), got {size!r}."
        )
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = torch.as_tensor(digits.images, dtype=torch.float32)[:, None] / 16  # (N, 1, 8, 8)
    big = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    images = (big.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    labels = digits.target.astype(np.int64)
    if split != "all":
        rank = np.zeros(len(labels), dtype=np.int64)  # position of each image within its class
        for k in range(10):
            members = np.flatnonzero(labels == k)
            rank[members] = np.arange(len(members))
        keep = np.flatnonzero(rank % 2 == (0 if split == "pool" else 1))
        images, labels = images[keep], labels[keep]
    return ImageSet(images, labels, tuple(str(k) for k in range(10)), name=f"digits ({split})")
