"""Moved and renamed public names keep working for one release, with a ``DeprecationWarning``.

Two tables, one mechanism:

- ``RENAMED``: ``(module, old name) -> "module:new name"`` for a name that changed;
- ``MOVED_MODULES``: ``old module -> new module`` for a module whose public names all
  moved, under the same names, to a new home (``cnncourse.compare`` -> ``cnncourse.interop``).

A finder on ``sys.meta_path`` (installed by ``import cnncourse``) answers ``import
cnncourse.compare`` with a stand-in module; each name read from it, or a renamed name
read from a live module's ``__getattr__`` (:func:`resolve`), warns with the new place
and returns the object that lives there. An old notebook keeps running and is told
what to write instead. Add a row here when a public name moves; delete the rows a
release later.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings

RENAMED: dict[tuple[str, str], str] = {
    # (module that used to hold it, old name): "module:new name"
    ("cnncourse.runtime", "get_device"): "cnncourse.runtime:device",
    ("cnncourse.runtime", "set_seed"): "cnncourse.runtime:seed_everything",
    ("cnncourse.models.reference", "Recipe"): "cnncourse.train.recipes:Recipe",
    ("cnncourse.models.reference", "REFERENCE_RECIPE"): "cnncourse.train.recipes:REFERENCE_RECIPE",
    ("cnncourse.models.reference", "SHORT_RECIPE"): "cnncourse.train.recipes:SHORT_RECIPE",
}

MOVED_MODULES: dict[str, str] = {
    # old module: the module that now holds every one of its public names
    "cnncourse.compare": "cnncourse.interop",
    "cnncourse.pipelines": "cnncourse.data",
    "cnncourse.transfer": "cnncourse.train.transfer",
    "cnncourse.tuning": "cnncourse.train.tuning",
    "cnncourse.models.torch_models": "cnncourse.models",
    "cnncourse.models.keras_models": "cnncourse.models",
}


def _warn(old: str, new: str, stacklevel: int, how: str = "moved to") -> None:
    warnings.warn(
        f"{old} {how} {new}; the old name will be removed in the next release.",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )


def resolve(module: str, name: str, *, stacklevel: int = 2):
    """The object a renamed ``module.name`` now is, with a warning; else ``AttributeError``.

    ``stacklevel`` counts from the caller of :func:`resolve`: 2 points the warning at
    the code that read the attribute from a module's ``__getattr__``.
    """
    target = RENAMED.get((module, name))
    if target is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    new_module, new_name = target.split(":")
    _warn(f"{module}.{name}", f"{new_module}.{new_name}", stacklevel + 1, "was renamed to")
    return getattr(importlib.import_module(new_module), new_name)


def moved_module(old: str, *, stacklevel: int = 2) -> types.ModuleType:
    """The stand-in for a moved module ``old`` (e.g. for ``from cnncourse import compare``)."""
    _warn(old, MOVED_MODULES[old], stacklevel + 1)
    return importlib.import_module(old)


class _MovedModuleLoader(importlib.abc.Loader):
    """Builds the stand-in of a moved module: its names come from the new home, warning."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        old, new = module.__name__, MOVED_MODULES[module.__name__]
        module.__doc__ = f"Moved to :mod:`{new}`; this stand-in warns and forwards."

        def __getattr__(name: str):
            if name.startswith("__"):
                raise AttributeError(f"module {old!r} has no attribute {name!r}")
            value = getattr(importlib.import_module(new), name)  # AttributeError if absent
            _warn(f"{old}.{name}", f"{new}.{name}", 2)
            return value

        def __dir__() -> list[str]:
            return sorted(getattr(importlib.import_module(new), "__all__", ()))

        module.__getattr__ = __getattr__
        module.__dir__ = __dir__


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old names in ``MOVED_MODULES``; every other import passes through."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedModuleLoader())


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (``import cnncourse`` calls this)."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedModuleFinder())
