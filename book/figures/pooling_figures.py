"""Draw the diagrams of the chapter "Activation and pooling" as SVG files.

Run with the course's Python: ``python book/figures/pooling_figures.py``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from _svg import save

TOY = np.array(
    [[1, 3, 0, 0], [2, 8, 0, 1], [4, 0, 5, 6], [0, 0, 7, 2]], dtype=float
)
WINDOW_COLOURS = ["#fbb4ae", "#b3cde3", "#ccebc5", "#decbe4"]


def numbers(ax, x0: float, values: np.ndarray, block: int, bold=None) -> None:
    """A grid of numbers, tinted by 2 x 2 window.

    ``block`` is the number of cells along a window's side.
    """
    n = values.shape[0]
    y0 = (4 - n) / 2
    for (r, c), v in np.ndenumerate(values):
        window = 2 * (r // block) + c // block
        ax.add_patch(
            plt.Rectangle(
                (x0 + c, y0 + n - 1 - r),
                1,
                1,
                fc=WINDOW_COLOURS[window],
                ec="0.4",
                lw=0.8,
            )
        )
        weight = "bold" if bold is not None and bold[r, c] else "normal"
        ax.text(
            x0 + c + 0.5,
            y0 + n - 0.5 - r,
            f"{v:g}",
            ha="center",
            va="center",
            fontsize=12,
            fontweight=weight,
        )


def max_vs_average() -> None:
    """A 4 x 4 map, its 2 x 2 max pooling and its 2 x 2 average pooling."""
    blocks = TOY.reshape(2, 2, 2, 2).transpose(
        0, 2, 1, 3
    )  # (window row, window col, 2, 2)
    pooled_max, pooled_avg = blocks.max(axis=(2, 3)), blocks.mean(axis=(2, 3))
    is_max = np.kron(pooled_max, np.ones((2, 2))) == TOY
    fig, ax = plt.subplots(figsize=(9, 3.2), layout="constrained")
    numbers(ax, 0, TOY, 2, bold=is_max)
    numbers(ax, 6.5, pooled_max, 1)
    numbers(ax, 11, pooled_avg, 1)
    ax.annotate(
        "", xy=(6.3, 2.0), xytext=(4.2, 2.0), arrowprops={"arrowstyle": "->"}
    )
    ax.text(5.25, 2.15, "max", ha="center", va="bottom", fontsize=10)
    ax.annotate(
        "", xy=(10.8, 2.6), xytext=(4.2, 3.6), arrowprops={"arrowstyle": "->"}
    )
    ax.text(7.5, 3.4, "mean", ha="center", va="bottom", fontsize=10)
    ax.text(
        2,
        -0.5,
        "feature map 4 x 4\n(bold: each window's maximum)",
        ha="center",
        va="top",
    )
    ax.text(7.5, 0.5, "max pool 2 x 2", ha="center", va="top")
    ax.text(12, 0.5, "average pool 2 x 2", ha="center", va="top")
    ax.set_xlim(-0.3, 13.3)
    ax.set_ylim(-1.6, 4.3)
    ax.set_aspect("equal")
    ax.axis("off")
    save(fig, "pooling-max-vs-average.svg")


LAYERS = [
    ("input", 1, 1),
    ("conv1 3x3", 3, 1),
    ("pool1 2x2", 2, 2),
    ("conv2 3x3", 3, 1),
    ("pool2 2x2", 2, 2),
]


def receptive_field() -> None:
    """A pool2 unit of the tiny CNN, traced back to its 10 input pixels, 1-D."""
    n_input = 20
    sizes, jumps, fields = [n_input], [1], [1]
    for _, k, s in LAYERS[1:]:
        sizes.append((sizes[-1] - k) // s + 1)
        fields.append(fields[-1] + (k - 1) * jumps[-1])
        jumps.append(jumps[-1] * s)
    # The cone of pool2's unit 1: the span of units it depends on, layer by
    # layer, top down.
    spans = [(1, 1)]
    for _, k, s in reversed(LAYERS[1:]):
        low, high = spans[-1]
        spans.append((low * s, high * s + k - 1))
    spans = spans[::-1]
    fig, ax = plt.subplots(figsize=(10, 3.8), layout="constrained")
    for level, ((name, _, _), size, jump, field, (low, high)) in enumerate(
        zip(LAYERS, sizes, jumps, fields, spans, strict=True)
    ):
        y = level * 1.3
        for i in range(size):
            left = (
                i * jump + (field - jump) / 2
            )  # centred on the pixels the unit sees
            on = low <= i <= high
            ax.add_patch(
                plt.Rectangle(
                    (left + 0.05, y),
                    jump - 0.1,
                    0.8,
                    fc="tab:orange" if on else "0.92",
                    ec="0.4",
                    lw=0.8,
                )
            )
        ax.text(-0.6, y + 0.4, name, ha="right", va="center", fontsize=10)
        ax.text(
            n_input + 0.6,
            y + 0.4,
            f"field {field}, jump {jump}",
            ha="left",
            va="center",
            fontsize=10,
        )
    ax.set_xlim(-3.8, n_input + 5)
    ax.set_ylim(-0.3, len(LAYERS) * 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
    save(fig, "pooling-receptive-field.svg")


def main() -> None:
    max_vs_average()
    receptive_field()


if __name__ == "__main__":
    main()
