"""``python -m cnncourse``: the same command line as ``cnncourse``."""

import sys

from cnncourse.cli import main

if __name__ == "__main__":
    sys.exit(main())
