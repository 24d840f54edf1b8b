"""Grade exports: each file has the columns its course platform documents for import.

Sources of the formats (titles and addresses only):
- Canvas: "How do I import grades in the Gradebook?" (Canvas Instructor Guide);
  https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades
- Moodle: "Grade import", https://docs.moodle.org/en/Grade_import
- Blackboard Learn: "Uploading External Grade Center Items" and "Upload Grade Center",
  http://library.blackboard.com/ (Instructor Manual)
"""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from cnncourse.cli import EXPORT_FORMATS
from cnncourse.exercises.exports import FORMATS, export_grades
from cnncourse.exercises.registry import get_exercise

IDS = ["pool-output-shape", "pool-collapse-kernel"]


@pytest.fixture
def table(tmp_path):
    """A grade table in the shape cnncourse grade writes (student, ids..., total, status)."""
    frame = pd.DataFrame(
        {
            "student": ["ada_lovelace", "alan_turing", "grace_hopper"],
            IDS[0]: [1, 1, 0],
            IDS[1]: [1, 0, 0],
            "total": [2, 1, 0],
            "status": ["ok", "ok", "timeout"],
        }
    )
    path = tmp_path / "grades.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def roster(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(
        "file,Student,ID,SIS User ID,SIS Login ID,Section,Email address,Last Name,"
        "First Name,Username,Student ID\n"
        'ada_lovelace,"Lovelace, Ada",101,S1,ada,CNN 1,ada@uni.edu,Lovelace,Ada,ada,S1\n'
        'alan_turing,"Turing, Alan",102,S2,alan,CNN 1,alan@uni.edu,Turing,Alan,alan,S2\n'
        'grace_hopper,"Hopper, Grace",103,S3,grace,CNN 2,grace@uni.edu,Hopper,Grace,grace,S3\n'
    )
    return path


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def possible():
    return sum(get_exercise(i).points for i in IDS)


def test_canvas_has_the_gradebook_columns_and_points_possible(table, roster, tmp_path):
    out = tmp_path / "canvas.csv"
    export_grades(table, out, "canvas", assignment="Week 3", assignment_id="4711", roster=roster)
    rows = read_rows(out)
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Week 3 (4711)"]
    assert rows[0] == header
    assert rows[1][0] == "Points Possible" and float(rows[1][5]) == possible()
    assert rows[2] == ["Lovelace, Ada", "101", "S1", "ada", "CNN 1", "2"]
    assert [r[5] for r in rows[2:]] == ["2", "1", "0"]
    # Without an assignment id the header is the name: Canvas adds a new assignment.
    export_grades(table, out, "canvas", assignment="Week 3")
    rows = read_rows(out)
    assert rows[0][-1] == "Week 3" and rows[2][:4] == ["ada_lovelace", "", "", "ada_lovelace"]


def test_moodle_has_one_identifier_and_one_grade_column(table, roster, tmp_path):
    out = tmp_path / "moodle.csv"
    export_grades(table, out, "moodle", assignment="Week 3", roster=roster)
    rows = read_rows(out)
    assert rows[0] == ["Username", "Week 3"]
    assert rows[1:] == [["ada", "2"], ["alan", "1"], ["grace", "0"]]
    export_grades(table, out, "moodle", assignment="Week 3", id_column="Email address")
    assert read_rows(out)[0] == ["Email address", "Week 3"]
    with pytest.raises(ValueError, match="Moodle matches users on one of"):
        export_grades(table, out, "moodle", assignment="Week 3", id_column="Nickname")


def test_blackboard_quotes_every_field_and_names_the_column_id(table, roster, tmp_path):
    out = tmp_path / "bb.csv"
    export_grades(
        table, out, "blackboard", assignment="Week 3", assignment_id="_123_1", roster=roster
    )
    text = out.read_text()
    header = f'"Last Name","First Name","Username","Student ID","Week 3 [Total Pts: {possible():g} Score] |_123_1"'
    assert text.splitlines()[0] == header
    assert text.splitlines()[1] == '"Lovelace","Ada","ada","S1","2"'
    export_grades(table, out, "blackboard", assignment="Week 3")  # new column, stem = Username
    assert read_rows(out)[1] == ["", "", "ada_lovelace", "", "2"]


