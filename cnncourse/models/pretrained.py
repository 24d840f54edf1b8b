"""Weights the course ships: slim VGGs pre-trained on clothes and on handwriting.

:func:`load_pretrained` returns the PyTorch network with its trained weights
(:func:`cnncourse.interop.torch_to_keras` copies them into the Keras twin). The file
sits inside the package, so it
works offline; its SHA-256 is checked before ``torch.load(weights_only=True)`` reads
it, and a file whose bytes differ is refused. ``benchmarks/pretrain_bases.py``
produces each file, deterministically, on the CPU.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnncourse._errors import InputError

__all__ = ["PRETRAINED", "PretrainedWeights", "WeightsChecksumError", "load_pretrained"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
_SCRIPT = "benchmarks/pretrain_bases.py --base"


class WeightsChecksumError(ValueError, InputError):
    """A weights file exists but its bytes are not the ones the package expects."""


@dataclass(frozen=True)
class PretrainedWeights:
    """One shipped weights file: the model it fits and what it was trained on."""

    file: str
    sha256: str
    model: str
    config: dict[str, Any] = field(default_factory=dict)
    trained_on: str = ""

    @property
    def path(self) -> Path:
        """Where the file lies inside the installed package."""
        return WEIGHTS_DIR / self.file


PRETRAINED: dict[str, PretrainedWeights] = {
    "vgg_fashion_mnist": PretrainedWeights(
        file="vgg_fashion_mnist.pt",
        sha256="d18ed830fad1d1420080ff30656588be011fa6fa7d28bb7df26da70dff23f1a1",
        model="vgg",
        config={"num_classes": 10, "widths": (16, 32, 64)},
        trained_on="all 60,000 Fashion-MNIST training images, 10 classes",
    ),
    "vgg_mnist_digits": PretrainedWeights(
        file="vgg_mnist_digits.pt",
        sha256="685e65381f6cfcf86b4e2862d1f4d655605ab5885bb9aa8ef849460d6687ac04",
        model="vgg",
        config={"num_classes": 10, "widths": (16, 32, 64)},
        trained_on="5,000 MNIST digits on scikit-learn's 8 x 8 grid (data.mnist_like_digits)",
    ),
}


def load_pretrained(
    name: str = "vgg_fashion_mnist", *, path: str | Path | None = None
) -> nn.Module:
    """The PyTorch network ``name`` with its pre-trained weights, in eval mode on the CPU.

    ``path`` reads another copy of the file; it must have the same SHA-256. For the
    Keras twin, copy the weights across: ``cnncourse.interop.torch_to_keras(model,
    build_model(spec.model, "keras", **spec.config))``.
    Raises ``FileNotFoundError`` when the file is missing, :class:`WeightsChecksumError`
    when its bytes differ from the expected ones, and ``ValueError`` when it holds
    anything but tensors and plain containers (``torch.load(weights_only=True)``).
    """
    if name not in PRETRAINED:
        raise ValueError(f"unknown weights {name!r}; choose one of {', '.join(PRETRAINED)}.")
    spec = PRETRAINED[name]
    file = Path(path) if path is not None else spec.path
    if not file.is_file():
        raise FileNotFoundError(
            f"the weights {name!r} are missing: expected a file at {file}. Reinstall "
            f"cnncourse, or run {_SCRIPT} {name} to write it."
        )
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    if digest != spec.sha256:
        raise WeightsChecksumError(
            f"{file} is not the file of the weights {name!r}: its SHA-256 is {digest}, "
            f"expected {spec.sha256}. It is damaged or was replaced; reinstall cnncourse "
            f"or delete it and run {_SCRIPT} {name}."
        )
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)  # tensors only
    except pickle.UnpicklingError as err:
        raise ValueError(f"{file} holds more than weights and was not loaded: {err}") from err
    from cnncourse.models.registry import build_model

    model = build_model(spec.model, **spec.config)
    model.load_state_dict(state["state_dict"])
    return model.eval()
