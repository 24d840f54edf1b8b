"""Checks of "Keras versus PyTorch": solutions pass, mistakes get hints, oracles from both
frameworks (Keras' Adam default, PyTorch's cross-entropy, cnncourse.interop)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnncourse import interop, models
from cnncourse._frameworks import import_keras
from cnncourse.exercises import check
from cnncourse.exercises.checks import keras_vs_pytorch as kvp
from cnncourse.interop import torch_eps_matching_keras

pytestmark = pytest.mark.keras
pytest.importorskip("keras")
keras = import_keras()


@pytest.mark.parametrize(
    "exercise_id",
    [
        "kvp-adam-epsilon",
        "kvp-double-softmax-floor",
        "kvp-keras-epsilon-step1",
        "kvp-flatten-order",
    ],
)
def test_none_is_not_attempted(exercise_id):
    assert check(exercise_id, None).status == "not attempted"


def test_adam_epsilon_is_keras_default():
    oracle = keras.optimizers.Adam().epsilon
    assert check("kvp-adam-epsilon", oracle).passed
    torch_default = torch.optim.Adam([torch.zeros(1, requires_grad=True)]).defaults["eps"]
    verdict = check("kvp-adam-epsilon", torch_default)
    assert verdict.status == "fail" and "PyTorch's own default" in verdict.message
    assert "BatchNormalization" in check("kvp-adam-epsilon", 1e-3).message
    assert "wrong type" in check("kvp-adam-epsilon", "1e-7").message


def test_double_softmax_floor_matches_torch_cross_entropy():
    # the best a softmax output can do: one-hot on the true class; the loss applies softmax again
    best_output = torch.zeros(1, kvp.NUM_CLASSES)
    best_output[0, 3] = 1.0
    oracle = torch.nn.functional.cross_entropy(best_output, torch.tensor([3])).item()
    assert check("kvp-double-softmax-floor", oracle).passed
    assert "uniform" in check("kvp-double-softmax-floor", math.log(10)).message
    assert "logits" in check("kvp-double-softmax-floor", 0.0).message
    assert check("kvp-double-softmax-floor", 1.0).status == "fail"


def test_keras_epsilon_step1_reproduces_keras_first_adam_step():
    answer = torch_eps_matching_keras(1e-7, 0.999, 1)
    assert check("kvp-keras-epsilon-step1", answer).passed
    # oracle: one Adam step in each framework on a gradient as small as epsilon
    grad = np.full(4, 1e-7, dtype="float32")
    param = torch.nn.Parameter(torch.zeros(4))
    param.grad = torch.from_numpy(grad.copy())
    torch.optim.Adam([param], lr=1e-3, eps=answer).step()
    variable = keras.Variable(np.zeros(4, dtype="float32"))
    keras.optimizers.Adam(1e-3).apply_gradients([(keras.ops.convert_to_tensor(grad), variable)])
    np.testing.assert_allclose(
        param.detach().numpy(), keras.ops.convert_to_numpy(variable), rtol=1e-4
    )
    assert "many steps" in check("kvp-keras-epsilon-step1", 1e-7).message
    assert "other way" in check("kvp-keras-epsilon-step1", 1e-7 * math.sqrt(1e-3)).message


def test_flatten_reference_agrees_with_interop():
    torch_model = models.build_model("tiny")
    keras_model = models.build_model("tiny", "keras")
    interop.keras_to_torch(keras_model, torch_model)
    kernel = keras.ops.convert_to_numpy(keras_model.get_layer("fc").kernel)  # (784, 10)
    expected = torch_model.fc.weight.detach().numpy()  # (10, 784)
    np.testing.assert_array_equal(kvp.keras_dense_to_torch_reference(kernel, 7, 7, 16), expected)


def test_flatten_order_function_checks():
    def solution(kernel, height, width, channels):
        out = kernel.shape[1]
        return kernel.reshape(height, width, channels, out).transpose(3, 2, 0, 1).reshape(out, -1)

    assert check("kvp-flatten-order", solution).passed
    assert check(
        "kvp-flatten-order", lambda k, h, w, c: torch.from_numpy(solution(k, h, w, c))
    ).passed
    transposed = check("kvp-flatten-order", lambda k, h, w, c: k.T)
    assert transposed.status == "fail" and "(C, H, W)" in transposed.message
    untransposed = check("kvp-flatten-order", lambda k, h, w, c: k)
    assert "(out_features, in_features)" in untransposed.message
    swapped = check(
        "kvp-flatten-order",
        lambda k, h, w, c: k.reshape(w, h, c, -1).transpose(3, 2, 1, 0).reshape(k.shape[1], -1),
    )
    assert swapped.status == "fail" and "wrong places" in swapped.message
    stub = check("kvp-flatten-order", lambda k, h, w, c: None)
    assert stub.status == "not attempted"
    assert "wrong type" in check("kvp-flatten-order", solution(np.zeros((4, 2)), 1, 2, 2)).message
