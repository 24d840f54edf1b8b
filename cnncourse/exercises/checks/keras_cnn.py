"""Checks of the chapter "A CNN in Keras" (``book/keras_cnn.md``).

Expected values are computed from the problem each exercise poses (the logits, the
logged validation losses, the reference model), not stored.
"""

from __future__ import annotations

import math

from cnncourse.exercises.answers import (
    WrongType,
    as_bool,
    as_float,
    as_shape,
    compare_float,
    describe,
)
from cnncourse.exercises.registry import chapter_value, exercise

CHAPTER = "keras_cnn"

# keras-ex2: the logits of one image and its true class.
LOGITS = (2.0, 1.0, 0.1)
TRUE_CLASS = 0
KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): how Keras clips probabilities

# keras-ex3: the validation losses a run would log, epoch by epoch, and the patience.
VAL_LOSSES = (0.62, 0.48, 0.45, 0.46, 0.44, 0.47, 0.49, 0.51, 0.43)
PATIENCE = 2


def cross_entropy_from_logits(logits, label: int) -> float:
    """``-log softmax(logits)[label]`` with the log-sum-exp trick (natural log)."""
    top = max(logits)
    return top + math.log(sum(math.exp(z - top) for z in logits)) - logits[label]


def softmax(values) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    return [e / sum(exps) for e in exps]


def cross_entropy_from_probabilities(probabilities, label: int) -> float:
    """What Keras computes with ``from_logits=False``: clip, take the log, normalise."""
    clipped = [min(max(p, KERAS_EPSILON), 1 - KERAS_EPSILON) for p in probabilities]
    return cross_entropy_from_logits([math.log(p) for p in clipped], label)


def early_stopping(val_losses, patience: int) -> tuple[int, int]:
    """``(last epoch run, epoch whose weights are restored)``, epochs counted from 1.

    Keras' rule with ``min_delta=0``: a loss lower than the best so far resets the
    wait; otherwise the wait grows, and training stops once it reaches ``patience``.
    """
    best, best_epoch, wait = math.inf, 0, 0
    for epoch, loss in enumerate(val_losses, start=1):
        if loss < best:
            best, best_epoch, wait = loss, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                return epoch, best_epoch
    return len(val_losses), best_epoch


@exercise("keras-softmax-from-logits", chapter=CHAPTER, points=1)
def _softmax_from_logits(answer) -> str | None:
    if as_bool(answer, "True or False (the value of from_logits)") is not False:
        return (
            "from_logits=True tells the loss to apply softmax itself. Does this model's "
            "output still need one?"
        )
    return None


@exercise("keras-loss-value", chapter=CHAPTER, points=1)
def _loss_value(answer) -> str | None:
    got = as_float(answer, "the loss")
    expected = cross_entropy_from_logits(LOGITS, TRUE_CLASS)
    probability = softmax(LOGITS)[TRUE_CLASS]
    mistakes = [
        (probability, "that is the probability of the true class; the loss is its negative log."),
        (
            expected / math.log(10),
            "that uses the base-10 logarithm; cross-entropy uses the natural log.",
        ),
        (
            cross_entropy_from_probabilities(LOGITS, TRUE_CLASS),
            "that treats the logits as probabilities (from_logits=False).",
        ),
        (
            cross_entropy_from_logits(softmax(LOGITS), TRUE_CLASS),
            "that applies softmax twice: the loss does it once, on the logits.",
        ),
        (-expected, "a cross-entropy loss is never negative: check the sign."),
    ]
    return compare_float(got, expected, rtol=1e-3, atol=1e-4, known_mistakes=mistakes)


@exercise("keras-early-stopping", chapter=CHAPTER, points=1)
def _early_stopping(answer) -> str | None:
    try:
        got = as_shape(answer, "a pair (last epoch run, epoch restored)")
    except WrongType as err:
        raise WrongType(
            f"expected a pair of epoch numbers such as (4, 2), got {describe(answer)}."
        ) from err
    if len(got) != 2:
        return "answer with two numbers: (last epoch run, epoch whose weights are restored)."
    stopped, restored = early_stopping(VAL_LOSSES, PATIENCE)
    if got == (stopped, restored):
        return None
    if 0 in got or got == (stopped - 1, restored - 1):
        return "count epochs from 1, as Keras prints them."
    if got[0] != stopped:
        if got[0] == len(VAL_LOSSES):
            return "EarlyStopping ends the run before the last epoch: when does the wait reach 2?"
        if got[0] == stopped - 1:
            return (
                "one epoch short: the epoch that makes the wait reach the patience still runs "
                "(its loss is what EarlyStopping looks at)."
            )
        return (
            f"the run does not stop after epoch {got[0]}. Walk through the losses keeping the "
            "best so far and a count of epochs without improvement."
        )
    if got[1] == stopped:
        return "restore_best_weights=True keeps the best epoch's weights, not the last one's."
    if got[1] > stopped:
        return "the restored weights come from an epoch that was actually run."
    return f"epoch {got[1]} is not the epoch with the lowest validation loss among those run."


