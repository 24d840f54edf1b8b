"""Hyperparameter search over a small grid, and the learning-rate curves of ``fit``'s schedules.

:func:`grid_search` trains one fresh model per combination of learning rate, batch size and
width (scikit-learn's ``ParameterGrid`` enumerates them) with :func:`cnncourse.train.fit`
and returns one row per run. The cost is plain arithmetic, :func:`grid_size` runs times the
time of one run, which is why grids stay small and coarse (factors of 3 in the learning rate).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import ParameterGrid
from torch import nn

from cnncourse._util import Stopwatch
from cnncourse.data import ImageSet
from cnncourse.models import build_model, count_parameters
from cnncourse.models.reference import BLOCKS
from cnncourse.train import fit, make_scheduler

SEARCHABLE = ("lr", "batch_size", "width")
RESULT_COLUMNS = (
    "lr",
    "batch_size",
    "width",
    "parameters",
    "val_accuracy",
    "val_loss",
    "best_epoch",
    "train_accuracy",
    "seconds",
)


def reference_builder(width: int, data: ImageSet) -> nn.Module:
    """The course's reference CNN scaled by ``width``: its four convolutions get
    ``width / 2, width, 2 width, 3 width`` filters.

    ``width=32`` is the default reference model; the grid scales all layers together.
    """
    height, image_width, channels = data.image_shape
    return build_model(
        "reference",
        in_channels=channels,
        num_classes=data.num_classes,
        image_size=(height, image_width),
        blocks=tuple((max(1, w * width // 32), pool) for w, pool in BLOCKS),  # BLOCKS is width 32
    )


def grid_size(grid: Mapping[str, Sequence]) -> int:
    """Number of runs a grid needs: the product of the number of values per hyperparameter."""
    return len(ParameterGrid(_check_grid(grid)))


def grid_search(
    train: ImageSet,
    val: ImageSet,
    grid: Mapping[str, Sequence],
    *,
    epochs: int = 1,
    build: Callable[[int, ImageSet], nn.Module] = reference_builder,
    device=None,
    seed: int = 0,
    **fit_kwargs,
) -> pd.DataFrame:
    """Train one model per combination in ``grid``; one row per run, best first.

    Parameters
    ----------
    train, val : ImageSet
        Training images and the held-out images the runs are compared on (never the test set).
    grid : mapping
        Values to try for ``lr``, ``batch_size`` and ``width``; a key left out takes the
        default (``lr=1e-3``, ``batch_size=128``, ``width=32``).
    epochs : int
        Epochs per run; every run gets the same budget.
    build : callable
        ``build(width, train)`` returns a fresh PyTorch model (default: :func:`reference_builder`).
    seed : int
        Every run starts from the same seed, so runs of the same width share their initial
        weights and data order; differences come from the hyperparameters.
    **fit_kwargs
        Passed to :func:`cnncourse.train.fit`, e.g. ``scheduler="onecycle"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``lr, batch_size, width, parameters, val_accuracy, val_loss, best_epoch,
        train_accuracy, seconds``: the best validation epoch of each run, its final training
        accuracy and its wall-clock time, sorted by ``val_accuracy`` (best first).
    """
    for name, value in (("train", train), ("val", val)):
        if not isinstance(value, ImageSet):
            raise TypeError(
                f"{name} must be an ImageSet (cnncourse.data.load), got {type(value).__name__}."
            )
    taken = set(fit_kwargs) & {"lr", "batch_size", "epochs", "seed", "device", "progress"}
    if taken:
        raise ValueError(
            f"{sorted(taken)} are set by grid_search itself; put lr and batch_size in the grid."
        )
    combinations = list(ParameterGrid(_check_grid(grid)))
    rows = []
    for combo in combinations:
        settings = {"lr": 1e-3, "batch_size": 128, "width": 32, **combo}
        torch.manual_seed(seed)  # same initial weights for every run of the same width
        model = build(settings["width"], train)
        with Stopwatch() as watch:
            history = fit(
                model,
                train,
                val,
                epochs=epochs,
                batch_size=settings["batch_size"],
                lr=settings["lr"],
                device=device,
                seed=seed,
                progress=False,
                **fit_kwargs,
            )
        best = history.best("val_accuracy")
        rows.append(
            {
                **settings,
                "parameters": count_parameters(model),
                "val_accuracy": best["val_accuracy"],
                "val_loss": best["val_loss"],
                "best_epoch": int(best["epoch"]),
                "train_accuracy": history["accuracy"].iloc[-1],
                "seconds": watch.seconds,
            }
        )
    table = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    table = table.sort_values("val_accuracy", ascending=False, kind="stable")
    return table.reset_index(drop=True)


def schedule_curve(scheduler: str, *, lr: float, epochs: int, steps_per_epoch: int) -> np.ndarray:
    """The learning rate at every optimizer step of ``fit(..., scheduler=scheduler)``.

    Only for schedules that follow the clock (``"onecycle"``, ``"cosine"``): the same
    torch scheduler that ``fit`` builds is stepped on a dummy optimizer. ``"plateau"``
    reacts to the validation loss, so its curve exists only after training (History ``lr``).
    Returns ``(epochs * steps_per_epoch,)`` values: the rate used by each step.
    """
    if scheduler not in ("onecycle", "cosine"):
        raise ValueError(
            f"schedule_curve draws 'onecycle' or 'cosine', got {scheduler!r}; "
            "'plateau' depends on the validation loss: read History['lr'] after fit."
        )
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if not isinstance(lr, int | float) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}.")
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=lr)
    sched, _ = make_scheduler(scheduler, optimizer, lr, epochs, steps_per_epoch)
    rates = []
    for _ in range(epochs * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # torch warns when a scheduler steps before its optimizer
        sched.step()
    return np.asarray(rates)


def _check_grid(grid: Mapping[str, Sequence]) -> dict[str, list]:
    """Validate every value of the grid before the first run starts."""
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(
            f"grid must be a non-empty dict such as {{'lr': [1e-3, 3e-3], 'width': [16, 32]}}, "
            f"got {grid!r}."
        )
    checked = {}
    for key, values in grid.items():
        if key not in SEARCHABLE:
            raise ValueError(f"cannot search over {key!r}; the grid's keys are {SEARCHABLE}.")
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid[{key!r}] must be a non-empty list of values, got {values!r}.")
        for value in values:
            if key == "lr":
                ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
                ok = ok and math.isfinite(value)
            else:
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            if not ok:
                kind = "positive numbers" if key == "lr" else "positive ints"
                raise ValueError(f"grid[{key!r}] must hold {kind}, got {value!r}.")
        checked[key] = list(values)
    return checked
