"""Checks of the chapter "Convolution" (``book/convolution.md``).

Expected values are computed from the problems the exercises pose (the sizes below,
the output-size rule), not stored, so they follow the chapter if it changes.
"""

from __future__ import annotations

import random

from cnncourse.exercises.answers import (
    NotAttempted,
    WrongType,
    as_callable,
    as_float,
    as_int,
    check_fresh_cases,
    compare_float,
    compare_int,
    describe,
    drawn_cases,
    needs_function,
    value_of_case,
)
from cnncourse.exercises.registry import chapter_value, exercise, grading

CHAPTER = "convolution"

# conv-output-size: a 5x5 kernel, stride 2, padding 1 on a 32x32 image.
SIZE, KERNEL, STRIDE, PADDING = 32, 5, 2, 1
# conv-params-rgb: nn.Conv2d(3, 16, kernel_size=5).
RGB_IN, RGB_OUT, RGB_K = 3, 16, 5
# conv-same-padding: keep 28x28 under a 7x7 kernel at stride 1.
SAME_SIZE, SAME_K = 28, 7
# conv-keras-kernel: PyTorch (O, C, kh, kw) -> Keras (kh, kw, C, O), on a weight of
# 8 filters on RGB with 5x2 kernels (every axis a different size).
TORCH_LAYOUT, KERAS_LAYOUT = ("O", "C", "kh", "kw"), ("kh", "kw", "C", "O")
KERNEL_CASE = (8, 3, 5, 2)


