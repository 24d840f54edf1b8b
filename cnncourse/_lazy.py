"""One module ``__getattr__`` for the package: lazy names, then moved and renamed ones.

A package that must not import something heavy at import time (TensorFlow and Keras,
or every submodule of ``cnncourse``) lists those names here instead of writing its own
``__getattr__``::

    __getattr__, __dir__ = lazy_module_getattr(__name__, __all__, lazy={"fit_keras": "cnncourse.train.keras"})

A lazy name is imported on first use and cached on the module. Any other name goes to
:mod:`cnncourse._compat`, so a renamed or moved name warns and still works.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cnncourse import _compat


def lazy_module_getattr(
    module: str,
    public: Iterable[str],
    *,
    lazy: Mapping[str, str] | None = None,
    moved: Iterable[str] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``module``.

    Parameters
    ----------
    module : the module's ``__name__``.
    public : its public names, for ``dir()`` and tab completion.
    lazy : ``{name: "package.submodule"}``: ``name`` is that submodule's attribute of the
        same name, or, when ``name`` is the submodule's last part, the submodule itself.
    moved : submodules of ``module`` that moved (rows of ``_compat.MOVED_MODULES``):
        reading one returns its warning stand-in.
    """
    lazy = dict(lazy or {})
    moved = {name: f"{module}.{name}" for name in moved}
    names = sorted(set(public))

    def __getattr__(name: str) -> Any:
        if name in lazy:
            target = importlib.import_module(lazy[name])
            value = target if lazy[name] == f"{module}.{name}" else getattr(target, name)
            setattr(sys.modules[module], name, value)  # later reads skip __getattr__
            return value
        if name in moved:
            return _compat.moved_module(moved[name])
        return _compat.resolve(module, name)

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__
