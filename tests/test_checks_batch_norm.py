"""The "Batch normalization" checks: solutions pass (against PyTorch/Keras oracles),
typical mistakes fail with a hint that does not give the answer away, None is not attempted."""

from __future__ import annotations

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


def test_params_is_what_torch_counts_as_trainable():
    layer = nn.BatchNorm2d(bn_checks.BN_CHANNELS)
    oracle = sum(p.numel() for p in layer.parameters() if p.requires_grad)
    assert check("bn-params", oracle).passed
    with_buffers = oracle + layer.running_mean.numel() + layer.running_var.numel()
    stored = check("bn-params", with_buffers)
    assert stored.status == "fail" and "running" in stored.message
    assert str(oracle) not in stored.message
    assert "scale" in check("bn-params", bn_checks.BN_CHANNELS).message
    assert check("bn-params", "128").status == "fail"  # a string is the wrong type


def test_axes_answer_reproduces_torch_batch_norm():
    x = torch.randn(6, 3, 5, 4, dtype=torch.float64)  # (N, C, H, W)
    axes = (0, 2, 3)
    mean = x.mean(dim=axes, keepdim=True)
    var = x.var(dim=axes, unbiased=False, keepdim=True)
    expected = nn.BatchNorm2d(3, eps=1e-5).double().train()(x)
    torch.testing.assert_close((x - mean) / torch.sqrt(var + 1e-5), expected)
    assert check("bn-axes", axes).passed
    assert check("bn-axes", [3, 0, 2]).passed  # any order


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
    verdict = check("bn-axes", answer)
    assert verdict.status == "fail"
    assert word in verdict.message
    assert "(0, 2, 3)" not in verdict.message


def test_axes_wrong_type():
    verdict = check("bn-axes", "0, 2, 3")
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
    assert check("bn-keras-momentum", oracle).passed
    torch_way = 1 - (1 - bn_checks.KERAS_MOMENTUM) ** bn_checks.KERAS_STEPS  # keep 0.1, not 0.9
    hint = check("bn-keras-momentum", torch_way).message
    assert "OLD" in hint
    assert "starts at 0" in check("bn-keras-momentum", 1.0).message
    assert check("bn-keras-momentum", 0.5).status == "fail"


def test_keras_momentum_equals_torch_with_one_minus_momentum():
    layer = nn.BatchNorm1d(1, momentum=1 - bn_checks.KERAS_MOMENTUM)
    for _ in range(bn_checks.KERAS_STEPS):
        layer(torch.full((4, 1), bn_checks.BATCH_MEAN))
    assert check("bn-keras-momentum", layer.running_mean.item()).passed


def test_two_samples_matches_torch_training_mode():
    layer = nn.BatchNorm1d(1, eps=1e-12, affine=False).double().train()
    out = layer(torch.tensor(bn_checks.TWO_SAMPLES, dtype=torch.float64)[:, None])  # (2, 1)
    oracle = out[1, 0].item()
    assert check("bn-two-samples", oracle).passed
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
