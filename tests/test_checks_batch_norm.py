"""The "Batch normalization" checks: solutions pass (against PyTorch/Keras oracles),
typical mistakes fail with a hint that does not give the answer away, None is not attempted."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from cnncourse.exercises import check, registry
from cnncourse.exercises.checks import batch_norm as bn_checks

IDS = ("bn-params", "bn-axes", "bn-keras-momentum", "bn-two-samples", "bn-fold")


def fold_solution(gamma, beta, mean, var, eps):
    scale = gamma / np.sqrt(var + eps)
    return scale, beta - scale * mean


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_check_is_registered_for_the_chapter_and_none_is_not_attempted(exercise_id):
    assert registry.get_exercise(exercise_id).chapter == "batch_norm"
    verdict = check(exercise_id, None)
    assert verdict.status == "not attempted"
    assert verdict.points == 0


def grade(exercise_id, answer):
    return registry.evaluate(registry.get_exercise(exercise_id), lambda: answer)


def bn_params(channels):
    """The chapter's solution."""
    return 2 * channels, 2 * channels


def torch_params(channels):
    """The oracle: what nn.BatchNorm2d trains, and the running statistics it only stores."""
    layer = nn.BatchNorm2d(channels)
    trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
    return trainable, layer.running_mean.numel() + layer.running_var.numel()


def test_params_function_matches_torch_in_feedback_and_grading():
    assert torch_params(bn_checks.BN_CHANNELS) == bn_params(bn_checks.BN_CHANNELS)
    for answer in (bn_params, torch_params):
        assert check("bn-params", answer).passed
        graded = grade("bn-params", answer)
        assert graded["status"] == "pass" and graded["points"] == 1, graded


@pytest.mark.keras
def test_params_are_the_counts_keras_reports():
    from cnncourse._frameworks import import_keras

    keras = import_keras()
    for channels in (1, 7, 64):
        layer = keras.layers.BatchNormalization()
        layer.build((None, 5, 5, channels))
        trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
        stored = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
        assert bn_params(channels) == (trainable, stored)


def test_params_mistakes_get_hints_and_a_literal_fails_grading():
    oracle = torch_params(bn_checks.BN_CHANNELS)
    with_buffers = check("bn-params", lambda c: (4 * c, 0))
    assert with_buffers.status == "fail" and "running" in with_buffers.message
    assert "scale" in check("bn-params", lambda c: (c, 2 * c)).message
    not_stored = check("bn-params", lambda c: (2 * c, 0))
    assert not_stored.status == "fail" and "non-trainable" in not_stored.message
    assert str(oracle[0]) not in with_buffers.message + not_stored.message
    assert "pair" in check("bn-params", lambda c: 2 * c).message
    assert check("bn-params", lambda c: ("128", "x")).status == "fail"
    plain = check("bn-params", oracle)
    assert plain.status == "fail" and "function" in plain.message
    assert grade("bn-params", oracle)["points"] == 0
    constant = grade("bn-params", lambda c: oracle)
    assert constant["status"] == "fail" and constant["points"] == 0
    assert grade("bn-params", lambda c: None)["status"] == "not attempted"


def bn_axes(layout):
    """The chapter's solution."""
    return tuple(i for i, name in enumerate(layout) if name != "C")


BATCH_NORMS = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}


def torch_means(x, layout):
    """The oracle: the per-channel means PyTorch's BatchNorm takes of ``x`` laid out as ``layout``."""
    channels_second = x.movedim(layout.index("C"), 1)  # PyTorch's own layout
    layer = BATCH_NORMS[x.dim()](x.shape[layout.index("C")], momentum=1.0).double().train()
    layer(channels_second)
    return layer.running_mean  # momentum 1: exactly the batch's means


def torch_axes(layout):
    """The oracle as a function: the axes whose means are PyTorch's, found by trying all."""
    shape = [6, 3, 5, 4, 2][: len(layout)]
    x = torch.randn(*shape, dtype=torch.float64)
    expected = torch_means(x, layout)
    for size in range(1, len(layout)):
        for axes in itertools.combinations(range(len(layout)), size):
            mean = x.mean(dim=axes)
            if mean.shape == expected.shape and torch.allclose(mean, expected):
                return axes
    raise AssertionError(f"no axes give PyTorch's means for {layout}")


@pytest.mark.parametrize("layout", sorted({n for ls in bn_checks.LAYOUTS.values() for n in ls}))
def test_axes_solution_gives_torch_batch_norm_means_for_every_layout(layout):
    assert bn_axes(layout) == torch_axes(layout)


def test_axes_function_passes_feedback_and_grading():
    for answer in (bn_axes, torch_axes, lambda layout: list(reversed(bn_axes(layout)))):
        assert check("bn-axes", answer).passed
        graded = grade("bn-axes", answer)
        assert graded["status"] == "pass" and graded["points"] == 1, graded


