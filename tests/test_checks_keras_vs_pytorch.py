"""Checks of "Keras versus PyTorch": solutions pass, mistakes get hints, literals and
constant functions score zero, oracles from both frameworks (torch.optim.Adam's step,
PyTorch's cross-entropy, Keras' Adam steps, the notebook's own trained model)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnncourse import interop, models
from cnncourse._frameworks import import_keras
from cnncourse.exercises import check, registry
from cnncourse.exercises.checks import keras_vs_pytorch as kvp
from cnncourse.exercises.registry import evaluate
from cnncourse.interop import torch_eps_matching_keras

pytestmark = pytest.mark.keras
pytest.importorskip("keras")
keras = import_keras()


IDS = (
    "kvp-adam-epsilon",
    "kvp-double-softmax-floor",
    "kvp-keras-epsilon-step1",
    "kvp-flatten-order",
    "kvp-softmax-trained",
)


@pytest.mark.parametrize("exercise_id", IDS)
def test_none_is_not_attempted(exercise_id):
    assert registry.get_exercise(exercise_id).chapter == "keras_vs_pytorch"
    assert check(exercise_id, None).status == "not attempted"


def grade(exercise_id, answer, context=None):
    return evaluate(
        registry.get_exercise(exercise_id), lambda: answer, (lambda: context) if context else None
    )


def first_adam_step(lr, eps, grad):
    """The chapter's solution."""
    return -lr * grad / (abs(grad) + eps)


def torch_first_adam_step(lr, eps, grad):
    """The oracle: the change one step of torch.optim.Adam makes to a parameter."""
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    param.grad = torch.tensor([grad], dtype=torch.float64)
    torch.optim.Adam([param], lr=lr, eps=eps).step()
    return param.item()


def test_first_adam_step_matches_torch_and_the_keras_default_is_the_chapters_case():
    assert keras.optimizers.Adam().epsilon == kvp.KERAS_ADAM_EPS
    torch_default = torch.optim.Adam([torch.zeros(1, requires_grad=True)]).defaults["eps"]
    assert torch_default == kvp.TORCH_ADAM_EPS
    for case in [kvp.STEP_CASE, (0.05, 1e-6, -3e-7), (1e-4, 1e-9, 0.0)]:
        assert math.isclose(
            kvp.first_adam_step(*case), torch_first_adam_step(*case), abs_tol=1e-15
        )
    assert check("kvp-adam-epsilon", torch_first_adam_step).passed
    graded = grade("kvp-adam-epsilon", first_adam_step)
    assert graded["status"] == "pass" and graded["points"] == 1


def test_first_adam_step_literal_and_mistakes():
    literal = check("kvp-adam-epsilon", first_adam_step(*kvp.STEP_CASE))
    assert literal.status == "fail" and "needs the function" in literal.message
    assert grade("kvp-adam-epsilon", first_adam_step(*kvp.STEP_CASE))["points"] == 0
    assert (
        "against the gradient"
        in check("kvp-adam-epsilon", lambda lr, eps, g: -first_adam_step(lr, eps, g)).message
    )
    assert "leaves epsilon out" in check("kvp-adam-epsilon", lambda lr, eps, g: -lr).message
    no_correction = check(
        "kvp-adam-epsilon", lambda lr, eps, g: -lr * 0.1 * g / (math.sqrt(1e-3) * abs(g) + eps)
    )
    assert "bias correction" in no_correction.message
    keras_placement = check(
        "kvp-adam-epsilon", lambda lr, eps, g: -lr * g / (abs(g) + eps / math.sqrt(1e-3))
    )
    assert "Keras' placement" in keras_placement.message
    constant = lambda lr, eps, g: first_adam_step(*kvp.STEP_CASE)  # noqa: E731
    assert check("kvp-adam-epsilon", constant).passed
    graded = grade("kvp-adam-epsilon", constant)
    assert graded["status"] == "fail" and graded["points"] == 0


def torch_double_softmax_floor(num_classes):
    """The oracle: PyTorch's cross-entropy of the best softmax output, a one-hot vector."""
    best_output = torch.zeros(1, num_classes, dtype=torch.float64)
    best_output[0, num_classes - 1] = 1.0
    target = torch.tensor([num_classes - 1])
    return torch.nn.functional.cross_entropy(best_output, target).item()


def test_double_softmax_floor_matches_torch_cross_entropy():
    for num_classes in (2, 10, 37, 1000):
        assert math.isclose(
            kvp.double_softmax_floor(num_classes), torch_double_softmax_floor(num_classes)
        )
    assert check("kvp-double-softmax-floor", torch_double_softmax_floor).passed
    graded = grade("kvp-double-softmax-floor", torch_double_softmax_floor)
    assert graded["status"] == "pass" and graded["points"] == 1
    literal = check("kvp-double-softmax-floor", torch_double_softmax_floor(10))
    assert literal.status == "fail" and "needs the function" in literal.message
    assert grade("kvp-double-softmax-floor", torch_double_softmax_floor(10))["points"] == 0
    assert "uniform" in check("kvp-double-softmax-floor", math.log).message
    assert "logits" in check("kvp-double-softmax-floor", lambda k: 0.0).message
    assert "K - 1" in check("kvp-double-softmax-floor", lambda k: math.log(1 + k / math.e)).message
    constant = lambda k: torch_double_softmax_floor(10)  # noqa: E731
    assert check("kvp-double-softmax-floor", constant).passed
    assert grade("kvp-double-softmax-floor", constant)["points"] == 0


