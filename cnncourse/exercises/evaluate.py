"""Grader-side evaluation: read a notebook's named answers and grade each one once.

After a submitted notebook has run, the grader appends one cell (:func:`harvest_code`)
that serialises the objects the exercises name (``pool_output_shape``,
``def receptive_field``), and the chapter variables that *read* and *experiment*
checks compare them with (``uses``: a history table, a trained model), with
cloudpickle into a file of the notebook's working directory. This module then runs as its own process::

    python -m cnncourse.exercises.evaluate ANSWERS.pkl ID [ID ...]

It loads each answer (inside that exercise's time limit: unpickling a student's object
may run the student's code), calls the exercise's grading check once
(:func:`cnncourse.exercises.registry.evaluate`) and prints one JSON line of records.
The student's kernel never sees the grading checks run, and nothing it logged counts.
The grader's own process never unpickles a student's object: only this child does.
"""

from __future__ import annotations

import json
import pickle
import sys
from typing import Any

from cnncourse.exercises.registry import FAIL, NOT_ATTEMPTED, evaluate, get_exercise

MARKER = "cnncourse-grades:"
ANSWERS_FILE = "cnncourse-answers.pkl"
CHAPTER_KEY = "chapter:"  # harvested chapter variables: "chapter:history" (ids have no ':')


def harvest_names(ids: list[str]) -> dict[str, str]:
    """What the harvest cell pickles: ``{id: name}`` per exercise, and each chapter variable
    an exercise ``uses`` under ``"chapter:<variable>"``."""
    names: dict[str, str] = {}
    for exercise_id in ids:
        ex = get_exercise(exercise_id)
        names[ex.id] = ex.name
        names.update({CHAPTER_KEY + var: var for var in ex.uses})
    return names


def harvest_code(names: dict[str, str], path: str) -> str:
    """The cell the grader appends: pickle each ``{exercise id: name}`` found in the kernel.

    A name the notebook does not define is left out (not attempted); an object that
    cannot be pickled is recorded as the reason why, as text.
    """
    return (
        "def _cnncourse_harvest(names, path):\n"
        "    import cloudpickle\n"
        "    found = {}\n"
        "    scope = globals()\n"
        "    for key, name in names.items():\n"
        "        if name not in scope:\n"
        "            continue\n"
        "        try:\n"
        "            found[key] = cloudpickle.dumps(scope[name])\n"
        "        except BaseException as err:\n"
        "            found[key] = f'cannot be pickled: {type(err).__name__}: {err}'[:300]\n"
        "    with open(path, 'wb') as fh:\n"
        "        fh.write(cloudpickle.dumps(found))\n"
        f"_cnncourse_harvest({names!r}, {path!r})\n"
        "del _cnncourse_harvest\n"
    )


def _record(exercise_id: str, status: str, message: str, max_points: float) -> dict:
    return {
        "id": exercise_id,
        "status": status,
        "points": 0.0,
        "max_points": max_points,
        "message": message,
    }


def grade_answers(found: dict[str, Any], ids: list[str]) -> list[dict]:
    """One record per id: ``found[id]`` is pickled bytes, a reason text, or absent."""
    import cloudpickle

    records = []
    for exercise_id in ids:
        ex = get_exercise(exercise_id)
        blob = found.get(exercise_id) if isinstance(found, dict) else None
        if blob is None:
            records.append(
                _record(ex.id, NOT_ATTEMPTED, f"the notebook defines no {ex.name}", ex.points)
            )
        elif isinstance(blob, str):
            records.append(_record(ex.id, FAIL, blob, ex.points))
        elif not isinstance(blob, bytes):
            records.append(_record(ex.id, FAIL, "the answer file is damaged", ex.points))
        else:
            records.append(
                evaluate(
                    ex,
                    lambda blob=blob: cloudpickle.loads(blob),
                    lambda ex=ex: _chapter_variables(found, ex.uses),
                )
            )
    return records


def _chapter_variables(found: dict[str, Any], uses: tuple[str, ...]) -> dict[str, Any]:
    """The harvested chapter variables ``uses`` names (a missing one stays missing)."""
    import cloudpickle

    values = {}
    for var in uses:
        blob = found.get(CHAPTER_KEY + var)
        if isinstance(blob, bytes):
            values[var] = cloudpickle.loads(blob)
    return values


def main(argv: list[str]) -> int:
    path, ids = argv[0], argv[1:]
    # An answer may be a Keras model: unpickling it imports TensorFlow, and torchvision
    # imported after TensorFlow (by a later check) kills the process. Load it first.
    from cnncourse._frameworks import _torchvision_first

    _torchvision_first()
    try:
        with open(path, "rb") as fh:
            found = pickle.load(fh)
    except Exception as err:  # noqa: BLE001 - missing or damaged: every answer is absent
        found = {}
        print(f"cannot read {path}: {type(err).__name__}", file=sys.stderr)
    records = grade_answers(found, ids)
    print(MARKER + json.dumps(records), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
