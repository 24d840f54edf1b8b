"""Input pipelines: memory arithmetic, loader throughput, augmentation samples, a drawn digit.

The data chapter measures and compares input pipelines (a PyTorch ``DataLoader`` with
and without worker processes, ``tf.data`` with and without prefetching, an in-memory
batcher). What it measures twice lives here:

- :func:`dataset_bytes` / :func:`format_bytes`: how much memory a dataset needs;
- :func:`measure_throughput` / :func:`throughput_table`: images per second of any
  iterable of batches, PyTorch or TensorFlow;
- :func:`changed_mask`: which images of a batch an augmentation changed;
- :func:`augment_samples`: ``n`` random versions of one image from a torchvision
  transform or a Keras preprocessing layer, for previews;
- :func:`synthetic_digit`: a digit drawn with a font, to *explain* label-changing
  augmentations (6 vs 9) where MNIST itself is not at hand. It is synthetic; say so.

Nothing here imports TensorFlow; PyTorch and Pillow are imported where used.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def dataset_bytes(num_images: int, image_shape: Sequence[int], dtype: Any = "uint8") -> int:
    """Bytes needed to hold ``num_images`` images of ``image_shape`` as ``dtype`` in memory.

    Parameters
    ----------
    num_images : int
        How many images.
    image_shape : sequence of int
        The shape of one image, e.g. ``(28, 28, 1)`` or ``(3, 224, 224)``.
    dtype : NumPy dtype or its name
        ``"uint8"`` (1 byte a value, as files decode), ``"float32"`` (4 bytes, what
        models take), ...

    Examples
    --------
    >>> dataset_bytes(70_000, (28, 28, 1))
    54880000
    >>> dataset_bytes(70_000, (28, 28, 1), "float32")
    219520000
    """
    if (
        isinstance(num_images, bool)
        or not isinstance(num_images, int | np.integer)
        or num_images < 0
    ):
        raise ValueError(f"num_images must be a non-negative int, got {num_images!r}.")
    shape = tuple(image_shape)
    if not shape or any(
        isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1 for s in shape
    ):
        raise ValueError(
            f"image_shape must be a sequence of positive ints such as (28, 28, 1), got {image_shape!r}."
        )
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError as err:
        raise TypeError(
            f"dtype {dtype!r} is not a NumPy dtype; use e.g. 'uint8' or 'float32'."
        ) from err
    return int(num_images) * math.prod(int(s) for s in shape) * itemsize


def format_bytes(num_bytes: float) -> str:
    """A byte count in decimal units with three significant digits: ``"54.9 MB"``."""
    if isinstance(num_bytes, bool) or not isinstance(num_bytes, int | float | np.number):
        raise TypeError(f"num_bytes must be a number, got {type(num_bytes).__name__}.")
    if num_bytes < 0 or not math.isfinite(num_bytes):
        raise ValueError(f"num_bytes must be a finite non-negative number, got {num_bytes!r}.")
    value, unit = float(num_bytes), 0
    while value >= 999.5 and unit < len(_UNITS) - 1:
        value, unit = value / 1000, unit + 1
    if unit == 0:
        return f"{int(value)} B"
    return f"{value:.3g} {_UNITS[unit]}"


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
    start = time.perf_counter()
    for batch in batches:
        images += _batch_size(batch)
        count += 1
        if count == 1:
            first = time.perf_counter() - start
        last = batch
        if max_images is not None and images >= max_images:
            break
    _wait_for_gpu(last)
    seconds = time.perf_counter() - start
    if count == 0:
        raise ValueError(f"{name or 'the pipeline'} yielded no batches; is it empty?")
    return Throughput(name, images, count, seconds, first)


def _wait_for_gpu(batch: Any) -> None:
    """CUDA work is asynchronous: wait for it, or the clock stops before the batch exists."""
    first = batch[0] if isinstance(batch, tuple | list) else batch
    device = getattr(first, "device", None)
    if getattr(device, "type", None) == "cuda":
        import torch

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


def _as_numpy(batch: Any) -> np.ndarray:
    if hasattr(batch, "detach"):  # a torch tensor
        return batch.detach().cpu().numpy()
    return np.asarray(batch)


def changed_mask(before: Any, after: Any) -> np.ndarray:
    """Which images of a batch differ after a transform: bool ``(B,)``.

    ``before`` and ``after`` are batches of the same shape ``(B, ...)`` (NumPy arrays,
    PyTorch or TensorFlow tensors). An image counts as changed when any value differs.
    """
    a, b = _as_numpy(before), _as_numpy(after)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(
            f"before and after must be batches (B, ...) of the same shape; got {a.shape} and {b.shape}."
        )
    return (a != b).reshape(len(a), -1).any(axis=1)


def _is_keras_layer(obj: Any) -> bool:
    return any(cls.__module__.split(".")[0] == "keras" for cls in type(obj).__mro__)


def augment_samples(
    augment: Callable, image: np.ndarray, n: int = 8, *, seed: int | None = None
) -> np.ndarray:
    """``n`` random versions of one image, as uint8 ``(n, H', W', C)``, for previews.

    Parameters
    ----------
    augment : callable
        A ``torchvision.transforms.v2`` transform (called ``n`` times on the image as a
        uint8 ``(C, H, W)`` tensor, one random draw a call) or a Keras preprocessing
        layer / ``keras.Sequential`` of them (called once on a batch of ``n`` copies
        with ``training=True``: Keras draws its parameters per image of a batch).
    image : np.ndarray
        uint8 ``(H, W, C)`` or ``(H, W)``, e.g. ``skimage.data.astronaut()``.
    n : int
        How many versions.
    seed : int, optional
        Seeds PyTorch (and Keras, when it is loaded) first, for repeatable previews.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(
            f"image must be uint8 (H, W, C) or (H, W), got {image.dtype} of shape {image.shape}."
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}.")
    if not callable(augment):
        raise TypeError(
            f"augment must be a transform or a Keras layer, got {type(augment).__name__}."
        )
    if image.ndim == 2:
        image = image[..., None]  # (H, W) -> (H, W, 1)
    if seed is not None:
        from cnncourse.runtime import seed_everything

        seed_everything(seed)
    if _is_keras_layer(augment):
        batch = np.repeat(image[None], n, axis=0).astype("float32")  # (n, H, W, C)
        out = np.asarray(augment(batch, training=True))
    else:
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)  # (C, H, W)
        versions = [augment(tensor) for _ in range(n)]
        out = torch.stack([torch.as_tensor(v) for v in versions]).permute(0, 2, 3, 1).numpy()
    if out.dtype != np.uint8:
        # Keras layers return float 0..255; transforms that scale return 0..1
        top = 1.0 if out.size and float(out.max()) <= 1.0 and image.max() > 1 else 255.0
        out = np.clip(np.rint(out * (255.0 / top)), 0, 255).astype(np.uint8)
    return out


def synthetic_digit(digit: int | str, size: int = 28) -> np.ndarray:
    """A digit drawn in white on black with Pillow's built-in font: uint8 ``(size, size, 1)``.

    Synthetic, for explaining an operation (a 6 turned upside down reads as a 9), not
    data to report results on. Drawn four times larger and scaled down, so its edges are
    smooth like a scanned digit's.
    """
    from PIL import Image, ImageDraw, ImageFont

    text = str(digit)
    if len(text) != 1 or not text.isdigit():
        raise ValueError(f"digit must be one of 0-9, got {digit!r}.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int of at least 8 pixels, got {size!r}.")
    big = 4 * size
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=int(0.8 * big))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    # centre the glyph's ink box, not the text origin
    draw.text(
        ((big - (right - left)) / 2 - left, (big - (bottom - top)) / 2 - top),
        text,
        fill=255,
        font=font,
    )
    small = canvas.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.uint8)[..., None]
