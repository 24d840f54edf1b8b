"""`make gpu-check` (.ci/gpu_check.py), run on the CPU against a tiny fake book."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / ".ci" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def notebook_json(*sources: str) -> str:
    cells = [
        {"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
        for s in sources
    ]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return json.dumps(
        {"cells": cells, "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5}
    )


CHAPTER_HEADER = "---\njupytext:\n  formats: md:myst,ipynb\nkernelspec:\n  name: python3\n---\n"


@pytest.fixture
def fake_book(tmp_path):
    """A book of one plain page and three chapters: PyTorch only, Keras, and a failing one."""
    (tmp_path / "_toc.yml").write_text(
        textwrap.dedent(
            """\
            format: jb-book
            root: book/intro
            parts:
              - caption: Part
                chapters:
                  - file: book/torch_only
                  - file: book/with_keras
                  - file: book/broken
            """
        )
    )
    book = tmp_path / "book"
    book.mkdir()
    (book / "intro.md").write_text("# Intro\n\nNo code here.\n")
    sources = {
        "torch_only": "import torch\nassert torch.ones(1).item() == 1",
        "with_keras": "import keras\nassert keras.ops.ones(1)[0] == 1",
        "broken": "assert 1 + 1 == 3",
    }
    for name, code in sources.items():
        (book / f"{name}.md").write_text(
            f"{CHAPTER_HEADER}\n```{{code-cell}} ipython3\n{code}\n```\n"
        )
        (book / f"{name}.ipynb").write_text(notebook_json(code))
    return tmp_path


class FakeRunner:
    """Records every command; the unit tests pass and a chapter fails when its name says so."""

    def __init__(self, tests_code: int = 0):
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.tests_code = tests_code

    def __call__(self, command, env, cwd):
        self.calls.append((list(command), env))
        if "tests" in command:
            return self.tests_code
        return 1 if any("broken" in part for part in command) else 0


def test_refuses_without_cuda_in_one_line(gpu_check, fake_book, capsys):
    runner = FakeRunner()
    assert gpu_check.main([], device_name=lambda: None, runner=runner, root=fake_book) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs an NVIDIA GPU" in err
    assert runner.calls == []  # nothing ran


def test_this_machine_has_no_cuda_so_the_real_check_refuses(gpu_check):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert gpu_check.cuda_device_name() is None


def test_runs_the_tests_then_every_chapter_and_skips_keras_ones_without_tensorflow(
    gpu_check, fake_book, monkeypatch, capsys
):
    monkeypatch.setattr(gpu_check, "tensorflow_installed", lambda: False)
    runner = FakeRunner()
    out = fake_book / "results" / "gpu_chapters.csv"
    code = gpu_check.main(
        ["--out", str(out)], device_name=lambda: "Fake GPU 80GB", runner=runner, root=fake_book
    )
    assert code == 1  # the broken chapter failed
    (tests, _), *chapters = runner.calls
    assert tests[-4:-1] == ["tests", "-m", "not browser"]
    assert [Path(c[3]).name for c, _ in chapters] == ["torch_only.ipynb", "broken.ipynb"]
    for command, env in chapters:
        assert "--nbval-lax" in command and env["CNNCOURSE_QUICK"] == "0"  # full size
    rows = list(csv.DictReader(out.open()))
    assert [r["chapter"] for r in rows] == ["torch_only", "with_keras", "broken"]
    assert [r["status"] for r in rows] == ["passed", "skipped", "failed"]
    assert rows[1]["wall_s"] == "" and "TensorFlow" in rows[1]["reason"]
    assert float(rows[0]["wall_s"]) >= 0 and {r["device"] for r in rows} == {"Fake GPU 80GB"}
    md = out.with_suffix(".md").read_text()
    assert 'Unit tests (`pytest tests -m "not browser"`): passed' in md
    assert "| with_keras |  | skipped |" in md and "| total |" in md
    assert "skipped with_keras:" in capsys.readouterr().out


def test_failed_unit_tests_fail_the_check_and_keras_chapters_run_with_tensorflow(
    gpu_check, fake_book, monkeypatch
):
    monkeypatch.setattr(gpu_check, "tensorflow_installed", lambda: True)
    runner = FakeRunner(tests_code=1)
    out = fake_book / "gpu.csv"
    argv = ["--out", str(out), "torch_only", "with_keras"]
    assert gpu_check.main(argv, device_name=lambda: "GPU", runner=runner, root=fake_book) == 1
    assert [r["status"] for r in csv.DictReader(out.open())] == ["passed", "passed"]
    assert "FAILED (pytest exit status 1)" in out.with_suffix(".md").read_text()
    runner = FakeRunner()
    argv = ["--out", str(out), "--skip-tests", "torch_only"]
    assert gpu_check.main(argv, device_name=lambda: "GPU", runner=runner, root=fake_book) == 0
    assert len(runner.calls) == 1  # no unit tests
    with pytest.raises(SystemExit):
        gpu_check.main(["nope"], device_name=lambda: "GPU", runner=runner, root=fake_book)


def test_needs_tensorflow_reads_import_lines_only(gpu_check):
    assert gpu_check.needs_tensorflow("x = 1\nimport keras\n")
    assert gpu_check.needs_tensorflow("  from tensorflow import data\n")
    assert not gpu_check.needs_tensorflow("Keras and TensorFlow are mentioned in prose.\n")
    assert not gpu_check.needs_tensorflow("import kerasish\n")


def test_the_real_chapter_list_is_the_books(gpu_check):
    names = [nb.stem for nb in gpu_check.notebook_chapters(ROOT)]
    assert "why_convolutions" in names and "pytorch_cnn" in names and "intro" not in names
    assert all((ROOT / "book" / f"{n}.ipynb").is_file() for n in names)


@pytest.mark.slow  # two kernel starts
def test_a_real_nbval_run_passes_and_fails_tiny_notebooks(gpu_check, fake_book):
    pytest.importorskip("nbval")
    pytest.importorskip("ipykernel")
    book = fake_book / "book"
    good = gpu_check.run_chapter(book / "torch_only.ipynb", cell_timeout=60, device="cpu")
    bad = gpu_check.run_chapter(book / "broken.ipynb", cell_timeout=60, device="cpu")
    assert (good.status, bad.status) == ("passed", "failed"), (good, bad)
    assert good.wall_s > 0 and "exit status 1" in bad.reason
