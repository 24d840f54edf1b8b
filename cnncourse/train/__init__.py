"""Training: the PyTorch loop (``fit``, ``evaluate``, ``predict``), its recipes and the Keras helpers.

PyTorch names import eagerly; the Keras helpers (``compile_classifier``,
``standard_callbacks``, ``history_frame``, ``fit_keras``) load TensorFlow only
when first used, so a PyTorch-only chapter never pays for it.
"""

from cnncourse.train.batches import BatchAugment, TensorBatches
from cnncourse.train.checkpoint import load_checkpoint, save_checkpoint
from cnncourse.train.history import COLUMNS, History
from cnncourse.train.loop import (
    default_optimizer,
    evaluate,
    fit,
    make_scheduler,
    predict,
    train_one_epoch,
)
from cnncourse.train.recipes import REFERENCE_RECIPE, SHORT_RECIPE, Recipe

KERAS_NAMES = (
    "compile_classifier",
    "standard_callbacks",
    "history_frame",
    "fit_keras",
    "EpochTimer",
)

__all__ = [
    "COLUMNS",
    "REFERENCE_RECIPE",
    "SHORT_RECIPE",
    "BatchAugment",
    "History",
    "Recipe",
    "TensorBatches",
    "default_optimizer",
    "evaluate",
    "fit",
    "load_checkpoint",
    "make_scheduler",
    "predict",
    "save_checkpoint",
    "train_one_epoch",
    *KERAS_NAMES,
]


def __getattr__(name: str):
    if name in KERAS_NAMES:
        from cnncourse.train import keras as _keras_helpers

        return getattr(_keras_helpers, name)
    raise AttributeError(f"module 'cnncourse.train' has no attribute {name!r}")
