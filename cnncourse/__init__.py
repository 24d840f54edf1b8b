"""cnncourse: the companion package of the CNN course book.

Chapters import submodules by concern::

    from cnncourse import data, models, train, metrics, plots, runtime

Submodules load lazily, so ``import cnncourse`` is cheap and a PyTorch-only
chapter never pays for TensorFlow. Public names that moved or were renamed keep
working for one release with a ``DeprecationWarning`` (see ``cnncourse._compat``),
so readers' saved notebooks keep running.
"""

from __future__ import annotations

from cnncourse import _compat
from cnncourse._lazy import lazy_module_getattr
from cnncourse._version import __version__

SUBMODULES = (
    "data",
    "models",
    "train",
    "metrics",
    "ops",
    "interop",
    "plots",
    "deploy",
    "exercises",
    "runtime",
    "glue",
)

# chapter-named modules whose names now live in a concept package (cnncourse._compat)
MOVED = ("compare", "pipelines", "transfer", "tuning")

__all__ = ["__version__", *SUBMODULES]

_compat.install()
__getattr__, __dir__ = lazy_module_getattr(
    __name__, __all__, lazy={name: f"{__name__}.{name}" for name in SUBMODULES}, moved=MOVED
)
