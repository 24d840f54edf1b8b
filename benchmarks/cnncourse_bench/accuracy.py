"""Section ``accuracy``: seconds until the reference model first reaches each test accuracy.

The clock counts every epoch's training and its test evaluation (both timed by ``fit``).
A recipe with ``flip_test`` is judged on flip-averaged predictions; the single-view
accuracy of the same model sits beside it. On a CUDA device the GPU recipe (the
reference recipe at a larger batch) adds a row; ``device`` and ``device_name`` tell
its rows from the CPU ones.
"""

from __future__ import annotations

import datetime as dt

from cnncourse.models import build_model, count_parameters
from cnncourse.runtime import seed_everything
from cnncourse.train import evaluate, fit
from cnncourse.train.recipes import GPU_RECIPE, REFERENCE_RECIPE, SHORT_RECIPE, Recipe

from .report import device_kind, device_name

TARGETS = (0.925, 0.935)  # test accuracy; the column names spell them: seconds_to_92_5


def target_column(target: float) -> str:
    """``seconds_to_92_5`` for 0.925: a column name that pandas and spreadsheets keep."""
    return "seconds_to_" + f"{target * 100:.1f}".replace(".", "_")


def standard_recipes(device) -> list[tuple[str, Recipe]]:
    """The benchmark's ``(label, recipe)`` pairs for ``device``: the GPU recipe on CUDA only."""
    recipes = [("short (3 min)", SHORT_RECIPE), ("full (10 min)", REFERENCE_RECIPE)]
    if device_kind(device) == "cuda":
        recipes.append((f"gpu (batch {GPU_RECIPE.batch_size})", GPU_RECIPE))
    return recipes


def time_to_accuracy(train, test, recipes, *, device, seed: int = 0) -> list[dict]:
    """One row per ``(label, recipe)``: parameters, seconds to each target, final accuracy."""
    rows = []
    date = dt.datetime.now().isoformat(timespec="seconds")
    for label, recipe in recipes:
        seed_everything(seed)  # the same initial weights, whatever ran before
        model = build_model("reference").to(device)
        judged = recipe.for_testing(model)  # the model itself, or its flip-averaged wrapper
        history = fit(
            judged,
            train,
            test,
            device=device,
            progress=False,
            seed=seed,
            compile=device_kind(device) == "cuda",  # one model, many epochs: worth compiling
            **recipe.fit_kwargs(),
        )
        elapsed = history["seconds"].cumsum()
        row = {
            "recipe": label,
            "device": device_kind(device),
            "parameters": count_parameters(model),
        }
        for target in TARGETS:
            reached = history.index[history["val_accuracy"] >= target]
            row[target_column(target)] = float(elapsed.loc[reached[0]]) if len(reached) else None
        row |= {
            "final_accuracy": float(history["val_accuracy"].iloc[-1]),
            "final_single_view_accuracy": evaluate(model, test)["accuracy"],
            "total_s": float(elapsed.iloc[-1]),
            "epochs": recipe.epochs,
            "batch_size": recipe.batch_size,
            "lr": recipe.lr,
            "weight_decay": recipe.weight_decay,
            "flip": bool(recipe.flip),
            "shift_px": recipe.shift,
            "erase_px": recipe.erase,
            "test_predictions": "flip-averaged" if recipe.flip_test else "single view",
            "train_images": len(train),
            "test_images": len(test),
            "seed": seed,
            "device_name": device_name(device),
            "date": date,
        }
        rows.append(row)
    return rows
