"""Transfer learning: a classifier as a convolutional *base* and a dense *head*.

The base (convolutions, pooling, flatten or global pooling) turns an image into a
feature vector; the head (a linear layer, maybe after dropout) turns the features
into class scores. Transfer learning keeps a base trained on one task and puts a new
head on it for another task, then trains the head alone (frozen base) or everything
at a lower learning rate (fine-tuning).

PyTorch: :func:`split_model`, :func:`with_new_head`, :class:`BaseAndHead` (with
``freeze_base`` / ``unfreeze_base``), :func:`freeze`, :func:`unfreeze`,
:func:`trainable_parameters`. Keras: :func:`keras_split_model`,
:func:`keras_with_new_head` and :func:`inference_mode_class` (Keras is imported only
when they are called), where freezing is ``base.trainable = False`` followed by
``compile``.
:func:`parameter_table` counts total and trainable parameters of each part, in either
framework.

BatchNorm needs care in PyTorch: ``requires_grad=False`` stops gradient updates,
but a BatchNorm layer in training mode still overwrites its running mean and
variance on every batch. :class:`BaseAndHead` therefore keeps its base in
inference mode (``base.eval()``) while the model trains, which is what Keras does
for a frozen BatchNorm layer; :func:`keras_with_new_head` does the same for the
whole Keras base.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import pandas as pd
import torch
from torch import nn

from cnncourse._frameworks import import_keras
from cnncourse._util import evaluating

__all__ = [
    "BaseAndHead",
    "freeze",
    "inference_mode_class",
    "keras_split_model",
    "keras_with_new_head",
    "parameter_table",
    "split_model",
    "trainable_parameters",
    "unfreeze",
    "with_new_head",
]


def freeze(module: nn.Module) -> nn.Module:
    """Stop gradient updates of every parameter of ``module``; return it.

    Running statistics of BatchNorm layers are buffers, not parameters: they still
    change in training mode. Put the module in ``eval()`` mode too (as
    :class:`BaseAndHead` does) to keep them.
    """
    _check_module(module, "freeze")
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    """Let every parameter of ``module`` be trained again; return it."""
    _check_module(module, "unfreeze")
    for parameter in module.parameters():
        parameter.requires_grad_(True)
    return module


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters an optimiser should update: those with ``requires_grad``.

    >>> optimizer = torch.optim.Adam(trainable_parameters(model), lr=1e-3)  # doctest: +SKIP
    """
    _check_module(model, "trainable_parameters")
    return [p for p in model.parameters() if p.requires_grad]


class BaseAndHead(nn.Module):
    """A classifier in two parts: ``head(base(x))``.

    Parameters
    ----------
    base : nn.Module
        Images ``(N, C, H, W)`` -> features ``(N, F)``.
    head : nn.Module
        Features ``(N, F)`` -> logits ``(N, K)``.
    base_training : bool
        Whether the base runs in training mode (dropout on, BatchNorm normalising with
        batch statistics and updating its running ones) when the model trains. The
        default, ``False``, keeps the base in inference mode whatever ``train()`` says,
        frozen or fine-tuned, as :func:`keras_with_new_head` does in Keras: with few
        labels, small noisy batches would otherwise overwrite the statistics the base
        learned on its first task.
    """

    def __init__(self, base: nn.Module, head: nn.Module, *, base_training: bool = False) -> None:
        super().__init__()
        for name, part in (("base", base), ("head", head)):
            if not isinstance(part, nn.Module):
                raise TypeError(f"{name} must be a torch.nn.Module, got {type(part).__name__}.")
        self.base = base
        self.head = head
        self.base_training = bool(base_training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, K)`` of images ``(N, C, H, W)``: the head applied to the base's features."""
        features = self.base(x)  # (N, F)
        return self.head(features)  # (N, K)

    def train(self, mode: bool = True) -> BaseAndHead:
        """Set training mode like ``nn.Module.train``, but keep the base in inference mode
        unless ``base_training`` is True."""
        super().train(mode)
        if mode and not self.base_training:
            self.base.eval()  # BatchNorm keeps its running statistics, dropout is off
        return self

    def freeze_base(self) -> BaseAndHead:
        """Train the head only: the base's parameters get no gradient."""
        freeze(self.base)
        return self

    def unfreeze_base(self) -> BaseAndHead:
        """Train base and head (fine-tuning): use a lower learning rate than for the head."""
        unfreeze(self.base)
        return self

    @property
    def base_frozen(self) -> bool:
        """True when no parameter of the base is trainable."""
        return not any(p.requires_grad for p in self.base.parameters())

    @property
    def num_features(self) -> int:
        """``F``: the length of the feature vector the base hands to the head."""
        return _last_linear(self.head, "head").in_features

    def extra_repr(self) -> str:
        return f"base_frozen={self.base_frozen}, base_training={self.base_training}"


