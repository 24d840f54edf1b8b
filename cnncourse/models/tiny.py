"""The seed tutorial's small CNN, in PyTorch (:class:`TinyCNN`) and Keras (:func:`keras_tiny_cnn`).

The twins have the same layers in the same order with matching names, so their
parameter counts agree and :mod:`cnncourse.interop` can copy weights across.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from cnncourse.models._base import ImageClassifier, keras_input

if TYPE_CHECKING:  # annotations only: Keras loads when a builder runs
    import keras


class TinyCNN(ImageClassifier):
    """The seed tutorial's small CNN: two 3x3 convolutions, each followed by ReLU and 2x2 max pooling.

    conv(8) -> ReLU -> maxpool 2 -> conv(16) -> ReLU -> maxpool 2 -> flatten -> linear.

    Padding is 1 ("same"): the convolutions keep the image size, so only the poolings
    shrink it (28 -> 14 -> 7) and the flatten size is simply ``16 * (H // 4) * (W // 4)``;
    border pixels take part in as many windows as central ones; and for a 3x3 kernel at
    stride 1 PyTorch's ``padding=1`` is exactly Keras' ``padding="same"``, so the twins agree.
    For 1x28x28 inputs and 10 classes it has 80 + 1,168 + 7,850 = 9,098 parameters.

    Input ``(N, C, H, W)`` floats; output ``(N, num_classes)`` logits.
    """

    name = "tiny"

    def __init__(
        self, in_channels: int = 1, num_classes: int = 10, image_size: int | Sequence[int] = 28
    ) -> None:
        super().__init__(in_channels, num_classes, image_size, min_size=4)
        channels, height, width = self.input_shape
        self.conv1 = nn.Conv2d(channels, 8, kernel_size=3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16 * (height // 4) * (width // 4), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.pool1(self.relu1(self.conv1(x)))  # (N, 8, H/2, W/2)
        x = self.pool2(self.relu2(self.conv2(x)))  # (N, 16, H/4, W/4)
        x = self.flatten(x)  # (N, 16 * H/4 * W/4), channel-major order
        return self.fc(x)  # (N, num_classes)


def keras_tiny_cnn(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | Sequence[int] = 28,
    *,
    name: str = "tiny_cnn",
) -> keras.Model:
    """Twin of :class:`TinyCNN` (padding "same": see there).

    conv(8) -> ReLU -> maxpool 2 -> conv(16) -> ReLU -> maxpool 2 -> flatten -> dense.

    Keras loads when the builder runs. Input ``(N, H, W, C)`` floats; output
    ``(N, num_classes)`` logits.
    """
    keras, inputs, classes = keras_input(in_channels, num_classes, image_size, min_size=4)
    layers = keras.layers
    x = layers.Conv2D(8, 3, padding="same", data_format="channels_last", name="conv1")(inputs)
    x = layers.ReLU(name="relu1")(x)
    x = layers.MaxPooling2D(2, data_format="channels_last", name="pool1")(x)  # (N, H/2, W/2, 8)
    x = layers.Conv2D(16, 3, padding="same", data_format="channels_last", name="conv2")(x)
    x = layers.ReLU(name="relu2")(x)
    x = layers.MaxPooling2D(2, data_format="channels_last", name="pool2")(x)  # (N, H/4, W/4, 16)
    x = layers.Flatten(data_format="channels_last", name="flatten")(
        x
    )  # (N, H/4 * W/4 * 16), channel-minor order
    outputs = layers.Dense(classes, name="fc")(x)  # (N, num_classes)
    return keras.Model(inputs, outputs, name=name)
