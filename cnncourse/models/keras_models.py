"""The course's architectures in Keras 3: twins of :mod:`cnncourse.models.torch_models`.

Each builder returns a functional ``keras.Model`` taking ``(N, H, W, C)`` images and
returning logits, with the same layers in the same order as the PyTorch class and
named layers (``conv1``, ``block2_bn1``, ``fc``...), so :mod:`cnncourse.interop` can pair them.
Keras checks the input shape itself and raises a ``ValueError`` naming the expected shape.

Two defaults differ between the frameworks and are set here to PyTorch's values so
the twins compute the same function: BatchNorm ``epsilon=1e-5`` (Keras: 1e-3) and
``momentum=0.9`` (Keras' momentum is one minus PyTorch's 0.1). Initialisers stay at
Keras' defaults (Glorot uniform, zero bias), which chapter 9 compares with PyTorch's.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnncourse._frameworks import import_keras
from cnncourse.models import check_config, check_rate, check_widths

keras = import_keras()  # torchvision first: see cnncourse._frameworks
layers = keras.layers

# PyTorch's BatchNorm2d defaults, written in Keras' convention (momentum = 1 - 0.1).
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def _input(in_channels: int, num_classes: int, image_size, min_size: int):
    """Validate like the PyTorch twin and return ``(keras.Input, num_classes, (H, W))``."""
    channels, classes, (height, width) = check_config(
        in_channels, num_classes, image_size, min_size=min_size
    )
    return keras.Input(shape=(height, width, channels), name="images"), classes, (height, width)


def keras_tiny_cnn(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | Sequence[int] = 28,
    *,
    name: str = "tiny_cnn",
) -> keras.Model:
    """Twin of :class:`~cnncourse.models.torch_models.TinyCNN` (padding "same": see there).

    conv(8) -> ReLU -> maxpool 2 -> conv(16) -> ReLU -> maxpool 2 -> flatten -> dense.

    Input ``(N, H, W, C)`` floats; output ``(N, num_classes)`` logits.
    """
    inputs, classes, _ = _input(in_channels, num_classes, image_size, min_size=4)
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
    """Twin of :class:`~cnncourse.models.torch_models.VGGNet`; the same options mean the same.

    Input ``(N, H, W, C)`` floats with ``H, W >= 2**len(widths)``; output ``(N, num_classes)`` logits.
    """
    widths = check_widths(widths, "widths", allow_empty=False)
    inputs, classes, _ = _input(in_channels, num_classes, image_size, min_size=2 ** len(widths))
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


def keras_mlp(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | Sequence[int] = 28,
    *,
    hidden: int | Sequence[int] = (256, 128),
    name: str = "mlp",
) -> keras.Model:
    """Twin of :class:`~cnncourse.models.torch_models.MLP`.

    Input ``(N, H, W, C)`` floats; output ``(N, num_classes)`` logits.
    """
    hidden = check_widths(hidden, "hidden", allow_empty=True)
    inputs, classes, _ = _input(in_channels, num_classes, image_size, min_size=1)
    x = layers.Flatten(data_format="channels_last", name="flatten")(inputs)  # (N, H*W*C)
    for i, width in enumerate(hidden, start=1):
        x = layers.Dense(width, name=f"hidden{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    outputs = layers.Dense(classes, name="fc")(x)  # (N, num_classes)
    return keras.Model(inputs, outputs, name=name)
