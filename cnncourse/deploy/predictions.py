"""Predictions of any saved or exported model, their comparison, and a CSV file of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from cnncourse._files import atomic_path
from cnncourse._util import to_numpy
from cnncourse.data.imageset import ImageSet
from cnncourse.train.loop import predict

CSV_COLUMNS = ("id", "label", "class_name", "probability")


# --- predictions -----------------------------------------------------------------------


def predict_proba(model, data: ImageSet, *, batch_size: int = 1000) -> np.ndarray:
    """Softmax probabilities ``(N, K)`` of ``model`` on every image of ``data``.

    ``model`` is a PyTorch module or exported program, run by
    :func:`cnncourse.train.predict` (float ``(N, C, H, W)`` in ``[0, 1]``, eval mode, on
    the model's device), or a Keras model or a SavedModel's ``serve`` function (fed
    ``(N, H, W, C)``). All of them output logits, as the course's models do.
    """
    if not isinstance(data, ImageSet):
        raise TypeError(f"data must be an ImageSet (cnncourse.data.load), got {type(data)}.")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    if isinstance(model, nn.Module):
        return predict(model, data, batch_size=batch_size)[1]
    if not callable(model):
        raise TypeError(f"model must be a PyTorch or Keras model, got {type(model).__name__}.")
    outputs = []
    for start in range(0, len(data), batch_size):
        images = data.images[start : start + batch_size].astype(np.float32) / 255  # (B, H, W, C)
        logits = model(images)  # (B, K), or a dict with one entry from a SavedModel
        if isinstance(logits, dict):
            (logits,) = logits.values()
        logits = torch.from_numpy(to_numpy(logits, "the model's output", dtype=np.float32))
        outputs.append(torch.softmax(logits, dim=1).numpy())
    return np.concatenate(outputs)


@dataclass(frozen=True)
class Agreement:
    """How two sets of probabilities ``(N, K)`` compare; ``ok`` when all differ by < ``atol``."""

    max_abs_diff: float
    label_agreement: float
    n: int
    atol: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff < self.atol

    def __str__(self) -> str:
        verdict = "same" if self.ok else "DIFFERENT"
        return (
            f"{verdict} predictions on {self.n} images: max |difference| "
            f"{self.max_abs_diff:.2e} (tolerance {self.atol:g}), "
            f"top-1 labels agree on {self.label_agreement:.2%}"
        )


def compare_predictions(reference, candidate, *, atol: float = 1e-5) -> Agreement:
    """Compare ``candidate`` probabilities ``(N, K)`` with ``reference``: max difference, labels."""
    reference = to_numpy(reference, "reference")
    candidate = to_numpy(candidate, "candidate")
    if reference.shape != candidate.shape or reference.ndim != 2:
        raise ValueError(
            "expected two arrays of probabilities with the same shape (N, K), got "
            f"{reference.shape} and {candidate.shape}: run both models on the same images."
        )
    if not (np.isfinite(reference).all() and np.isfinite(candidate).all()):
        raise ValueError("the predictions contain NaN or infinity; check the model and input.")
    diff = float(np.abs(reference.astype(np.float64) - candidate).max(initial=0.0))
    labels = float(np.mean(reference.argmax(1) == candidate.argmax(1))) if len(reference) else 1.0
    return Agreement(diff, labels, len(reference), float(atol))


def predictions_to_csv(
    path: str | Path,
    probabilities,
    class_names: Sequence[str],
    *,
    ids: Sequence | None = None,
    columns: Sequence[str] = CSV_COLUMNS,
) -> pd.DataFrame:
    """Write one row per image: ``id, label, class_name, probability`` (of the top class).

    ``ids`` default to the image's position ``0..N-1``. ``columns`` picks which of
    :data:`CSV_COLUMNS` to write, in that order: ``("id", "label")`` is the submission
    format of a competition. The file is written to a temporary name and renamed, so
    readers never see half a file. Returns the table written.
    """
    if isinstance(columns, str) or not set(columns) <= set(CSV_COLUMNS) or not columns:
        raise ValueError(
            f"columns must be a non-empty list drawn from {CSV_COLUMNS}, got {columns!r}; "
            "e.g. columns=('id', 'label') for a submission file."
        )
    probabilities = to_numpy(probabilities, "probabilities", dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(class_names):
        raise ValueError(
            f"probabilities must be (N, {len(class_names)}) for {len(class_names)} class "
            f"names, got shape {probabilities.shape}."
        )
    sums = probabilities.sum(axis=1)
    if len(sums) and (not np.allclose(sums, 1, atol=1e-3) or probabilities.min() < 0):
        raise ValueError(
            "each row must hold probabilities that sum to 1; these look like logits: "
            "apply a softmax first (cnncourse.deploy.predict_proba does)."
        )
    ids = np.arange(len(probabilities)) if ids is None else np.asarray(ids)
    if len(ids) != len(probabilities) or len(set(ids.tolist())) != len(ids):
        raise ValueError(f"ids must be {len(probabilities)} unique values, got {len(ids)}.")
    labels = probabilities.argmax(axis=1)
    table = pd.DataFrame(
        {
            "id": ids,
            "label": labels,
            "class_name": np.asarray(class_names, dtype=object)[labels],
            "probability": probabilities.max(axis=1),
        }
    )[list(columns)]
    with atomic_path(path, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    return table
