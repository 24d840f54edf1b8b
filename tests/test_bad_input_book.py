"""Bad input, class 6: a chapter that fails inside ``make book`` fails the build with a
non-zero status that names the chapter; the full-size limit fits a slow laptop; the README
says how long a build takes and how to work on one chapter."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

yaml_to_sphinx = pytest.importorskip("jupyter_book.config").yaml_to_sphinx

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def test_a_failing_chapter_raises_instead_of_warning():
    sphinx = yaml_to_sphinx(CONFIG)[0]  # the Sphinx config jupyter-book passes to myst-nb
    assert sphinx["nb_execution_raise_on_error"] is True
    assert sphinx["nb_execution_allow_errors"] is False


def test_the_per_cell_limit_fits_the_longest_chapter_on_a_slow_laptop():
    # the slowest chapter took 481 s in all on an idle 2-core machine (benchmarks/results)
    assert CONFIG["execute"]["timeout"] >= 6 * 481


@pytest.fixture
def makefile_copy(tmp_path) -> Path:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "constraints.txt", tmp_path / ".ci" / "constraints.txt")
    return tmp_path


def _make_book(folder: Path, fake_build: str) -> subprocess.CompletedProcess:
    """``make book`` with jupyter-book replaced by ``fake_build`` (setup skipped)."""
    return subprocess.run(
        ["make", "-o", "setup", "book", f"JB=bash -c {fake_build!r} _"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )


FAILED = (
    "printf '\\033[91m/repo/book/batch_norm.md: WARNING: Executing notebook failed: "
    "CellTimeoutError\\033[0m\\nHere is a preview of the cell contents:\\n  fit(model)\\n"
    "myst_nb.core.execute.base.ExecutionError: /repo/book/batch_norm.md\\n'; exit 1"
)


def test_make_book_fails_and_names_the_chapter(makefile_copy):
    done = _make_book(makefile_copy, FAILED)
    assert done.returncode != 0
    summary = done.stdout.split("make book FAILED", 1)[1]
    assert "/repo/book/batch_norm.md: WARNING: Executing notebook failed: CellTimeoutError" in (
        summary
    )
    assert "\033[" not in summary  # colour codes stripped from the summary
    assert "fit(model)" in (makefile_copy / "_build" / "book.log").read_text()


def test_make_book_succeeds_when_every_chapter_does(makefile_copy):
    done = _make_book(makefile_copy, "echo build succeeded")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAILED" not in done.stdout and "open " in done.stdout


def test_readme_says_how_long_and_how_to_build_one_chapter():
    readme = " ".join((ROOT / "README.md").read_text().split())  # lines joined
    assert "about 40 minutes on an idle 2-core machine, an hour on a slower one" in readme
    assert "jupyter-book build book/pooling.md" in readme
    assert "cnncourse check-notebook book/pooling.md" in readme
