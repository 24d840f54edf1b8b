"""The performance benchmark behind ``cnncourse bench``: loop speed, time to accuracy, book time.

Sections (``--only`` picks one):

``throughput``  training images/s of the tiny CNN (conv8 -> conv16 -> linear), batch 64,
                Adam 1e-3, on Fashion-MNIST: the tutorial loop over a per-sample
                ``Dataset`` + ``DataLoader``, ``cnncourse.train.fit``, and Keras ``fit``.
                Median over epochs after one warm-up epoch.
``accuracy``    time until the reference model (``cnncourse.models.reference``) first
                reaches 92.5% and 93.5% test accuracy, with its parameter count.
``book``        the time each chapter takes to execute, read from a CSV the book
                build writes (columns ``chapter, seconds``), when present.

Results go to ``--out`` as ``latest.md`` and ``latest.csv``, with the date and machine.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

SECTIONS = ("throughput", "accuracy", "book")
TARGETS = ((0.925, 180.0), (0.935, 600.0))  # (test accuracy, time budget in seconds)
DEFAULT_OUT = Path("benchmarks/results")
DEFAULT_BOOK_TIMES = DEFAULT_OUT / "book_times.csv"


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
    """Images/s of the three loops on ``train`` (an ImageSet); one row per loop."""
    import torch
    from torchvision.transforms import v2

    from cnncourse.data import to_dataloader
    from cnncourse.models import build_model
    from cnncourse.runtime import device as pick_device
    from cnncourse.runtime import seed_everything
    from cnncourse.train import fit
    from cnncourse.train.keras import fit_keras

    device = pick_device()
    rows = []
    # (a) the tutorial: ToTensor-like transform per image, DataLoader collates, NCHW floats
    seed_everything(seed)
    model = build_model("tiny").to(device)
    to_tensor = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    loader = to_dataloader(train, batch_size, shuffle=True, transform=to_tensor, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    seconds = [naive_epoch(model, loader, optimizer, loss_fn, device) for _ in range(epochs)]
    rows.append(_speed_row("naive DataLoader loop (PyTorch)", len(train), seconds))
    # (b) the package's loop: whole split on the device as uint8, channels-last batches
    seed_everything(seed)
    model = build_model("tiny")
    history = fit(
        model,
        train,
        epochs=epochs,
        batch_size=batch_size,
        lr=1e-3,
        device=device,
        progress=False,
        seed=seed,
    )
    rows.append(_speed_row("cnncourse.train.fit (PyTorch)", len(train), list(history["seconds"])))
    # (c) Keras fit on TensorFlow, tf.data pipeline
    keras_model = build_model("tiny", "keras")
    history = fit_keras(
        keras_model, train, epochs=epochs, batch_size=batch_size, lr=1e-3, seed=seed, verbose=0
    )
    rows.append(_speed_row("Keras fit (TensorFlow)", len(train), list(history["seconds"])))
    return rows


def _speed_row(name: str, n: int, seconds: list[float]) -> dict:
    timed = seconds[1:] if len(seconds) > 1 else seconds  # the first epoch warms up
    median = statistics.median(timed)
    return {
        "loop": name,
        "images_per_s": n / median,
        "epoch_s": median,
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
    from cnncourse.train import fit

    rows = []
    for label, recipe in recipes:
        model = ReferenceNet()
        history = fit(model, train, test, progress=False, seed=seed, **recipe.fit_kwargs())
        elapsed = history["seconds"].cumsum()
        row = {
            "recipe": label,
            "epochs": recipe.epochs,
            "batch_size": recipe.batch_size,
            "lr": recipe.lr,
            "augment": f"flip={recipe.flip} shift={recipe.shift}",
            "parameters": count_parameters(model),
            "final_test_accuracy": float(history["val_accuracy"].iloc[-1]),
            "total_s": float(elapsed.iloc[-1]),
            "epoch_accuracies": " ".join(f"{a:.4f}" for a in history["val_accuracy"]),
        }
        for target, _ in TARGETS:
            reached = history.index[history["val_accuracy"] >= target]
            key = f"s_to_{target * 100:.1f}%"
            row[key] = float(elapsed.loc[reached[0]]) if len(reached) else None
        rows.append(row)
    return rows


# ---- section 3: book build time ------------------------------------------------------


def book_times(path: Path) -> list[dict] | None:
    """Rows of the chapter-times CSV (``chapter, seconds``), or ``None`` when it is absent."""
    if not path.is_file():
        return None
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"chapter", "seconds"} <= set(rows[0]):
        raise ValueError(f"{path} must have columns 'chapter' and 'seconds', got {list(rows[0])}.")
    return [{"chapter": r["chapter"], "seconds": float(r["seconds"])} for r in rows]


# ---- report ----------------------------------------------------------------------------


def _table(rows: list[dict]) -> str:
    if not rows:
        return "_no rows_\n"
    keys = list(rows[0])

    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}"
        return "not reached" if value is None else str(value)

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_report(
    out: Path, results: dict[str, list[dict] | None], context: dict
) -> tuple[Path, Path]:
    """Write ``latest.md`` and ``latest.csv`` (long format: section, row, key, value) to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    md = ["# cnncourse benchmark", ""]
    md += [f"- {k}: {v}" for k, v in context.items()] + [""]
    for section, rows in results.items():
        md.append(f"## {section}\n")
        if section == "throughput" and rows:
            by = {r["loop"].split(" ")[0]: r["images_per_s"] for r in rows}
            fit_speed = by.get("cnncourse.train.fit")
            if fit_speed:
                md.append(
                    f"fit / naive loop: **{fit_speed / by['naive']:.2f}x**; "
                    f"fit / Keras fit: **{fit_speed / by['Keras']:.2f}x**\n"
                )
        md.append(_table(rows) if rows is not None else "_not measured: no times CSV found_\n")
    md_path, csv_path = out / "latest.md", out / "latest.csv"
    md_path.write_text("\n".join(md))
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["section", "row", "key", "value"])
        for key, value in context.items():
            writer.writerow(["context", 0, key, value])
        for section, rows in results.items():
            for i, row in enumerate(rows or []):
                for key, value in row.items():
                    writer.writerow([section, i, key, value])
    return md_path, csv_path


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
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for latest.md/.csv")
    parser.add_argument("--only", choices=SECTIONS, help="run one section only")
    parser.add_argument(
        "--epochs", type=_positive_int, default=None, help="throughput epochs (default 5, quick 2)"
    )
    parser.add_argument(
        "--book-times", type=Path, default=DEFAULT_BOOK_TIMES, help="CSV of chapter times"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns 0 (1 when the data cannot be found)."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    quick = args.quick
    epochs = args.epochs or (2 if quick else 5)
    _import_frameworks()
    from cnncourse.data import DataNotFoundError, load
    from cnncourse.models.reference import REFERENCE_RECIPE, SHORT_RECIPE, Recipe
    from cnncourse.runtime import describe

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
    context = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "mode": "quick (subsets; numbers not comparable)" if quick else "full",
        "train_images": len(train) if train is not None else 0,
        "test_images": len(test) if test is not None else 0,
        "load_average_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        **describe(),
    }
    results: dict[str, list[dict] | None] = {}
    if "throughput" in wanted:
        results["throughput"] = throughput(train, epochs=epochs, seed=args.seed)
        print(_table(results["throughput"]), flush=True)
    if "accuracy" in wanted:
        recipes = [("short (3 min)", SHORT_RECIPE), ("full (10 min)", REFERENCE_RECIPE)]
        if quick:
            recipes = [("quick", Recipe(epochs=2, batch_size=128, lr=3e-3))]
        results["accuracy"] = time_to_accuracy(train, test, recipes, seed=args.seed)
        print(_table(results["accuracy"]), flush=True)
    if "book" in wanted:
        results["book"] = book_times(args.book_times)
    context["load_average_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    md_path, csv_path = write_report(args.out, results, context)
    print(f"wrote {md_path} and {csv_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
