"""``ImageSet``: a dataset split held in memory, and ``load`` that builds one.

Images are uint8 ``(N, H, W, C)`` (the layout Keras and image files use);
adapters convert to PyTorch's ``(N, C, H, W)`` floats only when batches are made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnncourse.data.fetch import resolve
from cnncourse.data.formats import DataFormatError, read_cifar_binary, read_idx
from cnncourse.data.registry import SPLITS, DatasetSpec, get_spec


@dataclass(frozen=True)
class ImageSet:
    """Images ``(N, H, W, C)`` uint8, labels ``(N,)`` int64 and the class names."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            hint = (
                " Float images in [0, 1] become uint8 by (images * 255).round().astype(np.uint8)."
                if np.issubdtype(self.images.dtype, np.floating)
                else ""
            )
            raise ValueError(
                f"images must be uint8 of shape (N, H, W, C); got {self.images.dtype} "
                f"{self.images.shape}.{hint}"
            )
        object.__setattr__(self, "labels", _class_indices(np.asarray(self.labels)))
        if self.labels.shape != (len(self.images),):
            raise ValueError(
                f"labels must have shape ({len(self.images)},); got {self.labels.shape}."
            )
        if len(self.labels) and (
            self.labels.min() < 0 or self.labels.max() >= len(self.class_names)
        ):
            raise ValueError(
                f"labels must lie in [0, {len(self.class_names) - 1}]; got "
                f"[{self.labels.min()}, {self.labels.max()}]."
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def take(self, indices) -> ImageSet:
        """A new ImageSet with the samples at ``indices`` (any NumPy index)."""
        return ImageSet(self.images[indices], self.labels[indices], self.class_names, self.name)

    def subset(self, n: int | None, *, seed: int = 0) -> ImageSet:
        """``n`` samples drawn at random without replacement (all of them for ``None``)."""
        if n is None or n >= len(self):
            return self
        if n <= 0:
            raise ValueError(f"subset size must be positive, got {n}.")
        order = np.random.default_rng(seed).permutation(len(self))[:n]
        return self.take(np.sort(order))

    def split(self, fraction: float, *, seed: int = 0) -> tuple[ImageSet, ImageSet]:
        """Shuffle and cut into ``(rest, held_out)``, ``held_out`` holding ``fraction``."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction}.")
        order = np.random.default_rng(seed).permutation(len(self))
        cut = int(round(len(self) * (1.0 - fraction)))
        return self.take(np.sort(order[:cut])), self.take(np.sort(order[cut:]))

    def only_classes(self, classes, *, relabel: bool = False) -> ImageSet:
        """Keep only samples of ``classes``; with ``relabel`` number them 0..k-1."""
        classes = list(classes)
        keep = np.isin(self.labels, classes)
        subset = self.take(keep)
        if not relabel:
            return subset
        mapping = np.full(self.num_classes, -1, dtype=np.int64)
        mapping[classes] = np.arange(len(classes))
        names = tuple(self.class_names[c] for c in classes)
        return ImageSet(subset.images, mapping[subset.labels], names, self.name)


def _class_indices(labels: np.ndarray) -> np.ndarray:
    """``labels`` as int64; other integer types and whole-number floats are converted."""
    if labels.dtype == np.int64:
        return labels
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.number):
        raise ValueError(f"labels must be integer class indices, got {labels.dtype}.")
    if np.issubdtype(labels.dtype, np.floating) and not (
        np.isfinite(labels).all() and (labels == np.round(labels)).all()
    ):
        raise ValueError(
            f"labels are {labels.dtype} and not all whole numbers; pass class indices 0..K-1 "
            "(probabilities or one-hot rows need .argmax(axis=1) first)."
        )
    if np.issubdtype(labels.dtype, np.complexfloating):
        raise ValueError(f"labels must be integer class indices, got {labels.dtype}.")
    return labels.astype(np.int64)


def load(
    name: str | DatasetSpec = "fashion_mnist",
    split: str = "train",
    *,
    download: bool = True,
) -> ImageSet:
    """Resolve, verify and parse one split of a dataset into an :class:`ImageSet`.

    >>> train = load("fashion_mnist", "train")   # doctest: +SKIP
    >>> train.images.shape, train.class_names[0]  # ((60000, 28, 28, 1), 'T-shirt/top')
    """
    spec = get_spec(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {list(SPLITS)}.")
    paths = [resolve(spec, remote, download=download) for remote in spec.splits[split]]
    if spec.format == "idx":
        images, labels = read_idx(paths[0]), read_idx(paths[1]).astype(np.int64)
        if images.ndim != 3 or len(images) != len(labels):
            raise DataFormatError(
                f"{paths[0]}: expected (N, H, W) images matching {len(labels)} labels, "
                f"got {images.shape}."
            )
        images = images[..., None]
    elif spec.format == "cifar-binary":
        images, labels = read_cifar_binary(paths[0], split)
    else:  # pragma: no cover - guarded by the registry
        raise ValueError(f"unknown format {spec.format!r} for {spec.name}.")
    return ImageSet(images, labels, spec.class_names, spec.name)


def locate(name: str | DatasetSpec = "fashion_mnist", *, download: bool = False) -> list[Path]:
    """Paths of every verified file of a dataset (for ``cnncourse data where``)."""
    spec = get_spec(name)
    files = {remote.filename: remote for split in SPLITS for remote in spec.splits[split]}
    return [resolve(spec, remote, download=download) for remote in files.values()]
