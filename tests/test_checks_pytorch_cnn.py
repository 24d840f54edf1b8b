"""The exercise checks of the chapter "A CNN in PyTorch": solutions pass, mistakes get hints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from cnncourse.exercises import check, get_exercise
from cnncourse.exercises.registry import evaluate

IDS = ["torch-conv-shape", "torch-steps-per-epoch", "torch-cross-entropy", "torch-evaluate"]


def test_all_four_are_registered_for_the_chapter():
    for exercise_id in IDS:
        assert get_exercise(exercise_id).chapter == "pytorch_cnn"


@pytest.mark.parametrize("exercise_id", IDS)
def test_none_is_not_attempted(exercise_id):
    assert check(exercise_id, None).status == "not attempted"


# ---- torch-conv-shape --------------------------------------------------------------------


def conv_solution(input_shape, out_channels, kernel_size, padding, pool):
    n, _, h, w = input_shape
    h, w = ((x + 2 * padding - kernel_size + 1) // pool for x in (h, w))
    return (n, out_channels, h, w)


def test_conv_shape_solution_agrees_with_pytorch():
    rng = np.random.default_rng(0)
    for _ in range(10):
        shape = tuple(int(x) for x in rng.integers([1, 1, 16, 16], [6, 4, 40, 40]))
        kernel = int(rng.choice([1, 3, 5]))
        out, padding, pool = int(rng.integers(1, 9)), int(rng.integers(0, kernel // 2 + 1)), 2
        layers = nn.Sequential(
            nn.Conv2d(shape[1], out, kernel, padding=padding), nn.ReLU(), nn.MaxPool2d(pool)
        )
        expected = tuple(layers(torch.zeros(shape)).shape)
        assert conv_solution(shape, out, kernel, padding, pool) == expected
    assert check("torch-conv-shape", conv_solution).passed


def test_conv_shape_right_tuple_says_the_grade_needs_the_function():
    for right in ((32, 8, 14, 14), [32, 8, 14, 14], torch.Size([32, 8, 14, 14])):
        result = check("torch-conv-shape", right)
        assert result.status == "fail" and "grade needs the function" in result.message


@pytest.mark.parametrize(
    "wrong, words",
    [
        ((32, 8, 28, 28), "pooling"),
        ((32, 14, 14, 8), "channels before"),
        ((8, 14, 14), "batch axis"),
        ((32, 8, 13, 13), "padding"),
        ((32, 16, 14, 14), "dimension 1"),
    ],
)
def test_conv_shape_mistakes_get_hints(wrong, words):
    for answer in (wrong, lambda *args: wrong):
        result = check("torch-conv-shape", answer)
        assert result.status == "fail" and words in result.message, result.message


def test_conv_shape_feedback_tries_other_sizes():
    def square_only(input_shape, out_channels, kernel_size, padding, pool):
        n, _, h, _ = input_shape
        side = (h + 2 * padding - kernel_size + 1) // pool
        return (n, out_channels, side, side)

    assert check("torch-conv-shape", square_only).status == "fail"


def test_conv_shape_wrong_type():
    assert "wrong type" in check("torch-conv-shape", "32, 8, 14, 14").message


def test_conv_shape_grading_passes_the_function_and_fails_literals():
    ex = get_exercise("torch-conv-shape")
    assert ex.name == "conv_pool_shape"
    assert evaluate(ex, lambda: conv_solution)["status"] == "pass"
    assert evaluate(ex, lambda: (32, 8, 14, 14))["points"] == 0
    assert evaluate(ex, lambda: lambda *args: (32, 8, 14, 14))["points"] == 0


# ---- torch-steps-per-epoch ---------------------------------------------------------------


def steps_solution(n_samples, batch_size, drop_last=False):
    return n_samples // batch_size if drop_last else -(-n_samples // batch_size)


def test_steps_solution_counts_dataloader_batches():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n, batch = int(rng.integers(1, 5000)), int(rng.integers(1, 300))
        for drop_last in (False, True):
            loader = torch.utils.data.DataLoader(range(n), batch_size=batch, drop_last=drop_last)
            assert steps_solution(n, batch, drop_last) == len(loader)
    assert check("torch-steps-per-epoch", steps_solution).passed


@pytest.mark.parametrize(
    "wrong, words", [(421, "last batch"), (54_000, "once per batch"), (400, "too small")]
)
def test_steps_mistakes_get_hints(wrong, words):
    result = check("torch-steps-per-epoch", wrong)
    assert result.status == "fail" and words in result.message
    result = check("torch-steps-per-epoch", lambda n, b, drop_last=False: wrong)
    assert result.status == "fail" and words in result.message


def test_steps_right_number_says_the_grade_needs_the_function():
    result = check("torch-steps-per-epoch", 422)
    assert result.status == "fail" and "grade needs the function" in result.message


def test_steps_feedback_tries_drop_last():
    def ignores_drop_last(n_samples, batch_size, drop_last=False):
        return -(-n_samples // batch_size)

    def drops_always_one(n_samples, batch_size, drop_last=False):
        return -(-n_samples // batch_size) - (1 if drop_last else 0)

    for wrong in (ignores_drop_last, drops_always_one):
        result = check("torch-steps-per-epoch", wrong)
        assert result.status == "fail" and "drop_last" in result.message, result.message


def test_steps_grading_passes_the_function_and_fails_literals():
    ex = get_exercise("torch-steps-per-epoch")
    assert ex.name == "steps_per_epoch"
    assert evaluate(ex, lambda: steps_solution)["status"] == "pass"
    assert evaluate(ex, lambda: 422)["points"] == 0
    assert evaluate(ex, lambda: lambda n, b, drop_last=False: 422)["points"] == 0

    def chapter_case_only(n_samples, batch_size, drop_last=False):
        return (421 if drop_last else 422) if n_samples == 54_000 else 421

    assert evaluate(ex, lambda: chapter_case_only)["status"] == "fail"


# ---- torch-cross-entropy -----------------------------------------------------------------

LOGITS = torch.tensor([[2.0, 0.5, -1.0]])
TARGET = torch.tensor([0])


def cross_entropy_solution(logits, target):
    z = np.asarray(logits, dtype=float)
    top = z.max()
    return float(top + np.log(np.exp(z - top).sum()) - z[target])


def test_cross_entropy_solution_agrees_with_pytorch():
    rng = np.random.default_rng(0)
    for k in (2, 3, 7, 12):
        logits = rng.uniform(-10, 10, size=k)
        target = int(rng.integers(k))
        oracle = nn.functional.cross_entropy(
            torch.from_numpy(logits)[None], torch.tensor([target])
        ).item()
        assert cross_entropy_solution(list(logits), target) == pytest.approx(oracle, rel=1e-6)
    assert check("torch-cross-entropy", cross_entropy_solution).passed


def test_cross_entropy_right_number_says_the_grade_needs_the_function():
    right = nn.CrossEntropyLoss()(LOGITS, TARGET).item()
    result = check("torch-cross-entropy", right)
    assert result.status == "fail" and "grade needs the function" in result.message


def test_cross_entropy_double_softmax_is_recognised():
    double = nn.CrossEntropyLoss()(torch.softmax(LOGITS, dim=1), TARGET).item()
    for answer in (double, lambda logits, target: double):
        result = check("torch-cross-entropy", answer)
        assert result.status == "fail" and "twice" in result.message


@pytest.mark.parametrize(
    "transform, words",
    [
        (lambda loss, p: -loss, "negative"),
        (lambda loss, p: loss / math.log(10), "natural logarithm"),
        (lambda loss, p: p, "probability of the true class"),
        (lambda loss, p: 1 - p, "1 - p"),
    ],
)
def test_cross_entropy_other_mistakes(transform, words):
    def wrong(logits, target):
        z = torch.tensor([logits])
        loss = nn.functional.cross_entropy(z, torch.tensor([target])).item()
        return transform(loss, torch.softmax(z, dim=1)[0, target].item())

    result = check("torch-cross-entropy", wrong)
    assert result.status == "fail" and words in result.message, result.message


def test_cross_entropy_feedback_tries_another_target():
    def first_logit(logits, target):  # right only when the target is class 0
        return cross_entropy_solution(logits, 0)

    result = check("torch-cross-entropy", first_logit)
    assert result.status == "fail" and "logits[target]" in result.message


def test_cross_entropy_grading_passes_the_function_and_fails_literals():
    ex = get_exercise("torch-cross-entropy")
    assert ex.name == "cross_entropy"
    assert evaluate(ex, lambda: cross_entropy_solution)["status"] == "pass"
    right = nn.CrossEntropyLoss()(LOGITS, TARGET).item()
    assert evaluate(ex, lambda: right)["points"] == 0
    assert evaluate(ex, lambda: lambda logits, target: right)["points"] == 0


# ---- torch-evaluate ----------------------------------------------------------------------


def solution(model, images, labels):
    model.eval()
    with torch.no_grad():
        predictions = model(images).argmax(dim=1)
    return (predictions == labels).float().mean().item()


def inference_mode_solution(model, images, labels):
    model.eval()
    with torch.inference_mode():
        return (model(images).argmax(1) == labels).float().mean().item()


def forgot_eval(model, images, labels):
    with torch.no_grad():
        return (model(images).argmax(1) == labels).float().mean().item()


def forgot_no_grad(model, images, labels):
    model.eval()
    return (model(images).argmax(1) == labels).float().mean().item()


def returns_tensor(model, images, labels):
    model.eval()
    with torch.no_grad():
        return (model(images).argmax(1) == labels).float().mean()


def percentage(model, images, labels):
    return 100 * solution(model, images, labels)


def error_rate(model, images, labels):
    return 1 - solution(model, images, labels) + 0.1


@pytest.mark.parametrize("good", [solution, inference_mode_solution])
def test_evaluate_solutions_pass(good):
    assert check("torch-evaluate", good).passed


@pytest.mark.parametrize(
    "wrong, words",
    [
        (forgot_eval, "training mode"),
        (forgot_no_grad, "torch.no_grad"),
        (returns_tensor, "Python float"),
        (percentage, "percentage"),
        (error_rate, "too large"),
        (lambda m, x, y: 0.5, "never ran the model"),
    ],
)
def test_evaluate_mistakes_get_hints(wrong, words):
    result = check("torch-evaluate", wrong)
    assert result.status == "fail" and words in result.message, result.message


def test_evaluate_problem_separates_the_modes():
    """The check's model must score 0.5 in eval mode and something else in training mode."""
    from cnncourse.exercises.checks.pytorch_cnn import _evaluation_problem

    model, images, labels = _evaluation_problem()
    assert model.training
    assert solution(model, images, labels) == 0.5
    model.train()
    torch.manual_seed(0)
    assert forgot_eval(model, images, labels) != 0.5


def test_evaluate_stub_is_not_attempted():
    def stub(model, images, labels):
        return None

    assert check("torch-evaluate", stub).status == "not attempted"


# ---- torch-train-small: a trained model, measured on held-out test images ----------------


def _linear_model(steps: int) -> nn.Module:
    """A softmax regression (7,850 parameters) fitted with full-batch Adam on 5,000 images."""
    from cnncourse import data

    images, labels = data.to_tensors(data.load("fashion_mnist", "train").subset(5000, seed=3))
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    x = images.float() / 255
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), labels).backward()
        optimizer.step()
    return model


def test_train_small_passes_a_trained_model_on_fresh_samples_and_fails_the_rest():
    torch.manual_seed(0)
    trained = _linear_model(60)
    assert check("torch-train-small", trained).passed
    graded = evaluate(get_exercise("torch-train-small"), lambda: trained)
    assert graded["status"] == "pass" and graded["points"] == 3
    untrained = check("torch-train-small", _linear_model(0))
    assert untrained.status == "fail" and "held-out" in untrained.message
    big = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.Linear(64, 10))
    over = check("torch-train-small", big)
    assert over.status == "fail" and "budget" in over.message
    assert check("torch-train-small", 0.9).status == "fail"  # a claimed accuracy is no model
