"""Checks of the chapter "Dropout" (``book/dropout.md``).

Expected values are computed from the problem each exercise states (rate, shape,
value), not stored. NumPy is imported inside the checker that needs it.
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

CHAPTER = "dropout"

# drop-scale: nn.Dropout(SCALE_P) in training mode; a unit with value SCALE_VALUE survives.
SCALE_P, SCALE_VALUE = 0.2, 3.0
# drop-spatial-count: nn.Dropout2d(SPATIAL_P) on a (N, C, H, W) batch of this shape.
SPATIAL_P, SPATIAL_SHAPE = 0.25, (8, 64, 14, 14)
# drop-inference-factor: a network trained with dropout at rate INFERENCE_P is used for inference.
INFERENCE_P = 0.5
# drop-variance: inverted dropout with rate VARIANCE_P on a constant input of 1.
VARIANCE_P = 0.2


def kept_value(value: float, p: float) -> float:
    """What inverted dropout outputs for a unit it keeps."""
    return value / (1 - p)


def inverted_dropout_variance(p: float) -> float:
    """Variance of inverted dropout applied to the constant 1: outputs 0 or 1/(1-p)."""
    mean_of_square = (1 - p) * (1 / (1 - p)) ** 2
    return mean_of_square - 1.0  # the mean is exactly 1


@exercise("drop-scale", name="kept_output", chapter=CHAPTER, points=1)
def _scale(answer) -> str | None:
    value = value_of_case(answer, (SCALE_VALUE, SCALE_P), "kept_output")
    got = as_float(value, "the output value")
    expected = kept_value(SCALE_VALUE, SCALE_P)
    verdict = compare_float(
        got,
        expected,
        rtol=1e-4,
        known_mistakes=[
            (
                SCALE_VALUE,
                "in training mode the survivors are rescaled; only evaluation is a no-op.",
            ),
            (
                SCALE_VALUE * (1 - SCALE_P),
                "multiplying by the keep probability is the old rule for inference; inverted "
                "dropout divides during training instead.",
            ),
            (
                SCALE_VALUE / SCALE_P,
                "divide by the probability of KEEPING the unit, not of dropping it.",
            ),
            (0.0, "this unit survived: it is not zeroed."),
        ],
    )
    return needs_function(answer, verdict, "kept_output(value, p)")


@grading("drop-scale")
def _scale_graded(answer) -> str | None:
    """Values and rates drawn at grading time."""
    cases = drawn_cases(
        lambda rng: (rng.uniform(-5.0, 5.0), rng.uniform(0.05, 0.9)), kept_value, 5
    )
    return check_fresh_cases(answer, cases, "kept_output", rtol=1e-6, atol=1e-9)


def dropped_maps(shape: tuple[int, ...], p: float) -> float:
    """Expected number of whole feature maps ``Dropout2d(p)`` zeroes in an (N, C, H, W) batch."""
    return shape[0] * shape[1] * p


@exercise("drop-spatial-count", name="drop_spatial_count", chapter=CHAPTER, points=1)
def _spatial_count(answer) -> str | None:
    case = (SPATIAL_SHAPE, SPATIAL_P)
    got = as_float(value_of_case(answer, case, "drop_spatial_count"), "a number of feature maps")
    n, c, h, w = SPATIAL_SHAPE
    verdict = compare_float(
        got,
        dropped_maps(*case),
        rtol=1e-6,
        known_mistakes=[
            (c * SPATIAL_P, "each image of the batch draws its own channels to drop."),
            (n * c * h * w * SPATIAL_P, "that counts single values; Dropout2d drops whole maps."),
            (n * c * (1 - SPATIAL_P), "that is the number of maps that are kept."),
        ],
    )
    return needs_function(answer, verdict, "drop_spatial_count(shape, p)")


@grading("drop-spatial-count")
def _spatial_count_graded(answer) -> str | None:
    """Batch shapes (square or not) and rates drawn at grading time."""

    def draw(rng: random.Random) -> tuple[tuple[int, int, int, int], float]:
        shape = (rng.randint(1, 64), rng.randint(1, 256), rng.randint(1, 32), rng.randint(1, 32))
        return shape, rng.uniform(0.05, 0.9)

    cases = drawn_cases(draw, dropped_maps, 6)
    return check_fresh_cases(answer, cases, "drop_spatial_count", rtol=1e-6, atol=1e-9)


def inference_factor(p: float, inverted: bool) -> float:
    """The factor on a dropout layer's activations at inference: 1 for inverted dropout,
    the keep probability ``1 - p`` for the original dropout, which does not rescale in training."""
    return 1.0 if inverted else 1 - p


@exercise("drop-inference-factor", name="drop_inference_factor", chapter=CHAPTER, points=1)
def _inference_factor(answer) -> str | None:
    p = INFERENCE_P
    got = as_float(value_of_case(answer, (p, True), "drop_inference_factor"), "a factor")
    verdict = compare_float(
        got,
        inference_factor(p, True),
        known_mistakes=[
            (
                1 - p,
                "that is the rule of the original dropout paper, which did not rescale in "
                "training. Look at what inverted dropout does during training.",
            ),
            (1 / (1 - p), "the rescaling by 1/(1-p) has already happened, during training."),
        ],
    )
    if verdict is not None:
        verdict = f"with inverted=True: {verdict}"
    elif callable(answer):
        original = as_float(value_of_case(answer, (p, False), "drop_inference_factor"), "a factor")
        verdict = compare_float(
            original,
            inference_factor(p, False),
            known_mistakes=[
                (1.0, "the original dropout never rescaled in training: inference must."),
                (1 / (1 - p), "the original rule scales down to the expected training value."),
            ],
        )
        if verdict is not None:
            verdict = f"with inverted=False: {verdict}"
    return needs_function(answer, verdict, "drop_inference_factor(p, inverted)")


@grading("drop-inference-factor")
def _inference_factor_graded(answer) -> str | None:
    """Rates drawn at grading time, for both kinds of dropout."""

    def draw(rng: random.Random) -> tuple[float, bool]:
        return rng.uniform(0.05, 0.9), rng.random() < 0.5

    # both kinds always: a function that knows one of them only cannot pass
    cases = drawn_cases(draw, inference_factor, 4)
    cases += drawn_cases(lambda rng: (rng.uniform(0.05, 0.9), False), inference_factor, 1)
    cases += drawn_cases(lambda rng: (rng.uniform(0.05, 0.9), True), inference_factor, 1)
    return check_fresh_cases(answer, cases, "drop_inference_factor", rtol=1e-6, atol=1e-9)


@exercise("drop-variance", name="dropout_variance", chapter=CHAPTER, points=1)
def _variance(answer) -> str | None:
    got = as_float(value_of_case(answer, (VARIANCE_P,), "dropout_variance"), "a variance")
    expected = inverted_dropout_variance(VARIANCE_P)
    verdict = compare_float(
        got,
        expected,
        rtol=1e-3,
        atol=1e-6,
        known_mistakes=[
            (
                VARIANCE_P * (1 - VARIANCE_P),
                "that is the variance of the 0/1 keep mask; the output is the mask times 1/(1-p).",
            ),
            (0.0, "the output is random: sometimes 0, sometimes larger than 1."),
            (
                (1 / (1 - VARIANCE_P)) ** 2 * (1 - VARIANCE_P),
                "that is the mean of the square; subtract the square of the mean.",
            ),
        ],
    )
    return needs_function(answer, verdict, "dropout_variance(p)")


@grading("drop-variance")
def _variance_graded(answer) -> str | None:
    """Rates drawn at grading time."""
    cases = drawn_cases(lambda rng: (rng.uniform(0.05, 0.9),), inverted_dropout_variance, 5)
    return check_fresh_cases(answer, cases, "dropout_variance", rtol=1e-6, atol=1e-9)


@exercise("drop-implement", name="my_dropout", chapter=CHAPTER, points=2)
def _implement(answer) -> str | None:
    import numpy as np

    func = as_callable(answer, "a function my_dropout(x, p, training, rng)")
    x = np.full((200, 500), 2.0)  # 100,000 units, all 2.0: survivors are easy to see
    p = 0.3
    try:
        train_out = func(x.copy(), p, True, np.random.default_rng(0))
        eval_out = func(x.copy(), p, False, np.random.default_rng(0))
    except NotImplementedError as err:
        raise NotAttempted("my_dropout still raises NotImplementedError.") from err
    except Exception as err:
        return f"my_dropout raised {type(err).__name__}: {err}"
    if train_out is None and eval_out is None:
        raise NotAttempted("my_dropout returns None: return the new array.")
    for name, out in (("training=True", train_out), ("training=False", eval_out)):
        if not isinstance(out, np.ndarray) or out.shape != x.shape:
            shape = getattr(out, "shape", None)
            raise WrongType(
                f"with {name} my_dropout must return an array shaped like x {x.shape}, got "
                f"{describe(out)} with shape {shape}."
            )
    if not np.array_equal(eval_out, x):
        return "with training=False the input must come back unchanged."
    zeros = np.mean(train_out == 0)
    # 100,000 draws: the fraction of zeros lies within 0.01 of p with overwhelming probability
    if abs(zeros - p) > 0.01:
        return f"about a fraction p = {p} of the values should be zero; you zeroed {zeros:.3f}."
    kept = train_out[train_out != 0]
    if not np.allclose(kept, kept_value(2.0, p)):
        if np.allclose(kept, 2.0):
            return "the kept values must be rescaled so that the expected output equals the input."
        return "the kept values have the wrong scale: the mean output should equal the input."
    return None


@grading("drop-implement")
def _implement_graded(answer) -> str | None:
    """A rate, a shape and values drawn at grading time; survivors must be x / (1 - p)."""
    import numpy as np

    func = as_callable(answer, "a function my_dropout(x, p, training, rng)")
    rng = np.random.default_rng()
    for _ in range(3):
        p = float(rng.uniform(0.1, 0.7))
        x = rng.uniform(0.5, 3.0, size=(int(rng.integers(150, 300)), int(rng.integers(300, 500))))
        train_out = np.asarray(
            func(x.copy(), p, True, np.random.default_rng(int(rng.integers(1e9))))
        )
        eval_out = np.asarray(func(x.copy(), p, False, np.random.default_rng(0)))
        if train_out.shape != x.shape or not np.array_equal(eval_out, x):
            return "wrong shape, or the input changed with training=False"
        dropped = train_out == 0
        if abs(dropped.mean() - p) > 0.015:
            return f"zeroed {dropped.mean():.3f} of the values at p = {p:.3f}"
        if not np.allclose(train_out[~dropped], x[~dropped] / (1 - p)):
            return "kept values are not x / (1 - p)"
    return None


# drop-read-best-epoch (read): the chapter's plain_history (no dropout), per epoch.
# drop-left-on (experiment): the chapter's dropout_model with only its Dropout layers in
# training mode, on the chapter's `validation` set. The student averages 5 passes; the
# check averages LEFT_ON_PASSES, so that its own estimate is the steadier of the two.
LEFT_ON_PASSES, LEFT_ON_TOLERANCE = 8, 0.02


@exercise(
    "drop-read-best-epoch",
    name="lowest_val_loss_epoch",
    chapter=CHAPTER,
    points=1,
    uses=("plain_history",),
)
def _read_best_epoch(answer) -> str | None:
    got = as_int(answer, "an epoch number")
    history = chapter_value("plain_history")
    expected = int(history.loc[history["val_loss"].idxmin(), "epoch"])
    by_accuracy = int(history.loc[history["val_accuracy"].idxmax(), "epoch"])
    by_train_loss = int(history.loc[history["loss"].idxmin(), "epoch"])
    return compare_int(
        got,
        expected,
        known_mistakes={
            by_accuracy: "that epoch has the best validation ACCURACY; read the loss.",
            by_train_loss: "that is the lowest TRAINING loss; read the validation loss.",
        },
    )


def changed_predictions(model, dataset, passes: int, seed: int) -> float:
    """Fraction of ``dataset``'s predictions that change when dropout stays on (mean of passes).

    A copy of ``model`` runs in evaluation mode except its ``nn.Dropout`` layers, so
    BatchNorm keeps its running statistics: only dropout differs.
    """
    import copy

    import torch
    from torch import nn

    from cnncourse import data

    images, _ = data.to_tensors(dataset, "cpu")
    x = images.float() / 255
    copied = copy.deepcopy(model).cpu().eval()
    with torch.no_grad():
        reference = copied(x).argmax(dim=1)
        for module in copied.modules():
            if isinstance(module, nn.Dropout | nn.Dropout2d):
                module.train()
        torch.manual_seed(seed)
        changed = [
            (copied(x).argmax(dim=1) != reference).float().mean().item() for _ in range(passes)
        ]
    return sum(changed) / passes


@exercise(
    "drop-left-on",
    name="changed_with_dropout_on",
    chapter=CHAPTER,
    points=2,
    uses=("dropout_model", "validation"),
)
def _left_on(answer) -> str | None:
    got = as_float(answer, "a fraction between 0 and 1")
    model, validation = chapter_value("dropout_model"), chapter_value("validation")
    expected = changed_predictions(model, validation, LEFT_ON_PASSES, seed=0)
    return compare_float(
        got,
        expected,
        rtol=0.0,
        atol=LEFT_ON_TOLERANCE,  # other random masks: a few thousandths either way
        known_mistakes=[
            (0.0, "no prediction changes: are the Dropout layers really in training mode?"),
        ],
    )


@grading("drop-left-on")
def _left_on_graded(answer) -> str | None:
    """Recomputed with masks drawn at grading time."""
    import secrets

    got = as_float(answer, "a fraction between 0 and 1")
    model, validation = chapter_value("dropout_model"), chapter_value("validation")
    expected = changed_predictions(model, validation, LEFT_ON_PASSES, secrets.randbelow(2**31))
    return compare_float(got, expected, rtol=0.0, atol=LEFT_ON_TOLERANCE)
