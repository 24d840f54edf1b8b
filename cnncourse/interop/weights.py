"""Move weights between a PyTorch model and its Keras twin, so both compute the same logits.

Twins are models built with the same weight layers in the same order (see
:mod:`cnncourse.models`). Layers are paired by position; their names only label errors.

=====================  ============================  ===================================
PyTorch                Keras                         conversion
=====================  ============================  ===================================
``Conv2d`` weight      ``Conv2D`` kernel             ``(O, I, kh, kw)`` <-> ``(kh, kw, I, O)``
``Linear`` weight      ``Dense`` kernel              ``(O, F)`` <-> ``(F, O)``
``Linear`` after a     ``Dense`` after ``Flatten``   rows reordered: PyTorch flattens
``Flatten``                                          ``(C, H, W)``, Keras ``(H, W, C)``
``BatchNorm2d``        ``BatchNormalization``        weight, bias, running mean, var <->
                                                     gamma, beta, moving mean, variance
=====================  ============================  ===================================

Like nanoGPT's ``from_pretrained``, every layer count and shape is checked before
anything is copied, and a mismatch names the layer. Settings that change the output
without changing a shape (BatchNorm epsilon or momentum, padding, stride) give a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from cnncourse._frameworks import import_keras
from cnncourse._util import to_numpy

_TORCH_KINDS = {nn.Conv2d: "Conv2D", nn.Linear: "Dense", nn.BatchNorm2d: "BatchNormalization"}


@dataclass(frozen=True)
class _Pair:
    """One PyTorch layer and its Keras twin; ``flatten_hwc`` is set for a Dense after Flatten."""

    position: int
    torch_name: str
    torch_layer: nn.Module
    keras_layer: Any
    flatten_hwc: tuple[int, int, int] | None

    @property
    def label(self) -> str:
        return (
            f"layer {self.position} (PyTorch {self.torch_name!r} {type(self.torch_layer).__name__}"
            f" <-> Keras {self.keras_layer.name!r} {type(self.keras_layer).__name__})"
        )


def torch_to_keras(torch_model: nn.Module, keras_model: Any) -> Any:
    """Copy every weight of ``torch_model`` into its twin ``keras_model``; return ``keras_model``.

    Raises ``ValueError`` naming the first layer whose type or shape does not match,
    before any weight is written.
    """
    for pair in _pairs(torch_model, keras_model):
        for t, k in _tensors(pair):
            k.assign(
                _to_keras(pair, to_numpy(t, pair.label, dtype=np.float32))
            )  # Keras casts to k.dtype
    return keras_model


def keras_to_torch(keras_model: Any, torch_model: nn.Module) -> nn.Module:
    """Copy every weight of ``keras_model`` into its twin ``torch_model``; return ``torch_model``.

    Raises ``ValueError`` naming the first layer whose type or shape does not match,
    before any weight is written.
    """
    keras = import_keras()

    with torch.no_grad():
        for pair in _pairs(torch_model, keras_model):
            for t, k in _tensors(pair):
                array = _to_torch(pair, keras.ops.convert_to_numpy(k))
                t.copy_(torch.from_numpy(np.ascontiguousarray(array)))  # casts, moves device
    return torch_model


# --- pairing and checks ---------------------------------------------------------------


def _torch_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Weight layers in registration order; any other module holding weights is an error."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}.")
    found = []
    for name, module in model.named_modules():
        if _torch_kind(module):
            found.append((name or type(module).__name__, module))
        elif any(True for _ in module.parameters(recurse=False)):
            raise TypeError(
                f"PyTorch layer {name!r} ({type(module).__name__}) holds weights, but interop "
                f"copies only {', '.join(k.__name__ for k in _TORCH_KINDS)}."
            )
    return found


def _torch_kind(module: nn.Module) -> str | None:
    """The Keras class name a PyTorch layer pairs with, or None for a layer interop skips."""
    for cls, keras_name in _TORCH_KINDS.items():
        if isinstance(module, cls):
            return keras_name
    return None


def _keras_layers(model: Any) -> list[tuple[Any, tuple[int, int, int] | None]]:
    """Keras weight layers in graph order, each with the ``(H, W, C)`` a preceding Flatten saw."""
    keras = import_keras()

    kinds = (keras.layers.Conv2D, keras.layers.Dense, keras.layers.BatchNormalization)
    if not isinstance(model, keras.Model):
        raise TypeError(f"expected a keras.Model, got {type(model).__name__}.")
    found, flatten_hwc = [], None
    for layer in _walk(model):
        if isinstance(layer, keras.layers.Flatten):
            flatten_hwc = _flatten_input_hwc(layer)
        elif isinstance(layer, kinds):
            found.append((layer, flatten_hwc if isinstance(layer, keras.layers.Dense) else None))
            flatten_hwc = None
        elif layer.weights:
            raise TypeError(
                f"Keras layer {layer.name!r} ({type(layer).__name__}) holds weights, but "
                "interop copies only Conv2D, Dense and BatchNormalization."
            )
    return found


def _walk(model: Any):
    """Layers of a Keras model, nested models opened up, in order."""
    keras = import_keras()

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _walk(layer)
        else:
            yield layer


def _flatten_input_hwc(layer: Any) -> tuple[int, int, int] | None:
    """``(H, W, C)`` of a Flatten's 4-D input (Keras flattens in that order), else None."""
    try:
        shape = tuple(layer.input.shape)
    except (AttributeError, ValueError) as error:
        raise ValueError(
            f"Keras layer {layer.name!r} has not been called on an input yet; build the Keras "
            "model from keras.Input(...) (or call it on a batch) before copying weights."
        ) from error
    if len(shape) != 4:
        return None
    _, a, b, c = shape
    # Keras' Flatten always emits (H, W, C) order; with channels_first its input is (C, H, W).
    return (b, c, a) if layer.data_format == "channels_first" else (a, b, c)


