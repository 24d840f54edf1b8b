"""The ``cnncourse`` command: what people run outside notebooks.

``cnncourse --help`` lists the commands; ``cnncourse COMMAND --help`` explains one.
Every command imports its heavy dependencies (torch, TensorFlow, nbclient) only when
it runs, so ``--help`` is instant. Exit status: 0 success, 1 the work failed (missing
data, a failing notebook), 2 bad input (arguments, rejected files or values).

A failure the user caused and can fix (the package's :class:`~cnncourse._errors.InputError`
types, an unreadable or unwritable file named on the command line) prints one message
and no traceback; anything else is a bug in the package and keeps its traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from cnncourse._version import __version__

QUICK_LIMIT = 2000  # images per split in quick mode (CNNCOURSE_QUICK=1), as in the chapters
EXPORT_FORMATS = ("canvas", "moodle", "blackboard", "sheet")  # cnncourse.exercises.exports

EPILOG = """\
examples:
  cnncourse data where fashion_mnist          which files resolve, and from where
  cnncourse data fetch mnist                  download into the cache, verified
  cnncourse train --model tiny --epochs 2 --limit 5000
  cnncourse student-edition _build/student    notebooks without solutions + book config
  cnncourse grade submissions/ --out grades.csv
  cnncourse check-notebook my_copy.ipynb      run one notebook, print its check verdicts
