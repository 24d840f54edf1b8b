"""The performance benchmark behind ``cnncourse bench``: loop speed, time to accuracy, book time.

Sections (``--only`` picks one):

``throughput``  training images/s of the tiny CNN (conv8 -> conv16 -> linear), batch 64,
                Adam 1e-3, on Fashion-MNIST: the tutorial loop over a per-sample
                ``Dataset`` + ``DataLoader``, ``cnncourse.train.fit``, and Keras ``fit``.
                The loops take turns epoch by epoch; median over the epochs after
                each loop's warm-up epoch.
``accuracy``    time until the reference model (``cnncourse.models.reference``) first
                reaches 92.5% and 93.5% test accuracy, with its parameter count.
``book``        the seconds each chapter took to execute in the last full-size
                (``make book``) and quick-mode (``make book-quick``) builds, read from
                their jupyter-cache records.

Each section writes ``<section>.md`` and ``<section>.csv`` to ``--out``, headed by its
own date, machine and load average, so one section can be re-run alone;
``latest.md`` and ``latest.csv`` then gather every section measured so far.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

SECTIONS = ("throughput", "accuracy", "book")
TITLES = {
    "throughput": "Loop throughput",
    "accuracy": "Time to accuracy",
    "book": "Chapter execution times",
}
TARGETS = ((0.925, 180.0), (0.935, 600.0))  # (test accuracy, time budget in seconds)
DEFAULT_OUT = Path("benchmarks/results")
SECTIONS_MARKER = "<!-- sections -->"  # the book's appendix includes latest.md from here on
BOOK_CACHES = {  # build mode -> the jupyter-cache that build executes into (see the Makefile)
    "full": Path("_build/.jupyter_cache"),
    "quick": Path("_build/quick/_build/.jupyter_cache"),
}


def _import_frameworks():
    import torchvision  # noqa: F401  (before TensorFlow: see cnncourse._frameworks)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# ---- section 1: loop throughput ------------------------------------------------------


def naive_epoch(model, loader, optimizer, loss_fn, device) -> float:
    """One epoch of the tutorial loop (per-sample Dataset + DataLoader); returns seconds."""
    model.train()
    start = time.perf_counter()
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def throughput(train, *, epochs: int, batch_size: int = 64, seed: int = 0) -> list[dict]:
    """Images/s of the three loops on ``train`` (an ImageSet); one row per loop.

    The loops take turns, one epoch each per round, so a slow spell of a shared machine
    hits all three alike; each keeps its own model and optimizer state across rounds.
    """
    runners = _epoch_runners(train, batch_size, seed)
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(epochs):
        for name, run_epoch in runners.items():
            seconds[name].append(run_epoch())
    return [_speed_row(name, len(train), times) for name, times in seconds.items()]


def _epoch_runners(train, batch_size: int, seed: int) -> dict:
    """One callable per loop that trains its own model for one more epoch and returns seconds."""
    import torch
    from torchvision.transforms import v2

    from cnncourse.data import to_dataloader, to_tensors
    from cnncourse.models import build_model
    from cnncourse.runtime import device as pick_device
    from cnncourse.runtime import seed_everything

    device = pick_device()
    seed_everything(seed, keras=True)
    # (a) the tutorial: ToTensor-like transform per image, DataLoader collates, NCHW floats
    naive_model = build_model("tiny").to(device)
    to_tensor = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    loader = to_dataloader(train, batch_size, shuffle=True, transform=to_tensor, seed=seed)
    naive_optimizer = torch.optim.Adam(naive_model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def naive() -> float:
        return naive_epoch(naive_model, loader, naive_optimizer, loss_fn, device)

    # (b) the package's loop: whole split on the device as uint8 (moved there once, not
    # every round), channels-last batches
    fit_data = to_tensors(train, device)  # (images (N, C, H, W) uint8, labels (N,))
    return {
        "naive DataLoader loop (PyTorch)": naive,
        "cnncourse.train.fit (PyTorch)": fit_epochs(build_model("tiny"), fit_data, batch_size),
        # (c) Keras fit on TensorFlow, tf.data pipeline
        "Keras fit (TensorFlow)": keras_epochs(build_model("tiny", "keras"), train, batch_size),
    }


def fit_epochs(model, data, batch_size: int = 64, lr: float = 1e-3) -> Callable[[], float]:
    """A callable that trains ``model`` one more epoch with ``cnncourse.train.fit`` and
    returns its seconds; fit's default optimizer is made once, so its state carries over."""
    from cnncourse.runtime import device as pick_device
    from cnncourse.train import default_optimizer, fit

    device = pick_device()
    model = model.to(device)
    optimizer = default_optimizer(model, lr=lr)

    def run_epoch() -> float:
        history = fit(
            model,
            data,
            epochs=1,
            batch_size=batch_size,
            optimizer=optimizer,
            device=device,
            progress=False,
            fast=True,
        )
        return float(history["seconds"].iloc[0])

    return run_epoch


