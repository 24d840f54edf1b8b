"""Pooling from scratch in NumPy: max, average and global average, layout ``(N, C, H, W)``.

Pooling slides a window like convolution but has no weights: each channel is
reduced on its own (max or mean), so the channel count never changes.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnncourse.ops.conv import _as_array, _float_dtype, _out_size, _pad, _pair


def _windows(x, kernel, stride, padding, pad_value, op: str) -> np.ndarray:
    """All pooling windows of ``x``: ``(N, C, H_out, W_out, kh, kw)`` (a view, no copy)."""
    x = _as_array(x, "x", 4, "(N, C, H, W)")
    kh, kw = _pair(kernel, "kernel", minimum=1)
    # PyTorch's default: windows do not overlap (stride = kernel size).
    sh, sw = (kh, kw) if stride is None else _pair(stride, "stride", minimum=1)
    if isinstance(padding, str):
        raise ValueError(
            f"{op} takes an int or a pair (ph, pw) as padding, got {padding!r}. Keras' "
            "'same' pooling pads unevenly and (for the average) leaves the padding out of "
            "the count; use padding=0 to match Keras' 'valid'."
        )
    ph, pw = _pair(padding, "padding", minimum=0)
    if ph > kh // 2 or pw > kw // 2:
        # Beyond half a window, some windows would hold nothing but padding.
        raise ValueError(
            f"padding ({ph}, {pw}) must be at most half the kernel ({kh}, {kw}), i.e. "
            f"<= ({kh // 2}, {kw // 2}), as in PyTorch; otherwise some windows would hold "
            "only padding. Use less padding or a bigger kernel."
        )
    pads = ((ph, ph), (pw, pw))
    for n, p, k in zip(x.shape[2:], pads, (kh, kw), strict=True):
        _out_size(n, p, k, 1, 1)  # raises when the window is larger than the padded input
    xp = _pad(x, pads, pad_value)  # (N, C, H + 2ph, W + 2pw)
    # Every kh x kw window at stride 1, then keep every sh-th / sw-th start.
    return sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def _lowest(dtype: np.dtype):
    """The padding value that never wins a max: -inf, or the smallest integer (uint8 stays uint8)."""
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    return False  # bool


def max_pool2d(x, kernel, stride=None, padding=0) -> np.ndarray:
    """Max pooling: the largest value in each ``kernel`` window.

    Parameters
    ----------
    x : array (N, C, H, W)
    kernel : int or (kh, kw)
    stride : int, (sh, sw) or None
        None (default) means ``stride = kernel``: non-overlapping windows.
    padding : int or (ph, pw)
        Implicit ``-inf`` on each side (so padding never wins the max), at most half
        the kernel, as in ``torch.nn.functional.max_pool2d``.

    Returns
    -------
    array (N, C, H_out, W_out) with ``H_out = conv_output_size(H, kh, sh, ph)``
    (floor rule, like PyTorch's ``ceil_mode=False`` and Keras' ``padding="valid"``).
    """
    x = _as_array(x, "x", 4, "(N, C, H, W)")
    windows = _windows(x, kernel, stride, padding, _lowest(x.dtype), "max_pool2d")
    return windows.max(axis=(-2, -1))  # (N, C, H_out, W_out)


def avg_pool2d(x, kernel, stride=None, padding=0) -> np.ndarray:
    """Average pooling: the mean of each ``kernel`` window.

    Padding is zeros and *counts* in the mean (PyTorch's default
    ``count_include_pad=True``): a corner window with padding 1 and kernel 3 divides
    the sum of its 4 real pixels by 9. Keras has no integer padding; its
    ``padding="same"`` instead divides by the number of real pixels. Other
    parameters as in :func:`max_pool2d`. Returns a float array ``(N, C, H_out, W_out)``.
    """
    x = _as_array(x, "x", 4, "(N, C, H, W)")
    windows = _windows(x, kernel, stride, padding, 0, "avg_pool2d")
    return windows.mean(axis=(-2, -1), dtype=_float_dtype(x))  # (N, C, H_out, W_out)


def global_avg_pool2d(x) -> np.ndarray:
    """Mean of each channel over the whole image: ``(N, C, H, W) -> (N, C)``.

    Replaces flatten + large dense layer at the end of modern CNNs (Keras'
    ``GlobalAveragePooling2D``; in PyTorch ``x.mean(dim=(2, 3))``).
    """
    x = _as_array(x, "x", 4, "(N, C, H, W)")
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f"x has an empty spatial size {x.shape}; nothing to average.")
    return x.mean(axis=(2, 3), dtype=_float_dtype(x))  # (N, C)
