"""Parsers for the on-disk formats: IDX (MNIST family) and CIFAR-10's binary batches.

Both check their headers and sizes and name the file in every error, so a
truncated or foreign file fails loudly instead of producing garbage images.
"""

from __future__ import annotations

import gzip
import tarfile
import zlib
from pathlib import Path

import numpy as np

from cnncourse._errors import InputError

_IDX_DTYPES = {0x08: np.uint8}
_CIFAR_RECORD = 1 + 32 * 32 * 3
_CIFAR_MEMBERS = {
    "train": tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("cifar-10-batches-bin/test_batch.bin",),
}


class DataFormatError(ValueError, InputError):
    """A dataset file is readable but not in the format it claims to be."""


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
    try:
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return Path(path).read_bytes()
    except (EOFError, OSError, zlib.error) as err:
        raise DataFormatError(
            f"{path}: cannot decompress ({err}); the file is truncated or corrupt. "
            "Delete it and load again to re-fetch it."
        ) from err


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a uint8 array of its stated shape."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataFormatError(f"{path}: not an IDX file (bad magic number {data[:4].hex()}).")
    dtype_code, ndim = data[2], data[3]
    if dtype_code not in _IDX_DTYPES:
        raise DataFormatError(f"{path}: IDX element type 0x{dtype_code:02x} is not unsigned byte.")
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataFormatError(f"{path}: IDX header is truncated or declares {ndim} dimensions.")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise DataFormatError(
            f"{path}: header announces shape {shape} ({expected} bytes) but the file has "
            f"{len(data)} bytes; it is truncated or corrupt."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_cifar_binary(archive: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels (N,) from ``cifar-10-binary.tar.gz``."""
    archive = Path(archive)
    images, labels = [], []
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in _CIFAR_MEMBERS[split]:
                handle = tar.extractfile(member)
                if handle is None:
                    raise KeyError(member)
                raw = np.frombuffer(handle.read(), dtype=np.uint8)
                if raw.size == 0 or raw.size % _CIFAR_RECORD:
                    raise DataFormatError(
                        f"{archive}:{member}: size {raw.size} is not whole records."
                    )
                records = raw.reshape(-1, _CIFAR_RECORD)
                labels.append(records[:, 0].astype(np.int64))
                images.append(records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    except KeyError as err:
        raise DataFormatError(
            f"{archive}: member {err} is missing; not a CIFAR-10 binary archive."
        ) from err
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise DataFormatError(f"{archive}: cannot read the archive ({err}).") from err
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)
