"""Checks of the chapter "Activation and pooling" (``book/pooling.md``).

Expected values are computed from the problems the exercises pose (the shapes and
layer stacks below, the receptive-field rule), not stored. The exercises that ask for a
formula take a function and grade it on arguments drawn at grading time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from cnncourse.exercises.answers import (
    NotAttempted,
    as_callable,
    as_float,
    as_int,
    as_shape,
    check_fresh_cases,
    check_function,
    compare_float,
    compare_int,
    compare_shape,
    describe,
    drawn_cases,
    needs_function,
    value_of_case,
)
from cnncourse.exercises.registry import chapter_value, exercise, grading

CHAPTER = "pooling"

# pool-output-shape: nn.MaxPool2d(2) (window 2, stride 2) on a (32, 64, 15, 15) batch.
POOL_INPUT, POOL_K, POOL_S = (32, 64, 15, 15), 2, 2
# pool-collapse-kernel: three stacked 3x3 convolutions, stride 1, no activation.
COLLAPSE_KERNELS = (3, 3, 3)
# pool-receptive-field: two VGG blocks, each two 3x3 convolutions and a 2x2 max pooling.
VGG_CONVS = (2, 2)
# pool-receptive-field-function: stacks the student's function is tried on.
FUNCTION_CASES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((3, 1),),
    ((3, 1), (3, 1)),
    ((3, 1), (2, 2), (3, 1), (2, 2)),  # the tiny CNN: 10
    ((7, 2), (3, 2), (3, 1), (3, 1)),  # a ResNet-like stem: 7, 11, 19, 27
    ((5, 1), (2, 2), (5, 1), (2, 2), (5, 1)),
    ((2, 2), (2, 2), (2, 2)),
    ((1, 1), (3, 3)),
)


def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Receptive field of the last of ``(kernel, stride)`` layers: ``r += (k - 1) * jump``."""
    field, jump = 1, 1
    for kernel, stride in layers:
        field += (kernel - 1) * jump
        jump *= stride
    return field


def _field_without_jump(layers: Sequence[tuple[int, int]]) -> int:
    """The usual mistake: adding ``k - 1`` per layer and ignoring that strides widen the steps."""
    return 1 + sum(kernel - 1 for kernel, _ in layers)


