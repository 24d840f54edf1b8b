"""Draw the batch normalization chapter's diagram: which statistics flow where.

Run with the course's Python from the repository root; writes
book/figures/batchnorm-train-vs-eval.svg.
"""

import matplotlib.pyplot as plt
from _svg import save
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch


def box(ax, x, y, w, h, text, color):
    ax.add_patch(
        FancyBboxPatch(
            (x, y), w, h, boxstyle="round,pad=0.02", fc=color, ec="black", lw=1
        )
    )
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9)


def arrow(ax, start, end, text="", dashed=False):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=12,
            lw=1.2,
            linestyle="--" if dashed else "-",
        )
    )
    if text:
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        ax.text(mx + 0.05, my, text, fontsize=8, va="center", style="italic")


def panel(ax, training: bool):
    ax.set_xlim(0, 5)
    ax.set_ylim(0, 5)
    ax.axis("off")
    ax.set_title(
        "training: model.train() / training=True"
        if training
        else "evaluation: model.eval() / training=False",
        fontsize=10,
    )
    box(ax, 0.2, 3.9, 2.0, 0.7, "batch x\n(N, C, H, W)", "#dbe9f6")
    box(
        ax,
        0.2,
        2.2,
        2.0,
        0.9,
        "normalize\n(x - mean) / sqrt(var + eps)",
        "#fff2cc",
    )
    box(ax, 0.2, 0.8, 2.0, 0.7, "gamma * x_hat + beta", "#fff2cc")
    box(
        ax,
        2.9,
        2.2,
        1.9,
        0.9,
        "running mean,\nrunning var\n(buffers)",
        "#e2f0d9",
    )
    arrow(ax, (1.2, 3.9), (1.2, 3.15))
    arrow(ax, (1.2, 2.2), (1.2, 1.55))
    arrow(ax, (1.2, 0.8), (1.2, 0.25), "output")
    if training:
        box(ax, 2.9, 3.9, 1.9, 0.7, "batch mean, var\nper channel", "#f8cbad")
        arrow(ax, (2.2, 4.25), (2.9, 4.25))
        arrow(ax, (3.4, 3.9), (2.2, 2.9), "used")
        arrow(ax, (4.2, 3.9), (4.2, 3.15), "update\n(momentum)", dashed=True)
    else:
        arrow(ax, (2.9, 2.65), (2.25, 2.65))
        ax.text(2.35, 2.85, "used", fontsize=8, style="italic")
        ax.text(
            3.85, 1.7, "frozen: nothing\nis updated", ha="center", fontsize=8
        )
        ax.text(
            3.85,
            4.25,
            "the batch's own\nstatistics are\nnot computed",
            ha="center",
            va="center",
            fontsize=8,
            color="grey",
        )


def main() -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    panel(axes[0], training=True)
    panel(axes[1], training=False)
    save(fig, "batchnorm-train-vs-eval.svg", tight_layout=True)


if __name__ == "__main__":
    main()
