"""Checks of the chapter "Keras versus PyTorch" (``book/keras_vs_pytorch.md``).

Expected values are computed from the problem: Adam's first step, the softmax of a
one-hot vector, Adam's bias correction, the two flatten orders, and the notebook's own
trained model.
"""

from __future__ import annotations

import math
import random

from cnncourse.exercises.answers import (
    WrongType,
    as_float,
    check_fresh_cases,
    check_function,
    compare_float,
    describe,
    drawn_cases,
    needs_function,
    value_of_case,
)
from cnncourse.exercises.registry import chapter_value, exercise, grading

CHAPTER = "keras_vs_pytorch"

KERAS_ADAM_EPS, TORCH_ADAM_EPS = 1e-7, 1e-8  # the two Adam defaults the chapter reads
BETA_1, BETA_2 = 0.9, 0.999  # Adam's default betas, the same in both
# kvp-adam-epsilon: (lr, eps, grad) of PyTorch Adam's first step, Keras' epsilon and a
# gradient as small as it.
STEP_CASE = (1e-3, KERAS_ADAM_EPS, 1e-7)
NUM_CLASSES = 10  # kvp-double-softmax-floor: Fashion-MNIST's ten classes
EPS_CASE = (KERAS_ADAM_EPS, BETA_2, 1)  # kvp-keras-epsilon-step1: Keras' defaults, step 1
# kvp-flatten-order: (height, width, channels) of the feature maps before Flatten, and classes.
FLATTEN_CASES = ((7, 7, 16, 10), (2, 3, 4, 5))


def first_adam_step(lr: float, eps: float, grad: float) -> float:
    """The change of a parameter at ``torch.optim.Adam``'s first step: ``-lr g / (|g| + eps)``.

    At step 1 the bias-corrected moments are ``g`` and ``g**2`` whatever the betas.
    """
    return -lr * grad / (abs(grad) + eps)


def double_softmax_floor(num_classes: int) -> float:
    """The lowest cross-entropy a softmax output can reach when the loss applies softmax again.

    The best the model can output is a one-hot vector (1 for the true class, 0 elsewhere);
    softmax of that is ``e / (e + K - 1)`` for the true class.
    """
    return math.log(1 + (num_classes - 1) / math.e)


def matching_torch_eps(epsilon: float, beta_2: float, step: int) -> float:
    """PyTorch's ``eps`` that takes Keras' Adam step ``step`` (``interop`` computes it)."""
    from cnncourse.interop import torch_eps_matching_keras

    return torch_eps_matching_keras(epsilon, beta_2, step)


def keras_dense_to_torch_reference(kernel, height: int, width: int, channels: int):
    """Keras Dense kernel ``(H*W*C, O)`` after Flatten -> PyTorch Linear weight ``(O, C*H*W)``."""
    import numpy as np

    kernel = np.asarray(kernel)
    out = kernel.shape[1]
    # rows are in Keras' (H, W, C) order: regroup them, move C first, transpose to (O, ...)
    return kernel.reshape(height, width, channels, out).transpose(3, 2, 0, 1).reshape(out, -1)


def _first_step_mistakes(lr: float, eps: float, grad: float) -> list[tuple[float, str]]:
    """Values typical mistakes give for ``first_adam_step(lr, eps, grad)``, with hints."""
    size = abs(grad)
    return [
        (
            -first_adam_step(lr, eps, grad),
            "the parameter moves against the gradient: a positive gradient lowers it.",
        ),
        (
            -lr * math.copysign(1.0, grad),
            "that leaves epsilon out; it is added to the root of the second moment.",
        ),
        (
            -lr * (1 - BETA_1) * grad / (math.sqrt(1 - BETA_2) * size + eps),
            "Adam divides both moments by 1 - beta**t first (bias correction): at step 1 "
            "they become g and g**2.",
        ),
        (
            -lr * grad / (size + eps / math.sqrt(1 - BETA_2)),
            "that is Keras' placement of epsilon (before the bias correction); "
            "torch.optim.Adam adds it after.",
        ),
        (
            -lr * grad / math.sqrt(grad**2 + eps),
            "epsilon is added to the square root, not inside it.",
        ),
    ]


@exercise("kvp-adam-epsilon", name="first_adam_step", chapter=CHAPTER, points=1)
def _adam_epsilon(answer) -> str | None:
    value = value_of_case(answer, STEP_CASE, "first_adam_step")
    got = as_float(value, "the change of the parameter")
    verdict = compare_float(
        got,
        first_adam_step(*STEP_CASE),
        rtol=1e-5,
        atol=0.0,
        known_mistakes=_first_step_mistakes(*STEP_CASE),
    )
    return needs_function(answer, verdict, "first_adam_step(lr, eps, grad)")


