"""Checks of the chapter "Keras versus PyTorch" (``book/keras_vs_pytorch.md``).

Expected values are computed from the problem: Keras' own Adam default, the softmax
of a one-hot vector, Adam's bias correction, and the two flatten orders.
"""

from __future__ import annotations

import math

from cnncourse.exercises.answers import (
    WrongType,
    as_float,
    check_function,
    compare_float,
    describe,
)
from cnncourse.exercises.registry import chapter_value, exercise

CHAPTER = "keras_vs_pytorch"

NUM_CLASSES = 10  # kvp-ex2: Fashion-MNIST's ten classes
BETA_2, STEP = 0.999, 1  # kvp-ex3: Adam's default beta_2, the first step
TORCH_ADAM_EPS = 1e-8  # torch.optim.Adam's default eps, a typical wrong answer
# kvp-ex4: (height, width, channels) of the feature maps before Flatten, and classes.
FLATTEN_CASES = ((7, 7, 16, 10), (2, 3, 4, 5))


def keras_adam_epsilon() -> float:
    """The default ``epsilon`` of ``keras.optimizers.Adam``, read from Keras itself."""
    import inspect

    from cnncourse._frameworks import import_keras

    keras = import_keras()
    return float(inspect.signature(keras.optimizers.Adam).parameters["epsilon"].default)


def double_softmax_floor(num_classes: int) -> float:
    """The lowest cross-entropy a softmax output can reach when the loss applies softmax again.

    The best the model can output is a one-hot vector (1 for the true class, 0 elsewhere);
    softmax of that is ``e / (e + K - 1)`` for the true class.
    """
    return math.log(1 + (num_classes - 1) / math.e)


def keras_dense_to_torch_reference(kernel, height: int, width: int, channels: int):
    """Keras Dense kernel ``(H*W*C, O)`` after Flatten -> PyTorch Linear weight ``(O, C*H*W)``."""
    import numpy as np

    kernel = np.asarray(kernel)
    out = kernel.shape[1]
    # rows are in Keras' (H, W, C) order: regroup them, move C first, transpose to (O, ...)
    return kernel.reshape(height, width, channels, out).transpose(3, 2, 0, 1).reshape(out, -1)


@exercise("kvp-adam-epsilon", chapter=CHAPTER, points=1)
def _adam_epsilon(answer) -> str | None:
    got = as_float(answer, "an epsilon")
    return compare_float(
        got,
        keras_adam_epsilon(),
        rtol=1e-6,
        atol=0.0,
        known_mistakes=[
            (TORCH_ADAM_EPS, "that is PyTorch's own default; the question asks for Keras'."),
            (1e-3, "that is Keras' BatchNormalization epsilon, not Adam's."),
            (1e-5, "that is PyTorch's BatchNorm epsilon, not an Adam default."),
        ],
    )


@exercise("kvp-double-softmax-floor", chapter=CHAPTER, points=1)
def _double_softmax_floor(answer) -> str | None:
    got = as_float(answer, "a loss value")
    expected = double_softmax_floor(NUM_CLASSES)
    return compare_float(
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
        ],
    )


@exercise("kvp-keras-epsilon-step1", chapter=CHAPTER, points=1)
def _keras_epsilon_step1(answer) -> str | None:
    from cnncourse.interop import torch_eps_matching_keras

    got = as_float(answer, "an eps for PyTorch")
    keras_eps = keras_adam_epsilon()
    expected = torch_eps_matching_keras(keras_eps, BETA_2, STEP)
    return compare_float(
        got,
        expected,
        rtol=1e-3,
        atol=0.0,
        known_mistakes=[
            (keras_eps, "equal values match only after many steps, when 1 - beta_2**t is ~1."),
            (
                keras_eps * math.sqrt(1 - BETA_2**STEP),
                "the factor goes the other way: Keras' epsilon is bigger in PyTorch's terms.",
            ),
            (
                keras_eps / (1 - BETA_2**STEP),
                "the bias correction of the second moment enters through its square root.",
            ),
        ],
    )


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
