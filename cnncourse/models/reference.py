"""The course's fast reference model, in PyTorch and Keras, and the recipe that trains it.

Three blocks of conv 3x3 -> BatchNorm -> ReLU -> max pool 2, then one linear layer:
small enough (83,050 parameters for 1x28x28 inputs and 10 classes) to train on a
laptop CPU in minutes, strong enough to pass 93% on Fashion-MNIST. Cheap first
layers matter on a CPU: pooling right after every convolution keeps the costly
full-resolution activations to one thin layer.

:data:`REFERENCE_RECIPE` holds the training settings the chapters and the
benchmark reuse, so "the reference run" means the same thing everywhere.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from cnncourse.models import check_config, check_widths
from cnncourse.models.torch_models import ImageClassifier

WIDTHS = (32, 64, 96)


@dataclass(frozen=True)
class Recipe:
    """How to train the reference model: pass ``**recipe.fit_kwargs()`` to ``cnncourse.train.fit``.

    Attributes
    ----------
    epochs, batch_size, lr : the run's length, batch and peak learning rate (Adam).
    scheduler : the learning-rate schedule's name for ``fit`` (one-cycle: warm up, then anneal).
    flip, shift : per-sample augmentation (``BatchAugment``): random left-right flips and
        random shifts of up to ``shift`` pixels.
    """

    epochs: int
    batch_size: int
    lr: float
    scheduler: str = "onecycle"
    flip: bool = True
    shift: int = 0

    def augment(self):
        """The :class:`~cnncourse.train.BatchAugment` of this recipe (``None`` without one)."""
        from cnncourse.train.batches import BatchAugment

        if not self.flip and not self.shift:
            return None
        return BatchAugment(flip=self.flip, shift=self.shift)

    def fit_kwargs(self) -> dict:
        """Keyword arguments for ``cnncourse.train.fit``."""
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "scheduler": self.scheduler,
            "augment": self.augment(),
        }

    def as_dict(self) -> dict:
        return asdict(self)


# The full run: 93.5% Fashion-MNIST test accuracy within 10 minutes on 2 CPU cores.
REFERENCE_RECIPE = Recipe(
    epochs=24, batch_size=128, lr=3e-3, scheduler="onecycle", flip=True, shift=2
)
# The short run: 92.5% within 3 minutes on the same cores.
SHORT_RECIPE = Recipe(epochs=7, batch_size=128, lr=3e-3, scheduler="onecycle", flip=True, shift=0)


class ReferenceNet(ImageClassifier):
    """conv-BN-ReLU-pool blocks of ``widths`` filters, flatten, linear; outputs logits.

    Input ``(N, C, H, W)`` floats; every block halves H and W (floor), so 28 -> 14 -> 7 -> 3
    and the linear layer sees ``96 * 3 * 3`` features. Convolutions carry no bias: the
    BatchNorm after each one subtracts the mean and adds its own shift.
    """

    name = "reference"

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int | Sequence[int] = 28,
        *,
        widths: Sequence[int] = WIDTHS,
    ) -> None:
        widths = check_widths(widths, "widths", allow_empty=False)
        super().__init__(in_channels, num_classes, image_size, min_size=2 ** len(widths))
        self.config.update(widths=widths)
        channels, height, width = self.input_shape
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        for i, out in enumerate(widths, start=1):
            blocks[f"conv{i}"] = nn.Conv2d(channels, out, 3, padding=1, bias=False)
            blocks[f"bn{i}"] = nn.BatchNorm2d(out)
            blocks[f"relu{i}"] = nn.ReLU(inplace=True)
            blocks[f"pool{i}"] = nn.MaxPool2d(2)
            channels, height, width = out, height // 2, width // 2
        self.features = nn.Sequential(blocks)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels * height * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.features(x)  # (N, widths[-1], H / 2**k, W / 2**k)
        return self.fc(self.flatten(x))  # (N, num_classes)


# The name the model registry (``build_model("reference")``) looks up.
ReferenceCNN = ReferenceNet


def keras_reference(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | Sequence[int] = 28,
    *,
    widths: Sequence[int] = WIDTHS,
    name: str = "reference",
):
    """The Keras twin of :class:`ReferenceNet`: same layers, order and trainable parameters.

    Takes ``(N, H, W, C)`` floats. BatchNorm uses PyTorch's epsilon and momentum so the
    twins compute the same function once :mod:`cnncourse.interop` copies the weights.
    (Keras also counts BatchNorm's moving mean/variance as non-trainable weights.)
    """
    from cnncourse._frameworks import import_keras

    keras = import_keras()
    from cnncourse.models.keras_models import BN_EPSILON, BN_MOMENTUM

    layers = keras.layers
    widths = check_widths(widths, "widths", allow_empty=False)
    channels, classes, (height, width) = check_config(
        in_channels, num_classes, image_size, min_size=2 ** len(widths)
    )
    inputs = keras.Input(shape=(height, width, channels), name="images")
    x = inputs
    for i, out in enumerate(widths, start=1):
        x = layers.Conv2D(out, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)  # (N, H/2**i, W/2**i, out)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(classes, name="fc")(x)  # (N, num_classes) logits
    return keras.Model(inputs, outputs, name=name)
