"""Grading: each submission runs in a fresh kernel; crashes and endless loops get a row
that says so, keep the points earned before, and grading goes on."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cnncourse.exercises.grade import NotebookResult, grade, run_notebook

nbformat = pytest.importorskip("nbformat")  # grading runs notebooks: nbformat + nbclient
pytest.importorskip("nbclient")
new_code_cell, new_notebook = nbformat.v4.new_code_cell, nbformat.v4.new_notebook

TIMEOUT = 10  # seconds per notebook: kernel start + a few checks fit easily


def write_notebook(path: Path, *cells: str) -> Path:
    nb = new_notebook(
        cells=[new_code_cell(c) for c in ("from cnncourse.exercises import check", *cells)]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


@pytest.fixture
def submissions(tmp_path) -> Path:
    folder = tmp_path / "submissions"
    folder.mkdir()
    write_notebook(
        folder / "alice.ipynb",
        'check("why-params-dense", 784 * 128 + 128)',
        'check("why-params-conv", 320)',
        'check("why-shuffle-pixels", False)',
    )
    write_notebook(  # one wrong, one not attempted, and a right answer changed to a wrong one
        folder / "bob.ipynb",
        'check("why-params-dense", 100480)\ncheck("why-params-dense", 784 * 128)',
        'check("why-params-conv", 320)',
        'check("why-shuffle-pixels", None)',
    )
    write_notebook(  # raises after one passing check
        folder / "carol.ipynb",
        'check("why-params-dense", 100480)',
        "1 / 0",
        'check("why-params-conv", 320)',
    )
    write_notebook(  # loops forever after one passing check
        folder / "dave.ipynb",
        'check("why-params-conv", 320)',
        "while True:\n    pass",
        'check("why-params-dense", 100480)',
    )
    (folder / "erin.ipynb").write_text("{ this is not a notebook")
    (folder / "notes.txt").write_text("not a submission")
    return folder


def test_grade_table_and_csv(submissions, tmp_path):
    out = tmp_path / "grades" / "grades.csv"
    seen: list[NotebookResult] = []
    table = grade(submissions, out, timeout=TIMEOUT, chapter_timeout=TIMEOUT, progress=seen.append)
    assert [r.path.stem for r in seen] == ["alice", "bob", "carol", "dave", "erin", "notes"]
    lines = out.read_text().splitlines()
    dave = lines.pop(4)
    assert dave.startswith("dave,0,1,0,1,timeout: cell 3 (chapter cell: while True:) was running")
    assert dave.endswith(f"s; the limit per chapter cell is {TIMEOUT} s")
    assert lines == [
        "student,why-params-dense,why-params-conv,why-shuffle-pixels,total,status",
        "alice,1,1,1,3,ok",
        "bob,0,1,0,1,ok",
        "carol,1,0,0,1,error: ZeroDivisionError: division by zero",
        "erin,0,0,0,0,invalid notebook: NotJSONError: Notebook does not appear to be JSON: '{ this is not a notebook'",
        "notes.txt,0,0,0,0,skipped: not a notebook",
    ]
    pd.testing.assert_frame_equal(table, pd.read_csv(out, keep_default_na=False))
    dave = seen[3]
    assert dave.seconds < TIMEOUT + 8  # interrupted, not left running
    assert [r["status"] for r in seen[1].verdicts] == ["pass", "fail", "pass", "not attempted"]


def test_run_notebook_reads_myst_markdown(tmp_path):
    md = tmp_path / "chapter.md"
    md.write_text(
        "---\nkernelspec:\n  name: python3\n  display_name: Python 3\n  language: python\n---\n"
        "# A chapter\n\n```{code-cell} ipython3\nfrom cnncourse.exercises import check\n"
        'check("why-params-conv", 1 * 32 * 9 + 32)\n```\n'
    )
    result = run_notebook(md, timeout=30)
    assert result.status == "ok"
    assert result.points == {"why-params-conv": 1.0}


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        grade(tmp_path / "missing", tmp_path / "g.csv")
    with pytest.raises(ValueError, match="no .ipynb files"):
        grade(tmp_path, tmp_path / "g.csv")
    with pytest.raises(ValueError, match="timeout must be a positive"):
        run_notebook(tmp_path / "x.ipynb", timeout=0)
