"""Checks of the chapter "Tuning, saving and deploying" (``book/tuning_deploying.md``).

Expected values are computed from the problem: grid sizes and costs by arithmetic, the
plateau and cosine rates from PyTorch's own schedulers.
The functions a student writes (the cosine rate, a log-uniform sampler, a submission
file) are graded on inputs drawn at grading time, so a hard-coded answer fails.
"""

from __future__ import annotations

import math
import random

from cnncourse.exercises.answers import (
    NotAttempted,
    as_callable,
    as_float,
    as_int,
    check_fresh_cases,
    compare_float,
    compare_int,
    drawn_cases,
    needs_function,
    value_of_case,
)
from cnncourse.exercises.registry import chapter_value, exercise, grading

CHAPTER = "tuning_deploying"

# The problems the exercises pose (the chapter states the same numbers).
GRID = {"lr": (1e-4, 3e-4, 1e-3, 3e-3), "batch_size": (32, 64, 128), "width": (16, 32)}
EPOCHS_PER_RUN, SECONDS_PER_EPOCH = 5, 40
PLATEAU_START, PLATEAU_FACTOR = 3e-3, 0.5  # fit(scheduler="plateau")
COSINE_CASES = ((0, 100, 1e-3), (25, 100, 1e-3), (50, 100, 1e-3), (80, 200, 3e-3), (99, 100, 1e-2))


def grid_runs(grid: dict | None = None) -> int:
    """The number of models a full grid search over ``grid`` (name -> values) trains."""
    return math.prod(len(values) for values in (GRID if grid is None else grid).values())


def grid_seconds(runs: int, epochs: int, seconds_per_epoch: float) -> float:
    return runs * epochs * seconds_per_epoch


@exercise("deploy-grid-runs", name="grid_runs", chapter=CHAPTER, points=1)
def _grid_runs(answer) -> str | None:
    got = as_int(value_of_case(answer, (GRID,), "grid_runs"), "a number of training runs")
    sizes = [len(values) for values in GRID.values()]
    hint = compare_int(
        got,
        grid_runs(),
        known_mistakes={
            sum(sizes): "a grid tries every combination: multiply the counts, don't add them.",
            sizes[0] * sizes[1]: "the two widths are a third axis of the grid.",
        },
    )
    return needs_function(answer, hint, "grid_runs(grid)")


@grading("deploy-grid-runs")
def _grid_runs_graded(answer) -> str | None:
    """Grids of other shapes, drawn at grading time."""

    def draw(rng: random.Random) -> tuple[dict[str, list[int]]]:
        names = rng.sample(
            ["lr", "batch_size", "width", "depth", "dropout", "decay"], rng.randint(1, 5)
        )
        return ({name: list(range(rng.randint(1, 7))) for name in names},)

    cases = drawn_cases(draw, grid_runs, 6)
    return check_fresh_cases(answer, cases, "grid_runs", rtol=0, atol=0)


HOURS_CASE = (grid_runs(), EPOCHS_PER_RUN, SECONDS_PER_EPOCH)


@exercise("deploy-grid-hours", name="grid_hours", chapter=CHAPTER, points=1)
def _grid_hours(answer) -> str | None:
    got = as_float(value_of_case(answer, HOURS_CASE, "grid_hours"), "a number of hours")
    seconds = grid_seconds(*HOURS_CASE)
    hint = compare_float(
        got,
        seconds / 3600,
        rtol=1e-3,
        known_mistakes=[
            (seconds / 60, "that is in minutes; the question asks for hours."),
            (seconds, "that is in seconds; the question asks for hours."),
            (grid_runs() * SECONDS_PER_EPOCH / 3600, "every run trains for several epochs."),
        ],
    )
    return needs_function(answer, hint, "grid_hours(runs, epochs, seconds_per_epoch)")


@grading("deploy-grid-hours")
def _grid_hours_graded(answer) -> str | None:
    """Run counts, epochs and epoch times drawn at grading time."""

    def draw(rng: random.Random) -> tuple[int, int, float]:
        return rng.randint(1, 500), rng.randint(1, 100), round(rng.uniform(1.0, 600.0), 1)

    cases = drawn_cases(draw, lambda *args: grid_seconds(*args) / 3600, 6)
    return check_fresh_cases(answer, cases, "grid_hours", rtol=1e-6, atol=1e-9)


