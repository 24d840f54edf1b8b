"""Exercises: answer checks for students, the student edition, and grading.

In a chapter::

    from cnncourse.exercises import check
    check("why-params-dense", answer)      # prints a verdict with a hint, never a traceback

For instructors: :func:`make_student_edition` (``cnncourse student-edition OUT/``) and
:func:`cnncourse.exercises.grade.grade` (``cnncourse grade SUBMISSIONS/ --out
grades.csv``). Those import jupytext, nbclient and pandas only when they run, so
``check`` stays fast to import in a kernel.
"""

from __future__ import annotations

from cnncourse.exercises.answers import NotAttempted, WrongType
from cnncourse.exercises.registry import (
    Exercise,
    Verdict,
    all_exercises,
    check,
    exercise,
    get_exercise,
)
from cnncourse.exercises.student import make_student_edition

__all__ = [
    "Exercise",
    "NotAttempted",
    "Verdict",
    "WrongType",
    "all_exercises",
    "check",
    "exercise",
    "get_exercise",
    "make_student_edition",
]
