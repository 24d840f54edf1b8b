"""Shared by the *train* exercises: a student's trained model measured on held-out images.

The feedback check uses a fixed sample of Fashion-MNIST's test split; the grading check
draws a new sample each time it runs, so a model is judged on images nobody chose
for it. A model is a PyTorch ``nn.Module`` (images in as ``(N, 1, 28, 28)``) or a Keras
model (``(N, 28, 28, 1)``), floats in ``[0, 1]`` either way. Imports torch and Keras
inside the functions: check modules stay light to import.
"""

from __future__ import annotations

import sys
from typing import Any

from cnncourse.exercises.answers import WrongType, describe

FRAMEWORKS = ("torch", "keras")
CLASSES = 10
_CHUNK = 500  # test images per forward pass


def _is_keras_model(model: Any) -> bool:
    keras = sys.modules.get("keras")  # not imported: the object cannot be a Keras model
    return keras is not None and isinstance(model, keras.Model)


def parameter_count(model: Any, framework: str = "torch") -> int:
    """Every parameter of ``model``, trainable and frozen (``WrongType`` for another object).

    PyTorch: the sum over ``model.parameters()``. Keras: ``model.count_params()``, the
    trainable and non-trainable params of ``model.summary()`` (BatchNorm's moving
    statistics included, the optimizer's variables not).
    """
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}.")
    if framework == "keras":
        if not _is_keras_model(model):
            raise WrongType(
                f"expected a trained Keras model (keras.Sequential or keras.Model), "
                f"got {describe(model)}."
            )
        return sum(int(_size(w.shape)) for w in model.weights)
    from torch import nn

    if not isinstance(model, nn.Module):
        raise WrongType(f"expected a trained nn.Module, got {describe(model)}.")
    return sum(p.numel() for p in model.parameters())


def _size(shape) -> int:
    size = 1
    for dim in shape:
        size *= int(dim)
    return size


def _test_sample(size: int, seed: int | None):
    import secrets

    from cnncourse import data

    test = data.load("fashion_mnist", "test")
    return test.subset(size, seed=secrets.randbelow(2**31) if seed is None else seed)


def model_outputs(model: Any, images, framework: str = "torch", divide_by: float = 255.0):
    """``model``'s outputs ``(N, K)`` as NumPy for images ``(N, H, W, C)`` divided by
    ``divide_by``, in inference mode on a CPU copy, a chunk at a time."""
    import numpy as np

    images = np.asarray(images)
    chunks = [np.ascontiguousarray(images[i : i + _CHUNK]) for i in range(0, len(images), _CHUNK)]
    if framework == "keras":
        from cnncourse._frameworks import import_keras

        keras = import_keras()
        return np.concatenate(
            [
                keras.ops.convert_to_numpy(
                    model(chunk.astype("float32") / divide_by, training=False)
                )
                for chunk in chunks
            ]
        )
    import copy

    import torch

    copied = copy.deepcopy(model).cpu().eval()
    with torch.no_grad():
        return np.concatenate(
            [
                copied(torch.from_numpy(chunk).permute(0, 3, 1, 2).float() / divide_by).numpy()
                for chunk in chunks
            ]
        )


def predicted_classes(model: Any, images, framework: str = "torch", divide_by: float = 255.0):
    """Arg-max classes of ``model`` on images ``(N, H, W, C)`` (see :func:`model_outputs`)."""
    return model_outputs(model, images, framework, divide_by).argmax(axis=1)


def held_out_accuracy(model: Any, size: int, seed: int | None, framework: str = "torch") -> float:
    """Accuracy of ``model`` (evaluated in inference mode, on the CPU) on ``size`` test images.

    Images go in as floats in ``[0, 1]``, as in the chapters: ``(N, 1, 28, 28)`` for
    PyTorch, ``(N, 28, 28, 1)`` for Keras; ``seed=None`` draws a fresh sample.
    """
    sample = _test_sample(size, seed)
    return float((predicted_classes(model, sample.images, framework) == sample.labels).mean())


def check_trained(
    model: Any,
    *,
    max_params: int,
    threshold: float,
    size: int,
    seed: int | None,
    framework: str = "torch",
) -> str | None:
    """``None`` when ``model`` fits the parameter budget and reaches ``threshold``; else a hint."""
    count = parameter_count(model, framework)
    if count == 0:
        return "the model has no weights yet: give it an input shape and train it."
    if count > max_params:
        return f"the model has {count:,} parameters; the budget is {max_params:,}."
    if framework == "keras":
        probe = _test_sample(2, 0).images
        try:
            shape = model_outputs(model, probe, framework).shape
        except Exception as err:  # a student's model may fail in many ways
            return f"the model cannot take a batch of shape (2, 28, 28, 1): {err}"
        if shape != (2, CLASSES):
            return f"the model returns shape {shape} for 2 images; return (N, {CLASSES}) logits."
    accuracy = held_out_accuracy(model, size, seed, framework)
    if accuracy < threshold:
        return (
            f"{accuracy:.1%} on held-out test images; reach {threshold:.0%}: train longer "
            "(within the budget), or check the input scaling (floats in [0, 1])."
        )
    return None