@exercise("keras-rescaling-model", chapter=CHAPTER, points=2)
def _rescaling_model(answer) -> str | None:
    import numpy as np

    from cnncourse._frameworks import import_keras
    from cnncourse.models import build_model, count_parameters

    keras = import_keras()
    if not isinstance(answer, keras.Model):
        raise WrongType(f"expected a Keras model (keras.Sequential(...)), got {describe(answer)}.")
    if not isinstance(answer, keras.Sequential):
        return "build it with keras.Sequential([...]), one layer after the other."
    reference = build_model("tiny", "keras")
    ours, theirs = count_parameters(answer), count_parameters(reference)
    if ours != theirs:
        return (
            f"your model has {ours:,} trainable parameters, the tiny CNN {theirs:,}. Compare "
            "them layer by layer with model.summary(); Rescaling adds none."
        )
    if not any(isinstance(layer, keras.layers.Rescaling) for layer in answer.layers):
        return "the model has no Rescaling layer: it should take raw pixels 0..255."
    try:
        answer.set_weights(reference.get_weights())
    except ValueError:
        return "the weights do not fit layer by layer: keep the tiny CNN's layer order."
    rng = np.random.default_rng(0)
    # synthetic raw pixels: enough to tell two functions apart
    pixels = rng.integers(0, 256, size=(4, 28, 28, 1)).astype("float32")
    try:
        got = keras.ops.convert_to_numpy(answer(pixels, training=False))
    except Exception as err:  # a student's model may fail in many ways
        return f"your model cannot process a batch of shape (4, 28, 28, 1): {err}"
    expected = keras.ops.convert_to_numpy(reference(pixels / 255.0, training=False))
    if got.shape != expected.shape:
        return f"your model returns shape {got.shape}; the tiny CNN returns {expected.shape}."
    if np.allclose(got, expected, atol=1e-4):
        return None
    if np.allclose(got.sum(axis=1), 1.0, atol=1e-4):
        return "your model ends in softmax; the tiny CNN outputs logits (no activation)."
    scaled = keras.ops.convert_to_numpy(reference(pixels, training=False))
    if np.allclose(got, scaled, atol=1e-3):
        return "the pixels reach the convolutions unscaled: Rescaling should multiply by 1/255."
    return (
        "same parameters, different function: check the layer order, padding='same', and "
        "that Rescaling comes first."
    )


# keras-read-shirts (read): the chapter's `predicted` classes of the 10,000 test images,
# in the order of the test split; the class that shirts are most often mistaken for.
SHIRT = "Shirt"


@exercise(
    "keras-read-shirts",
    name="shirts_mistaken_for",
    chapter=CHAPTER,
    points=1,
    uses=("predicted",),
)
def _read_shirts(answer) -> str | None:
    import numpy as np

    from cnncourse import data

    test = data.load("fashion_mnist", "test")
    names = list(test.class_names)
    if not isinstance(answer, str):
        raise WrongType(f"expected a class name such as {names[0]!r}, got {describe(answer)}.")
    predicted = np.asarray(chapter_value("predicted"))
    if predicted.shape != test.labels.shape:
        return "`predicted` should hold one class per test image: run the chapter's cells."
    shirts = predicted[test.labels == names.index(SHIRT)]
    counts = np.bincount(shirts, minlength=len(names))
    counts[names.index(SHIRT)] = -1  # a shirt predicted as a shirt is no mistake
    expected = names[int(counts.argmax())]
    chosen = answer.strip().lower()
    if chosen == expected.lower():
        return None
    if chosen not in [n.lower() for n in names]:
        return f"{answer!r} is not a class name; the classes are {', '.join(names)}."
    if chosen == SHIRT.lower():
        return "leave out the shirts predicted correctly: which OTHER class do they get?"
    return "count the predictions of the images whose true class is Shirt, by class."
