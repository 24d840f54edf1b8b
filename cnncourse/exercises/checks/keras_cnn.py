"""Checks of the chapter "A CNN in Keras" (``book/keras_cnn.md``).

Expected values are computed from the problem each exercise poses (the logits, the
logged validation losses, the reference model), not stored.
"""

from __future__ import annotations

import math
import random
import secrets

from cnncourse.exercises.answers import (
    WrongType,
    as_bool,
    as_callable,
    as_float,
    as_shape,
    check_function,
    compare_float,
    describe,
    drawn_cases,
    needs_function,
    value_of_case,
)
from cnncourse.exercises.checks._training import predicted_classes
from cnncourse.exercises.registry import chapter_value, exercise, grading

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


def from_logits_for(outputs) -> bool:
    """The ``from_logits`` a loss needs for a model whose batch of outputs is ``outputs``:
    ``False`` when every row is a probability distribution (softmax outputs), else ``True``."""
    rows = [[float(v) for v in row] for row in outputs]
    probabilities = all(
        min(row) >= 0 and math.isclose(sum(row), 1.0, abs_tol=1e-4) for row in rows
    )
    return not probabilities


def _outputs(rng: random.Random, n: int, k: int, kind: str):
    """A float32 batch (n, k) of a model's outputs: ``softmax`` probabilities, or logits
    (``logits`` around 0, ``positive`` logits shifted above 0, as softmax allows)."""
    import numpy as np

    logits = np.array([[rng.gauss(0, 3) for _ in range(k)] for _ in range(n)])
    if kind == "positive":
        logits = logits - logits.min() + rng.uniform(0.1, 5)
    if kind == "softmax":
        exps = np.exp(logits - logits.max(axis=1, keepdims=True))
        logits = exps / exps.sum(axis=1, keepdims=True)
    return logits.astype("float32")


def _compare_bool(got, expected: bool) -> str | None:
    got = as_bool(got, "True or False (the value of from_logits)")
    if got == expected:
        return None
    if expected:
        return "these outputs are not probabilities, so the loss must apply softmax itself."
    return (
        "from_logits=True tells the loss to apply softmax itself. Do these outputs still need one?"
    )


@exercise("keras-softmax-from-logits", name="from_logits_for", chapter=CHAPTER, points=1)
def _softmax_from_logits(answer) -> str | None:
    rng = random.Random(0)
    chapter_case = _outputs(rng, 4, 10, "softmax")  # a softmax-ended model's outputs
    got = value_of_case(answer, (chapter_case,), "from_logits_for")
    hint = _compare_bool(got, False)
    if hint is not None or not callable(answer):
        return needs_function(answer, hint, "from_logits_for(outputs)")
    for kind, n, k in (("logits", 4, 10), ("positive", 3, 5), ("softmax", 5, 3)):
        case = ((_outputs(rng, n, k, kind),), kind != "softmax")
        hint = check_function(answer, [case], compare=_compare_bool, name="from_logits_for")
        if hint is not None:
            if kind == "positive":
                return f"{hint} These logits are all positive: what do softmax outputs add up to?"
            return hint
    return None


@grading("keras-softmax-from-logits")
def _softmax_from_logits_graded(answer) -> str | None:
    """Batches of softmax outputs and of logits, of sizes drawn at grading time."""
    rng = random.Random(secrets.randbits(64))
    kinds = ["softmax", "logits", "positive", "softmax", "logits", "positive"]
    rng.shuffle(kinds)
    batches = [_outputs(rng, rng.randint(1, 16), rng.randint(2, 20), kind) for kind in kinds]
    cases = [((out,), from_logits_for(out)) for out in batches]
    func = as_callable(answer, "a function from_logits_for(outputs)")
    return check_function(func, cases, compare=_compare_bool, name="from_logits_for")


def loss_from_logits(logits, labels) -> float:
    """Keras' ``SparseCategoricalCrossentropy(from_logits=True)``: the batch mean of
    ``-log softmax(logits[i])[labels[i]]``."""
    rows = [[float(v) for v in row] for row in logits]
    losses = [cross_entropy_from_logits(row, int(y)) for row, y in zip(rows, labels, strict=True)]
    return sum(losses) / len(losses)


def _loss_problem(rng: random.Random) -> tuple:
    """A batch of logits (N, K) and integer labels (N,), as NumPy arrays."""
    import numpy as np

    n, k = rng.randint(1, 8), rng.randint(2, 12)
    logits = np.array([[round(rng.uniform(-8, 8), 2) for _ in range(k)] for _ in range(n)])
    return logits, np.array([rng.randrange(k) for _ in range(n)])


