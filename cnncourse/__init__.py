"""cnncourse: the companion package of the CNN course book.

Chapters import submodules by concern::

    from cnncourse import data, models, train, metrics, plots, runtime

Submodules load lazily, so ``import cnncourse`` is cheap and a PyTorch-only
chapter never pays for TensorFlow. The names in ``PUBLIC_API`` are the stable
surface: renamed names keep working for one release with a ``DeprecationWarning``
(see ``cnncourse._compat``), so readers' saved notebooks keep running.
"""

from __future__ import annotations

import importlib

from cnncourse._compat import resolve_renamed
from cnncourse._version import __version__

SUBMODULES = (
    "data",
    "models",
    "train",
    "metrics",
    "ops",
    "interop",
    "plots",
    "exercises",
    "runtime",
    "pipelines",
    "transfer",
    "tuning",
    "deploy",
    "compare",
    "bench",
)

__all__ = ["__version__", *SUBMODULES]


def __getattr__(name: str):
    if name in SUBMODULES:
        return importlib.import_module(f"cnncourse.{name}")
    return resolve_renamed(__name__, name)


def __dir__() -> list[str]:
    return sorted(__all__)
