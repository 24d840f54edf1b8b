"""What every course model shares: the PyTorch base class and the Keras input and defaults.

:class:`ImageClassifier` remembers the input a PyTorch model was built for and checks
every batch against it. :func:`keras_input` validates a Keras builder's arguments the
same way and returns its ``keras.Input``. Keras loads only when a builder runs, through
:func:`cnncourse._frameworks.import_keras` (torchvision first).

Two defaults differ between the frameworks and are set to PyTorch's values so the twins
compute the same function: BatchNorm ``epsilon=1e-5`` (Keras: 1e-3) and ``momentum=0.9``
(Keras' momentum is one minus PyTorch's 0.1). Initialisers stay at each framework's
defaults (Keras: Glorot uniform, zero bias), which chapter 9 compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from cnncourse._frameworks import import_keras
from cnncourse.models._checks import check_config, shape_error

# PyTorch's BatchNorm2d defaults, written in Keras' convention (momentum = 1 - 0.1).
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


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


def keras_input(in_channels: int, num_classes: int, image_size, min_size: int):
    """Validate like the PyTorch twin; return ``(keras, keras.Input, num_classes)``.

    The input takes ``(N, H, W, C)`` images and is named ``images``.
    """
    channels, classes, (height, width) = check_config(
        in_channels, num_classes, image_size, min_size=min_size
    )
    keras = import_keras()
    return keras, keras.Input(shape=(height, width, channels), name="images"), classes