def _compare_loss(got, expected: float) -> str | None:
    return compare_float(as_float(got, "the loss"), expected, rtol=1e-4, atol=1e-6)


@exercise("keras-loss-value", name="loss_from_logits", chapter=CHAPTER, points=1)
def _loss_value(answer) -> str | None:
    import numpy as np

    case = (np.array([LOGITS]), np.array([TRUE_CLASS]))
    got = as_float(value_of_case(answer, case, "loss_from_logits"), "the loss")
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
    hint = compare_float(got, expected, rtol=1e-3, atol=1e-4, known_mistakes=mistakes)
    if hint is not None or not callable(answer):
        return needs_function(answer, hint, "loss_from_logits(logits, labels)")
    logits = np.array([[2.0, -1.0, 0.5, 3.0], [0.0, 4.0, -2.0, 1.0], [1.5, 1.5, -0.5, 0.0]])
    labels = [3, 0, 2]
    losses = [
        cross_entropy_from_logits(row, y) for row, y in zip(logits.tolist(), labels, strict=True)
    ]
    mistakes = [
        (sum(losses), "the loss of a batch is the mean over its images, not the sum."),
        (losses[0], "the loss of a batch is the mean over all its images."),
        (
            sum(cross_entropy_from_logits(row, 0) for row in logits.tolist()) / 3,
            "take each image's own label: logits[i, labels[i]].",
        ),
    ]

    def compare(got, expected: float) -> str | None:
        got = as_float(got, "the loss")
        return compare_float(got, expected, rtol=1e-4, atol=1e-6, known_mistakes=mistakes)

    cases = [((logits, np.array(labels)), sum(losses) / len(losses))]
    return check_function(answer, cases, compare=compare, name="loss_from_logits")


@grading("keras-loss-value")
def _loss_value_graded(answer) -> str | None:
    """Batches of logits and labels drawn at grading time."""
    cases = drawn_cases(_loss_problem, loss_from_logits, 6)
    func = as_callable(answer, "a function loss_from_logits(logits, labels)")
    return check_function(func, cases, compare=_compare_loss, name="loss_from_logits")


def _compare_epochs(got, expected: tuple[int, int]) -> str | None:
    try:
        got = as_shape(got, "a pair (last epoch run, epoch restored)")
    except WrongType as err:
        raise WrongType(
            f"expected a pair of epoch numbers such as (4, 2), got {describe(got)}."
        ) from err
    if len(got) != 2:
        return "return two numbers: (last epoch run, epoch whose weights are restored)."
    return None if got == expected else f"returned {got}."


def _early_stopping_hint(got, val_losses, patience: int) -> str | None:
    """A hint for the pair ``got`` on the chapter's losses, worked out from them."""
    got = as_shape(got, "a pair (last epoch run, epoch restored)")
    stopped, restored = early_stopping(val_losses, patience)
    if len(got) != 2:
        return "return two numbers: (last epoch run, epoch whose weights are restored)."
    if got == (stopped, restored):
        return None
    if 0 in got or got == (stopped - 1, restored - 1):
        return "count epochs from 1, as Keras prints them."
    if got[0] != stopped:
        if got[0] == len(val_losses):
            return (
                "EarlyStopping ends the run before the last epoch: when does the wait "
                f"reach {patience}?"
            )
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


@exercise("keras-early-stopping", name="stopping_epoch", chapter=CHAPTER, points=1)
def _early_stopping(answer) -> str | None:
    got = value_of_case(answer, (VAL_LOSSES, PATIENCE), "stopping_epoch")
    try:
        hint = _early_stopping_hint(got, VAL_LOSSES, PATIENCE)
    except WrongType as err:
        raise WrongType(
            f"expected a pair of epoch numbers such as (4, 2), got {describe(got)}."
        ) from err
    if hint is not None or not callable(answer):
        return needs_function(answer, hint, "stopping_epoch(val_losses, patience)")
    for losses, patience in (
        ((0.9, 0.8, 0.85, 0.8, 0.82, 0.78), 2),  # a tie is no improvement
        ((1.0, 0.9, 0.85, 0.86, 0.8, 0.81), 2),  # never stops: the best is restored
    ):
        hint = _early_stopping_hint(
            value_of_case(answer, (losses, patience), "stopping_epoch"), losses, patience
        )
        if hint is not None:
            return f"stopping_epoch({losses}, {patience}): {hint}"
    return None


