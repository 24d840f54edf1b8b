"""Draw the transfer diagram: one pre-trained base, its old head and a new one.

Run with the course's Python from the repository root; writes
book/figures/transfer-base-head.svg.
"""

import matplotlib.pyplot as plt
from _svg import save
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

BASE_COLOUR, OLD_COLOUR, NEW_COLOUR = "#9dc3e6", "#d9d9d9", "#f4b183"


def box(
    ax, x: float, y: float, w: float, h: float, text: str, colour: str, **kw
) -> None:
    """A rounded box with centred text."""
    patch = FancyBboxPatch(
        (x, y),
        w,
        h,
        boxstyle="round,pad=0.02,rounding_size=0.08",
        fc=colour,
        ec="black",
        lw=1,
    )
    ax.add_patch(patch)
    ax.text(
        x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9, **kw
    )


def arrow(ax, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, lw=1)
    )


def main() -> None:
    fig, ax = plt.subplots(figsize=(10, 3.6))
    rows = {
        "first task: all of Fashion-MNIST": (
            2.2,
            OLD_COLOUR,
            "old head\nLinear(64, 10)\nT-shirt ... boot",
        ),
        "new task: handwritten digits": (
            0.2,
            NEW_COLOUR,
            "new head\nLinear(64, 10)\n0 ... 9",
        ),
    }
    for title, (y, colour, head) in rows.items():
        ax.text(0.0, y + 1.15, title, fontsize=9, fontweight="bold")
        box(ax, 0.0, y, 1.2, 0.9, "image\n28 x 28", "white")
        arrow(ax, (1.2, y + 0.45), (1.5, y + 0.45))
        for i, width in enumerate((16, 32, 64)):
            x = 1.5 + i * 1.35
            box(
                ax,
                x,
                y,
                1.15,
                0.9,
                f"block {i + 1}\n2 conv({width})\nBN, pool",
                BASE_COLOUR,
            )
            arrow(ax, (x + 1.15, y + 0.45), (x + 1.35, y + 0.45))
        box(ax, 5.55, y, 1.1, 0.9, "global\naverage\npool", BASE_COLOUR)
        arrow(ax, (6.65, y + 0.45), (7.35, y + 0.45))
        ax.text(
            7.0, y + 0.6, "64\nfeatures", ha="center", va="bottom", fontsize=8
        )
        box(ax, 7.35, y, 1.5, 0.9, head, colour)
    ax.annotate(
        "",
        xy=(3.5, 1.15),
        xytext=(3.5, 2.15),
        arrowprops={
            "arrowstyle": "-|>",
            "lw": 1.5,
            "ls": "--",
            "color": "#2f5597",
        },
    )
    ax.text(
        3.6,
        1.62,
        "copy the base's weights",
        fontsize=9,
        color="#2f5597",
        va="center",
    )
    ax.text(
        3.3,
        -0.35,
        "base: frozen, or fine-tuned at a low learning rate",
        ha="center",
        fontsize=9,
    )
    ax.text(8.1, -0.35, "head: new, trained", ha="center", fontsize=9)
    ax.set_xlim(-0.1, 9.0)
    ax.set_ylim(-0.6, 3.6)
    ax.axis("off")
    save(fig, "transfer-base-head.svg", tight_layout=True)


if __name__ == "__main__":
    main()
