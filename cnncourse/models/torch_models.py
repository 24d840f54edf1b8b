"""The course's architectures in PyTorch: :class:`TinyCNN`, :class:`VGGNet`, :class:`MLP`.

Each has a Keras twin in :mod:`cnncourse.models.keras_models` with the same layers in
the same order and matching names (PyTorch ``features.block1.conv1`` is Keras
``block1_conv1``), so the parameter counts agree and :mod:`cnncourse.interop` can copy
weights across. All return logits.
Initialisation is each framework's default: that difference is a chapter-9 topic.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from cnncourse.models import check_config, check_rate, check_widths, shape_error


class ImageClassifier(nn.Module):
    """Base class: remembers the input it was built for and checks every batch against it.

    Attributes
    ----------
    name : the registry name, e.g. ``"tiny"``, for ``build_model(name, **model.config)``.
    config : the constructor arguments, to store beside a checkpoint.
    input_shape : ``(C, H, W)`` of one image.
    """

    name = ""

    def __init__(
        self, in_channels: int, num_classes: int, image_size: int | Sequence[int], min_size: int
    ) -> None:
        super().__init__()
        channels, classes, (height, width) = check_config(
            in_channels, num_classes, image_size, min_size=min_size
        )
        self.input_shape = (channels, height, width)
        self.num_classes = classes
        self.config: dict[str, Any] = {
            "in_channels": channels,
            "num_classes": classes,
            "image_size": height if height == width else (height, width),
        }

    def check_input(self, x: torch.Tensor) -> None:
        """Raise before any work if ``x`` is not a float ``(N, C, H, W)`` batch this model fits."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor of images, got {type(x).__name__}.")
        if tuple(x.shape[1:]) != self.input_shape or x.ndim != 4:
            raise ValueError(shape_error(self.input_shape, tuple(x.shape), channels_first=True))
        if not x.is_floating_point():
            raise TypeError(
                f"expected float images, got {x.dtype}: convert uint8 pixels with x.float() / 255."
            )


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