def split_model(model: nn.Module, *, check: bool = True) -> BaseAndHead:
    """Split a sequential classifier into its base and its head, sharing the layers.

    The head is the last child module, which must be an ``nn.Linear``, with any
    ``nn.Dropout`` children right before it; the base is every earlier child, in
    order, as an ``nn.Sequential``. This fits models whose ``forward`` calls their
    children in the order they were created, as the package's ``tiny``, ``vgg`` and
    ``reference`` models do. The layers are shared, not copied: training the parts
    trains ``model``. Use :func:`with_new_head` for an independent copy.

    ``check=True`` runs one input of ``model.input_shape`` (the package models have
    it) through both and raises ``ValueError`` if they disagree.
    """
    _check_module(model, "split_model")
    if isinstance(model, BaseAndHead):
        return model
    children = list(model.named_children())
    if not children or not isinstance(children[-1][1], nn.Linear):
        last = type(children[-1][1]).__name__ if children else "nothing"
        raise ValueError(
            f"split_model needs a model whose last child module is an nn.Linear head; "
            f"{type(model).__name__} ends in {last}. Build BaseAndHead(base, head) yourself."
        )
    cut = len(children) - 1
    while cut > 0 and isinstance(children[cut - 1][1], nn.Dropout):
        cut -= 1  # dropout right before the last layer belongs to the head
    if cut == 0:
        raise ValueError(f"{type(model).__name__} has a head but no base to split off.")
    parts = BaseAndHead(
        nn.Sequential(OrderedDict(children[:cut])), nn.Sequential(OrderedDict(children[cut:]))
    )
    parts.input_shape = getattr(model, "input_shape", None)
    if check and parts.input_shape is not None:
        _check_same_function(model, parts)
    return parts