def plateau_oracle(val_losses, lr: float, factor: float, patience: int) -> float:
    """The rate of ``torch.optim.lr_scheduler.ReduceLROnPlateau`` after it has been
    stepped on each validation loss of ``val_losses`` in turn."""
    import torch

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=factor, patience=patience
    )
    for loss in val_losses:
        scheduler.step(loss)
    return optimizer.param_groups[0]["lr"]


def _plateau_variant(val_losses, lr, factor, patience, *, at=1, reset=True, streak=True):
    """The rate a typical misreading of the rule gives: a reduction once ``patience + at``
    bad epochs are counted (``at=0``: "at patience"), the count kept after a reduction
    (``reset=False``) or never cleared by an improvement (``streak=False``)."""
    best, bad = math.inf, 0
    for loss in val_losses:
        if loss < best:
            best = loss
            bad = 0 if streak else bad
        else:
            bad += 1
        if bad >= patience + at:
            lr *= factor
            bad = 0 if reset else bad
    return lr


# The chapter's case: fit(..., lr=3e-3, scheduler="plateau") uses factor 0.5, patience 1.
PLATEAU_LOSSES = (0.9, 0.8, 0.8, 0.8, 0.8, 0.7, 0.75, 0.6, 0.62, 0.61, 0.6)
PLATEAU_CASE = (PLATEAU_LOSSES, PLATEAU_START, PLATEAU_FACTOR, 1)


def _plateau_hint(got: float, case: tuple) -> str | None:
    losses, lr, factor, patience = case
    return compare_float(
        got,
        plateau_oracle(*case),
        known_mistakes=[
            (
                _plateau_variant(*case, at=0),
                "the rate drops once the bad epochs in a row are MORE than patience.",
            ),
            (
                _plateau_variant(*case, reset=False),
                "after a reduction the count of bad epochs starts again from 0.",
            ),
            (
                _plateau_variant(*case, streak=False),
                "an epoch that beats the best loss clears the count of bad epochs.",
            ),
            (lr * factor, "the rate is multiplied by factor at every plateau, not once."),
            (lr, "the rate never changed: compare each loss with the best one so far."),
        ],
    )


@exercise("deploy-plateau-lr", name="plateau_lr", chapter=CHAPTER, points=1)
def _plateau_lr(answer) -> str | None:
    got = as_float(value_of_case(answer, PLATEAU_CASE, "plateau_lr"), "a learning rate")
    hint = _plateau_hint(got, PLATEAU_CASE)
    if hint is not None or not callable(answer):
        return needs_function(answer, hint, "plateau_lr(val_losses, lr, factor, patience)")
    case = ((1.0, 0.9, 0.95, 0.92, 0.9, 0.91, 0.85, 0.86, 0.87, 0.88, 0.89, 0.84), 0.01, 0.1, 2)
    got = as_float(value_of_case(answer, case, "plateau_lr"), "a learning rate")
    hint = _plateau_hint(got, case)
    return None if hint is None else f"plateau_lr{case}: {hint}"


def _draw_plateau(rng: random.Random) -> tuple:
    """Losses on a 0.01 grid (ties included: a tie is no improvement), a rate, a factor and
    a patience. Steps of 0.01 on losses above 0.1 lie far beyond PyTorch's relative
    threshold of 1e-4, and at most 7 reductions by 0.2 or more from 1e-3 or more keep each
    reduction far above its eps of 1e-8."""
    loss, losses = rng.uniform(0.5, 1.5), []
    for _ in range(rng.randint(6, 15)):
        losses.append(round(loss, 2))
        loss = max(0.1, loss + rng.choice((-0.1, -0.03, -0.01, 0.0, 0.0, 0.01, 0.04)))
    lr = round(10 ** rng.uniform(-3, -1), 6)
    return tuple(losses), lr, rng.choice((0.2, 0.25, 0.5, 0.7)), rng.randint(1, 3)


