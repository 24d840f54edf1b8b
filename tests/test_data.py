"""cnncourse.data: real Fashion-MNIST, resolution order, downloads over loopback, bad files."""

from __future__ import annotations

import dataclasses
import gzip

import numpy as np
import pytest
from conftest import cifar_archive_bytes, idx_bytes, md5

from cnncourse import data
from cnncourse.data import (
    ChecksumError,
    DataFormatError,
    DataNotFoundError,
    DatasetSpec,
    ImageSet,
    RemoteFile,
    load,
    read_idx,
)
from cnncourse.data.registry import CIFAR10, FASHION_MNIST, MNIST


def fake_spec(files: dict[str, bytes], base: str, **changes) -> DatasetSpec:
    """An MNIST-like spec whose checksums are those of ``files``."""
    remotes = {name: RemoteFile(name, md5(blob)) for name, blob in files.items()}
    spec = dataclasses.replace(
        MNIST,
        name="fake_mnist",
        mirrors=(base,),
        splits={
            "train": (
                remotes["train-images-idx3-ubyte.gz"],
                remotes["train-labels-idx1-ubyte.gz"],
            ),
            "test": (remotes["t10k-images-idx3-ubyte.gz"], remotes["t10k-labels-idx1-ubyte.gz"]),
        },
    )
    return dataclasses.replace(spec, **changes)


# ---- the real data -----------------------------------------------------------------


def test_fashion_mnist_is_the_real_dataset(fashion_test):
    assert fashion_test.images.shape == (10_000, 28, 28, 1)
    assert fashion_test.images.dtype == np.uint8
    assert fashion_test.class_names[0] == "T-shirt/top" and fashion_test.num_classes == 10
    # The test split is balanced: exactly 1,000 images per class.
    assert np.bincount(fashion_test.labels).tolist() == [1000] * 10
    # Real photos, not noise: the corner pixel is background (black) in almost every image.
    assert (fashion_test.images[:, 0, 0, 0] == 0).mean() > 0.95
    assert fashion_test.images.mean() > 50


def test_every_registered_split_lists_images_then_labels():
    for spec in (FASHION_MNIST, MNIST):
        for split, (images, labels) in spec.splits.items():
            assert "images" in images.filename and "labels" in labels.filename, split
    assert set(data.DATASETS) == {"fashion_mnist", "mnist", "cifar10"}


def test_unknown_dataset_and_split_are_rejected_with_choices():
    with pytest.raises(ValueError, match="choose one of .*fashion_mnist"):
        load("imagenet")
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        load("fashion_mnist", "validation")
    assert data.get_spec("Fashion-MNIST") is FASHION_MNIST


# ---- resolution order and verification ---------------------------------------------


def test_env_folder_wins_and_a_corrupt_copy_there_is_skipped(
    tmp_path, monkeypatch, fake_mnist_files
):
    files, arrays = fake_mnist_files
    spec = fake_spec(files, "http://127.0.0.1:9/")
    good, bad = tmp_path / "good", tmp_path / "bad" / "fake_mnist"
    good.mkdir()
    bad.mkdir(parents=True)
    for name, blob in files.items():
        (good / name).write_bytes(blob)
        (bad / name).write_bytes(blob[:-10])  # truncated: fails its checksum
    monkeypatch.setenv("CNNCOURSE_CACHE", str(good))  # cache holds <cache>/<name>/..., so unused
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "bad"))
    with pytest.raises(DataNotFoundError) as err:
        load(spec, "test", download=False)
    assert "rejected (checksum mismatch" in str(err.value)
    monkeypatch.setenv("CNNCOURSE_DATA", str(good))  # files directly in the folder also count
    test = load(spec, "test", download=False)
    np.testing.assert_array_equal(test.images[..., 0], arrays["t10k-images-idx3-ubyte.gz"])


def test_recompressed_copy_verifies_by_its_decompressed_bytes(
    tmp_path, isolated_data, monkeypatch
):
    payload = idx_bytes(np.arange(20, dtype=np.uint8).reshape(2, 2, 5))
    official = gzip.compress(payload, compresslevel=9, mtime=0)
    repacked = gzip.compress(payload, compresslevel=1, mtime=12345)  # other bytes, same content
    assert md5(official) != md5(repacked)
    import hashlib

    remote = RemoteFile("x.gz", md5(official), hashlib.sha256(payload).hexdigest())
    path = tmp_path / "x.gz"
    path.write_bytes(repacked)
    assert data.verify(path, remote)
    path.write_bytes(gzip.compress(payload[:-1]))
    assert not data.verify(path, remote)


def test_missing_data_offline_names_every_fix(isolated_data, monkeypatch):
    spec = dataclasses.replace(FASHION_MNIST, system_dirs=(str(isolated_data / "nowhere"),))
    monkeypatch.setenv(
        "CNNCOURSE_MIRRORS", "http://127.0.0.1:9/"
    )  # a closed port: refused at once
    with pytest.raises(DataNotFoundError) as err:
        load(spec, "test")
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "CNNCOURSE_DATA" in message and "cnncourse data fetch fashion_mnist" in message
    assert "127.0.0.1:9" in message  # says which download was tried


# ---- downloads over a loopback server ---------------------------------------------------


