"""Looking at augmentations: random versions of one image, and which images a transform changed.

:func:`augment_samples` draws ``n`` versions of one image from a torchvision transform
or a Keras preprocessing layer, for previews; :func:`changed_mask` tells which images of
a batch an augmentation changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from cnncourse._util import to_numpy
from cnncourse.runtime import seed_everything


def changed_mask(before: Any, after: Any) -> np.ndarray:
    """Which images of a batch differ after a transform: bool ``(B,)``.

    ``before`` and ``after`` are batches of the same shape ``(B, ...)`` (NumPy arrays,
    PyTorch or TensorFlow tensors). An image counts as changed when any value differs.
    """
    a, b = to_numpy(before, "before"), to_numpy(after, "after")
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(
            f"before and after must be batches (B, ...) of the same shape; got {a.shape} and {b.shape}."
        )
    return (a != b).reshape(len(a), -1).any(axis=1)


def _is_keras_layer(obj: Any) -> bool:
    return any(cls.__module__.split(".")[0] == "keras" for cls in type(obj).__mro__)


def augment_samples(
    augment: Callable, image: np.ndarray, n: int = 8, *, seed: int | None = None
) -> np.ndarray:
    """``n`` random versions of one image, as uint8 ``(n, H', W', C)``, for previews.

    Parameters
    ----------
    augment : callable
        A ``torchvision.transforms.v2`` transform (called ``n`` times on the image as a
        uint8 ``(C, H, W)`` tensor, one random draw a call) or a Keras preprocessing
        layer / ``keras.Sequential`` of them (called once on a batch of ``n`` copies
        with ``training=True``: Keras draws its parameters per image of a batch).
    image : np.ndarray
        uint8 ``(H, W, C)`` or ``(H, W)``, e.g. ``skimage.data.astronaut()``.
    n : int
        How many versions.
    seed : int, optional
        Seeds PyTorch (and Keras, when it is loaded) first, for repeatable previews.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(
            f"image must be uint8 (H, W, C) or (H, W), got {image.dtype} of shape {image.shape}."
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}.")
    if not callable(augment):
        raise TypeError(
            f"augment must be a transform or a Keras layer, got {type(augment).__name__}."
        )
    if image.ndim == 2:
        image = image[..., None]  # (H, W) -> (H, W, 1)
    if seed is not None:
        seed_everything(seed)
    if _is_keras_layer(augment):
        batch = np.repeat(image[None], n, axis=0).astype("float32")  # (n, H, W, C)
        out = np.asarray(augment(batch, training=True))
    else:
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)  # (C, H, W)
        versions = [augment(tensor) for _ in range(n)]
        out = torch.stack([torch.as_tensor(v) for v in versions]).permute(0, 2, 3, 1).numpy()
    if out.dtype != np.uint8:
        # Keras layers return float 0..255; transforms that scale return 0..1
        top = 1.0 if out.size and float(out.max()) <= 1.0 and image.max() > 1 else 255.0
        out = np.clip(np.rint(out * (255.0 / top)), 0, 255).astype(np.uint8)
    return out
