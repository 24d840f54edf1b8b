"""The training recipes: the GPU recipe is the reference recipe at a larger batch."""

from __future__ import annotations

import dataclasses
import math
import sys

import pytest
import torch
from conftest import ROOT

from cnncourse.models import build_model
from cnncourse.train import fit
from cnncourse.train.recipes import (
    GPU_RECIPE,
    RECIPES,
    REFERENCE_RECIPE,
    SHORT_RECIPE,
    pick_recipe,
)

sys.path.insert(0, str(ROOT / "benchmarks"))
from cnncourse_bench import accuracy  # noqa: E402


def test_gpu_recipe_is_the_reference_recipe_at_batch_512_with_a_sqrt_scaled_rate():
    assert GPU_RECIPE.batch_size == 512 and REFERENCE_RECIPE.batch_size == 128
    assert GPU_RECIPE.lr == pytest.approx(REFERENCE_RECIPE.lr * math.sqrt(512 / 128))
    same = dataclasses.replace(GPU_RECIPE, batch_size=128, lr=REFERENCE_RECIPE.lr)
    assert same == REFERENCE_RECIPE  # every other setting, the epochs included, is the same


def test_with_batch_size_scales_the_rate_by_the_square_root_of_the_batch_ratio():
    assert SHORT_RECIPE.with_batch_size(SHORT_RECIPE.batch_size) == SHORT_RECIPE
    smaller = SHORT_RECIPE.with_batch_size(32)
    assert smaller.lr == pytest.approx(SHORT_RECIPE.lr / 2)
    assert smaller.epochs == SHORT_RECIPE.epochs
    for bad in (0, -4, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            SHORT_RECIPE.with_batch_size(bad)


def test_pick_recipe_takes_the_gpu_recipe_for_cuda_and_names_otherwise():
    assert pick_recipe() is REFERENCE_RECIPE
    assert pick_recipe("reference", "cpu") is REFERENCE_RECIPE
    assert pick_recipe("reference", "cuda") is GPU_RECIPE
    assert pick_recipe("reference", torch.device("cuda", 0)) is GPU_RECIPE
    assert pick_recipe("gpu") is GPU_RECIPE and pick_recipe("short", "cuda") is SHORT_RECIPE
    assert set(RECIPES) == {"short", "reference", "gpu"}
    with pytest.raises(ValueError, match="unknown recipe 'long'"):
        pick_recipe("long")


def test_the_gpu_recipe_trains_the_reference_model_on_a_cpu(fashion):
    """Built and run for one epoch on a small subset: two steps, 512 and 88 images."""
    train, test = fashion[0].subset(600, seed=0), fashion[1].subset(200, seed=0)
    torch.manual_seed(0)
    model = build_model("reference")
    kwargs = GPU_RECIPE.fit_kwargs() | {"epochs": 1}
    history = fit(
        GPU_RECIPE.for_testing(model), train, test, progress=False, seed=0, device="cpu", **kwargs
    )
    config = history.attrs["config"]
    assert config["batch_size"] == 512 and config["lr"] == GPU_RECIPE.lr
    assert config["compile"] is None  # the CPU run stays uncompiled
    assert history["loss"].notna().all() and 0 <= history["val_accuracy"].iloc[0] <= 1


def test_the_benchmark_adds_the_gpu_row_on_cuda_only():
    labels = [label for label, _ in accuracy.standard_recipes(torch.device("cpu"))]
    assert labels == ["short (3 min)", "full (10 min)"]
    on_gpu = accuracy.standard_recipes("cuda")
    assert on_gpu[:2] == accuracy.standard_recipes("cpu")
    assert on_gpu[2] == ("gpu (batch 512)", GPU_RECIPE)
