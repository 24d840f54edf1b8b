"""Draws the diagrams of the chapter "Tuning, saving and deploying" as SVG.

Run: python book/figures/tuning_deploying_figures.py
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from _svg import HERE, save
from _tensor_row import tensor_row

# The reference CNN at width 32: (label, shape, box height, channels, colour);
# heights follow the spatial size, widths the number of channels.
TENSORS = [
    ("input", "(N, 1, 28, 28)", 28, 1, "#d9d9d9"),
    ("block 1", "(N, 16, 14, 14)", 14, 16, "#9ecae1"),
    ("block 2", "(N, 32, 7, 7)", 7, 32, "#9ecae1"),
    ("block 3", "(N, 64, 7, 7)", 7, 64, "#9ecae1"),
    ("block 4", "(N, 96, 3, 3)", 3, 96, "#9ecae1"),
    ("flatten", "(N, 864)", 30, 1, "#fdd0a2"),
    ("linear", "(N, 10)", 10, 1, "#fdae6b"),
]
OPS = [
    "conv 3×3, 16\nmax pool\nBN, ReLU",
    "conv 3×3, 32\nmax pool\nBN, ReLU",
    "conv 3×3, 64\n\nBN, ReLU",
    "conv 3×3, 96\nmax pool\nBN, ReLU",
    "reshape",
    "864·10 + 10\nweights",
]


def reference_cnn(path: Path) -> None:
    """The reference CNN as a row of tensors, each labelled with its shape."""
    tensor_row(
        path,
        TENSORS,
        OPS,
        step=1.55,
        channel_width=0.006,
        shape_fontsize=8.5,
        arrow_gap=0.06,
        op_height=0.1,
    )


def important(x: np.ndarray) -> np.ndarray:
    """A made-up score that depends strongly on x (learning rate), not on y."""
    return np.exp(-((x - 0.62) ** 2) / 0.02)


def grid_vs_random(path: Path) -> None:
    """Nine runs as a 3 × 3 grid and as nine random draws, projected on x.

    The grid tries only three learning rates; random search tries nine
    (Bergstra and Bengio, 2012, figure 1).
    """
    rng = np.random.default_rng(72)
    ticks = np.array([1, 3, 5]) / 6
    grid = np.array([(x, y) for x in ticks for y in ticks])
    random = rng.uniform(0.05, 0.95, size=(9, 2))
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    curve_x = np.linspace(0, 1, 200)
    for ax, points, title in zip(
        axes,
        (grid, random),
        ("grid: 3 learning rates", "random: 9 learning rates"),
        strict=True,
    ):
        ax.scatter(points[:, 0], points[:, 1], s=30, color="C0", zorder=3)
        ax.plot(curve_x, -0.3 + 0.25 * important(curve_x), color="C1")
        for px in points[:, 0]:
            ax.plot([px, px], [-0.3, -0.05], color="C0", lw=0.8, alpha=0.6)
            ax.plot(px, -0.3 + 0.25 * important(px), "o", color="C0", ms=3)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set(xlim=(0, 1), ylim=(-0.35, 1), xticks=[], yticks=[], title=title)
        ax.set_xlabel("important: log10 learning rate")
        ax.set_ylabel("unimportant setting")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].text(0.02, -0.12, "accuracy", fontsize=8, color="C1")
    save(fig, path, tight_layout=True)


if __name__ == "__main__":
    reference_cnn(HERE / "tuning-reference-cnn.svg")
    grid_vs_random(HERE / "tuning-grid-vs-random.svg")
