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
    ("cnncourse.models.torch_models", "ImageClassifier"): "cnncourse.models:ImageClassifier",
    ("cnncourse.models.torch_models", "TinyCNN"): "cnncourse.models:TinyCNN",
    ("cnncourse.models.torch_models", "VGGNet"): "cnncourse.models:VGGNet",
    ("cnncourse.models.torch_models", "MLP"): "cnncourse.models:MLP",
    ("cnncourse.models.keras_models", "keras_tiny_cnn"): "cnncourse.models:keras_tiny_cnn",
    ("cnncourse.models.keras_models", "keras_vgg"): "cnncourse.models:keras_vgg",
    ("cnncourse.models.keras_models", "keras_mlp"): "cnncourse.models:keras_mlp",
    ("cnncourse.models.reference", "Recipe"): "cnncourse.train.recipes:Recipe",
    ("cnncourse.models.reference", "REFERENCE_RECIPE"): "cnncourse.train.recipes:REFERENCE_RECIPE",
    ("cnncourse.models.reference", "SHORT_RECIPE"): "cnncourse.train.recipes:SHORT_RECIPE",
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
