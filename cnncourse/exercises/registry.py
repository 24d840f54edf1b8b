"""Answer checks: ``check(exercise_id, answer)`` gives a student a verdict and a hint.

Each chapter registers its checkers in ``cnncourse/exercises/checks/<chapter>.py``::

    @exercise("why-params-dense", chapter="why_convolutions", points=1)
    def _(answer):
        got = as_int(answer, "a number of parameters")   # WrongType -> "expected an int"
        return compare_int(got, 784 * 128 + 128)           # None = pass, str = hint

A checker returns ``None`` (or ``True``) for a correct answer and a hint string (or
``False``) for a wrong one. Each exercise also names what its stub defines (``name``: a
variable or a function, by default the id with underscores, ``data_safe_digits``) and may
register a separate grading check with :func:`grading`: the grader evaluates that name
itself after the notebook has run (:mod:`cnncourse.exercises.evaluate`), so the
student's own ``check`` calls are feedback only. A grading check tries a function on
inputs of its own choosing (another size, another seed), so a hard-coded literal fails. Every module in ``checks/`` is imported on first use, so a
new chapter only adds a file. Checker modules must import nothing heavy at module
level (no torch/TF): import inside the checker.

``check`` never raises on a student's answer: ``None``/``...`` is "not attempted", a
wrong type says which type is expected, and an exception inside a checker is a fail
whose message names it. An unknown id is a fail that names the closest known ids.
Every check has a budget: an answer larger than :data:`ANSWER_BYTES` is refused
unread, and a checker still running after its ``seconds`` (default
:data:`CHECK_SECONDS`, enforced in the main thread on POSIX, where kernels run cells)
is stopped with a fail that says so. When ``$CNNCOURSE_GRADING_LOG`` names a file, each verdict is
appended to it as a JSON line ``{"id", "status", "points", "max_points"}``: a record for the
student's own tools; grading never reads it.
"""

from __future__ import annotations

import difflib
import html
import importlib
import json
import os
import pkgutil
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from cnncourse.exercises.answers import NotAttempted, WrongType, describe

GRADING_LOG_ENV = "CNNCOURSE_GRADING_LOG"
PASS, FAIL, NOT_ATTEMPTED = "pass", "fail", "not attempted"
_ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SYMBOL = {PASS: "\u2705", FAIL: "\u274c", NOT_ATTEMPTED: "\u23f3"}
_COLOR = {PASS: "#1a7f37", FAIL: "#cf222e", NOT_ATTEMPTED: "#9a6700"}
CHECK_SECONDS = 120.0  # default time budget of one check
ANSWER_BYTES = 256 * 2**20  # no answer of the course comes near this many bytes

Checker = Callable[[Any], "str | bool | None"]


@dataclass(frozen=True)
class Exercise:
    """One registered exercise: id, chapter, points, feedback checker and grading check.

    ``name`` is what the stub defines (a variable or a function); ``grader`` is the
    check the grader runs on it (the feedback ``checker`` when none is registered);
    ``uses`` names the chapter's own variables its checks read (:func:`chapter_value`).
    """

    id: str
    chapter: str
    points: float
    checker: Checker = field(repr=False)
    seconds: float = CHECK_SECONDS
    name: str = ""
    grader: Checker | None = field(default=None, repr=False)
    uses: tuple[str, ...] = ()

    @property
    def grading_check(self) -> Checker:
        return self.grader if self.grader is not None else self.checker


@dataclass(frozen=True)
class Verdict:
    """The result of one check.

    ``status`` is ``"pass"``, ``"fail"`` or ``"not attempted"``; ``message`` is the
    text shown to the student; ``points`` are earned out of ``max_points``.
    """

    exercise_id: str
    status: str
    message: str
    points: float
    max_points: float

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def __str__(self) -> str:
        return f"{_SYMBOL[self.status]} {self.exercise_id}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"Verdict({self.exercise_id!r}, status={self.status!r}, "
            f"points={self.points:g}/{self.max_points:g})"
        )

    def _repr_html_(self) -> str:
        return (
            f'<div style="border-left:4px solid {_COLOR[self.status]};padding:2px 8px">'
            f"{_SYMBOL[self.status]} <code>{html.escape(self.exercise_id)}</code>: "
            f"{html.escape(self.message)}</div>"
        )

    def _repr_markdown_(self) -> str:
        return f"{_SYMBOL[self.status]} `{self.exercise_id}`: {self.message}"

    def _ipython_display_(self) -> None:
        # check() already printed this verdict in the running cell: showing it again
        # as the cell's Out[] value would say everything twice. Later cells show it.
        if any(v is self for v in _printed_this_cell):
            return
        from IPython.display import display

        display(
            {"text/plain": str(self), "text/html": self._repr_html_()},
            raw=True,
        )


