"""A network drawn as a row of tensors, each box labelled with name and shape.

Box heights follow the spatial size, widths the number of channels; an arrow
between two boxes carries the operation that turns one into the next. Used by
the chapters that show a whole CNN with the shape of every tensor.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from _svg import save
from matplotlib.patches import FancyArrowPatch, Rectangle


def tensor_row(
    path: Path,
    tensors: list[tuple[str, str, int, int, str]],
    ops: list[str],
    *,
    step: float = 1.6,
    channel_width: float = 0.03,
    shape_fontsize: float = 9,
    arrow_gap: float = 0.08,
    op_height: float = 0.12,
) -> Path:
    """Draw ``tensors`` ``(name, shape, height, channels, colour)``.

    Neighbouring boxes are joined by the arrows ``ops``.
    """
    fig, ax = plt.subplots(figsize=(11, 3.2))
    x, scale = 0.0, 0.045
    centres = []
    for name, shape, height, channels, colour in tensors:
        h = height * scale
        w = 0.12 + channel_width * channels
        ax.add_patch(
            Rectangle((x, -h / 2), w, h, facecolor=colour, edgecolor="black")
        )
        ax.text(x + w / 2, 0.8, name, ha="center", va="bottom", fontsize=9)
        ax.text(
            x + w / 2,
            -0.8,
            shape,
            ha="center",
            va="top",
            fontsize=shape_fontsize,
            family="monospace",
        )
        centres.append((x, x + w))
        x += w + step
    for (_, right), (left, _), op in zip(
        centres[:-1], centres[1:], ops, strict=True
    ):
        ax.add_patch(
            FancyArrowPatch(
                (right + arrow_gap, 0),
                (left - arrow_gap, 0),
                arrowstyle="-|>",
                mutation_scale=12,
                color="#555555",
            )
        )
        ax.text(
            (right + left) / 2,
            op_height,
            op,
            ha="center",
            va="bottom",
            fontsize=7.5,
            color="#333333",
        )
    ax.set_xlim(-0.3, x - step + 0.3)
    ax.set_ylim(-1.3, 1.2)
    ax.axis("off")
    return save(fig, path, crop=True)
