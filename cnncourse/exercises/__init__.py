"""Exercises: answer checks for students, the student edition, and grading.

In a chapter::

    from cnncourse.exercises import check
    why_params_dense = 784 * 128 + 128
    check("why-params-dense", why_params_dense)   # feedback: a verdict with a hint, never a traceback

Grading reads each exercise's named object (``why_params_dense``) after the notebook has
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
