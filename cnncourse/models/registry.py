"""The registry of course models: name -> (PyTorch class, Keras builder), and ``build_model``.

Every entry is the real callable. Registering a Keras builder imports nothing heavy:
the builders import Keras only when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnncourse.models.mlp import MLP, keras_mlp
from cnncourse.models.reference import ReferenceNet, keras_reference
from cnncourse.models.tiny import TinyCNN, keras_tiny_cnn
from cnncourse.models.vgg import VGGNet, keras_vgg

FRAMEWORKS: tuple[str, ...] = ("torch", "keras")

# name -> (PyTorch class, Keras builder); both take in_channels, num_classes, image_size
REGISTRY: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "tiny": (TinyCNN, keras_tiny_cnn),
    "vgg": (VGGNet, keras_vgg),
    "mlp": (MLP, keras_mlp),
    "reference": (ReferenceNet, keras_reference),
}

MODEL_NAMES: tuple[str, ...] = tuple(REGISTRY)


def build_model(
    name: str,
    framework: str = "torch",
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | tuple[int, int] = 28,
    **kwargs: Any,
):
    """Build model ``name`` in ``framework`` ("torch" or "keras").

    Parameters
    ----------
    name : one of :data:`MODEL_NAMES`.
    framework : "torch" returns an ``nn.Module`` taking ``(N, C, H, W)``; "keras" a
        ``keras.Model`` taking ``(N, H, W, C)``.
    in_channels, num_classes, image_size : the data the model is built for; ``image_size``
        is ``H`` for square images or ``(H, W)``.
    **kwargs : model options, e.g. ``dropout=0.0, batchnorm=False`` for "vgg" or
        ``hidden=(512,)`` for "mlp".

    Examples
    --------
    >>> model = build_model("vgg", dropout=0.0)              # doctest: +SKIP
    >>> twin = build_model("vgg", "keras", dropout=0.0)      # doctest: +SKIP
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}.")
    if framework not in FRAMEWORKS:
        raise ValueError(
            f"unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}."
        )
    builder = REGISTRY[name][FRAMEWORKS.index(framework)]
    try:
        return builder(
            in_channels=in_channels, num_classes=num_classes, image_size=image_size, **kwargs
        )
    except ModuleNotFoundError as error:
        if error.name not in {"keras", "tensorflow"}:
            raise
        raise ImportError(
            f"model {name!r} for Keras needs Keras 3 and TensorFlow ({error}); install the "
            "extra: pip install 'cnncourse[keras]'."
        ) from error
