"""Bad input, class 5: grading under load. The chapter's own cells and the student's cells
have separate time limits, a timeout names the cell, crashes have their own status, and
every entry of the submissions folder is accounted for. Tiny synthetic notebooks only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
from conftest import write_notebook  # noqa: E402
from nbformat.v4 import new_code_cell, new_markdown_cell  # noqa: E402

from cnncourse.exercises.grade import grade, is_student_cell, run_notebook  # noqa: E402

RIGHT = (
    "def conv_params(i, o, k):\n    return i * o * k * k + o\n"
    'check("why-params-conv", conv_params)'
)


def chapter(code: str):
    return new_code_cell(code)


def student(code: str):
    cell = new_code_cell(code)
    cell.metadata["tags"] = ["exercise-stub"]
    return cell


def write(path: Path, *cells) -> Path:
    return write_notebook(path, *cells, setup="import time\nfrom cnncourse.exercises import check")


def test_cells_are_told_apart_by_tag_or_check_call():
    assert is_student_cell(student("answer = None"))
    assert is_student_cell(chapter(RIGHT))
    assert not is_student_cell(chapter("model = build_model()"))
    assert not is_student_cell(new_markdown_cell("call check(...) below"))


def test_a_slow_chapter_cell_does_not_eat_the_student_budget(tmp_path):
    nb = write(tmp_path / "a.ipynb", chapter("time.sleep(3)"), student(RIGHT))
    result = run_notebook(nb, timeout=2, chapter_timeout=30)
    assert result.status == "ok" and result.points["why-params-conv"] == 1.0


def test_a_student_loop_times_out_naming_the_cell_and_the_budget(tmp_path):
    nb = write(
        tmp_path / "b.ipynb",
        student(RIGHT),
        chapter("x = 1"),
        student("while True:\n    pass"),
    )
    result = run_notebook(nb, timeout=3, chapter_timeout=30)
    assert re.fullmatch(
        r"timeout: cell 4 \(student cell: while True:\) was running for \d+ s; "
        r"student cells share a budget of 3 s",
        result.status,
    ), result.status
    assert result.points["why-params-conv"] == 1.0  # defined before the loop
    assert result.seconds < 25


def test_student_cells_share_one_budget(tmp_path):
    nb = write(
        tmp_path / "c.ipynb",
        student("time.sleep(1.5)"),
        student("time.sleep(1.5)"),
        student("time.sleep(1.5)"),
    )
    status = run_notebook(nb, timeout=3, chapter_timeout=30).status
    assert status.startswith("timeout: cell 4 (student cell: time.sleep(1.5))"), status


def test_a_chapter_cell_over_its_limit_says_so(tmp_path):
    nb = write(tmp_path / "d.ipynb", chapter("time.sleep(60)"), student(RIGHT))
    status = run_notebook(nb, timeout=60, chapter_timeout=2).status
    assert status.startswith("timeout: cell 2 (chapter cell: time.sleep(60)) was running for")
    assert status.endswith("the limit per chapter cell is 2 s")


def test_a_dead_kernel_is_a_crash_not_an_error(tmp_path):
    nb = write(tmp_path / "e.ipynb", student(RIGHT), chapter("import os\nos._exit(1)"))
    result = run_notebook(nb, timeout=30, chapter_timeout=30)
    assert result.status == "crashed: the kernel died in cell 3 (chapter cell: import os)"
    assert sum(result.points.values()) == 0  # a dead kernel leaves nothing to evaluate


def test_every_entry_of_the_folder_gets_a_row(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    write(folder / "ann.ipynb", student(RIGHT))
    (folder / "bob.ipynb.txt").write_text("renamed by a mail client")
    (folder / "cat.pdf").write_bytes(b"%PDF-1.4")
    (folder / "dan.ipynb").write_text("")  # empty upload
    (folder / "eve.ipynb").write_text('{"cells": 3}')  # JSON, but not a notebook
    (folder / "fay").mkdir()  # a folder someone unzipped
    (folder / ".DS_Store").write_bytes(b"\0")  # hidden: left out
    table = grade(folder, tmp_path / "g.csv", timeout=30, chapter_timeout=30)
    rows = dict(zip(table["student"], table["status"], strict=True))
    assert list(rows) == ["ann", "bob.ipynb.txt", "cat.pdf", "dan", "eve", "fay"]
    assert rows["ann"] == "ok"
    for name in ("bob.ipynb.txt", "cat.pdf", "fay"):
        assert rows[name] == "skipped: not a notebook"
    assert rows["dan"].startswith("invalid notebook: ")
    assert rows["eve"].startswith("invalid notebook: ")
    assert table.set_index("student").loc["ann", "total"] == 1