def test_download_verifies_caches_and_is_not_repeated(
    isolated_data, http_server, fake_mnist_files
):
    folder, base, log = http_server
    files, arrays = fake_mnist_files
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
    spec = fake_spec(files, base)
    train = load(spec, "train")
    np.testing.assert_array_equal(train.labels, arrays["train-labels-idx1-ubyte.gz"])
    assert train.images.shape == (12, 28, 28, 1)
    assert len(log) == 2
    load(spec, "train")  # second time from the cache
    assert len(log) == 2
    cached = sorted(p.name for p in (isolated_data / "cache" / "fake_mnist").iterdir())
    assert cached == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_corrupt_download_leaves_nothing_behind_and_retry_works(
    isolated_data, http_server, fake_mnist_files
):
    folder, base, _ = http_server
    files, _ = fake_mnist_files
    spec = fake_spec(files, base)
    for name, blob in files.items():
        (folder / name).write_bytes(blob[: len(blob) // 2])  # an interrupted transfer
    with pytest.raises(DataNotFoundError, match="checksum mismatch"):
        load(spec, "test")
    cache = isolated_data / "cache" / "fake_mnist"
    assert list(cache.iterdir()) == []  # no partial file, no .part left over
    for name, blob in files.items():
        (folder / name).write_bytes(blob)  # the mirror recovers
    assert len(load(spec, "test")) == 5


def test_cifar10_binary_archive_is_parsed(isolated_data, http_server):
    folder, base, _ = http_server
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 12, dtype=np.int64)
    archive = cifar_archive_bytes(images, labels)
    (folder / "cifar-10-binary.tar.gz").write_bytes(archive)
    remote = RemoteFile("cifar-10-binary.tar.gz", md5(archive))
    spec = dataclasses.replace(
        CIFAR10, name="fake_cifar", mirrors=(base,), splits={"train": (remote,), "test": (remote,)}
    )
    train, test = load(spec, "train"), load(spec, "test")
    # Five train batches of two images each, then the test batch (np.array_split of 12 into 6).
    np.testing.assert_array_equal(train.images, images[:10])
    np.testing.assert_array_equal(test.labels, labels[10:])
    assert train.class_names[0] == "airplane"


# ---- malformed files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x08\x03\x00\x00" + bytes(20), "bad magic number"),
        (bytes([0, 0, 0x0D, 1]) + (4).to_bytes(4, "big") + bytes(16), "not unsigned byte"),
        (idx_bytes(np.zeros((3, 4), np.uint8))[:-2], "truncated or corrupt"),
        (gzip.compress(idx_bytes(np.zeros((3, 4), np.uint8)))[:-8], "cannot decompress"),
    ],
)
def test_malformed_idx_files_fail_with_the_file_named(tmp_path, blob, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(blob)
    with pytest.raises(DataFormatError, match=message) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_checksum_error_is_a_value_error():
    assert issubclass(ChecksumError, ValueError)


# ---- ImageSet -------------------------------------------------------------------------------


def test_imageset_subset_split_and_class_filter(fashion_test):
    small = fashion_test.subset(500, seed=3)
    assert len(small) == 500 and small.subset(500) is small
    rest, held = small.split(0.2, seed=0)
    assert (len(rest), len(held)) == (400, 100)
    assert not set(map(bytes, rest.images[:50])) & set(map(bytes, held.images))
    shoes = fashion_test.only_classes([5, 7, 9], relabel=True)
    assert shoes.class_names == ("Sandal", "Sneaker", "Ankle boot")
    assert sorted(np.unique(shoes.labels)) == [0, 1, 2] and len(shoes) == 3000


def test_imageset_rejects_inconsistent_arrays():
    images = np.zeros((4, 8, 8, 1), np.uint8)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        ImageSet(images, np.array([0, 1, 2, 0]), ("a", "b"))
    with pytest.raises(ValueError, match="uint8 of shape"):
        ImageSet(images.astype(np.float32), np.zeros(4, np.int64), ("a",))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        ImageSet(images, np.zeros(4, np.int64), ("a",)).split(1.0)


# ---- adapters ---------------------------------------------------------------------------------


def test_torch_adapters_give_nchw(fashion_test):
    images, labels = data.to_tensors(fashion_test.subset(64))
    assert tuple(images.shape) == (64, 1, 28, 28) and str(images.dtype) == "torch.uint8"
    loader = data.to_dataloader(fashion_test.subset(100), batch_size=32, shuffle=True, seed=0)
    batch, target = next(iter(loader))
    assert tuple(batch.shape) == (32, 1, 28, 28) and float(batch.max()) <= 1.0
    assert str(target.dtype) == "torch.int64"
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        data.to_dataloader(fashion_test, batch_size=0)


@pytest.mark.keras
def test_tf_dataset_gives_scaled_nhwc_batches(fashion_test):
    ds = data.to_tf_dataset(fashion_test.subset(100), batch_size=32, shuffle=True, seed=0)
    images, labels = next(iter(ds))
    assert tuple(images.shape) == (32, 28, 28, 1) and images.dtype.name == "float32"
    assert float(images.numpy().min()) >= 0.0 and float(images.numpy().max()) <= 1.0
    assert sum(int(b[1].shape[0]) for b in ds) == 100


def test_export_image_folder_round_trips_through_imagefolder(tmp_path, fashion_test):
    from torchvision.datasets import ImageFolder

    subset = fashion_test.subset(60, seed=0)
    root = data.export_image_folder(subset, tmp_path / "images")
    folder = ImageFolder(root)
    assert len(folder) == 60
    assert sorted(folder.classes) == sorted(data.folder_name(c) for c in subset.class_names)
    assert data.folder_name("T-shirt/top") == "T-shirt_top"
    image, label = folder[0]
    assert image.size == (28, 28)
    with pytest.raises(FileExistsError, match="already holds files"):
        data.export_image_folder(subset, root)
