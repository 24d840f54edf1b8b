"""Draw the diagrams of the chapter "Why convolutions" as SVG files.

Run with the course's Python:
``python book/figures/why_convolutions_figures.py``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from _svg import save

KERNEL_COLOURS = plt.get_cmap("tab10")(np.arange(9))


def draw_pixels(ax, x0: float, y0: float, n: int, size: float = 1.0) -> dict:
    """An n x n grid of pixel squares with its lower left corner at (x0, y0).

    Returns the centres of the squares by (row, column).
    """
    centres = {}
    for r in range(n):
        for c in range(n):
            x, y = x0 + c * size, y0 + (n - 1 - r) * size
            ax.add_patch(
                plt.Rectangle((x, y), size, size, fc="0.93", ec="0.5", lw=0.8)
            )
            centres[r, c] = (x + size / 2, y + size / 2)
    return centres


def dense_panel(ax) -> None:
    """Every pixel of a 5 x 5 image meets every unit; each line, one weight."""
    pixels = draw_pixels(ax, 0, 0, 5)
    units = [(9.5, 4.0), (9.5, 2.5), (9.5, 1.0)]
    rng = np.random.default_rng(0)
    for ux, uy in units:
        for px, py in pixels.values():
            ax.plot(
                [px, ux],
                [py, uy],
                color=plt.get_cmap("viridis")(rng.random()),
                lw=0.4,
            )
        ax.add_patch(
            plt.Circle((ux, uy), 0.45, fc="white", ec="black", lw=1.2, zorder=3)
        )
    ax.text(
        4.9,
        -1.2,
        "dense layer: 25 inputs x 3 units = 75 weights,\n"
        "every line its own weight",
        ha="center",
        va="top",
        fontsize=10,
    )
    ax.set_title("MLP: the image as a list of 25 numbers", fontsize=11)


def conv_panel(ax) -> None:
    """Two outputs see their own 3 x 3 window through the same 9 weights."""
    pixels = draw_pixels(ax, 0, 0, 5)
    outputs = draw_pixels(ax, 7.5, 1.0, 3)
    for (orow, ocol), style in [((0, 0), "-"), ((2, 1), "--")]:
        ox, oy = outputs[orow, ocol]
        ax.add_patch(
            plt.Rectangle(
                (ox - 0.5, oy - 0.5), 1, 1, fc="tab:orange", alpha=0.5
            )
        )
        x0, y0 = pixels[orow, ocol]
        ax.add_patch(
            plt.Rectangle(
                (x0 - 0.5, y0 - 2.5),
                3,
                3,
                fill=False,
                ec="tab:orange",
                lw=2.2,
                ls=style,
            )
        )
        for a in range(3):
            for b in range(3):
                px, py = pixels[orow + a, ocol + b]
                ax.plot(
                    [px, ox],
                    [py, oy],
                    color=KERNEL_COLOURS[3 * a + b],
                    lw=1.1,
                    ls=style,
                )
    ax.text(
        5.3,
        -1.2,
        "convolution: each output sees a 3 x 3 window;\n"
        "the same 9 weights (9 colours) at every position",
        ha="center",
        va="top",
        fontsize=10,
    )
    ax.set_title("CNN: the image as a grid", fontsize=11)


def main() -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    dense_panel(axes[0])
    conv_panel(axes[1])
    for ax in axes:
        ax.set_xlim(-0.5, 10.5)
        ax.set_ylim(-2.8, 5.5)
        ax.set_aspect("equal")
        ax.axis("off")
    save(fig, "why-mlp-vs-cnn.svg")


if __name__ == "__main__":
    main()
