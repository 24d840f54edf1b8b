"""The checks of "Tuning, saving and deploying": solutions pass, mistakes get hints."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from sklearn.model_selection import ParameterGrid

from cnncourse.exercises import check, registry
from cnncourse.exercises.checks import tuning_deploying as chapter


def cosine_lr(step, total_steps, max_lr):
    return max_lr * (1 + math.cos(math.pi * step / total_steps)) / 2


def grid_runs(grid):
    return math.prod(len(values) for values in grid.values())


def grid_hours(runs, epochs, seconds_per_epoch):
    return runs * epochs * seconds_per_epoch / 3600


def plateau_lr(val_losses, lr, factor, patience):
    best, bad = float("inf"), 0
    for loss in val_losses:
        if loss < best:
            best, bad = loss, 0
        else:
            bad += 1
        if bad > patience:
            lr, bad = lr * factor, 0
    return lr


def test_every_exercise_is_registered_for_this_chapter():
    registry.load_checks()
    ids = {e.id for e in registry.all_exercises() if e.chapter == "tuning_deploying"}
    assert ids == {
        "deploy-grid-runs",
        "deploy-grid-hours",
        "deploy-plateau-lr",
        "deploy-cosine-lr",
        "deploy-log-uniform",
        "deploy-submission",
        "deploy-flip-experiment",
        "deploy-read-search",
    }


@pytest.mark.parametrize(
    ("exercise_id", "solution"),
    [
        ("deploy-grid-runs", grid_runs),
        ("deploy-grid-hours", grid_hours),
        ("deploy-plateau-lr", plateau_lr),
        ("deploy-cosine-lr", cosine_lr),
    ],
)
def test_solutions_pass_and_none_is_not_attempted(exercise_id, solution):
    assert check(exercise_id, solution).passed
    assert check(exercise_id, None).status == "not attempted"


def test_grid_runs_matches_sklearn_and_hints_at_adding():
    assert grid_runs(chapter.GRID) == len(ParameterGrid(chapter.GRID))
    added = check("deploy-grid-runs", lambda grid: sum(len(v) for v in grid.values()))
    assert added.status == "fail" and "multiply" in added.message
    assert "24" not in added.message
    assert "width" in check("deploy-grid-runs", 12).message
    assert check("deploy-grid-runs", 25).status == "fail"
    assert "int" in check("deploy-grid-runs", "24").message


def test_grid_hours_hints_at_units_and_epochs():
    assert "minutes" in check("deploy-grid-hours", lambda r, e, s: r * e * s / 60).message
    assert "seconds" in check("deploy-grid-hours", 4800).message
    assert "epochs" in check("deploy-grid-hours", lambda r, e, s: r * s / 3600).message
    assert check("deploy-grid-hours", 1.5).status == "fail"


@pytest.mark.parametrize(
    ("exercise_id", "solution", "literal"),
    [
        ("deploy-grid-runs", grid_runs, 24),
        ("deploy-grid-hours", grid_hours, 24 * 5 * 40 / 3600),
    ],
)
def test_grid_grading_needs_the_function(exercise_id, solution, literal):
    ex = registry.get_exercise(exercise_id)
    # a right number passes no check: the feedback asks for the function
    feedback = check(exercise_id, literal)
    assert feedback.status == "fail" and "function" in feedback.message
    assert registry.evaluate(ex, lambda: solution)["status"] == "pass"
    assert registry.evaluate(ex, lambda: literal)["points"] == 0

    def constant(*args):  # right for the chapter's case only
        return literal

    assert check(exercise_id, constant).passed
    assert registry.evaluate(ex, lambda: constant)["status"] == "fail"


def test_plateau_lr_grading_needs_the_function():
    ex = registry.get_exercise("deploy-plateau-lr")
    assert ex.name == "plateau_lr"
    literal = 3e-3 * 0.5**2  # right for the chapter's case
    feedback = check("deploy-plateau-lr", literal)
    assert feedback.status == "fail" and "grade needs the function" in feedback.message
    assert registry.evaluate(ex, lambda: plateau_lr)["status"] == "pass"
    assert registry.evaluate(ex, lambda: literal)["points"] == 0

    def constant(*args):
        return literal

    assert check("deploy-plateau-lr", constant).status == "fail"  # feedback tries another run
    assert registry.evaluate(ex, lambda: constant)["points"] == 0


def test_plateau_lr_solution_and_oracle_match_torch_reduce_on_plateau():
    # the oracle steps a real ReduceLROnPlateau; the drawn cases keep clear of its
    # threshold and eps, so the rule the chapter states gives the same rate
    rng = random.Random(0)
    cases = [chapter.PLATEAU_CASE] + [chapter._draw_plateau(rng) for _ in range(300)]
    for case in cases:
        assert plateau_lr(*case) == pytest.approx(chapter.plateau_oracle(*case), rel=1e-9)
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=3e-3)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1)
    for loss in chapter.PLATEAU_LOSSES:
        scheduler.step(loss)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(3e-3 * 0.5**2)


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        (lambda losses, lr, f, p: plateau_lr(losses, lr, f, p - 1), "MORE than patience"),
        (lambda losses, lr, f, p: lr * f, "not once"),
        (lambda losses, lr, f, p: lr, "never changed"),
        (lambda losses, lr, f, p: plateau_lr(losses, lr, 0.5, 1), "plateau_lr("),
    ],
)
def test_plateau_lr_mistakes_get_hints(wrong, words):
    result = check("deploy-plateau-lr", wrong)
    assert result.status == "fail" and words in result.message, result.message


def test_plateau_lr_count_kept_or_never_cleared_gets_hints():
    def no_reset(val_losses, lr, factor, patience):
        best, bad = float("inf"), 0
        for loss in val_losses:
            best, bad = (loss, 0) if loss < best else (best, bad + 1)
            lr = lr * factor if bad > patience else lr
        return lr

    def never_cleared(val_losses, lr, factor, patience):
        best, bad = float("inf"), 0
        for loss in val_losses:
            best, bad = (loss, bad) if loss < best else (best, bad + 1)
            if bad > patience:
                lr, bad = lr * factor, 0
        return lr

    assert "starts again from 0" in check("deploy-plateau-lr", no_reset).message
    assert "clears the count" in check("deploy-plateau-lr", never_cleared).message
    ex = registry.get_exercise("deploy-plateau-lr")
    assert registry.evaluate(ex, lambda: no_reset)["points"] == 0


def test_cosine_lr_oracle_is_torch_and_typical_mistakes_get_hints():
    for case in chapter.COSINE_CASES:
        assert chapter.cosine_oracle(*case) == pytest.approx(cosine_lr(*case), rel=1e-9, abs=1e-15)
    linear = check("deploy-cosine-lr", lambda s, t, lr: lr * (1 - s / t))
    assert linear.status == "fail" and "linearly" in linear.message
    no_shift = check("deploy-cosine-lr", lambda s, t, lr: lr * math.cos(math.pi * s / t))
    assert "shift and scale" in no_shift.message
    no_pi = check("deploy-cosine-lr", lambda s, t, lr: lr * (1 + math.cos(s / t)) / 2)
    assert "0 to pi" in no_pi.message
    crashing = check("deploy-cosine-lr", lambda s, t, lr: lr / 0)
    assert crashing.status == "fail" and "ZeroDivisionError" in crashing.message
    assert check("deploy-cosine-lr", lambda s, t, lr: None).status == "not attempted"
    assert check("deploy-cosine-lr", 0.5).status == "fail"  # not a function
    # NumPy and torch return values are read as numbers
    assert check("deploy-cosine-lr", lambda s, t, lr: np.float64(cosine_lr(s, t, lr))).passed
    as_tensor = lambda s, t, lr: torch.tensor(cosine_lr(s, t, lr), dtype=torch.float64)  # noqa: E731
    assert check("deploy-cosine-lr", as_tensor).passed


def half_image_templates(side: str, seed: int):
    """A chapter state: a linear classifier that looks at one half of each image (so a
    mirror image changes its answers) and a validation subset of the test images."""
    from torch import nn

    from cnncourse import data

    test = data.load("fashion_mnist", "test")
    fit_part, val_part = test.subset(3000, seed=seed).split(0.2, seed=seed)
    images, labels = data.to_tensors(fit_part, "cpu")
    x = images.float().flatten(1) / 255  # (N, 784)
    means = torch.stack([x[labels == k].mean(0) for k in range(10)])  # (10, 784)
    mask = torch.zeros(28, 28)
    mask[:, :14] = 1.0
    mask = (mask if side == "left" else mask.flip(-1)).flatten()
    weights = means * mask
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with torch.no_grad():  # nearest class mean on the visible half
        model[1].weight.copy_(weights)
        model[1].bias.copy_(-0.5 * (weights**2).sum(1))
    return {"model": model.eval(), "val_part": val_part}


def test_flip_experiment_recomputes_the_notebooks_model_and_mistakes_get_hints():
    from cnncourse import data
    from cnncourse.exercises.registry import chapter_variables, evaluate

    state = half_image_templates("left", 0)
    model, val_part = state["model"], state["val_part"]
    images, labels = data.to_tensors(val_part, "cpu")
    x = images.float() / 255
    with torch.no_grad():  # oracle: average the two softmax vectors by hand
        plain_probs, mirror_probs = model(x).softmax(1), model(x.flip(-1)).softmax(1)
    oracle = ((plain_probs + mirror_probs).argmax(1) == labels).float().mean().item()
    plain = (plain_probs.argmax(1) == labels).float().mean().item()
    mirrored = (mirror_probs.argmax(1) == labels).float().mean().item()
    step = 2 / len(val_part)  # the three settings are told apart by more than the tolerance
    assert min(abs(oracle - plain), abs(oracle - mirrored), abs(plain - mirrored)) > step
    ex = registry.get_exercise("deploy-flip-experiment")
    with chapter_variables(state):
        assert check("deploy-flip-experiment", oracle).passed
        assert check("deploy-flip-experiment", round(oracle, 3)).passed  # as printed
        assert "FlipAveraged" in check("deploy-flip-experiment", plain).message
        assert "mirror images alone" in check("deploy-flip-experiment", mirrored).message
        assert check("deploy-flip-experiment", None).status == "not attempted"
    assert evaluate(ex, lambda: oracle, lambda: state)["points"] == 2
    assert evaluate(ex, lambda: plain, lambda: state)["points"] == 0
    # the number of another run of the chapter (another model) scores zero on this one
    other = half_image_templates("right", 1)
    with chapter_variables(other):
        assert not check("deploy-flip-experiment", oracle).passed
    assert evaluate(ex, lambda: oracle, lambda: other)["points"] == 0


def test_flip_tolerance_never_lets_the_unflipped_model_pass_when_one_image_differs():
    n = 600  # the flip changes a single verdict: plain is one image away
    measured = {"averaged": 0.9, "plain": 0.9 - 1 / n, "mirrored": 0.8}
    tolerance = chapter.flip_tolerance(measured, n)
    assert tolerance < abs(measured["plain"] - measured["averaged"])
    assert tolerance > 0
    far = {"averaged": 0.9, "plain": 0.8, "mirrored": 0.7}  # rounding room stays
    assert chapter.flip_tolerance(far, n) == 1.5 / n
    same = {"averaged": 0.9, "plain": 0.9, "mirrored": 0.8}  # no change: plain is right
    assert chapter.flip_tolerance(same, n) == 1.5 / n
