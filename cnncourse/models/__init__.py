"""The course's reference architectures, each in PyTorch and in Keras with the same shapes.

``build_model("tiny")`` returns a PyTorch ``nn.Module``; ``build_model("tiny", "keras")``
returns its Keras twin: the same layers in the same order, with the same parameter
count, so :mod:`cnncourse.interop` can copy weights between them. Every model outputs
logits (no softmax): pair it with ``nn.CrossEntropyLoss`` or
``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``.

PyTorch models take float ``(N, C, H, W)`` images; Keras models take ``(N, H, W, C)``.

=============  =========================================================================
name           model
=============  =========================================================================
``tiny``       two 3x3 convolutions with max pooling and one linear layer (the seed tutorial)
``vgg``        VGG-style blocks of 32/64/128 filters with BatchNorm and Dropout
``mlp``        a fully connected baseline (flatten -> 256 -> 128 -> classes)
``reference``  the course's fast reference model (``cnncourse.models.reference``)
=============  =========================================================================

The PyTorch classes and the Keras builders load lazily, so a PyTorch-only chapter
never imports TensorFlow.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

MODEL_NAMES: tuple[str, ...] = ("tiny", "vgg", "mlp", "reference")
FRAMEWORKS: tuple[str, ...] = ("torch", "keras")

# name -> (PyTorch class, Keras builder), as "module:attribute" so nothing loads early.
_REGISTRY: dict[str, tuple[str, str]] = {
    "tiny": (
        "cnncourse.models.torch_models:TinyCNN",
        "cnncourse.models.keras_models:keras_tiny_cnn",
    ),
    "vgg": ("cnncourse.models.torch_models:VGGNet", "cnncourse.models.keras_models:keras_vgg"),
    "mlp": ("cnncourse.models.torch_models:MLP", "cnncourse.models.keras_models:keras_mlp"),
    "reference": (
        "cnncourse.models.reference:ReferenceCNN",
        "cnncourse.models.reference:keras_reference",
    ),
}

_LAZY = {
    "TinyCNN": "cnncourse.models.torch_models",
    "VGGNet": "cnncourse.models.torch_models",
    "MLP": "cnncourse.models.torch_models",
    "keras_tiny_cnn": "cnncourse.models.keras_models",
    "keras_vgg": "cnncourse.models.keras_models",
    "keras_mlp": "cnncourse.models.keras_models",
}

__all__ = [
    "FRAMEWORKS",
    "MODEL_NAMES",
    "build_model",
    "count_parameters",
    *_LAZY,
]


def build_model(
    name: str,
    framework: str = "torch",
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | tuple[int, int] = 28,
    **kwargs: Any,
):
    """Build model ``name`` in ``framework`` ("torch" or "keras").

    Parameters
    ----------
    name : one of :data:`MODEL_NAMES`.
    framework : "torch" returns an ``nn.Module`` taking ``(N, C, H, W)``; "keras" a
        ``keras.Model`` taking ``(N, H, W, C)``.
    in_channels, num_classes, image_size : the data the model is built for; ``image_size``
        is ``H`` for square images or ``(H, W)``.
    **kwargs : model options, e.g. ``dropout=0.0, batchnorm=False`` for "vgg" or
        ``hidden=(512,)`` for "mlp".

    Examples
    --------
    >>> model = build_model("vgg", dropout=0.0)              # doctest: +SKIP
    >>> twin = build_model("vgg", "keras", dropout=0.0)      # doctest: +SKIP
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}.")
    if framework not in FRAMEWORKS:
        raise ValueError(
            f"unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}."
        )
    target = _REGISTRY[name][FRAMEWORKS.index(framework)]
    module_name, attribute = target.split(":")
    try:
        builder = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ImportError(
            f"model {name!r} for {framework} should be {target}, which cannot be loaded "
            f"({error}). For Keras install the extra: pip install 'cnncourse[keras]'."
        ) from error
    return builder(
        in_channels=in_channels, num_classes=num_classes, image_size=image_size, **kwargs
    )