def _draw_losses(rng: random.Random) -> tuple:
    """Validation losses on a 0.01 grid (ties included) and a patience."""
    loss, losses = rng.uniform(0.4, 1.5), []
    for _ in range(rng.randint(5, 16)):
        losses.append(round(loss, 2))
        loss = max(0.05, loss + rng.choice((-0.08, -0.04, -0.02, 0.0, 0.01, 0.03)))
    return tuple(losses), rng.randint(1, 4)


@grading("keras-early-stopping")
def _early_stopping_graded(answer) -> str | None:
    """Loss sequences and patiences drawn at grading time."""
    cases = drawn_cases(_draw_losses, early_stopping, 5)
    rng = random.Random(secrets.randbits(64))
    improving = tuple(round(1.0 - 0.05 * i, 2) for i in range(rng.randint(4, 10)))
    cases.append(((improving, rng.randint(1, 3)), (len(improving), len(improving))))
    func = as_callable(answer, "a function stopping_epoch(val_losses, patience)")
    return check_function(func, cases, compare=_compare_epochs, name="stopping_epoch")


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


# keras-train-small (train): a Keras model of the student's own design, trained with fit
# within a parameter budget, measured on Fashion-MNIST test images (N, 28, 28, 1) in [0, 1].
SMALL_MAX_PARAMS, SMALL_THRESHOLD = 20_000, 0.75


@exercise("keras-train-small", name="small_keras_model", chapter=CHAPTER, points=3, seconds=180)
def _train_small(answer) -> str | None:
    from cnncourse.exercises.checks._training import check_trained

    return _readable_back(answer) or check_trained(
        answer,
        max_params=SMALL_MAX_PARAMS,
        threshold=SMALL_THRESHOLD,
        size=1000,
        seed=0,
        framework="keras",
    )


@grading("keras-train-small")
def _train_small_graded(answer) -> str | None:
    """2,000 test images drawn at grading time."""
    from cnncourse.exercises.checks._training import check_trained

    return check_trained(
        answer,
        max_params=SMALL_MAX_PARAMS,
        threshold=SMALL_THRESHOLD,
        size=2000,
        seed=None,
        framework="keras",
    )


def _readable_back(model) -> str | None:
    """A hint when the model cannot be saved and read back, as the notebook's answers are
    after it has run: a subclass of ``keras.Model`` defined in the notebook cannot."""
    import pickle
    import warnings

    import cloudpickle

    from cnncourse.exercises.checks._training import parameter_count

    parameter_count(model, "keras")  # WrongType unless a Keras model
    try:
        with warnings.catch_warnings():  # the optimizer's state is not what is checked
            warnings.simplefilter("ignore")
            pickle.loads(cloudpickle.dumps(model))
    except Exception as err:  # Keras raises TypeError, ValueError, ... by layer
        return (
            "the model cannot be saved and loaded back "
            f"({type(err).__name__}): build it with keras.Sequential or the functional "
            "API from Keras' own layers, not a subclass of keras.Model."
        )
    return None


# keras-skew-experiment (experiment): the chapter's `pipeline_model`, trained on scaled
# pixels, given the raw pixels 0..255 of `test_set` as a server that forgets to scale
# would; the fraction of the 10,000 test predictions whose class changes.


@exercise(
    "keras-skew-experiment",
    name="skew_changed_fraction",
    chapter=CHAPTER,
    points=2,
    uses=("pipeline_model", "test_set"),
)
def _skew_experiment(answer) -> str | None:
    got = as_float(answer, "a fraction between 0 and 1")
    model, test = chapter_value("pipeline_model"), chapter_value("test_set")
    raw = predicted_classes(model, test.images, "keras", divide_by=1.0)
    scaled = predicted_classes(model, test.images, "keras")
    expected = float((raw != scaled).mean())
    accuracy_change = float((scaled == test.labels).mean() - (raw == test.labels).mean())
    return compare_float(
        got,
        expected,
        rtol=0.0,
        atol=2e-3,
        known_mistakes=[
            (
                accuracy_change,
                "that is the change in accuracy; count the images whose predicted class "
                "changes, right or wrong.",
            ),
            (-accuracy_change, "that is the change in accuracy; count the changed predictions."),
            (1 - expected, "that is the fraction of predictions that stay the same."),
            (100 * expected, "give it as a fraction, not a percentage."),
            (expected * len(raw), "give it as a fraction of the test images, not a count."),
        ],
    )