def _pairs(torch_model: nn.Module, keras_model: Any) -> list[_Pair]:
    """Pair the layers of twins and check kinds and every shape before any copy."""
    torch_layers = _torch_layers(torch_model)
    keras_layers = _keras_layers(keras_model)
    if len(torch_layers) != len(keras_layers):
        t_names = ", ".join(f"{n} ({type(m).__name__})" for n, m in torch_layers)
        k_names = ", ".join(f"{k.name} ({type(k).__name__})" for k, _ in keras_layers)
        raise ValueError(
            f"the models are not twins: PyTorch has {len(torch_layers)} weight layers "
            f"[{t_names}] but Keras has {len(keras_layers)} [{k_names}]. Build both with "
            "the same architecture and arguments, e.g. build_model(name, 'torch', ...) and "
            "build_model(name, 'keras', ...)."
        )
    pairs = []
    for i, ((t_name, t_layer), (k_layer, hwc)) in enumerate(
        zip(torch_layers, keras_layers, strict=True), start=1
    ):
        pair = _Pair(i, t_name, t_layer, k_layer, hwc)
        expected = _torch_kind(t_layer)
        if type(k_layer).__name__ != expected:
            raise ValueError(f"{pair.label}: a {type(t_layer).__name__} needs a Keras {expected}.")
        for t, k in _tensors(pair):
            want = _to_keras(pair, np.zeros(tuple(t.shape), dtype=np.float32)).shape
            if tuple(k.shape) != want:
                raise ValueError(
                    f"{pair.label}: PyTorch {tuple(t.shape)} needs Keras {want}, but Keras "
                    f"{getattr(k, 'path', k.name)} is {tuple(k.shape)}. Build "
                    "both models with the same in_channels, num_classes, image_size and options."
                )
        _warn_on_settings(pair)
        pairs.append(pair)
    return pairs


def _tensors(pair: _Pair) -> list[tuple[torch.Tensor, Any]]:
    """The (PyTorch tensor, Keras variable) couples of one layer pair, presence checked."""
    t, k = pair.torch_layer, pair.keras_layer
    if isinstance(t, nn.BatchNorm2d):
        if t.running_mean is None:
            raise ValueError(f"{pair.label}: track_running_stats=False has no running statistics.")
        couples = [(t.weight, k.gamma), (t.bias, k.beta)]
        couples += [(t.running_mean, k.moving_mean), (t.running_var, k.moving_variance)]
        what = "affine weight/bias (PyTorch affine=, Keras scale=/center=)"
    else:
        couples = [(t.weight, k.kernel), (t.bias, k.bias)]
        what = "bias (PyTorch bias=, Keras use_bias=)"
    for a, b in couples:
        if (a is None) != (b is None):
            side = "PyTorch" if a is None else "Keras"
            raise ValueError(f"{pair.label}: the {side} layer has no {what}; set both alike.")
    return [(a, b) for a, b in couples if a is not None]


