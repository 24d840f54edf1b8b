"""The "Convolution" checks: solutions pass (against PyTorch and Keras oracles), typical
mistakes fail with a hint that does not give the answer away, None is not attempted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnncourse.exercises import check, registry
from cnncourse.exercises.checks import convolution as conv_checks

IDS = (
    "conv-output-size",
    "conv-params-rgb",
    "conv-keras-kernel",
    "conv-same-padding",
    "conv-strided-loop",
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


def test_output_size_is_what_torch_produces_and_mistakes_get_hints():
    layer = nn.Conv2d(
        1, 1, conv_checks.KERNEL, stride=conv_checks.STRIDE, padding=conv_checks.PADDING
    )
    oracle = layer(torch.zeros(1, 1, conv_checks.SIZE, conv_checks.SIZE)).shape[-1]
    assert check("conv-output-size", oracle).passed
    assert check("conv-output-size", torch.tensor(oracle)).passed  # a tensor answer is read too
    no_padding = check("conv-output-size", (32 - 5) // 2 + 1)
    assert no_padding.status == "fail" and "each" in no_padding.message
    ceil = check("conv-output-size", oracle + 1)
    assert ceil.status == "fail" and "down" in ceil.message
    no_stride = check("conv-output-size", 32 + 2 - 5 + 1)
    assert "stride" in no_stride.message
    assert str(oracle) not in no_padding.message + ceil.message + no_stride.message
    assert check("conv-output-size", "15").status == "fail"  # a string: wrong type


def test_params_rgb_matches_torch_and_fails_typical_mistakes():
    oracle = sum(p.numel() for p in nn.Conv2d(3, 16, kernel_size=5).parameters())
    assert check("conv-params-rgb", oracle).passed
    no_bias = check("conv-params-rgb", oracle - 16)
    assert no_bias.status == "fail" and "bias" in no_bias.message
    one_channel = check("conv-params-rgb", 5 * 5 * 16 + 16)
    assert one_channel.status == "fail" and "channel" in one_channel.message
    assert check("conv-params-rgb", oracle + 1).status == "fail"
    assert str(oracle) not in no_bias.message


@pytest.mark.keras
def test_keras_kernel_axes_turn_a_torch_weight_into_the_keras_kernel():
    from cnncourse._frameworks import import_keras

    keras = import_keras()
    torch_layer = nn.Conv2d(3, 4, kernel_size=(2, 3))
    weight = torch_layer.weight.detach().numpy()  # (4, 3, 2, 3)
    keras_layer = keras.layers.Conv2D(4, (2, 3))
    keras_layer.build((None, 8, 8, 3))
    # The oracle: the axes that map the PyTorch shape onto the Keras kernel's shape.
    oracle = (2, 3, 1, 0)
    assert weight.transpose(oracle).shape == tuple(keras_layer.kernel.shape)
    keras_layer.set_weights([weight.transpose(oracle), torch_layer.bias.detach().numpy()])
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 8)).astype(np.float32)
    expected = torch_layer(torch.from_numpy(x)).detach().numpy()
    got = np.asarray(keras_layer(x.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
    assert np.abs(expected - got).max() < 1e-5
    assert check("conv-keras-kernel", oracle).passed
    assert check("conv-keras-kernel", list(oracle)).passed
    backwards = check("conv-keras-kernel", (3, 2, 0, 1))
    assert backwards.status == "fail" and "way back" in backwards.message
    assert "exactly once" in check("conv-keras-kernel", (2, 2, 1, 0)).message
    partly = check("conv-keras-kernel", (2, 3, 0, 1))
    assert (
        partly.status == "fail" and "C" in partly.message and "(2, 3, 1, 0)" not in partly.message
    )


def test_same_padding_keeps_the_size_in_torch():
    oracle = (conv_checks.SAME_K - 1) // 2
    x = torch.zeros(1, 1, conv_checks.SAME_SIZE, conv_checks.SAME_SIZE)
    assert nn.Conv2d(1, 1, conv_checks.SAME_K, padding=oracle)(x).shape[-1] == 28
    assert check("conv-same-padding", oracle).passed
    total = check("conv-same-padding", 6)
    assert total.status == "fail" and "each side" in total.message
    assert check("conv-same-padding", 7).status == "fail"


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
