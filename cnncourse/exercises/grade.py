"""Grade submitted notebooks: run each in a fresh kernel and collect its check verdicts.

Every ``check(...)`` call appends a JSON line to the file named by
``$CNNCOURSE_GRADING_LOG`` (see :mod:`cnncourse.exercises.registry`); here each
notebook gets its own log, so a notebook that crashes or runs out of time still
gets the points of the checks it passed before that. For an exercise checked more
than once, the last verdict counts (the notebook's final answer).

Time limits separate the chapter's own cells from the student's: a student cell (tagged
``exercise-stub``, or calling ``check(``) draws on one budget per notebook, ``timeout``;
every other cell (the chapter's own code, which may train a model first) has its own
limit, ``chapter_timeout``, per cell. A timeout says which cell ran out, of which kind,
and for how long. Every entry of the submissions folder gets a row, notebook or not.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cnncourse.exercises.registry import GRADING_LOG_ENV

STUDENT, TOTAL, STATUS = "student", "total", "status"
CHAPTER_CELL_SECONDS = 1800  # per chapter cell: full-size training on a slow 2-core laptop
STUDENT_TAG = "exercise-stub"
SKIPPED = "skipped: not a notebook"


@dataclass
class NotebookResult:
    """What running one notebook gave: its status and every verdict in order.

    ``status`` is ``"ok"``; ``"timeout: cell N (student|chapter cell ...) ..."``;
    ``"error: <ExceptionName>: <message>"`` for an exception in a cell; ``"crashed: ..."``
    when the kernel died; ``"invalid notebook: ..."`` for a file that is not a notebook's
    JSON; ``"skipped: not a notebook"`` for another file. ``verdicts`` are the logged
    records ``{"id", "status", "points", "max_points"}``.
    """

    path: Path
    status: str
    verdicts: list[dict] = field(default_factory=list)
    seconds: float = 0.0

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
) -> NotebookResult:
    """Execute the notebook at ``path`` in a fresh kernel and collect its check verdicts.

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

    The kernel runs in the notebook's folder. Never raises for a notebook that
    fails: its status says what happened.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    for name, value in (("timeout", timeout), ("chapter_timeout", chapter_timeout)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}.")
    start = time.monotonic()
    fd, log_name = tempfile.mkstemp(prefix="cnncourse-grading-", suffix=".jsonl")
    os.close(fd)
    log = Path(log_name)
    try:
        try:
            nb = _read(path)
        except Exception as err:  # not JSON, not a notebook: the student's file is broken
            return NotebookResult(path, _error(type(err).__name__, err, "invalid notebook"))
        clock = _CellClock(nb, timeout, chapter_timeout)
        client = NotebookClient(
            nb,
            kernel_name=kernel_name,
            timeout_func=clock,
            shell_timeout_interval=1,  # check the time limit every second, not every 5
            startup_timeout=60,
            shutdown_kernel="immediate",  # a looping kernel would not answer a polite request
            extra_arguments=[
                "--IPKernelApp.log_level=ERROR"
            ],  # no transport warnings per notebook
            resources={"metadata": {"path": str(path.parent.resolve())}},
        )
        env = {**os.environ, GRADING_LOG_ENV: str(log)}
        try:
            client.execute(env=env)
            status = "ok"
        except CellTimeoutError:
            status = clock.timeout_status()
        except CellExecutionError as err:
            status = _error(err.ename, err.evalue)
        except DeadKernelError:
            status = f"crashed: the kernel died in {clock.where()}"
        except Exception as err:  # kernel failed to start, etc.: report, go on
            status = _error(type(err).__name__, err)
        return NotebookResult(path, status, _read_log(log), time.monotonic() - start)
    finally:
        log.unlink(missing_ok=True)


def grade(
    submissions_dir: str | Path,
    out_csv: str | Path,
    *,
    timeout: float = 120,
    chapter_timeout: float = CHAPTER_CELL_SECONDS,
    kernel_name: str = "python3",
    progress: Callable[[NotebookResult], None] | None = None,
):
    """Run every ``*.ipynb`` in ``submissions_dir`` and write the grade table to ``out_csv``.

    ``timeout`` and ``chapter_timeout`` are :func:`run_notebook`'s limits. Every other
    entry of the folder gets a row too, ``"skipped: not a notebook"``; hidden entries
    (``.ipynb_checkpoints``, ``.DS_Store``) are left out.

    Returns
    -------
    pandas.DataFrame
        One row per entry (``student`` = a notebook's file stem, another file's full
        name; sorted), one column per exercise id seen in any notebook (points earned,
        0 where not reached), ``total`` and ``status`` (see :class:`NotebookResult`).
    """
    import pandas as pd

    folder = Path(submissions_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder {folder} does not exist.")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    if not any(_is_notebook(p) for p in entries):
        found = ", ".join(p.name for p in entries[:5]) or "nothing"
        raise ValueError(
            f"no .ipynb files in {folder} (found: {found}): put one notebook per student there."
        )

    results = []
    for entry in entries:
        if _is_notebook(entry):
            result = run_notebook(
                entry, timeout=timeout, chapter_timeout=chapter_timeout, kernel_name=kernel_name
            )
        else:
            result = NotebookResult(entry, SKIPPED)
        results.append(result)
        if progress is not None:
            progress(result)

    ids: list[str] = []
    for result in results:
        ids += [key for key in result.final if key not in ids]
    rows = []
    for result in results:
        points = result.points
        row = {STUDENT: result.path.stem if _is_notebook(result.path) else result.path.name}
        row.update({key: points.get(key, 0.0) for key in ids})
        row[TOTAL] = sum(points.get(key, 0.0) for key in ids)
        row[STATUS] = result.status
        rows.append(row)
    table = pd.DataFrame(rows, columns=[STUDENT, *ids, TOTAL, STATUS])
    for column in [*ids, TOTAL]:  # 1 rather than 1.0 when every score is whole
        if table[column].map(float.is_integer).all():
            table[column] = table[column].astype("int64")
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    return table


def _is_notebook(path: Path) -> bool:
    return path.suffix == ".ipynb" and path.is_file()


def _read(path: Path):
    if path.suffix == ".md":
        import jupytext

        return jupytext.read(path)
    import nbformat

    return nbformat.read(path, as_version=4)


def _read_log(log: Path) -> list[dict]:
    records = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn line from a killed kernel
        if isinstance(record, dict) and {"id", "status", "points"} <= record.keys():
            records.append(record)
    return records


def _error(name: str, message: object, kind: str = "error") -> str:
    text = " ".join(str(message).split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{kind}: {name}: {text}" if text else f"{kind}: {name}"
