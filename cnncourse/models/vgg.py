"""A VGG-style CNN, in PyTorch (:class:`VGGNet`) and Keras (:func:`keras_vgg`).

Blocks of two 3x3 convolutions with BatchNorm and ReLU, then max pooling and dropout;
global average pooling and one linear layer. Layer names match across the twins
(PyTorch ``features.block1.conv1`` is Keras ``block1_conv1``), so
:mod:`cnncourse.interop` can copy weights across.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from cnncourse.models._base import BN_EPSILON, BN_MOMENTUM, ImageClassifier, keras_input
from cnncourse.models._checks import check_rate, check_widths

if TYPE_CHECKING:  # annotations only: Keras loads when a builder runs
    import keras


def _vgg_block(
    in_channels: int, out_channels: int, batchnorm: bool, dropout: float
) -> nn.Sequential:
    """Two 3x3 convolutions (+ BatchNorm) + ReLU, then 2x2 max pooling and dropout."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, c_in in enumerate((in_channels, out_channels), start=1):
        # A conv bias before BatchNorm is wasted: BN subtracts the mean and adds its own beta.
        layers[f"conv{i}"] = nn.Conv2d(c_in, out_channels, 3, padding=1, bias=not batchnorm)
        if batchnorm:
            layers[f"bn{i}"] = nn.BatchNorm2d(out_channels)
        layers[f"relu{i}"] = nn.ReLU()
    layers["pool"] = nn.MaxPool2d(2)
    layers["dropout"] = nn.Dropout(dropout)
    return nn.Sequential(layers)


class VGGNet(ImageClassifier):
    """A VGG-style CNN: blocks of two 3x3 convolutions, BatchNorm, ReLU, max pooling, dropout.

    ``widths`` (default 32, 64, 128) sets one block per entry; each block halves H and W.
    Global average pooling then makes the head independent of the image size.
    Input ``(N, C, H, W)`` floats with ``H, W >= 2**len(widths)``; output ``(N, num_classes)`` logits.

    Parameters
    ----------
    dropout : float
        Rate after every block (0 turns it off, as the dropout chapter does).
    head_dropout : float or None
        Rate before the linear head; None means the same as ``dropout``.
    batchnorm : bool
        With BatchNorm after every convolution (then the convolutions have no
        bias, which BN's beta replaces) or without it (the BatchNorm chapter compares both).
    """

    name = "vgg"

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int | Sequence[int] = 28,
        *,
        widths: Sequence[int] = (32, 64, 128),
        dropout: float = 0.25,
        head_dropout: float | None = None,
        batchnorm: bool = True,
    ) -> None:
        widths = check_widths(widths, "widths", allow_empty=False)
        super().__init__(in_channels, num_classes, image_size, min_size=2 ** len(widths))
        dropout = check_rate(dropout, "dropout")
        head_dropout = (
            dropout if head_dropout is None else check_rate(head_dropout, "head_dropout")
        )
        self.config.update(
            widths=widths, dropout=dropout, head_dropout=head_dropout, batchnorm=bool(batchnorm)
        )
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        c_in = self.input_shape[0]
        for i, width in enumerate(widths, start=1):
            blocks[f"block{i}"] = _vgg_block(c_in, width, bool(batchnorm), dropout)
            c_in = width
        self.features = nn.Sequential(blocks)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.head_dropout = nn.Dropout(head_dropout)
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.features(x)  # (N, widths[-1], H / 2**k, W / 2**k)
        x = self.flatten(self.gap(x))  # (N, widths[-1]): one average per channel
        return self.fc(self.head_dropout(x))  # (N, num_classes)


def keras_vgg(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | Sequence[int] = 28,
    *,
    widths: Sequence[int] = (32, 64, 128),
    dropout: float = 0.25,
    head_dropout: float | None = None,
    batchnorm: bool = True,
    name: str = "vgg",
) -> keras.Model:
    """Twin of :class:`VGGNet`; the same options mean the same.

    Keras loads when the builder runs. Input ``(N, H, W, C)`` floats with
    ``H, W >= 2**len(widths)``; output ``(N, num_classes)`` logits.
    """
    widths = check_widths(widths, "widths", allow_empty=False)
    keras, inputs, classes = keras_input(
        in_channels, num_classes, image_size, min_size=2 ** len(widths)
    )
    layers = keras.layers
    dropout = check_rate(dropout, "dropout")
    head_dropout = dropout if head_dropout is None else check_rate(head_dropout, "head_dropout")
    x = inputs
    for b, width in enumerate(widths, start=1):
        for i in (1, 2):
            x = layers.Conv2D(
                width,
                3,
                padding="same",
                use_bias=not batchnorm,  # BN's beta replaces the bias
                data_format="channels_last",
                name=f"block{b}_conv{i}",
            )(x)
            if batchnorm:
                x = layers.BatchNormalization(
                    epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"block{b}_bn{i}"
                )(x)
            x = layers.ReLU(name=f"block{b}_relu{i}")(x)
        x = layers.MaxPooling2D(2, data_format="channels_last", name=f"block{b}_pool")(x)
        x = layers.Dropout(dropout, name=f"block{b}_dropout")(x)  # (N, H/2**b, W/2**b, width)
    x = layers.GlobalAveragePooling2D(data_format="channels_last", name="gap")(
        x
    )  # (N, widths[-1])
    x = layers.Dropout(head_dropout, name="head_dropout")(x)
    outputs = layers.Dense(classes, name="fc")(x)  # (N, num_classes)
    return keras.Model(inputs, outputs, name=name)
