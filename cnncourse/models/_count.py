"""``count_parameters``: the number of weights of a PyTorch or Keras model, counted alike."""

from __future__ import annotations

from typing import Any

from cnncourse.models._checks import _prod


def count_parameters(model: Any, trainable_only: bool = True) -> int:
    """Number of weights in a PyTorch or Keras model.

    ``trainable_only=True`` counts what the optimiser updates (frozen layers excluded).
    ``trainable_only=False`` also counts the state a model stores without training it,
    such as BatchNorm running mean and variance, so both frameworks agree: Keras counts
    them as non-trainable weights, PyTorch keeps them as floating-point buffers (the
    integer ``num_batches_tracked`` counter is not a weight and is left out).
    """
    if hasattr(model, "named_parameters") and hasattr(model, "buffers"):  # torch.nn.Module
        total = sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
        if not trainable_only:
            total += sum(b.numel() for b in model.buffers() if b.is_floating_point())
        return int(total)
    if hasattr(model, "trainable_weights") and hasattr(model, "weights"):  # keras.Model/Layer
        weights = model.trainable_weights if trainable_only else model.weights
        return int(sum(_prod(w.shape) for w in weights))
    raise TypeError(
        f"count_parameters expects a torch.nn.Module or a keras.Model, got {type(model).__name__}."
    )
