"""runtime.deterministic: repeatable GPU kernels and true float32 inside, every flag restored."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnncourse import runtime


def precision_flags() -> dict[str, object]:
    """The settings deterministic() touches, read through the API this PyTorch offers."""
    backends = torch.backends
    flags = {
        "cudnn.deterministic": backends.cudnn.deterministic,
        "cudnn.benchmark": backends.cudnn.benchmark,
    }
    conv = getattr(backends.cudnn, "conv", None)
    if hasattr(conv, "fp32_precision") and hasattr(backends.cuda.matmul, "fp32_precision"):
        flags["matmul"] = backends.cuda.matmul.fp32_precision
        flags["conv"] = conv.fp32_precision
    else:
        flags["matmul"] = backends.cuda.matmul.allow_tf32
        flags["conv"] = backends.cudnn.allow_tf32
    return flags


TRUE_FLOAT32 = {"ieee", False}  # new API value, legacy allow_tf32 value


@pytest.fixture
def gpu_defaults():
    """Start from what a GPU user would have: benchmarking and TF32 convolutions on."""
    before = precision_flags()
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = False
    conv = getattr(torch.backends.cudnn, "conv", None)
    if hasattr(conv, "fp32_precision"):
        conv.fp32_precision = "tf32"
    else:
        torch.backends.cudnn.allow_tf32 = True
    yield precision_flags()
    torch.backends.cudnn.benchmark = before["cudnn.benchmark"]
    torch.backends.cudnn.deterministic = before["cudnn.deterministic"]
    if hasattr(conv, "fp32_precision"):
        conv.fp32_precision = before["conv"]
    else:
        torch.backends.cudnn.allow_tf32 = before["conv"]


def test_sets_the_flags_inside_and_restores_them_after(gpu_defaults):
    assert gpu_defaults["cudnn.benchmark"] and not gpu_defaults["cudnn.deterministic"]
    with runtime.deterministic():
        inside = precision_flags()
    assert inside["cudnn.deterministic"] and not inside["cudnn.benchmark"]
    assert inside["matmul"] in TRUE_FLOAT32 and inside["conv"] in TRUE_FLOAT32
    assert precision_flags() == gpu_defaults


def test_restores_the_flags_after_an_error_and_when_nested(gpu_defaults):
    with pytest.raises(RuntimeError, match="inside"), runtime.deterministic():
        raise RuntimeError("inside")
    assert precision_flags() == gpu_defaults
    with runtime.deterministic():
        outer = precision_flags()
        with runtime.deterministic():
            pass
        assert precision_flags() == outer  # the inner block gives back the outer settings
    assert precision_flags() == gpu_defaults


def test_on_the_cpu_it_changes_no_result():
    torch.manual_seed(0)
    x, w = torch.rand(4, 3, 16, 16), torch.rand(8, 3, 3, 3)
    outside = F.conv2d(x, w) @ torch.rand(14, 5)
    torch.manual_seed(0)
    x, w = torch.rand(4, 3, 16, 16), torch.rand(8, 3, 3, 3)
    with runtime.deterministic():
        inside = F.conv2d(x, w) @ torch.rand(14, 5)
    assert torch.equal(inside, outside)
