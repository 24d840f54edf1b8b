"""Classification metrics: a checked front door to scikit-learn.

Every function takes NumPy arrays, lists or PyTorch tensors (on any device),
checks them once, with a message that says what was expected, and hands the
arithmetic to :mod:`sklearn.metrics`. Labels are integer class indices
``0 .. K-1``; probabilities are ``(N, K)`` rows that sum to 1 (apply
``softmax`` to a model's logits first), or ``(N,)`` positive-class scores for a
binary problem.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from cnncourse._util import to_numpy

Average = Literal["macro", "weighted"] | None

# Rows of a softmax output sum to 1 up to float32 rounding; anything further off
# is almost always logits passed by mistake.
_SUM_TOLERANCE = 1e-3


def check_labels(values, name: str, num_classes: int | None = None) -> np.ndarray:
    """Integer class indices of shape ``(N,)``, each in ``[0, num_classes)``."""
    labels = to_numpy(values, name)
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise ValueError(
            f"{name} must hold one class index per sample, shape (N,); got shape "
            f"{labels.shape}, which looks like scores or one-hot rows: pass "
            f"{name}.argmax(1) instead."
        )
    if labels.ndim != 1:
        raise ValueError(f"{name} must have shape (N,); got shape {labels.shape}.")
    if labels.dtype.kind == "f" and np.all(np.mod(labels, 1) == 0):
        labels = labels.astype(np.int64)  # 0.0, 1.0, ... from a float column are fine
    if labels.dtype.kind not in "iub":
        raise TypeError(
            f"{name} must hold integer class indices; got dtype {labels.dtype}. "
            "Map class names to indices first."
        )
    labels = labels.astype(np.int64)
    if len(labels) and labels.min() < 0:
        raise ValueError(f"{name} must be class indices >= 0; found {labels.min()}.")
    if num_classes is not None and len(labels) and labels.max() >= num_classes:
        raise ValueError(
            f"{name} must lie in [0, {num_classes - 1}] for {num_classes} classes; "
            f"found {labels.max()}."
        )
    return labels


def check_pair(y_true, y_pred, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``(y_true, y_pred)`` of equal length."""
    true = check_labels(y_true, "y_true", num_classes)
    pred = check_labels(y_pred, "y_pred", num_classes)
    if len(true) != len(pred):
        raise ValueError(
            f"y_true and y_pred must have the same length; got {len(true)} and {len(pred)}."
        )
    if len(true) == 0:
        raise ValueError("y_true and y_pred are empty; a metric needs at least one sample.")
    return true, pred


def check_probabilities(y_true, probabilities) -> tuple[np.ndarray, np.ndarray]:
    """Checked labels ``(N,)`` and probabilities ``(N, K)`` (or ``(N,)`` for binary)."""
    probs = to_numpy(probabilities, "probabilities").astype(np.float64)
    if probs.ndim == 2 and probs.shape[1] == 1:
        probs = probs[:, 0]  # a sigmoid output of shape (N, 1)
    if probs.ndim not in (1, 2) or (probs.ndim == 2 and probs.shape[1] < 2):
        raise ValueError(
            "probabilities must have shape (N, K) with K >= 2 (one column a class) or (N,) "
            f"(positive-class scores of a binary problem); got shape {probs.shape}."
        )
    num_classes = probs.shape[1] if probs.ndim == 2 else 2
    true = check_labels(y_true, "y_true", num_classes)
    if len(true) != len(probs):
        raise ValueError(
            f"y_true and probabilities must have the same number of samples; got {len(true)} "
            f"and {len(probs)}."
        )
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
        raise ValueError(
            f"probabilities must lie in [0, 1]; got values in [{probs.min():.3g}, "
            f"{probs.max():.3g}]. Are these logits? Apply softmax(logits, dim=1) first."
        )
    if probs.ndim == 2:
        worst = np.abs(probs.sum(axis=1) - 1.0).max()
        if worst > _SUM_TOLERANCE:
            raise ValueError(
                f"each row of probabilities must sum to 1; the worst row is off by "
                f"{worst:.3g}. Apply softmax(logits, dim=1) to the model's outputs first."
            )
    missing = sorted(set(range(num_classes)) - set(true.tolist()))
    if missing:
        # one-vs-rest needs a positive and a negative of every class: no true
        # positives means the true-positive rate divides by zero
        raise ValueError(
            f"classes {missing} never occur in y_true, so their ROC curve is undefined; "
            "evaluate on a sample that holds every class."
        )
    return true, probs


def _labels_for(num_classes: int | None) -> np.ndarray | None:
    return None if num_classes is None else np.arange(num_classes)


