"""The "Dropout" checks: solutions pass (against PyTorch oracles), typical mistakes fail
with a hint that does not give the answer away, None is not attempted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnncourse.exercises import check, get_exercise, registry
from cnncourse.exercises.checks import dropout as drop_checks
from cnncourse.exercises.registry import evaluate

IDS = (
    "drop-scale",
    "drop-spatial-count",
    "drop-inference-factor",
    "drop-variance",
    "drop-implement",
)


def dropout_solution(x, p, training, rng):
    if not training:
        return x
    keep = rng.random(x.shape) >= p
    return x * keep / (1 - p)


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_check_is_registered_for_the_chapter_and_none_is_not_attempted(exercise_id):
    assert registry.get_exercise(exercise_id).chapter == "dropout"
    assert check(exercise_id, None).status == "not attempted"


def test_scale_is_what_torch_outputs_for_a_survivor():
    torch.manual_seed(0)
    x = torch.full((1000,), drop_checks.SCALE_VALUE)
    out = F.dropout(x, drop_checks.SCALE_P, training=True)
    survivors = out[out != 0].unique()
    assert len(survivors) == 1
    oracle = survivors.item()
    assert check("drop-scale", lambda value, p: oracle).passed
    old_rule = check("drop-scale", drop_checks.SCALE_VALUE * (1 - drop_checks.SCALE_P))
    assert old_rule.status == "fail" and "inverted" in old_rule.message
    assert "KEEPING" in check("drop-scale", drop_checks.SCALE_VALUE / drop_checks.SCALE_P).message
    assert "rescaled" in check("drop-scale", drop_checks.SCALE_VALUE).message
    assert f"{oracle:g}" not in old_rule.message


def grade(exercise_id, answer):
    return evaluate(get_exercise(exercise_id), lambda: answer)


def drop_spatial_count(shape, p):
    """The chapter's solution."""
    n, c, h, w = shape
    return n * c * p


def simulated_dropped_maps(shape, p, repeats=50):
    """The oracle: the mean number of all-zero maps nn.Dropout2d leaves in a batch of ones."""
    torch.manual_seed(0)
    layer = nn.Dropout2d(p).train()
    x = torch.ones(shape)
    counts = []
    for _ in range(repeats):
        per_map = layer(x).flatten(2)  # (N, C, H*W)
        # a map is either all zero or all kept: Dropout2d works on whole channels
        assert torch.all((per_map == 0).all(-1) | (per_map != 0).all(-1))
        counts.append((per_map == 0).all(-1).sum().item())
    return float(np.mean(counts))


@pytest.mark.parametrize(
    ("shape", "p"), [(drop_checks.SPATIAL_SHAPE, drop_checks.SPATIAL_P), ((16, 40, 3, 7), 0.6)]
)
def test_spatial_count_matches_torch_dropout2d_on_average(shape, p):
    simulated = simulated_dropped_maps(shape, p)
    expected = drop_spatial_count(shape, p)
    # 50 batches of N * C maps: the mean lies within a few percent of the expectation
    assert abs(simulated - expected) <= 0.05 * expected, (simulated, expected)


def test_spatial_count_function_passes_and_mistakes_get_hints():
    assert check("drop-spatial-count", drop_spatial_count).passed
    graded = grade("drop-spatial-count", drop_spatial_count)
    assert graded["status"] == "pass" and graded["points"] == 1, graded
    per_image = check("drop-spatial-count", lambda s, p: s[1] * p)
    assert "each image" in per_image.message
    values = check("drop-spatial-count", lambda s, p: s[0] * s[1] * s[2] * s[3] * p)
    assert "whole" in values.message
    assert "kept" in check("drop-spatial-count", lambda s, p: s[0] * s[1] * (1 - p)).message
    assert "128" not in per_image.message + values.message
    assert check("drop-spatial-count", lambda s, p: 100).status == "fail"


def test_spatial_count_as_a_literal_fails_grading():
    oracle = drop_spatial_count(drop_checks.SPATIAL_SHAPE, drop_checks.SPATIAL_P)
    plain = check("drop-spatial-count", oracle)
    assert plain.status == "fail" and "function" in plain.message
    assert grade("drop-spatial-count", oracle)["points"] == 0
    constant = grade("drop-spatial-count", lambda s, p: oracle)
    assert constant["status"] == "fail" and constant["points"] == 0
    assert grade("drop-spatial-count", lambda s, p: None)["status"] == "not attempted"


def drop_inference_factor(p, inverted):
    """The chapter's solution."""
    return 1.0 if inverted else 1 - p


def torch_inference_factor(p, inverted):
    """The oracle: the factor that makes the eval-mode output the mean training-mode output.

    ``F.dropout`` is inverted dropout; the original dropout is the same mask without the
    division by ``1 - p``.
    """
    torch.manual_seed(0)
    x = torch.ones(200_000, dtype=torch.float64)
    trained = F.dropout(x, p, training=True)
    if not inverted:
        trained = trained * (1 - p)  # undo the rescaling: survivors keep their value
    evaluated = nn.Dropout(p).eval()(x)
    return round((trained.mean() / evaluated.mean()).item(), 2)


