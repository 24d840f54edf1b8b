"""Grade tables in the layouts that course platforms import: Canvas, Moodle, Blackboard, a sheet.

:func:`cnncourse.exercises.grade.grade` writes one row per submitted notebook (``student``
is the file stem), one column per exercise, ``total`` and ``status``. A platform wants
its own user identifier and one column per assignment; :func:`export_grades` turns the
table into that file. The identifier comes from a roster CSV that maps each submission's
file stem (column ``file``) to the platform's columns, or is the file stem itself.
"""

from __future__ import annotations

import csv
from pathlib import Path

FORMATS = ("canvas", "moodle", "blackboard", "sheet")
STUDENT, TOTAL, STATUS = "student", "total", "status"
ROSTER_KEY = "file"

# Canvas: "How do I import grades in the Gradebook?" (Canvas Instructor Guide) and
# https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades
# (title: "Import a CSV File into Carmen Grades"): the identity columns of the
# gradebook export, then one column per assignment, "Name (assignment id)".
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
# Moodle: https://docs.moodle.org/en/Grade_import (title: "Grade import"): any header; on
# import the user is matched on a chosen column ("Email address" to useremail, "ID
# number" to useridnumber, or username) and each other column is mapped to a grade item.
MOODLE_IDS = ("Username", "Email address", "ID number")
# Blackboard Learn: "Uploading External Grade Center Items" (help.blackboard.com,
# library.blackboard.com) and "Upload Grade Center": each row needs the Username; a
# column with an id is "Name [Total Pts: N Score] |id", a header without one adds a new
# column; comma-separated files quote every field.
BLACKBOARD_COLUMNS = ("Last Name", "First Name", "Username", "Student ID")
SHEET_COLUMNS = ("Student", "ID")
DEFAULT_ID = {"canvas": "SIS Login ID", "moodle": "Username", "blackboard": "Username"}


def export_grades(
    table,
    out: str | Path,
    fmt: str,
    *,
    assignment: str,
    assignment_id: str | None = None,
    roster: str | Path | None = None,
    id_column: str | None = None,
    points_possible: float | None = None,
):
    """Write the grade table ``table`` as a file that platform ``fmt`` imports.

    Parameters
    ----------
    table
        The grade table of :func:`~cnncourse.exercises.grade.grade`: a DataFrame, or
        the CSV it wrote.
    out
        The CSV to write.
    fmt
        ``"canvas"``, ``"moodle"``, ``"blackboard"`` or ``"sheet"`` (a spreadsheet:
        every exercise, the total, the points possible, a percentage and the status).
    assignment
        The assignment's name: the grade column's header.
    assignment_id
        The platform's id of an existing assignment or grade column (Canvas shows it
        in the gradebook export, Blackboard as ``|id``); without it the platform adds
        a new column on import. Moodle maps columns by hand and takes no id.
    roster
        A CSV with a column ``file`` (each submission's file stem) and the platform's
        columns (for Canvas ``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``,
        ``Section``; Moodle ``Email address``, ``ID number`` or ``Username``;
        Blackboard ``Last Name``, ``First Name``, ``Username``, ``Student ID``).
        Without it, the file stem is the user identifier.
    id_column
        The column the file stem fills when there is no roster (default: Canvas ``SIS
        Login ID``, Moodle and Blackboard ``Username``).
    points_possible
        The assignment's maximum; default: the registered points of every exercise
        in the table.

    Returns
    -------
    pandas.DataFrame
        The rows written (Canvas: the "Points Possible" row first).
    """
    import pandas as pd

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose from: {', '.join(FORMATS)}.")
    if not str(assignment or "").strip():
        raise ValueError("assignment name is empty: it becomes the grade column's header.")
    grades = _read_table(table)
    exercises = [c for c in grades.columns if c not in (STUDENT, TOTAL, STATUS)]
    possible = _points_possible(exercises) if points_possible is None else points_possible
    people = _identities(grades[STUDENT].tolist(), fmt, roster, id_column)
    _require_identity(people, fmt)
    totals = [_number(t) for t in grades[TOTAL]]

    if fmt == "canvas":
        header = f"{assignment} ({assignment_id})" if assignment_id else assignment
        columns = [*CANVAS_COLUMNS, header]
        rows = [
            {c: "" for c in columns} | {"Student": "Points Possible", header: _number(possible)}
        ]
        rows += [p | {header: t} for p, t in zip(people, totals, strict=True)]
    elif fmt == "moodle":
        key = _moodle_key(people)
        columns = [key, assignment]
        rows = [{key: p[key], assignment: t} for p, t in zip(people, totals, strict=True)]
    elif fmt == "blackboard":
        header = (
            f"{assignment} [Total Pts: {possible:g} Score] |{assignment_id}"
            if assignment_id
            else assignment
        )
        columns = [*BLACKBOARD_COLUMNS, header]
        rows = [p | {header: t} for p, t in zip(people, totals, strict=True)]
    else:
        columns = [*SHEET_COLUMNS, *exercises, "Total", "Points possible", "Percent", "Status"]
        rows = []
        for person, (_, row) in zip(people, grades.iterrows(), strict=True):
            rows.append(
                _sheet_identity(person, row[STUDENT])
                | {e: _number(row[e]) for e in exercises}
                | {
                    "Total": _number(row[TOTAL]),
                    "Points possible": _number(possible),
                    "Percent": round(100 * float(row[TOTAL]) / possible, 1) if possible else "",
                    "Status": row[STATUS],
                }
            )
    frame = pd.DataFrame(rows, columns=columns, dtype=object).fillna("")
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    quoting = csv.QUOTE_ALL if fmt == "blackboard" else csv.QUOTE_MINIMAL
    frame.to_csv(target, index=False, quoting=quoting, lineterminator="\r\n")
    return frame


