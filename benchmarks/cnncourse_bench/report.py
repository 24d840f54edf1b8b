"""Results on disk: one wide CSV per section, a Markdown table made from it, machine.json.

A section's CSV holds one row per loop, recipe or chapter and per device kind. A new
run replaces the rows of its own device kind and keeps the others, so GPU rows sit
beside CPU rows; git keeps the earlier files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path

import pandas as pd
import torch

from cnncourse._files import atomic_path

SECTIONS = ("throughput", "accuracy", "chapters")
TITLES = {
    "throughput": "Loop throughput",
    "accuracy": "Time to accuracy",
    "chapters": "Chapter execution times",
}
COLUMNS = {  # the first columns of each CSV, in this order; the key columns first
    "throughput": (
        "loop",
        "device",
        "images_per_s",
        "best_images_per_s",
        "median_epoch_s",
        "best_epoch_s",
        "warmup_epoch_s",
        "epochs",
        "epochs_timed",
        "batch_size",
        "train_images",
        "layer_order",
        "device_name",
        "date",
    ),
    "accuracy": (
        "recipe",
        "device",
        "parameters",
        "seconds_to_92_5",
        "seconds_to_93_5",
        "final_accuracy",
        "final_single_view_accuracy",
        "total_s",
        "epochs",
        "batch_size",
        "lr",
        "weight_decay",
        "flip",
        "shift_px",
        "erase_px",
        "test_predictions",
        "train_images",
        "test_images",
        "seed",
        "device_name",
        "date",
    ),
    "chapters": ("chapter", "device", "full_s", "quick_s", "device_name", "date"),
}
KEYS = {"throughput": "loop", "accuracy": "recipe", "chapters": "chapter"}
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "results"


def device_kind(device: torch.device | str) -> str:
    """``cpu``, ``cuda`` or ``mps``: the column that sets GPU rows apart from CPU rows."""
    return torch.device(device).type


def device_name(device: torch.device | str) -> str:
    """The accelerator's name, or the CPU's model name for ``cpu``."""
    kind = device_kind(device)
    if kind == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    if kind == "mps":
        return "Apple MPS"
    return _cpu_model() or platform.processor() or "cpu"


def _cpu_model() -> str | None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return None
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return None


def machine(device: torch.device | str) -> dict:
    """What the numbers depend on: CPU, cores, library versions, device, date, load."""
    info = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "cpu": _cpu_model() or platform.processor(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "torch": torch.__version__,
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
        "device": device_kind(device),
        "device_name": device_name(device),
        "load_average_start": list(os.getloadavg()),
    }
    return info


def _version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def write_section(out: Path, section: str, rows: list[dict], run: dict) -> Path:
    """Merge ``rows`` into ``out/<section>.csv``, refresh its Markdown table, record ``run``.

    Rows of the same device kind as the new ones are replaced; others stay. ``run`` (from
    :func:`machine`, plus whatever the section adds) goes to ``machine.json`` under
    ``<section>/<device kind>``.
    """
    out.mkdir(parents=True, exist_ok=True)
    new = pd.DataFrame(rows)
    missing = [c for c in COLUMNS[section] if c not in new.columns]
    if missing:
        raise ValueError(f"{section} rows lack the columns {missing}")
    new = new[[*COLUMNS[section], *(c for c in new.columns if c not in COLUMNS[section])]]
    path = out / f"{section}.csv"
    if path.is_file():
        old = pd.read_csv(path)
        old = old[~old["device"].isin(new["device"].unique())]
        new = pd.concat([old, new], ignore_index=True) if len(old) else new
    _write(path, new.to_csv(index=False))
    _write(out / f"{section}.md", markdown(section, new))
    runs = (
        json.loads((out / "machine.json").read_text()) if (out / "machine.json").is_file() else {}
    )
    runs.setdefault(section, {})
    for kind in {row["device"] for row in rows}:
        runs[section][kind] = {**run, "load_average_end": list(os.getloadavg())}
    _write(out / "machine.json", json.dumps(runs, indent=2, sort_keys=True) + "\n")
    return path


def markdown(section: str, table: pd.DataFrame) -> str:
    """The appendix's table of one section: a title, headline ratios, then the rows."""
    lines = [f"## {TITLES[section]}", ""]
    if section == "throughput":
        lines += ratios(table)
    shown = table.drop(columns=["date"]).copy()
    if section == "chapters":
        totals = shown.groupby(["device", "device_name"], as_index=False)[["full_s", "quick_s"]]
        total = totals.sum(min_count=1).assign(chapter="total")
        shown = pd.concat([shown, total[shown.columns]], ignore_index=True)
    missing = "not built" if section == "chapters" else "not reached"
    lines.append(_md_table(shown, missing))
    dates = ", ".join(sorted(set(table["date"].astype(str).str[:10])))
    lines += ["", f"Measured {dates}; machine details in `benchmarks/results/machine.json`.", ""]
    return "\n".join(lines)


def ratios(table: pd.DataFrame) -> list[str]:
    """fit's speed over the tutorial loop's and over Keras', per device, from the median
    epochs (the target's measure) and from the best epochs."""
    lines = []
    for kind, rows in table.groupby("device", sort=False):
        speed = rows.set_index("loop")
        for column, label in (("images_per_s", "median"), ("best_images_per_s", "best")):
            by = {loop.split(" ")[0]: speed.loc[loop, column] for loop in speed.index}
            fit, naive, keras = by.get("cnncourse.train.fit"), by.get("naive"), by.get("Keras")
            if fit and naive and keras:
                lines.append(
                    f"- {kind}, {label} epochs: fit / naive loop **{fit / naive:.2f}x**, "
                    f"fit / Keras fit **{fit / keras:.2f}x**"
                )
    return [*lines, ""] if lines else []


def _md_table(table: pd.DataFrame, missing: str) -> str:
    def cell(value) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return missing
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}"
        return str(value)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    """Write ``text`` so that a killed run never leaves half a table."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