def keras_epochs(model, train, batch_size: int = 64, lr: float = 1e-3) -> Callable[[], float]:
    """A callable that trains a Keras ``model`` on ``train`` (an ImageSet) one more epoch
    with ``fit_keras`` and returns its seconds."""
    from cnncourse.train.keras import fit_keras

    def run_epoch() -> float:
        history = fit_keras(model, train, epochs=1, batch_size=batch_size, lr=lr, verbose=0)
        return float(history["seconds"].iloc[0])

    return run_epoch


def _speed_row(name: str, n: int, seconds: list[float]) -> dict:
    timed = seconds[1:] if len(seconds) > 1 else seconds  # the first epoch warms up
    median = statistics.median(timed)
    return {
        "loop": name,
        "images_per_s": n / median,
        "epoch_s": median,
        "best_images_per_s": n / min(timed),  # the least disturbed epoch on a shared machine
        "epochs_timed": len(timed),
        "all_epoch_s": " ".join(f"{s:.2f}" for s in seconds),
    }


# ---- section 2: time to accuracy -----------------------------------------------------


def time_to_accuracy(train, test, recipes, *, seed: int = 0) -> list[dict]:
    """Train the reference model with each recipe; report when test accuracy first hits each target.

    Time counts every epoch's training and its test evaluation (measured by ``fit``).
    """
    from cnncourse.models import count_parameters
    from cnncourse.models.reference import ReferenceNet
    from cnncourse.runtime import seed_everything
    from cnncourse.train import evaluate, fit

    rows = []
    for label, recipe in recipes:
        seed_everything(seed)  # the same initial weights, whatever ran before
        model = ReferenceNet()
        judged = recipe.for_testing(model)  # the model itself, or its flip-averaged wrapper
        history = fit(judged, train, test, progress=False, seed=seed, **recipe.fit_kwargs())
        elapsed = history["seconds"].cumsum()
        row = {"recipe": label, "parameters": count_parameters(model)}
        for target, _ in TARGETS:  # the headline first: when each target was reached
            reached = history.index[history["val_accuracy"] >= target]
            key = f"s_to_{target * 100:.1f}%"
            row[key] = float(elapsed.loc[reached[0]]) if len(reached) else None
        row |= {
            "final_test_accuracy": float(history["val_accuracy"].iloc[-1]),
            "final_single_view_accuracy": evaluate(model, test)["accuracy"],
            "total_s": float(elapsed.iloc[-1]),
            "epochs": recipe.epochs,
            "batch_size": recipe.batch_size,
            "lr": recipe.lr,
            "weight_decay": recipe.weight_decay,
            "test_predictions": "flip-averaged" if recipe.flip_test else "single view",
            "augment": f"flip={recipe.flip} shift={recipe.shift} erase={recipe.erase}",
            "epoch_accuracies": " ".join(f"{a:.4f}" for a in history["val_accuracy"]),
        }
        rows.append(row)
    return rows


# ---- section 3: book build time ------------------------------------------------------


