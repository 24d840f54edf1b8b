"""The datasets the course knows: their files, checksums, mirrors and class names.

Checksums are data, kept here and nowhere else. Each file has the MD5 of the
archive the official mirrors serve; Fashion-MNIST files also carry the SHA-256 of
their decompressed bytes, because Debian's packaged copy is recompressed (other
``.gz`` bytes, same images) and must verify too.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name, where it belongs and how to verify it."""

    filename: str
    md5: str
    raw_sha256: str | None = None  # SHA-256 of the decompressed payload, when known


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to resolve, verify and parse one dataset."""

    name: str
    format: str  # "idx" (MNIST family) or "cifar-binary"
    class_names: tuple[str, ...]
    splits: dict[str, tuple[RemoteFile, ...]]  # split -> (images, labels) or archive
    mirrors: tuple[str, ...]
    image_shape: tuple[int, int, int]  # (H, W, C)
    system_dirs: tuple[str, ...] = ()
    system_hint: str = ""
    split_sizes: dict[str, int] = field(default_factory=dict)


FASHION_MNIST = DatasetSpec(
    name="fashion_mnist",
    format="idx",
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    splits={
        "train": (
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "25c81989df183df01b3e8a0aad5dffbe",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            ),
        ),
        "test": (
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "bef4ecab320f06d8554ea6380940ec79",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "bb300cfdad3c16e7a12a480ee83cd310",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ),
        ),
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    image_shape=(28, 28, 1),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    system_hint="sudo apt-get install dataset-fashion-mnist",
    split_sizes={"train": 60_000, "test": 10_000},
)

MNIST = DatasetSpec(
    name="mnist",
    format="idx",
    class_names=tuple(str(d) for d in range(10)),
    splits={
        "train": (
            RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ),
        "test": (
            RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    image_shape=(28, 28, 1),
    split_sizes={"train": 60_000, "test": 10_000},
)

_CIFAR_ARCHIVE = RemoteFile("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530")

CIFAR10 = DatasetSpec(
    name="cifar10",
    format="cifar-binary",
    class_names=(
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
    splits={"train": (_CIFAR_ARCHIVE,), "test": (_CIFAR_ARCHIVE,)},
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    image_shape=(32, 32, 3),
    split_sizes={"train": 50_000, "test": 10_000},
)

DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (FASHION_MNIST, MNIST, CIFAR10)}
SPLITS = ("train", "test")


def get_spec(name: str | DatasetSpec) -> DatasetSpec:
    """Look a dataset up by name (``"fashion_mnist"``, ``"mnist"``, ``"cifar10"``)."""
    if isinstance(name, DatasetSpec):
        return name
    key = str(name).strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}.")
    return DATASETS[key]
