"""Checks of the chapter "Tuning, saving and deploying" (``book/tuning_deploying.md``).

Expected values are computed from the problem: grid sizes and costs by arithmetic, the
plateau rate from ``fit``'s factor, the cosine schedule from PyTorch's own scheduler.
"""

from __future__ import annotations

import math

from cnncourse.exercises.answers import (
    NotAttempted,
    as_callable,
    as_float,
    as_int,
    compare_float,
    compare_int,
)
from cnncourse.exercises.registry import exercise

CHAPTER = "tuning_deploying"

# The problems the exercises pose (the chapter states the same numbers).
GRID = {"lr": (1e-4, 3e-4, 1e-3, 3e-3), "batch_size": (32, 64, 128), "width": (16, 32)}
EPOCHS_PER_RUN, SECONDS_PER_EPOCH = 5, 40
PLATEAU_START, PLATEAU_FACTOR, PLATEAU_STALLS = 3e-3, 0.5, 3  # fit(scheduler="plateau")
COSINE_CASES = ((0, 100, 1e-3), (25, 100, 1e-3), (50, 100, 1e-3), (80, 200, 3e-3), (99, 100, 1e-2))


def grid_runs() -> int:
    return math.prod(len(values) for values in GRID.values())


@exercise("deploy-grid-runs", chapter=CHAPTER, points=1)
def _grid_runs(answer) -> str | None:
    got = as_int(answer, "a number of training runs")
    sizes = [len(values) for values in GRID.values()]
    return compare_int(
        got,
        grid_runs(),
        known_mistakes={
            sum(sizes): "a grid tries every combination: multiply the counts, don't add them.",
            sizes[0] * sizes[1]: "the two widths are a third axis of the grid.",
        },
    )


@exercise("deploy-grid-hours", chapter=CHAPTER, points=1)
def _grid_hours(answer) -> str | None:
    got = as_float(answer, "a number of hours")
    seconds = grid_runs() * EPOCHS_PER_RUN * SECONDS_PER_EPOCH
    return compare_float(
        got,
        seconds / 3600,
        rtol=1e-3,
        known_mistakes=[
            (seconds / 60, "that is in minutes; the question asks for hours."),
            (seconds, "that is in seconds; the question asks for hours."),
            (grid_runs() * SECONDS_PER_EPOCH / 3600, "every run trains for several epochs."),
        ],
    )


@exercise("deploy-plateau-lr", chapter=CHAPTER, points=1)
def _plateau_lr(answer) -> str | None:
    got = as_float(answer, "a learning rate")
    return compare_float(
        got,
        PLATEAU_START * PLATEAU_FACTOR**PLATEAU_STALLS,
        known_mistakes=[
            (PLATEAU_START * PLATEAU_FACTOR, "the rate is halved at every stall, not once."),
            (
                PLATEAU_START * (1 - PLATEAU_FACTOR * PLATEAU_STALLS),
                "each reduction multiplies the current rate; it does not subtract.",
            ),
            (
                PLATEAU_START / (2 * PLATEAU_STALLS),
                "halving three times is not dividing by six.",
            ),
        ],
    )


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
