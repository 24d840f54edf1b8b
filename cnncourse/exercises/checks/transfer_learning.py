"""Checks of the chapter "Transfer learning" (``book/transfer_learning.md``).

Expected values are computed from the problems the exercises pose (the model the
chapter transfers, built here with :mod:`cnncourse.models`), not stored, so they
follow the chapter if it changes.
"""

from __future__ import annotations

import random

from cnncourse.exercises.answers import (
    NotAttempted,
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

CHAPTER = "transfer_learning"

# The chapter's model and tasks: a slim VGG-style CNN pre-trained on the ten
# Fashion-MNIST classes (or on MNIST digits), transferred to the ten digits.
ARCH, WIDTHS, NEW_CLASSES, OLD_CLASSES = "vgg", (16, 32, 64), 10, 10
# transfer-digits-head: labels per digit the grader hands over (the chapter's three), and
# the accuracy to reach on the digits' held-out test half. A new head on the frozen
# handwriting base clears it on every draw; the clothes base and training from scratch
# fall short of it.
DIGIT_LABELS, DIGITS_TARGET = 3, 0.88
# transfer-param-groups: the learning rates the exercise asks for.
BASE_LR, HEAD_LR = 1e-4, 1e-3


def head_sizes() -> tuple[int, int]:
    """``(features, head parameters)`` of the chapter's model with a new 10-class head."""
    from cnncourse.models import build_model
    from cnncourse.train.transfer import split_model

    model = build_model(ARCH, num_classes=OLD_CLASSES, widths=WIDTHS)
    features = split_model(model).num_features
    return features, head_params(features, NEW_CLASSES)


def head_params(features: int, classes: int) -> int:
    """Trainable parameters of a dropout + linear head: a weight per feature and class,
    a bias per class."""
    return features * classes + classes


@exercise("transfer-head-params", name="head_params", chapter=CHAPTER, points=1)
def _head_params(answer) -> str | None:
    features, _ = head_sizes()
    got = as_int(value_of_case(answer, (features, NEW_CLASSES), "head_params"), "a count")
    verdict = compare_int(
        got,
        head_params(features, NEW_CLASSES),
        known_mistakes={
            features * NEW_CLASSES: "that counts the weights only: each output also has a bias.",
            head_params(features, NEW_CLASSES // 2): "the digits are ten classes.",
            features: "each of the ten outputs has its own weight for every feature.",
        },
    )
    return needs_function(answer, verdict, "head_params(features, classes)")


@grading("transfer-head-params")
def _head_params_graded(answer) -> str | None:
    """Feature and class counts drawn at grading time, and a single-output head."""

    def draw(rng: random.Random) -> tuple[int, int]:
        return rng.randint(1, 4096), rng.randint(2, 1000)

    cases = drawn_cases(draw, head_params, 5)
    cases.append(((512, 1), head_params(512, 1)))
    return check_fresh_cases(answer, cases, "head_params", rtol=0, atol=1e-9)


def _running_means_hint(func, bases) -> str | None:
    results = []
    for channels in bases:
        try:
            results.append((channels, func(list(channels))))
        except NotImplementedError as err:
            raise NotAttempted("the function still raises NotImplementedError.") from err
        except Exception as err:
            return f"running_means_changed({list(channels)}) raised {type(err).__name__}: {err}"
    if all(got is None or got is Ellipsis for _, got in results):
        raise NotAttempted("the function returns None: write its body and return a count.")
    for channels, got in results:
        got = as_int(got, "a number of running-mean entries")
        if got == sum(channels):
            continue
        if got == 0:
            return (
                "requires_grad only concerns parameters, which the optimiser updates. Where "
                "do a BatchNorm layer's running mean and variance live, and when are they "
                "updated?"
            )
        return f"running_means_changed({list(channels)}) = {got} is not right."
    return None


@exercise("transfer-batchnorm-frozen", name="running_means_changed", chapter=CHAPTER, points=1)
def _batchnorm_frozen(answer) -> str | None:
    func = as_callable(answer, "the function running_means_changed")
    return _running_means_hint(func, [(64, 128, 256)])


@grading("transfer-batchnorm-frozen")
def _batchnorm_frozen_graded(answer) -> str | None:
    """Bases drawn at grading time."""
    import random

    rng = random.Random()
    func = as_callable(answer, "the function running_means_changed")
    bases = [tuple(rng.randint(1, 512) for _ in range(rng.randint(1, 6))) for _ in range(4)]
    return _running_means_hint(func, bases)


def _probe_model():
    """A small pretrained-shaped BaseAndHead (a VGG base, new classes), base unfrozen."""
    import torch

    from cnncourse.models import build_model
    from cnncourse.train.transfer import with_new_head

    torch.manual_seed(0)
    pretrained = build_model("vgg", num_classes=OLD_CLASSES, widths=(8, 16), dropout=0.0)
    return with_new_head(pretrained, NEW_CLASSES, dropout=0.2, freeze_base=False)


@exercise("transfer-param-groups", name="param_groups", chapter=CHAPTER, points=2)
def _param_groups(answer) -> str | None:
    import torch

    func = as_callable(answer, "the function param_groups")
    model = _probe_model()
    try:
        groups = func(model, BASE_LR, HEAD_LR)
    except NotImplementedError as err:
        raise NotAttempted("the function still raises NotImplementedError.") from err
    except Exception as err:
        return f"param_groups(model, {BASE_LR}, {HEAD_LR}) raised {type(err).__name__}: {err}"
    if groups is None or groups is Ellipsis:
        raise NotAttempted("the function returns None: return a list of parameter groups.")
    if isinstance(groups, (tuple, map)) or hasattr(groups, "__next__"):
        groups = list(groups)  # a tuple or a generator of dicts is fine too
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        return (
            f"it returned {describe(groups)}; return a list of dicts such as "
            '{"params": [...], "lr": ...}, one dict a group.'
        )
    try:
        optimizer = torch.optim.Adam(groups, lr=1.0)  # lr=1.0 shows groups without their own lr
    except (TypeError, ValueError) as err:
        return f"torch.optim.Adam refused the groups: {err}"
    rate = {}
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            rate[id(parameter)] = group["lr"]
    base = list(model.base.parameters())
    head = list(model.head.parameters())
    if any(id(p) not in rate for p in base + head):
        missing = "base" if any(id(p) not in rate for p in base) else "head"
        return f"some parameters of the {missing} are in no group, so they would not train."
    if any(rate[id(p)] == 1.0 for p in base + head):
        return 'give every group its own "lr".'
    if all(rate[id(p)] == HEAD_LR for p in base) and all(rate[id(p)] == BASE_LR for p in head):
        return (
            "the rates are swapped: the pretrained base should move more slowly than the new head."
        )
    if not all(rate[id(p)] == BASE_LR for p in base):
        return f"every parameter of model.base should have lr {BASE_LR}."
    if not all(rate[id(p)] == HEAD_LR for p in head):
        return f"every parameter of model.head should have lr {HEAD_LR}."
    return None


def draw_digit_labels(seed: int):
    """``DIGIT_LABELS`` random pool images of each digit: the labels the answer trains on."""
    import numpy as np

    from cnncourse.data.digits import upscaled_digits

    pool = upscaled_digits("pool")
    rng = np.random.default_rng(seed)
    picks = [
        rng.choice(np.flatnonzero(pool.labels == k), DIGIT_LABELS, replace=False)
        for k in range(NEW_CLASSES)
    ]
    return pool.take(np.sort(np.concatenate(picks)))


def _digits_head_hint(func, seed: int) -> str | None:
    """Train with ``func`` on a draw of labels, score the model on the held-out digits."""
    import torch

    from cnncourse.data.digits import upscaled_digits
    from cnncourse.train.loop import evaluate

    few = draw_digit_labels(seed)
    try:
        model = func(few)
    except NotImplementedError as err:
        raise NotAttempted("the function still raises NotImplementedError.") from err
    except Exception as err:
        return f"train_digit_head(few) raised {type(err).__name__}: {err}"
    if model is None or model is Ellipsis:
        raise NotAttempted("the function returns None: return the trained model.")
    if not isinstance(model, torch.nn.Module):
        return f"it returned {describe(model)}; return the trained torch.nn.Module."
    try:
        accuracy = evaluate(model, upscaled_digits("test"), device="cpu")["accuracy"]
    except Exception as err:
        return (
            f"the returned model failed on the test digits ({type(err).__name__}: {err}); "
            "it must take images (N, 1, 28, 28) and return ten logits."
        )
    if accuracy < DIGITS_TARGET:
        return (
            f"its accuracy on the held-out digits is {accuracy:.3f}, below the target "
            f"{DIGITS_TARGET}: start from the base pre-trained on handwriting "
            '("vgg_mnist_digits") and train its new head longer.'
        )
    return None


@exercise("transfer-digits-head", name="train_digit_head", chapter=CHAPTER, points=2, seconds=300)
def _digits_head(answer) -> str | None:
    func = as_callable(answer, "the function train_digit_head")
    return _digits_head_hint(func, seed=0)


@grading("transfer-digits-head")
def _digits_head_graded(answer) -> str | None:
    """Labels drawn at grading time."""
    import random

    func = as_callable(answer, "the function train_digit_head")
    return _digits_head_hint(func, seed=random.Random().randrange(2**31))


# transfer-read-epochs (read): the chapter's PyTorch learning curves, averaged over the draws.
def mean_curve(curves: dict, way: str):
    """The test accuracy per epoch of one way of learning (a column), averaged over draws."""
    import pandas as pd

    return pd.concat({seed: curve[way] for seed, curve in curves.items()}, axis=1).mean(axis=1)


def first_epoch_reaching(curve, level: float) -> int | None:
    """The first epoch (the curve's index) at which ``curve`` reaches ``level``, else None."""
    reached = curve.index[curve.to_numpy() >= level]
    return int(reached[0]) if len(reached) else None


@exercise(
    "transfer-read-epochs",
    name="epochs_to_scratch_final",
    chapter=CHAPTER,
    points=1,
    uses=("torch_curves",),
)
def _read_epochs(answer) -> str | None:
    got = as_int(answer, "an epoch number")
    curves = chapter_value("torch_curves")
    scratch = mean_curve(curves, "from scratch")
    level = float(scratch.iloc[-1])
    expected = first_epoch_reaching(mean_curve(curves, "handwriting, frozen"), level)
    if expected is None:
        return "in this run the frozen handwriting base never reaches scratch's final accuracy."
    mistakes = {
        expected - 1: "epochs count from 1: the curves' index is the epoch.",
        first_epoch_reaching(mean_curve(curves, "clothes, frozen"), level): (
            "that is the clothes base; read the handwriting base's frozen curve."
        ),
        int(scratch.index[-1]): "that is the last epoch; find the first one at that level.",
        first_epoch_reaching(scratch, level): (
            "that is when training from scratch gets there itself; read the handwriting "
            "base's frozen curve."
        ),
    }
    for seed, curve in curves.items():
        mistakes.setdefault(
            first_epoch_reaching(curve["handwriting, frozen"], level),
            f"that is the draw with seed {seed} alone; average the curves over the draws.",
        )
    mistakes.pop(None, None)
    mistakes.pop(expected, None)
    return compare_int(got, expected, known_mistakes=mistakes)


# transfer-one-label (experiment): the chapter's frozen handwriting run with one label per
# digit instead of three, recomputed in the checker's own process on the CPU.
ONE_LABEL_SEED = 0


def one_label_draw(pool, seed: int = ONE_LABEL_SEED):
    """One random pool image of each digit, drawn as the chapter's ``few_labels`` draws."""
    import numpy as np

    rng = np.random.default_rng(seed)
    picks = [
        rng.choice(np.flatnonzero(pool.labels == k), 1, replace=False) for k in range(NEW_CLASSES)
    ]
    return pool.take(np.sort(np.concatenate(picks)))


def one_label_accuracies(base, pool, test, head_lr, epochs, batch_size) -> list[float]:
    """Test accuracy of a new head on the frozen ``base`` trained on one label per digit:
    trained as the chapter's two runs of ``epochs`` epochs, and as one run of twice as many.

    Python's, NumPy's and PyTorch's random states are restored afterwards.
    """
    import numpy as np
    import torch

    from cnncourse.train import transfer
    from cnncourse.train.loop import evaluate, fit

    one = one_label_draw(pool)
    # fit(seed=...) reseeds the global generators; the notebook's own draws go on as before
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()  # noqa: NPY002
    accuracies = []
    try:
        for runs in ((epochs, epochs), (2 * epochs,)):
            torch.manual_seed(ONE_LABEL_SEED)
            model = transfer.with_new_head(base, NEW_CLASSES, dropout=0.25)
            head_only = torch.optim.Adam(transfer.trainable_parameters(model), head_lr)
            for run in runs:
                fit(
                    model,
                    one,
                    epochs=run,
                    optimizer=head_only,
                    batch_size=batch_size,
                    device="cpu",
                    seed=ONE_LABEL_SEED,
                    progress=False,
                )
            accuracies.append(float(evaluate(model, test, device="cpu")["accuracy"]))
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])  # noqa: NPY002
        torch.set_rng_state(states[2])
    return accuracies


