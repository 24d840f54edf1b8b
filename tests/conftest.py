"""Shared fixtures: fake dataset files in the real formats, a loopback HTTP server,
tiny notebooks for the grading tests, and the rule that an nbval run must cover every
chapter listed in ``_toc.yml``."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import importlib.util
import io
import os
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torchvision  # noqa: F401  (before TensorFlow: see cnncourse._frameworks)
import yaml

from cnncourse.data import load
from cnncourse.data.registry import MNIST, RemoteFile
from cnncourse.exercises.registry import GRADING_LOG_ENV
from cnncourse.exercises.student import is_myst_notebook, toc_files

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]

# One-vs-rest AUC worked example: 3 classes, 2 samples each, rows sum to 1.
ROC_TRUE = np.array([0, 0, 1, 1, 2, 2])
ROC_PROBS = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.4, 0.4, 0.2],
        [0.3, 0.6, 0.1],
        [0.5, 0.3, 0.2],
        [0.2, 0.3, 0.5],
        [0.1, 0.1, 0.8],
    ]
)
# AUC = fraction of (positive, negative) pairs ranked right, a tie counting 1/2.
# class 0: positives .7, .4 vs negatives .3 .5 .2 .1 -> 4 + 3 = 7 of 8     = 0.875
# class 1: positives .6, .3 vs negatives .2 .4 .3 .1 -> 4 + (2 + 1/2) of 8 = 0.8125
# class 2: positives .5, .8 vs negatives .1 .2 .1 .2 -> 8 of 8             = 1.0
ROC_AUCS = np.array([0.875, 0.8125, 1.0])


def write_notebook(path: Path, *cells, setup: str = "from cnncourse.exercises import check"):
    """Write a tiny Python 3 notebook: a ``setup`` cell, then ``cells`` (code text or cells).

    The grading tests build their submissions with it; nbformat is imported here, so a
    test module that needs it skips first (``pytest.importorskip("nbformat")``).
    """
    import nbformat

    new_code_cell = nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook(
        cells=[new_code_cell(c) if isinstance(c, str) else c for c in (setup, *cells)]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def toc_chapters() -> list[str]:
    """Every file named in ``_toc.yml`` (``book/intro``, ``book/why_convolutions``, ...)."""
    return toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text()))


def is_notebook_chapter(docname: str) -> bool:
    """Chapters are MyST notebooks (they carry a kernelspec); plain pages are not."""
    return is_myst_notebook((ROOT / f"{docname}.md").read_text())


def needs_keras(item) -> bool:
    """A test needs Keras when marked so, asks for a ``keras`` or ``keras_*`` fixture, or
    is the Keras case of a ``framework`` parameter."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    return (
        item.get_closest_marker("keras") is not None
        or any(n == "keras" or n.startswith("keras_") for n in getattr(item, "fixturenames", ()))
        or any(isinstance(value, str) and value == "keras" for value in params.values())
    )


@pytest.hookimpl(tryfirst=True)  # before `-m "not keras"` deselects by marker
def pytest_collection_modifyitems(session, config, items):
    """Mark every test that needs Keras ``keras`` (skipped where Keras is not installed);
    under nbval, a chapter of the table of contents that was not collected is an error."""
    keras_installed = importlib.util.find_spec("keras") is not None
    for item in items:
        if needs_keras(item):
            item.add_marker(pytest.mark.keras)
            if not keras_installed:
                item.add_marker(
                    pytest.mark.skip(reason="needs Keras: pip install cnncourse[keras]")
                )
    if not (config.getoption("nbval_lax", False) or config.getoption("nbval", False)):
        return
    collected = {Path(str(item.fspath)).resolve() for item in items}
    missing = [
        f"{doc}.ipynb"
        for doc in toc_chapters()
        if is_notebook_chapter(doc) and (ROOT / f"{doc}.ipynb").resolve() not in collected
    ]
    if missing:
        raise pytest.UsageError(
            "chapters listed in _toc.yml are missing from the nbval run: "
            + ", ".join(missing)
            + ". Pair them with `make sync` and pass book/ to pytest."
        )


# ---- shared by many test files ---------------------------------------------------------


@pytest.fixture(autouse=True)
def no_grading_log(monkeypatch):
    """Checks print verdicts only: no test writes to a grading log set on the machine."""
    monkeypatch.delenv(GRADING_LOG_ENV, raising=False)


@pytest.fixture(scope="session")
def fashion_train():
    """The real Fashion-MNIST training split (60,000 uint8 images)."""
    return load("fashion_mnist", "train")


@pytest.fixture(scope="session")
def fashion_test():
    """The real Fashion-MNIST test split (10,000 uint8 images)."""
    return load("fashion_mnist", "test")


@pytest.fixture(scope="session")
def fashion(fashion_train, fashion_test):
    """``(train, test)``: 2,000 training and 1,000 test images of the real Fashion-MNIST."""
    return fashion_train.subset(2000, seed=0), fashion_test.subset(1000, seed=0)


# ---- fake datasets in the real on-disk formats -------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file (the MNIST format)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def cifar_archive_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """A ``cifar-10-binary.tar.gz`` whose five train batches and test batch split ``images``."""
    records = np.concatenate(
        [labels[:, None].astype(np.uint8), images.transpose(0, 3, 1, 2).reshape(len(images), -1)],
        axis=1,
    )
    members = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    chunks = np.array_split(records, len(members))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, chunk in zip(members, chunks, strict=True):
            payload = chunk.tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def fake_mnist_files():
    """Gzipped IDX files of a tiny MNIST-like dataset: {filename: bytes} and the arrays."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 12, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    files = {name: gzip.compress(idx_bytes(a), mtime=0) for name, a in arrays.items()}
    return files, arrays


@pytest.fixture
def tiny_test_set(tmp_path, monkeypatch):
    """``(spec, files, env, cache)``: a 5-image test split registered as ``tiny_set``.

    ``$CNNCOURSE_DATA`` (``env``) comes first in the resolution order, then the cache;
    neither folder exists yet, so each test lays out the copies it is about.
    """
    rng = np.random.default_rng(0)
    arrays = {
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    files = {name: gzip.compress(idx_bytes(a), mtime=0) for name, a in arrays.items()}
    remotes = tuple(RemoteFile(name, md5(blob)) for name, blob in files.items())
    spec = dataclasses.replace(
        MNIST, name="tiny_set", mirrors=("http://127.0.0.1:9/",), splits={"test": remotes}
    )
    monkeypatch.setenv("CNNCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "env"))
    return spec, files, tmp_path / "env" / "tiny_set", tmp_path / "cache" / "tiny_set"


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """Empty cache, no $CNNCOURSE_DATA, no mirror override: nothing leaks in from the machine."""
    monkeypatch.setenv("CNNCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CNNCOURSE_DATA", raising=False)
    monkeypatch.delenv("CNNCOURSE_MIRRORS", raising=False)
    return tmp_path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def http_server(tmp_path):
    """Serve a folder on 127.0.0.1; yields (folder, base_url, request_log)."""
    folder = tmp_path / "served"
    folder.mkdir()
    log: list[str] = []

    class Handler(_QuietHandler):
        def do_GET(self):
            log.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}/", log
    finally:
        server.shutdown()
        server.server_close()
