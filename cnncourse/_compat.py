"""Renamed public names keep working for one release, with a ``DeprecationWarning``.

Add a row to ``RENAMED`` when a public name changes: ``(module, old) -> "new"``
where ``new`` is ``"module:attribute"``. Each module's ``__getattr__`` calls
:func:`resolve_renamed`, so an old notebook that uses the old name still runs
and is told what to write instead.
"""

from __future__ import annotations

import importlib
import warnings

RENAMED: dict[tuple[str, str], str] = {
    # (module that used to hold it, old name): "module:new name"
    ("cnncourse.runtime", "get_device"): "cnncourse.runtime:device",
    ("cnncourse.runtime", "set_seed"): "cnncourse.runtime:seed_everything",
}


def resolve_renamed(module: str, name: str):
    """Return the renamed object for ``module.name``, warning; else ``AttributeError``."""
    target = RENAMED.get((module, name))
    if target is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    new_module, new_name = target.split(":")
    warnings.warn(
        f"{module}.{name} was renamed to {new_module}.{new_name}; the old name will be "
        "removed in the next release.",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(importlib.import_module(new_module), new_name)
