"""How fit and Keras fit slow down when another process keeps one of the cores busy.

A model of the "slow spells" of a shared machine: a busy loop pinned to CPU 1
(Linux only) during alternate phases, while fit and Keras fit train the tiny CNN on
the 60,000 Fashion-MNIST training images (the throughput section's setting).
Usage: ``python benchmarks/experiments/one_busy_core.py [--phases 4] [--epochs 2]``.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # cnncourse_bench

import torchvision  # noqa: E402,F401  (before TensorFlow: see cnncourse._frameworks)
from cnncourse_bench.throughput import fit_epochs, keras_epochs  # noqa: E402

from cnncourse import runtime  # noqa: E402
from cnncourse.data import load, to_tensors  # noqa: E402
from cnncourse.models import build_model  # noqa: E402
from cnncourse.runtime import seed_everything  # noqa: E402

BUSY_LOOP = "import os\nos.sched_setaffinity(0, {1})\nwhile True:\n    pass"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", type=int, default=4, help="idle, busy, idle, busy, ...")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per loop and phase")
    args = parser.parse_args()
    if not hasattr(os, "sched_setaffinity") or os.cpu_count() < 2:
        sys.exit("needs Linux and at least two cores")
    train = load("fashion_mnist", "train")
    seed_everything(0, keras=True)
    runtime.tune_cpu_allocator()  # as the benchmark does, in this process only
    fit_epoch = fit_epochs(build_model("tiny"), to_tensors(train), device="cpu")
    keras_epoch = keras_epochs(build_model("tiny", "keras"), train)
    fit_epoch(), keras_epoch()  # warm-up
    for phase in range(args.phases):
        busy = phase % 2 == 1
        hog = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
        try:
            fit_s = [fit_epoch() for _ in range(args.epochs)]
            keras_s = [keras_epoch() for _ in range(args.epochs)]
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
        print(
            f"{'one core busy' if busy else 'idle':13s} fit {' '.join(f'{s:.2f}' for s in fit_s)} s;"
            f" Keras {' '.join(f'{s:.2f}' for s in keras_s)} s;"
            f" Keras/fit (best epochs) {min(keras_s) / min(fit_s):.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
