"""Checks of the chapter "A CNN in PyTorch" (``book/pytorch_cnn.md``).

Expected values are computed from the problem each exercise poses (layer sizes, the
logits given); the function answer is run on a small model built here.
"""

from __future__ import annotations

import math
import random
import secrets

from cnncourse.exercises.answers import (
    NotAttempted,
    WrongType,
    as_callable,
    as_float,
    as_int,
    as_shape,
    check_function,
    compare_float,
    compare_int,
    compare_shape,
    describe,
    drawn_cases,
    needs_function,
    value_of_case,
)
from cnncourse.exercises.checks._training import predicted_classes
from cnncourse.exercises.registry import chapter_value, exercise, grading

CHAPTER = "pytorch_cnn"

# torch-conv-shape: Conv2d(1, 8, 3, padding=1) -> ReLU -> MaxPool2d(2) on (32, 1, 28, 28)
BATCH, IN_CHANNELS, SIZE = 32, 1, 28
OUT_CHANNELS, KERNEL, PADDING, POOL = 8, 3, 1, 2

# torch-steps-per-epoch
IMAGES, BATCH_SIZE = 54_000, 128

# torch-cross-entropy
LOGITS, TRUE_CLASS = (2.0, 0.5, -1.0), 0


def _conv_size(n: int, kernel: int, padding: int, stride: int = 1) -> int:
    return (n + 2 * padding - kernel) // stride + 1


