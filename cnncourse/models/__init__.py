"""The course's reference architectures, each in PyTorch and in Keras with the same shapes.

``build_model("tiny")`` returns a PyTorch ``nn.Module``; ``build_model("tiny", "keras")``
returns its Keras twin: the same layers in the same order, with the same parameter
count, so :mod:`cnncourse.interop` can copy weights between them. Every model outputs
logits (no softmax): pair it with ``nn.CrossEntropyLoss`` or
``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``.

PyTorch models take float ``(N, C, H, W)`` images; Keras models take ``(N, H, W, C)``.

=============  =========================================================================
name           model
=============  =========================================================================
``tiny``       two 3x3 convolutions with max pooling and one linear layer (the seed tutorial)
``vgg``        VGG-style blocks of 32/64/128 filters with BatchNorm and Dropout
``mlp``        a fully connected baseline (flatten -> 256 -> 128 -> classes)
``reference``  the course's fast reference model (``cnncourse.models.reference``)
=============  =========================================================================

:func:`load_pretrained` returns a model with weights the package ships (a slim VGG
trained on Fashion-MNIST, :mod:`~cnncourse.models.pretrained`), checksum verified.

Each architecture lives in one module with both twins (:mod:`~cnncourse.models.tiny`,
:mod:`~cnncourse.models.vgg`, :mod:`~cnncourse.models.mlp`,
:mod:`~cnncourse.models.reference`); the Keras builders import Keras only when they
run, so a PyTorch-only chapter never loads TensorFlow. Adding a model means one new
module and one line in :data:`cnncourse.models.registry.REGISTRY`.
"""

from __future__ import annotations

from cnncourse.models._base import ImageClassifier
from cnncourse.models._count import count_parameters
from cnncourse.models.mlp import MLP, keras_mlp
from cnncourse.models.pretrained import (
    PRETRAINED,
    PretrainedWeights,
    WeightsChecksumError,
    load_pretrained,
)
from cnncourse.models.reference import ReferenceNet, keras_reference
from cnncourse.models.registry import FRAMEWORKS, MODEL_NAMES, REGISTRY, build_model
from cnncourse.models.tiny import TinyCNN, keras_tiny_cnn
from cnncourse.models.tta import FlipAveraged
from cnncourse.models.vgg import VGGNet, keras_vgg

__all__ = [
    "FRAMEWORKS",
    "MLP",
    "MODEL_NAMES",
    "PRETRAINED",
    "REGISTRY",
    "FlipAveraged",
    "ImageClassifier",
    "PretrainedWeights",
    "ReferenceNet",
    "TinyCNN",
    "VGGNet",
    "WeightsChecksumError",
    "build_model",
    "count_parameters",
    "keras_mlp",
    "keras_reference",
    "keras_tiny_cnn",
    "keras_vgg",
    "load_pretrained",
]
