"""Draws the diagrams of the chapter "A CNN in PyTorch" as SVG files beside this script.

Run: python book/figures/pytorch_cnn_figures.py
"""

from pathlib import Path

import matplotlib.pyplot as plt
from _svg import HERE, save
from matplotlib.patches import FancyArrowPatch, Rectangle

# (label of the tensor, shape, box height, colour); the boxes' heights follow the
# spatial size, their widths the number of channels.
TENSORS = [
    ("input", "(N, 1, 28, 28)", 28, 1, "#d9d9d9"),
    ("conv1 + ReLU", "(N, 8, 28, 28)", 28, 8, "#9ecae1"),
    ("max pool", "(N, 8, 14, 14)", 14, 8, "#c6dbef"),
    ("conv2 + ReLU", "(N, 16, 14, 14)", 14, 16, "#9ecae1"),
    ("max pool", "(N, 16, 7, 7)", 7, 16, "#c6dbef"),
    ("flatten", "(N, 784)", 30, 1, "#fdd0a2"),
    ("linear", "(N, 10)", 10, 1, "#fdae6b"),
]
OPS = [
    "3×3 conv, 8\npadding 1",
    "2×2 max",
    "3×3 conv, 16\npadding 1",
    "2×2 max",
    "reshape",
    "784·10 + 10\nweights",
]


def whole_cnn(path: Path) -> None:
    """The small CNN as a row of tensors, each labelled with its shape."""
    fig, ax = plt.subplots(figsize=(11, 3.2))
    x, step, scale = 0.0, 1.6, 0.045
    centres = []
    for name, shape, height, channels, colour in TENSORS:
        h = height * scale
        w = 0.12 + 0.03 * channels
        ax.add_patch(Rectangle((x, -h / 2), w, h, facecolor=colour, edgecolor="black"))
        ax.text(x + w / 2, 0.8, name, ha="center", va="bottom", fontsize=9)
        ax.text(x + w / 2, -0.8, shape, ha="center", va="top", fontsize=9, family="monospace")
        centres.append((x, x + w))
        x += w + step
    for (_, right), (left, _), op in zip(centres[:-1], centres[1:], OPS, strict=True):
        ax.add_patch(
            FancyArrowPatch(
                (right + 0.08, 0),
                (left - 0.08, 0),
                arrowstyle="-|>",
                mutation_scale=12,
                color="#555555",
            )
        )
        ax.text(
            (right + left) / 2, 0.12, op, ha="center", va="bottom", fontsize=7.5, color="#333333"
        )
    ax.set_xlim(-0.3, x - step + 0.3)
    ax.set_ylim(-1.3, 1.2)
    ax.axis("off")
    save(fig, path, crop=True)


if __name__ == "__main__":
    whole_cnn(HERE / "pytorch-cnn-shapes.svg")