def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted class equals the true class.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        True and predicted class indices.
    """
    true, pred = check_pair(y_true, y_pred)
    return float(skm.accuracy_score(true, pred))


def precision_recall_f1(
    y_true, y_pred, average: Average = "macro", num_classes: int | None = None
) -> tuple:
    """Precision, recall and F1, averaged over classes or one value per class.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        True and predicted class indices.
    average : {"macro", "weighted", None}
        ``"macro"``: plain mean over classes; ``"weighted"``: mean weighted by
        each class's support; ``None``: arrays of shape (K,), one entry a class.
    num_classes : int, optional
        K. Without it the classes are those that occur in ``y_true`` or ``y_pred``.

    Returns
    -------
    (precision, recall, f1)
        Floats, or arrays of shape (K,) for ``average=None``. A class never
        predicted has precision 0 (scikit-learn's ``zero_division=0``).
    """
    if average not in ("macro", "weighted", None):
        raise ValueError(f"average must be 'macro', 'weighted' or None; got {average!r}.")
    true, pred = check_pair(y_true, y_pred, num_classes)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        true, pred, labels=_labels_for(num_classes), average=average, zero_division=0
    )
    if average is None:
        return precision, recall, f1
    return float(precision), float(recall), float(f1)


def classification_report(y_true, y_pred, class_names) -> pd.DataFrame:
    """Per-class precision, recall, F1 and support, plus macro and weighted averages.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        True and predicted class indices in ``[0, len(class_names))``.
    class_names : sequence of str, length K

    Returns
    -------
    pandas.DataFrame
        Index: the K class names, then ``"macro avg"`` and ``"weighted avg"``;
        columns ``precision, recall, f1, support``. ``df.attrs["accuracy"]``
        holds the overall accuracy.
    """
    names = [str(name) for name in class_names]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"class_names must be non-empty and unique; got {names}.")
    true, pred = check_pair(y_true, y_pred, num_classes=len(names))
    report = skm.classification_report(
        true,
        pred,
        labels=np.arange(len(names)),
        target_names=names,
        output_dict=True,
        zero_division=0,
    )
    rows = [*names, "macro avg", "weighted avg"]
    frame = pd.DataFrame([report[row] for row in rows], index=rows)
    frame = frame.rename(columns={"f1-score": "f1"})[["precision", "recall", "f1", "support"]]
    frame["support"] = frame["support"].astype(np.int64)
    frame.attrs["accuracy"] = float(np.mean(true == pred))
    return frame


def confusion_matrix(
    y_true,
    y_pred,
    num_classes: int | None = None,
    normalize: Literal["true", "pred", "all"] | None = None,
) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
    num_classes : int, optional
        K; defaults to ``max(y_true.max(), y_pred.max()) + 1``.
    normalize : {None, "true", "pred", "all"}
        ``"true"`` divides each row by its total (rows sum to 1: recall on the
        diagonal), ``"pred"`` each column (precision on the diagonal), ``"all"``
        the whole matrix.

    Returns
    -------
    numpy.ndarray, shape (K, K)
        Row ``i``, column ``j``: samples of true class ``i`` predicted as ``j``;
        int64 counts, or float64 fractions when normalized.
    """
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"normalize must be None, 'true', 'pred' or 'all'; got {normalize!r}.")
    true, pred = check_pair(y_true, y_pred, num_classes)
    k = num_classes if num_classes is not None else int(max(true.max(), pred.max())) + 1
    return skm.confusion_matrix(true, pred, labels=np.arange(k), normalize=normalize)


def roc_curves(y_true, probabilities) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One-vs-rest ROC curve of every class.

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
    probabilities : array-like of float, shape (N, K) or (N,)
        Softmax outputs, or positive-class scores of a binary problem.

    Returns
    -------
    dict
        ``{class index: (fpr, tpr, thresholds)}``, each array of the same length,
        from :func:`sklearn.metrics.roc_curve`. A binary ``(N,)`` input gives ``{1: ...}``.
    """
    true, probs = check_probabilities(y_true, probabilities)
    if probs.ndim == 1:
        return {1: skm.roc_curve(true, probs, pos_label=1)}
    curves = {}
    for k in range(probs.shape[1]):
        # one-vs-rest: class k is "positive", every other class "negative"
        curves[k] = skm.roc_curve(true == k, probs[:, k])
    return curves


def roc_auc(y_true, probabilities, average: Average = "macro"):
    """Area under the one-vs-rest ROC curve.

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
    probabilities : array-like of float, shape (N, K) or (N,)
    average : {"macro", "weighted", None}
        ``None`` gives one AUC a class, shape (K,).

    Returns
    -------
    float, or numpy.ndarray of shape (K,) for ``average=None``. A binary
    ``(N,)`` input gives the single AUC of class 1.
    """
    if average not in ("macro", "weighted", None):
        raise ValueError(f"average must be 'macro', 'weighted' or None; got {average!r}.")
    true, probs = check_probabilities(y_true, probabilities)
    if probs.ndim == 1:
        return float(skm.roc_auc_score(true, probs))
    if probs.shape[1] == 2:
        auc = float(skm.roc_auc_score(true, probs[:, 1]))  # both one-vs-rest curves agree
        return np.array([auc, auc]) if average is None else auc
    result = skm.roc_auc_score(
        true, probs, multi_class="ovr", average=average, labels=np.arange(probs.shape[1])
    )
    return result if average is None else float(result)
