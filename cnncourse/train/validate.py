"""Input-domain checks for training: refuse what a user cannot mean before a run starts.

The argument checks of :func:`cnncourse.train.fit` look at types; these look at
values. A learning rate of ``inf`` or ``nan`` is a float, and float images in
0..255 are valid tensors, yet both train "fine" into a meaningless model. Each check
here raises :class:`TrainingInputError` naming the argument, what is wrong and the
fix; what a user can only have meant one way (``int32`` labels, whole-number float
labels) is converted instead.
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch
from torch.utils.data import DataLoader

from cnncourse._errors import InputError
from cnncourse.data.imageset import ImageSet

FLOAT_IMAGE_LIMIT = 10.0  # |pixel| above this is not [0, 1] nor standardized data


class TrainingInputError(ValueError, InputError):
    """A training argument or data holds values outside the domain a user could mean."""


def check_hyperparameters(*, lr, weight_decay, custom_optimizer: bool = False) -> None:
    """Refuse a learning rate that is not a positive finite number and a non-finite weight
    decay; warn on a learning rate above 1 for the default optimizer."""
    if not isinstance(lr, numbers.Real) or isinstance(lr, bool) or lr <= 0:
        raise TrainingInputError(f"lr must be a positive number, got {lr!r}; 1e-3 suits Adam.")
    for name, value, example in (
        ("lr", lr, "1e-3 suits Adam"),
        ("weight_decay", weight_decay, "0.05 is a usual AdamW value"),
    ):
        real = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if real and not math.isfinite(value):
            raise TrainingInputError(
                f"{name} must be a finite number, got {value!r}: training would turn "
                f"every weight into NaN. Pass a finite value; {example}."
            )
    if not custom_optimizer and isinstance(lr, numbers.Real) and lr > 1:
        warnings.warn(
            f"lr={lr!r} is far above what Adam (the default optimizer) trains with; the loss "
            "will most likely diverge. 1e-3 suits Adam.",
            UserWarning,
            stacklevel=3,
        )


def check_training_inputs(train, val=None, *, lr, weight_decay, custom_optimizer=False):
    """Check ``fit``'s data and hyperparameters; returns ``(train, val)``, labels as int64.

    Tensor pairs get their labels converted to int64 when they are integers of another
    type, or floats that are all whole numbers; everything else out of domain raises.
    """
    check_hyperparameters(lr=lr, weight_decay=weight_decay, custom_optimizer=custom_optimizer)
    train = check_data(train, "train")
    if val is not None:
        val = check_data(val, "val")
    return train, val


def check_data(data, what: str = "train"):
    """Check one split for ``fit`` or ``evaluate``; returns it, tensor labels as int64."""
    if isinstance(data, ImageSet):  # uint8 images, labels range-checked on construction
        if len(data) == 0:
            raise TrainingInputError(f"{what} is an empty ImageSet: there is nothing to train on.")
        return data
    if isinstance(data, tuple | list) and len(data) == 2:
        images, labels = data
        if isinstance(images, torch.Tensor) and isinstance(labels, torch.Tensor):
            if len(images) == 0:
                raise TrainingInputError(f"{what} holds no images: there is nothing to train on.")
            check_images(images, what)
            return type(data)((images, as_class_indices(labels, what)))
        return data  # the batch checks name the expected types
    if isinstance(data, DataLoader):
        first = next(iter(data), None)
        if first is None:
            raise TrainingInputError(f"the {what} DataLoader yields no batches; is it empty?")
        if not isinstance(first, tuple | list) or len(first) != 2:
            return data  # the training loop names what a batch must be
        images, labels = first
        if isinstance(images, torch.Tensor):
            check_images(images, f"the first {what} batch")
        if isinstance(labels, torch.Tensor) and labels.dtype != torch.int64:
            raise TrainingInputError(
                f"the {what} DataLoader yields labels of type {labels.dtype}; the loss needs "
                "int64 class indices. In your Dataset's __getitem__ return "
                "torch.tensor(label, dtype=torch.long)."
            )
    return data


def check_images(images: torch.Tensor, what: str) -> None:
    """Refuse float images with NaN/inf or with values of 0..255 pixels (not scaled)."""
    if not images.is_floating_point():
        return
    finite = torch.isfinite(images)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise TrainingInputError(
            f"{what} images hold {bad} NaN or infinite value(s); the loss would be NaN. "
            "Find where they come from (a division by zero in a normalisation?) or drop "
            "those images."
        )
    low, high = (float(v) for v in torch.aminmax(images))
    if max(abs(low), abs(high)) > FLOAT_IMAGE_LIMIT:
        raise TrainingInputError(
            f"{what} images are float with values in [{low:g}, {high:g}]: that looks like "
            "pixels in 0..255, not scaled to [0, 1]. Divide by 255 (images / 255), or pass "
            "the uint8 images as they are: fit scales uint8 per batch."
        )


def as_class_indices(labels: torch.Tensor, what: str) -> torch.Tensor:
    """``labels`` as int64 class indices; refuses what cannot be indices."""
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise TrainingInputError(
            f"{what} labels have shape {tuple(labels.shape)}, one-hot or scores; fit needs "
            "class indices (N,): pass labels.argmax(dim=1)."
        )
    if labels.dtype == torch.bool:
        raise TrainingInputError(
            f"{what} labels are bool; pass class indices: labels.long() for two classes."
        )
    if labels.is_floating_point():
        whole = torch.isfinite(labels) & (labels == labels.round())
        if not bool(whole.all()):
            example = labels[~whole][0].item()
            raise TrainingInputError(
                f"{what} labels are {labels.dtype} and not all whole numbers (e.g. {example!r}); "
                "fit needs class indices 0..K-1 (int64). Probabilities or one-hot rows need "
                ".argmax(dim=1) first."
            )
    if labels.is_complex():
        raise TrainingInputError(f"{what} labels are complex; pass int64 class indices.")
    labels = labels.long() if labels.dtype != torch.int64 else labels
    if labels.numel() and int(labels.min()) < 0:
        raise TrainingInputError(
            f"{what} labels include {int(labels.min())}; class indices run from 0 to K-1. "
            "A -1 often marks unlabelled samples: drop them before training."
        )
    return labels