@grading("kvp-adam-epsilon")
def _adam_epsilon_graded(answer) -> str | None:
    """Learning rates, epsilons and gradients of either sign drawn at grading time."""

    def draw(rng: random.Random) -> tuple[float, float, float]:
        lr, eps = 10 ** rng.uniform(-4, -1), 10 ** rng.uniform(-9, -5)
        return lr, eps, rng.choice((-1, 1)) * eps * 10 ** rng.uniform(-2, 2)

    cases = drawn_cases(draw, first_adam_step, 5)
    cases.append(((1e-3, 1e-8, 0.0), 0.0))  # no gradient, no step
    return check_fresh_cases(answer, cases, "first_adam_step", rtol=1e-5, atol=1e-15)


@exercise("kvp-double-softmax-floor", name="double_softmax_floor", chapter=CHAPTER, points=1)
def _double_softmax_floor(answer) -> str | None:
    value = value_of_case(answer, (NUM_CLASSES,), "double_softmax_floor")
    got = as_float(value, "a loss value")
    expected = double_softmax_floor(NUM_CLASSES)
    verdict = compare_float(
        got,
        expected,
        rtol=1e-3,
        atol=1e-4,
        known_mistakes=[
            (
                0.0,
                "0 is the floor when the loss gets logits; here its softmax sees probabilities.",
            ),
            (
                math.log(NUM_CLASSES),
                "that is the loss of a uniform guess; the best output is a one-hot vector.",
            ),
            (
                expected / math.log(10),
                "use the natural logarithm, as the cross-entropy loss does.",
            ),
            (
                math.log(1 + NUM_CLASSES / math.e),
                "the true class gets e**1; only the other K - 1 classes get e**0 = 1.",
            ),
        ],
    )
    return needs_function(answer, verdict, "double_softmax_floor(num_classes)")


@grading("kvp-double-softmax-floor")
def _double_softmax_floor_graded(answer) -> str | None:
    """Class counts drawn at grading time, and the two classes of a binary problem."""

    def draw(rng: random.Random) -> tuple[int]:
        return (rng.randint(3, 1000),)

    cases = drawn_cases(draw, double_softmax_floor, 5)
    cases.append(((2,), double_softmax_floor(2)))
    return check_fresh_cases(answer, cases, "double_softmax_floor", rtol=1e-5, atol=1e-9)


@exercise("kvp-keras-epsilon-step1", name="matching_torch_eps", chapter=CHAPTER, points=1)
def _keras_epsilon_step1(answer) -> str | None:
    value = value_of_case(answer, EPS_CASE, "matching_torch_eps")
    got = as_float(value, "an eps for PyTorch")
    keras_eps, beta_2, step = EPS_CASE
    correction = 1 - beta_2**step
    verdict = compare_float(
        got,
        matching_torch_eps(*EPS_CASE),
        rtol=1e-3,
        atol=0.0,
        known_mistakes=[
            (keras_eps, "equal values match only after many steps, when 1 - beta_2**t is ~1."),
            (
                keras_eps * math.sqrt(correction),
                "the factor goes the other way: Keras' epsilon is bigger in PyTorch's terms.",
            ),
            (
                keras_eps / correction,
                "the bias correction of the second moment enters through its square root.",
            ),
        ],
    )
    return needs_function(answer, verdict, "matching_torch_eps(epsilon, beta_2, step)")


@grading("kvp-keras-epsilon-step1")
def _keras_epsilon_step1_graded(answer) -> str | None:
    """Epsilons, beta_2 values and steps (early and late) drawn at grading time."""

    def draw(rng: random.Random) -> tuple[float, float, int]:
        epsilon, beta_2 = 10 ** rng.uniform(-9, -5), rng.uniform(0.9, 0.9999)
        return epsilon, beta_2, rng.choice((rng.randint(1, 20), rng.randint(21, 5000)))

    cases = drawn_cases(draw, matching_torch_eps, 5)
    cases.append(((1e-7, 0.99, 1), matching_torch_eps(1e-7, 0.99, 1)))  # the first step
    return check_fresh_cases(answer, cases, "matching_torch_eps", rtol=1e-5, atol=0.0)


