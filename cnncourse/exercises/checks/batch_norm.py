"""Checks of the chapter "Batch normalization" (``book/batch_norm.md``).

Expected values are computed from the problem each exercise states (layer size,
momentum, batch values), not stored, so a changed problem changes the answer too.
NumPy is imported inside the checkers that need it: importing this module stays light.
"""

from __future__ import annotations

import math
import random

from cnncourse.exercises.answers import (
    NotAttempted,
    WrongType,
    as_callable,
    as_float,
    as_int,
    check_fresh_cases,
    check_function,
    compare_float,
    compare_int,
    describe,
    drawn_cases,
    needs_function,
    value_of_case,
)
from cnncourse.exercises.registry import chapter_value, exercise, grading

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


def bn_param_counts(channels: int) -> tuple[int, int]:
    """(trainable, non-trainable) counts of a BatchNorm layer on ``channels`` channels.

    A scale and a shift per channel are trained; a running mean and a running variance
    per channel are stored (Keras' non-trainable weights, PyTorch's running buffers).
    """
    return 2 * channels, 2 * channels


def _count_pair(value) -> tuple[int, int]:
    """A returned ``(trainable, non_trainable)`` pair as two whole numbers."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise WrongType(
            f"expected a pair (trainable, non_trainable) such as (10, 10), got {describe(value)}."
        )
    return as_int(value[0], "the trainable count"), as_int(value[1], "the non-trainable count")


def _compare_counts(got, expected: tuple[int, int]) -> str | None:
    """The grading comparison of a pair of counts: which of the two is wrong, no direction."""
    trainable, stored = _count_pair(got)
    if trainable != expected[0]:
        return "the trainable count is wrong."
    if stored != expected[1]:
        return "the non-trainable count is wrong."
    return None


@exercise("bn-params", name="bn_params", chapter=CHAPTER, points=1)
def _params(answer) -> str | None:
    c = BN_CHANNELS
    trainable, stored = _count_pair(value_of_case(answer, (c,), "bn_params"))
    expected_trainable, expected_stored = bn_param_counts(c)
    verdict = compare_int(
        trainable,
        expected_trainable,
        known_mistakes={
            c: "that is one number per channel; the layer learns a scale AND a shift.",
            4 * c: (
                "the running mean and variance are stored but not trained: the optimizer "
                "never updates them."
            ),
            2: "there is a scale and a shift for every channel, not one for the whole layer.",
        },
    )
    if verdict is not None:
        verdict = f"the trainable count: {verdict}"
    else:
        verdict = compare_int(
            stored,
            expected_stored,
            known_mistakes={
                0: (
                    "the layer also stores a running mean and a running variance, which "
                    "evaluation uses; they count as non-trainable."
                ),
                c: "the layer stores a running mean AND a running variance per channel.",
                4 * c: "the scale and the shift are trained: count them on the other side.",
            },
        )
        if verdict is not None:
            verdict = f"the non-trainable count: {verdict}"
    return needs_function(answer, verdict, "bn_params(channels)")


@grading("bn-params")
def _params_graded(answer) -> str | None:
    """Channel counts drawn at grading time."""
    func = as_callable(answer, "a function bn_params(channels)")
    cases = drawn_cases(lambda rng: (rng.randint(1, 1024),), bn_param_counts, 6)
    return check_function(func, cases, compare=_compare_counts, name="bn_params")


# bn-axes: the layouts a student's bn_axes(layout) is tried on at grading time, by rank.
LAYOUTS = {2: ("NC",), 3: ("NCL", "NLC"), 4: ("NCHW", "NHWC"), 5: ("NCDHW", "NDHWC")}


def statistics_axes(layout: str) -> tuple[int, ...]:
    """The axes BatchNorm averages over: every axis of ``layout`` except the channel ``C``."""
    return tuple(i for i, name in enumerate(layout) if name != "C")


def _axes_of(value) -> tuple[int, ...]:
    """A returned collection of axis numbers as a tuple of ints."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise WrongType(f"expected a tuple of axis numbers such as (0, 1), got {describe(value)}.")
    return tuple(as_int(a, "each axis number") for a in value)


