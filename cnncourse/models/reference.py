"""The course's fast reference model, in PyTorch and Keras, and the recipes that train it.

Four 3x3 convolutions, each followed by BatchNorm and ReLU, with max pooling after
the first, second and fourth, then one linear layer: 87,546 parameters for 1x28x28
inputs and 10 classes, small enough to train on a laptop CPU in minutes. Cheap first
layers matter on a CPU: the only full-resolution layer is a thin convolution, and
pooling comes before its BatchNorm and ReLU.

:data:`SHORT_RECIPE` and :data:`REFERENCE_RECIPE` hold the training settings the
benchmark reuses, so "the reference run" means the same thing everywhere.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from cnncourse.models import check_config, check_widths
from cnncourse.models.torch_models import ImageClassifier

# (width, pool) per block: 28x28 -> 14 -> 7 -> 7 -> 3x3x96 features
BLOCKS = ((16, True), (32, True), (64, False), (96, True))


@dataclass(frozen=True)
class Recipe:
    """How to train the reference model: pass ``**recipe.fit_kwargs()`` to ``cnncourse.train.fit``.

    Attributes
    ----------
    epochs, batch_size, lr : int, int, float
        The run's length, batch and peak learning rate (Adam).
    scheduler : str
        The learning-rate schedule's name for ``fit`` (one-cycle: warm up, then anneal).
    flip, shift, erase : bool, int, int
        Per-sample augmentation (``BatchAugment``): random left-right flips, random
        shifts of up to ``shift`` pixels, a black ``erase`` x ``erase`` square.
    weight_decay : float
        Decoupled weight decay (AdamW when > 0; see ``default_optimizer``).
    flip_test : bool
        Judge the model by flip-averaged predictions
        (:class:`~cnncourse.models.tta.FlipAveraged`): wrap it with :meth:`for_testing`.
    fast : bool
        Train with ``fit(..., fast=True)`` (fused Adam, channels-last): the time targets
        are met that way on a CPU.
    """

    epochs: int
    batch_size: int
    lr: float
    scheduler: str = "onecycle"
    flip: bool = True
    shift: int = 0
    erase: int = 0
    weight_decay: float = 0.0
    flip_test: bool = False
    fast: bool = True

    def for_testing(self, model: nn.Module) -> nn.Module:
        """``model`` as this recipe evaluates it: flip-averaged when ``flip_test``, else as is."""
        from cnncourse.models.tta import FlipAveraged

        return FlipAveraged(model) if self.flip_test else model

    def augment(self):
        """The :class:`~cnncourse.train.BatchAugment` of this recipe (``None`` without one)."""
        from cnncourse.train.batches import BatchAugment

        if not (self.flip or self.shift or self.erase):
            return None
        return BatchAugment(flip=self.flip, shift=self.shift, erase=self.erase)

    def fit_kwargs(self) -> dict:
        """Keyword arguments for ``cnncourse.train.fit``."""
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "scheduler": self.scheduler,
            "augment": self.augment(),
            "fast": self.fast,
        }

    def as_dict(self) -> dict:
        return asdict(self)


# The long run, for the 93.5%-in-10-minutes target, judged on flip-averaged predictions;
# benchmarks/results/ holds its runs.
REFERENCE_RECIPE = Recipe(
    epochs=30,
    batch_size=128,
    lr=3e-3,
    scheduler="onecycle",
    flip=True,
    shift=1,
    weight_decay=0.1,
    flip_test=True,
)
# The short run, for the 92.5%-in-3-minutes target.
SHORT_RECIPE = Recipe(epochs=12, batch_size=128, lr=3e-3, scheduler="onecycle", flip=True, shift=0)


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


# The name the model registry (``build_model("reference")``) looks up.
ReferenceCNN = ReferenceNet


def keras_reference(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | Sequence[int] = 28,
    *,
    blocks: Sequence[tuple[int, bool]] = BLOCKS,
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
    blocks = _check_blocks(blocks)
    pools = sum(pool for _, pool in blocks)
    channels, classes, (height, width) = check_config(
        in_channels, num_classes, image_size, min_size=2**pools
    )
    inputs = keras.Input(shape=(height, width, channels), name="images")
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
