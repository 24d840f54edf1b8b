"""Exercises: answer checks for students, the student edition, and grading.

In a chapter::

    from cnncourse.exercises import check
    check("why-params-dense", answer)      # prints a verdict with a hint, never a traceback

For instructors: :func:`make_student_edition` (``cnncourse student-edition OUT/``) and
:func:`grade` (``cnncourse grade SUBMISSIONS/ --out grades.csv``). Those two load
lazily (jupytext, nbclient, pandas), so ``check`` stays fast to import in a kernel.
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

__all__ = [
    "Exercise",
    "NotAttempted",
    "Verdict",
    "WrongType",
    "all_exercises",
    "check",
    "exercise",
    "get_exercise",
    "grade",
    "make_student_edition",
    "run_notebook",
]


def __getattr__(name: str):
    if name == "make_student_edition":
        from cnncourse.exercises.student import make_student_edition

        return make_student_edition
    if name in {"grade", "run_notebook"}:
        from cnncourse.exercises import grade as grade_module

        return getattr(grade_module, name)
    raise AttributeError(f"module 'cnncourse.exercises' has no attribute {name!r}")
