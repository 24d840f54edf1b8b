"""Every chapter is also a plain Python script: ``jupytext --to py`` gives code that runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

jupytext = pytest.importorskip("jupytext")
from conftest import ROOT, is_notebook_chapter, toc_chapters  # noqa: E402

CHAPTERS = [doc for doc in toc_chapters() if is_notebook_chapter(doc)]
SHORT_CHAPTER = "book/why_convolutions"  # PyTorch only, the shortest to run


def as_script(doc: str) -> str:
    return jupytext.writes(jupytext.read(ROOT / f"{doc}.md"), fmt="py:percent")


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_converts_to_a_valid_script(doc):
    script = as_script(doc)
    compile(script, f"{doc}.py", "exec")  # a magic left in a block is an IndentationError
    assert "google.colab" in script  # the install cell is there, as Python


def test_install_cell_installs_on_colab_only(monkeypatch):
    """The converted install cell calls the %pip magic only when run inside Colab."""
    import importlib.util

    import IPython

    cells = as_script(SHORT_CHAPTER).split("\n# %%")
    source = next(c for c in cells if "google.colab" in c).split("\n", 1)[1]
    cell = compile(source, "install-cell", "exec")
    calls = []

    class Shell:
        def run_line_magic(self, name, line):
            calls.append((name, line))

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(cell, {})  # not on Colab: nothing happens
    assert calls == []

    real_find_spec = importlib.util.find_spec
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "cnncourse" else real_find_spec(name, *args),
    )
    exec(cell, {})  # on Colab without the package: one %pip install
    assert len(calls) == 1 and calls[0][0] == "pip"
    assert calls[0][1].startswith("install") and "cnncourse[keras]" in calls[0][1]


@pytest.mark.slow
def test_short_chapter_runs_as_a_script(tmp_path):
    """``jupytext --to py`` on a chapter, then ``python chapter.py`` in quick mode."""
    target = tmp_path / "why_convolutions.py"
    subprocess.run(
        [sys.executable, "-m", "jupytext", "--to", "py", "-o", str(target), f"{SHORT_CHAPTER}.md"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "CNNCOURSE_QUICK": "1", "MPLBACKEND": "Agg"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    run = subprocess.run(
        [sys.executable, str(target)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "quick mode: True" in run.stdout