def _axes_hint(axes: tuple[int, ...], layout: str) -> str | None:
    """``None`` when ``axes`` (in any order) are BatchNorm's; else what the choice misses."""
    if any(not 0 <= a < len(layout) for a in axes):
        return f"a {layout} tensor has axes 0 to {len(layout) - 1}."
    if len(set(axes)) != len(axes):
        return "each axis should appear once."
    chosen, channel = set(axes), layout.index("C")
    if chosen == set(statistics_axes(layout)):
        return None
    if channel in chosen:
        return (
            "BatchNorm keeps one mean and one variance per channel: the channel axis is "
            "the one it does NOT average over."
        )
    if layout.index("N") not in chosen:
        return (
            "without the batch axis every image is normalized on its own (that is instance "
            "normalization); the 'batch' in BatchNorm is missing."
        )
    return (
        "a convolution applies the same filter at every position, so BatchNorm shares one "
        "mean per channel across all positions as well."
    )


@exercise("bn-axes", name="bn_axes", chapter=CHAPTER, points=1)
def _axes(answer) -> str | None:
    layout = "".join(LAYOUT)
    axes = _axes_of(value_of_case(answer, (layout,), "bn_axes"))
    return needs_function(answer, _axes_hint(axes, layout), "bn_axes(layout)")


@grading("bn-axes")
def _axes_graded(answer) -> str | None:
    """Layouts of ranks 2 to 5, channels first or last, drawn at grading time."""
    func = as_callable(answer, "a function bn_axes(layout)")

    def draw(rng: random.Random) -> tuple[str]:
        return (rng.choice(LAYOUTS[rng.randint(2, 5)]),)

    # one channels-last layout always: a function that only knows "NCHW" cannot pass
    cases = drawn_cases(draw, statistics_axes, 5) + [(("NDHWC",), statistics_axes("NDHWC"))]

    def compare(got, expected: tuple[int, ...]) -> str | None:
        return None if sorted(_axes_of(got)) == sorted(expected) else "wrong axes."

    return check_function(func, cases, compare=compare, name="bn_axes")