@grading("deploy-plateau-lr")
def _plateau_lr_graded(answer) -> str | None:
    """Loss sequences, rates, factors and patiences drawn at grading time."""
    cases = drawn_cases(_draw_plateau, plateau_oracle, 6)
    return check_fresh_cases(answer, cases, "plateau_lr", rtol=1e-6, atol=1e-12)


def cosine_oracle(step: int, total_steps: int, max_lr: float) -> float:
    """The rate of ``torch.optim.lr_scheduler.CosineAnnealingLR`` at ``step`` (eta_min 0)."""
    import torch

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    for _ in range(step):
        optimizer.step()
        scheduler.step()
    return optimizer.param_groups[0]["lr"]


@exercise("deploy-cosine-lr", name="cosine_lr", chapter=CHAPTER, points=2)
def _cosine_lr(answer) -> str | None:
    func = as_callable(answer, "a function cosine_lr(step, total_steps, max_lr)")
    results = []
    for case in COSINE_CASES:
        try:
            value = func(*case)
        except NotImplementedError as err:
            raise NotAttempted("the function still raises NotImplementedError.") from err
        except Exception as err:  # a student's bug: name the inputs, not the answer
            return f"cosine_lr{case} raised {type(err).__name__}: {err}"
        results.append(value)
    if all(value is None for value in results):
        raise NotAttempted("the function returns None: write its body and return the rate.")
    for case, value in zip(COSINE_CASES, results, strict=True):
        got = as_float(value, f"the rate cosine_lr{case} returns")
        step, total, max_lr = case
        progress = step / total
        hint = compare_float(
            got,
            cosine_oracle(*case),
            rtol=1e-6,
            atol=1e-12,
            known_mistakes=[
                (max_lr * (1 - progress), "that decays linearly; the schedule follows a cosine."),
                (
                    max_lr * math.cos(math.pi * progress),
                    "cos(pi t / T) runs from 1 to -1: shift and scale it to run from 1 to 0.",
                ),
                (
                    max_lr * (1 + math.cos(progress)) / 2,
                    "the cosine's argument runs from 0 to pi over the schedule.",
                ),
            ],
        )
        if hint is not None:
            return f"cosine_lr{case}: {hint}"
    return None


@grading("deploy-cosine-lr")
def _cosine_lr_graded(answer) -> str | None:
    """Steps, lengths and peak rates drawn at grading time."""
    import numpy as np

    func = as_callable(answer, "a function cosine_lr(step, total_steps, max_lr)")
    rng = np.random.default_rng()
    for _ in range(8):
        total = int(rng.integers(10, 5000))
        step, max_lr = int(rng.integers(0, total + 1)), float(10 ** rng.uniform(-5, -1))
        got = as_float(func(step, total, max_lr), "a learning rate")
        if not math.isclose(got, cosine_oracle(step, total, max_lr), rel_tol=1e-6, abs_tol=1e-12):
            return f"wrong for step {step} of {total} at max_lr {max_lr:.3g}"
    return None


# --- sample_log_uniform(low, high, n, rng) --------------------------------------------------

LOG_UNIFORM_CASES = ((1e-4, 1e-1, 4000, 0), (1e-5, 1e-2, 4000, 1), (0.5, 50.0, 4000, 2))


def _draw(func, low: float, high: float, n: int, seed: int):
    """Call the student's sampler; return a float array of n values, or a hint string."""
    import numpy as np

    case = f"sample_log_uniform({low:g}, {high:g}, {n}, rng)"
    try:
        values = func(low, high, n, np.random.default_rng(seed))
    except NotImplementedError as err:
        raise NotAttempted("the function still raises NotImplementedError.") from err
    except Exception as err:  # a student's bug: name the inputs, not the answer
        return f"{case} raised {type(err).__name__}: {err}"
    if values is None or values is Ellipsis:
        raise NotAttempted("the function returns None: return the n values you drew.")
    try:
        values = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return f"{case} should return n numbers (a NumPy array)."
    if len(values) != n:
        return f"{case} returned {len(values)} values; it should return n = {n}."
    return values