def chapter_seconds(cache: Path) -> dict[str, float]:
    """``{chapter: seconds}`` from a jupyter-cache: how long each chapter's latest cached
    execution took. Empty when ``cache`` holds no jupyter-cache."""
    if not (cache / "global.db").is_file():
        return {}  # get_cache would create an empty cache here
    from jupyter_cache import get_cache

    latest: dict[str, tuple] = {}
    for record in get_cache(cache).list_cache_records():
        seconds = (record.data or {}).get("execution_seconds")
        chapter = Path(record.uri).stem
        if seconds is not None and (chapter not in latest or record.created > latest[chapter][0]):
            latest[chapter] = (record.created, float(seconds))
    return {chapter: seconds for chapter, (_, seconds) in sorted(latest.items())}


def book_times(caches: dict[str, Path] = BOOK_CACHES) -> list[dict] | None:
    """One row per chapter with its seconds in each build mode (``None``: not built in that
    mode), then a total row; ``None`` when no build left a cache."""
    seconds = {mode: chapter_seconds(Path(cache)) for mode, cache in caches.items()}
    chapters = sorted(set().union(*seconds.values()))
    if not chapters:
        return None
    rows = [
        {"chapter": c, **{f"{mode}_s": times.get(c) for mode, times in seconds.items()}}
        for c in chapters
    ]
    total = {f"{mode}_s": sum(times.values()) or None for mode, times in seconds.items()}
    return [*rows, {"chapter": "total", **total}]


# ---- report ----------------------------------------------------------------------------


def _table(rows: list[dict], missing: str = "not reached") -> str:
    """A Markdown table of ``rows``; ``None`` cells read ``missing``."""
    if not rows:
        return "_no rows_\n"
    keys = list(rows[0])

    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}"
        return missing if value is None else str(value)

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _ratios(rows: list[dict]) -> str:
    """The throughput section's headline: fit's speed over the naive loop and over Keras,
    from the median epochs (the target's measure) and, beside it, from the best epochs."""
    lines = []
    for column, label in (("images_per_s", "median epochs"), ("best_images_per_s", "best epochs")):
        by = {r["loop"].split(" ")[0]: r.get(column) for r in rows}
        fit_speed, naive, keras = by.get("cnncourse.train.fit"), by.get("naive"), by.get("Keras")
        if fit_speed and naive and keras:
            lines.append(
                f"{label}: fit / naive loop: **{fit_speed / naive:.2f}x**; "
                f"fit / Keras fit: **{fit_speed / keras:.2f}x**"
            )
    return "\n\n".join(lines) + "\n" if lines else ""


def write_section(out: Path, section: str, rows: list[dict] | None, context: dict) -> Path:
    """Write ``<section>.md`` and ``<section>.csv`` (long format: row, key, value) to ``out``.

    The section's previous tables move to ``out/history/<section>-<their date>.*`` first:
    a new run never erases an earlier, different result.
    """
    out.mkdir(parents=True, exist_ok=True)
    _archive(out, section)
    md = [f"## {TITLES[section]}", ""] + [f"- {k}: {v}" for k, v in context.items()] + [""]
    if section == "throughput" and rows:
        md.append(_ratios(rows))
    missing = "not built" if section == "book" else "not reached"
    md.append(
        _table(rows, missing) if rows is not None else "_not measured: no book build found_\n"
    )
    _write_atomic(out / f"{section}.md", "\n".join(md))
    lines = [["row", "key", "value"]]
    lines += [["context", k, v] for k, v in context.items()]
    lines += [[i, k, v] for i, row in enumerate(rows or []) for k, v in row.items()]
    _write_atomic(out / f"{section}.csv", _csv_text(lines))
    return out / f"{section}.md"


def _archive(out: Path, section: str) -> None:
    """Move the section's current tables to ``out/history``, named by the date they record."""
    table = out / f"{section}.csv"
    if not table.is_file():
        return
    with table.open(newline="") as handle:
        dates = [r["value"] for r in csv.DictReader(handle) if r["key"] == "date"]
    stamp = (dates[0] if dates else "undated").replace(":", "-")
    history = out / "history"
    history.mkdir(exist_ok=True)
    for suffix in (".md", ".csv"):
        current = out / f"{section}{suffix}"
        if current.is_file():
            current.replace(history / f"{section}-{stamp}{suffix}")