@exercise("kvp-flatten-order", name="keras_dense_to_torch", chapter=CHAPTER, points=2)
def _flatten_order(answer) -> str | None:
    import numpy as np

    if not callable(answer):
        raise WrongType(
            "expected your function keras_dense_to_torch (the function itself, not a call), "
            f"got {describe(answer)}."
        )
    rng = np.random.default_rng(0)
    cases, plain_transposes = [], {}
    for height, width, channels, out in FLATTEN_CASES:
        kernel = rng.standard_normal((height * width * channels, out)).astype("float32")
        expected = keras_dense_to_torch_reference(kernel, height, width, channels)
        cases.append(((kernel, height, width, channels), expected))
        plain_transposes[id(expected)] = kernel.T  # the typical mistake, for its own hint

    def compare(got, expected) -> str | None:
        if hasattr(got, "detach"):  # a torch tensor is fine too
            got = got.detach().cpu().numpy()
        got = np.asarray(got)
        if got.shape != expected.shape:
            if got.shape == expected.shape[::-1]:
                return "PyTorch's Linear weight is (out_features, in_features): transpose it."
            return f"the shape is {got.shape}; a Linear weight here is {expected.shape}."
        if np.allclose(got, expected, atol=1e-6):
            return None
        if np.allclose(got, plain_transposes[id(expected)], atol=1e-6):
            return (
                "a plain transpose keeps Keras' (H, W, C) order of the inputs; PyTorch's "
                "Flatten orders them (C, H, W)."
            )
        return "the values are in the wrong places: reshape to (H, W, C, out) and reorder."

    return check_function(answer, cases, compare=compare, name="keras_dense_to_torch")


# kvp-read-softmax-cost (read): the chapter's `softmax_table`, the test accuracy the
# PyTorch run with softmax twice loses against the reference run.
REFERENCE = ("PyTorch", "logits", "logits")
TWICE = ("PyTorch", "probabilities", "logits")


@exercise(
    "kvp-read-softmax-cost",
    name="softmax_twice_cost",
    chapter=CHAPTER,
    points=1,
    uses=("softmax_table",),
)
def _read_softmax_cost(answer) -> str | None:
    got = as_float(answer, "a difference of two accuracies (a fraction)")
    table = chapter_value("softmax_table")
    right = float(table.loc[REFERENCE, "test accuracy"])
    twice = float(table.loc[TWICE, "test accuracy"])
    return compare_float(
        got,
        right - twice,
        rtol=0.0,
        atol=1.2e-3,  # two values the table shows to three decimals
        known_mistakes=[
            (twice - right, "check the sign: the reference minus softmax twice."),
            (100 * (right - twice), "give it as a fraction, not percentage points."),
            (twice, "that is the accuracy itself; subtract it from the reference run's."),
        ],
    )


# kvp-softmax-trained (experiment): the chapter's trained `torch_model` on its `probe`
# images, with one change: a softmax after the model, before CrossEntropyLoss.
def trained_losses(model, images, labels) -> dict[str, float]:
    """Mean cross-entropy of ``model`` on ``images`` (N, H, W, C): on its logits, on their
    softmax (softmax twice), and on the softmax of the softmax (three times)."""
    import copy

    import numpy as np
    import torch
    import torch.nn.functional as F

    copied = copy.deepcopy(model).cpu().eval()
    batch = torch.from_numpy(np.asarray(images, dtype="float32")).permute(0, 3, 1, 2)
    target = torch.from_numpy(np.asarray(labels)).long()
    with torch.no_grad():
        logits = copied(batch)  # (N, K)
        once = logits.softmax(dim=1)
        return {
            "logits": F.cross_entropy(logits, target).item(),
            "twice": F.cross_entropy(once, target).item(),
            "three times": F.cross_entropy(once.softmax(dim=1), target).item(),
        }


def _softmax_trained_verdict(answer, *, hints: bool) -> str | None:
    got = as_float(answer, "a mean loss")
    model = chapter_value("torch_model")
    losses = trained_losses(model, chapter_value("probe"), chapter_value("probe_labels"))
    floor = double_softmax_floor(NUM_CLASSES)
    mistakes = [
        (
            losses["logits"],
            "that is the loss on the logits; put a softmax between the model and the loss.",
        ),
        (
            losses["three times"],
            "one softmax after the model is enough: the loss applies the second itself.",
        ),
        (floor, "that is the floor any output can reach; measure the trained model."),
    ]
    return compare_float(
        got,
        losses["twice"],
        rtol=0.0,
        atol=2e-3,  # the same forward pass, on another device at most: float rounding
        known_mistakes=mistakes if hints else (),
    )


@exercise(
    "kvp-softmax-trained",
    name="softmax_twice_loss",
    chapter=CHAPTER,
    points=2,
    uses=("torch_model", "probe", "probe_labels"),
)
def _softmax_trained(answer) -> str | None:
    return _softmax_trained_verdict(answer, hints=True)


@grading("kvp-softmax-trained")
def _softmax_trained_graded(answer) -> str | None:
    """The same measurement, without the hint values."""
    return _softmax_trained_verdict(answer, hints=False)
