"""``make gpu-check``: the unit tests on CUDA, then every chapter at full size under nbval.

Run on a machine with an NVIDIA GPU (a GPU runner, a cloud VM, Colab's terminal)::

    python .ci/gpu_check.py              # what `make gpu-check` runs

It runs ``pytest tests -m "not browser"`` (PyTorch picks CUDA by itself), then each
notebook chapter of ``_toc.yml`` in its own ``pytest --nbval-lax`` run with
``CNNCOURSE_QUICK=0``. A chapter that imports Keras or TensorFlow is skipped, with the
reason, when TensorFlow is not installed. One row per chapter (wall seconds, status,
device) goes to ``benchmarks/results/gpu_chapters.csv``, with a Markdown copy beside it
that also records the unit-test result: the GPU column of the instructor guide's chapter
times comes from there. Without CUDA the script refuses with one line and exit status 2;
otherwise the exit status is 1 when the tests or a chapter failed, else 0.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from cnncourse.exercises.student import is_myst_notebook, toc_files

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "gpu_chapters.csv"
COLUMNS = ("chapter", "wall_s", "status", "reason", "device")
_USES_TENSORFLOW = re.compile(r"^\s*(?:import|from)\s+(?:keras|tensorflow)\b", re.MULTILINE)


@dataclass
class ChapterResult:
    chapter: str
    wall_s: float | None
    status: str  # "passed", "failed" or "skipped"
    reason: str
    device: str


def notebook_chapters(root: Path) -> list[Path]:
    """The paired ``.ipynb`` of every MyST notebook (a page with a kernelspec) in the TOC."""
    chapters = []
    for doc in toc_files(yaml.safe_load((root / "_toc.yml").read_text())):
        if is_myst_notebook((root / f"{doc}.md").read_text()):
            chapters.append(root / f"{doc}.ipynb")
    return chapters


def needs_tensorflow(markdown: str) -> bool:
    """True when a chapter's source imports Keras or TensorFlow in one of its cells."""
    return _USES_TENSORFLOW.search(markdown) is not None


def tensorflow_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("tensorflow", "keras"))


def _run(command: Sequence[str], env: dict[str, str], cwd: Path) -> int:
    return subprocess.run(list(command), env=env, cwd=cwd, check=False).returncode


def run_chapter(
    notebook: Path,
    *,
    cell_timeout: int,
    device: str,
    runner: Callable[[Sequence[str], dict[str, str], Path], int] = _run,
) -> ChapterResult:
    """Execute one chapter at full size under nbval and time it."""
    env = {**os.environ, "CNNCOURSE_QUICK": "0"}
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(notebook),
        "--nbval-lax",
        "--nbval-current-env",
        f"--nbval-cell-timeout={cell_timeout}",
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    start = time.perf_counter()
    code = runner(command, env, notebook.parent.parent)
    seconds = round(time.perf_counter() - start, 1)
    status = "passed" if code == 0 else "failed"
    reason = "" if code == 0 else f"pytest --nbval-lax exit status {code}"
    return ChapterResult(notebook.stem, seconds, status, reason, device)


def check_chapters(
    notebooks: Sequence[Path],
    *,
    has_tensorflow: bool,
    cell_timeout: int,
    device: str,
    runner: Callable[[Sequence[str], dict[str, str], Path], int] = _run,
) -> list[ChapterResult]:
    """One result per chapter: run it, or skip it (with the reason) when TensorFlow is missing."""
    results = []
    for notebook in notebooks:
        source = notebook.with_suffix(".md")
        if not has_tensorflow and needs_tensorflow(source.read_text()):
            reason = (
                "imports Keras/TensorFlow, which is not installed (pip install cnncourse[keras])"
            )
            results.append(ChapterResult(notebook.stem, None, "skipped", reason, device))
            continue
        print(f"==> {notebook.stem} at full size under nbval", flush=True)
        results.append(
            run_chapter(notebook, cell_timeout=cell_timeout, device=device, runner=runner)
        )
    return results


def write_results(results: Sequence[ChapterResult], out: Path, *, unit_tests: str) -> Path:
    """Write the CSV (one row per chapter) and a Markdown table beside it; return the CSV."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for result in results:
            row = asdict(result)
            row["wall_s"] = "" if result.wall_s is None else f"{result.wall_s:.1f}"
            writer.writerow(row)
    device = results[0].device if results else ""
    lines = [
        f"# Chapters at full size on {device or 'the GPU'}",
        "",
        f'Unit tests (`pytest tests -m "not browser"`): {unit_tests}',
        "",
        "| chapter | wall_s | status | reason |",
        "|---|---|---|---|",
    ]
    for r in results:
        seconds = "" if r.wall_s is None else f"{r.wall_s:.1f}"
        lines.append(f"| {r.chapter} | {seconds} | {r.status} | {r.reason} |")
    ran = [r.wall_s for r in results if r.wall_s is not None]
    lines.append(f"| total | {sum(ran):.1f} | | |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return out


def cuda_device_name() -> str | None:
    """The name of CUDA device 0, or None when PyTorch sees no CUDA GPU."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def main(
    argv: Sequence[str] | None = None,
    *,
    device_name: Callable[[], str | None] = cuda_device_name,
    runner: Callable[[Sequence[str], dict[str, str], Path], int] = _run,
    root: Path = ROOT,
) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV to write")
    parser.add_argument("--cell-timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--skip-tests", action="store_true", help="chapters only")
    parser.add_argument("chapters", nargs="*", help="chapter names (default: all of _toc.yml)")
    args = parser.parse_args(argv)

    device = device_name()
    if device is None:
        print(
            "gpu-check needs an NVIDIA GPU that PyTorch can use "
            "(torch.cuda.is_available() is False here); run `make unit` on a CPU instead.",
            file=sys.stderr,
        )
        return 2
    print(f"==> CUDA device: {device}", flush=True)
    notebooks = notebook_chapters(root)
    if args.chapters:
        known = {nb.stem: nb for nb in notebooks}
        unknown = sorted(set(args.chapters) - set(known))
        if unknown:
            parser.error(f"unknown chapters {unknown}; choose from {sorted(known)}")
        notebooks = [known[name] for name in args.chapters]

    unit_tests = "not run (--skip-tests)"
    if not args.skip_tests:
        print('==> unit tests on CUDA: pytest tests -m "not browser"', flush=True)
        command = [sys.executable, "-m", "pytest", "tests", "-m", "not browser", "-q"]
        code = runner(command, dict(os.environ), root)
        unit_tests = "passed" if code == 0 else f"FAILED (pytest exit status {code})"
    results = check_chapters(
        notebooks,
        has_tensorflow=tensorflow_installed(),
        cell_timeout=args.cell_timeout,
        device=device,
        runner=runner,
    )
    out = write_results(results, args.out, unit_tests=unit_tests)
    print(out.with_suffix(".md").read_text())
    for r in results:
        if r.status == "skipped":
            print(f"skipped {r.chapter}: {r.reason}")
    failed = unit_tests.startswith("FAILED") or any(r.status == "failed" for r in results)
    print(f"==> wrote {out} and {out.with_suffix('.md')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
