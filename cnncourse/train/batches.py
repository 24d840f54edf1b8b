"""The fast input path: a whole split as ONE uint8 tensor on the device, batched by index.

A per-sample ``Dataset`` + ``DataLoader`` (the textbook pipeline, chapter 6) spends
most of its time in Python for 28x28 images: one ``__getitem__``, one transform and
one collate per image. Fashion-MNIST's 60,000 training images are only 47 MB as
uint8, so here they sit on the device once; every batch is a random index slice,
augmented on the whole batch at once and converted to float ``[0, 1]`` only then.

:class:`BatchAugment` draws its randomness **per sample** with masks and offsets.
(``torchvision.transforms.v2`` applied to a batched tensor would draw ONE set of
parameters for the whole batch: every image flipped, or none.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from cnncourse._util import evaluating
from cnncourse.data.imageset import ImageSet
from cnncourse.data.torch_adapters import to_tensors


@dataclass(frozen=True)
class BatchAugment:
    """Random horizontal flips, shifts and cutouts, drawn independently for every image of a batch.

    Call it on a batch ``(B, C, H, W)`` (uint8 or float); it returns a new batch of the
    same shape and dtype. ``generator`` (optional) must live on the batch's device.

    Parameters
    ----------
    flip : bool
        Flip each image left-right with probability 1/2.
    shift : int
        Largest shift in pixels, in each direction: every image is padded with
        ``shift`` zeros on all sides and cropped back at its own random offset.
    erase : int
        Side of a square set to zero (black) in every image, centred on a random pixel
        and clipped at the border ("cutout"): the network must not rely on any one
        part of the garment.
    """

    flip: bool = True
    shift: int = 0
    erase: int = 0

    def __post_init__(self) -> None:
        for name in ("shift", "erase"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(
                    f"{name} must be a non-negative int (pixels), got {value!r}; "
                    "use e.g. BatchAugment(flip=True, shift=2, erase=8)."
                )

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if images.ndim != 4:
            raise ValueError(
                f"BatchAugment expects a batch (B, C, H, W), got shape {tuple(images.shape)}."
            )
        b, _, h, w = images.shape
        if self.shift >= min(h, w) or self.erase > min(h, w):
            raise ValueError(
                f"shift={self.shift} or erase={self.erase} is too large for {h}x{w} images."
            )
        device = images.device
        if self.flip:
            # one coin per image: (B,) -> broadcast over (C, H, W)
            flip = torch.rand(b, device=device, generator=generator) < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        if self.shift:
            s = self.shift
            padded = torch.nn.functional.pad(images, (s, s, s, s))  # (B, C, H+2s, W+2s)
            dy = torch.randint(0, 2 * s + 1, (b,), device=device, generator=generator)
            dx = torch.randint(0, 2 * s + 1, (b,), device=device, generator=generator)
            rows = dy[:, None] + torch.arange(h, device=device)  # (B, H) rows to keep
            cols = dx[:, None] + torch.arange(w, device=device)  # (B, W) columns to keep
            batch = torch.arange(b, device=device)[:, None, None]  # (B, 1, 1)
            # advanced indexing puts the indexed dims first: (B, H, W, C) -> (B, C, H, W)
            picked = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
            images = picked.permute(0, 3, 1, 2).contiguous()
        if self.erase:
            images = images.masked_fill(self._holes(b, h, w, device, generator)[:, None], 0)
        return images

    def _holes(self, b: int, h: int, w: int, device, generator) -> torch.Tensor:
        """Boolean masks ``(B, H, W)``: one ``erase`` x ``erase`` square per image."""
        top = torch.randint(0, h, (b,), device=device, generator=generator) - self.erase // 2
        left = torch.randint(0, w, (b,), device=device, generator=generator) - self.erase // 2
        rows = torch.arange(h, device=device) - top[:, None]  # (B, H): row offset in the square
        cols = torch.arange(w, device=device) - left[:, None]  # (B, W)
        in_rows = (rows >= 0) & (rows < self.erase)
        in_cols = (cols >= 0) & (cols < self.erase)
        return in_rows[:, :, None] & in_cols[:, None, :]


class TensorBatches:
    """Batches ``(images float (B, C, H, W) in [0, 1], labels int64 (B,))`` from in-memory tensors.

    Parameters
    ----------
    images : torch.Tensor
        uint8 ``(N, C, H, W)`` (scaled by 1/255 per batch) or float ``(N, C, H, W)``
        (used as is). Kept on ``images.device``: put it on the GPU once.
    labels : torch.Tensor
        int64 ``(N,)`` on the same device.
    batch_size : int
        Images per batch; the last batch may be smaller.
    shuffle : bool
        A new random order every epoch (every ``iter()``); a last batch of a single
        image is then skipped, as BatchNorm cannot train on one image.
    augment : callable, optional
        Applied to each uint8 batch before scaling, e.g. :class:`BatchAugment`.
    channels_last : bool
        Return batches in ``torch.channels_last`` memory format (faster convolutions
        on CPU and on GPUs with tensor cores).
    seed : int, optional
        Seeds the shuffle order; ``None`` uses PyTorch's global generator.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int = 256,
        *,
        shuffle: bool = False,
        augment=None,
        channels_last: bool = False,
        seed: int | None = None,
    ) -> None:
        check_tensors(images, labels)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        self.images, self.labels = images, labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.channels_last = channels_last
        # shuffle on a CPU generator: the same seed gives the same order on every device
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    @classmethod
    def from_imageset(cls, data: ImageSet, device=None, **kwargs) -> TensorBatches:
        """Move the whole ImageSet to ``device`` once (uint8) and batch it from there."""
        images, labels = to_tensors(data, device)
        return cls(images, labels, **kwargs)

    def __len__(self) -> int:
        return len(self._starts())

    def _starts(self) -> range:
        n = len(self.labels)
        if self.shuffle and n > 1 and n % self.batch_size == 1:
            # a last training batch of ONE image would break BatchNorm ("expected more than
            # 1 value per channel"); it is a different random image every epoch, so skip it
            n -= 1
        return range(0, n, self.batch_size)

    def batch_sizes(self) -> list[int]:
        """The distinct batch sizes one pass yields, largest first (the last batch may be smaller)."""
        n = self._starts()
        sizes = {min(self.batch_size, n.stop - start) for start in n}
        return sorted(sizes, reverse=True)

    @property
    def num_samples(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.labels.device)
        else:
            order = None
        for start in self._starts():
            if order is None:
                x = self.images[start : start + self.batch_size]  # (B, C, H, W), a view
                y = self.labels[start : start + self.batch_size]
            else:
                idx = order[start : start + self.batch_size]
                x, y = self.images[idx], self.labels[idx]  # gathered copy
            if self.augment is not None:
                x = self.augment(x)
            if x.dtype == torch.uint8:
                x = x.float().div_(255)  # scale per batch: the split stays 1 byte/pixel
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y


