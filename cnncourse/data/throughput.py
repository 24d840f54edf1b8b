"""Images per second of an input pipeline: any iterable of batches, PyTorch or TensorFlow.

The data chapter compares input pipelines (a PyTorch ``DataLoader`` with and without
worker processes, ``tf.data`` with and without prefetching, an in-memory batcher):
:func:`measure_throughput` times one, :func:`throughput_table` puts them side by side.
Only the reading is timed, so a result is the loader's ceiling, not a training speed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from cnncourse._util import Stopwatch


@dataclass(frozen=True)
class Throughput:
    """The result of :func:`measure_throughput`.

    Attributes
    ----------
    name : str
        What was measured (a row label).
    images, batches : int
        How many were read.
    seconds : float
        Wall-clock time from asking for the first batch to receiving the last.
    first_batch_seconds : float
        Time to the first batch: start-up of worker processes, graph tracing, the
        first files opened. Included in ``seconds``.
    """

    name: str
    images: int
    batches: int
    seconds: float
    first_batch_seconds: float

    @property
    def images_per_second(self) -> float:
        """Images read per second over the whole run, start-up included."""
        return self.images / self.seconds if self.seconds > 0 else float("inf")


def _batch_size(batch: Any) -> int:
    """Number of images in one batch: ``(images, labels)``, a dict, or bare images."""
    if isinstance(batch, dict):
        batch = next(iter(batch.values()))
    elif isinstance(batch, tuple | list):
        batch = batch[0]
    shape = getattr(batch, "shape", None)
    if shape is None or len(shape) == 0:
        raise TypeError(
            "each batch must be images with a leading batch axis, or a tuple (images, labels); "
            f"got {type(batch).__name__}."
        )
    return int(shape[0])


def measure_throughput(
    batches: Iterable, *, name: str = "", max_images: int | None = None
) -> Throughput:
    """Read batches from ``batches`` and time it.

    Parameters
    ----------
    batches : iterable
        Anything that yields batches ``(images (B, ...), labels (B,))`` or bare image
        batches: a ``torch.utils.data.DataLoader``, a ``tf.data.Dataset``, a
        :class:`cnncourse.train.TensorBatches`, a generator.
    name : str
        A label for the row in :func:`throughput_table`.
    max_images : int, optional
        Stop once at least this many images were read (needed for endless pipelines,
        e.g. a ``tf.data.Dataset`` with ``.repeat()``). ``None`` reads one full pass.

    Returns
    -------
    Throughput
        Images, batches, seconds and the time to the first batch. Only the reading is
        timed: nothing is trained, so this is the loader's ceiling, not a training speed.
    """
    if max_images is not None and (
        isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1
    ):
        raise ValueError(f"max_images must be a positive int or None, got {max_images!r}.")
    if not isinstance(batches, Iterable):
        raise TypeError(
            f"batches must be iterable (a DataLoader, a tf.data.Dataset, ...), got {type(batches).__name__}."
        )
    images, count, first, last = 0, 0, float("nan"), None
    with Stopwatch() as watch:
        for batch in batches:
            images += _batch_size(batch)
            count += 1
            if count == 1:
                first = watch.seconds
            last = batch
            if max_images is not None and images >= max_images:
                break
        _wait_for_gpu(last)
    seconds = watch.seconds
    if count == 0:
        raise ValueError(f"{name or 'the pipeline'} yielded no batches; is it empty?")
    return Throughput(name, images, count, seconds, first)


def _wait_for_gpu(batch: Any) -> None:
    """CUDA work is asynchronous: wait for it, or the clock stops before the batch exists."""
    first = batch[0] if isinstance(batch, tuple | list) else batch
    device = getattr(first, "device", None)
    if getattr(device, "type", None) == "cuda":
        torch.cuda.synchronize(device)


def throughput_table(results: Iterable[Throughput]) -> pd.DataFrame:
    """One row per :class:`Throughput`: images/s, time to first batch, images, batches.

    The index is each result's ``name``; a column ``relative`` divides every row's
    images/s by the first row's, so the first row is the baseline.
    """
    results = list(results)
    if not results or not all(isinstance(r, Throughput) for r in results):
        raise TypeError("throughput_table expects a non-empty list of Throughput results.")
    table = pd.DataFrame(
        {
            "images/s": [r.images_per_second for r in results],
            "first batch (s)": [r.first_batch_seconds for r in results],
            "images": [r.images for r in results],
            "batches": [r.batches for r in results],
        },
        index=pd.Index([r.name for r in results], name="pipeline"),
    )
    table["relative"] = table["images/s"] / table["images/s"].iloc[0]
    return table
