"""Datasets: resolve -> verify -> load, views for PyTorch, tf.data and image folders,
and the tools the data chapter measures pipelines with.

``load("fashion_mnist", "train")`` returns an :class:`ImageSet` of uint8 images.
:func:`to_tf_dataset` imports TensorFlow only when called (through
``cnncourse._frameworks``), so a PyTorch-only chapter never loads it.
"""

from cnncourse.data.augment import augment_samples, changed_mask
from cnncourse.data.digits import mnist_like_digits, upscaled_digits
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
from cnncourse.data.folders import (
    LabelsCsvError,
    export_image_folder,
    export_labelled_images,
    folder_name,
    read_labels_csv,
)
from cnncourse.data.formats import DataFormatError, read_cifar_binary, read_idx
from cnncourse.data.imageset import ImageSet, load, locate
from cnncourse.data.memory import dataset_bytes, format_bytes
from cnncourse.data.registry import DATASETS, DatasetSpec, RemoteFile, get_spec
from cnncourse.data.synthetic import synthetic_digit
from cnncourse.data.tf_adapters import to_tf_dataset
from cnncourse.data.throughput import Throughput, measure_throughput, throughput_table
from cnncourse.data.torch_adapters import ImageSetDataset, to_dataloader, to_tensors

__all__ = [
    "DATASETS",
    "ChecksumError",
    "DataFileRejectedWarning",
    "DataFormatError",
    "DataNotFoundError",
    "DatasetSpec",
    "ImageSet",
    "ImageSetDataset",
    "LabelsCsvError",
    "RemoteFile",
    "Throughput",
    "augment_samples",
    "cache_dir",
    "candidates",
    "changed_mask",
    "dataset_bytes",
    "export_image_folder",
    "export_labelled_images",
    "folder_name",
    "format_bytes",
    "get_spec",
    "load",
    "locate",
    "measure_throughput",
    "mnist_like_digits",
    "read_cifar_binary",
    "read_idx",
    "read_labels_csv",
    "resolve",
    "search_dirs",
    "synthetic_digit",
    "throughput_table",
    "to_dataloader",
    "to_tensors",
    "to_tf_dataset",
    "upscaled_digits",
    "verify",
]
