"""The course's fast reference model, in PyTorch and Keras.

Four 3x3 convolutions, each followed by BatchNorm and ReLU, with max pooling after
the first, second and fourth, then one linear layer: 87,546 parameters for 1x28x28
inputs and 10 classes, small enough to train on a laptop CPU in minutes. Cheap first
layers matter on a CPU: the only full-resolution layer is a thin convolution, and
pooling comes before its BatchNorm and ReLU.

The recipes that train it, ``REFERENCE_RECIPE`` and ``SHORT_RECIPE``, live with the
training loop, in ``train.recipes``: a model does not know how it is trained.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from cnncourse import _compat
from cnncourse.models._base import BN_EPSILON, BN_MOMENTUM, ImageClassifier, keras_input
from cnncourse.models._checks import check_widths

if TYPE_CHECKING:  # annotations only: Keras loads when the builder runs
    import keras

# (width, pool) per block: 28x28 -> 14 -> 7 -> 7 -> 3x3x96 features
BLOCKS = ((16, True), (32, True), (64, False), (96, True))


def _check_blocks(blocks) -> tuple[tuple[int, bool], ...]:
    """``blocks`` as ``((width, pool), ...)``: positive widths, boolean pool flags."""
    try:
        checked = tuple((int(w), bool(p)) for w, p in blocks)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"blocks must be (width, pool) pairs such as ((16, True), (32, False)), got {blocks!r}."
        ) from err
    check_widths([w for w, _ in checked], "block widths", allow_empty=False)
    return checked


class ReferenceNet(ImageClassifier):
    """conv -> [max pool] -> BatchNorm -> ReLU blocks, then flatten and one linear layer.

    Pooling comes *before* BatchNorm and ReLU: max pooling commutes with ReLU, and
    normalising the pooled map costs a quarter as much, which matters on a CPU, where
    the full-resolution first block dominates a training step. Convolutions carry no
    bias, since BatchNorm adds its own shift.

    Input ``(N, C, H, W)`` floats; output ``(N, num_classes)`` logits.

    Parameters
    ----------
    blocks : sequence of (width, pool) pairs
        One 3x3 convolution of ``width`` filters per block; ``pool`` halves H and W
        (floor) right after it. The default gives 28 -> 14 -> 7 -> 7 -> 3.
    """

    name = "reference"

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int | Sequence[int] = 28,
        *,
        blocks: Sequence[tuple[int, bool]] = BLOCKS,
    ) -> None:
        blocks = _check_blocks(blocks)
        pools = sum(pool for _, pool in blocks)
        super().__init__(in_channels, num_classes, image_size, min_size=2**pools)
        self.config.update(blocks=blocks)
        channels, height, width = self.input_shape
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (out, pool) in enumerate(blocks, start=1):
            layers[f"conv{i}"] = nn.Conv2d(channels, out, 3, padding=1, bias=False)
            if pool:
                layers[f"pool{i}"] = nn.MaxPool2d(2)
                height, width = height // 2, width // 2
            layers[f"bn{i}"] = nn.BatchNorm2d(out)
            layers[f"relu{i}"] = nn.ReLU(inplace=True)
            channels = out
        self.features = nn.Sequential(layers)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels * height * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.features(x)  # (N, C', H', W'): (N, 96, 3, 3) for the default on 28x28
        return self.fc(self.flatten(x))  # (N, num_classes)


# The name the registry of earlier releases looked up; ``build_model("reference")`` builds it.
ReferenceCNN = ReferenceNet


def keras_reference(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | Sequence[int] = 28,
    *,
    blocks: Sequence[tuple[int, bool]] = BLOCKS,
    name: str = "reference",
) -> keras.Model:
    """The Keras twin of :class:`ReferenceNet`: same layers, order and trainable parameters.

    Takes ``(N, H, W, C)`` floats. BatchNorm uses PyTorch's epsilon and momentum so the
    twins compute the same function once :mod:`cnncourse.interop` copies the weights.
    (Keras also counts BatchNorm's moving mean/variance as non-trainable weights.)
    """
    blocks = _check_blocks(blocks)
    pools = sum(pool for _, pool in blocks)
    keras, inputs, classes = keras_input(in_channels, num_classes, image_size, min_size=2**pools)
    layers = keras.layers
    x = inputs
    for i, (out, pool) in enumerate(blocks, start=1):
        x = layers.Conv2D(out, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        if pool:
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)  # (N, H/2, W/2, out)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(classes, name="fc")(x)  # (N, num_classes) logits
    return keras.Model(inputs, outputs, name=name)


def __getattr__(name: str):
    # Recipe, REFERENCE_RECIPE and SHORT_RECIPE moved to cnncourse.train.recipes
    return _compat.resolve(__name__, name)