def test_matching_torch_eps_reproduces_keras_adam_steps():
    """Oracle: three Adam steps in each framework, PyTorch's eps set step by step."""
    epsilon, beta_2 = 3e-7, 0.99
    grad = np.full(4, 2e-7, dtype="float32")
    param = torch.nn.Parameter(torch.zeros(4))
    optimizer = torch.optim.Adam([param], lr=1e-3, betas=(0.9, beta_2))
    variable = keras.Variable(np.zeros(4, dtype="float32"))
    keras_adam = keras.optimizers.Adam(1e-3, beta_2=beta_2, epsilon=epsilon)
    for step in (1, 2, 3):
        param.grad = torch.from_numpy(grad.copy())
        optimizer.param_groups[0]["eps"] = kvp.matching_torch_eps(epsilon, beta_2, step)
        optimizer.step()
        keras_adam.apply_gradients([(keras.ops.convert_to_tensor(grad), variable)])
    np.testing.assert_allclose(
        param.detach().numpy(), keras.ops.convert_to_numpy(variable), rtol=1e-4
    )
    assert kvp.matching_torch_eps(*kvp.EPS_CASE) == torch_eps_matching_keras(*kvp.EPS_CASE)


def test_matching_torch_eps_function_literal_and_mistakes():
    def solution(epsilon, beta_2, step):
        return epsilon / math.sqrt(1 - beta_2**step)

    assert check("kvp-keras-epsilon-step1", solution).passed
    graded = grade("kvp-keras-epsilon-step1", solution)
    assert graded["status"] == "pass" and graded["points"] == 1
    literal = check("kvp-keras-epsilon-step1", solution(*kvp.EPS_CASE))
    assert literal.status == "fail" and "needs the function" in literal.message
    assert grade("kvp-keras-epsilon-step1", solution(*kvp.EPS_CASE))["points"] == 0
    assert "many steps" in check("kvp-keras-epsilon-step1", lambda e, b, t: e).message
    other_way = check("kvp-keras-epsilon-step1", lambda e, b, t: e * math.sqrt(1 - b**t))
    assert "other way" in other_way.message
    # right at step 1 only: the step is left out
    first_only = lambda e, b, t: e / math.sqrt(1 - b)  # noqa: E731
    assert check("kvp-keras-epsilon-step1", first_only).passed
    assert grade("kvp-keras-epsilon-step1", first_only)["points"] == 0


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


@pytest.fixture
def trained_setting():
    """A tiny CNN after a few Adam steps and probe images: the chapter's variables."""
    torch.manual_seed(0)
    model = models.build_model("tiny")
    rng = np.random.default_rng(0)
    probe = rng.random((64, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 64).astype(np.uint8)
    x = torch.from_numpy(probe).permute(0, 3, 1, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(20):  # a model that has learned something, not its initial weights
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), torch.from_numpy(labels).long()).backward()
        optimizer.step()
    return {"torch_model": model, "probe": probe, "probe_labels": labels}


def test_softmax_trained_matches_an_independent_measurement(trained_setting):
    model = trained_setting["torch_model"].eval()
    x = torch.from_numpy(trained_setting["probe"]).permute(0, 3, 1, 2)
    y = torch.from_numpy(trained_setting["probe_labels"]).long()
    loss_fn = torch.nn.CrossEntropyLoss()
    with torch.no_grad():
        logits = model(x)
        oracle = loss_fn(logits.softmax(dim=1), y).item()
        on_logits = loss_fn(logits, y).item()
    assert oracle >= kvp.double_softmax_floor(10)  # the floor holds
    assert abs(oracle - on_logits) > 0.01
    with registry.chapter_variables(trained_setting):
        assert check("kvp-softmax-trained", oracle).passed
        wrong = check("kvp-softmax-trained", on_logits)
        assert wrong.status == "fail" and "loss on the logits" in wrong.message
        floor = check("kvp-softmax-trained", kvp.double_softmax_floor(10))
        assert floor.status == "fail" and "floor" in floor.message
        assert check("kvp-softmax-trained", oracle + 0.01).status == "fail"
    graded = grade("kvp-softmax-trained", oracle, trained_setting)
    assert graded["status"] == "pass" and graded["points"] == 2
    assert grade("kvp-softmax-trained", on_logits, trained_setting)["points"] == 0


def test_softmax_trained_needs_the_chapter_run():
    with registry.chapter_variables({}):
        assert check("kvp-softmax-trained", 1.7).status == "not attempted"