@exercise("bn-keras-momentum", name="keras_moving_mean", chapter=CHAPTER, points=1)
def _keras_momentum(answer) -> str | None:
    case = (KERAS_MOMENTUM, KERAS_STEPS, BATCH_MEAN)
    got = as_float(value_of_case(answer, case, "keras_moving_mean"), "the moving mean")
    expected = running_average(0.0, BATCH_MEAN, KERAS_MOMENTUM, KERAS_STEPS)
    torch_reading = running_average(0.0, BATCH_MEAN, 1 - KERAS_MOMENTUM, KERAS_STEPS)
    verdict = compare_float(
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
    return needs_function(answer, verdict, "keras_moving_mean(momentum, steps, batch_mean)")


@grading("bn-keras-momentum")
def _keras_momentum_graded(answer) -> str | None:
    """Momentum, number of steps and batch mean drawn at grading time."""

    def draw(rng: random.Random) -> tuple[float, int, float]:
        return rng.uniform(0.5, 0.99), rng.randint(1, 30), rng.uniform(-3.0, 3.0)

    def reference(momentum: float, steps: int, mean: float) -> float:
        return running_average(0.0, mean, momentum, steps)

    cases = drawn_cases(draw, reference, 5)
    return check_fresh_cases(answer, cases, "keras_moving_mean", rtol=1e-6, atol=1e-9)


@exercise("bn-two-samples", name="second_sample_output", chapter=CHAPTER, points=1)
def _two_samples(answer) -> str | None:
    value = value_of_case(answer, TWO_SAMPLES, "second_sample_output")
    got = as_float(value, "the normalized value")
    expected = train_mode_output(TWO_SAMPLES, 1)
    verdict = compare_float(
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
    return needs_function(answer, verdict, "second_sample_output(a, b)")


@grading("bn-two-samples")
def _two_samples_graded(answer) -> str | None:
    """Pairs of different values drawn at grading time, in either order."""

    def reference(first: float, second: float) -> float:
        return train_mode_output((first, second), 1)

    cases = drawn_cases(
        lambda rng: (rng.uniform(-50.0, 50.0), rng.uniform(-50.0, 50.0)), reference, 6
    )
    cases.append(((10.0, 2.0), reference(10.0, 2.0)))  # a falling pair, always
    return check_fresh_cases(answer, cases, "second_sample_output", rtol=1e-3, atol=1e-3)


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


# bn-read-epochs (read): the chapter's two training histories, bn_history and plain_history.
# bn-forgot-eval (experiment): the chapter's bn_model in training mode, on its test
# images `order` in shuffled batches of FORGOT_BATCH (the table tries 256, 8 and 1).
FORGOT_BATCH = 32


def epochs_to_reach(history, accuracy: float) -> int:
    """The first epoch whose validation accuracy reaches ``accuracy`` (0 if none does)."""
    reached = history.loc[history["val_accuracy"] >= accuracy, "epoch"]
    return int(reached.iloc[0]) if len(reached) else 0


@exercise(
    "bn-read-epochs",
    name="bn_epochs_to_plain_best",
    chapter=CHAPTER,
    points=1,
    uses=("bn_history", "plain_history"),
)
def _read_epochs(answer) -> str | None:
    got = as_int(answer, "an epoch number")
    bn, plain = chapter_value("bn_history"), chapter_value("plain_history")
    best = plain["val_accuracy"].max()
    plain_best_epoch = int(plain.loc[plain["val_accuracy"].idxmax(), "epoch"])
    return compare_int(
        got,
        epochs_to_reach(bn, best),
        known_mistakes={
            plain_best_epoch: (
                "that is the epoch of the plain network's best; the question is when the "
                "network WITH BatchNorm first gets as far."
            ),
        },
    )


def training_mode_accuracy(model, indices, batch_size: int) -> float:
    """Test accuracy of a copy of ``model`` left in training mode, batch by batch in order."""
    import copy

    import numpy as np
    import torch

    from cnncourse import data

    test = data.load("fashion_mnist", "test")
    images, labels = data.to_tensors(test, "cpu")
    indices = np.asarray(indices)
    copied = copy.deepcopy(model).cpu().train()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(indices), batch_size):
            idx = torch.from_numpy(indices[start : start + batch_size])
            logits = copied(images[idx].float() / 255)
            correct += (logits.argmax(dim=1) == labels[idx]).sum().item()
    return correct / len(indices)


@exercise(
    "bn-forgot-eval",
    name="forgot_eval_accuracy",
    chapter=CHAPTER,
    points=2,
    uses=("bn_model", "order"),
)
def _forgot_eval(answer) -> str | None:
    got = as_float(answer, "an accuracy between 0 and 1")
    model, order = chapter_value("bn_model"), chapter_value("order")
    expected = training_mode_accuracy(model, order, FORGOT_BATCH)
    return compare_float(
        got,
        expected,
        rtol=0.0,
        atol=0.01,  # the same batches in the same order: only float rounding differs
        known_mistakes=[
            (
                training_mode_accuracy(model, order, 256),
                "that is the accuracy with batches of 256; measure batches of 32.",
            ),
        ],
    )


@grading("bn-forgot-eval")
def _forgot_eval_graded(answer) -> str | None:
    """The same measurement, without the second one that only feeds a hint."""
    got = as_float(answer, "an accuracy between 0 and 1")
    model, order = chapter_value("bn_model"), chapter_value("order")
    expected = training_mode_accuracy(model, order, FORGOT_BATCH)
    return compare_float(got, expected, rtol=0.0, atol=0.01)
