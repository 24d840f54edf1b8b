"""Export for serving: ``torch.export`` programs (``.pt2``) and TensorFlow SavedModels from Keras."""

from __future__ import annotations

import copy
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from cnncourse._files import atomic_path, existing_file
from cnncourse._frameworks import import_tf
from cnncourse.deploy.saving import _keras

# --- export for serving ----------------------------------------------------------------


def export_torch(model: nn.Module, path: str | Path, example: torch.Tensor) -> Path:
    """Export ``model`` with ``torch.export`` to a ``.pt2`` file, any batch size allowed.

    ``example`` is a float batch ``(N, C, H, W)`` the model accepts. The exported program is
    the model's computation graph in eval mode (BatchNorm statistics fixed, no dropout),
    loadable without the model's Python class: :func:`load_torch_export`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"export_torch expects a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(example, torch.Tensor) or example.ndim != 4 or len(example) < 2:
        raise ValueError(
            "example must be a float batch (N, C, H, W) with N >= 2 (a batch of 1 would "
            "fix the batch size), got "
            f"{tuple(example.shape) if isinstance(example, torch.Tensor) else type(example)}."
        )
    path = Path(path)
    if path.suffix != ".pt2":
        raise ValueError(f"exported programs are saved as .pt2 files, got {path.name!r}.")
    # an eval-mode copy in the default memory format: train.fit may have moved the weights
    # to channels-last, which .pt2 files store less cleanly; the original stays untouched
    frozen = copy.deepcopy(model).cpu().eval().to(memory_format=torch.contiguous_format)
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(frozen, (example.float().cpu(),), dynamic_shapes=({0: batch},))
    with atomic_path(path, suffix=".pt2") as tmp:
        torch.export.save(program, tmp)
    return path


def load_torch_export(path: str | Path) -> nn.Module:
    """Load a ``.pt2`` file written by :func:`export_torch`; returns a callable module."""
    path = existing_file(path, "an exported .pt2 program", "export_torch(model, path, x)")
    return torch.export.load(path).module()


def export_keras(model, path: str | Path) -> Path:
    """Export a Keras model as a TensorFlow SavedModel folder (for TF Serving, TFLite, ...).

    The folder holds the inference graph only (no optimizer, no Python): its ``serve``
    function maps ``(N, H, W, C)`` float images to the model's outputs.
    """
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise TypeError(f"export_keras expects a keras.Model, got {type(model).__name__}.")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file; a SavedModel export is a folder: pick a new name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tf_logger = logging.getLogger("tensorflow")
        level = tf_logger.level
        tf_logger.setLevel(logging.WARNING)  # hide "INFO: Assets written to <temp folder>"
        try:
            model.export(str(tmp / "model"), format="tf_saved_model", verbose=False)
        finally:
            tf_logger.setLevel(level)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp / "model", path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def load_keras_export(path: str | Path):
    """Load a SavedModel folder written by :func:`export_keras`; returns a callable ``serve``."""
    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(
            f"no SavedModel at {path} (expected {path / 'saved_model.pb'}); "
            "export_keras(model, path) writes one."
        )
    return _Served(import_tf().saved_model.load(str(path)), path)


class _Served:
    """A loaded SavedModel's ``serve`` function; holding the object keeps its variables alive."""

    def __init__(self, loaded, path: Path) -> None:
        self.loaded, self.path = loaded, path

    def __call__(self, images):
        return self.loaded.serve(images)

    def __repr__(self) -> str:
        return f"<SavedModel {self.path} serve(images (N, H, W, C) float32)>"
