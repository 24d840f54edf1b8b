"""A fully connected baseline, in PyTorch (:class:`MLP`) and Keras (:func:`keras_mlp`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from cnncourse.models._base import ImageClassifier, keras_input
from cnncourse.models._checks import check_widths

if TYPE_CHECKING:  # annotations only: Keras loads when a builder runs
    import keras


class MLP(ImageClassifier):
    """A fully connected baseline: flatten -> [linear -> ReLU] per hidden width -> linear.

    ``hidden`` (default 256, 128) lists the hidden widths; ``()`` gives softmax regression.
    For 1x28x28 inputs and 10 classes it has 200,960 + 32,896 + 1,290 = 235,146 parameters,
    26 times the TinyCNN's, with no notion of neighbouring pixels.

    Input ``(N, C, H, W)`` floats; output ``(N, num_classes)`` logits.
    """

    name = "mlp"

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int | Sequence[int] = 28,
        *,
        hidden: int | Sequence[int] = (256, 128),
    ) -> None:
        hidden = check_widths(hidden, "hidden", allow_empty=True)
        super().__init__(in_channels, num_classes, image_size, min_size=1)
        self.config.update(hidden=hidden)
        channels, height, width = self.input_shape
        layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
        features = channels * height * width
        for i, width_i in enumerate(hidden, start=1):
            layers[f"hidden{i}"] = nn.Linear(features, width_i)
            layers[f"relu{i}"] = nn.ReLU()
            features = width_i
        layers["fc"] = nn.Linear(features, num_classes)
        self.layers = nn.Sequential(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.layers(x)  # (N, C, H, W) -> (N, C*H*W) -> ... -> (N, num_classes)


def keras_mlp(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | Sequence[int] = 28,
    *,
    hidden: int | Sequence[int] = (256, 128),
    name: str = "mlp",
) -> keras.Model:
    """Twin of :class:`MLP`.

    Keras loads when the builder runs. Input ``(N, H, W, C)`` floats; output
    ``(N, num_classes)`` logits.
    """
    hidden = check_widths(hidden, "hidden", allow_empty=True)
    keras, inputs, classes = keras_input(in_channels, num_classes, image_size, min_size=1)
    layers = keras.layers
    x = layers.Flatten(data_format="channels_last", name="flatten")(inputs)  # (N, H*W*C)
    for i, width in enumerate(hidden, start=1):
        x = layers.Dense(width, name=f"hidden{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    outputs = layers.Dense(classes, name="fc")(x)  # (N, num_classes)
    return keras.Model(inputs, outputs, name=name)