def _to_keras(pair: _Pair, array: np.ndarray) -> np.ndarray:
    """A PyTorch array in the layout of the Keras variable it is copied into."""
    if array.ndim == 4:  # conv weight (O, I, kh, kw) -> kernel (kh, kw, I, O)
        return array.transpose(2, 3, 1, 0)
    if array.ndim == 2:  # linear weight (O, F) -> kernel (F, O)
        if pair.flatten_hwc is not None:
            h, w, c = pair.flatten_hwc
            if array.shape[1] == h * w * c:  # (O, C*H*W) -> (O, H*W*C): Keras' flatten order
                array = array.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(-1, h * w * c)
        return array.T
    return array  # biases and BatchNorm vectors keep their shape


def _to_torch(pair: _Pair, array: np.ndarray) -> np.ndarray:
    """A Keras array in the layout of the PyTorch tensor it is copied into."""
    if array.ndim == 4:  # kernel (kh, kw, I, O) -> weight (O, I, kh, kw)
        return array.transpose(3, 2, 0, 1)
    if array.ndim == 2:  # kernel (F, O) -> weight (O, F)
        array = array.T
        if pair.flatten_hwc is not None:
            h, w, c = pair.flatten_hwc  # (O, H*W*C) -> (O, C*H*W): PyTorch's flatten order
            array = array.reshape(-1, h, w, c).transpose(0, 3, 1, 2).reshape(-1, c * h * w)
        return array
    return array


def _warn_on_settings(pair: _Pair) -> None:
    """Warn when settings that change outputs, but no shape, differ between the twins."""
    t, k = pair.torch_layer, pair.keras_layer
    problems = []
    if isinstance(t, nn.BatchNorm2d):
        if not np.isclose(t.eps, k.epsilon, rtol=1e-3, atol=0):
            problems.append(f"epsilon {t.eps:g} (PyTorch) vs {k.epsilon:g} (Keras)")
        # PyTorch: new = (1 - m) * old + m * batch; Keras: new = m * old + (1 - m) * batch.
        if t.momentum is None or not np.isclose(1 - t.momentum, k.momentum):
            problems.append(
                f"momentum {t.momentum} (PyTorch) vs {k.momentum:g} (Keras; matches PyTorch "
                f"when it is 1 - PyTorch's)"
            )
    elif isinstance(t, nn.Conv2d):
        if tuple(t.stride) != tuple(k.strides):
            problems.append(f"stride {tuple(t.stride)} vs {tuple(k.strides)}")
        if tuple(t.dilation) != tuple(k.dilation_rate):
            problems.append(f"dilation {tuple(t.dilation)} vs {tuple(k.dilation_rate)}")
        if t.groups != k.groups:
            problems.append(f"groups {t.groups} vs {k.groups}")
        if _torch_padding(t) != k.padding:
            problems.append(f"padding {t.padding} (PyTorch) vs {k.padding!r} (Keras)")
    if problems:
        warnings.warn(
            f"{pair.label}: {'; '.join(problems)}. The weights are copied, but the twins "
            "will not compute the same outputs until these settings agree.",
            UserWarning,
            stacklevel=4,
        )


def _torch_padding(conv: nn.Conv2d) -> str:
    """PyTorch padding in Keras' words: "valid", "same" or a description of neither."""
    if isinstance(conv.padding, str):
        return conv.padding
    if all(p == 0 for p in conv.padding):
        return "valid"
    # Symmetric "same" padding exists only at stride 1 with odd effective kernels.
    same = tuple(d * (k - 1) // 2 for k, d in zip(conv.kernel_size, conv.dilation, strict=True))
    odd = all(d * (k - 1) % 2 == 0 for k, d in zip(conv.kernel_size, conv.dilation, strict=True))
    if odd and tuple(conv.stride) == (1, 1) and tuple(conv.padding) == same:
        return "same"
    return f"explicit {tuple(conv.padding)}"