def pool_output_shape(shape: Sequence[int], kernel_size: int, stride: int) -> tuple[int, ...]:
    """Shape after ``nn.MaxPool2d(kernel_size, stride)`` on an ``(N, C, H, W)`` batch."""
    n, c, h, w = shape
    return (n, c, (h - kernel_size) // stride + 1, (w - kernel_size) // stride + 1)


def merged_kernel_size(kernel_sizes: Sequence[int]) -> int:
    """Side of the one kernel that stacked stride-1 convolutions without activations equal."""
    return receptive_field([(kernel, 1) for kernel in kernel_sizes])


def vgg_layers(convs_per_block: Sequence[int]) -> list[tuple[int, int]]:
    """``(kernel, stride)`` of VGG blocks: 3x3 convolutions, then a 2x2 pooling of stride 2."""
    return [layer for convs in convs_per_block for layer in [(3, 1)] * convs + [(2, 2)]]


def vgg_receptive_field(convs_per_block: Sequence[int]) -> int:
    """Receptive field after the last pooling of VGG blocks with these convolution counts."""
    return receptive_field(vgg_layers(convs_per_block))


def _output_shape_hint(got: tuple[int, ...], shape, kernel: int, stride: int) -> str | None:
    n, c, h, w = shape
    expected = pool_output_shape(shape, kernel, stride)
    if got == expected:
        return None
    ceil = (n, c, -(-(h - kernel) // stride) + 1, -(-(w - kernel) // stride) + 1)
    if got == ceil:
        return "pooling rounds down: a window that does not fit is dropped."
    if got == (n, expected[2], expected[3], c):
        return "give the shape in PyTorch's layout (N, C, H, W)."
    if len(got) == 4 and got[1] != c:
        return "pooling works on each channel separately: the channel count does not change."
    return compare_shape(got, expected)


@exercise("pool-output-shape", name="pool_output_shape", chapter=CHAPTER, points=1)
def _output_shape(answer) -> str | None:
    args = (POOL_INPUT, POOL_K, POOL_S)
    got = as_shape(value_of_case(answer, args, "pool_output_shape"), "a shape")
    hint = _output_shape_hint(got, *args)
    return needs_function(answer, hint, "pool_output_shape(shape, kernel_size, stride)")


@grading("pool-output-shape")
def _output_shape_graded(answer) -> str | None:
    """Batches, windows and strides drawn at grading time (non-square, exact multiples)."""

    def draw(rng: random.Random) -> tuple[tuple[int, ...], int, int]:
        kernel = rng.randint(1, 5)
        stride = kernel if rng.random() < 0.5 else rng.randint(1, 4)
        height = kernel * rng.randint(1, 12) if rng.random() < 0.3 else rng.randint(kernel, 64)
        shape = (rng.randint(1, 64), rng.randint(1, 256), height, rng.randint(kernel, 64))
        return shape, kernel, stride

    cases = drawn_cases(draw, pool_output_shape, 6)
    func = as_callable(answer, "a function pool_output_shape(shape, kernel_size, stride)")
    return check_function(func, cases, name="pool_output_shape")


def _collapse_mistakes(kernels: Sequence[int]) -> dict[int, str]:
    mistakes = {
        math.prod(kernels): (
            "the kernels do not multiply: each layer widens what one output sees by k - 1."
        ),
        sum(kernels): "the sizes do not add up directly either: each layer adds k - 1 pixels.",
        max(kernels): "without an activation the layers merge, but the merged kernel is larger.",
    }
    mistakes.pop(merged_kernel_size(kernels), None)
    return mistakes


@exercise("pool-collapse-kernel", name="merged_kernel_size", chapter=CHAPTER, points=1)
def _collapse_kernel(answer) -> str | None:
    args = (list(COLLAPSE_KERNELS),)
    got = as_int(value_of_case(answer, args, "merged_kernel_size"), "a kernel size")
    hint = compare_int(
        got,
        merged_kernel_size(COLLAPSE_KERNELS),
        known_mistakes=_collapse_mistakes(COLLAPSE_KERNELS),
    )
    return needs_function(answer, hint, "merged_kernel_size(kernel_sizes)")


@grading("pool-collapse-kernel")
def _collapse_kernel_graded(answer) -> str | None:
    """Stacks of 1 to 6 kernels of sizes 1 to 9 drawn at grading time."""

    def draw(rng: random.Random) -> tuple[list[int]]:
        return ([rng.randint(1, 9) for _ in range(rng.randint(1, 6))],)

    cases = drawn_cases(draw, merged_kernel_size, 6)
    return check_fresh_cases(answer, cases, "merged_kernel_size", rtol=0.0, atol=0.0)


def _vgg_mistakes(convs_per_block: Sequence[int]) -> dict[int, str]:
    layers = vgg_layers(convs_per_block)
    mistakes = {
        _field_without_jump(layers): (
            "after a stride-2 pooling, neighbouring units are 2 pixels apart: later kernels "
            "add (k - 1) times that jump."
        ),
        receptive_field(layers[:-1]): "count the last pooling too.",
        receptive_field([(k, s) for k, s in layers if s == 1]): (
            "the poolings have a 2x2 window: they widen the field as well."
        ),
    }
    mistakes.pop(receptive_field(layers), None)
    return mistakes


@exercise("pool-receptive-field", name="vgg_receptive_field", chapter=CHAPTER, points=1)
def _receptive_field(answer) -> str | None:
    args = (list(VGG_CONVS),)
    got = as_int(value_of_case(answer, args, "vgg_receptive_field"), "a size in pixels")
    hint = compare_int(
        got, vgg_receptive_field(VGG_CONVS), known_mistakes=_vgg_mistakes(VGG_CONVS)
    )
    return needs_function(answer, hint, "vgg_receptive_field(convs_per_block)")


@grading("pool-receptive-field")
def _receptive_field_graded(answer) -> str | None:
    """Networks of 1 to 5 blocks with 1 to 4 convolutions each, drawn at grading time."""

    def draw(rng: random.Random) -> tuple[list[int]]:
        return ([rng.randint(1, 4) for _ in range(rng.randint(1, 5))],)

    cases = drawn_cases(draw, vgg_receptive_field, 6)
    return check_fresh_cases(answer, cases, "vgg_receptive_field", rtol=0.0, atol=0.0)


def _pool_relu_reference(z, k: int):
    """ReLU after max pooling (window k, stride k): the package's ops, in the textbook order."""
    import numpy as np

    from cnncourse import ops

    return ops.max_pool2d(ops.relu(np.asarray(z, dtype=float)), k)


def _compare_pooled(func, cases) -> str | None:
    """Call ``func(z, k)`` on each ``(z, k)``; ``None`` when every output matches."""
    import numpy as np

    outputs = []
    for z, k in cases:
        try:
            got = func(z.copy(), k)
        except NotImplementedError as err:
            raise NotAttempted("the function still raises NotImplementedError.") from err
        except Exception as err:
            return (
                f"on an input of shape {z.shape} with k={k} it raised {type(err).__name__}: {err}"
            )
        outputs.append(got)
    if all(got is None or got is Ellipsis for got in outputs):
        raise NotAttempted("the function returns None: write its body and return the array.")
    for (z, k), got in zip(cases, outputs, strict=True):
        expected = _pool_relu_reference(z, k)
        try:
            got = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return f"it returned {describe(got)}, not an array."
        if got.shape != expected.shape:
            return (
                f"on shape {z.shape} with k={k} the output has shape {got.shape}: windows of "
                "k x k with stride k, rows and columns that do not fill a window dropped."
            )
        if not np.allclose(got, expected):
            if np.allclose(got, _pool_relu_reference(z, k) + np.minimum(_max_pool(z, k), 0)):
                return "negative values remain: is the ReLU there?"
            return f"on shape {z.shape} with k={k} the shape is right but some values differ."
    return None


def _max_pool(z, k: int):
    from cnncourse import ops

    return ops.max_pool2d(z, k)


# pool-relu-max-commute: the inputs the feedback check tries.
POOL_RELU_CASES = (((2, 3, 6, 6), 2), ((1, 1, 7, 5), 2), ((1, 2, 9, 9), 3))


@exercise("pool-relu-max-commute", name="max_pool_relu", chapter=CHAPTER, points=2)
def _relu_max_commute(answer) -> str | None:
    import numpy as np

    func = as_callable(answer, "the function max_pool_relu")
    rng = np.random.default_rng(4)
    return _compare_pooled(func, [(rng.normal(size=s), k) for s, k in POOL_RELU_CASES])


@grading("pool-relu-max-commute")
def _relu_max_commute_graded(answer) -> str | None:
    """Shapes and windows drawn at grading time."""
    import numpy as np

    func = as_callable(answer, "the function max_pool_relu")
    rng = np.random.default_rng()
    cases = []
    for _ in range(6):
        k = int(rng.integers(2, 4))
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), *rng.integers(k, 13, size=2))
        cases.append((rng.normal(size=tuple(int(v) for v in shape)), k))
    return _compare_pooled(func, cases)


@exercise("pool-receptive-field-function", name="receptive_field", chapter=CHAPTER, points=2)
def _receptive_field_function(answer) -> str | None:
    func = as_callable(answer, "the function receptive_field")
    results = []
    for case in FUNCTION_CASES:
        try:
            got = func([tuple(layer) for layer in case])
        except NotImplementedError as err:
            raise NotAttempted("the function still raises NotImplementedError.") from err
        except Exception as err:
            return f"receptive_field({list(case)}) raised {type(err).__name__}: {err}"
        results.append((case, got))
    if all(got is None or got is Ellipsis for _, got in results):
        raise NotAttempted("the function returns None: write its body and return the field.")
    for case, got in results:
        expected = receptive_field(case)
        got = as_int(got, f"an int from receptive_field({list(case)})")
        if got != expected:
            if got == _field_without_jump(case):
                return (
                    f"receptive_field({list(case)}) is not right: a stride widens the step "
                    "between units; later kernels add (k - 1) times that step."
                )
            return f"receptive_field({list(case)}) returned {got}: {compare_int(got, expected)}"
    return None


@grading("pool-receptive-field-function")
def _receptive_field_graded(answer) -> str | None:
    """Stacks drawn at grading time: a function that only knows the chapter's cases fails."""
    import random

    rng = random.Random()
    func = as_callable(answer, "the function receptive_field")
    for _ in range(12):
        case = [(rng.randint(1, 7), rng.randint(1, 3)) for _ in range(rng.randint(1, 6))]
        got = as_int(func([tuple(layer) for layer in case]), "an int")
        if got != receptive_field(case):
            return f"wrong on {case}"
    return None


# pool-train-avg: the tiny CNN with average pooling, trained like the chapter's two.
AVG_MAX_PARAMS, AVG_THRESHOLD = 20_000, 0.65


def _avg_pooled(answer) -> str | None:
    from torch import nn

    from cnncourse.exercises.checks._training import parameter_count

    parameter_count(answer)  # WrongType unless an nn.Module
    kinds = {type(m) for m in answer.modules()}
    if nn.AvgPool2d not in kinds:
        return "the model has no nn.AvgPool2d layer."
    if kinds & {nn.MaxPool2d, nn.AdaptiveMaxPool2d}:
        return "the model still has a max pooling layer: replace each one."
    return None


@exercise("pool-train-avg", name="avg_model", chapter=CHAPTER, points=3, seconds=180)
def _train_avg(answer) -> str | None:
    from cnncourse.exercises.checks._training import check_trained

    return _avg_pooled(answer) or check_trained(
        answer, max_params=AVG_MAX_PARAMS, threshold=AVG_THRESHOLD, size=1000, seed=0
    )


@grading("pool-train-avg")
def _train_avg_graded(answer) -> str | None:
    """2,000 test images drawn at grading time."""
    from cnncourse.exercises.checks._training import check_trained

    return _avg_pooled(answer) or check_trained(
        answer, max_params=AVG_MAX_PARAMS, threshold=AVG_THRESHOLD, size=2000, seed=None
    )


# pool-read-stability (read): the chapter's `stability` table, stride 2 at a 2-pixel shift.
# pool-shift-experiment (experiment): the chapter's `trained` networks, on the first
# 1,000 test images shifted by EXPERIMENT_SHIFT pixels in 4 directions (the table stops at 3).
READ_COLUMN, READ_ROW = "stride 2", "shift 2"
EXPERIMENT_SHIFT, PROBE_SIZE = 5, 1000


@exercise(
    "pool-read-stability",
    name="strided_kept_at_2",
    chapter=CHAPTER,
    points=1,
    uses=("stability",),
)
def _read_stability(answer) -> str | None:
    got = as_float(answer, "a fraction between 0 and 1")
    table = chapter_value("stability")
    return compare_float(
        got,
        float(table.loc[READ_ROW, READ_COLUMN]),
        rtol=0.0,
        atol=6e-4,  # the table shows three decimals
        known_mistakes=[
            (
                float(table.loc[READ_ROW, "max pooling"]),
                "that is the max-pooling network; read the stride-2 column.",
            ),
        ],
    )


def _shifted(images, dx: int, dy: int):
    """(N, H, W, C) images moved dx right and dy down; zeros fill the border."""
    import numpy as np

    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        :, max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def kept_under_shift(model, s: int) -> float:
    """Fraction of the first 1,000 test images whose predicted class survives a shift by s."""
    import copy

    import numpy as np
    import torch

    from cnncourse import data

    probe = data.load("fashion_mnist", "test").images[:PROBE_SIZE]  # (N, 28, 28, 1) uint8
    copied = copy.deepcopy(model).cpu().eval()

    def predict(images):
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            return copied(x).argmax(dim=1).numpy()

    base = predict(probe)
    moves = [(s, 0), (-s, 0), (0, s), (0, -s)]
    return float(np.mean([(predict(_shifted(probe, dx, dy)) == base).mean() for dx, dy in moves]))


@exercise(
    "pool-shift-experiment",
    name="lead_at_shift_5",
    chapter=CHAPTER,
    points=2,
    uses=("trained",),
)
def _shift_experiment(answer) -> str | None:
    got = as_float(answer, "a difference of two fractions")
    trained = chapter_value("trained")
    pooled = kept_under_shift(trained["max pooling"], EXPERIMENT_SHIFT)
    strided = kept_under_shift(trained["stride 2"], EXPERIMENT_SHIFT)
    return compare_float(
        got,
        pooled - strided,
        rtol=0.0,
        atol=2e-3,  # the same images and models: only float rounding differs
        known_mistakes=[
            (100 * (pooled - strided), "give it as a fraction (0.05), not percentage points."),
            (strided - pooled, "check the sign: max pooling minus stride 2."),
            (pooled, "that is the max-pooling network alone; subtract the stride-2 one."),
        ],
    )
