"""Save and load models safely: PyTorch state dicts (weights_only) and .keras files (safe_mode)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from torch import nn

from cnncourse._files import atomic_path, existing_file
from cnncourse._frameworks import import_keras
from cnncourse.train.checkpoint import FORMAT, load_checkpoint, save_checkpoint

__all__ = ["FORMAT", "load_keras", "load_torch", "save_keras", "save_torch"]

# --- PyTorch: the one checkpoint format of cnncourse.train.checkpoint ---------------------


def save_torch(model: nn.Module, path: str | Path) -> Path:
    """Write ``model`` to ``path`` in the course's checkpoint format (see there).

    The file holds tensors, strings, numbers and plain containers only, so
    :func:`load_torch` reads it with ``torch.load(weights_only=True)``. Course models
    (``cnncourse.models``) also store their registry name and constructor arguments, so
    ``load_torch(path)`` rebuilds them. The same file as ``fit(..., checkpoint=path)``
    writes, without the training state.
    """
    return save_checkpoint(path, model)


def load_torch(path: str | Path, model: nn.Module | None = None) -> nn.Module:
    """Load a checkpoint (from :func:`save_torch`, ``fit`` or a bare ``state_dict``) safely.

    ``torch.load(weights_only=True)`` rebuilds tensors and plain containers only: a file
    that asks to import or call anything else is refused with a ``ValueError`` before any
    of its code runs. Without ``model`` a course model is rebuilt from the stored name and
    config; with it, the weights go into ``model``, whose layers must match. The model is
    returned in eval mode on the CPU.
    """
    return load_checkpoint(path, model)["model"].cpu().eval()


# --- Keras: .keras files ---------------------------------------------------------------


def save_keras(model, path: str | Path) -> Path:
    """Save a whole Keras model (architecture, weights, optimizer) to a ``.keras`` file."""
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise TypeError(f"save_keras expects a keras.Model, got {type(model).__name__}.")
    path = _keras_suffix(path)
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
    return path


def load_keras(path: str | Path):
    """Load a ``.keras`` file with ``safe_mode=True``: Python code in it is refused.

    A ``Lambda`` layer stores its function as Python bytecode; loading it would run code
    from the file, so safe mode raises instead (here as a ``ValueError`` that says so).
    """
    keras = _keras()
    path = existing_file(_keras_suffix(path), "a .keras model file", "save_keras(model, path)")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a readable .keras file (a zip archive); is it truncated?")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except KeyError as err:  # a zip without config.json or weights
        raise ValueError(f"{path} is a zip archive but not a Keras model: {err}") from err
    except ValueError as err:
        if "safe_mode" not in str(err):
            raise
        raise ValueError(
            f"refused to load {path}: it contains Python code (e.g. a Lambda layer), which "
            "safe mode does not run. Rebuild such layers as subclasses registered with "
            "keras.saving.register_keras_serializable, or load only files you trust. "
            f"Keras says: {str(err).splitlines()[0]}"
        ) from err


def _keras_suffix(path) -> Path:
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(
            f"Keras 3 saves whole models as .keras files, got {path.name!r}; for a SavedModel "
            "folder use export_keras / load_keras_export."
        )
    return path


def _keras():
    return import_keras()