def count_parameters(model: Any, trainable_only: bool = True) -> int:
    """Number of weights in a PyTorch or Keras model.

    ``trainable_only=True`` counts what the optimiser updates (frozen layers excluded).
    ``trainable_only=False`` also counts the state a model stores without training it,
    such as BatchNorm running mean and variance, so both frameworks agree: Keras counts
    them as non-trainable weights, PyTorch keeps them as floating-point buffers (the
    integer ``num_batches_tracked`` counter is not a weight and is left out).
    """
    if hasattr(model, "named_parameters") and hasattr(model, "buffers"):  # torch.nn.Module
        total = sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
        if not trainable_only:
            total += sum(b.numel() for b in model.buffers() if b.is_floating_point())
        return int(total)
    if hasattr(model, "trainable_weights") and hasattr(model, "weights"):  # keras.Model/Layer
        weights = model.trainable_weights if trainable_only else model.weights
        return int(sum(_prod(w.shape) for w in weights))
    raise TypeError(
        f"count_parameters expects a torch.nn.Module or a keras.Model, got {type(model).__name__}."
    )


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cnncourse.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


# --- shared by torch_models and keras_models (no framework imported here) -------------


def _prod(shape: Sequence[int]) -> int:
    result = 1
    for size in shape:
        result *= int(size)
    return result


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


def check_config(
    in_channels: int, num_classes: int, image_size: int | Sequence[int], *, min_size: int = 1
) -> tuple[int, int, tuple[int, int]]:
    """Validate the common constructor arguments; return ``(C, classes, (H, W))``.

    ``min_size`` is the smallest side the architecture can shrink to 1 pixel
    (``2**k`` for ``k`` 2x2 poolings).
    """
    _positive_int(in_channels, "in_channels")
    _positive_int(num_classes, "num_classes")
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        hw = (image_size, image_size)
    elif isinstance(image_size, Sequence) and len(image_size) == 2:
        hw = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(
            f"image_size must be an int (square images) or (height, width), got {image_size!r}."
        )
    if min(hw) < min_size:
        raise ValueError(
            f"image_size {hw} is too small for this model: each side must be at least "
            f"{min_size} pixels. Resize the images or pick a model with fewer poolings."
        )
    return in_channels, num_classes, hw


def check_rate(value: float, name: str) -> float:
    """A dropout rate in ``[0, 1)``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a float in [0, 1), got {value!r}.")
    return float(value)


def check_widths(values: int | Sequence[int], name: str, *, allow_empty: bool) -> tuple[int, ...]:
    """A tuple of positive layer widths (an int means one layer)."""
    widths = (values,) if isinstance(values, int) else tuple(values)
    if not widths and not allow_empty:
        raise ValueError(f"{name} must name at least one width, got {values!r}.")
    for width in widths:
        _positive_int(width, f"every entry of {name}")
    return widths


def shape_error(expected: tuple[int, ...], got: tuple[int, ...], channels_first: bool) -> str:
    """The message for an input of the wrong shape, with the constructor call that fits it.

    ``expected`` is the shape of one image, ``got`` the shape of the whole batch.
    """
    layout = "(N, C, H, W)" if channels_first else "(N, H, W, C)"
    expected_text = "(N, " + ", ".join(str(s) for s in expected) + ")"
    if len(got) != len(expected) + 1:
        return (
            f"expected {expected_text} images, got a tensor of shape {tuple(got)}: pass a "
            f"batch shaped {layout}; for a single image add the batch axis with x[None]."
        )
    image = tuple(int(s) for s in got[1:])
    got_text = "(N, " + ", ".join(str(s) for s in image) + ")"
    channels, height, width = image if channels_first else (image[2], image[0], image[1])
    size = str(height) if height == width else f"({height}, {width})"
    hint = f"build the model with in_channels={channels}, image_size={size}"
    if channels_first and image == (expected[1], expected[2], expected[0]):
        hint = "the batch looks channels-last (N, H, W, C): reorder it with x.permute(0, 3, 1, 2)"
    elif not channels_first and image == (expected[2], expected[0], expected[1]):
        hint = "the batch looks channels-first (N, C, H, W): reorder it to (N, H, W, C)"
    return f"expected {expected_text} images, got {got_text}: {hint}."
