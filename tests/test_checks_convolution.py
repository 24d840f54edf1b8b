"""The "Convolution" checks: solutions pass (against PyTorch and Keras oracles), typical
mistakes fail with a hint that does not give the answer away, None is not attempted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnncourse.exercises import check, registry
from cnncourse.exercises.checks import convolution as conv_checks
from cnncourse.exercises.registry import chapter_variables, evaluate

IDS = (
    "conv-output-size",
    "conv-params-rgb",
    "conv-keras-kernel",
    "conv-same-padding",
    "conv-strided-loop",
    "conv-read-edges",
)


def correlate_strided(image, kernel, stride):
    """The chapter's solution."""
    k = kernel.shape[0]
    out_h = (image.shape[0] - k) // stride + 1
    out_w = (image.shape[1] - k) // stride + 1
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * stride, j * stride
            out[i, j] = np.sum(image[top : top + k, left : left + k] * kernel)
    return out


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_check_is_registered_for_the_chapter_and_none_is_not_attempted(exercise_id):
    assert registry.get_exercise(exercise_id).chapter == "convolution"
    assert check(exercise_id, None).status == "not attempted"


def conv_output_size(size, kernel, stride, padding):
    """The chapter's solution."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_params(in_channels, out_channels, kernel_size):
    """The chapter's solution."""
    return (in_channels * kernel_size**2 + 1) * out_channels


def torch_output_size(size, kernel, stride, padding):
    """The oracle: the width PyTorch's own layer produces."""
    layer = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding)
    return layer(torch.zeros(1, 1, size, size)).shape[-1]


def torch_params(in_channels, out_channels, kernel_size):
    """The oracle: the parameters PyTorch's own layer holds."""
    layer = nn.Conv2d(in_channels, out_channels, kernel_size)
    return sum(p.numel() for p in layer.parameters())


def grade(exercise_id, answer):
    return evaluate(registry.get_exercise(exercise_id), lambda: answer)


def test_output_size_function_passes_feedback_and_grading():
    assert check("conv-output-size", conv_output_size).passed
    assert check("conv-output-size", torch_output_size).passed
    graded = grade("conv-output-size", conv_output_size)
    assert graded["status"] == "pass" and graded["points"] == 1