"""


BENCH_MOVED = (
    "The benchmark runs from a checkout of the repository: make bench "
    "(or python benchmarks/run_benchmark.py --help)."
)


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keep the examples' line breaks and show defaults."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cnncourse`` with all its subcommands."""
    from cnncourse.data.registry import DATASETS
    from cnncourse.exercises.grade import CHAPTER_CELL_SECONDS
    from cnncourse.models import FRAMEWORKS, MODEL_NAMES

    parser = argparse.ArgumentParser(
        prog="cnncourse",
        description="Companion tool of the CNN course book: data, training, exercises, grading.",
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"cnncourse {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, examples: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog="examples:\n" + examples,
            formatter_class=_Formatter,
        )

    data = command(
        "data",
        "Find or download the datasets.",
        "  cnncourse data where\n  cnncourse data where fashion_mnist\n  cnncourse data fetch cifar10\n",
    )
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    names = sorted(DATASETS)
    where = data_commands.add_parser(
        "where",
        help="Show which files resolve and from where (exit 1 if any is missing).",
        description="For each file of the dataset(s): its verified path and where it was "
        "found ($CNNCOURSE_DATA, the user cache, the system copy), or 'missing'. "
        "Nothing is downloaded. Exit status 1 if any file is missing.",
        formatter_class=_Formatter,
    )
    where.add_argument("name", nargs="?", choices=names, help="dataset (default: all)")
    fetch = data_commands.add_parser(
        "fetch",
        help="Download a dataset into the cache and verify its checksums.",
        description="Resolve every file of NAME, downloading what is not found locally "
        "into the cache ($CNNCOURSE_CACHE or ~/.cache/cnncourse); each file is verified.",
        formatter_class=_Formatter,
    )
    fetch.add_argument("name", choices=names, help="dataset")

    train = command(
        "train",
        "Train a model on a dataset, print its history table and its test score.",
        "  cnncourse train --model tiny --epochs 2 --limit 5000\n"
        "  cnncourse train --model vgg --framework keras --epochs 10 --batch-size 128\n"
        "  CNNCOURSE_QUICK=1 cnncourse train      # quick mode: a small subset, as the chapters\n",
    )
    train.add_argument("--model", default="tiny", choices=MODEL_NAMES, help="architecture")
    train.add_argument("--dataset", default="fashion_mnist", choices=names, help="dataset")
    train.add_argument("--framework", default="torch", choices=FRAMEWORKS, help="framework")
    train.add_argument(
        "--epochs", type=positive_int, default=1, help="passes over the training images"
    )
    train.add_argument(
        "--batch-size", type=positive_int, default=128, help="images per training step"
    )
    train.add_argument(
        "--lr", type=_positive_float, default=1e-3, help="learning rate of the Adam optimizer"
    )
    train.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="cut BOTH the training split (before the validation hold-out) and the test "
        f"split to this many images, drawn at random with --seed (default: %(default)s, "
        f"all images; {QUICK_LIMIT} in quick mode, CNNCOURSE_QUICK=1)",
    )
    train.add_argument(
        "--val-fraction",
        type=_fraction,
        default=0.1,
        help="share of the (limited) training images held out for validation",
    )
    train.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seeds the weights' initialisation, the --limit draw, the validation split and "
        "the shuffle order: the same command gives the same numbers on the same CPU",
    )
    train.add_argument(
        "--device", default=None, help="torch device: cpu, cuda, cuda:N or mps (torch only)"
    )

    student = command(
        "student-edition",
        "Write the chapters without solutions (.ipynb) and a book config that hides them.",
        "  cnncourse student-edition _build/student --publish-url my-course/cnn-notebooks\n"
        "  cnncourse student-edition week3/ --chapters pooling,dropout --assignment week3\n"
        "  jupyter-book build _build/student      # then the student book (quick mode)\n",
    )
    student.add_argument("out", type=Path, help="output folder (created)")
    student.add_argument("--book", type=Path, default=Path("."), help="book root (holds _toc.yml)")
    student.add_argument(
        "--chapters", nargs="+", default=None, help="chapters to include (spaces or commas)"
    )
    student.add_argument(
        "--publish-url",
        default=None,
        help="where you publish the edition: a GitHub repository (owner/name or its URL), "
        "which the Colab and repository buttons open, or any URL (named in the footer)",
    )
    student.add_argument("--branch", default="main", help="branch of the published repository")
    student.add_argument(
        "--full", action="store_true", help="build the student book at full size, not quick mode"
    )
    student.add_argument(
        "--assignment",
        default=None,
        metavar="NAME",
        help="also write OUT/NAME.zip: the chapters' notebooks and a README for students",
    )
    student.add_argument(
        "--submit", default=None, help="one sentence for the README: how students hand in"
    )

    grade = command(
        "grade",
        "Run every submitted notebook in a fresh kernel and write a grade table.",
        "  cnncourse grade submissions/ --out grades.csv\n"
        "  cnncourse grade submissions/ --out grades.csv --timeout 600\n"
        "  cnncourse grade week3/ --export canvas --assignment 'Week 3' --roster roster.csv\n",
    )
    grade.add_argument("submissions", type=Path, help="folder of .ipynb files, one per student")
    grade.add_argument("--out", type=Path, default=Path("grades.csv"), help="CSV to write")
    grade.add_argument(
        "--timeout",
        type=_positive_float,
        default=120,
        help="seconds the student cells of one notebook (tagged exercise-stub, or calling "
        "check) may take together",
    )
    grade.add_argument(
        "--chapter-timeout",
        type=_positive_float,
        default=CHAPTER_CELL_SECONDS,
        help="seconds each of the chapter's own cells may take (they may train a model)",
    )
    grade.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    grade.add_argument(
        "--jobs",
        type=positive_int,
        default=None,
        help="notebooks graded side by side (default: one per core)",
    )
    grade.add_argument(
        "--chapter",
        action="append",
        default=None,
        help="grade every exercise of this chapter, e.g. pooling (repeatable; default: the "
        "chapters the notebooks' check calls name)",
    )
    grade.add_argument(
        "--support",
        action="append",
        type=Path,
        default=[],
        help="a file copied next to each notebook in its working folder (repeatable)",
    )
    grade.add_argument(
        "--export",
        action="append",
        default=[],
        choices=EXPORT_FORMATS,
        help="also write the grades for a course platform: OUT_STEM.FORMAT.csv (repeatable)",
    )
    grade.add_argument("--assignment", default="Assignment", help="grade column's name")
    grade.add_argument("--assignment-id", default=None, help="platform id of that column")
    grade.add_argument(
        "--roster", type=Path, default=None, help="CSV: column 'file' (file stem) + platform ids"
    )
    grade.add_argument(
        "--id-column", default=None, help="platform column the file stem fills without a roster"
    )

    nb = command(
        "check-notebook",
        "Run one notebook (.ipynb or MyST .md) and print its check verdicts.",
        "  cnncourse check-notebook my_copy.ipynb\n"
        "  cnncourse check-notebook book/why_convolutions.md --strict   # CI: solutions pass\n",
    )
    nb.add_argument("notebook", type=Path, help="notebook to run")
    nb.add_argument(
        "--timeout",
        type=_positive_float,
        default=600,
        help="seconds the student cells (tagged exercise-stub, or calling check) may take together",
    )
    nb.add_argument(
        "--chapter-timeout",
        type=_positive_float,
        default=CHAPTER_CELL_SECONDS,
        help="seconds each other cell may take",
    )
    nb.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    nb.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 unless every exercise's last verdict is a pass (for the book with solutions)",
    )

    # options of the old in-package benchmark, --help included, all get the same pointer
    bench = commands.add_parser("bench", help=BENCH_MOVED, prefix_chars="+", add_help=False)
    bench.add_argument("args", nargs="*")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (argparse exits 2 on bad arguments)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from cnncourse._errors import InputError

    try:
        return _run(argv)
    except Exception as err:
        status = _user_error_status(err)
        if status is None:
            raise  # a bug in the package: the traceback is what a maintainer needs
        if isinstance(err, OSError) and not isinstance(err, InputError):
            why = err.strerror or err
            message = f"cannot use {err.filename}: {why}; check the path and its permissions."
        else:
            message = str(err)
        print(f"cnncourse: {message}", file=sys.stderr)
        return status
    except KeyboardInterrupt:
        print("cnncourse: interrupted.", file=sys.stderr)
        return 130


