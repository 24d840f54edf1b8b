"""Checks of the chapter "Activation and pooling" (``book/pooling.md``).

Expected values are computed from the problems the exercises pose (the shapes and
layer stacks below, the receptive-field rule), not stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnncourse.exercises.answers import (
    NotAttempted,
    as_bool,
    as_callable,
    as_int,
    as_shape,
    compare_int,
    compare_shape,
)
from cnncourse.exercises.registry import exercise, grading

CHAPTER = "pooling"

# pool-output-shape: nn.MaxPool2d(2) on a (32, 64, 15, 15) batch.
POOL_INPUT, POOL_K = (32, 64, 15, 15), 2
# pool-collapse-kernel: three stacked 3x3 convolutions, stride 1, no activation.
COLLAPSE = [(3, 1)] * 3
# pool-receptive-field: two VGG blocks (conv 3x3, conv 3x3, max pool 2x2 stride 2).
VGG_TWO_BLOCKS = [(3, 1), (3, 1), (2, 2)] * 2
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


@exercise("pool-output-shape", chapter=CHAPTER, points=1)
def _output_shape(answer) -> str | None:
    got = as_shape(answer, "a shape")
    n, c, h, w = POOL_INPUT
    side = (h - POOL_K) // POOL_K + 1
    expected = (n, c, side, side)
    if got == expected:
        return None
    if got[:2] == (n, c) and got[2:] == (-(-h // POOL_K),) * 2:
        return "pooling rounds down: a window that does not fit is dropped."
    if got == (n, side, side, c):
        return "give the shape in PyTorch's layout (N, C, H, W)."
    if len(got) == 4 and got[1] != c:
        return "pooling works on each channel separately: the channel count does not change."
    return compare_shape(got, expected)


@exercise("pool-collapse-kernel", chapter=CHAPTER, points=1)
def _collapse_kernel(answer) -> str | None:
    got = as_int(answer, "a kernel size")
    return compare_int(
        got,
        receptive_field(COLLAPSE),
        known_mistakes={
            3**3: "the kernels do not multiply: each layer widens what one output sees by k - 1.",
            3 * 3: "the sizes do not add up directly either: each layer adds k - 1 pixels.",
            3: "without an activation the layers merge, but the merged kernel is larger.",
        },
    )


@exercise("pool-receptive-field", chapter=CHAPTER, points=1)
def _receptive_field(answer) -> str | None:
    got = as_int(answer, "a size in pixels")
    expected = receptive_field(VGG_TWO_BLOCKS)
    mistakes = {
        _field_without_jump(VGG_TWO_BLOCKS): (
            "after a stride-2 pooling, neighbouring units are 2 pixels apart: later kernels "
            "add (k - 1) times that jump."
        ),
        receptive_field(VGG_TWO_BLOCKS[:-1]): "count the second pooling too.",
        receptive_field([layer for layer in VGG_TWO_BLOCKS if layer != (2, 2)]): (
            "the poolings have a 2x2 window: they widen the field as well."
        ),
    }
    mistakes.pop(expected, None)
    return compare_int(got, expected, known_mistakes=mistakes)


@exercise("pool-relu-max-commute", chapter=CHAPTER, points=1)
def _relu_max_commute(answer) -> str | None:
    if as_bool(answer) is True:
        return None
    return (
        "try it: compare ops.max_pool2d(ops.relu(z), 2) with ops.relu(ops.max_pool2d(z, 2)) "
        "on random arrays. Does ReLU ever change which of two numbers is larger?"
    )


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
