"""Small helpers every layer of the package shares: arrays, eval mode, a stopwatch, gaps.

One home each, so a fix reaches every caller: metrics, plots, deploy, the training
loop and the chapters' comparison helpers all convert tensors and switch modes here.
Nothing here imports PyTorch, TensorFlow or Keras at import time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np


def to_numpy(values: Any, name: str = "values", *, dtype: Any = None) -> np.ndarray:
    """``values`` (NumPy array, list, or a PyTorch/TensorFlow tensor on any device) as NumPy.

    Half-precision tensors (``float16``/``bfloat16``) become ``float32``: NumPy has no
    ``bfloat16``. ``dtype`` converts the result (e.g. ``np.float64`` to compare outputs).
    """
    if hasattr(values, "detach"):  # a torch.Tensor, without importing torch here
        values = values.detach().cpu()
        if values.is_floating_point() and values.element_size() < 4:
            values = values.float()
        values = values.numpy()
    elif hasattr(values, "numpy") and not isinstance(values, np.ndarray):  # a TF tensor
        values = values.numpy()
    try:
        return np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a NumPy array, a list or a tensor of numbers; "
            f"got {type(values).__name__}."
        ) from error


@contextlib.contextmanager
def evaluating(model: Any) -> Iterator[Any]:
    """Put a PyTorch module in eval mode for a ``with`` block, then restore its mode.

    BatchNorm then uses its running statistics and Dropout is off. Modules that are
    fixed in eval mode already (``torch.export`` programs refuse ``.eval()``) pass through.
    """
    was_training = getattr(model, "training", False)
    try:
        model.eval()
    except NotImplementedError:  # an exported program: nothing to switch
        yield model
        return
    try:
        yield model
    finally:
        model.train(was_training)


class Stopwatch:
    """Wall-clock time of a ``with`` block, in seconds.

    >>> with Stopwatch() as watch:
    ...     pass
    >>> watch.seconds >= 0
    True

    Inside the block ``seconds`` is the time so far; after it, the block's duration.
    """

    def __init__(self) -> None:
        self._start: float | None = None
        self._stop: float | None = None

    def __enter__(self) -> Stopwatch:
        self._start, self._stop = time.perf_counter(), None
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop = time.perf_counter()

    @property
    def seconds(self) -> float:
        if self._start is None:
            raise RuntimeError(
                "the stopwatch was never started: use it as `with Stopwatch() as w:`."
            )
        end = self._stop if self._stop is not None else time.perf_counter()
        return end - self._start

    def __repr__(self) -> str:
        if self._start is None:
            return "Stopwatch(not started)"
        return f"Stopwatch({self.seconds:.3f} s)"


def max_abs_difference(a: Any, b: Any) -> float:
    """Largest ``|a - b|`` over all entries: how far two models' outputs are apart.

    ``a`` and ``b`` may be NumPy arrays, PyTorch tensors or Keras/TensorFlow tensors of
    the same shape, e.g. logits ``(N, K)`` of a PyTorch model and of its Keras twin.
    """
    x, y = to_numpy(a, "a", dtype=np.float64), to_numpy(b, "b", dtype=np.float64)
    if x.shape != y.shape:
        hint = ""
        if x.ndim == 4 and y.ndim == 4 and sorted(x.shape) == sorted(y.shape):
            hint = (
                " They look like the same images in two layouts: move PyTorch's (N, C, H, W) "
                "to Keras' (N, H, W, C) with .permute(0, 2, 3, 1) before comparing."
            )
        raise ValueError(f"cannot compare shapes {x.shape} and {y.shape}.{hint}")
    if x.size == 0:
        raise ValueError("cannot compare empty arrays.")
    return float(np.max(np.abs(x - y)))
