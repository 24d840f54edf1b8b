"""Run the cnncourse benchmark from a checkout: ``python benchmarks/run_benchmark.py``.

``make bench`` runs it with the defaults. Results go to ``benchmarks/results/``:
``throughput.csv``, ``accuracy.csv``, ``chapters.csv`` (wide: one row per loop, recipe
or chapter and device kind), a Markdown table of each for the book's appendix, and
``machine.json``. ``--quick`` is a smoke test on subsets; it writes to a temporary
folder unless ``--out`` names one, so it never overwrites the real tables.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # cnncourse_bench, beside this file

import torchvision  # noqa: E402,F401  (before TensorFlow: see cnncourse._frameworks)
from cnncourse_bench import accuracy, chapters, report, throughput  # noqa: E402

from cnncourse import runtime  # noqa: E402
from cnncourse.cli import positive_int  # noqa: E402
from cnncourse.data import DataNotFoundError, load  # noqa: E402
from cnncourse.train.recipes import Recipe  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run_benchmark.py",
        description="Benchmark the training loops, the reference model and the book build.",
    )
    parser.add_argument("--quick", action="store_true", help="subsets, few epochs (smoke test)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"folder for the results (default {report.DEFAULT_OUT}; a temporary one with --quick)",
    )
    parser.add_argument("--only", choices=report.SECTIONS, help="run one section only")
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="throughput rounds, one epoch per loop each (default 11, quick 2)",
    )
    parser.add_argument("--train-images", type=positive_int, default=None, help="subset size")
    parser.add_argument("--test-images", type=positive_int, default=None, help="subset size")
    parser.add_argument("--full-cache", type=Path, default=chapters.BOOK_CACHES["full"])
    parser.add_argument("--quick-cache", type=Path, default=chapters.BOOK_CACHES["quick"])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best)")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 1 when Fashion-MNIST cannot be found."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    out = args.out or (Path(tempfile.mkdtemp(prefix="cnncourse-bench-")) if args.quick else None)
    out = out or report.DEFAULT_OUT
    device = runtime.device(args.device)
    runtime.tune_cpu_allocator()  # process-wide: this benchmark process only, never the library
    wanted = (args.only,) if args.only else report.SECTIONS
    train = test = None
    if {"throughput", "accuracy"} & set(wanted):
        try:
            train, test = load("fashion_mnist", "train"), load("fashion_mnist", "test")
        except DataNotFoundError as err:
            print(err, file=sys.stderr)
            return 1
        n_train = args.train_images or (4000 if args.quick else None)
        n_test = args.test_images or (2000 if args.quick else None)
        train = train.subset(n_train, seed=args.seed) if n_train else train
        test = test.subset(n_test, seed=args.seed) if n_test else test
    for section in wanted:
        run = report.machine(device)
        if section == "throughput":
            epochs = args.epochs or (2 if args.quick else 11)
            rows = throughput.throughput(train, epochs=epochs, device=device, seed=args.seed)
        elif section == "accuracy":
            recipes = accuracy.standard_recipes(device)
            if args.quick:
                recipes = [("quick", Recipe(epochs=2, batch_size=128, lr=3e-3))]
            rows = accuracy.time_to_accuracy(train, test, recipes, device=device, seed=args.seed)
        else:
            rows = chapters.book_times({"full": args.full_cache, "quick": args.quick_cache})
            if not rows:
                print("chapters: no book build found (make book / make book-quick)")
                continue
        path = report.write_section(out, section, rows, run)
        print(f"wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
