"""Small helpers every layer of the package shares: arrays, eval mode, a stopwatch.

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
