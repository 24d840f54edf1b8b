"""Grids of images: a batch with its labels, the misclassified ones, augmentations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from cnncourse._util import to_numpy
from cnncourse.plots._common import (
    RIGHT_COLOR,
    WRONG_COLOR,
    grid,
    image_list,
    imshow,
    names_for,
    new_figure,
)

CELL = (1.5, 1.7)  # inches a panel: room for a 28x28 image and a two-line title


def show_images(
    images,
    labels=None,
    class_names: Sequence[str] | None = None,
    predictions=None,
    ncols: int = 8,
    title: str | None = None,
) -> Figure:
    """A grid of images, each titled with its class; wrong predictions in red.

    Parameters
    ----------
    images : array or tensor, shape (N, H, W, C), (N, C, H, W) or (N, H, W)
        uint8 0..255, or floats (those in [0, 1] shown as they are, normalised
        ones stretched to [0, 1] image by image). Tensors are read as (N, C, H, W).
    labels, predictions : array-like of int, shape (N,), optional
        True and predicted classes. With both, a correct image is titled with its
        class in black, a wrong one with "predicted (true: ...)" in red.
    class_names : sequence of str, optional
        Names of the class indices; the numbers are shown without them.
    ncols : int
        Panels a row.
    title : str, optional
        Title over the whole grid.

    Returns
    -------
    matplotlib.figure.Figure
        One axes an image, in order.
    """
    pictures = image_list(images)
    n = len(pictures)
    texts: list[str] = [""] * n
    colors = [RIGHT_COLOR] * n
    checked = {}
    for key, values in (("labels", labels), ("predictions", predictions)):
        if values is not None:
            checked[key] = to_numpy(values, key).reshape(-1)
            if len(checked[key]) != n:
                raise ValueError(
                    f"{key} must have one entry an image ({n}); got {len(checked[key])}."
                )
    if "labels" in checked:
        texts = names_for(checked["labels"], class_names)
    if "predictions" in checked:
        predicted = names_for(checked["predictions"], class_names)
        if "labels" not in checked:
            texts = predicted
        else:
            for i in np.flatnonzero(checked["labels"] != checked["predictions"]):
                texts[i] = f"{predicted[i]}\n(true: {texts[i]})"
                colors[i] = WRONG_COLOR

    fig, axes = grid(n, ncols, CELL)
    for ax, picture, text, color in zip(axes, pictures, texts, colors, strict=True):
        imshow(ax, picture)
        if text:
            ax.set_title(text, color=color, fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def show_misclassified(
    images,
    y_true,
    y_pred,
    class_names: Sequence[str] | None = None,
    n: int = 16,
    ncols: int = 8,
) -> Figure:
    """The first ``n`` images whose prediction is wrong, titled "predicted (true: ...)".

    Parameters
    ----------
    images : array or tensor, shape (N, H, W, C), (N, C, H, W) or (N, H, W)
    y_true, y_pred : array-like of int, shape (N,)
    class_names : sequence of str, optional
    n : int
        Most images to show.

    Returns
    -------
    matplotlib.figure.Figure
        One axes a misclassified image (a single text panel when there is none);
        the title counts the errors.
    """
    pictures = image_list(images)
    true, pred = to_numpy(y_true, "y_true").reshape(-1), to_numpy(y_pred, "y_pred").reshape(-1)
    if not len(pictures) == len(true) == len(pred):
        raise ValueError(
            f"images, y_true and y_pred must have the same length; got {len(pictures)}, "
            f"{len(true)} and {len(pred)}."
        )
    wrong = np.flatnonzero(true != pred)
    if len(wrong) == 0:
        fig = new_figure(4, 1)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"no misclassified images among {len(true)}", ha="center", va="center")
        return fig
    shown = wrong[:n]
    title = f"{len(wrong)} of {len(true)} misclassified"
    if len(shown) < len(wrong):
        title += f" (first {len(shown)} shown)"
    return show_images(
        [pictures[i] for i in shown], true[shown], class_names, pred[shown], ncols, title
    )


def show_augmentations(
    image, augmented, titles: Sequence[str] | None = None, ncols: int = 8
) -> Figure:
    """An image beside augmented versions of it.

    Parameters
    ----------
    image : array or tensor, shape (H, W, C), (C, H, W) or (H, W)
    augmented : list of images, or a batch (K, H, W, C) / (K, C, H, W)
        E.g. ``[transform(image) for _ in range(8)]`` with a torchvision v2 transform.
    titles : sequence of str, length K, optional
        One a version ("augmented 1", ... without).

    Returns
    -------
    matplotlib.figure.Figure
        K + 1 axes: "original" first, then the versions.
    """
    original = image_list([image], "image")[0]
    versions = image_list(augmented, "augmented")
    if titles is None:
        titles = [f"augmented {i + 1}" for i in range(len(versions))]
    if len(titles) != len(versions):
        raise ValueError(
            f"titles must name each of the {len(versions)} versions; got {len(titles)}."
        )
    fig, axes = grid(len(versions) + 1, ncols, CELL)
    for ax, picture, text in zip(axes, [original, *versions], ["original", *titles], strict=True):
        imshow(ax, picture)
        ax.set_title(text, fontsize=9)
    return fig
