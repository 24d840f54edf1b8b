"""Figures of numbers: learning curves, confusion matrices, ROC curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cnncourse._util import to_numpy
from cnncourse.plots._common import new_figure


def _frame(history, label: str) -> pd.DataFrame:
    """One run as a DataFrame: a History / DataFrame, a Keras ``History`` or its dict."""
    if isinstance(history, pd.DataFrame):
        frame = history
    elif isinstance(getattr(history, "history", None), dict):  # keras.callbacks.History
        frame = pd.DataFrame(history.history)
    elif isinstance(history, Mapping):  # Keras' history.history: {metric: [one value an epoch]}
        frame = pd.DataFrame(dict(history))
    else:
        raise TypeError(
            f"run {label!r} must be a History/DataFrame (columns epoch, loss, accuracy, "
            f"val_loss, ...) or a Keras History; got {type(history).__name__}."
        )
    if "epoch" not in frame.columns:
        frame = frame.assign(epoch=np.arange(1, len(frame) + 1))  # Keras counts from 1 too
    return frame


def _runs(history_or_runs) -> dict[str, pd.DataFrame]:
    """``{label: frame}``; one unlabelled run for a single history."""
    is_runs = isinstance(history_or_runs, Mapping) and all(
        isinstance(v, pd.DataFrame) or hasattr(v, "history") for v in history_or_runs.values()
    )
    if is_runs and history_or_runs:
        return {str(k): _frame(v, str(k)) for k, v in history_or_runs.items()}
    return {"": _frame(history_or_runs, "")}


def plot_history(history_or_runs, metrics: Sequence[str] = ("loss", "accuracy")) -> Figure:
    """Learning curves: one panel a metric, training solid, validation dashed.

    Parameters
    ----------
    history_or_runs : History, DataFrame, Keras History, or dict of label -> one of these
        A History has one row an epoch and columns ``epoch, loss, accuracy,
        val_loss, val_accuracy, lr, seconds``. A dict overlays runs, one colour
        a run, e.g. ``{"with BatchNorm": h1, "without": h2}``.
    metrics : sequence of str
        Columns to draw; ``val_<metric>`` is added dashed where it was recorded.

    Returns
    -------
    matplotlib.figure.Figure
        One axes a metric, titled with its name, x axis the epoch.
    """
    if isinstance(metrics, str):
        metrics = (metrics,)
    runs = _runs(history_or_runs)
    for label, frame in runs.items():
        missing = [m for m in metrics if m not in frame.columns]
        if missing:
            where = f"run {label!r}" if label else "the history"
            raise ValueError(
                f"{where} has no column {missing}; its columns are {list(frame.columns)}."
            )
    fig = new_figure(4.2 * len(metrics), 3.2)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        for i, (label, frame) in enumerate(runs.items()):
            color = f"C{i}"
            name = label or "train"
            ax.plot(frame["epoch"], frame[metric], color=color, marker=".", label=name)
            val = f"val_{metric}"
            if val in frame.columns and frame[val].notna().any():
                val_name = f"{label} (validation)" if label else "validation"
                ax.plot(frame["epoch"], frame[val], "--", color=color, marker=".", label=val_name)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def plot_confusion_matrix(
    cm, class_names: Sequence[str], normalize: bool = False, title: str | None = None
) -> Figure:
    """A confusion matrix as a heat map with the numbers written in.

    Parameters
    ----------
    cm : array-like, shape (K, K)
        Counts, rows the true class, columns the predicted one (as
        :func:`cnncourse.metrics.confusion_matrix` returns).
    class_names : sequence of str, length K
    normalize : bool
        Divide each row by its total: the diagonal becomes each class's recall.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: the matrix as an image (the values drawn), K*K cell labels,
        class names on both axes.
    """
    matrix = to_numpy(cm, "cm").astype(np.float64)
    names = [str(name) for name in class_names]
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"cm must be a square (K, K) matrix; got shape {matrix.shape}.")
    if len(names) != len(matrix):
        raise ValueError(f"class_names must name the {len(matrix)} classes; got {len(names)}.")
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    k = len(names)
    size = max(3.5, 0.55 * k + 1.5)
    fig = new_figure(size, size)
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(matrix.max(), 1e-12))
    dark = matrix.max() / 2  # above this the cell is dark blue: write in white
    for (row, col), value in np.ndenumerate(matrix):
        text = f"{value:.2f}" if normalize else f"{value:.0f}"
        color = "white" if value > dark else "black"
        ax.text(col, row, text, ha="center", va="center", color=color, fontsize=8)
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(
        title or ("confusion matrix (rows sum to 1)" if normalize else "confusion matrix")
    )
    return fig


def plot_roc(
    curves: Mapping[int, tuple], aucs=None, class_names: Sequence[str] | None = None
) -> Figure:
    """ROC curves, one a class, with the chance diagonal.

    Parameters
    ----------
    curves : dict of class -> (fpr, tpr, thresholds)
        As :func:`cnncourse.metrics.roc_curves` returns.
    aucs : dict of class -> float, sequence indexed by class, or float, optional
        Written in the legend, e.g. ``metrics.roc_auc(y, p, average=None)``.
    class_names : sequence of str, optional
        Names of the class indices.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: a line a class in the order of ``curves``, then the dashed
        diagonal of a classifier that guesses.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError(
            "curves must be a non-empty dict {class: (fpr, tpr, thresholds)}, as "
            f"cnncourse.metrics.roc_curves returns; got {type(curves).__name__}."
        )
    fig = new_figure(5, 5)
    ax = fig.add_subplot()
    for k, curve in curves.items():
        fpr, tpr = to_numpy(curve[0], "fpr"), to_numpy(curve[1], "tpr")
        label = str(class_names[k]) if class_names is not None else f"class {k}"
        if aucs is not None:
            auc = aucs if np.ndim(aucs) == 0 and not isinstance(aucs, Mapping) else aucs[k]
            label += f" (AUC = {float(auc):.3f})"
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curves (one class against the rest)")
    ax.legend(fontsize=8, loc="lower right")
    return fig
