"""Datasets: resolve -> verify -> load, and views for PyTorch, tf.data and image folders.

``load("fashion_mnist", "train")`` returns an :class:`ImageSet` of uint8 images.
The PyTorch and TensorFlow adapters import their framework only when called.
"""

from cnncourse.data.fetch import (
    ChecksumError,
    DataFileRejectedWarning,
    DataNotFoundError,
    cache_dir,
    candidates,
    resolve,
    search_dirs,
    verify,
)
from cnncourse.data.folders import export_image_folder, folder_name
from cnncourse.data.formats import DataFormatError, read_cifar_binary, read_idx
from cnncourse.data.imageset import ImageSet, load, locate
from cnncourse.data.registry import DATASETS, DatasetSpec, RemoteFile, get_spec

__all__ = [
    "DATASETS",
    "ChecksumError",
    "DataFileRejectedWarning",
    "DataFormatError",
    "DataNotFoundError",
    "DatasetSpec",
    "ImageSet",
    "RemoteFile",
    "cache_dir",
    "candidates",
    "export_image_folder",
    "folder_name",
    "get_spec",
    "load",
    "locate",
    "read_cifar_binary",
    "read_idx",
    "resolve",
    "search_dirs",
    "to_dataloader",
    "to_tensors",
    "to_tf_dataset",
    "verify",
]


def __getattr__(name: str):
    """Import the framework adapters lazily, so ``import cnncourse.data`` stays light."""
    if name in {"to_tensors", "to_dataloader", "ImageSetDataset"}:
        from cnncourse.data import torch_adapters

        return getattr(torch_adapters, name)
    if name == "to_tf_dataset":
        from cnncourse.data.tf_adapters import to_tf_dataset

        return to_tf_dataset
    raise AttributeError(f"module 'cnncourse.data' has no attribute {name!r}")