def test_output_size_mistakes_get_hints_without_the_answer():
    oracle = torch_output_size(
        conv_checks.SIZE, conv_checks.KERNEL, conv_checks.STRIDE, conv_checks.PADDING
    )
    no_padding = check("conv-output-size", lambda n, k, s, p: (n - k) // s + 1)
    assert no_padding.status == "fail" and "each" in no_padding.message
    ceil = check("conv-output-size", lambda n, k, s, p: -(-(n + 2 * p - k) // s) + 1)
    assert ceil.status == "fail" and "down" in ceil.message
    no_stride = check("conv-output-size", lambda n, k, s, p: n + 2 * p - k + 1)
    assert "stride" in no_stride.message
    assert str(oracle) not in no_padding.message + ceil.message + no_stride.message
    assert check("conv-output-size", lambda n, k, s, p: "15").status == "fail"
    assert check("conv-output-size", conv_output_size.__doc__).status == "fail"  # no function


def test_output_size_as_a_literal_fails_feedback_and_grading():
    oracle = torch_output_size(
        conv_checks.SIZE, conv_checks.KERNEL, conv_checks.STRIDE, conv_checks.PADDING
    )
    plain = check("conv-output-size", oracle)
    assert plain.status == "fail" and "function" in plain.message
    assert grade("conv-output-size", oracle)["points"] == 0
    constant = grade("conv-output-size", lambda n, k, s, p: oracle)
    assert constant["status"] == "fail" and constant["points"] == 0


def test_params_function_matches_torch_in_feedback_and_grading():
    assert check("conv-params-rgb", conv_params).passed
    assert check("conv-params-rgb", torch_params).passed
    graded = grade("conv-params-rgb", conv_params)
    assert graded["status"] == "pass" and graded["points"] == 1


def test_params_mistakes_get_hints_and_a_literal_fails_grading():
    oracle = torch_params(3, 16, 5)
    no_bias = check("conv-params-rgb", lambda c, o, k: c * k * k * o)
    assert no_bias.status == "fail" and "bias" in no_bias.message
    one_channel = check("conv-params-rgb", lambda c, o, k: (k * k + 1) * o)
    assert one_channel.status == "fail" and "channel" in one_channel.message
    assert check("conv-params-rgb", lambda c, o, k: oracle + 1).status == "fail"
    assert str(oracle) not in no_bias.message + one_channel.message
    plain = check("conv-params-rgb", oracle)
    assert plain.status == "fail" and "function" in plain.message
    assert grade("conv-params-rgb", oracle)["points"] == 0
    assert grade("conv-params-rgb", lambda c, o, k: oracle)["points"] == 0


def to_keras_kernel(weight):
    """The chapter's solution."""
    return weight.transpose(2, 3, 1, 0)


def same_padding(kernel_size):
    """The chapter's solution."""
    return (kernel_size - 1) // 2


@pytest.mark.keras
def test_keras_kernel_function_loads_a_torch_weight_into_a_keras_conv2d():
    from cnncourse._frameworks import import_keras

    keras = import_keras()
    torch_layer = nn.Conv2d(3, 4, kernel_size=(2, 3))
    weight = torch_layer.weight.detach().numpy()  # (4, 3, 2, 3)
    keras_layer = keras.layers.Conv2D(4, (2, 3))
    keras_layer.build((None, 8, 8, 3))
    # The oracle: Keras' own kernel shape, and the same outputs once the weights are copied.
    assert to_keras_kernel(weight).shape == tuple(keras_layer.kernel.shape)
    keras_layer.set_weights([to_keras_kernel(weight), torch_layer.bias.detach().numpy()])
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 8)).astype(np.float32)
    expected = torch_layer(torch.from_numpy(x)).detach().numpy()
    got = np.asarray(keras_layer(x.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
    assert np.abs(expected - got).max() < 1e-5
    assert check("conv-keras-kernel", to_keras_kernel).passed
    graded = grade("conv-keras-kernel", to_keras_kernel)
    assert graded["status"] == "pass" and graded["points"] == 1


def test_keras_kernel_mistakes_get_hints_and_grade_zero():
    reverse = check("conv-keras-kernel", lambda w: w.T)
    assert reverse.status == "fail" and "kh and kw" in reverse.message
    backwards = check("conv-keras-kernel", lambda w: w.transpose(3, 2, 0, 1))
    assert backwards.status == "fail" and "way back" in backwards.message
    swapped = check("conv-keras-kernel", lambda w: w.transpose(2, 3, 0, 1))
    assert swapped.status == "fail" and "C comes before O" in swapped.message
    reshaped = check("conv-keras-kernel", lambda w: w.reshape(w.shape[2:] + w.shape[1::-1]))
    assert reshaped.status == "fail" and "reshape" in reshaped.message
    unchanged = check("conv-keras-kernel", lambda w: w)
    assert unchanged.status == "fail" and "PyTorch layout" in unchanged.message
    for wrong in (lambda w: w.T, lambda w: w.reshape(w.shape[2:] + w.shape[1::-1])):
        assert grade("conv-keras-kernel", wrong)["points"] == 0
    assert "(2, 3, 1, 0)" not in reverse.message + backwards.message + swapped.message


def test_keras_kernel_as_the_old_axes_tuple_or_a_stub_is_refused():
    axes = check("conv-keras-kernel", (2, 3, 1, 0))
    assert axes.status == "fail" and "function" in axes.message
    assert grade("conv-keras-kernel", (2, 3, 1, 0))["points"] == 0
    assert check("conv-keras-kernel", lambda w: None).status == "not attempted"
    crash = check("conv-keras-kernel", lambda w: w.transpose(0, 1))
    assert crash.status == "fail" and "raised" in crash.message


def torch_same_padding(kernel_size):
    """The oracle: the padding PyTorch's padding="same" adds on each side (stride 1)."""
    layer = nn.Conv2d(1, 1, kernel_size, padding="same", bias=False)
    x = torch.randn(1, 1, 2 * kernel_size + 3, kernel_size + 5)
    for p in range(kernel_size):
        explicit = F.conv2d(x, layer.weight, padding=p)
        if explicit.shape == layer(x).shape and torch.allclose(explicit, layer(x)):
            return p
    raise AssertionError(f"no symmetric padding matches padding='same' for k={kernel_size}")


def test_same_padding_agrees_with_torch_same_and_passes():
    for kernel_size in (1, 3, 5, 7, 9, 11):
        assert same_padding(kernel_size) == torch_same_padding(kernel_size)
    assert check("conv-same-padding", same_padding).passed
    assert check("conv-same-padding", torch_same_padding).passed
    graded = grade("conv-same-padding", same_padding)
    assert graded["status"] == "pass" and graded["points"] == 1


def test_same_padding_mistakes_get_hints_and_a_literal_fails_grading():
    oracle = torch_same_padding(conv_checks.SAME_K)
    total = check("conv-same-padding", lambda k: k - 1)
    assert total.status == "fail" and "each side" in total.message
    assert check("conv-same-padding", lambda k: k).status == "fail"
    rounded_up = check("conv-same-padding", lambda k: (k + 1) // 2)
    assert rounded_up.status == "fail" and "rounding up" in rounded_up.message
    assert str(oracle) not in total.message + rounded_up.message
    plain = check("conv-same-padding", oracle)
    assert plain.status == "fail" and "function" in plain.message
    assert grade("conv-same-padding", oracle)["points"] == 0
    constant = grade("conv-same-padding", lambda k: oracle)
    assert constant["status"] == "fail" and constant["points"] == 0


def test_strided_loop_solution_passes_and_matches_torch():
    rng = np.random.default_rng(1)
    image, kernel = rng.normal(size=(11, 9)), rng.normal(size=(3, 3))
    oracle = F.conv2d(
        torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None], stride=2
    )
    assert np.allclose(correlate_strided(image, kernel, 2), oracle[0, 0].numpy())
    assert check("conv-strided-loop", correlate_strided).passed


def test_strided_loop_mistakes_get_hints():
    def ignores_stride(image, kernel, stride):
        return correlate_strided(image, kernel, 1)

    def wrong_start(image, kernel, stride):  # right shape, windows start at i instead of i*s
        k = kernel.shape[0]
        out = np.zeros(((image.shape[0] - k) // stride + 1, (image.shape[1] - k) // stride + 1))
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = np.sum(image[i : i + k, j : j + k] * kernel)
        return out

    def crashes(image, kernel, stride):
        raise IndexError("boom")

    shape_hint = check("conv-strided-loop", ignores_stride)
    assert shape_hint.status == "fail" and "shape" in shape_hint.message
    start_hint = check("conv-strided-loop", wrong_start)
    assert start_hint.status == "fail" and "start" in start_hint.message
    crash = check("conv-strided-loop", crashes)
    assert crash.status == "fail" and "IndexError" in crash.message
    assert check("conv-strided-loop", lambda image, kernel, stride: None).status == "not attempted"
    assert check("conv-strided-loop", 42).status == "fail"  # not a function
    assert check("conv-strided-loop", lambda image, kernel, stride: "map").status == "fail"


def learned_table(seed):
    """A synthetic ``learned`` table as the chapter builds it: one row per map."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "with brightness": rng.uniform(-0.9, 0.9, 8),
            "with edge strength": rng.uniform(-0.6, 0.6, 8),
            "active pixels": rng.uniform(0, 1, 8),
        }
    )


def test_read_edges_compares_with_the_notebooks_own_table():
    table = learned_table(0)
    state = {"learned": table}
    ex = registry.get_exercise("conv-read-edges")
    # The oracle: the largest value of the column, found by sorting the rows.
    strongest = table.sort_values("with edge strength").iloc[-1]["with edge strength"]
    with chapter_variables(state):
        assert check("conv-read-edges", strongest).passed
        assert check("conv-read-edges", round(float(strongest), 2)).passed  # as shown
        brightness = check("conv-read-edges", table["with brightness"].max())
        assert brightness.status == "fail" and "brightness" in brightness.message
        smallest = check("conv-read-edges", table["with edge strength"].min())
        assert smallest.status == "fail" and "smallest" in smallest.message
        assert str(round(float(strongest), 2)) not in brightness.message + smallest.message
    assert evaluate(ex, lambda: strongest, lambda: state)["points"] == 1
    other = {"learned": learned_table(1)}
    assert evaluate(ex, lambda: strongest, lambda: other)["points"] == 0
