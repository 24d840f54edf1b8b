"""Convolution from scratch in NumPy: the output-size rule, direct loops and im2col.

Layout is PyTorch's: images ``(N, C, H, W)``, weights ``(O, C, kh, kw)``. Like every
deep-learning framework these compute a *cross-correlation* (the kernel is not
flipped). Teaching code: readable first, then correct, then fast enough for 28x28.
"""

from __future__ import annotations

import math
import operator

import numpy as np

# Padding of one spatial axis as (before, after); of an image as ((top, bottom), (left, right)).
Pads = tuple[tuple[int, int], tuple[int, int]]


def _int(value, name: str, *, minimum: int) -> int:
    """``value`` as a Python int >= ``minimum``, or a ValueError/TypeError naming ``name``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got the bool {value!r}.")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer, got {type(value).__name__} {value!r}."
        ) from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return value


def _pair(value, name: str, *, minimum: int) -> tuple[int, int]:
    """An int or a 2-sequence as ``(height_value, width_value)``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}.")
        return _int(value[0], name, minimum=minimum), _int(value[1], name, minimum=minimum)
    v = _int(value, name, minimum=minimum)
    return v, v


def _as_array(x, name: str, ndim: int, layout: str) -> np.ndarray:
    """``x`` as a numeric ndarray with ``ndim`` axes, else an error that shows what came in."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    if x.ndim != ndim:
        hint = " (add a batch axis with x[None])" if x.ndim == ndim - 1 and ndim == 4 else ""
        raise ValueError(f"{name} must have shape {layout}, got shape {x.shape}{hint}.")
    return x


def _float_dtype(*arrays: np.ndarray) -> np.dtype:
    """The floating dtype results are computed in (uint8 images become float32)."""
    return np.result_type(*arrays, np.float32)


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """``(before, after)`` zero padding that makes ``padding="same"`` give ``ceil(size / stride)``.

    The odd pixel of an uneven total goes *after* (bottom/right), as in both PyTorch
    and TensorFlow/Keras.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def conv_output_size(
    size: int, kernel: int, stride: int = 1, padding: int | str = 0, dilation: int = 1
) -> int:
    """Output length along one spatial axis: ``floor((size + 2p - d(k - 1) - 1) / s) + 1``.

    Parameters
    ----------
    size, kernel, stride, dilation : int
        Input length, kernel length, step between windows, gap between kernel taps.
    padding : int, "valid" or "same"
        Zeros added on *each* side; ``"valid"`` means 0; ``"same"`` pads just enough
        that the output is ``ceil(size / stride)`` (Keras' rule; PyTorch accepts
        ``"same"`` only with stride 1, where both give ``size``).

    Raises
    ------
    ValueError
        When the dilated kernel ``d(k - 1) + 1`` is longer than the padded input, so
        that not even one window fits, or for a non-positive size/kernel/stride/dilation.
    """
    size = _int(size, "size", minimum=1)
    kernel = _int(kernel, "kernel", minimum=1)
    stride = _int(stride, "stride", minimum=1)
    dilation = _int(dilation, "dilation", minimum=1)
    if isinstance(padding, str):
        if padding == "same":
            return math.ceil(size / stride)
        if padding != "valid":
            raise ValueError(f"padding must be an int, 'valid' or 'same', got {padding!r}.")
        padding = 0
    padding = _int(padding, "padding", minimum=0)
    span = dilation * (kernel - 1) + 1  # pixels one window covers
    if span > size + 2 * padding:
        raise ValueError(
            f"the kernel covers {span} pixels (kernel={kernel}, dilation={dilation}) but the "
            f"padded input has only {size + 2 * padding} (size={size}, padding={padding}): "
            "no window fits. Use more padding, a smaller kernel or dilation, or a larger input."
        )
    return (size + 2 * padding - span) // stride + 1


