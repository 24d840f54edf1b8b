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
    as_int,
    check_fresh_cases,
    compare_int,
    describe,
    drawn_cases,
    needs_function,
    value_of_case,
)
from cnncourse.exercises.registry import exercise, grading

CHAPTER = "transfer_learning"

# The chapter's model and tasks: a slim VGG-style CNN pre-trained on the ten
# Fashion-MNIST classes, transferred to the ten digits.
ARCH, WIDTHS, NEW_CLASSES, OLD_CLASSES = "vgg", (16, 32, 64), 10, 10
# transfer-digits-head: labels per digit the grader hands over, and the accuracy to reach
# on the digits' held-out test half.
DIGIT_LABELS, DIGITS_TARGET = 10, 0.70
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
            f"{DIGITS_TARGET}: train the head longer, or fine-tune the base after it at a "
            "low learning rate."
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