def one_label_tolerance(measured: list[float], three_labels: float, n_images: int) -> float:
    """Room for a few images' verdicts (a GPU's float16 training rounds differently from
    the CPU's), but less than half the way to the chapter's accuracy with three labels."""
    room = max(0.005, 1.5 / n_images)
    gaps = [abs(three_labels - m) / 2 for m in measured if m != three_labels]
    return min([room, *gaps])


@exercise(
    "transfer-one-label",
    name="one_label_accuracy",
    chapter=CHAPTER,
    points=2,
    uses=(
        "handwriting",
        "digits_pool",
        "digits_test",
        "torch_results",
        "HEAD_LR",
        "EPOCHS",
        "BATCH_SIZE",
    ),
)
def _one_label(answer) -> str | None:
    got = as_float(answer, "an accuracy between 0 and 1")
    test = chapter_value("digits_test")
    measured = one_label_accuracies(
        chapter_value("handwriting"),
        chapter_value("digits_pool"),
        test,
        chapter_value("HEAD_LR"),
        chapter_value("EPOCHS"),
        chapter_value("BATCH_SIZE"),
    )
    three = float(chapter_value("torch_results").loc[ONE_LABEL_SEED, "handwriting, frozen"])
    tolerance = one_label_tolerance(measured, three, len(test))
    hints = [
        compare_float(
            got,
            expected,
            rtol=0.0,
            atol=tolerance,
            known_mistakes=[
                (
                    three,
                    "that is the chapter's run with three labels per digit; draw one "
                    "label per digit and train the new head again.",
                ),
            ],
        )
        for expected in measured
    ]
    return None if None in hints else hints[0]
