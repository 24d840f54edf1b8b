"""Shared by the *train* exercises: a student's trained model measured on held-out images.

The feedback check uses a fixed sample of Fashion-MNIST's test split; the grading check
draws a new sample each time it runs, so a model is judged on images nobody chose
for it. Imports torch inside the functions: check modules stay light to import.
"""

from __future__ import annotations

from typing import Any

from cnncourse.exercises.answers import WrongType, describe


def parameter_count(model: Any) -> int:
    """Trainable and frozen parameters of an ``nn.Module`` (``WrongType`` for anything else)."""
    from torch import nn

    if not isinstance(model, nn.Module):
        raise WrongType(f"expected a trained nn.Module, got {describe(model)}.")
    return sum(p.numel() for p in model.parameters())


def held_out_accuracy(model: Any, size: int, seed: int | None) -> float:
    """Accuracy of ``model`` (a copy, in eval mode, on the CPU) on ``size`` test images.

    Images go in as float32 ``(N, 1, 28, 28)`` in ``[0, 1]``, as in the chapters;
    ``seed=None`` draws a fresh sample.
    """
    import copy
    import secrets

    import torch

    from cnncourse import data

    test = data.load("fashion_mnist", "test")
    sample = test.subset(size, seed=secrets.randbelow(2**31) if seed is None else seed)
    images, labels = data.to_tensors(sample, "cpu")
    copied = copy.deepcopy(model).cpu().eval()
    with torch.no_grad():
        predictions = torch.cat(
            [copied(images[i : i + 500].float() / 255).argmax(dim=1) for i in range(0, size, 500)]
        )
    return (predictions == labels).float().mean().item()


def check_trained(
    model: Any, *, max_params: int, threshold: float, size: int, seed: int | None
) -> str | None:
    """``None`` when ``model`` fits the parameter budget and reaches ``threshold``; else a hint."""
    count = parameter_count(model)
    if count > max_params:
        return f"the model has {count:,} parameters; the budget is {max_params:,}."
    accuracy = held_out_accuracy(model, size, seed)
    if accuracy < threshold:
        return (
            f"{accuracy:.1%} on held-out test images; reach {threshold:.0%}: train longer "
            "(within the budget), or check the input scaling (floats in [0, 1])."
        )
    return None
