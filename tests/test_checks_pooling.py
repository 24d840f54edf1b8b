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


def grade(exercise_id, answer):
    return evaluate(get_exercise(exercise_id), lambda: answer)


def pool_output_shape(shape, kernel_size, stride):
    """The chapter's solution."""
    n, c, h, w = shape
    return (n, c, (h - kernel_size) // stride + 1, (w - kernel_size) // stride + 1)


def merged_kernel_size(kernel_sizes):
    """The chapter's solution."""
    return 1 + sum(k - 1 for k in kernel_sizes)


def vgg_receptive_field(convs_per_block):
    """The chapter's solution."""
    field, jump = 1, 1
    for convs in convs_per_block:
        field += (2 * convs + 1) * jump
        jump *= 2
    return field


def torch_pool_shape(shape, kernel_size, stride, layer=nn.MaxPool2d):
    """Oracle: the shape PyTorch's own pooling layer returns."""
    return tuple(layer(kernel_size, stride)(torch.zeros(shape)).shape)


def torch_merged_kernel_size(kernel_sizes):
    """Oracle: the support of the impulse response of stacked random convolutions."""
    torch.manual_seed(0)
    size = 2 * sum(kernel_sizes) + 1
    out = torch.zeros(1, 1, size, size)
    out[0, 0, size // 2, size // 2] = 1
    for k in kernel_sizes:  # padding k - 1 keeps every output the impulse reaches
        out = F.conv2d(out, torch.rand(1, 1, k, k) + 0.1, padding=k - 1)
    support = torch.nonzero(out[0, 0].abs().sum(dim=1)).flatten()
    return int(support.max() - support.min() + 1)


def torch_vgg_receptive_field(convs_per_block):
    """Oracle: the autograd probe on the blocks' (kernel, stride) layers."""
    layers = pool_checks.vgg_layers(convs_per_block)
    return torch_receptive_field(layers, size=4 * pool_checks.receptive_field(layers))


@pytest.mark.parametrize(
    ("shape", "kernel_size", "stride"),
    [
        ((32, 64, 15, 15), 2, 2),
        ((3, 5, 16, 9), 3, 2),
        ((1, 2, 12, 12), 4, 4),
        ((2, 1, 7, 30), 1, 3),
    ],
)
def test_output_shape_rule_matches_max_and_average_pooling(shape, kernel_size, stride):
    oracle = torch_pool_shape(shape, kernel_size, stride)
    assert oracle == torch_pool_shape(shape, kernel_size, stride, nn.AvgPool2d)
    assert pool_checks.pool_output_shape(shape, kernel_size, stride) == oracle
    assert pool_output_shape(shape, kernel_size, stride) == oracle


def test_output_shape_function_passes_feedback_and_grading():
    assert check("pool-output-shape", pool_output_shape).passed
    assert check("pool-output-shape", torch_pool_shape).passed
    graded = grade("pool-output-shape", torch_pool_shape)
    assert graded["status"] == "pass" and graded["points"] == 1


def test_output_shape_mistakes_get_hints():
    def ceil(shape, k, s):
        return torch_pool_shape(shape, k, s)[:2] + tuple(-(-(n - k) // s) + 1 for n in shape[2:])

    def channels_last(shape, k, s):
        n, c, h, w = torch_pool_shape(shape, k, s)
        return (n, h, w, c)

    rounded = check("pool-output-shape", ceil)
    assert rounded.status == "fail" and "down" in rounded.message
    layout = check("pool-output-shape", channels_last)
    assert layout.status == "fail" and "(N, C, H, W)" in layout.message
    halved = check("pool-output-shape", lambda shape, k, s: (32, 32, 7, 7))
    assert halved.status == "fail" and "channel" in halved.message
    assert check("pool-output-shape", lambda shape, k, s: (32, 64, 7)).status == "fail"
    assert "7" not in rounded.message + layout.message
    assert check("pool-output-shape", lambda shape, k, s: None).status == "not attempted"


def test_output_shape_as_a_literal_fails_feedback_and_grading():
    oracle = torch_pool_shape(pool_checks.POOL_INPUT, pool_checks.POOL_K, pool_checks.POOL_S)
    plain = check("pool-output-shape", oracle)
    assert plain.status == "fail" and "function" in plain.message
    assert grade("pool-output-shape", oracle)["points"] == 0
    constant = grade("pool-output-shape", lambda shape, k, s: oracle)
    assert constant["status"] == "fail" and constant["points"] == 0
    assert check("pool-output-shape", 7).status == "fail"  # not a shape


@pytest.mark.parametrize("kernels", [[3, 3, 3], [5], [2, 2], [1, 7, 4], [3, 2, 5, 6]])
def test_merged_kernel_size_matches_the_impulse_response(kernels):
    assert merged_kernel_size(kernels) == torch_merged_kernel_size(kernels)
    assert pool_checks.merged_kernel_size(kernels) == torch_merged_kernel_size(kernels)


def test_merged_kernel_size_passes_and_mistakes_get_hints():
    assert check("pool-collapse-kernel", torch_merged_kernel_size).passed
    graded = grade("pool-collapse-kernel", merged_kernel_size)
    assert graded["status"] == "pass" and graded["points"] == 1
    product = check("pool-collapse-kernel", lambda ks: int(np.prod(ks)))
    assert product.status == "fail" and "k - 1" in product.message
    assert "k - 1" in check("pool-collapse-kernel", sum).message
    assert check("pool-collapse-kernel", max).status == "fail"
    oracle = torch_merged_kernel_size(list(pool_checks.COLLAPSE_KERNELS))
    plain = check("pool-collapse-kernel", oracle)
    assert plain.status == "fail" and "function" in plain.message
    assert grade("pool-collapse-kernel", oracle)["points"] == 0
    assert grade("pool-collapse-kernel", lambda ks: oracle)["points"] == 0


@pytest.mark.parametrize("convs", [[2, 2], [2, 2, 2], [1], [3, 1, 4], [2, 2, 3, 3, 3]])
def test_vgg_receptive_field_matches_autograd(convs):
    assert vgg_receptive_field(convs) == torch_vgg_receptive_field(convs)
    assert pool_checks.vgg_receptive_field(convs) == torch_vgg_receptive_field(convs)


def test_vgg_receptive_field_passes_and_mistakes_get_hints():
    assert check("pool-receptive-field", torch_vgg_receptive_field).passed
    graded = grade("pool-receptive-field", vgg_receptive_field)
    assert graded["status"] == "pass" and graded["points"] == 1
    no_jump = check("pool-receptive-field", lambda convs: 1 + sum(2 * c + 1 for c in convs))
    assert no_jump.status == "fail" and "jump" in no_jump.message
    missing_pool = check("pool-receptive-field", lambda convs: vgg_receptive_field(convs) - 2)
    assert missing_pool.status == "fail" and "last pooling" in missing_pool.message
    oracle = torch_vgg_receptive_field(list(pool_checks.VGG_CONVS))
    assert str(oracle) not in no_jump.message + missing_pool.message
    assert check("pool-receptive-field", lambda convs: oracle + 3).status == "fail"
    plain = check("pool-receptive-field", oracle)
    assert plain.status == "fail" and "function" in plain.message
    assert grade("pool-receptive-field", oracle)["points"] == 0
    assert grade("pool-receptive-field", lambda convs: oracle)["points"] == 0


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
