"""Draw the Keras-versus-PyTorch diagram: layouts, kernel axes, flatten order.

Run with the course's Python from the repository root; writes
book/figures/kvp-layouts-and-weights.svg.
"""

import matplotlib.pyplot as plt
from _svg import save
from matplotlib.patches import Rectangle

COLOURS = ("#9dc3e6", "#f8cbad")  # channel 0, channel 1


def cells(ax, x, y, labels, colours, size=0.42):
    """A row of labelled squares starting at (x, y)."""
    for i, (label, colour) in enumerate(zip(labels, colours, strict=True)):
        ax.add_patch(
            Rectangle((x + i * size, y), size, size, fc=colour, ec="black")
        )
        ax.text(
            x + i * size + size / 2,
            y + size / 2,
            label,
            ha="center",
            va="center",
            fontsize=7,
        )


def main() -> None:
    fig, ax = plt.subplots(figsize=(11, 3.6))
    # 1. layouts
    ax.text(0.0, 3.35, "1. the batch", fontsize=10, weight="bold")
    ax.text(0.0, 2.75, "PyTorch  (N, C, H, W)\nchannels first", fontsize=9)
    ax.text(0.0, 1.85, "Keras    (N, H, W, C)\nchannels last", fontsize=9)
    ax.text(
        0.0,
        1.05,
        "images are permuted\n(0, 3, 1, 2) on the way in",
        fontsize=8,
        color="grey",
    )
    # 2. weights
    ax.text(3.0, 3.35, "2. the weights", fontsize=10, weight="bold")
    ax.text(3.0, 2.75, "Conv2d kernel (C_out, C_in, k, k)", fontsize=9)
    ax.annotate("", (3.9, 2.2), (3.9, 2.65), arrowprops={"arrowstyle": "-|>"})
    ax.text(4.0, 2.38, "transpose (2, 3, 1, 0)", fontsize=8, style="italic")
    ax.text(3.0, 1.95, "Conv2D kernel (k, k, C_in, C_out)", fontsize=9)
    ax.text(3.0, 1.35, "Linear (out, in)  ->  Dense (in, out)", fontsize=9)
    ax.text(3.0, 1.05, "biases copy as they are", fontsize=8, color="grey")
    # 3. flatten order, two 2 x 2 maps: channel c, pixel p -> label "c p"
    ax.text(
        6.6,
        3.35,
        "3. Flatten: two 2 × 2 feature maps",
        fontsize=10,
        weight="bold",
    )
    for c in range(2):
        for p in range(4):
            ax.add_patch(
                Rectangle(
                    (6.7 + c * 1.1 + (p % 2) * 0.42, 2.6 - (p // 2) * 0.42),
                    0.42,
                    0.42,
                    fc=COLOURS[c],
                    ec="black",
                )
            )
            ax.text(
                6.7 + c * 1.1 + (p % 2) * 0.42 + 0.21,
                2.81 - (p // 2) * 0.42,
                f"c{c}p{p}",
                ha="center",
                va="center",
                fontsize=6.5,
            )
    torch_order = [(c, p) for c in range(2) for p in range(4)]
    keras_order = [(c, p) for p in range(4) for c in range(2)]
    ax.text(6.6, 1.55, "PyTorch", fontsize=8)
    cells(
        ax,
        7.4,
        1.45,
        [f"c{c}p{p}" for c, p in torch_order],
        [COLOURS[c] for c, _ in torch_order],
    )
    ax.text(6.6, 0.95, "Keras", fontsize=8)
    cells(
        ax,
        7.4,
        0.85,
        [f"c{c}p{p}" for c, p in keras_order],
        [COLOURS[c] for c, _ in keras_order],
    )
    ax.text(
        6.6,
        0.35,
        "same values, another order: the next dense layer's rows\n"
        "must be reordered, not only transposed",
        fontsize=8,
        color="grey",
    )
    ax.set_xlim(-0.1, 11.0)
    ax.set_ylim(0.1, 3.6)
    ax.axis("off")
    save(fig, "kvp-layouts-and-weights.svg", tight_layout=True)


if __name__ == "__main__":
    main()
