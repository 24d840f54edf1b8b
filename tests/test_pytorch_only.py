"""A PyTorch-only install (``cnncourse[dev]`` without the keras and book extras) has a
working package and a test suite that collects: .ci/pytorch_only.py hides the extras."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_hidden(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run Python with the optional extras made to look uninstalled."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / ".ci"), str(ROOT)])}
    env.pop("CNNCOURSE_HIDE", None)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_the_package_imports_and_trains_without_keras():
    code = (
        "import pytorch_only, sys, importlib.util, torch\n"
        "assert importlib.util.find_spec('keras') is None\n"
        "from cnncourse import data, models, runtime, train, transfer\n"
        "model = models.build_model('tiny')\n"
        "images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)\n"
        "train.fit(model, (images, torch.arange(64) % 10), device='cpu', progress=False)\n"
        "try:\n"
        "    models.build_model('tiny', 'keras')\n"
        "except ImportError as error:\n"
        "    print(error)\n"
        "assert not {'keras', 'tensorflow'} & set(sys.modules)\n"
    )
    result = run_hidden("-c", code, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pip install 'cnncourse[keras]'" in result.stdout


@pytest.mark.slow  # collects the whole suite in a fresh interpreter
def test_the_suite_collects_with_keras_and_the_book_extras_hidden():
    result = run_hidden(
        "-m", "pytest", "-p", "pytorch_only", "-p", "no:cacheprovider", "tests",
        "-m", "not keras and not browser", "--collect-only", "-q",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert "error" not in result.stdout.splitlines()[-1].lower(), result.stdout[-3000:]
    assert "tests/test_train.py::test_fit_learns_on_real_data" in result.stdout
