"""The "Activation and pooling" checks: solutions pass (against PyTorch oracles), typical
mistakes fail with a hint that does not give the answer away, None is not attempted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnncourse.exercises import check, get_exercise, registry
from cnncourse.exercises.checks import pooling as pool_checks
from cnncourse.exercises.registry import evaluate

IDS = (
    "pool-output-shape",
    "pool-collapse-kernel",
    "pool-receptive-field",
    "pool-relu-max-commute",
    "pool-receptive-field-function",
    "pool-train-avg",
)


def torch_receptive_field(layers, size=64):
    """Oracle: the input pixels the centre output of a linear stack depends on, via autograd.

    Convolutions of ones without padding and average pooling keep every path non-zero,
    so the non-zero gradient region is the whole receptive field.
    """
    x = torch.ones(1, 1, size, size, requires_grad=True)
    out = x
    for kernel, stride in layers:
        out = (
            F.avg_pool2d(out, kernel, stride)
            if stride > 1
            else F.conv2d(out, torch.ones(1, 1, kernel, kernel))
        )
    centre = out.shape[-1] // 2
    (grad,) = torch.autograd.grad(out[0, 0, centre, centre], x)
    rows = torch.nonzero(grad[0, 0].abs().sum(dim=1)).flatten()
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_check_is_registered_for_the_chapter_and_none_is_not_attempted(exercise_id):
    assert registry.get_exercise(exercise_id).chapter == "pooling"
    assert check(exercise_id, None).status == "not attempted"


@pytest.mark.parametrize("layers", pool_checks.FUNCTION_CASES)
def test_the_checks_receptive_field_rule_matches_autograd(layers):
    assert pool_checks.receptive_field(layers) == torch_receptive_field(layers)


def test_output_shape_is_what_torch_produces_and_mistakes_get_hints():
    oracle = tuple(nn.MaxPool2d(pool_checks.POOL_K)(torch.zeros(pool_checks.POOL_INPUT)).shape)
    assert check("pool-output-shape", oracle).passed
    assert check("pool-output-shape", torch.Size(oracle)).passed
    ceil = check("pool-output-shape", (32, 64, 8, 8))
    assert ceil.status == "fail" and "down" in ceil.message
    channels = check("pool-output-shape", (32, 32, 7, 7))
    assert channels.status == "fail" and "channel" in channels.message
    layout = check("pool-output-shape", (32, 7, 7, 64))
    assert layout.status == "fail" and "(N, C, H, W)" in layout.message
    assert check("pool-output-shape", (32, 64, 7)).status == "fail"
    assert check("pool-output-shape", 7).status == "fail"  # not a shape
    assert "7" not in ceil.message


def test_collapse_kernel_is_the_size_of_the_merged_convolution():
    # Oracle: three stacked 3x3 convolutions equal one whose impulse response is k x k.
    torch.manual_seed(0)
    impulse = torch.zeros(1, 1, 21, 21)
    impulse[0, 0, 10, 10] = 1
    out = impulse
    for _ in range(3):
        out = F.conv2d(out, torch.rand(1, 1, 3, 3) + 0.1, padding=1)
    support = torch.nonzero(out[0, 0].abs().sum(dim=1)).flatten()
    oracle = int(support.max() - support.min() + 1)
    assert check("pool-collapse-kernel", oracle).passed
    assert "k - 1" in check("pool-collapse-kernel", 27).message
    assert check("pool-collapse-kernel", 9).status == "fail"
    assert check("pool-collapse-kernel", 3).status == "fail"


def test_receptive_field_of_two_vgg_blocks_matches_autograd():
    oracle = torch_receptive_field(pool_checks.VGG_TWO_BLOCKS)
    assert check("pool-receptive-field", oracle).passed
    no_jump = check("pool-receptive-field", 1 + 2 + 2 + 1 + 2 + 2 + 1)
    assert no_jump.status == "fail" and "jump" in no_jump.message
    assert str(oracle) not in no_jump.message
    missing_pool = check(
        "pool-receptive-field", pool_checks.receptive_field(pool_checks.VGG_TWO_BLOCKS[:-1])
    )
    assert missing_pool.status == "fail" and "second pooling" in missing_pool.message
    assert check("pool-receptive-field", oracle + 3).status == "fail"


def _max_pool_relu(z, k):
    """Oracle: torch's max pooling, then ReLU (the order the exercise asks for)."""
    return torch.relu(F.max_pool2d(torch.as_tensor(z), k)).numpy()


def test_max_pool_relu_build_exercise_passes_the_torch_oracle_and_fails_mistakes():
    assert check("pool-relu-max-commute", _max_pool_relu).passed
    graded = evaluate(get_exercise("pool-relu-max-commute"), lambda: _max_pool_relu)
    assert graded["status"] == "pass" and graded["points"] == 2
    no_relu = check(
        "pool-relu-max-commute", lambda z, k: F.max_pool2d(torch.as_tensor(z), k).numpy()
    )
    assert no_relu.status == "fail" and "ReLU" in no_relu.message
    ceil = check(
        "pool-relu-max-commute",
        lambda z, k: torch.relu(F.max_pool2d(torch.as_tensor(z), k, ceil_mode=True)).numpy(),
    )
    assert ceil.status == "fail" and "dropped" in ceil.message
    assert check("pool-relu-max-commute", lambda z, k: None).status == "not attempted"
    assert check("pool-relu-max-commute", True).status == "fail"  # the old yes/no answer


def test_max_pool_relu_fitted_to_the_feedback_cases_fails_the_grader():
    rng = np.random.default_rng(4)
    seen = {}
    for shape, k in pool_checks.POOL_RELU_CASES:
        z = rng.normal(size=shape)
        seen[shape] = _max_pool_relu(z, k)
    lookup = lambda z, k: seen[z.shape]  # noqa: E731 - right on exactly the cases check() tries
    assert check("pool-relu-max-commute", lookup).passed
    graded = evaluate(get_exercise("pool-relu-max-commute"), lambda: lookup)
    assert graded["status"] == "fail" and graded["points"] == 0


def test_train_avg_wants_average_pooling_in_a_module():
    tiny_max = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    verdict = check("pool-train-avg", tiny_max)
    assert verdict.status == "fail" and "AvgPool2d" in verdict.message
    both = nn.Sequential(nn.AvgPool2d(2), nn.MaxPool2d(2))
    assert "max pooling" in check("pool-train-avg", both).message
    assert check("pool-train-avg", 0.9).status == "fail"


def test_receptive_field_function_solution_passes_and_mistakes_get_hints():
    def solution(layers):
        field, jump = 1, 1
        for kernel, stride in layers:
            field += (kernel - 1) * jump
            jump *= stride
        return field

    def no_jump(layers):
        return 1 + sum(kernel - 1 for kernel, _ in layers)

    def off_by_one(layers):
        return solution(layers) + 1

    assert check("pool-receptive-field-function", solution).passed
    jump_hint = check("pool-receptive-field-function", no_jump)
    assert jump_hint.status == "fail" and "stride" in jump_hint.message
    assert check("pool-receptive-field-function", off_by_one).status == "fail"
    crash = check("pool-receptive-field-function", lambda layers: layers[5])
    assert crash.status == "fail" and "IndexError" in crash.message
    assert check("pool-receptive-field-function", lambda layers: None).status == "not attempted"
    assert check("pool-receptive-field-function", lambda layers: "ten").status == "fail"
    assert check("pool-receptive-field-function", 10).status == "fail"  # not a function
