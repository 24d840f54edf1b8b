"""Grade submitted notebooks: run each in a fresh kernel and collect its check verdicts.

Every ``check(...)`` call appends a JSON line to the file named by
``$CNNCOURSE_GRADING_LOG`` (see :mod:`cnncourse.exercises.registry`); here each
notebook gets its own log, so a notebook that crashes or runs out of time still
gets the points of the checks it passed before that. For an exercise checked more
than once, the last verdict counts (the notebook's final answer).
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


@dataclass
class NotebookResult:
    """What running one notebook gave: its status and every verdict in order.

    ``status`` is ``"ok"``, ``"timeout"`` or ``"error: <ExceptionName>: <message>"``;
    ``verdicts`` are the logged records ``{"id", "status", "points", "max_points"}``.
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


def run_notebook(
    path: str | Path, *, timeout: float = 120, kernel_name: str = "python3"
) -> NotebookResult:
    """Execute the notebook at ``path`` in a fresh kernel and collect its check verdicts.

    Parameters
    ----------
    path
        An ``.ipynb`` file, or a MyST ``.md`` notebook (read with jupytext).
    timeout
        Seconds the whole notebook may take (kernel start included); the cell
        running when time is up is interrupted and the status is ``"timeout"``.
    kernel_name
        The Jupyter kernel to start; it must be able to import ``cnncourse``.

    The kernel runs in the notebook's folder. Never raises for a notebook that
    fails: its status says what happened.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    if timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout}.")
    start = time.monotonic()
    fd, log_name = tempfile.mkstemp(prefix="cnncourse-grading-", suffix=".jsonl")
    os.close(fd)
    log = Path(log_name)
    try:
        try:
            nb = _read(path)
        except Exception as err:  # not JSON, not a notebook: the student's file is broken
            return NotebookResult(path, _error(type(err).__name__, err), [], 0.0)
        deadline = start + timeout

        def remaining(_cell) -> int:
            return max(1, math.ceil(deadline - time.monotonic()))

        client = NotebookClient(
            nb,
            kernel_name=kernel_name,
            timeout_func=remaining,
            shell_timeout_interval=1,  # check the time limit every second, not every 5
            startup_timeout=max(30, int(timeout)),
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
            status = "timeout"
        except CellExecutionError as err:
            status = _error(err.ename, err.evalue)
        except DeadKernelError as err:
            status = _error("DeadKernelError", err)
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
    kernel_name: str = "python3",
    progress: Callable[[NotebookResult], None] | None = None,
):
    """Run every ``*.ipynb`` in ``submissions_dir`` and write the grade table to ``out_csv``.

    Returns
    -------
    pandas.DataFrame
        One row per notebook (``student`` = file stem, sorted), one column per exercise
        id seen in any notebook (points earned, 0 where not reached), ``total`` and
        ``status`` (``"ok"``, ``"timeout"`` or ``"error: <name>: <message>"``).
    """
    import pandas as pd

    folder = Path(submissions_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder {folder} does not exist.")
    notebooks = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not notebooks:
        raise ValueError(f"no .ipynb files in {folder}: put one notebook per student there.")

    results = []
    for notebook in notebooks:
        result = run_notebook(notebook, timeout=timeout, kernel_name=kernel_name)
        results.append(result)
        if progress is not None:
            progress(result)

    ids: list[str] = []
    for result in results:
        ids += [key for key in result.final if key not in ids]
    rows = []
    for result in results:
        points = result.points
        row = {STUDENT: result.path.stem}
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


def _error(name: str, message: object) -> str:
    text = " ".join(str(message).split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"error: {name}: {text}" if text else f"error: {name}"