def _user_error_status(err: BaseException) -> int | None:
    """Exit status for a failure the user caused (1 missing data, 2 bad input); else None."""
    from cnncourse._errors import InputError
    from cnncourse.data.fetch import DataNotFoundError

    if isinstance(err, DataNotFoundError):
        return 1
    if isinstance(err, InputError):
        return 2
    if isinstance(err, OSError) and err.filename is not None:  # a file named by the user
        return 2
    return None


def _run(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "data":
        return _data_where(args.name) if args.data_command == "where" else _data_fetch(args.name)
    if args.command == "train":
        return _train(args, parser)
    if args.command == "student-edition":
        return _student_edition(args, parser)
    if args.command == "grade":
        return _grade(args, parser)
    if args.command == "check-notebook":
        return _check_notebook(args, parser)
    if args.command == "bench":
        print(BENCH_MOVED, file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse guards
    return 2  # pragma: no cover


# ---- argument types: a bad value is an argparse error (exit 2) ----------------------


def _parsed(text: str, convert, expected: str):
    """``convert(text)``, or the argparse error "expected <expected>, got '<text>'"."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def positive_int(text: str) -> int:
    """argparse ``type=`` for a whole number >= 1; the benchmark script uses it too."""
    value = _parsed(text, int, "a positive whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = _parsed(text, float, "a positive number")
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive, finite number, got {text}")
    return value


def _seed(text: str) -> int:
    value = _parsed(text, int, "a whole number >= 0")
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**32), got {value}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text}")
    return value


# ---- commands ------------------------------------------------------------------------


def _origin(path: Path, spec) -> str:
    """Which entry of the resolution order ``path`` came from."""
    import os

    from cnncourse.data.fetch import DATA_ENV, cache_dir

    folder = path.parent.resolve()
    if os.environ.get(DATA_ENV) and folder.is_relative_to(
        Path(os.environ[DATA_ENV]).expanduser().resolve()
    ):
        return f"${DATA_ENV}"
    if folder == (cache_dir() / spec.name).resolve():
        return "user cache"
    if any(folder == Path(d).resolve() for d in spec.system_dirs):
        return "system copy"
    return "elsewhere"


def _data_where(name: str | None) -> int:
    from cnncourse.data.fetch import candidates, search_dirs
    from cnncourse.data.registry import DATASETS, SPLITS

    missing = rejected = 0
    for spec in [DATASETS[name]] if name else list(DATASETS.values()):
        print(spec.name)
        files = {r.filename: r for split in SPLITS for r in spec.splits[split]}
        for remote in files.values():
            path, reasons = candidates(spec, remote)
            if path is None:
                missing += 1
                state = "rejected: no verified copy" if reasons else "missing"
                print(f"  {remote.filename:30s} {state}")
            else:
                print(f"  {remote.filename:30s} {path}  ({_origin(path, spec)})")
            for reason in reasons:
                rejected += 1
                print(f"    rejected {reason}")
        print("  searched, in order: " + ", ".join(str(d) for d in search_dirs(spec)))
    if rejected:
        print(
            f"{rejected} file(s) present but rejected (see 'rejected' above): fix or delete them.",
            file=sys.stderr,
        )
    if missing:
        hint = f" cnncourse data fetch {name}" if name else " cnncourse data fetch NAME"
        print(
            f"{missing} file(s) without a verified copy; when online, run:{hint}", file=sys.stderr
        )
        return 1
    return 0


def _data_fetch(name: str) -> int:
    from cnncourse.data.fetch import DataNotFoundError
    from cnncourse.data.imageset import locate

    try:
        paths = locate(name, download=True)
    except DataNotFoundError as err:
        print(err, file=sys.stderr)
        return 1
    for path in paths:
        print(f"{path}  (verified)")
    return 0


def _train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from cnncourse.data import load
    from cnncourse.models import build_model, count_parameters
    from cnncourse.runtime import device, is_quick, seed_everything
    from cnncourse.train import evaluate, fit

    if args.limit is not None and args.limit < 10:
        parser.error(f"--limit {args.limit} is too small: use at least 10 images.")
    if args.device is not None:
        if args.framework != "torch":
            parser.error("--device applies to --framework torch; Keras picks its own device.")
        try:
            device(args.device)
        except ValueError as err:
            parser.error(str(err))
    try:
        quick = is_quick()
    except ValueError as err:  # CNNCOURSE_QUICK set to something else than 0/1
        parser.error(str(err))
    limit = args.limit
    if limit is None and quick:
        limit = QUICK_LIMIT
        print(
            f"quick mode (CNNCOURSE_QUICK=1): --limit {limit}; set CNNCOURSE_QUICK=0 or "
            "pass --limit to choose."
        )
    full_train, full_test = load(args.dataset, "train"), load(args.dataset, "test")
    data = full_train.subset(limit, seed=args.seed)
    train, val = data.split(args.val_fraction, seed=args.seed)
    test = full_test.subset(limit, seed=args.seed)
    if limit is not None:
        print(
            f"--limit {limit}: {len(data)} of {len(full_train)} training images "
            f"(then {len(val)} held out for validation), {len(test)} of {len(full_test)} "
            "test images."
        )
    height, width, channels = data.image_shape
    if args.framework == "keras":
        from cnncourse._frameworks import import_keras

        import_keras()  # torchvision before TensorFlow: the other order segfaults
    # seed before the model exists: its initial weights are the first random numbers drawn
    seed_everything(args.seed)
    model = build_model(
        args.model,
        args.framework,
        in_channels=channels,
        num_classes=data.num_classes,
        image_size=(height, width),
    )
    print(
        f"{args.model} ({args.framework}, {count_parameters(model):,} parameters) on "
        f"{args.dataset}: {len(train)} train / {len(val)} validation / {len(test)} test images"
    )
    interactive = sys.stderr.isatty()
    options = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
    }
    if args.framework == "torch":
        history = fit(model, train, val, device=args.device, progress=interactive, **options)
        scores = evaluate(model, test, device=args.device)
    else:
        from cnncourse.data import to_tf_dataset
        from cnncourse.train.keras import fit_keras

        history = fit_keras(model, train, val, verbose="auto" if interactive else 0, **options)
        loss, accuracy = model.evaluate(to_tf_dataset(test, 1024), verbose=0)
        scores = {"loss": float(loss), "accuracy": float(accuracy)}
    print(history.to_string(index=False))
    print(f"test: loss {scores['loss']:.4f}, accuracy {scores['accuracy']:.4f}")
    if not all(math.isfinite(v) for v in (*history["loss"], scores["loss"])):
        print(
            "the loss is not finite: training diverged. Lower --lr (1e-3 suits Adam).",
            file=sys.stderr,
        )
        return 1
    return 0


def _student_edition(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from cnncourse.exercises.student import (
        find_book_root,
        make_student_edition,
        write_assignment,
    )

    chapters = None
    if args.chapters is not None:
        chapters = [name for item in args.chapters for name in item.split(",") if name]
    if args.assignment and not chapters:
        parser.error("--assignment needs --chapters: the chapters of the assignment.")
    try:
        root = find_book_root(args.book)
        written = make_student_edition(
            root,
            args.out,
            chapters=chapters,
            publish=args.publish_url,
            branch=args.branch,
            quick=not args.full,
        )
        archive = None
        if args.assignment:
            notebooks = [p for p in written if p.suffix == ".ipynb"]  # not the plain pages
            archive = write_assignment(
                args.out,
                args.assignment,
                notebooks,
                publish=args.publish_url,
                branch=args.branch,
                submit=args.submit,
            )
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    for path in written:
        print(path)
    mode = "full size" if args.full else "quick mode"
    print(
        f"student edition in {args.out}; build its book ({mode}) with: "
        f"jupyter-book build {args.out}"
    )
    if archive is not None:
        print(f"assignment archive: {archive}")
    return 0


def _grade(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tqdm.auto import tqdm

    from cnncourse.exercises.grade import grade

    if args.roster is not None and not args.roster.is_file():
        parser.error(f"roster {args.roster} does not exist")  # before the long grading run

    def report(result) -> None:
        earned = sum(result.points.values())
        tqdm.write(
            f"{result.path.stem}: {result.status} ({earned:g} points, {result.seconds:.1f} s)"
        )

    try:
        table = grade(
            args.submissions,
            args.out,
            timeout=args.timeout,
            chapter_timeout=args.chapter_timeout,
            kernel_name=args.kernel,
            progress=report,
            chapters=args.chapter,
            support=args.support,
            jobs=args.jobs,
            bar=None,
        )
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    print(f"wrote {args.out} ({len(table)} students)")
    return _export(args, parser, table)


def _export(args: argparse.Namespace, parser: argparse.ArgumentParser, table) -> int:
    from cnncourse.exercises.exports import export_grades

    for fmt in dict.fromkeys(args.export):
        target = args.out.with_name(f"{args.out.stem}.{fmt}.csv")
        try:
            export_grades(
                table,
                target,
                fmt,
                assignment=args.assignment,
                assignment_id=args.assignment_id,
                roster=args.roster,
                id_column=args.id_column,
            )
        except (FileNotFoundError, ValueError) as err:
            print(f"cannot write the {fmt} export: {err}", file=sys.stderr)
            return 1
        print(f"wrote {target} ({fmt})")
    return 0


def _check_notebook(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from cnncourse.exercises.grade import run_notebook

    if not args.notebook.is_file():
        parser.error(f"notebook {args.notebook} does not exist")
    if args.notebook.suffix not in (".ipynb", ".md"):
        parser.error(f"expected an .ipynb or MyST .md notebook, got {args.notebook}")
    result = run_notebook(
        args.notebook,
        timeout=args.timeout,
        chapter_timeout=args.chapter_timeout,
        kernel_name=args.kernel,
    )
    final = result.final
    for key, record in final.items():
        print(
            f"{key:30s} {record['status']:14s} {record['points']:g}/{record.get('max_points', 1):g}"
        )
    earned = sum(r["points"] for r in final.values())
    possible = sum(r.get("max_points", 1) for r in final.values())
    print(
        f"{args.notebook}: {result.status}; {earned:g}/{possible:g} points in {result.seconds:.1f} s"
    )
    if result.status != "ok":
        return 1
    if args.strict and (not final or any(r["status"] != "pass" for r in final.values())):
        print("--strict: every exercise must end with a passing check.", file=sys.stderr)
        return 1
    return 0