_REGISTRY: dict[str, Exercise] = {}
_loaded = False
_printed_this_cell: list[Verdict] = []
_hook_installed = False


def exercise(
    exercise_id: str,
    *,
    chapter: str,
    points: float = 1,
    seconds: float = CHECK_SECONDS,
    name: str | None = None,
    uses: tuple[str, ...] = (),
) -> Callable[[Checker], Checker]:
    """Register the decorated function as the checker of ``exercise_id``.

    Ids are lowercase words joined by hyphens, starting with the chapter's prefix
    (``why-params-dense``, ``conv-output-size``); each id is registered once.
    ``seconds`` is the time budget of one check (a checker that trains needs more).
    ``name`` is the Python name the exercise's stub defines and the grader reads
    (default: the id with underscores, ``conv_output_size``). ``uses`` names variables
    of the chapter's own code (a history table, a trained model) that the checks read
    with :func:`chapter_value`: *read* and *experiment* exercises compare the
    student's answer with what the notebook itself produced.
    """
    uses = tuple(uses)
    if not all(isinstance(u, str) and _NAME_RE.match(u) for u in uses):
        raise ValueError(f"uses of {exercise_id!r} must be Python identifiers, got {uses!r}.")
    name = exercise_id.replace("-", "_") if name is None else name
    if not _ID_RE.match(exercise_id):
        raise ValueError(
            f"exercise id {exercise_id!r} is not valid: use lowercase words and digits "
            "joined by hyphens, e.g. 'conv-output-size'."
        )
    if points <= 0:
        raise ValueError(f"points must be positive, got {points} for {exercise_id!r}.")
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds} for {exercise_id!r}.")
    if not (isinstance(name, str) and _NAME_RE.match(name)):
        raise ValueError(f"name {name!r} of {exercise_id!r} is not a Python identifier.")

    def register(func: Checker) -> Checker:
        previous = _REGISTRY.get(exercise_id)
        same_origin = previous is not None and (
            previous.checker.__module__,
            previous.checker.__qualname__,
        ) == (func.__module__, func.__qualname__)
        if previous is not None and not same_origin:  # a module reload may re-register
            raise ValueError(
                f"exercise id {exercise_id!r} is already registered by "
                f"{previous.checker.__module__}; pick another id."
            )
        _REGISTRY[exercise_id] = Exercise(
            exercise_id, chapter, float(points), func, float(seconds), name, uses=uses
        )
        return func

    return register


def grading(exercise_id: str) -> Callable[[Checker], Checker]:
    """Register the decorated function as the grading check of ``exercise_id``.

    The grader calls it once on the student's named object, in its own process,
    after the notebook has run. It returns ``None``/``True`` for a pass like a checker;
    its messages are never shown to the student, so it gives no hints. Use it to try
    a function on inputs the student never saw (draw them at random) where the
    feedback checker uses the chapter's fixed case.
    """

    def register(func: Checker) -> Checker:
        ex = _REGISTRY.get(exercise_id)
        if ex is None:
            raise ValueError(
                f"grading check for unknown exercise {exercise_id!r}: register it first."
            )
        _REGISTRY[exercise_id] = replace(ex, grader=func)
        return func

    return register


_CONTEXT: dict[str, Any] | None = None  # the harvested chapter variables, while grading


def chapter_value(name: str) -> Any:
    """The value of ``name`` in the chapter's own code, for *read* and *experiment* checks.

    In a student's kernel it is read from the notebook's namespace; while grading, from
    the copy the grader harvested after the notebook ran (only the names an exercise
    lists in ``uses``). A missing name raises :class:`NotAttempted`: the chapter's
    cells above the exercise have not run.
    """
    if _CONTEXT is not None:
        scope = _CONTEXT
    else:
        import __main__  # in a kernel, the notebook's globals

        scope = vars(__main__)
    if name not in scope:
        raise NotAttempted(
            f"the chapter's variable {name} is not defined: run the chapter's cells "
            "above this exercise first."
        )
    return scope[name]