def log_uniform_problem(values, low: float, high: float) -> str | None:
    """A hint when ``values`` are not a log-uniform sample of [low, high], else None."""
    import numpy as np

    if (
        not np.isfinite(values).all()
        or values.min() < low * (1 - 1e-9)
        or values.max() > high * (1 + 1e-9)
    ):
        return "some values fall outside [low, high]: draw the exponent between log10(low) and log10(high)."
    # log-uniform: log10 of the values is uniform, so half of them lie below the
    # geometric mean sqrt(low * high) and each decade holds the same share
    position = (np.log10(values) - math.log10(low)) / (math.log10(high) - math.log10(low))
    below_middle = float(np.mean(values < math.sqrt(low * high)))
    if below_middle < 0.4:
        return (
            "too few small values: the values look uniform on a linear scale. "
            "Draw the exponent uniformly, then raise 10 to it."
        )
    spread = np.histogram(position, bins=4, range=(0, 1))[0] / len(values)
    if np.abs(spread - 0.25).max() > 0.05:
        return "each quarter of the log range should hold about a quarter of the values."
    return None


@exercise("deploy-log-uniform", name="sample_log_uniform", chapter=CHAPTER, points=2)
def _log_uniform(answer) -> str | None:
    func = as_callable(answer, "a function sample_log_uniform(low, high, n, rng)")
    for low, high, n, seed in LOG_UNIFORM_CASES:
        values = _draw(func, low, high, n, seed)
        if isinstance(values, str):
            return values
        hint = log_uniform_problem(values, low, high)
        if hint is not None:
            return f"sample_log_uniform({low:g}, {high:g}, {n}, rng): {hint}"
    again = _draw(func, *LOG_UNIFORM_CASES[0])
    if isinstance(again, str) or not (again == _draw(func, *LOG_UNIFORM_CASES[0])).all():
        return "two generators with the same seed gave different values: draw from `rng`."
    return None


@grading("deploy-log-uniform")
def _log_uniform_graded(answer) -> str | None:
    """Ranges, sizes and seeds drawn at grading time."""
    import numpy as np

    func = as_callable(answer, "a function sample_log_uniform(low, high, n, rng)")
    rng = np.random.default_rng()
    for _ in range(4):
        low_exp = float(rng.uniform(-6, 1))
        low, high = 10**low_exp, 10 ** (low_exp + float(rng.uniform(1.5, 4)))
        n, seed = int(rng.integers(3000, 6000)), int(rng.integers(2**31))
        values = _draw(func, low, high, n, seed)
        if isinstance(values, str) or log_uniform_problem(values, low, high) is not None:
            return f"wrong for low={low:.3g}, high={high:.3g}, n={n}"
        if not np.array_equal(values, _draw(func, low, high, n, seed)):
            return "not repeatable with the same rng seed"
    return None


# --- write_submission(logits, path) --------------------------------------------------------

SUBMISSION_CASES = ((12, 10, 0), (7, 3, 1), (30, 5, 2))  # (N images, K classes, seed)


def submission_problem(func, n: int, k: int, seed: int) -> str | None:
    """Run ``func`` on random logits into a temporary folder; a hint, or None when right."""
    import tempfile
    from pathlib import Path

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, size=(n, k)).astype(np.float32)
    case = f"logits of shape {logits.shape}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "submission.csv"
        try:
            func(logits, path)
        except NotImplementedError as err:
            raise NotAttempted("the function still raises NotImplementedError.") from err
        except Exception as err:  # a student's bug: name the inputs, not the answer
            return f"on {case} your function raised {type(err).__name__}: {err}"
        if not path.exists():
            raise NotAttempted("no file was written: write the CSV to `path`.")
        try:
            table = pd.read_csv(path)
        except Exception as err:
            return f"pandas cannot read the file back ({type(err).__name__}: {err})."
    columns = list(table.columns)
    if columns != ["id", "label"]:
        extra = (
            " (an unnamed first column: pass index=False to to_csv)"
            if (columns and columns[0].startswith("Unnamed"))
            else ""
        )
        return f"on {case} the columns are {columns}; a submission has id,label{extra}."
    if len(table) != n:
        return f"on {case} the file has {len(table)} rows; it needs one per image ({n})."
    if table["id"].tolist() != list(range(n)):
        return f"on {case} the ids should be the images' positions 0, 1, ..., {n - 1}."
    if not np.array_equal(table["label"].to_numpy(), logits.argmax(axis=1)):
        return f"on {case} some labels are wrong: a label is the arg-max of a row of logits."
    return None


