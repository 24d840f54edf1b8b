"""Grade submitted notebooks: run each one, then evaluate its named answers on the grader's side.

Each notebook runs in a fresh kernel in its own temporary working directory (a copy of
the notebook and of the support files the instructor names), under time limits. Then
the grader appends one cell that pickles the objects the exercises name
(:func:`cnncourse.exercises.evaluate.harvest_code`) and evaluates them in a separate
process with the grading checks, once each (:mod:`cnncourse.exercises.evaluate`). The
student's own ``check(...)`` calls are feedback only: nothing the kernel prints or logs
enters the table. A notebook that stops early (an error, a timeout) is still evaluated
on what it defined before that; a kernel that died leaves nothing to evaluate.

Time limits separate the chapter's own cells from the student's: a student cell (tagged
``exercise-stub``, or calling ``check(``) draws on one budget per notebook, ``timeout``;
every other cell (the chapter's own code, which may train a model first) has its own
limit, ``chapter_timeout``, per cell. A timeout says which cell ran out, of which kind,
and for how long. Every entry of the submissions folder gets a row, notebook or not.
Notebooks are graded side by side, ``jobs`` at a time (default: one per core).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from cnncourse.exercises.evaluate import ANSWERS_FILE, MARKER, harvest_code, harvest_names
from cnncourse.exercises.registry import (
    FAIL,
    NOT_ATTEMPTED,
    PASS,
    all_exercises,
    get_exercise,
)

STUDENT, TOTAL, STATUS = "student", "total", "status"
CHAPTER_CELL_SECONDS = 1800  # per chapter cell: full-size training on a slow 2-core laptop
STUDENT_TAG = "exercise-stub"
SKIPPED = "skipped: not a notebook"
HARVEST_SECONDS = 60  # the appended cell that pickles the named answers
EVALUATION_SECONDS = 60  # the evaluation process: starting, loading; plus each check's own
_TIMEOUT_NAME = "CnncourseGradingTimeout"  # the error nbclient reports for a cell over its limit
CHECK_CALL = re.compile(r"""check\(\s*\\?["']([a-z0-9-]+)\\?["']""")


@dataclass
class NotebookResult:
    """What running one notebook gave: its status and every verdict in order.

    ``status`` is ``"ok"``; ``"timeout: cell N (student|chapter cell ...) ..."``;
    ``"error: <ExceptionName>: <message>"`` for an exception in a cell; ``"crashed: ..."``
    when the kernel died; ``"invalid notebook: ..."`` for a file that is not a notebook's
    JSON; ``"skipped: not a notebook"`` for another file; ``"grading failed: ..."`` when
    the evaluation process gave no verdicts. ``verdicts`` are the grader's records
    ``{"id", "status", "points", "max_points", "message"}``, one per exercise;
    ``workdir`` is the temporary folder the notebook ran in (removed afterwards).
    """

    path: Path
    status: str
    verdicts: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    workdir: Path | None = None

    @property
    def final(self) -> dict[str, dict]:
        """The last verdict of each exercise id, in order of first appearance."""
        last: dict[str, dict] = {}
        for record in self.verdicts:
            last[record["id"]] = record  # a repeated id keeps its first position
        return last

    @property
    def points(self) -> dict[str, float]:
        return {key: float(record["points"]) for key, record in self.final.items()}


def is_student_cell(cell) -> bool:
    """True for a code cell the student writes: tagged ``exercise-stub``, or calling ``check(``."""
    if cell.get("cell_type") != "code":
        return False
    tags = cell.get("metadata", {}).get("tags", [])
    return STUDENT_TAG in tags or "check(" in cell.get("source", "")


class _CellClock:
    """Per-cell time limits for nbclient, and a record of which cell is running since when."""

    def __init__(self, nb, student_budget: float, chapter_limit: float) -> None:
        self.nb, self.student_budget, self.chapter_limit = nb, student_budget, chapter_limit
        self.cell, self.started, self.student_spent = None, time.monotonic(), 0.0

    def __call__(self, cell) -> int:
        if cell is not self.cell:
            self._finish()
            self.cell, self.started = cell, time.monotonic()
        if cell.get("metadata", {}).get("cnncourse") == "harvest":
            return HARVEST_SECONDS
        if is_student_cell(cell):
            return max(1, math.ceil(self.student_budget - self.student_spent))
        return max(1, math.ceil(self.chapter_limit))

    def _finish(self) -> None:
        if self.cell is not None and is_student_cell(self.cell):
            self.student_spent += time.monotonic() - self.started

    def where(self) -> str:
        """``cell N (kind, first line)``: the cell running now."""
        if self.cell is None:
            return "before the first cell"
        number = next((i + 1 for i, c in enumerate(self.nb.cells) if c is self.cell), "?")
        kind = "student cell" if is_student_cell(self.cell) else "chapter cell"
        first = self.cell.get("source", "").strip().splitlines()[:1]
        line = first[0] if first else ""
        line = line if len(line) <= 40 else line[:37] + "..."
        return f"cell {number} ({kind}: {line})"

    def timeout_status(self) -> str:
        ran = time.monotonic() - self.started
        if self.cell is not None and is_student_cell(self.cell):
            limit = f"student cells share a budget of {self.student_budget:g} s"
        else:
            limit = f"the limit per chapter cell is {self.chapter_limit:g} s"
        return f"timeout: {self.where()} was running for {ran:.0f} s; {limit}"


def run_notebook(
    path: str | Path,
    *,
    timeout: float = 120,
    chapter_timeout: float = CHAPTER_CELL_SECONDS,
    kernel_name: str = "python3",
    exercises: Iterable[str] | None = None,
    support: Iterable[str | Path] = (),
    keep_workdir: bool = False,
    threads: int | None = None,
) -> NotebookResult:
    """Run the notebook at ``path`` in a fresh kernel, then grade its named answers.

    Parameters
    ----------
    path
        An ``.ipynb`` file, or a MyST ``.md`` notebook (read with jupytext).
    timeout
        Seconds all student cells (see :func:`is_student_cell`) may take together; the
        cell running when they are spent is interrupted and the status says which.
    chapter_timeout
        Seconds each other cell (the chapter's own code) may take.
    kernel_name
        The Jupyter kernel to start; it must be able to import ``cnncourse``.
    exercises
        The exercise ids to grade; ``None``: every exercise of each chapter whose ids
        the notebook's ``check("...")`` calls name.
    support
        Files copied next to the notebook into its working directory (data it reads).
    keep_workdir
        Leave the temporary working directory in place (for inspection).
    threads
        CPU threads the kernel's PyTorch and TensorFlow may use (``None``: their own
        default, every core); notebooks graded side by side share the cores this way.

    The kernel runs in a new temporary folder holding a copy of the notebook. Never
    raises for a notebook that fails: its status says what happened.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from nbformat.v4 import new_code_cell

    path = Path(path)
    for name, value in (("timeout", timeout), ("chapter_timeout", chapter_timeout)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}.")
    start = time.monotonic()
    try:
        nb = _read(path)
    except Exception as err:  # not JSON, not a notebook: the student's file is broken
        return NotebookResult(path, _error(type(err).__name__, err, "invalid notebook"))
    ids = list(exercises) if exercises is not None else exercise_ids([_source_text(nb)])
    names = harvest_names(ids)
    workdir = Path(tempfile.mkdtemp(prefix="cnncourse-grade-"))
    try:
        shutil.copy2(path, workdir / path.name)
        for extra in support:
            shutil.copy2(extra, workdir / Path(extra).name)
        answers = workdir / ANSWERS_FILE
        clock = _CellClock(nb, timeout, chapter_timeout)
        client = NotebookClient(
            nb,
            kernel_name=kernel_name,
            timeout_func=clock,
            interrupt_on_timeout=True,  # stop the cell, keep the kernel for the harvest
            error_on_timeout={"ename": _TIMEOUT_NAME, "evalue": "", "traceback": []},
            shell_timeout_interval=1,  # check the time limit every second, not every 5
            startup_timeout=60,
            shutdown_kernel="immediate",  # a looping kernel would not answer a polite request
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            resources={"metadata": {"path": str(workdir)}},
        )
        status, alive = "ok", True
        try:
            with client.setup_kernel(env=_thread_capped_env(threads)):
                try:
                    for index, cell in enumerate(list(nb.cells)):
                        client.execute_cell(cell, index)
                except CellExecutionError as err:
                    timed_out = err.ename == _TIMEOUT_NAME
                    status = clock.timeout_status() if timed_out else _error(err.ename, err.evalue)
                except CellTimeoutError:
                    status = clock.timeout_status()
                if names:
                    harvest = new_code_cell(harvest_code(names, str(answers)))
                    harvest.metadata["cnncourse"] = "harvest"
                    nb.cells.append(harvest)
                    # a harvest that fails leaves nothing to evaluate: every exercise scores 0
                    with contextlib.suppress(CellExecutionError, CellTimeoutError):
                        client.execute_cell(harvest, len(nb.cells) - 1)
        except DeadKernelError:
            status, alive = f"crashed: the kernel died in {clock.where()}", False
        except Exception as err:  # kernel failed to start, etc.: report, go on
            status, alive = _error(type(err).__name__, err), False
        answers_found = alive and answers.is_file()
        verdicts, failure = _evaluate(answers if answers_found else None, ids, workdir, threads)
        if failure and status == "ok":
            status = failure
        return NotebookResult(path, status, verdicts, time.monotonic() - start, workdir)
    finally:
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def exercise_ids(sources: Iterable[str]) -> list[str]:
    """Every exercise of each chapter that ``check("id", ...)`` calls in ``sources`` name.

    Ids in order of first appearance, then the chapters' other exercises; unknown ids
    (typos) are left out.
    """
    known = {ex.id: ex for ex in all_exercises()}
    seen = [key for text in sources for key in CHECK_CALL.findall(text) if key in known]
    chapters = dict.fromkeys(known[key].chapter for key in seen)
    ordered = list(dict.fromkeys(seen))
    for chapter in chapters:
        ordered += [ex.id for ex in all_exercises(chapter) if ex.id not in ordered]
    return ordered


def _source_text(nb) -> str:
    return "\n".join(c.get("source", "") for c in nb.cells if c.get("cell_type") == "code")


_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


def _thread_capped_env(threads: int | None) -> dict[str, str]:
    """This process's environment, with the thread pools capped at ``threads`` where
    the user has not set them."""
    env = dict(os.environ)
    if threads is not None:
        for name in _THREAD_VARIABLES:
            env.setdefault(name, str(threads))
    return env


def _evaluate(
    answers: Path | None, ids: list[str], workdir: Path, threads: int | None = None
) -> tuple[list[dict], str]:
    """Grade the pickled answers in a separate process; records and a failure text ("": none).

    Only the records of ``ids`` are taken, and points follow from the status and the
    registry, never from what the process claims.
    """
    if not ids:
        return [], ""
    exercises = [get_exercise(key) for key in ids]
    missing = [
        _blank(ex, NOT_ATTEMPTED, "no answers could be read from the notebook") for ex in exercises
    ]
    if answers is None:
        return missing, ""
    limit = EVALUATION_SECONDS + sum(ex.seconds for ex in exercises)
    command = [sys.executable, "-m", "cnncourse.exercises.evaluate", str(answers), *ids]
    env = {**_thread_capped_env(threads), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        done = subprocess.run(
            command, cwd=workdir, capture_output=True, text=True, timeout=limit, env=env
        )
    except subprocess.TimeoutExpired:
        failed = [_blank(ex, FAIL, "the evaluation ran out of time") for ex in exercises]
        return failed, f"grading failed: the evaluation ran past {limit:g} s"
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    try:
        claimed = {r["id"]: r for r in json.loads(lines[-1][len(MARKER) :]) if isinstance(r, dict)}
    except (IndexError, ValueError, TypeError, KeyError):
        failed = [_blank(ex, FAIL, "the evaluation gave no verdicts") for ex in exercises]
        return failed, f"grading failed: the evaluation process ended with code {done.returncode}"
    records = []
    for ex in exercises:
        record = claimed.get(ex.id, {})
        state = record.get("status")
        state = state if state in (PASS, FAIL, NOT_ATTEMPTED) else FAIL
        message = str(record.get("message", "no verdict"))[:300]
        records.append(
            {**_blank(ex, state, message), "points": ex.points if state == PASS else 0.0}
        )
    return records, ""


def _blank(ex, status: str, message: str) -> dict:
    return {
        "id": ex.id,
        "status": status,
        "points": 0.0,
        "max_points": ex.points,
        "message": message,
    }


def grade(
    submissions_dir: str | Path,
    out_csv: str | Path,
    *,
    timeout: float = 120,
    chapter_timeout: float = CHAPTER_CELL_SECONDS,
    kernel_name: str = "python3",
    progress: Callable[[NotebookResult], None] | None = None,
    chapters: Iterable[str] | None = None,
    support: Iterable[str | Path] = (),
    jobs: int | None = None,
    bar: bool | None = None,
):
    """Grade every ``*.ipynb`` in ``submissions_dir`` and write the grade table to ``out_csv``.

    ``timeout``, ``chapter_timeout`` and ``support`` are :func:`run_notebook`'s. The
    exercises graded are every exercise of ``chapters`` (names such as ``"pooling"``),
    or of each chapter any submission's ``check("...")`` calls name; every notebook is
    graded on all of them, so deleting a stub scores 0, not a missing column. ``jobs``
    notebooks run side by side (default: one per core); ``bar`` shows a tqdm progress
    bar (default: when stderr is a terminal). Every other entry of the folder gets a
    row too, ``"skipped: not a notebook"``; hidden entries (``.ipynb_checkpoints``,
    ``.DS_Store``) are left out.

    Returns
    -------
    pandas.DataFrame
        One row per entry (``student`` = a notebook's file stem, another file's full
        name; sorted), one column per exercise id (points the grader gave), ``total``
        and ``status`` (see :class:`NotebookResult`).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    folder = Path(submissions_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder {folder} does not exist.")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    notebooks = [p for p in entries if _is_notebook(p)]
    if not notebooks:
        found = ", ".join(p.name for p in entries[:5]) or "nothing"
        raise ValueError(
            f"no .ipynb files in {folder} (found: {found}): put one notebook per student there."
        )
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    if not (isinstance(jobs, int) and jobs >= 1):
        raise ValueError(f"jobs must be a whole number of at least 1, got {jobs!r}.")
    side_by_side = min(jobs, len(notebooks))
    support = [Path(p) for p in support]
    for extra in support:
        if not extra.is_file():
            raise FileNotFoundError(f"support file {extra} does not exist.")
    ids = _graded_ids(notebooks, chapters)
    options = {
        "timeout": timeout,
        "chapter_timeout": chapter_timeout,
        "kernel_name": kernel_name,
        "exercises": ids,
        "support": support,
        # kernels side by side split the cores: oversubscribed threads slow PyTorch badly
        "threads": max(1, (os.cpu_count() or 1) // side_by_side) if side_by_side > 1 else None,
    }
    results: dict[Path, NotebookResult] = {
        p: NotebookResult(p, SKIPPED) for p in entries if not _is_notebook(p)
    }
    with tqdm(
        total=len(notebooks),
        desc="grading",
        unit="notebook",
        disable=bar is False or (bar is None and not sys.stderr.isatty()),
    ) as meter:

        def done(result: NotebookResult) -> None:
            results[result.path] = result
            meter.update()
            if progress is not None:
                progress(result)

        if jobs == 1 or len(notebooks) == 1:
            for notebook in notebooks:
                done(run_notebook(notebook, **options))
        else:
            # Threads suffice: each one waits on its kernel and evaluation processes.
            with ThreadPoolExecutor(side_by_side) as pool:
                futures = [pool.submit(run_notebook, nb, **options) for nb in notebooks]
                for future in as_completed(futures):
                    done(future.result())
        if progress is not None:
            for entry in entries:
                if not _is_notebook(entry):
                    progress(results[entry])

    rows = []
    for entry in entries:
        result = results[entry]
        points = result.points
        row = {STUDENT: entry.stem if _is_notebook(entry) else entry.name}
        row.update({key: points.get(key, 0.0) for key in ids})
        row[TOTAL] = sum(points.get(key, 0.0) for key in ids)
        row[STATUS] = result.status
        rows.append(row)
    table = pd.DataFrame(rows, columns=[STUDENT, *ids, TOTAL, STATUS])
    for column in [*ids, TOTAL]:  # 1 rather than 1.0 when every score is whole
        if table[column].map(lambda v: float(v).is_integer()).all():
            table[column] = table[column].astype("int64")
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    return table


def _graded_ids(notebooks: list[Path], chapters: Iterable[str] | None) -> list[str]:
    if chapters is not None:
        ids = []
        for chapter in chapters:
            found = [ex.id for ex in all_exercises(chapter)]
            if not found:
                known = sorted({ex.chapter for ex in all_exercises()})
                raise ValueError(
                    f"chapter {chapter!r} has no exercises; known: {', '.join(known)}."
                )
            ids += found
        return ids
    texts = []
    for notebook in notebooks:
        try:
            texts.append(_source_text(_read(notebook)))
        except Exception:  # noqa: BLE001 - an invalid notebook names no exercise
            continue
    return exercise_ids(texts)


def _is_notebook(path: Path) -> bool:
    return path.suffix == ".ipynb" and path.is_file()


def _read(path: Path):
    if path.suffix == ".md":
        import jupytext

        return jupytext.read(path)
    import nbformat

    return nbformat.read(path, as_version=4)


def _error(name: str, message: object, kind: str = "error") -> str:
    text = " ".join(str(message).split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{kind}: {name}: {text}" if text else f"{kind}: {name}"