@contextmanager
def chapter_variables(values: dict[str, Any]) -> Iterator[None]:
    """Make :func:`chapter_value` read ``values`` (and nothing else) inside the block."""
    global _CONTEXT
    previous, _CONTEXT = _CONTEXT, dict(values)
    try:
        yield
    finally:
        _CONTEXT = previous


def evaluate(
    ex: Exercise,
    load: Callable[[], Any],
    context: Callable[[], dict[str, Any]] | None = None,
) -> dict:
    """Grade the answer ``load()`` gives, once, with ``ex``'s grading check.

    Runs in the grader's own process (never the student's kernel); ``load`` (e.g.
    unpickling the student's object, which may run the student's code) runs inside the
    exercise's time limit, and so does ``context()``, the chapter variables the check
    reads (:func:`chapter_value`; none when not given). Numeric hints carry no
    direction here. Returns a record
    ``{"id", "status", "points", "max_points", "message"}`` for the grade table.
    """
    from cnncourse.exercises import answers

    def run(_: Any) -> str | bool | None:
        value = load()
        if value is None or value is Ellipsis:
            raise NotAttempted("the stub still holds None.")
        if _answer_bytes(value) > ANSWER_BYTES:
            return "the answer is far larger than any answer of the course."
        with chapter_variables(context() if context is not None else {}):
            return ex.grading_check(value)

    hints, answers.DIRECTION_HINTS = answers.DIRECTION_HINTS, False
    try:
        status, message = _judge(replace(ex, checker=run), _GRADED)
    finally:
        answers.DIRECTION_HINTS = hints
    return {
        "id": ex.id,
        "status": status,
        "points": ex.points if status == PASS else 0.0,
        "max_points": ex.points,
        "message": message,
    }


_GRADED = object()  # the placeholder answer _judge sees while evaluate loads the real one


