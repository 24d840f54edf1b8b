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
    assert check("drop-scale", oracle).passed
    old_rule = check("drop-scale", drop_checks.SCALE_VALUE * (1 - drop_checks.SCALE_P))
    assert old_rule.status == "fail" and "inverted" in old_rule.message
    assert "KEEPING" in check("drop-scale", drop_checks.SCALE_VALUE / drop_checks.SCALE_P).message
    assert "rescaled" in check("drop-scale", drop_checks.SCALE_VALUE).message
    assert f"{oracle:g}" not in old_rule.message


def test_spatial_count_matches_torch_dropout2d_on_average():
    torch.manual_seed(0)
    layer = nn.Dropout2d(drop_checks.SPATIAL_P).train()
    x = torch.ones(drop_checks.SPATIAL_SHAPE)
    counts = []
    for _ in range(50):
        out = layer(x)
        per_map = out.flatten(2)  # (N, C, H*W)
        # a map is either all zero or all kept: Dropout2d works on whole channels
        assert torch.all((per_map == 0).all(-1) | (per_map != 0).all(-1))
        counts.append((per_map == 0).all(-1).sum().item())
    simulated = float(np.mean(counts))
    assert abs(simulated - 128) <= 4, simulated  # the checker's answer is the simulated mean
    assert check("drop-spatial-count", 128).passed
    assert "each image" in check("drop-spatial-count", 16).message
    assert "whole feature maps" in check("drop-spatial-count", 8 * 64 * 14 * 14 // 4).message
    assert "kept" in check("drop-spatial-count", 384).message
    assert check("drop-spatial-count", 100).status == "fail"


def test_inference_factor_is_the_identity_of_torch_eval_mode():
    layer = nn.Dropout(0.5).eval()
    x = torch.randn(100)
    factor = (layer(x) / x).unique()
    assert check("drop-inference-factor", factor.item()).passed
    assert "original" in check("drop-inference-factor", 0.5).message
    assert check("drop-inference-factor", 2.0).status == "fail"


def test_variance_matches_simulation():
    torch.manual_seed(0)
    out = F.dropout(
        torch.ones(2_000_000, dtype=torch.float64), drop_checks.VARIANCE_P, training=True
    )
    simulated = out.var().item()
    exact = drop_checks.inverted_dropout_variance(drop_checks.VARIANCE_P)
    assert abs(simulated - exact) < 0.005
    assert check("drop-variance", exact).passed
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
