"""Bad input, class 1: values no user can mean are refused (or converted) before training,
and a rejected data file is never passed over in silence."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from cnncourse.data import DataFileRejectedWarning, load
from cnncourse.train import fit
from cnncourse.train.validate import TrainingInputError

CLASSES = 3


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, CLASSES))


def pair(n: int = 12, *, dtype=torch.uint8, labels=None):
    images = torch.randint(0, 256, (n, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    labels = torch.arange(n) % CLASSES if labels is None else labels
    return images.to(dtype), labels


def train(data, **options):
    options = {"epochs": 1, "batch_size": 4, "progress": False, "device": "cpu", **options}
    return fit(tiny_model(), data, **options)


def test_float_images_in_0_255_are_refused_with_the_fix():
    with pytest.raises(TrainingInputError, match=r"values in \[0, 254\].*0..255.*Divide by 255"):
        train(pair(dtype=torch.float32))
    images, labels = pair()
    history = train((images.float() / 255, labels))  # the fix works
    assert math.isfinite(history["loss"].iloc[-1])
    standardized = (images.float() / 255 - 0.5) / 0.25  # values in [-2, 2]: still accepted
    train((standardized, labels))


def test_float_images_in_a_validation_set_are_checked_too():
    images, labels = pair(dtype=torch.float32)
    with pytest.raises(TrainingInputError, match=r"^val images"):
        train(pair(), val=(images, labels))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_images_are_refused(value):
    images, labels = pair()
    images = images.float() / 255
    images[3, 0, 1, 2] = value
    with pytest.raises(TrainingInputError, match="1 NaN or infinite value"):
        train((images, labels))


@pytest.mark.parametrize("lr", [math.inf, math.nan, -math.inf, float("1e400")])
def test_non_finite_learning_rate_is_refused(lr):
    with pytest.raises(ValueError, match="lr must be a"):
        train(pair(), lr=lr)


@pytest.mark.parametrize("lr", [0, -1e-3])
def test_non_positive_learning_rate_is_refused(lr):
    with pytest.raises(ValueError, match="lr must be a positive number"):
        train(pair(), lr=lr)


def test_a_learning_rate_above_one_warns():
    with pytest.warns(UserWarning, match="lr=5.*diverge"):
        train(pair(), lr=5.0)


@pytest.mark.parametrize("decay", [math.nan, math.inf, -0.1])
def test_non_finite_or_negative_weight_decay_is_refused(decay):
    with pytest.raises(ValueError, match="weight_decay must be a"):
        train(pair(), weight_decay=decay)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (torch.tensor([0, 1, 2, 3] * 3), r"labels span \[0, 3\] but the model has 3 outputs"),
        (torch.tensor([0, 1, -1, 2] * 3), "labels include -1"),
        (torch.tensor([0.0, 1.5, 2.0, 1.0] * 3), r"not all whole numbers \(e.g. 1.5\)"),
        (torch.tensor([0.0, math.nan, 2.0, 1.0] * 3), "not all whole numbers"),
        (torch.eye(CLASSES)[torch.arange(12) % CLASSES], r"one-hot.*argmax\(dim=1\)"),
        (torch.tensor([True, False] * 6), "labels are bool"),
    ],
)
def test_labels_that_cannot_be_class_indices_are_refused(labels, message):
    images, _ = pair()
    with pytest.raises(ValueError, match=message):
        train((images, labels))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8, torch.float32])
def test_labels_of_another_integer_type_or_whole_floats_just_work(dtype):
    images, labels = pair()
    reference = train((images, labels), seed=0)
    history = train((images, labels.to(dtype)), seed=0)
    assert history["loss"].tolist() == reference["loss"].tolist()


@pytest.mark.parametrize(
    ("option", "value"),
    [("epochs", 0), ("epochs", 2.5), ("epochs", True), ("batch_size", 0), ("batch_size", "32")],
)
def test_nonsense_epochs_and_batch_sizes_are_refused(option, value):
    with pytest.raises(ValueError, match=f"{option} must be a positive int"):
        train(pair(), **{option: value})


def test_empty_training_data_is_refused():
    images, labels = pair()
    with pytest.raises(TrainingInputError, match="no images"):
        train((images[:0], labels[:0]))


# ---- a corrupt file in $CNNCOURSE_DATA --------------------------------------------------


@pytest.fixture
def two_copies(tiny_test_set):
    """A good copy of a tiny dataset in the cache; $CNNCOURSE_DATA's copy is each test's."""
    spec, files, env, cache = tiny_test_set
    cache.mkdir(parents=True)
    env.mkdir(parents=True)
    for name, blob in files.items():
        (cache / name).write_bytes(blob)
    return spec, env, cache


def test_a_corrupt_copy_first_in_line_is_named_then_the_fallback_is_used(two_copies):
    spec, env, cache = two_copies
    corrupt = env / "t10k-images-idx3-ubyte.gz"
    corrupt.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.warns(DataFileRejectedWarning) as caught:
        data = load(spec, "test", download=False)
    assert len(data) == 5
    (message,) = [str(w.message) for w in caught]
    assert str(corrupt) in message and "checksum mismatch" in message
    assert str(cache / "t10k-images-idx3-ubyte.gz") in message  # says which copy is used


def test_a_truncated_labels_file_is_named_too(two_copies):
    spec, env, _ = two_copies
    good = (two_copies[2] / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (env / "t10k-labels-idx1-ubyte.gz").write_bytes(good[:-3])
    with pytest.warns(DataFileRejectedWarning, match="t10k-labels-idx1-ubyte.gz"):
        load(spec, "test", download=False)


def test_a_verified_copy_first_in_line_gives_no_warning(two_copies):
    spec, env, cache = two_copies
    for path in cache.iterdir():
        (env / path.name).write_bytes(path.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(spec, "test", download=False)


def test_a_dataloader_of_float_images_in_0_255_is_refused_at_its_first_batch():
    from torch.utils.data import DataLoader, TensorDataset

    images, labels = pair(dtype=torch.float32)
    loader = DataLoader(TensorDataset(images, labels), batch_size=4)
    with pytest.raises(TrainingInputError, match="the first train batch images are float"):
        fit(tiny_model(), loader, progress=False, device="cpu")
    fit(tiny_model(), DataLoader(TensorDataset(images / 255, labels), 4), progress=False)


@pytest.mark.parametrize("lr", [math.inf, math.nan, 0.0, -1.0])
def test_keras_fit_refuses_the_same_learning_rates(lr):
    from cnncourse.train.keras import fit_keras

    data = load("fashion_mnist", "test").subset(20)
    with pytest.raises(TrainingInputError, match="lr must be a"):
        fit_keras(object(), data, lr=lr)  # refused before the model is even looked at


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int16, np.float32])
def test_imageset_labels_of_another_type_become_int64(dtype):
    from cnncourse.data import ImageSet, to_tensors

    images = np.zeros((4, 4, 4, 1), dtype=np.uint8)
    data = ImageSet(images, np.array([0, 1, 2, 1], dtype=dtype), ("a", "b", "c"))
    assert data.labels.dtype == np.int64
    assert to_tensors(data)[1].dtype == torch.int64  # what the loss needs
    train(data)


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (np.zeros((2, 4, 4, 1), np.float32), [0, 1], r"\(images \* 255\).round\(\)"),
        (np.zeros((2, 4, 4, 1), np.uint8), [0.0, 0.5], "not all whole numbers"),
        (np.zeros((2, 4, 4, 1), np.uint8), [True, False], "got bool"),
        (np.zeros((2, 4, 4, 1), np.uint8), ["a", "b"], "integer class indices"),
    ],
)
def test_imageset_refuses_what_cannot_be_images_or_labels(images, labels, message):
    from cnncourse.data import ImageSet

    with pytest.raises(ValueError, match=message):
        ImageSet(images, np.array(labels), ("a", "b", "c"))