def load_checks() -> None:
    """Import every module of ``cnncourse.exercises.checks`` once (they register themselves)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from cnncourse.exercises import checks

    for module in pkgutil.iter_modules(checks.__path__):
        if module.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{checks.__name__}.{module.name}")
        except Exception as err:  # one broken chapter must not disable the others
            warnings.warn(
                f"could not load the checks of {module.name!r}: {type(err).__name__}: {err}",
                RuntimeWarning,
                stacklevel=2,
            )


def all_exercises(chapter: str | None = None) -> list[Exercise]:
    """Every registered exercise (of one chapter, if given), sorted by chapter and id."""
    load_checks()
    found = [e for e in _REGISTRY.values() if chapter is None or e.chapter == chapter]
    return sorted(found, key=lambda e: (e.chapter, e.id))


def get_exercise(exercise_id: str) -> Exercise:
    """The registered exercise ``exercise_id``; ``ValueError`` naming close ids if unknown."""
    load_checks()
    if isinstance(exercise_id, str) and exercise_id in _REGISTRY:
        return _REGISTRY[exercise_id]
    raise ValueError(_unknown_id_message(exercise_id))


def _unknown_id_message(exercise_id: Any) -> str:
    shown = exercise_id if isinstance(exercise_id, str) else describe(exercise_id)
    close = difflib.get_close_matches(str(shown), list(_REGISTRY), n=5, cutoff=0.6)
    hint = (
        "did you mean " + ", ".join(repr(c) for c in close) + "?"
        if close
        else f"known ids: {', '.join(sorted(_REGISTRY)) or '(none)'}."
    )
    return (
        f"unknown exercise id {shown!r}; {hint} "
        "The id is the first argument of check(...) in the exercise cell."
    )


def check(exercise_id: str, answer: Any) -> Verdict:
    """Check ``answer`` for ``exercise_id``, print the verdict and return it.

    Never raises for what a student writes: an unknown id is a fail (0 of 0 points,
    not logged for grading) whose message names the closest known ids.

    Parameters
    ----------
    exercise_id
        The id written in the exercise cell, e.g. ``"why-params-dense"``.
    answer
        The student's answer; ``None`` or ``...`` means not attempted yet.

    Returns
    -------
    Verdict
        ``.passed``, ``.status`` (``"pass"``, ``"fail"``, ``"not attempted"``),
        ``.message`` and the points earned.
    """
    load_checks()
    ex = _REGISTRY.get(exercise_id) if isinstance(exercise_id, str) else None
    if ex is None:
        shown = exercise_id if isinstance(exercise_id, str) else describe(exercise_id)
        verdict = Verdict(str(shown)[:80], FAIL, _unknown_id_message(exercise_id), 0.0, 0.0)
        print(verdict)
        _remember_printed(verdict)
        return verdict
    status, message = _judge(ex, answer)
    earned = ex.points if status == PASS else 0.0
    verdict = Verdict(ex.id, status, message, earned, ex.points)
    print(verdict)
    _remember_printed(verdict)
    _log(verdict)
    return verdict


class _OutOfTime(BaseException):  # noqa: N818 - no Exception: checkers must not catch it
    """Raised inside a checker when its time budget is spent."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`_OutOfTime` in the running code after ``seconds`` (main thread, POSIX).

    An outer timer (a test runner's, another check's) is restored afterwards with the
    time it had left; elsewhere (a worker thread, Windows) the code runs unbounded.
    """
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def stop(signum, frame):
        raise _OutOfTime

    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, stop)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            left = outer - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3))


def _answer_bytes(answer: Any) -> int:
    """Bytes an array-like answer holds (0 when it does not say or the question fails)."""
    try:
        size = getattr(answer, "nbytes", 0)
        return int(size) if isinstance(size, int | float) else 0
    except Exception:  # noqa: BLE001 - a student's object may raise anything here
        return 0


def _safe_text(err: BaseException, limit: int = 200) -> str:
    try:
        text = " ".join(str(err).split())
    except Exception:  # noqa: BLE001 - an exception whose str() fails
        text = "(its message cannot be shown)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _judge(ex: Exercise, answer: Any) -> tuple[str, str]:
    if answer is None or answer is Ellipsis:
        return NOT_ATTEMPTED, "not attempted \u2014 replace None with your answer."
    size = _answer_bytes(answer)
    if size > ANSWER_BYTES:
        return FAIL, (
            f"your answer holds {size / 2**30:.1f} GB, far more than this exercise asks "
            f"for ({describe(answer)}); did you pass a whole dataset or the wrong variable?"
        )
    try:
        with _time_limit(ex.seconds):
            outcome = ex.checker(answer)
    except _OutOfTime:
        return FAIL, (
            f"the check stopped after {ex.seconds:g} s without a verdict on your answer "
            f"({describe(answer)}): an endless loop or generator, or a far too large input?"
        )
    except NotAttempted as err:
        return NOT_ATTEMPTED, f"not attempted \u2014 {_safe_text(err)}"
    except WrongType as err:
        return FAIL, f"wrong type: {_safe_text(err)}"
    except Exception as err:  # never a traceback for a student's answer
        return FAIL, (
            f"the check could not use your answer, a {type(answer).__name__} "
            f"({type(err).__name__}: {_safe_text(err)}). "
            "Look at what your answer contains, e.g. print(type(answer), answer)."
        )
    if outcome is None or outcome is True:
        worth = f"{ex.points:g} point" + ("" if ex.points == 1 else "s")
        return PASS, f"correct! ({worth})"
    hint = "not quite." if outcome is False else str(outcome)
    return FAIL, f"not yet: {hint}"


def _remember_printed(verdict: Verdict) -> None:
    """Mark ``verdict`` as printed in the running IPython cell (see ``_ipython_display_``)."""
    global _hook_installed
    ipython = sys.modules.get("IPython")  # loaded already whenever a shell is running
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    if not _hook_installed:
        shell.events.register("post_run_cell", lambda *_: _printed_this_cell.clear())
        _hook_installed = True
    _printed_this_cell.append(verdict)


def _log(verdict: Verdict) -> None:
    path = os.environ.get(GRADING_LOG_ENV)
    if not path:
        return
    record = {
        "id": verdict.exercise_id,
        "status": verdict.status,
        "points": verdict.points,
        "max_points": verdict.max_points,
    }
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