def _number(value) -> str:
    """Points as platforms read them: ``2``, ``1.5`` (never ``2.0``)."""
    return f"{float(value):g}"


def _read_table(table):
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        grades = table
    else:
        path = Path(table)
        if not path.is_file():
            raise FileNotFoundError(f"grade table {path} does not exist: run cnncourse grade.")
        grades = pd.read_csv(path, dtype={STUDENT: str})
    missing = {STUDENT, TOTAL, STATUS} - set(grades.columns)
    if missing:
        raise ValueError(
            f"the grade table lacks the column(s) {', '.join(sorted(missing))}: export the "
            "CSV that cnncourse grade writes."
        )
    return grades


def _points_possible(exercises: list[str]) -> float:
    from cnncourse.exercises.registry import get_exercise

    return float(sum(get_exercise(e).points for e in exercises))


def _identities(stems: list[str], fmt: str, roster, id_column: str | None) -> list[dict]:
    """One dict of the platform's identity columns per submission, in table order."""
    if roster is None:
        key = id_column or DEFAULT_ID.get(fmt, "ID")
        name_column = {"canvas": "Student", "sheet": "Student"}.get(fmt)
        return [{key: stem} | ({name_column: stem} if name_column else {}) for stem in stems]
    import pandas as pd

    path = Path(roster)
    if not path.is_file():
        raise FileNotFoundError(f"roster {path} does not exist.")
    table = pd.read_csv(path, dtype=str).fillna("")
    if ROSTER_KEY not in table.columns:
        raise ValueError(
            f"roster {path} has no column {ROSTER_KEY!r}: add one holding each "
            "submission's file name without .ipynb."
        )
    if table[ROSTER_KEY].duplicated().any():
        twice = sorted(set(table[ROSTER_KEY][table[ROSTER_KEY].duplicated()]))
        raise ValueError(f"roster {path} lists {', '.join(twice)} more than once.")
    by_file = {row[ROSTER_KEY]: row.drop(ROSTER_KEY).to_dict() for _, row in table.iterrows()}
    unknown = [s for s in stems if s not in by_file]
    if unknown:
        raise ValueError(
            f"roster {path} has no row for the submission(s) {', '.join(unknown)}: add "
            f"them (column {ROSTER_KEY!r} = the file name without .ipynb)."
        )
    return [by_file[s] for s in stems]


def _sheet_identity(person: dict, stem: str) -> dict:
    """The sheet's ``Student`` (the roster's, else the file stem) and ``ID`` columns."""
    ids = ("ID", "SIS User ID", "SIS Login ID", "Student ID", *MOODLE_IDS)
    found = next((str(person[k]) for k in ids if str(person.get(k, "")).strip()), "")
    return {"Student": str(person.get("Student", "")).strip() or stem, "ID": found}


def _require_identity(people: list[dict], fmt: str) -> None:
    """Every row carries what the platform matches users on."""
    needed = {"canvas": ("ID", "SIS User ID", "SIS Login ID"), "blackboard": ("Username",)}
    keys = needed.get(fmt)
    if not keys:
        return
    for person in people:
        if not any(str(person.get(k, "")).strip() for k in keys):
            raise ValueError(
                f"{fmt} matches students on {' or '.join(keys)}, and a row has none: "
                f"fill it in the roster ({dict(person)})."
            )


def _moodle_key(people: list[dict]) -> str:
    for key in MOODLE_IDS:
        if people and all(str(p.get(key, "")).strip() for p in people):
            return key
    raise ValueError(
        "Moodle matches users on one of the columns " + ", ".join(MOODLE_IDS) + ": the "
        "roster must fill one of them for every submission."
    )
