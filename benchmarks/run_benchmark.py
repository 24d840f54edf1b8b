"""Run the cnncourse benchmark from a checkout: ``python benchmarks/run_benchmark.py [--quick]``.

A thin wrapper of ``cnncourse bench`` (see ``cnncourse/bench.py``); results go to
``benchmarks/results/latest.md`` and ``latest.csv`` unless ``--out`` says otherwise.
"""

import sys

from cnncourse.bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