@exercise("deploy-submission", name="write_submission", chapter=CHAPTER, points=2)
def _submission(answer) -> str | None:
    func = as_callable(answer, "a function write_submission(logits, path)")
    for case in SUBMISSION_CASES:
        hint = submission_problem(func, *case)
        if hint is not None:
            return hint
    return None


@grading("deploy-submission")
def _submission_graded(answer) -> str | None:
    """Sizes, class counts and logits drawn at grading time."""
    import numpy as np

    func = as_callable(answer, "a function write_submission(logits, path)")
    rng = np.random.default_rng()
    for _ in range(4):
        n, k = int(rng.integers(1, 200)), int(rng.integers(2, 20))
        if submission_problem(func, n, k, int(rng.integers(2**31))) is not None:
            return f"wrong for {n} images and {k} classes"
    return None


# deploy-flip-experiment (experiment): the chapter's kept model with flip-averaged
# predictions, measured on the chapter's validation set.
def flip_accuracies(model, images) -> dict[str, float]:
    """Validation accuracy of ``model`` as it is, flip-averaged, and on mirrored images only."""
    import copy

    from torch import nn

    from cnncourse import models, train

    class Mirrored(nn.Module):  # the model shown only the mirror image
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x.flip(-1))

    plain = copy.deepcopy(model).cpu()
    variants = {
        "plain": plain,
        "averaged": models.FlipAveraged(plain),
        "mirrored": Mirrored(plain),
    }
    return {
        name: float(train.evaluate(variant, images, device="cpu")["accuracy"])
        for name, variant in variants.items()
    }


def flip_tolerance(measured: dict[str, float], n_images: int) -> float:
    """Room for rounding or one image's verdict, but never enough to reach a mistake.

    Where the flip changes a single prediction, the model without it scores one image
    away from the right answer; the tolerance stays below half that gap.
    """
    room = max(5e-4, 1.5 / n_images)  # rounding to 3 decimals, or one image's verdict
    gaps = [
        abs(measured[name] - measured["averaged"])
        for name in ("plain", "mirrored")
        if measured[name] != measured["averaged"]
    ]
    return min([room, *(gap / 2 for gap in gaps)])


@exercise(
    "deploy-flip-experiment",
    name="flip_val_accuracy",
    chapter=CHAPTER,
    points=2,
    uses=("model", "val_part"),
)
def _flip_experiment(answer) -> str | None:
    got = as_float(answer, "an accuracy between 0 and 1")
    images = chapter_value("val_part")
    measured = flip_accuracies(chapter_value("model"), images)
    return compare_float(
        got,
        measured["averaged"],
        rtol=0.0,
        atol=flip_tolerance(measured, len(images)),
        known_mistakes=[
            (
                measured["plain"],
                "that is the model without the flip; wrap it in models.FlipAveraged.",
            ),
            (
                measured["mirrored"],
                "that scores the mirror images alone; FlipAveraged averages the answers "
                "for each photo and its mirror image.",
            ),
        ],
    )


# deploy-read-search (read): the chapter's coarse and fine learning-rate searches.
@exercise(
    "deploy-read-search",
    name="fine_round_gain",
    chapter=CHAPTER,
    points=1,
    uses=("coarse", "fine"),
)
def _read_search(answer) -> str | None:
    got = as_float(answer, "a difference of accuracies")
    coarse, fine = chapter_value("coarse")["val_accuracy"], chapter_value("fine")["val_accuracy"]
    gain = float(fine.max() - coarse.max())
    return compare_float(
        got,
        gain,
        rtol=0.0,
        atol=1e-4 + 1e-9,  # the tables show four decimals
        known_mistakes=[
            (-gain, "the sign is flipped: the fine round's best minus the coarse round's."),
            (
                float(fine.median() - coarse.median()),
                "that compares the medians; compare the best trial of each round.",
            ),
            (
                float(fine.iloc[-1] - coarse.iloc[-1]),
                "the tables are sorted best first: the best trial is the top row.",
            ),
            (
                float(coarse.max() - coarse.min()),
                "that is the coarse round's spread; compare its best trial with the fine "
                "round's best.",
            ),
        ],
    )