def test_axes_as_a_literal_or_for_nchw_only_fails_grading():
    plain = check("bn-axes", (0, 2, 3))
    assert plain.status == "fail" and "function" in plain.message
    assert grade("bn-axes", (0, 2, 3))["points"] == 0
    constant = grade("bn-axes", lambda layout: (0, 2, 3))
    assert constant["status"] == "fail" and constant["points"] == 0
    channel_second = grade("bn-axes", lambda layout: (0, *range(2, len(layout))))
    assert channel_second["points"] == 0  # channels-last layouts are always among the cases


@pytest.mark.parametrize(
    ("answer", "word"),
    [
        ((1, 2, 3), "channel"),
        ((0, 1, 2, 3), "channel"),
        ((2, 3), "instance"),
        ((0,), "position"),
        ((0, 0, 2, 3), "once"),
        ((0, 4), "axes 0 to 3"),
    ],
)
def test_axes_mistakes_get_specific_hints(answer, word):
    verdict = check("bn-axes", lambda layout: answer)
    assert verdict.status == "fail"
    assert word in verdict.message
    assert "(0, 2, 3)" not in verdict.message


def test_axes_wrong_type():
    verdict = check("bn-axes", lambda layout: "0, 2, 3")
    assert verdict.status == "fail" and "wrong type" in verdict.message


@pytest.mark.keras
def test_keras_momentum_matches_a_keras_layer():
    from cnncourse._frameworks import import_keras

    keras = import_keras()
    layer = keras.layers.BatchNormalization(momentum=bn_checks.KERAS_MOMENTUM)
    batch = np.full((4, 2, 2, 1), bn_checks.BATCH_MEAN, dtype="float32")  # (N, H, W, C)
    for _ in range(bn_checks.KERAS_STEPS):
        layer(batch, training=True)
    oracle = float(keras.ops.convert_to_numpy(layer.moving_mean)[0])
    assert check("bn-keras-momentum", lambda *case: oracle).passed  # on the chapter's case
    torch_way = 1 - (1 - bn_checks.KERAS_MOMENTUM) ** bn_checks.KERAS_STEPS  # keep 0.1, not 0.9
    hint = check("bn-keras-momentum", torch_way).message
    assert "OLD" in hint
    assert "starts at 0" in check("bn-keras-momentum", 1.0).message
    assert check("bn-keras-momentum", 0.5).status == "fail"


def test_keras_momentum_equals_torch_with_one_minus_momentum():
    layer = nn.BatchNorm1d(1, momentum=1 - bn_checks.KERAS_MOMENTUM)
    for _ in range(bn_checks.KERAS_STEPS):
        layer(torch.full((4, 1), bn_checks.BATCH_MEAN))
    moving_mean = layer.running_mean.item()
    assert check("bn-keras-momentum", lambda *case: moving_mean).passed


def test_two_samples_matches_torch_training_mode():
    layer = nn.BatchNorm1d(1, eps=1e-12, affine=False).double().train()
    out = layer(torch.tensor(bn_checks.TWO_SAMPLES, dtype=torch.float64)[:, None])  # (2, 1)
    oracle = out[1, 0].item()
    assert check("bn-two-samples", lambda a, b: oracle).passed
    unbiased = check("bn-two-samples", oracle / np.sqrt(2))  # std with n - 1 = 1
    assert "biased" in unbiased.message
    assert "sign" in check("bn-two-samples", -oracle).message
    assert check("bn-two-samples", 0.5).status == "fail"


def test_fold_solution_matches_torch_eval_mode_and_passes():
    gamma, beta = torch.tensor([1.5, 0.5]), torch.tensor([0.2, -1.0])
    mean, var = torch.tensor([2.0, -1.0]), torch.tensor([4.0, 0.25])
    layer = nn.BatchNorm2d(2, eps=1e-3).eval()
    with torch.no_grad():
        layer.weight.copy_(gamma)
        layer.bias.copy_(beta)
        layer.running_mean.copy_(mean)
        layer.running_var.copy_(var)
        x = torch.randn(3, 2, 4, 4)
        scale, shift = fold_solution(gamma.numpy(), beta.numpy(), mean.numpy(), var.numpy(), 1e-3)
        folded = (
            torch.from_numpy(scale)[:, None, None] * x + torch.from_numpy(shift)[:, None, None]
        )
        torch.testing.assert_close(folded, layer(x))
    assert check("bn-fold", fold_solution).passed


def test_fold_mistakes_and_stubs():
    def no_mean(gamma, beta, mean, var, eps):
        return gamma / np.sqrt(var + eps), beta

    def no_eps(gamma, beta, mean, var, eps):
        scale = gamma / np.sqrt(var)
        return scale, beta - scale * mean

    def stub(gamma, beta, mean, var, eps):
        return None

    def raises(gamma, beta, mean, var, eps):
        raise NotImplementedError

    assert "shift" in check("bn-fold", no_mean).message
    assert "eps" in check("bn-fold", no_eps).message
    assert check("bn-fold", stub).status == "not attempted"
    assert check("bn-fold", raises).status == "not attempted"
    assert "pair" in check("bn-fold", lambda *a: 1.0).message
    assert check("bn-fold", lambda *a: (np.ones(2), np.ones(2))).status == "fail"
    assert "function" in check("bn-fold", 3).message  # not callable: wrong type