def check_tensors(images: torch.Tensor, labels: torch.Tensor) -> None:
    """Raise a clear error unless ``images`` is ``(N, C, H, W)`` and ``labels`` is ``(N,)`` ints."""
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError(
            f"expected (images, labels) as torch tensors, got ({type(images).__name__}, "
            f"{type(labels).__name__}); convert with cnncourse.data.to_tensors(imageset)."
        )
    if images.ndim != 4:
        raise ValueError(
            f"images must be (N, C, H, W), got shape {tuple(images.shape)}; "
            "a NHWC array from an ImageSet needs .permute(0, 3, 1, 2) (or use to_tensors)."
        )
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise ValueError(f"images must be uint8 (0-255) or float (0-1), got {images.dtype}.")
    if labels.shape != (len(images),):
        raise ValueError(
            f"labels must have shape ({len(images)},) to match the images, got {tuple(labels.shape)}."
        )
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices, got {labels.dtype}.")
    if images.device != labels.device:
        raise ValueError(
            f"images are on {images.device} but labels on {labels.device}; move both."
        )


def as_batches(
    data,
    *,
    batch_size: int,
    device: torch.device,
    shuffle: bool = False,
    augment=None,
    channels_last: bool = False,
    seed: int | None = None,
):
    """Turn what a user passes to ``fit``/``evaluate`` into an iterable of batches.

    ``data`` may be an :class:`ImageSet`, a pair ``(images (N, C, H, W), labels (N,))``
    of tensors, a :class:`TensorBatches`, or a ``DataLoader`` (the naive path, returned
    as is; its batches are moved to ``device`` by the loop).
    """
    options = dict(
        batch_size=batch_size,
        shuffle=shuffle,
        augment=augment,
        channels_last=channels_last,
        seed=seed,
    )
    if isinstance(data, ImageSet):
        return TensorBatches.from_imageset(data, device, **options)
    if isinstance(data, tuple | list) and len(data) == 2:
        images, labels = data
        check_tensors(images, labels)
        return TensorBatches(images.to(device), labels.to(device), **options)
    if isinstance(data, TensorBatches | DataLoader):
        if augment is not None:
            raise ValueError(
                f"augment= applies to ImageSets and tensor pairs, not to a {type(data).__name__}: "
                "put the augmentation in its own pipeline (a Dataset transform, or "
                "TensorBatches(augment=...))."
            )
        return data
    raise TypeError(
        f"cannot train or evaluate on a {type(data).__name__}; pass an ImageSet "
        "(cnncourse.data.load), a pair (uint8 images (N, C, H, W), labels (N,)) of tensors, "
        "or a torch DataLoader."
    )


def check_model_fits(model: nn.Module, batches, what: str) -> int:
    """Check, before any training, that ``model`` takes these images and has an output per label.

    Runs one image through the model in eval mode (which also materialises lazy layers)
    and returns the number of classes ``K`` of its ``(1, K)`` output.
    """
    if isinstance(batches, TensorBatches):
        images, labels = batches.images[:1], batches.labels
    else:  # a DataLoader: look at its first batch, and at all labels when they are known
        images = next(iter(batches))[0][:1]
        labels = getattr(getattr(batches, "dataset", None), "data", None)
        labels = torch.as_tensor(labels.labels) if isinstance(labels, ImageSet) else None
    param = next(model.parameters(), None)
    images = images.to(param.device if param is not None else images.device)
    images = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    try:
        with evaluating(model), torch.no_grad():
            out = model(images)  # (1, K)
    except (RuntimeError, ValueError) as err:
        first = next((m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)), None)
        wants = (
            f"; its first layer {first} expects {first.in_channels} input channels"
            if isinstance(first, nn.Conv2d)
            else ""
        )
        raise ValueError(
            f"the model cannot process {what} images of shape {tuple(images.shape[1:])} "
            f"(C, H, W){wants}. Check the channel count and image size. Error: {err}"
        ) from err
    if out.ndim != 2:
        raise ValueError(f"the model must return logits (B, K), got shape {tuple(out.shape)}.")
    classes = out.shape[1]
    if labels is not None and len(labels):
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= classes:
            raise ValueError(
                f"{what} labels span [{low}, {high}] but the model has {classes} outputs "
                f"(classes 0..{classes - 1}); build the model with num_classes={high + 1}."
            )
    return classes
