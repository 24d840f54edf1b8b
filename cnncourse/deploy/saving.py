"""Save and load models safely: PyTorch state dicts (weights_only) and .keras files (safe_mode)."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from cnncourse._files import atomic_path, existing_file

FORMAT = "cnncourse-torch-1"  # marks files written by save_torch


# --- PyTorch: state_dict files -------------------------------------------------------


def save_torch(model: nn.Module, path: str | Path) -> Path:
    """Write ``model``'s ``state_dict`` (and, for course models, how to rebuild it) to ``path``.

    The file holds tensors, strings, numbers and tuples only, so :func:`load_torch` can read
    it with ``torch.load(weights_only=True)``. Course models (``cnncourse.models``) also store
    their registry name and constructor arguments, so ``load_torch(path)`` rebuilds them.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"save_torch expects a torch.nn.Module, got {type(model).__name__}.")
    state = {
        "format": FORMAT,
        "name": getattr(model, "name", "") or "",
        "config": dict(getattr(model, "config", {}) or {}),
        # contiguous copies: a channels-last model (cnncourse.train.fit) saves plain tensors
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_torch(path: str | Path, model: nn.Module | None = None) -> nn.Module:
    """Load weights saved by :func:`save_torch` (or a bare ``state_dict``) safely.

    ``torch.load(weights_only=True)`` rebuilds tensors and plain containers only: a file
    that asks to import or call anything else is refused with a ``ValueError`` before any
    of its code runs. Without ``model`` a course model is rebuilt from the stored name and
    config; with it, the weights go into ``model``, whose layers must match. The model is
    returned in eval mode on the CPU.
    """
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module (or None to rebuild it), got {type(model).__name__}."
        )
    path = existing_file(path, "a PyTorch weights file", "save_torch(model, path)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise ValueError(f"{path} is not a readable PyTorch file: {err}") from err
        raise ValueError(
            f"refused to load {path}: it asks to run Python code or build objects beyond "
            "tensors and plain containers, which a weights file never needs. Nothing in it "
            f"was executed. Only load files from sources you trust. ({_culprit(err)})"
        ) from err
    except (RuntimeError, EOFError, KeyError) as err:  # truncated, empty, not a torch file
        raise ValueError(
            f"{path} is not a readable PyTorch file (truncated or of another kind): "
            f"{type(err).__name__}: {str(err)[:200]}"
        ) from err
    if isinstance(state, dict) and state.get("format") == FORMAT:
        weights, name, config = state["state_dict"], state["name"], state["config"]
    elif isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()):
        weights, name, config = state, "", {}  # a bare state_dict from torch.save
    else:
        raise ValueError(
            f"{path} holds a {type(state).__name__}, not model weights; expected a file "
            "written by save_torch or torch.save(model.state_dict(), path)."
        )
    if model is None:
        if not name:
            raise ValueError(
                f"{path} holds bare weights without the model's name: build the model "
                "first and pass it, load_torch(path, model)."
            )
        from cnncourse.models import build_model

        model = build_model(name, **config)
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        stored = f"a {name!r} model with {config}" if name else "another model"
        raise ValueError(
            f"the weights in {path} do not fit this {type(model).__name__}: they were saved "
            f"from {stored}. Build the same architecture, or call load_torch(path) without "
            f"a model to rebuild it. PyTorch says: {err}"
        ) from err
    return model.cpu().eval()


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


def _culprit(err: Exception) -> str:
    """The line of torch's weights-only error that names what the file wanted to load."""
    lines = [line.strip() for line in str(err).splitlines() if "Unsupported global" in line]
    return lines[0].split(" Please use")[0] if lines else str(err).splitlines()[0]


def _keras_suffix(path) -> Path:
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(
            f"Keras 3 saves whole models as .keras files, got {path.name!r}; for a SavedModel "
            "folder use export_keras / load_keras_export."
        )
    return path


def _keras():
    from cnncourse._frameworks import import_keras

    return import_keras()
