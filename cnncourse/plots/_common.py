"""What every figure of :mod:`cnncourse.plots` shares: figure creation, grids, and
turning tensors or arrays of any layout into something ``imshow`` draws."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cnncourse._util import to_numpy

WRONG_COLOR = "tab:red"  # titles of wrong predictions
RIGHT_COLOR = "black"


def new_figure(width: float, height: float) -> Figure:
    """A figure that is returned, not shown.

    It is made through pyplot, so that Jupyter's inline backend is loaded and can
    display it, and then closed: pyplot forgets it, so a figure left as the last
    value of a cell is drawn once (not twice), and figures made in a loop do not
    pile up in memory. Show one elsewhere with ``display(fig)``, save it with
    ``fig.savefig(path)``.
    """
    fig = plt.figure(figsize=(width, height), layout="constrained")
    plt.close(fig)
    return fig


def grid(n: int, ncols: int, cell: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    """A figure with ``n`` axes in rows of ``ncols``, axis lines off, cells of ``cell`` inches."""
    if n < 1:
        raise ValueError("there is nothing to plot: got 0 panels.")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1; got {ncols}.")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig = new_figure(cell[0] * ncols, cell[1] * nrows)
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n)]
    for ax in axes:
        ax.set_axis_off()
    return fig, axes


def to_display(image: np.ndarray, channels_first: bool) -> np.ndarray:
    """One image as ``(H, W)`` (grey) or ``(H, W, 3|4)`` in [0, 1] or uint8.

    ``channels_first`` says which layout to try first when both would fit:
    PyTorch tensors are ``(C, H, W)``, NumPy images ``(H, W, C)``.
    """
    if image.ndim == 3:
        last, first = image.shape[-1] in (1, 3, 4), image.shape[0] in (1, 3, 4)
        if first and (channels_first or not last):
            image = np.moveaxis(image, 0, -1)  # (C, H, W) -> (H, W, C)
        elif not last:
            raise ValueError(
                "an image must be (H, W), (H, W, C) or (C, H, W) with C in 1, 3, 4; "
                f"got shape {image.shape}."
            )
        if image.shape[-1] == 1:
            image = image[..., 0]
    elif image.ndim != 2:
        raise ValueError(
            f"an image must be (H, W), (H, W, C) or (C, H, W); got shape {image.shape}."
        )
    if image.dtype == np.uint8:
        return image
    if image.dtype == bool:
        return image.astype(np.float64)
    if image.dtype.kind in "iu" and image.min() >= 0 and image.max() <= 255:
        return image.astype(np.uint8)  # 0..255 held in a wider integer type
    image = image.astype(np.float64)
    low, high = image.min(), image.max()
    if low >= 0 and high <= 1:
        return image
    # normalised inputs (mean/std) fall outside [0, 1]: stretch each image to it
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def image_list(images, name: str = "images") -> list[np.ndarray]:
    """A batch ``(N, H, W)``, ``(N, H, W, C)``, ``(N, C, H, W)`` or a list, as display images."""
    channels_first = hasattr(images, "detach")
    if isinstance(images, list | tuple):
        items = [to_numpy(image, name) for image in images]
        channels_first = all(hasattr(image, "detach") for image in images)
    else:
        batch = to_numpy(images, name)
        if batch.ndim not in (3, 4):
            raise ValueError(
                f"{name} must be a batch (N, H, W), (N, H, W, C) or (N, C, H, W); "
                f"got shape {batch.shape}. For one image use images[None]."
            )
        items = list(batch)
    return [to_display(image, channels_first) for image in items]


def imshow(ax: Axes, image: np.ndarray, **kwargs) -> None:
    """Draw a display image: grey images in black-to-white, uint8 on its full 0..255 range."""
    if image.ndim == 2:
        kwargs.setdefault("cmap", "gray")
        top = 255 if image.dtype == np.uint8 else 1.0
        kwargs.setdefault("vmin", 0)
        kwargs.setdefault("vmax", top)
    ax.imshow(image, **kwargs)


def names_for(values, class_names) -> list[str]:
    """Class names of integer labels (the numbers themselves without ``class_names``)."""
    labels = to_numpy(values, "labels").astype(np.int64).reshape(-1)
    if class_names is None:
        return [str(label) for label in labels]
    names = list(class_names)
    if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
        raise ValueError(
            f"labels must lie in [0, {len(names) - 1}] for {len(names)} class names; "
            f"got [{labels.min()}, {labels.max()}]."
        )
    return [str(names[label]) for label in labels]
