"""Where and how the course runs: device, seeds, quick mode, Colab detection.

Every chapter calls these once at the top so that the same notebook runs on a
laptop CPU, in CI (quick mode) and on a Colab GPU (full mode) without edits.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import random
import sys
from collections.abc import Iterator
from typing import TypeVar

import numpy as np

from cnncourse._lazy import lazy_module_getattr

T = TypeVar("T")

QUICK_ENV = "CNNCOURSE_QUICK"
DEVICE_ENV = "CNNCOURSE_DEVICE"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_quick() -> bool:
    """True when ``CNNCOURSE_QUICK`` asks for small, fast runs (CI and ``make test``)."""
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{QUICK_ENV}={value!r} is not understood; use 1 (quick runs) or 0 (full size)."
    )


def pick(full: T, quick: T) -> T:
    """Return ``quick`` in quick mode and ``full`` otherwise.

    Chapters size their runs with it, e.g. ``epochs = pick(full=10, quick=1)``,
    so both modes execute exactly the same code path.
    """
    return quick if is_quick() else full


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def device(prefer: str | None = None):
    """The best available ``torch.device``: CUDA, then Apple's MPS, then CPU.

    ``prefer`` (or the ``CNNCOURSE_DEVICE`` environment variable) forces one,
    e.g. ``"cpu"`` to compare speeds; an unavailable choice is an error.
    """
    import torch

    wanted = (prefer or os.environ.get(DEVICE_ENV, "")).strip().lower()
    if wanted:
        if wanted.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {wanted!r} was asked for, but CUDA is not available here.")
        if wanted == "mps" and not _mps_available():
            raise ValueError("device 'mps' was asked for, but Apple's MPS is not available here.")
        if wanted.split(":")[0] not in {"cpu", "cuda", "mps"}:
            raise ValueError(f"unknown device {wanted!r}; use 'cpu', 'cuda', 'cuda:N' or 'mps'.")
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Run the enclosed PyTorch code with repeatable GPU kernels and full float32 precision.

    Two computations that are the same on paper give the same numbers on a CPU, but not
    by default on an NVIDIA GPU: cuDNN may pick a different convolution algorithm on each
    call, some of them adding partial sums in a varying order, and Ampere and newer GPUs
    run float32 convolutions in TF32 (a 10-bit mantissa, about 1e-3 relative error).
    Inside the block cuDNN uses deterministic algorithms without benchmarking, and
    convolutions and matrix products run in true float32; every setting is restored
    afterwards, also after an error. On a CPU it changes nothing. The chapters use it
    where they show that two computations agree.
    """
    import torch

    backends = torch.backends
    settings = [(backends.cudnn, "deterministic", True), (backends.cudnn, "benchmark", False)]
    conv = getattr(backends.cudnn, "conv", None)
    if hasattr(conv, "fp32_precision") and hasattr(backends.cuda.matmul, "fp32_precision"):
        # PyTorch >= 2.9 keeps the precision per backend (allow_tf32 is its legacy alias)
        settings += [
            (backends.cuda.matmul, "fp32_precision", "ieee"),
            (conv, "fp32_precision", "ieee"),
        ]
    else:
        settings += [
            (backends.cuda.matmul, "allow_tf32", False),
            (backends.cudnn, "allow_tf32", False),
        ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in settings]
    try:
        for owner, name, value in settings:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def seed_everything(seed: int = 0, *, keras: bool | None = None) -> int:
    """Seed Python, NumPy, PyTorch and (when wanted) Keras/TensorFlow with one call.

    ``keras=None`` seeds Keras only if it is already imported, so a PyTorch-only
    chapter does not pay TensorFlow's start-up time; pass ``keras=True`` to import it.
    Returns the seed, to print beside results.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeding the legacy global generator is the point
    os.environ["PYTHONHASHSEED"] = str(seed)
    import torch

    torch.manual_seed(seed)
    if keras or (keras is None and ("keras" in sys.modules or "tensorflow" in sys.modules)):
        from cnncourse._frameworks import import_keras

        import_keras().utils.set_random_seed(seed)
    return seed


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt() parameter numbers
_allocator_tuned = False


def tune_cpu_allocator(largest_block_mb: int = 32) -> bool:
    """Opt in to keeping freed tensor memory for the next training step (Linux, glibc).

    PyTorch's CPU tensors come from ``malloc``. glibc serves large blocks (a batch of
    feature maps) with fresh ``mmap`` pages and unmaps them when they are freed, so each
    training step page-faults its activations in again. Raising glibc's mmap and trim
    thresholds to ``largest_block_mb`` keeps such blocks in the heap, as jemalloc or
    tcmalloc would. The setting is process-wide, so nothing in the package calls it:
    a benchmark or a script that wants it calls it once, explicitly. It costs only memory
    the process already used. It leaves a ``MALLOC_MMAP_THRESHOLD_`` set in the
    environment alone; returns whether the thresholds are (now) raised.
    """
    global _allocator_tuned
    if _allocator_tuned:
        return True
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:  # the user chose their own setting
        return False
    libc = ctypes.CDLL("libc.so.6")
    block = largest_block_mb << 20
    _allocator_tuned = bool(
        libc.mallopt(_M_MMAP_THRESHOLD, block) and libc.mallopt(_M_TRIM_THRESHOLD, 4 * block)
    )
    return _allocator_tuned


def describe() -> dict[str, str]:
    """A short description of this machine and its libraries, for benchmark tables."""
    import torch

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpu_count": str(os.cpu_count()),
        "torch": torch.__version__,
        "device": str(device()),
        "quick": str(is_quick()),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# renamed names (get_device, set_seed) warn and still work: see cnncourse._compat
__getattr__ = lazy_module_getattr(__name__, ())[0]
