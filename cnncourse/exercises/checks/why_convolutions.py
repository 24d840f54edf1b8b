"""Checks of the chapter "Why convolutions" (``book/why_convolutions.md``).

Expected values are computed from the problem (layer sizes, the model in
:mod:`cnncourse.models`), not stored, so they follow the chapter if it changes.
"""

from __future__ import annotations

from cnncourse.exercises.answers import (
    NotAttempted,
    as_callable,
    as_float,
    as_int,
    check_fresh_cases,
    compare_float,
    compare_int,
    drawn_cases,
    needs_function,
    value_of_case,
)
from cnncourse.exercises.registry import chapter_value, exercise, grading

CHAPTER = "why_convolutions"

# The problems the exercises pose (the chapter's prose states the same numbers).
DENSE_IN, DENSE_OUT = 28 * 28, 128  # Dense / nn.Linear(784, 128)
CONV_IN, CONV_OUT, CONV_K = 1, 32, 3  # nn.Conv2d(1, 32, kernel_size=3)
IMAGE_SIZE = 28

# Fallback description of the tiny CNN's feature stack, used only when
# cnncourse.models cannot be loaded: (kind, out_channels, kernel, stride, padding).
_TINY_FALLBACK = (
    ("conv", 8, 3, 1, 1),
    ("pool", None, 2, 2, 0),
    ("conv", 16, 3, 1, 1),
    ("pool", None, 2, 2, 0),
)


def dense_params(n_in: int, n_out: int) -> int:
    """Weights plus biases of a fully connected layer."""
    return n_in * n_out + n_out


def conv_params(c_in: int, c_out: int, k: int) -> int:
    """Weights plus biases of a ``k x k`` convolution: one bias per output channel."""
    return c_in * c_out * k * k + c_out