@pytest.mark.parametrize("p", [0.2, drop_checks.INFERENCE_P, 0.7])
@pytest.mark.parametrize("inverted", [True, False])
def test_inference_factor_solution_matches_torch(p, inverted):
    assert abs(drop_inference_factor(p, inverted) - torch_inference_factor(p, inverted)) <= 0.01


def test_inference_factor_function_passes_and_mistakes_get_hints():
    assert check("drop-inference-factor", drop_inference_factor).passed
    graded = grade("drop-inference-factor", drop_inference_factor)
    assert graded["status"] == "pass" and graded["points"] == 1, graded
    original = check("drop-inference-factor", lambda p, inverted: 1 - p)
    assert "original" in original.message and "inverted=True" in original.message
    never = check("drop-inference-factor", lambda p, inverted: 1.0)
    assert never.status == "fail" and "inverted=False" in never.message
    assert "already" in check("drop-inference-factor", lambda p, i: 1 / (1 - p)).message


def test_inference_factor_as_a_literal_or_one_kind_only_fails_grading():
    plain = check("drop-inference-factor", 1.0)
    assert plain.status == "fail" and "function" in plain.message
    assert grade("drop-inference-factor", 1.0)["points"] == 0
    for one_kind in (lambda p, inverted: 1.0, lambda p, inverted: 1 - p):
        assert grade("drop-inference-factor", one_kind)["points"] == 0
    fixed_rate = grade("drop-inference-factor", lambda p, inverted: 1.0 if inverted else 0.5)
    assert fixed_rate["points"] == 0


def test_variance_matches_simulation():
    torch.manual_seed(0)
    out = F.dropout(
        torch.ones(2_000_000, dtype=torch.float64), drop_checks.VARIANCE_P, training=True
    )
    simulated = out.var().item()
    exact = drop_checks.inverted_dropout_variance(drop_checks.VARIANCE_P)
    assert abs(simulated - exact) < 0.005
    assert check("drop-variance", lambda p: exact).passed
    mask_variance = drop_checks.VARIANCE_P * (1 - drop_checks.VARIANCE_P)
    assert "mask" in check("drop-variance", mask_variance).message
    assert check("drop-variance", simulated + 0.05).status == "fail"


def test_implement_solution_passes_and_matches_torch_statistics():
    x = np.full((300, 400), 2.0)
    ours = dropout_solution(x, 0.3, True, np.random.default_rng(1))
    theirs = F.dropout(torch.from_numpy(x), 0.3, training=True).numpy()
    assert set(np.unique(ours)) == set(np.unique(theirs)) == {0.0, 2.0 / 0.7}
    assert check("drop-implement", dropout_solution).passed


def test_implement_mistakes_and_stubs():
    def no_rescale(x, p, training, rng):
        return x * (rng.random(x.shape) >= p) if training else x

    def always_drops(x, p, training, rng):
        return x * (rng.random(x.shape) >= p) / (1 - p)

    def keeps_p(x, p, training, rng):
        return x * (rng.random(x.shape) < p) / (1 - p) if training else x

    def scales_at_eval(x, p, training, rng):
        return dropout_solution(x, p, True, rng) if training else x * (1 - p)

    def stub(x, p, training, rng):
        return None

    def raises(x, p, training, rng):
        raise NotImplementedError

    def crashes(x, p, training, rng):
        raise KeyError("oops")

    assert "rescaled" in check("drop-implement", no_rescale).message
    assert "unchanged" in check("drop-implement", always_drops).message
    assert "zero" in check("drop-implement", keeps_p).message
    assert "unchanged" in check("drop-implement", scales_at_eval).message
    assert check("drop-implement", stub).status == "not attempted"
    assert check("drop-implement", raises).status == "not attempted"
    assert "KeyError" in check("drop-implement", crashes).message
    assert "array" in check("drop-implement", lambda x, p, t, r: 1.0).message
    assert check("drop-implement", "my_dropout").status == "fail"


def test_implement_grading_draws_its_own_rate_and_values():
    ex = get_exercise("drop-implement")
    assert evaluate(ex, lambda: dropout_solution)["status"] == "pass"

    def fixed_rate(x, p, training, rng):  # right for the chapter's p = 0.3 only
        return x * (rng.random(x.shape) >= 0.3) / 0.7 if training else x

    assert check("drop-implement", fixed_rate).passed
    assert evaluate(ex, lambda: fixed_rate)["points"] == 0

    def constant_fill(x, p, training, rng):  # right for the check's all-2.0 input only
        return np.where(rng.random(x.shape) >= p, 2.0 / (1 - p), 0.0) if training else x

    assert check("drop-implement", constant_fill).passed
    assert evaluate(ex, lambda: constant_fill)["status"] == "fail"
