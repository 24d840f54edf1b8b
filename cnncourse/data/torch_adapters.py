"""PyTorch views of an :class:`ImageSet`: a per-sample ``Dataset``, a ``DataLoader``, tensors.

The per-sample ``Dataset`` is the textbook lazy pipeline (one image at a time,
transformed, then batched by the ``DataLoader``). For speed on small images the
training loop prefers :func:`to_tensors`: the whole split as one uint8 tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, Dataset

from cnncourse.data.imageset import ImageSet


def to_tensors(
    data: ImageSet, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as uint8 ``(N, C, H, W)`` and labels as int64 ``(N,)``, on ``device``."""
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(data.labels)
    return images.to(device), labels.to(device)


class ImageSetDataset(Dataset):
    """One sample at a time: ``(transform(image), label)``, image as a ``(C, H, W)`` tensor.

    Without a transform the image is float32 in ``[0, 1]``; with one, the
    transform receives the uint8 tensor (what ``torchvision.transforms.v2`` expects).
    """

    def __init__(self, data: ImageSet, transform: Callable | None = None) -> None:
        self.data = data
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(self.data.images[index]).permute(2, 0, 1)
        image = self.transform(image) if self.transform else image.float().div_(255)
        return image, int(self.data.labels[index])


def to_dataloader(
    data: ImageSet,
    batch_size: int = 64,
    *,
    shuffle: bool = False,
    transform: Callable | None = None,
    num_workers: int = 0,
    seed: int | None = None,
) -> DataLoader:
    """A ``DataLoader`` over :class:`ImageSetDataset`; ``seed`` fixes the shuffle order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(
        ImageSetDataset(data, transform),
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        generator=generator,
        persistent_workers=num_workers > 0,
    )
