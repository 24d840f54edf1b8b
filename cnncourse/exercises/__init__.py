"""Exercises: answer checks for students, the student edition, and grading.

In a chapter::

    from cnncourse.exercises import check
    def dense_params(in_features, out_features):
        return in_features * out_features + out_features

    check("why-params-dense", dense_params)   # feedback: a verdict with a hint, never a traceback

Grading reads each exercise's named object (``dense_params``) after the notebook has
run and evaluates it with the grader's own check, in its own process.

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
