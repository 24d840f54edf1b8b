"""Draw the Keras chapter's diagram: the tiny CNN's layers and tensor shapes.

Run with the course's Python from the repository root; writes
book/figures/keras-tiny-cnn-shapes.svg.
"""

import matplotlib.pyplot as plt
from _svg import save
from matplotlib.patches import FancyBboxPatch

# (layer, output shape, parameters, colour); shapes are Keras' (N, H, W, C)
LAYERS = [
    ("Input", "(N, 28, 28, 1)", "", "#eeeeee"),
    ("Conv2D(8, 3,\npadding='same')", "(N, 28, 28, 8)", "80", "#9dc3e6"),
    ("ReLU", "(N, 28, 28, 8)", "", "#e2f0d9"),
    ("MaxPooling2D(2)", "(N, 14, 14, 8)", "", "#fff2cc"),
    ("Conv2D(16, 3,\npadding='same')", "(N, 14, 14, 16)", "1,168", "#9dc3e6"),
    ("ReLU", "(N, 14, 14, 16)", "", "#e2f0d9"),
    ("MaxPooling2D(2)", "(N, 7, 7, 16)", "", "#fff2cc"),
    ("Flatten", "(N, 784)", "", "#eeeeee"),
    ("Dense(10)", "(N, 10) logits", "7,850", "#f8cbad"),
]


def main() -> None:
    fig, ax = plt.subplots(figsize=(12, 2.6))
    width, gap = 1.15, 0.25
    for i, (name, shape, params, colour) in enumerate(LAYERS):
        x = i * (width + gap)
        ax.add_patch(
            FancyBboxPatch(
                (x, 0.9),
                width,
                0.9,
                boxstyle="round,pad=0.03",
                fc=colour,
                ec="black",
            )
        )
        ax.text(x + width / 2, 1.35, name, ha="center", va="center", fontsize=8)
        ax.text(
            x + width / 2, 0.55, shape, ha="center", va="center", fontsize=7.5
        )
        if params:
            ax.text(
                x + width / 2,
                2.05,
                f"{params} weights",
                ha="center",
                fontsize=7.5,
                style="italic",
            )
        if i:
            ax.annotate(
                "",
                (x - 0.02, 1.35),
                (x - gap + 0.02, 1.35),
                arrowprops={"arrowstyle": "-|>", "lw": 1},
            )
    ax.text(
        0,
        0.1,
        "output shape of each layer (channels last); "
        "total 9,098 trainable weights",
        fontsize=8,
        color="grey",
    )
    ax.set_xlim(-0.1, len(LAYERS) * (width + gap))
    ax.set_ylim(0, 2.3)
    ax.axis("off")
    save(fig, "keras-tiny-cnn-shapes.svg", tight_layout=True)


if __name__ == "__main__":
    main()
