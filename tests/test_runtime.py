"""cnncourse.runtime: quick mode, device choice, seeding, Colab detection, renamed names."""

from __future__ import annotations

import random
import sys
import warnings

import numpy as np
import pytest
import torch

from cnncourse import runtime


@pytest.mark.parametrize(
    ("value", "quick"), [("1", True), ("yes", True), ("0", False), ("", False)]
)
def test_quick_mode_follows_the_environment(monkeypatch, value, quick):
    monkeypatch.setenv("CNNCOURSE_QUICK", value)
    assert runtime.is_quick() is quick
    assert runtime.pick(full=10, quick=1) == (1 if quick else 10)


def test_unclear_quick_value_is_an_error(monkeypatch):
    monkeypatch.setenv("CNNCOURSE_QUICK", "maybe")
    with pytest.raises(ValueError, match="use 1 .* or 0"):
        runtime.is_quick()


def test_device_is_cpu_here_and_forcing_cuda_fails_clearly(monkeypatch):
    monkeypatch.delenv("CNNCOURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.device().type in {"cpu", "mps"}
    with pytest.raises(ValueError, match="CUDA is not available"):
        runtime.device("cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        runtime.device("tpu")


def test_device_picks_cuda_when_present(monkeypatch):
    monkeypatch.delenv("CNNCOURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.device().type == "cuda"
    monkeypatch.setenv("CNNCOURSE_DEVICE", "cpu")
    assert runtime.device().type == "cpu"


def test_seed_everything_makes_every_generator_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()  # noqa: NPY002

    runtime.seed_everything(7)
    first = draw()
    runtime.seed_everything(7)
    assert draw() == first
    runtime.seed_everything(8)
    assert draw() != first
    with pytest.raises(ValueError, match="non-negative int"):
        runtime.seed_everything(-1)


@pytest.mark.keras
def test_seed_everything_seeds_keras_when_asked():
    runtime.seed_everything(3, keras=True)
    import keras

    first = keras.random.uniform((3,)).numpy()
    runtime.seed_everything(3, keras=True)
    np.testing.assert_array_equal(keras.random.uniform((3,)).numpy(), first)


def test_colab_detection(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert not runtime.in_colab()
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20261101")
    assert runtime.in_colab()


def test_describe_names_the_machine():
    info = runtime.describe()
    assert info["torch"] == torch.__version__ and int(info["cpu_count"]) >= 1


def test_renamed_names_still_work_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = runtime.get_device
    assert old is runtime.device
    assert any("renamed to cnncourse.runtime.device" in str(w.message) for w in caught)
    with pytest.raises(AttributeError):
        runtime.no_such_name  # noqa: B018


def test_package_imports_lazily_and_has_a_version():
    import cnncourse

    assert cnncourse.__version__.count(".") == 2
    assert cnncourse.runtime is runtime
    assert "data" in dir(cnncourse)


_FAULTS_SCRIPT = """
import resource, sys, torch
from cnncourse import runtime
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        torch.empty(2_000_000).fill_(1.0)  # 8 MB, allocated and freed like a batch of activations
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
default = faults()
tuned = runtime.tune_cpu_allocator()
faults()  # warm-up: small Python objects may split the first freed blocks, so the heap
# can grow a few more times (seen in 9 of 34 processes) before every 8 MB block fits again
print(default, tuned, faults(), runtime.tune_cpu_allocator())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_tuned_allocator_reuses_freed_memory_instead_of_page_faulting(monkeypatch):
    import subprocess

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS_SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    default, tuned, after, again = int(out[0]), out[1], int(out[2]), out[3]
    assert tuned == "True" and again == "True"  # idempotent
    assert default > 2_000  # untuned, glibc hands blocks back to the OS: fresh pages again
    assert after < 100  # tuned, once warm: the freed 8 MB are reused as they are


def test_a_users_own_allocator_setting_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1000000")
    monkeypatch.setattr(runtime, "_allocator_tuned", False)
    assert runtime.tune_cpu_allocator() is False
