"""Number exercises turned into functions: the check tries the chapter's case (a number
worked out by hand is recognised as right there, with a note that the grade needs the
function); the grader calls the function on parameters it
draws, so a hard-coded literal, or a function that returns one, scores zero."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnncourse.exercises import check, get_exercise, registry


def graded(exercise_id: str, answer) -> dict:
    return registry.evaluate(get_exercise(exercise_id), lambda: answer)


def keras_moving_mean(momentum, steps, batch_mean):
    """Oracle: PyTorch's BatchNorm with momentum 1 - keras_momentum on constant batches."""
    layer = nn.BatchNorm1d(1, momentum=1 - momentum)
    layer.running_mean.zero_()
    with torch.no_grad():
        for _ in range(steps):
            layer(torch.full((4, 1), float(batch_mean)))
    return layer.running_mean.item()


def kept_output(value, p):
    """Oracle: nn.Dropout in training mode, on a unit it keeps."""
    torch.manual_seed(0)
    out = nn.Dropout(p).train()(torch.full((10_000,), float(value)))
    return out[out != 0][0].item()


def dropout_variance(p):
    """Oracle: the exact variance of nn.Dropout's output on a constant 1, from its two values."""
    kept = nn.Dropout(p).train()(torch.ones(100_000, dtype=torch.float64))
    high = kept.max().item()  # 1 / (1 - p), with probability 1 - p
    return (1 - p) * high**2 - 1.0


def second_sample_output(a, b):
    """Oracle: nn.BatchNorm1d(1) in training mode (gamma 1, beta 0), a negligible eps."""
    layer = nn.BatchNorm1d(1, eps=1e-12, affine=False).double().train()
    with torch.no_grad():
        return layer(torch.tensor([[a], [b]], dtype=torch.float64))[1, 0].item()


@pytest.mark.parametrize(
    ("exercise_id", "right", "wrong"),
    [
        ("bn-keras-momentum", keras_moving_mean, lambda m, s, b: b * (1 - (1 - m) ** s)),
        ("drop-scale", kept_output, lambda v, p: v * (1 - p)),
        ("drop-variance", dropout_variance, lambda p: p * (1 - p)),
        ("bn-two-samples", second_sample_output, lambda a, b: (b - a) / 2),  # mean only
    ],
)
def test_a_right_function_passes_a_wrong_one_and_a_literal_score_zero(exercise_id, right, wrong):
    assert check(exercise_id, right).passed
    record = graded(exercise_id, right)
    assert record["status"] == "pass" and record["points"] == 1, record
    assert check(exercise_id, wrong).status == "fail"
    assert graded(exercise_id, wrong)["points"] == 0
    ex = get_exercise(exercise_id)
    case = {
        "bn-keras-momentum": (0.9, 5, 1.0),
        "drop-scale": (3.0, 0.2),
        "drop-variance": (0.2,),
        "bn-two-samples": (3.0, 7.0),
    }[exercise_id]
    literal = right(*case)  # the chapter's answer, worked out by hand
    feedback = check(exercise_id, literal)  # right, but a number: says the grade needs a function
    assert feedback.status == "fail", feedback
    assert "right for the chapter's case" in feedback.message and f"{ex.name}(" in feedback.message
    assert graded(exercise_id, literal)["points"] == 0  # the grader wants the function
    constant = graded(exercise_id, lambda *args: literal)
    assert constant["status"] == "fail" and constant["points"] == 0
    stub = graded(exercise_id, lambda *args: None)
    assert stub["status"] == "not attempted"
    assert ex.name in {
        "keras_moving_mean",
        "kept_output",
        "dropout_variance",
        "second_sample_output",
    }


def test_the_keras_momentum_hint_survives_the_function_form():
    torch_way = check("bn-keras-momentum", lambda m, s, b: b * (1 - (1 - m) ** s))
    assert torch_way.status == "fail" and "OLD" in torch_way.message
