"""Checks of the chapter "Batch normalization" (``book/batch_norm.md``).

Expected values are computed from the problem each exercise states (layer size,
momentum, batch values), not stored, so a changed problem changes the answer too.
NumPy is imported inside the checkers that need it: importing this module stays light.
"""

from __future__ import annotations

import math

from cnncourse.exercises.answers import (
    NotAttempted,
    WrongType,
    as_callable,
    as_float,
    as_int,
    compare_float,
    compare_int,
    describe,
)
from cnncourse.exercises.registry import exercise

CHAPTER = "batch_norm"

# bn-params: nn.BatchNorm2d(BN_CHANNELS) / keras BatchNormalization() on 64 channels.
BN_CHANNELS = 64
# bn-axes: the layout of the tensor the exercise names.
LAYOUT = ("N", "C", "H", "W")
# bn-keras-momentum: Keras BatchNormalization(momentum=KERAS_MOMENTUM), moving mean
# starting at 0, sees KERAS_STEPS training batches whose channel mean is BATCH_MEAN.
KERAS_MOMENTUM, KERAS_STEPS, BATCH_MEAN = 0.9, 5, 1.0
# bn-two-samples: one channel, a training batch of two values, gamma = 1, beta = 0, eps -> 0.
TWO_SAMPLES = (3.0, 7.0)


def running_average(start: float, value: float, keep: float, steps: int) -> float:
    """``steps`` updates ``r = keep * r + (1 - keep) * value`` from ``start`` (Keras' form)."""
    r = start
    for _ in range(steps):
        r = keep * r + (1 - keep) * value
    return r


def train_mode_output(values: tuple[float, ...], index: int, *, unbiased: bool = False) -> float:
    """Training-mode batch norm of one channel (gamma 1, beta 0, eps 0) at ``values[index]``."""
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1 if unbiased else n)
    return (values[index] - mean) / math.sqrt(var)


@exercise("bn-params", chapter=CHAPTER, points=1)
def _params(answer) -> str | None:
    got = as_int(answer, "a number of trainable parameters")
    expected = 2 * BN_CHANNELS  # one gamma and one beta per channel
    return compare_int(
        got,
        expected,
        known_mistakes={
            BN_CHANNELS: "that is one number per channel; the layer learns a scale AND a shift.",
            4 * BN_CHANNELS: (
                "the running mean and variance are stored but not trained: the optimizer "
                "never updates them."
            ),
            2: "there is a scale and a shift for every channel, not one for the whole layer.",
        },
    )


@exercise("bn-axes", chapter=CHAPTER, points=1)
def _axes(answer) -> str | None:
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "__iter__"):
        raise WrongType(
            f"expected a tuple of axis numbers such as (0, 1), got {describe(answer)}."
        )
    axes = [as_int(a, "each axis number") for a in answer]
    if any(not 0 <= a < len(LAYOUT) for a in axes):
        return f"an (N, C, H, W) tensor has axes 0 to {len(LAYOUT) - 1}."
    if len(set(axes)) != len(axes):
        return "each axis should appear once."
    chosen = set(axes)
    channel = LAYOUT.index("C")
    expected = set(range(len(LAYOUT))) - {channel}
    if chosen == expected:
        return None
    if channel in chosen:
        return (
            "BatchNorm keeps one mean and one variance per channel: the channel axis is "
            "the one it does NOT average over."
        )
    if LAYOUT.index("N") not in chosen:
        return (
            "without the batch axis every image is normalized on its own (that is instance "
            "normalization); the 'batch' in BatchNorm is missing."
        )
    return (
        "a convolution applies the same filter at every position, so BatchNorm shares one "
        "mean per channel across all positions as well."
    )


@exercise("bn-keras-momentum", chapter=CHAPTER, points=1)
def _keras_momentum(answer) -> str | None:
    got = as_float(answer, "the moving mean")
    expected = running_average(0.0, BATCH_MEAN, KERAS_MOMENTUM, KERAS_STEPS)
    torch_reading = running_average(0.0, BATCH_MEAN, 1 - KERAS_MOMENTUM, KERAS_STEPS)
    return compare_float(
        got,
        expected,
        rtol=1e-6,  # tight: the PyTorch reading (0.99999) lies within 1e-5 of 1
        known_mistakes=[
            (
                torch_reading,
                "that reads momentum the PyTorch way (the weight of the new batch). In "
                "Keras momentum is the weight of the OLD moving value.",
            ),
            (BATCH_MEAN, "the moving mean starts at 0 and only moves part of the way each step."),
            (
                running_average(0.0, BATCH_MEAN, KERAS_MOMENTUM, 1),
                "that is one update; the layer sees five batches.",
            ),
        ],
    )


@exercise("bn-two-samples", chapter=CHAPTER, points=1)
def _two_samples(answer) -> str | None:
    got = as_float(answer, "the normalized value")
    expected = train_mode_output(TWO_SAMPLES, 1)
    return compare_float(
        got,
        expected,
        rtol=1e-3,
        atol=1e-3,
        known_mistakes=[
            (
                train_mode_output(TWO_SAMPLES, 1, unbiased=True),
                "normalization divides by the biased variance (divide by n, not n - 1).",
            ),
            (-expected, "check the sign: 7 lies above the batch mean."),
            (TWO_SAMPLES[1] - sum(TWO_SAMPLES) / 2, "subtracting the mean is half the job."),
        ],
    )


@exercise("bn-fold", name="fold", chapter=CHAPTER, points=2)
def _fold(answer) -> str | None:
    import numpy as np

    from cnncourse.ops import batch_norm

    fold = as_callable(answer, "a function fold(gamma, beta, mean, var, eps)")
    rng = np.random.default_rng(7)
    c = 5
    gamma, beta = rng.uniform(0.5, 2.0, c), rng.normal(0.0, 1.0, c)
    mean, var = rng.normal(0.0, 2.0, c), rng.uniform(0.1, 3.0, c)
    eps = 1e-3
    try:
        result = fold(gamma, beta, mean, var, eps)
    except NotImplementedError as err:
        raise NotAttempted("fold still raises NotImplementedError.") from err
    if result is None:
        raise NotAttempted("fold returns None: return (scale, shift).")
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise WrongType(f"expected fold to return a pair (scale, shift), got {describe(result)}.")
    scale, shift = (np.asarray(r, dtype=np.float64) for r in result)
    if scale.shape != (c,) or shift.shape != (c,):
        return (
            f"scale and shift need one value per channel, shape ({c},); got "
            f"{scale.shape} and {shift.shape}."
        )
    x = rng.normal(0.0, 3.0, (4, c, 3, 3))  # (N, C, H, W)
    expected, _, _ = batch_norm(x, gamma, beta, mean, var, training=False, eps=eps)
    got = scale[None, :, None, None] * x + shift[None, :, None, None]
    if np.allclose(got, expected, rtol=1e-6, atol=1e-8):
        return None
    if np.allclose(scale, gamma / np.sqrt(var + eps)):
        return "the scale is right; the shift must also undo the running mean."
    if np.allclose(scale, gamma / np.sqrt(var)) or np.allclose(scale, gamma / var):
        return "check the denominator: evaluation divides by sqrt(var + eps)."
    return (
        "write the evaluation formula gamma * (x - mean) / sqrt(var + eps) + beta as "
        "scale * x + shift and read off both."
    )
