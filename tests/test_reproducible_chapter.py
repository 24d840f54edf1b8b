"""A chapter executed twice, in two fresh kernels, shows the same outputs.

The chapters seed everything through ``cnncourse.runtime.seed_everything``; this test
is the end-to-end check that seeding is enough: training, metrics, tables and figures
of a whole chapter come out identical on a second run (CPU, quick mode).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.keras  # the chapter scores its model with Keras too
jupytext = pytest.importorskip("jupytext")
NotebookClient = pytest.importorskip("nbclient").NotebookClient

ROOT = Path(__file__).resolve().parents[1]
# A chapter that trains a CNN in PyTorch and scores it with torchmetrics, scikit-learn
# and Keras, with no wall-clock times among its outputs.
CHAPTER = ROOT / "book" / "evaluation.md"


def executed_outputs(path: Path) -> list[list[dict]]:
    """The outputs of every code cell after one top-to-bottom run in a fresh kernel."""
    nb = jupytext.read(path)
    env = {**os.environ, "CNNCOURSE_QUICK": "1"}
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        coalesce_streams=True,  # one print may arrive in several chunks on a busy machine
        resources={"metadata": {"path": str(path.parent)}},
    ).execute(env=env)
    return [visible(cell.outputs) for cell in nb.cells if cell.cell_type == "code"]


def visible(outputs) -> list[dict]:
    """What a reader sees of a cell's outputs: printed text and rich results (images included).

    Execution counts and stderr (TensorFlow's start-up chatter) are left out; printed
    text is joined, since how the kernel chunks it depends on timing, not on the code.
    """
    seen = []
    for out in outputs:
        if out.output_type == "stream" and out.name == "stdout":
            if seen and "stdout" in seen[-1]:
                seen[-1] = {"stdout": seen[-1]["stdout"] + out.text}
            else:
                seen.append({"stdout": out.text})
        elif out.output_type in {"execute_result", "display_data"}:
            seen.append(dict(out.data))
        elif out.output_type == "error":
            seen.append({"error": out.ename})
    return seen


@pytest.mark.slow
def test_a_chapter_run_twice_gives_the_same_outputs():
    first, second = executed_outputs(CHAPTER), executed_outputs(CHAPTER)
    assert any(first), "the chapter produced no outputs"
    differing = [i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]
    shown = "; ".join(f"cell {i}: {first[i]!r:.300} vs {second[i]!r:.300}" for i in differing)
    assert not differing, f"code cells {differing} of {CHAPTER.name} differ between runs: {shown}"
