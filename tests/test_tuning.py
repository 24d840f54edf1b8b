"""Grid search and learning-rate curves (cnncourse.train.tuning)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnncourse import train
from cnncourse.data import ImageSet
from cnncourse.train import tuning

CLASSES = tuple(f"class{i}" for i in range(4))


def blobs(n: int, seed: int) -> ImageSet:
    """Synthetic 16x16 images: class k is a bright square in quadrant k, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=n)
    images = rng.integers(0, 60, size=(n, 16, 16, 1))
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 2)
        images[i, row * 8 + 2 : row * 8 + 6, col * 8 + 2 : col * 8 + 6] += 180
    return ImageSet(images.astype(np.uint8), labels.astype(np.int64), CLASSES)


def test_grid_size_is_the_product_of_the_value_counts():
    assert tuning.grid_size({"lr": [1e-3, 3e-3, 1e-2], "batch_size": [32, 64], "width": [4]}) == 6
    assert tuning.grid_size({"width": [4, 8]}) == 2


def test_grid_search_runs_every_combination_and_ranks_them():
    grid = {"lr": [1e-5, 1e-2], "batch_size": [32], "width": [4, 8]}
    table = tuning.grid_search(blobs(256, 0), blobs(128, 1), grid, epochs=2, device="cpu")
    assert list(table.columns) == list(tuning.RESULT_COLUMNS)
    assert len(table) == 4
    assert sorted(zip(table["lr"], table["width"], strict=True)) == sorted(
        (lr, w) for lr in grid["lr"] for w in grid["width"]
    )
    assert table["val_accuracy"].is_monotonic_decreasing  # best first
    # a learning rate 1000 times too small barely moves in 2 epochs: the search must see it
    assert table.iloc[0]["lr"] == 1e-2 and table.iloc[0]["val_accuracy"] > 0.75
    slow = table[table["lr"] == 1e-5]
    assert slow["val_accuracy"].max() < 0.4 and slow["train_accuracy"].max() < 0.5
    assert (table[table["lr"] == 1e-2]["train_accuracy"] > 0.9).all()
    # wider models have more parameters; every run reports its time
    by_width = table.groupby("width")["parameters"].first()
    assert by_width[8] > by_width[4]
    assert (table["seconds"] > 0).all() and table["best_epoch"].between(1, 2).all()


def test_grid_search_is_repeatable_with_the_same_seed():
    grid = {"lr": [3e-3], "width": [2]}
    first = tuning.grid_search(blobs(128, 0), blobs(64, 1), grid, device="cpu", seed=3)
    second = tuning.grid_search(blobs(128, 0), blobs(64, 1), grid, device="cpu", seed=3)
    assert first["val_loss"].iloc[0] == second["val_loss"].iloc[0]


def test_grid_search_matches_a_plain_fit():
    """The oracle: one grid cell is exactly fit() on the same model, seed and settings."""
    train_set, val_set = blobs(128, 0), blobs(64, 1)
    table = tuning.grid_search(
        train_set, val_set, {"lr": [2e-3], "batch_size": [16], "width": [2]}, device="cpu", seed=5
    )
    torch.manual_seed(5)
    model = tuning.reference_builder(2, train_set)
    history = train.fit(
        model, train_set, val_set, lr=2e-3, batch_size=16, device="cpu", seed=5, progress=False
    )
    assert table["val_loss"].iloc[0] == pytest.approx(history["val_loss"].iloc[0], abs=1e-6)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({}, "non-empty dict"),
        ({"momentum": [0.9]}, "cannot search over 'momentum'"),
        ({"lr": []}, "non-empty list"),
        ({"lr": 1e-3}, "non-empty list"),
        ({"lr": [1e-3, -1.0]}, "positive numbers, got -1.0"),
        ({"batch_size": [32.5]}, "positive ints, got 32.5"),
        ({"width": [0]}, "positive ints, got 0"),
    ],
)
def test_bad_grids_are_refused_before_training(grid, message, monkeypatch):
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("trained on a bad grid"))
    with pytest.raises(ValueError, match=message):
        tuning.grid_search(blobs(8, 0), blobs(8, 1), grid)


def test_grid_search_rejects_wrong_data_and_duplicate_settings():
    with pytest.raises(TypeError, match="ImageSet"):
        tuning.grid_search(np.zeros((4, 16, 16, 1)), blobs(8, 1), {"lr": [1e-3]})
    with pytest.raises(ValueError, match="put lr and batch_size in the grid"):
        tuning.grid_search(blobs(8, 0), blobs(8, 1), {"width": [2]}, lr=1e-3)


def test_schedule_curves_match_their_formulas():
    steps, lr = 10, 3e-3
    cosine = tuning.schedule_curve("cosine", lr=lr, epochs=2, steps_per_epoch=steps)
    expected = [lr * (1 + math.cos(math.pi * t / 20)) / 2 for t in range(20)]
    np.testing.assert_allclose(cosine, expected, rtol=1e-9)
    onecycle = tuning.schedule_curve("onecycle", lr=lr, epochs=2, steps_per_epoch=steps)
    assert onecycle.shape == (20,)
    assert onecycle[0] == pytest.approx(lr / 25)  # torch's default div_factor
    assert onecycle.max() == pytest.approx(lr, rel=1e-3)
    assert 4 <= onecycle.argmax() <= 7  # the warm-up takes 30% of the steps
    assert onecycle[-1] < lr / 1e3


def test_schedule_curve_ends_where_fit_ends():
    """The oracle: History's lr is the rate of each epoch's last step, read off the curve."""
    data = blobs(64, 0)
    history = train.fit(
        tuning.reference_builder(2, data),
        data,
        epochs=2,
        batch_size=16,
        lr=1e-3,
        scheduler="cosine",
        device="cpu",
        progress=False,
    )
    curve = tuning.schedule_curve("cosine", lr=1e-3, epochs=2, steps_per_epoch=4)
    np.testing.assert_allclose(history["lr"], curve[[3, 7]], rtol=1e-9)  # 4 steps an epoch


def test_schedule_curve_rejects_plateau_and_bad_sizes():
    with pytest.raises(ValueError, match="validation loss"):
        tuning.schedule_curve("plateau", lr=1e-3, epochs=2, steps_per_epoch=3)
    with pytest.raises(ValueError, match="epochs"):
        tuning.schedule_curve("cosine", lr=1e-3, epochs=0, steps_per_epoch=3)
    with pytest.raises(ValueError, match="lr"):
        tuning.schedule_curve("cosine", lr=0, epochs=1, steps_per_epoch=3)