def write_latest(out: Path) -> tuple[Path, Path]:
    """Gather every section measured so far into ``latest.md`` and ``latest.csv``."""
    present = [s for s in SECTIONS if (out / f"{s}.md").is_file()]
    md = ["# cnncourse benchmark", "", SECTIONS_MARKER, ""]
    md += [(out / f"{s}.md").read_text() for s in present]
    lines = [["section", "row", "key", "value"]]
    for section in present:
        with (out / f"{section}.csv").open(newline="") as handle:
            lines += [[section, *row] for row in list(csv.reader(handle))[1:]]
    _write_atomic(out / "latest.md", "\n".join(md))
    _write_atomic(out / "latest.csv", _csv_text(lines))
    return out / "latest.md", out / "latest.csv"


def _csv_text(lines: list[list]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    return buffer.getvalue()


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so that a killed run never leaves half a table (see ``atomic_path``)."""
    from cnncourse._files import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnncourse bench",
        description="Benchmark the training loops and the reference model on Fashion-MNIST.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small subsets, few epochs (smoke test)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"folder for the tables (default {DEFAULT_OUT}, or {DEFAULT_OUT}/quick with --quick)",
    )
    parser.add_argument("--only", choices=SECTIONS, help="run one section only")
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="throughput rounds, one epoch per loop each (default 11, quick 2)",
    )
    parser.add_argument(
        "--full-cache",
        type=Path,
        default=BOOK_CACHES["full"],
        help="jupyter-cache of the full-size book build (make book)",
    )
    parser.add_argument(
        "--quick-cache",
        type=Path,
        default=BOOK_CACHES["quick"],
        help="jupyter-cache of the quick-mode build (make book-quick)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns 0 (1 when the data cannot be found)."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    quick = args.quick
    if args.out is None:  # a smoke test must not overwrite the real tables
        args.out = DEFAULT_OUT / "quick" if quick else DEFAULT_OUT
    epochs = args.epochs or (2 if quick else 11)
    _import_frameworks()
    from cnncourse.data import DataNotFoundError, load
    from cnncourse.runtime import describe, tune_cpu_allocator
    from cnncourse.train.recipes import REFERENCE_RECIPE, SHORT_RECIPE, Recipe

    tune_cpu_allocator()  # process-wide, so the benchmark opts in explicitly; fit never does

    wanted = (args.only,) if args.only else SECTIONS
    train = test = None
    if {"throughput", "accuracy"} & set(wanted):
        try:
            train, test = load("fashion_mnist", "train"), load("fashion_mnist", "test")
        except DataNotFoundError as err:
            print(err, file=sys.stderr)
            return 1
        if quick:
            train, test = train.subset(4000, seed=args.seed), test.subset(2000, seed=args.seed)
    size = {
        "mode": "quick (subsets; numbers not comparable)" if quick else "full",
        "train_images": len(train) if train is not None else 0,
        "test_images": len(test) if test is not None else 0,
    }
    for section in wanted:
        context = {
            "date": dt.datetime.now().isoformat(timespec="seconds"),
            **(size if section != "book" else {}),
            "load_average_at_start": _load(),
            **describe(),
        }
        if section == "throughput":
            rows = throughput(train, epochs=epochs, seed=args.seed)
        elif section == "accuracy":
            recipes = [("short (3 min)", SHORT_RECIPE), ("full (10 min)", REFERENCE_RECIPE)]
            if quick:
                recipes = [("quick", Recipe(epochs=2, batch_size=128, lr=3e-3))]
            rows = time_to_accuracy(train, test, recipes, seed=args.seed)
        else:
            rows = book_times({"full": args.full_cache, "quick": args.quick_cache})
        context["load_average_at_end"] = _load()
        print(_table(rows) if rows is not None else f"{section}: nothing measured", flush=True)
        write_section(args.out, section, rows, context)
    md_path, csv_path = write_latest(args.out)
    print(f"wrote {md_path} and {csv_path}")
    return 0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    raise SystemExit(main())