def output_size(n: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """The output-size rule without dilation: ``floor((n + 2p - k) / s) + 1``."""
    return (n + 2 * padding - kernel) // stride + 1


def _merge(pairs: list[tuple[int, str]]) -> dict[int, str]:
    """Known mistakes as ``{value: hint}``; two mistakes giving the same value share both hints."""
    hints: dict[int, list[str]] = {}
    for value, hint in pairs:
        hints.setdefault(value, []).append(hint)
    return {value: " Or: ".join(found) for value, found in hints.items()}


def conv_params(in_channels: int, out_channels: int, kernel_size: int) -> int:
    """Parameters of a square-kernel convolution with bias: ``(C * k * k + 1) * O``."""
    return (in_channels * kernel_size * kernel_size + 1) * out_channels


@exercise("conv-output-size", name="conv_output_size", chapter=CHAPTER, points=1)
def _output_size(answer) -> str | None:
    value = value_of_case(answer, (SIZE, KERNEL, STRIDE, PADDING), "conv_output_size")
    got = as_int(value, "a width in pixels")
    expected = output_size(SIZE, KERNEL, STRIDE, PADDING)
    mistakes = _merge(
        [
            (output_size(SIZE, KERNEL, STRIDE, 0), "the padding adds p pixels on *each* side."),
            (output_size(SIZE, KERNEL, 1, PADDING), "the stride of 2 skips every second window."),
            (
                (SIZE + 2 * PADDING - KERNEL) // STRIDE,
                "count the first window too: the rule ends in + 1.",
            ),
            (
                -(-(SIZE + 2 * PADDING - KERNEL) // STRIDE) + 1,
                "the rule rounds down: leftover pixels too few for a window are dropped.",
            ),
            (SIZE // STRIDE, "that is what padding='same' would give; this layer pads by 1 only."),
        ]
    )
    mistakes.pop(expected, None)
    verdict = compare_int(got, expected, known_mistakes=mistakes)
    return needs_function(answer, verdict, "conv_output_size(size, kernel, stride, padding)")


@grading("conv-output-size")
def _output_size_graded(answer) -> str | None:
    """Sizes, kernels, strides and paddings drawn at grading time."""

    def draw(rng: random.Random) -> tuple[int, int, int, int]:
        kernel, stride, padding = rng.randint(1, 7), rng.randint(1, 4), rng.randint(0, 3)
        return rng.randint(max(1, kernel - 2 * padding), 64), kernel, stride, padding

    cases = drawn_cases(draw, output_size, 6)
    return check_fresh_cases(answer, cases, "conv_output_size", rtol=0, atol=1e-9)


@exercise("conv-params-rgb", name="conv_params", chapter=CHAPTER, points=1)
def _params_rgb(answer) -> str | None:
    got = as_int(value_of_case(answer, (RGB_IN, RGB_OUT, RGB_K), "conv_params"), "a count")
    weights = RGB_IN * RGB_K * RGB_K * RGB_OUT
    verdict = compare_int(
        got,
        conv_params(RGB_IN, RGB_OUT, RGB_K),
        known_mistakes={
            weights: "that counts the weights only: each filter also has one bias.",
            RGB_K * RGB_K * RGB_OUT + RGB_OUT: (
                "each filter has one 5x5 slice per input channel, and RGB has 3 channels."
            ),
            weights
            + RGB_IN * RGB_OUT: "there is one bias per filter (output channel), not per pair.",
            RGB_IN * RGB_K * RGB_K + 1: "that is one filter; the layer has 16 of them.",
        },
    )
    return needs_function(answer, verdict, "conv_params(in_channels, out_channels, kernel_size)")


@grading("conv-params-rgb")
def _params_rgb_graded(answer) -> str | None:
    """Channel counts and kernel sizes drawn at grading time."""

    def draw(rng: random.Random) -> tuple[int, int, int]:
        return rng.randint(1, 64), rng.randint(1, 128), rng.randint(1, 7)

    cases = drawn_cases(draw, conv_params, 6)
    return check_fresh_cases(answer, cases, "conv_params", rtol=0, atol=1e-9)


def to_keras_kernel(weight):
    """A PyTorch weight ``(O, C, kh, kw)`` as a Keras kernel ``(kh, kw, C, O)``."""
    return weight.transpose(2, 3, 1, 0)


def _kernel_hint(got, weight) -> str | None:
    """``None`` when ``got`` is ``weight`` in the Keras layout; else the hint for the mistake."""
    import numpy as np

    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        raise WrongType(f"expected a NumPy array, got {describe(got)}.") from None
    if got.shape == keras_shape(weight.shape) and np.array_equal(got, to_keras_kernel(weight)):
        return None
    mistakes = [
        (weight, "that is still the PyTorch layout (O, C, kh, kw): move the axes."),
        (
            weight.T,
            "reversing every axis (.T) also swaps kh and kw: the kernel is (kh, kw, C, O).",
        ),
        (weight.transpose(2, 3, 0, 1), "the last two axes are swapped: C comes before O."),
        (
            weight.transpose(3, 2, 0, 1),
            "that is the way back (Keras to PyTorch). transpose(axes) puts the old axis "
            "axes[i] at position i of the result.",
        ),
        (
            weight.reshape(keras_shape(weight.shape)),
            "the shape is right but the values are scrambled: reshape keeps the memory "
            "order; transpose moves the axes.",
        ),
    ]
    for value, hint in mistakes:
        if got.shape == value.shape and np.array_equal(got, value):
            return hint
    if got.shape != keras_shape(weight.shape):
        return f"a weight of shape {weight.shape} gave shape {got.shape}: check the axis order."
    return "the shape is right but some values moved: transpose the axes, do not reshape."


def keras_shape(shape) -> tuple[int, ...]:
    """The Keras kernel shape ``(kh, kw, C, O)`` of a PyTorch weight shape ``(O, C, kh, kw)``."""
    return tuple(shape[TORCH_LAYOUT.index(name)] for name in KERAS_LAYOUT)


def _call_on_weight(func, weight):
    """``func(weight)``, with the stub's signals turned into NotAttempted."""
    try:
        got = func(weight.copy())
    except NotImplementedError as err:
        raise NotAttempted("the function still raises NotImplementedError.") from err
    if got is None or got is Ellipsis:
        raise NotAttempted("the function returns None: write its body and return the kernel.")
    return got


@exercise("conv-keras-kernel", name="to_keras_kernel", chapter=CHAPTER, points=1)
def _keras_kernel(answer) -> str | None:
    import numpy as np

    func = as_callable(answer, "a function to_keras_kernel(weight)")
    weight = np.random.default_rng(3).normal(size=KERNEL_CASE)
    try:
        got = _call_on_weight(func, weight)
    except NotAttempted:
        raise
    except Exception as err:  # noqa: BLE001 - shown to the student as a hint
        return (
            f"on a weight of shape {KERNEL_CASE} your function raised {type(err).__name__}: {err}"
        )
    return _kernel_hint(got, weight)


@grading("conv-keras-kernel")
def _keras_kernel_graded(answer) -> str | None:
    """Weights of shapes drawn at grading time, square and non-square kernels."""
    import numpy as np

    func = as_callable(answer, "a function to_keras_kernel(weight)")

    def draw(rng: random.Random) -> tuple:
        shape = rng.randint(1, 9), rng.randint(1, 6), rng.randint(1, 7), rng.randint(1, 7)
        return (np.random.default_rng(rng.getrandbits(32)).normal(size=shape),)

    for (weight,), _ in drawn_cases(draw, to_keras_kernel, 6):
        try:
            got = _call_on_weight(func, weight)
        except NotAttempted:
            raise
        except Exception as err:  # noqa: BLE001 - shown as the case that failed
            return f"on a weight of shape {weight.shape} your function raised {type(err).__name__}"
        if _kernel_hint(got, weight) is not None:
            return f"wrong on a weight of shape {weight.shape}"
    return None


def same_padding(kernel_size: int) -> int:
    """Padding on each side that keeps the size at stride 1, for an odd kernel size."""
    return (kernel_size - 1) // 2


@exercise("conv-same-padding", name="same_padding", chapter=CHAPTER, points=1)
def _same_padding(answer) -> str | None:
    got = as_int(value_of_case(answer, (SAME_K,), "same_padding"), "a padding in pixels")
    mistakes = _merge(
        [
            (SAME_K - 1, "that is the total: the padding p is added on each side, so halve it."),
            (SAME_K, f"a {SAME_K}x{SAME_K} kernel loses k - 1 pixels per axis, not k."),
            (SAME_K // 2 + 1, "rounding up adds one ring too many: the size grows by 2."),
        ]
    )
    mistakes.pop(same_padding(SAME_K), None)
    verdict = compare_int(got, same_padding(SAME_K), known_mistakes=mistakes)
    return needs_function(answer, verdict, "same_padding(kernel_size)")


@grading("conv-same-padding")
def _same_padding_graded(answer) -> str | None:
    """Odd kernel sizes drawn at grading time, and the 1x1 kernel that needs none."""

    def draw(rng: random.Random) -> tuple[int]:
        return (2 * rng.randint(1, 15) + 1,)

    cases = [((1,), 0), *drawn_cases(draw, same_padding, 5)]
    return check_fresh_cases(answer, cases, "same_padding", rtol=0, atol=1e-9)


def _reference(image, kernel, stride):
    """What ``correlate_strided`` should return: ``cnncourse.ops.conv2d`` on one channel."""
    import numpy as np

    from cnncourse.ops import conv2d

    image, kernel = np.asarray(image, float), np.asarray(kernel, float)
    return conv2d(image[None, None], kernel[None, None], stride=stride)[0, 0]


def _compare_maps(got, expected) -> str | None:
    import numpy as np

    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        raise WrongType(f"expected a 2-D NumPy array, got {describe(got)}.") from None
    if got.shape != expected.shape:
        return (
            f"the output has shape {got.shape}; check the output-size rule "
            "floor((n - k) / s) + 1 for each axis."
        )
    if not np.allclose(got, expected, atol=1e-6):
        return "the shape is right but some values differ: where does window (i, j) start?"
    return None


CASES = [((6, 6), 3, 1), ((7, 7), 3, 2), ((9, 8), 2, 3), ((10, 12), 3, 2)]  # (H, W), k, stride


@exercise("conv-strided-loop", name="correlate_strided", chapter=CHAPTER, points=2)
def _strided_loop(answer) -> str | None:
    import numpy as np

    func = as_callable(answer, "the function correlate_strided")
    rng = np.random.default_rng(6)
    results = []
    for (h, w), k, stride in CASES:
        image, kernel = rng.normal(size=(h, w)), rng.normal(size=(k, k))
        case = f"a {h}x{w} image, a {k}x{k} kernel and stride {stride}"
        try:
            got = func(image, kernel, stride)
        except NotImplementedError as err:
            raise NotAttempted("the function still raises NotImplementedError.") from err
        except Exception as err:
            return f"on {case} your function raised {type(err).__name__}: {err}"
        results.append((case, got, _reference(image, kernel, stride)))
    if all(got is None or got is Ellipsis for _, got, _ in results):
        raise NotAttempted("the function returns None: write its body and return the feature map.")
    for case, got, expected in results:
        hint = _compare_maps(got, expected)
        if hint is not None:
            return f"on {case}: {hint}"
    return None


@grading("conv-strided-loop")
def _strided_loop_graded(answer) -> str | None:
    """Sizes, kernels and strides drawn at grading time, never the chapter's cases."""
    import numpy as np

    func = as_callable(answer, "the function correlate_strided")
    rng = np.random.default_rng()
    for _ in range(6):
        k, stride = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        h, w = (int(v) for v in rng.integers(k, k + 12, size=2))
        image, kernel = rng.normal(size=(h, w)), rng.normal(size=(k, k))
        hint = _compare_maps(func(image, kernel, stride), _reference(image, kernel, stride))
        if hint is not None:
            return f"wrong on a {h}x{w} image, kernel {k}, stride {stride}"
    return None


# conv-blur-twice (experiment): the chapter's `photo` blurred twice with its 5x5 blur
# kernel (padding "same"), roughness on the inner region as in the table.
INNER = 4  # the table leaves out 4 pixels at each border


def roughness(image) -> float:
    """Mean absolute difference between horizontally neighbouring pixels."""
    import numpy as np

    return float(np.abs(np.diff(image, axis=1)).mean())


@exercise(
    "conv-blur-twice",
    name="blurred_twice_roughness",
    chapter=CHAPTER,
    points=2,
    uses=("photo", "KERNELS"),
)
def _blur_twice(answer) -> str | None:
    import numpy as np

    from cnncourse import ops

    got = as_float(answer, "a roughness value")
    photo = np.asarray(chapter_value("photo"), dtype=np.float64)
    blur = np.asarray(chapter_value("KERNELS")["blur"], dtype=np.float64)[None, None]
    once = ops.conv2d(photo[None, None], blur, padding="same")
    twice = ops.conv2d(once, blur, padding="same")[0, 0]
    inner = (slice(INNER, -INNER), slice(INNER, -INNER))
    return compare_float(
        got,
        roughness(twice[inner]),
        rtol=1e-3,
        known_mistakes=[
            (
                roughness(once[0, 0][inner]),
                "that is the photo blurred once; blur the result again.",
            ),
            (roughness(photo[inner]), "that is the photo itself; blur it twice."),
            (roughness(twice), "measure the inner region only, as the table does."),
        ],
    )


# conv-read-edges (read): the chapter's `learned` table, one row per first-layer map of
# the trained tiny CNN; the largest value of its "with edge strength" column.
EDGE_COLUMN, BRIGHTNESS_COLUMN = "with edge strength", "with brightness"


@exercise(
    "conv-read-edges",
    name="strongest_edge_correlation",
    chapter=CHAPTER,
    points=1,
    uses=("learned",),
)
def _read_edges(answer) -> str | None:
    got = as_float(answer, "a correlation")
    table = chapter_value("learned")
    edges, brightness = table[EDGE_COLUMN], table[BRIGHTNESS_COLUMN]
    expected = float(edges.max())
    mistakes = [
        (float(brightness.max()), "that is the brightness column; read edge strength."),
        (float(edges.min()), "that is the smallest value of the column; read the largest."),
        (float(edges.abs().max()), "read the largest value as it stands, sign included."),
        (float(edges.iloc[0]), "that is map 0; find the largest value of the column."),
    ]
    tolerance = 6e-3  # the table shows two decimals
    return compare_float(
        got,
        expected,
        rtol=0.0,
        atol=tolerance,
        known_mistakes=[m for m in mistakes if abs(m[0] - expected) > tolerance],
    )
