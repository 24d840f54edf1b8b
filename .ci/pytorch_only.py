"""A pytest plugin that makes the optional extras look uninstalled: a PyTorch-only install.

``PYTHONPATH=.ci pytest -p pytorch_only tests -m "not keras and not browser"`` runs the
suite as a user who installed ``cnncourse[dev]`` without the ``keras`` and ``book``
extras sees it: importing Keras, TensorFlow, Jupytext, Jupyter Book or its cache raises
``ModuleNotFoundError``, as it would if they were absent, so a test that needs one
without saying so (marker or ``pytest.importorskip``) fails here. ``CNNCOURSE_HIDE``
(comma-separated top-level names) replaces the default list.
"""

from __future__ import annotations

import os
import sys
from importlib.abc import MetaPathFinder

HIDDEN = (
    "keras",
    "tensorflow",
    "tf_keras",
    "jupytext",
    "jupyter_book",
    "jupyter_cache",
    "nbformat",
    "nbclient",
    "nbval",
)


def hidden_names() -> frozenset[str]:
    """The top-level package names this run treats as not installed."""
    chosen = os.environ.get("CNNCOURSE_HIDE")
    names = HIDDEN if chosen is None else chosen.split(",")
    return frozenset(name.strip() for name in names if name.strip())


class HideModules(MetaPathFinder):
    """Wraps one finder of ``sys.meta_path`` so that it does not find the hidden packages.

    Every finder is wrapped, so ``import keras`` raises ``ModuleNotFoundError`` and
    ``importlib.util.find_spec("keras")`` returns ``None``: what an absent package gives.
    """

    def __init__(self, finder, names: frozenset[str]) -> None:
        self.finder = finder
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            return None
        find = getattr(self.finder, "find_spec", None)
        return None if find is None else find(fullname, path, target)

    def find_distributions(self, context=None):
        """The wrapped finder's installed distributions, less the hidden ones."""
        find = getattr(self.finder, "find_distributions", None)
        if find is None:
            return iter(())
        dists = find(context) if context is not None else find()
        return (d for d in dists if _normal(d.metadata["Name"] or "") not in self.names)

    def invalidate_caches(self) -> None:
        invalidate = getattr(self.finder, "invalidate_caches", None)
        if invalidate is not None:
            invalidate()

    def __getattr__(self, name: str):
        return getattr(self.finder, name)


def _normal(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _install() -> None:
    names = hidden_names()
    loaded = sorted(name for name in sys.modules if name.partition(".")[0] in names)
    if loaded:  # too late to hide them: say so instead of testing the wrong thing
        raise RuntimeError(f"pytorch_only: already imported before the plugin: {loaded[:5]}")
    sys.meta_path[:] = [HideModules(finder, names) for finder in sys.meta_path]


_install()