def with_new_head(
    pretrained: nn.Module,
    num_classes: int,
    *,
    dropout: float = 0.0,
    freeze_base: bool = True,
    base_training: bool = False,
) -> BaseAndHead:
    """A copy of ``pretrained``'s base with a fresh head for ``num_classes`` classes.

    Parameters
    ----------
    pretrained : nn.Module
        A trained classifier that :func:`split_model` can split, or a ``BaseAndHead``.
        It is not changed: the base is deep-copied.
    num_classes : int
        Classes of the new task.
    dropout : float
        Dropout rate before the new linear layer (0 for none).
    freeze_base : bool
        Start with the base frozen (train the head first, then ``unfreeze_base()``).
    base_training : bool
        See :class:`BaseAndHead`.

    Returns
    -------
    BaseAndHead
        The new head is ``Dropout -> Linear(F, num_classes)``, initialised by PyTorch's
        default (seed with ``torch.manual_seed`` first for repeatable runs).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a rate in [0, 1), got {dropout!r}.")
    parts = split_model(pretrained)
    features = parts.num_features
    head = nn.Sequential()
    if dropout > 0:
        head.add_module("dropout", nn.Dropout(dropout))
    head.add_module("fc", nn.Linear(features, num_classes))
    model = BaseAndHead(copy.deepcopy(parts.base), head, base_training=base_training)
    model.input_shape = getattr(parts, "input_shape", None)
    return model.freeze_base() if freeze_base else model


def parameter_table(model: Any) -> pd.DataFrame:
    """Parameters and trainable parameters of each top-level part of a model.

    Works for a PyTorch module (one row per child: ``base`` and ``head`` for a
    :class:`BaseAndHead`) and for a Keras model (one row per layer that holds weights;
    a nested base model is one row). Keras' BatchNorm moving statistics are left out,
    as PyTorch keeps them as buffers, so both frameworks count the same.

    Returns
    -------
    pandas.DataFrame
        Index: part names, then ``"total"``; columns ``parameters`` and ``trainable``.
    """
    rows: dict[str, tuple[int, int]] = {}
    if isinstance(model, nn.Module):
        for name, child in model.named_children():
            params = list(child.parameters())
            if params:
                rows[name] = (
                    sum(p.numel() for p in params),
                    sum(p.numel() for p in params if p.requires_grad),
                )
    elif hasattr(model, "layers") and hasattr(model, "trainable_weights"):
        for layer in model.layers:
            total = sum(_size(w) for w in _keras_learnable(layer))
            if total:
                trainable = sum(_size(w) for w in layer.trainable_weights)
                rows[layer.name] = (total, trainable)
    else:
        raise TypeError(
            f"parameter_table expects a torch.nn.Module or a keras.Model, got "
            f"{type(model).__name__}."
        )
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["parameters", "trainable"])
    frame.loc["total"] = frame.sum()
    return frame.astype("int64")


# --- Keras ----------------------------------------------------------------------------


def keras_split_model(model: Any, *, name: str = "base") -> tuple[Any, list[Any]]:
    """The base of a Keras classifier as its own ``keras.Model``, and its head layers.

    The head is the last layer, which must be a ``Dense``, with any ``Dropout`` layers
    right before it; the base maps the model's input to the head's input. Layers
    (and weights) are shared with ``model``, as in :func:`split_model`.

    Returns
    -------
    tuple
        ``(base, head_layers)``: ``base`` is a functional ``keras.Model`` named ``name``,
        images ``(N, H, W, C)`` -> features ``(N, F)``; ``head_layers`` lists the head's
        layers in order.
    """
    keras = import_keras()
    if not isinstance(model, keras.Model):
        raise TypeError(f"expected a keras.Model, got {type(model).__name__}.")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not layers or not isinstance(layers[-1], keras.layers.Dense):
        last = type(layers[-1]).__name__ if layers else "nothing"
        raise ValueError(
            f"keras_split_model needs a model ending in a Dense head; {model.name!r} ends in "
            f"{last}. Build the base with keras.Model(model.input, layer.output) yourself."
        )
    cut = len(layers) - 1
    while cut > 0 and isinstance(layers[cut - 1], keras.layers.Dropout):
        cut -= 1
    if cut == 0:
        raise ValueError(f"{model.name!r} has a head but no base to split off.")
    # one input as a tensor, not a one-item list: calling base(x) on a batch then
    # matches its structure (a list makes Keras warn on every call)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    base = keras.Model(inputs, layers[cut - 1].output, name=name)
    return base, layers[cut:]


def keras_with_new_head(
    pretrained: Any,
    num_classes: int,
    *,
    dropout: float = 0.0,
    freeze_base: bool = True,
    name: str = "transfer",
) -> Any:
    """A copy of a Keras classifier's base with a fresh ``Dense`` head; the twin of :func:`with_new_head`.

    The base is cloned with its weights (``pretrained`` is not changed) and wrapped
    in ``InferenceMode`` (see :func:`inference_mode_class`), so it always runs in
    inference mode, frozen or fine-tuned: BatchNorm keeps its moving statistics and
    dropout stays off, as :class:`BaseAndHead` does in PyTorch. (keras.io's recipe
    calls the base with ``training=False`` in the functional graph instead; Keras 3.15
    lets the outer ``fit`` override that recorded flag, fixed upstream by
    keras-team/keras PR #23364, so the wrapper passes it at call time.) Freeze or
    unfreeze the base with
    ``model.get_layer("base").trainable = ...``, then ``compile`` again: Keras fixes
    the trainable weights when it compiles.

    Returns
    -------
    keras.Model
        ``images (N, H, W, C) -> base -> [Dropout] -> Dense(num_classes)`` logits,
        with layers named ``"base"``, ``"head_dropout"`` and ``"fc"``.
    """
    keras = import_keras()
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a rate in [0, 1), got {dropout!r}.")
    features, _ = keras_split_model(pretrained, name="features")
    copied = keras.models.clone_model(features)
    copied.set_weights(features.get_weights())  # clone_model makes fresh weights: copy them
    base = inference_mode_class()(copied, name="base")
    base.trainable = not freeze_base
    inputs = keras.Input(shape=tuple(features.input_shape[1:]), name="images")
    x = base(inputs)  # (N, F)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="fc")(x)  # (N, num_classes) logits
    return keras.Model(inputs, outputs, name=name)


_INFERENCE_MODE = None


def inference_mode_class():
    """The Keras model class ``InferenceMode(inner)``: calls ``inner(x, training=False)``.

    Its weights are ``inner``'s, trainable or not as ``trainable`` says; only the
    mode is fixed. Registered as ``cnncourse>InferenceMode`` for ``.keras`` files
    (call this function before ``keras.models.load_model``).
    """
    global _INFERENCE_MODE
    if _INFERENCE_MODE is not None:
        return _INFERENCE_MODE
    keras = import_keras()

    @keras.saving.register_keras_serializable(package="cnncourse")
    class InferenceMode(keras.Model):
        """Runs ``inner`` in inference mode, whatever mode the outer model trains in."""

        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, inputs):
            return self.inner(inputs, training=False)  # explicit: wins over fit's training=True

        def get_config(self):
            return {
                **super().get_config(),
                "inner": keras.saving.serialize_keras_object(self.inner),
            }

        @classmethod
        def from_config(cls, config):
            inner = keras.saving.deserialize_keras_object(config.pop("inner"))
            return cls(inner, **config)

    _INFERENCE_MODE = InferenceMode
    return InferenceMode


# --- helpers --------------------------------------------------------------------------


def _check_module(module: Any, what: str) -> None:
    if not isinstance(module, nn.Module):
        hint = (
            " For Keras set layer.trainable = False instead."
            if hasattr(module, "trainable")
            else ""
        )
        raise TypeError(f"{what} expects a torch.nn.Module, got {type(module).__name__}.{hint}")


def _last_linear(module: nn.Module, name: str) -> nn.Linear:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"the {name} holds no nn.Linear layer, so its input size is unknown.")
    return linears[-1]


def _keras_learnable(layer: Any) -> Iterator[Any]:
    """A layer's weights without BatchNorm moving statistics (non-trainable by design)."""
    for weight in layer.weights:
        path = getattr(weight, "path", weight.name)
        if not any(key in path for key in ("moving_mean", "moving_variance")):
            yield weight


def _size(weight: Any) -> int:
    total = 1
    for dim in weight.shape:
        total *= int(dim)
    return total


def _check_same_function(model: nn.Module, parts: BaseAndHead) -> None:
    """Raise unless ``parts`` computes what ``model`` computes on one probe input."""
    device = next(model.parameters()).device
    probe = torch.rand(2, *parts.input_shape, generator=torch.Generator().manual_seed(0))
    # the layers are shared: restore the model's mode last, so they end in it
    with evaluating(model), evaluating(parts), torch.no_grad():
        same = torch.allclose(model(probe.to(device)), parts(probe.to(device)), atol=1e-5)
    if not same:
        raise ValueError(
            f"splitting {type(model).__name__} into its children in order does not compute "
            "the same function: its forward does more than call them one after another. "
            "Build BaseAndHead(base, head) yourself."
        )