def test_sheet_keeps_every_exercise_and_the_status(table, tmp_path):
    out = tmp_path / "sheet.csv"
    frame = export_grades(pd.read_csv(table), out, "sheet", assignment="Week 3")
    rows = read_rows(out)
    assert rows[0] == ["Student", "ID", *IDS, "Total", "Points possible", "Percent", "Status"]
    assert rows[3][-1] == "timeout" and rows[1][0] == "ada_lovelace"
    assert frame["Percent"].tolist() == [round(100 * t / possible(), 1) for t in (2, 1, 0)]


def test_bad_input_gets_one_clear_message(table, roster, tmp_path):
    out = tmp_path / "x.csv"
    with pytest.raises(ValueError, match="unknown export format 'excel'"):
        export_grades(table, out, "excel", assignment="A")
    short = tmp_path / "short.csv"
    short.write_text(
        roster.read_text().splitlines()[0] + "\n" + roster.read_text().splitlines()[1]
    )
    with pytest.raises(ValueError, match="no row for the submission.*alan_turing, grace_hopper"):
        export_grades(table, out, "canvas", assignment="A", roster=short)
    nokey = tmp_path / "nokey.csv"
    nokey.write_text("name,ID\nada,1\n")
    with pytest.raises(ValueError, match="no column 'file'"):
        export_grades(table, out, "canvas", assignment="A", roster=nokey)
    noid = tmp_path / "noid.csv"
    noid.write_text("file,Student\nada_lovelace,Ada\nalan_turing,A\ngrace_hopper,G\n")
    with pytest.raises(ValueError, match="canvas matches students on ID or SIS User ID"):
        export_grades(table, out, "canvas", assignment="A", roster=noid)
    with pytest.raises(ValueError, match="lacks the column"):
        export_grades(pd.DataFrame({"student": ["a"]}), out, "sheet", assignment="A")
    with pytest.raises(FileNotFoundError, match="run cnncourse grade"):
        export_grades(tmp_path / "missing.csv", out, "sheet", assignment="A")


def test_cli_offers_every_format():
    assert EXPORT_FORMATS == FORMATS


def test_grade_command_writes_the_exports_beside_the_table(tmp_path, capsys):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from cnncourse.cli import main

    folder = tmp_path / "submissions"
    folder.mkdir()
    nb = new_notebook(
        cells=[
            new_code_cell("from cnncourse.exercises import check"),
            new_code_cell(
                "def pool_output_shape(shape, k, s):\n"
                "    n, c, h, w = shape\n"
                "    return (n, c, (h - k) // s + 1, (w - k) // s + 1)\n"
                'check("pool-output-shape", pool_output_shape)'
            ),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, folder / "ada_lovelace.ipynb")
    roster = tmp_path / "roster.csv"
    roster.write_text("file,Username,Email address\nada_lovelace,ada,ada@uni.edu\n")
    out = tmp_path / "grades.csv"
    with pytest.raises(SystemExit):  # a missing roster stops before any notebook runs
        main(["grade", str(folder), "--out", str(out), "--roster", str(tmp_path / "no.csv")])
    assert not out.exists()
    args = ["grade", str(folder), "--out", str(out), "--export", "moodle", "--export", "sheet"]
    assert main([*args, "--assignment", "Week 3", "--roster", str(roster)]) == 0
    assert read_rows(tmp_path / "grades.moodle.csv") == [["Username", "Week 3"], ["ada", "1"]]
    sheet = read_rows(tmp_path / "grades.sheet.csv")
    assert sheet[1][:3] == ["ada_lovelace", "ada", "1"] and sheet[1][-1] == "ok"
    assert "grades.moodle.csv (moodle)" in capsys.readouterr().out
