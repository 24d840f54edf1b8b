"""What a convolution layer holds and produces: filters, feature maps, kernel responses."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from cnncourse._util import to_numpy
from cnncourse.plots._common import grid, image_list, imshow, new_figure

# Weights and responses are signed: red for positive, blue for negative, white at 0.
DIVERGING = "RdBu_r"


def plot_feature_maps(
    maps, ncols: int = 8, max_maps: int = 64, title: str | None = None
) -> Figure:
    """Each channel of a layer's output as its own small image.

    Parameters
    ----------
    maps : array or tensor, shape (C, H, W) or (1, C, H, W)
        Activations of one image, e.g. ``model.features[:2](x[:1])``.
    ncols : int
        Panels a row.
    max_maps : int
        Most channels shown (the first ones).

    Returns
    -------
    matplotlib.figure.Figure
        One axes a channel, titled with its index. Each map has its own colour
        range (viridis: dark low, yellow high), since channels differ in scale.
    """
    values = to_numpy(maps, "maps").astype(np.float64)
    if values.ndim == 4 and values.shape[0] == 1:
        values = values[0]  # a batch of one image
    if values.ndim != 3:
        raise ValueError(
            f"maps must have shape (C, H, W) (or (1, C, H, W)); got {values.shape}. "
            "Pick one image of a batch with maps[i]."
        )
    shown = values[:max_maps]
    fig, axes = grid(len(shown), ncols, (1.2, 1.35))
    for i, (ax, channel) in enumerate(zip(axes, shown, strict=True)):
        ax.imshow(channel, cmap="viridis")
        ax.set_title(str(i), fontsize=8)
    heading = title or f"{len(values)} feature maps of {values.shape[1]}x{values.shape[2]}"
    if len(shown) < len(values):
        heading += f" (first {len(shown)} shown)"
    fig.suptitle(heading)
    return fig


def plot_filters(weights, ncols: int = 8, max_filters: int = 64, rgb: bool = True) -> Figure:
    """The kernels of a convolution layer.

    Parameters
    ----------
    weights : array or tensor, shape (O, I, kh, kw)
        E.g. ``conv.weight`` of a ``torch.nn.Conv2d`` (a Keras kernel is
        ``(kh, kw, I, O)``: pass ``kernel.transpose(3, 2, 0, 1)``).
    ncols : int
        Panels a row, for one panel a filter.
    max_filters : int
        Most panels shown.
    rgb : bool
        With I = 3 input channels, show each filter as one colour image
        (each stretched to [0, 1]), the usual picture of a first layer.

    Returns
    -------
    matplotlib.figure.Figure
        One axes a filter (I = 1, or I = 3 with ``rgb``), titled with its
        index; otherwise a grid with one row an output filter and one column an
        input channel, titled "o,i". Signed weights share one red-blue scale
        centred at 0, so the panels are comparable.
    """
    w = to_numpy(weights, "weights").astype(np.float64)
    if w.ndim != 4:
        raise ValueError(
            f"weights must have shape (O, I, kh, kw) as in PyTorch; got {w.shape}. A Keras "
            "kernel (kh, kw, I, O) becomes one with kernel.transpose(3, 2, 0, 1)."
        )
    out_channels, in_channels = w.shape[:2]
    if in_channels == 3 and rgb:
        shown = w[:max_filters]
        fig, axes = grid(len(shown), ncols, (1.0, 1.15))
        for i, (ax, kernel) in enumerate(zip(axes, shown, strict=True)):
            low, high = kernel.min(), kernel.max()
            picture = (kernel - low) / (high - low) if high > low else np.zeros_like(kernel)
            ax.imshow(np.moveaxis(picture, 0, -1))  # (3, kh, kw) -> (kh, kw, 3)
            ax.set_title(str(i), fontsize=8)
        return fig
    if in_channels == 1:
        panels = [(str(o), w[o, 0]) for o in range(min(out_channels, max_filters))]
        fig, axes = grid(len(panels), ncols, (1.0, 1.15))
    else:
        cols = min(in_channels, max_filters)
        rows = min(out_channels, max(1, max_filters // cols))
        panels = [(f"{o},{i}", w[o, i]) for o in range(rows) for i in range(cols)]
        fig, axes = grid(len(panels), cols, (0.9, 1.05))
    limit = max(np.abs([kernel for _, kernel in panels]).max(), 1e-12)
    for ax, (text, kernel) in zip(axes, panels, strict=True):
        ax.imshow(kernel, cmap=DIVERGING, vmin=-limit, vmax=limit)
        ax.set_title(text, fontsize=8)
    return fig


def _grey(image) -> np.ndarray:
    """One image as float ``(H, W)`` in [0, 1] (colour by ITU-R 601 luma, as PIL's "L")."""
    picture = image_list([image], "image")[0]
    scale = 255.0 if picture.dtype == np.uint8 else 1.0
    picture = picture.astype(np.float64) / scale
    if picture.ndim == 3:
        picture = picture[..., :3] @ np.array([0.299, 0.587, 0.114])
    return picture


def filter_response(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``image`` (H, W) filtered by ``kernel`` (kh, kw): what ``Conv2d(padding="same")`` computes.

    Like every CNN library, this slides the kernel without flipping it
    (cross-correlation), with zeros around the border; the output is (H, W).
    """
    x = torch.from_numpy(image)[None, None]  # (1, 1, H, W)
    k = torch.from_numpy(kernel)[None, None]  # (1, 1, kh, kw)
    return F.conv2d(x, k, padding="same")[0, 0].numpy()  # (H, W)


def plot_kernel_response(
    image, kernels: Mapping[str, object], show_kernels: bool = True
) -> Figure:
    """A photo filtered by hand-made kernels, one panel a kernel.

    Parameters
    ----------
    image : array or tensor, shape (H, W), (H, W, C) or (C, H, W)
        uint8 or float; colour images are turned grey first.
    kernels : mapping of name -> array, shape (kh, kw)
        E.g. ``{"vertical edges": [[1, 0, -1]] * 3, "blur": np.ones((3, 3)) / 9}``.
    show_kernels : bool
        Draw each kernel, its weights written in, under its response.

    Returns
    -------
    matplotlib.figure.Figure
        Top row: the grey input, then each response (grey scale stretched to its
        own range: black most negative, white most positive), titled with the
        kernel's name. Bottom row (``show_kernels``): the kernels.
    """
    if not isinstance(kernels, Mapping) or not kernels:
        raise TypeError(
            "kernels must be a non-empty dict {name: (kh, kw) array}; "
            f"got {type(kernels).__name__}."
        )
    picture = _grey(image)
    checked = {}
    for name, kernel in kernels.items():
        k = to_numpy(kernel, f"kernels[{name!r}]").astype(np.float64)
        if k.ndim != 2 or k.size == 0:
            raise ValueError(
                f"kernels[{name!r}] must be a 2-D (kh, kw) array; got shape {k.shape}."
            )
        checked[str(name)] = k
    ncols, nrows = len(checked) + 1, 2 if show_kernels else 1
    fig = new_figure(2.2 * ncols, 2.4 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False, height_ratios=[2, 1][:nrows])
    imshow(axes[0, 0], picture)
    axes[0, 0].set_title("input")
    for col, (name, k) in enumerate(checked.items(), start=1):
        axes[0, col].imshow(filter_response(picture, k), cmap="gray")
        axes[0, col].set_title(name)
        if show_kernels:
            limit = max(np.abs(k).max(), 1e-12)
            axes[1, col].imshow(k, cmap=DIVERGING, vmin=-limit, vmax=limit)
            if k.size <= 25:  # weights are readable up to 5x5
                for (r, c), value in np.ndenumerate(k):
                    ink = "white" if abs(value) > limit / 2 else "black"  # readable on dark cells
                    axes[1, col].text(
                        c, r, f"{value:.2g}", ha="center", va="center", fontsize=8, color=ink
                    )
    for ax in axes.flat:
        ax.set_axis_off()
    if show_kernels:
        fig.delaxes(axes[1, 0])  # nothing sits under the input
    return fig