def output_size(n: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """The output-size rule: ``floor((n + 2p - k) / s) + 1``."""
    return (n + 2 * padding - kernel) // stride + 1


def tiny_feature_stack() -> list[tuple[str, int | None, int, int, int]]:
    """The conv/pool layers of ``build_model("tiny")`` before its flatten, in order."""
    try:
        from torch import nn

        from cnncourse.models import build_model

        model = build_model("tiny", in_channels=1, image_size=IMAGE_SIZE)
    except ImportError:
        return list(_TINY_FALLBACK)

    def first(value):
        return value[0] if isinstance(value, tuple) else value

    stack = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            stack.append(
                (
                    "conv",
                    module.out_channels,
                    first(module.kernel_size),
                    first(module.stride),
                    first(module.padding),
                )
            )
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            stride = module.stride if module.stride is not None else module.kernel_size
            stack.append(
                ("pool", None, first(module.kernel_size), first(stride), first(module.padding))
            )
        elif isinstance(module, nn.Flatten | nn.Linear):
            break
    return stack


def flatten_size(
    stack, size: int = IMAGE_SIZE, channels: int = 1, *, width: int | None = None, skip: str = ""
) -> int:
    """Channels x height x width after ``stack`` on a ``size`` x ``width`` input (square
    when ``width`` is None).

    ``skip`` ignores one aspect (``"pool"`` or ``"padding"``): the values a typical
    mistake gives, used for specific hints.
    """
    height, width = size, size if width is None else width
    for kind, out_channels, kernel, stride, padding in stack:
        if kind == "pool" and skip == "pool":
            continue
        pad = 0 if skip == "padding" else padding
        height = output_size(height, kernel, stride, pad)
        width = output_size(width, kernel, stride, pad)
        channels = out_channels if out_channels is not None else channels
    return channels * height * width


def tiny_flatten_size(height: int, width: int) -> int:
    """Features the tiny CNN's flatten produces for one ``height`` x ``width`` image."""
    return flatten_size(tiny_feature_stack(), height, width=width)


def _dense_mistakes(n_in: int, n_out: int) -> dict[int, str]:
    return {
        n_in * n_out: "that counts the weights only: each output unit also has a bias.",
        n_in + n_out: "every output unit connects to every input.",
        n_in * n_out + n_in: "there is one bias per output unit, not per input.",
    }


def _conv_mistakes(c_in: int, c_out: int, k: int) -> dict[int, str]:
    weights = c_in * c_out * k * k
    mistakes = {
        weights: "that counts the weights only: each filter also has one bias.",
        c_in * k * k: "that is one filter; the layer has out_channels of them.",
        c_in * k * k + 1: "that is one filter with its bias; the layer has out_channels of them.",
        weights * IMAGE_SIZE * IMAGE_SIZE: (
            "a filter's weights are shared across all positions: the image size does not "
            "enter the count."
        ),
    }
    mistakes.pop(conv_params(c_in, c_out, k), None)
    return mistakes


def _count_feedback(answer, args: tuple, name: str, expected: int, mistakes) -> str | None:
    """Feedback on the chapter's case; a plain number is told that the function is needed."""
    got = as_int(value_of_case(answer, args, name), "a number of parameters")
    hint = compare_int(got, expected, known_mistakes=mistakes)
    return needs_function(answer, hint, name)


def _count_graded(answer, name: str, formula, draw) -> str | None:
    """Fresh layer sizes drawn at grading time: a hard-coded number fails."""
    return check_fresh_cases(answer, drawn_cases(draw, formula, 5), name, rtol=0.0, atol=0.0)


@exercise("why-params-dense", name="dense_params", chapter=CHAPTER, points=1)
def _params_dense(answer) -> str | None:
    args = (DENSE_IN, DENSE_OUT)
    return _count_feedback(
        answer, args, "dense_params", dense_params(*args), _dense_mistakes(*args)
    )


@grading("why-params-dense")
def _params_dense_graded(answer) -> str | None:
    """Layer sizes drawn at grading time."""
    return _count_graded(
        answer,
        "dense_params",
        dense_params,
        lambda rng: (rng.randint(2, 4000), rng.randint(2, 2000)),
    )


@exercise("why-params-conv", name="conv_params", chapter=CHAPTER, points=1)
def _params_conv(answer) -> str | None:
    args = (CONV_IN, CONV_OUT, CONV_K)
    return _count_feedback(answer, args, "conv_params", conv_params(*args), _conv_mistakes(*args))


@grading("why-params-conv")
def _params_conv_graded(answer) -> str | None:
    """Channel counts and kernel sizes drawn at grading time."""
    return _count_graded(
        answer,
        "conv_params",
        conv_params,
        lambda rng: (rng.randint(1, 256), rng.randint(1, 512), rng.choice((1, 3, 5, 7))),
    )


def _unshuffle_hint(func, sizes, rng) -> str | None:
    """Call ``func(weight, perm)`` on random cases; ``None`` when outputs match on shuffled inputs."""
    import numpy as np

    results = []
    for hidden, pixels in sizes:
        weight, perm = rng.normal(size=(hidden, pixels)), rng.permutation(pixels)
        try:
            got = func(weight.copy(), perm.copy())
        except NotImplementedError as err:
            raise NotAttempted("the function still raises NotImplementedError.") from err
        except Exception as err:
            return f"unshuffle_weight raised {type(err).__name__}: {err}"
        results.append((weight, perm, got))
    if all(got is None or got is Ellipsis for *_, got in results):
        raise NotAttempted("the function returns None: write its body and return the weights.")
    for weight, perm, got in results:
        try:
            got = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return "return a NumPy array shaped like weight."
        if got.shape != weight.shape:
            return f"the result has shape {got.shape}; weight has {weight.shape}."
        images = rng.normal(size=(5, weight.shape[1]))
        if not np.allclose(images[:, perm] @ got.T, images @ weight.T):
            if np.allclose(got, weight[:, np.argsort(perm)]):
                return "close: that permutes the columns the other way round."
            return (
                "the outputs on shuffled images differ. Pixel j of a shuffled image is "
                "pixel perm[j] of the original: which weight column should meet it?"
            )
    return None


@exercise("why-shuffle-pixels", name="unshuffle_weight", chapter=CHAPTER, points=1)
def _shuffle_pixels(answer) -> str | None:
    import numpy as np

    func = as_callable(answer, "the function unshuffle_weight")
    return _unshuffle_hint(func, [(32, 784)], np.random.default_rng(5))


@grading("why-shuffle-pixels")
def _shuffle_pixels_graded(answer) -> str | None:
    """Sizes and permutations drawn at grading time."""
    import numpy as np

    func = as_callable(answer, "the function unshuffle_weight")
    rng = np.random.default_rng()
    sizes = [(int(rng.integers(3, 40)), int(rng.integers(10, 900))) for _ in range(4)]
    return _unshuffle_hint(func, sizes, rng)


def _flatten_mistakes(stack, height: int, width: int) -> dict[int, str]:
    expected = flatten_size(stack, height, width=width)
    mistakes = {
        flatten_size(stack, height, width=width, skip="pool"): (
            "each 2x2 max pooling halves the height and the width."
        ),
        flatten_size(stack, height, width=width, skip="padding"): (
            "look at the convolutions' padding: with padding the size changes differently."
        ),
    }
    # The last conv's channel count (the pool layers keep it): height*width alone misses it.
    last_channels = next(out for kind, out, *_ in reversed(stack) if kind == "conv")
    mistakes[expected // last_channels] = "multiply height x width by the number of channels."
    mistakes.pop(expected, None)  # a skipped step that changes nothing is no mistake
    return mistakes


@exercise("why-flatten-size", name="flatten_size", chapter=CHAPTER, points=1)
def _flatten_size(answer) -> str | None:
    args = (IMAGE_SIZE, IMAGE_SIZE)
    got = as_int(value_of_case(answer, args, "flatten_size"), "a number of features")
    stack = tiny_feature_stack()
    expected = flatten_size(stack, IMAGE_SIZE, width=IMAGE_SIZE)
    mistakes = _flatten_mistakes(stack, *args)
    if got not in mistakes and got != expected:
        mistakes[got] = (
            f"{got} is {'too small' if got < expected else 'too large'}. Apply "
            "floor((n + 2p - k) / s) + 1 to each convolution and pooling in turn, then "
            "multiply channels x height x width."
        )
    hint = compare_int(got, expected, known_mistakes=mistakes)
    return needs_function(answer, hint, "flatten_size(height, width)")


@grading("why-flatten-size")
def _flatten_size_graded(answer) -> str | None:
    """Image sizes drawn at grading time: non-square, multiples of 4 and not."""

    def draw(rng) -> tuple[int, int]:
        height = 4 * rng.randint(1, 40) if rng.random() < 0.4 else rng.randint(4, 160)
        return height, rng.randint(4, 160)

    return _count_graded(answer, "flatten_size", tiny_flatten_size, draw)


# why-read-change (read): the chapter's `results` table, the tiny CNN's change in accuracy.
# why-cnn-shuffled-test (experiment): the chapter's `cnn`, trained on pixels in their
# places, tested on `shuffled_test` (the test images with the chapter's permutation).


@exercise(
    "why-read-change",
    name="cnn_shuffle_change",
    chapter=CHAPTER,
    points=1,
    uses=("results",),
)
def _read_change(answer) -> str | None:
    got = as_float(answer, "a change in accuracy (a fraction)")
    table = chapter_value("results")
    change = float(table.loc["tiny CNN", "change"])
    return compare_float(
        got,
        change,
        rtol=0.0,
        atol=6e-4,  # the table shows three decimals
        known_mistakes=[
            (-change, "check the sign: shuffled minus original."),
            (float(table.loc["MLP", "change"]), "that is the MLP's row; read the tiny CNN's."),
            (100 * change, "give it as a fraction, not percentage points."),
        ],
    )


def accuracy_on(model, dataset) -> float:
    """Accuracy of a copy of ``model`` (eval mode, CPU) on an image set's uint8 images."""
    import copy

    import torch

    from cnncourse import data

    images, labels = data.to_tensors(dataset, "cpu")
    copied = copy.deepcopy(model).cpu().eval()
    with torch.no_grad():
        predictions = torch.cat(
            [
                copied(images[i : i + 1000].float() / 255).argmax(dim=1)
                for i in range(0, len(labels), 1000)
            ]
        )
    return (predictions == labels).float().mean().item()


@exercise(
    "why-cnn-shuffled-test",
    name="cnn_on_shuffled_test",
    chapter=CHAPTER,
    points=2,
    uses=("cnn", "shuffled_test", "results"),
)
def _cnn_shuffled_test(answer) -> str | None:
    got = as_float(answer, "an accuracy between 0 and 1")
    expected = accuracy_on(chapter_value("cnn"), chapter_value("shuffled_test"))
    table = chapter_value("results")
    return compare_float(
        got,
        expected,
        rtol=0.0,
        atol=2e-3,  # the same model and images: only float rounding differs
        known_mistakes=[
            (
                float(table.loc["tiny CNN", "original pixels"]),
                "that is its accuracy on the test images as they are; use shuffled_test.",
            ),
            (
                float(table.loc["tiny CNN", "shuffled pixels"]),
                "that CNN was trained on shuffled pixels; test the one trained on the "
                "originals, `cnn`.",
            ),
        ],
    )
