"""Import TensorFlow/Keras safely beside PyTorch.

With TensorFlow 2.21 and torchvision 0.29, importing torchvision *after*
TensorFlow kills the process (a segfault while torchvision registers its C++
operators); the other order is fine. Every module of the package that needs
Keras or TensorFlow imports it through :func:`import_keras` / :func:`import_tf`,
which load torchvision first.
"""

from __future__ import annotations

import contextlib
import os


def _torchvision_first() -> None:
    os.environ.setdefault(
        "TF_CPP_MIN_LOG_LEVEL", "3"
    )  # hide what TensorFlow logs through its own logging
    with contextlib.suppress(ImportError):  # a Keras-only install: nothing to protect
        import torchvision  # noqa: F401


def import_keras():
    """The ``keras`` module, imported after torchvision (see the module docstring)."""
    _torchvision_first()
    import keras

    return keras


def import_tf():
    """The ``tensorflow`` module, imported after torchvision (see the module docstring)."""
    _torchvision_first()
    import tensorflow as tf

    return tf