def _resolve_padding(padding, hw, kernel, stride, dilation) -> Pads:
    """Turn the user's ``padding`` into explicit ``((top, bottom), (left, right))``."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            return tuple(  # type: ignore[return-value]
                same_padding(n, k, s, d)
                for n, k, s, d in zip(hw, kernel, stride, dilation, strict=True)
            )
        raise ValueError(
            f"padding must be an int, a pair (ph, pw), 'valid' or 'same'; got {padding!r}."
        )
    ph, pw = _pair(padding, "padding", minimum=0)
    return (ph, ph), (pw, pw)


def _out_size(n: int, pads: tuple[int, int], k: int, s: int, d: int) -> int:
    """Output length for possibly uneven padding (``"same"`` can pad one more after)."""
    span = d * (k - 1) + 1
    padded = n + pads[0] + pads[1]
    if span > padded:
        raise ValueError(
            f"the kernel covers {span} pixels (kernel={k}, dilation={d}) but the padded input "
            f"has only {padded} (size={n}, padding={pads}): no window fits. Use more padding, "
            "a smaller kernel or dilation, or a larger input."
        )
    return (padded - span) // s + 1


def correlate2d_single(image, kernel) -> np.ndarray:
    """The textbook loop: slide ``kernel (kh, kw)`` over ``image (H, W)``, no padding, stride 1.

    Returns ``(H - kh + 1, W - kw + 1)``: each output pixel is the sum of the
    elementwise product of the kernel and the patch under it.
    """
    image = _as_array(image, "image", 2, "(H, W)")
    kernel = _as_array(kernel, "kernel", 2, "(kh, kw)")
    kh, kw = kernel.shape
    if kh > image.shape[0] or kw > image.shape[1]:
        raise ValueError(
            f"kernel {kernel.shape} is larger than image {image.shape}; pad the image first."
        )
    out_h, out_w = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((out_h, out_w), dtype=_float_dtype(image, kernel))
    for i in range(out_h):
        for j in range(out_w):
            patch = image[i : i + kh, j : j + kw]  # (kh, kw)
            out[i, j] = np.sum(patch * kernel)
    return out


def _prepare(x, weight, bias, stride, padding, dilation, groups):
    """Validate conv2d arguments once (both implementations share it)."""
    x = _as_array(x, "x", 4, "(N, C, H, W)")
    weight = _as_array(weight, "weight", 4, "(O, C, kh, kw)")
    if groups != 1:
        raise ValueError(
            f"groups={groups!r} is not supported: these teaching ops implement groups=1 only. "
            "For grouped or depthwise convolution use torch.nn.functional.conv2d."
        )
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"channel mismatch: x has shape {x.shape} (C={x.shape[1]}) but weight has shape "
            f"{weight.shape} (C={weight.shape[1]}); weight must be (O, C, kh, kw) with the "
            "same C as x."
        )
    if bias is not None:
        bias = _as_array(bias, "bias", 1, "(O,)")
        if bias.shape[0] != weight.shape[0]:
            raise ValueError(
                f"bias has shape {bias.shape} but weight {weight.shape} has "
                f"O={weight.shape[0]} output channels; bias must be ({weight.shape[0]},)."
            )
    kernel = weight.shape[2:]
    if 0 in kernel:
        raise ValueError(f"weight {weight.shape} has an empty kernel.")
    stride = _pair(stride, "stride", minimum=1)
    dilation = _pair(dilation, "dilation", minimum=1)
    pads = _resolve_padding(padding, x.shape[2:], kernel, stride, dilation)
    out_hw = tuple(
        _out_size(n, p, k, s, d)
        for n, p, k, s, d in zip(x.shape[2:], pads, kernel, stride, dilation, strict=True)
    )
    return x, weight, bias, stride, dilation, pads, out_hw


def _pad(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """Pad the two spatial axes of ``(N, C, H, W)`` with ``value``."""
    if pads == ((0, 0), (0, 0)):
        return x
    return np.pad(x, ((0, 0), (0, 0), *pads), constant_values=value)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> np.ndarray:
    """2-D convolution (cross-correlation) by direct loops over output positions.

    Parameters
    ----------
    x : array (N, C, H, W)
    weight : array (O, C, kh, kw)
    bias : array (O,) or None
    stride, dilation : int or (int, int)
    padding : int, (ph, pw), "valid" or "same"
        Zero padding on each side. ``"same"`` gives ``ceil(H / stride)`` outputs,
        the odd extra pixel going bottom/right (Keras' rule; PyTorch's for stride 1).
    groups : int
        Only 1 is implemented (every output channel sees every input channel);
        anything else raises ValueError.

    Returns
    -------
    array (N, O, H_out, W_out), ``H_out = conv_output_size(H, kh, stride, padding, dilation)``.
    """
    x, weight, bias, (sh, sw), (dh, dw), pads, (out_h, out_w) = _prepare(
        x, weight, bias, stride, padding, dilation, groups
    )
    n, o, kh, kw = x.shape[0], weight.shape[0], weight.shape[2], weight.shape[3]
    xp = _pad(x, pads)  # (N, C, H + pads, W + pads)
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # pixels a dilated kernel covers
    out = np.empty((n, o, out_h, out_w), dtype=_float_dtype(x, weight))
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * sh, j * sw
            # The receptive field of output (i, j): kh x kw taps, dilation apart.
            patch = xp[:, :, top : top + span_h : dh, left : left + span_w : dw]
            # (N, C, kh, kw) . (O, C, kh, kw) summed over C, kh, kw -> (N, O)
            out[:, :, i, j] = np.tensordot(patch, weight, axes=([1, 2, 3], [1, 2, 3]))
    if bias is not None:
        out += bias[None, :, None, None]
    return out


def im2col(x, kh: int, kw: int, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Unfold every receptive field of ``x (N, C, H, W)`` into a column: ``(N, C*kh*kw, L)``.

    Rows are ordered channel, then kernel row, then kernel column; the ``L = H_out * W_out``
    columns go row by row over output positions. Same layout as
    ``torch.nn.functional.unfold``, so a convolution becomes one matrix product.
    """
    x = _as_array(x, "x", 4, "(N, C, H, W)")
    kernel = (_int(kh, "kh", minimum=1), _int(kw, "kw", minimum=1))
    (sh, sw), (dh, dw) = _pair(stride, "stride", minimum=1), _pair(dilation, "dilation", minimum=1)
    pads = _resolve_padding(padding, x.shape[2:], kernel, (sh, sw), (dh, dw))
    out_h, out_w = (
        _out_size(n, p, k, s, d)
        for n, p, k, s, d in zip(x.shape[2:], pads, kernel, (sh, sw), (dh, dw), strict=True)
    )
    n, c = x.shape[:2]
    xp = _pad(x, pads)
    cols = np.empty((n, c, kh, kw, out_h, out_w), dtype=x.dtype)
    # Loop over the kh*kw kernel taps (few) rather than the output positions (many):
    # tap (a, b) sees the input pixels (a*dh + i*sh, b*dw + j*sw) for all outputs (i, j).
    for a in range(kh):
        for b in range(kw):
            rows = slice(a * dh, a * dh + sh * (out_h - 1) + 1, sh)
            colz = slice(b * dw, b * dw + sw * (out_w - 1) + 1, sw)
            cols[:, :, a, b] = xp[:, :, rows, colz]  # (N, C, H_out, W_out)
    return cols.reshape(n, c * kh * kw, out_h * out_w)


def conv2d_im2col(
    x, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1
) -> np.ndarray:
    """Same result as :func:`conv2d`, computed as ``weight (O, C*kh*kw) @ im2col(x)``.

    This is how fast libraries lower convolution to matrix multiplication (GEMM).
    Only ``groups=1`` is implemented.
    """
    x, weight, bias, stride, dilation, _, (out_h, out_w) = _prepare(
        x, weight, bias, stride, padding, dilation, groups
    )
    o, c, kh, kw = weight.shape
    cols = im2col(x, kh, kw, stride, padding, dilation)  # (N, C*kh*kw, L)
    out = weight.reshape(o, c * kh * kw) @ cols  # (O, CKK) @ (N, CKK, L) -> (N, O, L)
    out = out.reshape(x.shape[0], o, out_h, out_w).astype(_float_dtype(x, weight), copy=False)
    if bias is not None:
        out += bias[None, :, None, None]
    return out