def conv_pool_shape(
    input_shape: tuple[int, int, int, int],
    out_channels: int,
    kernel_size: int,
    padding: int,
    pool: int,
) -> tuple[int, int, int, int]:
    """Shape after Conv2d(stride 1, ``padding``), ReLU and MaxPool2d(``pool``) on (N, C, H, W)."""
    n, _, h, w = input_shape
    h, w = (_conv_size(x, kernel_size, padding) // pool for x in (h, w))
    return (n, out_channels, h, w)


def _compare_shapes(got, expected) -> str | None:
    return compare_shape(as_shape(got, "a shape"), expected)


_CHAPTER_CONV = ((BATCH, IN_CHANNELS, SIZE, SIZE), OUT_CHANNELS, KERNEL, PADDING, POOL)


@exercise("torch-conv-shape", name="conv_pool_shape", chapter=CHAPTER, points=1)
def _conv_shape(answer) -> str | None:
    got = as_shape(value_of_case(answer, _CHAPTER_CONV, "conv_pool_shape"), "a shape")
    conv = _conv_size(SIZE, KERNEL, PADDING)
    pooled = conv // POOL
    expected = (BATCH, OUT_CHANNELS, pooled, pooled)
    mistakes = {
        (BATCH, OUT_CHANNELS, conv, conv): "the max pooling halves the height and the width.",
        (
            BATCH,
            pooled,
            pooled,
            OUT_CHANNELS,
        ): "PyTorch puts the channels before height and width: (N, C, H, W).",
        (
            OUT_CHANNELS,
            pooled,
            pooled,
        ): "keep the batch axis in front: 32 images go in, 32 come out.",
    }
    unpadded = _conv_size(SIZE, KERNEL, 0) // POOL
    mistakes[(BATCH, OUT_CHANNELS, unpadded, unpadded)] = (
        "look at the padding: padding=1 keeps a 3x3 convolution's output at 28 x 28."
    )
    if got in mistakes:
        return mistakes[got]
    hint = compare_shape(got, expected)
    if hint is not None or not callable(answer):
        signature = "conv_pool_shape(input_shape, out_channels, kernel_size, padding, pool)"
        return needs_function(answer, hint, signature)
    cases = [
        (((4, 3, 17, 10), 6, 5, 2, 2), conv_pool_shape((4, 3, 17, 10), 6, 5, 2, 2)),
        (((1, 2, 30, 31), 16, 3, 0, 3), conv_pool_shape((1, 2, 30, 31), 16, 3, 0, 3)),
    ]
    return check_function(answer, cases, compare=_compare_shapes, name="conv_pool_shape")


@grading("torch-conv-shape")
def _conv_shape_graded(answer) -> str | None:
    """Input shapes and layer sizes drawn at grading time."""

    def draw(rng: random.Random) -> tuple:
        kernel = rng.choice((1, 3, 5, 7))
        shape = (rng.randint(1, 64), rng.randint(1, 8), rng.randint(16, 64), rng.randint(16, 64))
        return shape, rng.randint(1, 64), kernel, rng.randint(0, kernel // 2), rng.randint(2, 4)

    cases = drawn_cases(draw, conv_pool_shape, 5)
    func = as_callable(answer, "a function conv_pool_shape(...)")
    return check_function(func, cases, compare=_compare_shapes, name="conv_pool_shape")


def steps_per_epoch(n_samples: int, batch_size: int, drop_last: bool = False) -> int:
    """Optimizer steps in one epoch: one per batch, the short last batch too unless dropped."""
    full, rest = divmod(n_samples, batch_size)
    return full + (1 if rest and not drop_last else 0)


def _compare_steps(got, expected: int) -> str | None:
    return compare_int(as_int(got, "a number of steps"), expected)


@exercise("torch-steps-per-epoch", name="steps_per_epoch", chapter=CHAPTER, points=1)
def _steps(answer) -> str | None:
    expected = steps_per_epoch(IMAGES, BATCH_SIZE)
    mistakes = {
        IMAGES // BATCH_SIZE: "the last batch is smaller than 128, but it is a step too.",
        IMAGES: "the optimizer steps once per batch, not once per image.",
    }
    if not callable(answer):
        hint = compare_int(as_int(answer, "a number of steps"), expected, known_mistakes=mistakes)
        return needs_function(answer, hint, "steps_per_epoch(n_samples, batch_size, drop_last)")
    got = as_int(value_of_case(answer, (IMAGES, BATCH_SIZE, False), "steps_per_epoch"), "steps")
    if got != expected:
        return compare_int(got, expected, known_mistakes=mistakes)
    cases = [
        ((IMAGES, BATCH_SIZE, True), steps_per_epoch(IMAGES, BATCH_SIZE, True)),
        ((IMAGES - 112, BATCH_SIZE, False), steps_per_epoch(IMAGES - 112, BATCH_SIZE, False)),
        ((IMAGES - 112, BATCH_SIZE, True), steps_per_epoch(IMAGES - 112, BATCH_SIZE, True)),
    ]
    hint = check_function(answer, cases, compare=_compare_steps, name="steps_per_epoch")
    if hint is not None:
        return hint + " drop_last=True leaves out a short last batch; a full one stays."
    return None


@grading("torch-steps-per-epoch")
def _steps_graded(answer) -> str | None:
    """Dataset sizes, batch sizes and drop_last drawn at grading time."""
    rng = random.Random(secrets.randbits(64))
    cases = []
    for drop_last in (False, True, False, True):
        n, batch = rng.randint(100, 100_000), rng.randint(2, 600)
        cases.append(((n, batch, drop_last), steps_per_epoch(n, batch, drop_last)))
    batch = rng.randint(2, 600)
    n = batch * rng.randint(1, 200)  # an exact multiple: no short last batch to drop
    cases.append(((n, batch, True), n // batch))
    func = as_callable(answer, "a function steps_per_epoch(n_samples, batch_size, drop_last)")
    return check_function(func, cases, compare=_compare_steps, name="steps_per_epoch")


def cross_entropy(logits, target: int) -> float:
    """``-log softmax(logits)[target]``, computed stably (subtract the largest logit)."""
    top = max(logits)
    log_sum = top + math.log(sum(math.exp(z - top) for z in logits))
    return log_sum - logits[target]


def _cross_entropy_mistakes(logits, target: int) -> list[tuple[float, str]]:
    """The values typical mistakes give on ``(logits, target)``, each with its hint."""
    expected = cross_entropy(logits, target)
    exps = [math.exp(z - max(logits)) for z in logits]
    probabilities = [e / sum(exps) for e in exps]
    return [
        (-expected, "a loss is never negative: mind the sign of the log."),
        (
            cross_entropy(probabilities, target),
            "that is a softmax applied twice: CrossEntropyLoss takes the logits themselves.",
        ),
        (expected / math.log(10), "use the natural logarithm, not log base 10."),
        (1 - probabilities[target], "the loss is minus the log of the probability, not 1 - p."),
        (
            probabilities[target],
            "that is the probability of the true class; the loss is -log of it.",
        ),
    ]


def _compare_loss(got, expected: float) -> str | None:
    return compare_float(as_float(got, "the loss"), expected, rtol=1e-4, atol=1e-6)


@exercise("torch-cross-entropy", name="cross_entropy", chapter=CHAPTER, points=1)
def _cross_entropy(answer) -> str | None:
    got = as_float(value_of_case(answer, (list(LOGITS), TRUE_CLASS), "cross_entropy"), "the loss")
    hint = compare_float(
        got,
        cross_entropy(LOGITS, TRUE_CLASS),
        rtol=1e-4,
        atol=1e-6,
        known_mistakes=_cross_entropy_mistakes(LOGITS, TRUE_CLASS),
    )
    if hint is not None or not callable(answer):
        return needs_function(answer, hint, "cross_entropy(logits, target)")
    logits, target = [0.3, -1.2, 2.5, 0.0, 1.1], 3
    got = as_float(value_of_case(answer, (logits, target), "cross_entropy"), "the loss")
    mistakes = _cross_entropy_mistakes(logits, target)
    mistakes.append(
        (cross_entropy(logits, 0), "take the logit of the target class, logits[target].")
    )
    hint = compare_float(
        got, cross_entropy(logits, target), rtol=1e-4, atol=1e-6, known_mistakes=mistakes
    )
    return None if hint is None else f"cross_entropy({logits}, {target}): {hint}"


@grading("torch-cross-entropy")
def _cross_entropy_graded(answer) -> str | None:
    """Logits and targets drawn at grading time."""

    def draw(rng: random.Random) -> tuple[list[float], int]:
        k = rng.randint(2, 12)
        return [round(rng.uniform(-10, 10), 3) for _ in range(k)], rng.randrange(k)

    cases = drawn_cases(draw, cross_entropy, 6)
    func = as_callable(answer, "a function cross_entropy(logits, target)")
    return check_function(func, cases, compare=_compare_loss, name="cross_entropy")


def _evaluation_problem():
    """A model with BatchNorm and Dropout in training mode, images, and labels on which
    the right evaluation scores exactly 0.5 and a training-mode one does not."""
    import torch
    from torch import nn

    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(12, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(16, 3),
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
        bn = model[2]
        bn.running_mean.fill_(3.0)  # far from any batch's own mean: the modes disagree
        bn.running_var.fill_(0.25)
    images = torch.randn(40, 1, 3, 4, generator=generator)  # (N, C, H, W)
    model.eval()
    with torch.no_grad():
        right = model(images).argmax(dim=1)  # (N,)
    labels = right.clone()
    labels[1::2] = (right[1::2] + 1) % 3  # every second label wrong: accuracy exactly 0.5
    model.train()  # as a model is after training
    return model, images, labels


@exercise("torch-evaluate", name="accuracy_of", chapter=CHAPTER, points=1)
def _evaluate(answer) -> str | None:
    import torch

    func = as_callable(answer, "a function accuracy_of(model, images, labels)")
    model, images, labels = _evaluation_problem()
    seen = {"grad": [], "training": []}

    def spy(module, inputs, output):
        seen["grad"].append(torch.is_grad_enabled())
        seen["training"].append(module.training)

    model[2].register_forward_hook(spy)
    torch.manual_seed(0)
    try:
        result = func(model, images, labels)
    except NotImplementedError as err:
        raise NotAttempted("the function still raises NotImplementedError.") from err
    if result is None:
        raise NotAttempted("accuracy_of returns None: write its body and return the accuracy.")
    if isinstance(result, torch.Tensor) and result.requires_grad:
        return "the result still carries a gradient graph: compute it inside torch.no_grad()."
    if not seen["training"]:
        return "accuracy_of never ran the model on the images."
    if any(seen["training"]):
        return "the model ran in training mode: Dropout and BatchNorm behave differently there."
    if any(seen["grad"]):
        return "the forward pass recorded a graph for backward: evaluate inside torch.no_grad()."
    if isinstance(result, torch.Tensor) and result.numel() != 1:
        return f"return one number, the accuracy; got a tensor of shape {tuple(result.shape)}."
    try:
        value = as_float(result, "the accuracy")
    except WrongType:
        return f"return the accuracy as a Python float, got {describe(result)}."
    if not isinstance(result, float):
        return f"return a Python float (use .item()), got {describe(result)}."
    if math.isclose(value, 50.0):
        return "that is a percentage: return the fraction, between 0 and 1."
    return compare_float(value, 0.5, rtol=0, atol=1e-6)


# torch-train-small: a model of the student's own design, trained within a budget.
SMALL_MAX_PARAMS, SMALL_THRESHOLD = 20_000, 0.70


@exercise("torch-train-small", name="small_model", chapter=CHAPTER, points=3, seconds=180)
def _train_small(answer) -> str | None:
    from cnncourse.exercises.checks._training import check_trained

    return check_trained(
        answer, max_params=SMALL_MAX_PARAMS, threshold=SMALL_THRESHOLD, size=1000, seed=0
    )


@grading("torch-train-small")
def _train_small_graded(answer) -> str | None:
    """2,000 test images drawn at grading time."""
    from cnncourse.exercises.checks._training import check_trained

    return check_trained(
        answer, max_params=SMALL_MAX_PARAMS, threshold=SMALL_THRESHOLD, size=2000, seed=None
    )


# torch-read-mode (read): the chapter's mode_table, the VGG's eval-mode accuracy minus
# its accuracy in training mode (run 1).
# torch-flip-experiment (experiment): the chapter's trained `tiny` on its test images
# (test_images, test_labels) mirrored left to right.


@exercise(
    "torch-read-mode",
    name="vgg_mode_drop",
    chapter=CHAPTER,
    points=1,
    uses=("mode_table",),
)
def _read_mode(answer) -> str | None:
    got = as_float(answer, "a difference of two accuracies")
    table = chapter_value("mode_table")
    drop = float(table.loc["vgg", "eval mode"] - table.loc["vgg", "train mode, run 1"])
    return compare_float(
        got,
        drop,
        rtol=0.0,
        atol=2e-4,  # the table shows four decimals
        known_mistakes=[
            (-drop, "check the sign: evaluation mode minus training mode."),
            (100 * drop, "give it as a fraction, not percentage points."),
            (
                float(table.loc["vgg", "eval mode"] - table.loc["vgg", "train mode, run 2"]),
                "that is run 2; read run 1.",
            ),
        ],
    )


def flipped_accuracy(model, images, labels) -> float:
    """Accuracy of ``model`` on uint8 ``images`` (N, C, H, W tensors) mirrored left-right."""
    import numpy as np

    pixels = np.asarray(images.cpu()).transpose(0, 2, 3, 1)  # as (N, H, W, C)
    predicted = predicted_classes(model, pixels[:, :, ::-1])
    return float((predicted == np.asarray(labels.cpu())).mean())


@exercise(
    "torch-flip-experiment",
    name="flipped_test_accuracy",
    chapter=CHAPTER,
    points=2,
    uses=("tiny", "test_images", "test_labels"),
)
def _flip_experiment(answer) -> str | None:
    import torch

    got = as_float(answer, "an accuracy between 0 and 1")
    tiny = chapter_value("tiny")
    images = torch.as_tensor(chapter_value("test_images")).cpu()
    labels = chapter_value("test_labels")
    expected = flipped_accuracy(tiny, images, labels)
    unflipped = flipped_accuracy(tiny, images.flip(dims=[-1]), labels)
    upside_down = flipped_accuracy(tiny, images.flip(dims=[-1, -2]), labels)
    return compare_float(
        got,
        expected,
        rtol=0.0,
        atol=2e-3,
        known_mistakes=[
            (unflipped, "that is the accuracy on the images as they are; mirror them."),
            (upside_down, "that flips top to bottom; mirror left to right (the last axis)."),
        ],
    )
