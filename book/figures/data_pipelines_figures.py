"""Draws the diagrams of the chapter "Data pipelines" as SVG files beside it.

Run: python book/figures/data_pipelines_figures.py
"""

from pathlib import Path

import matplotlib.pyplot as plt
from _svg import HERE, save
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# (stage, what it does, PyTorch, Keras / tf.data)
STAGES = [
    (
        "files",
        "PNG/JPEG\non disk",
        "folder per class\nor id,label CSV",
        "folder per class\nor id,label CSV",
    ),
    (
        "decode",
        "bytes ->\nuint8 (H, W, C)",
        "PIL in\n__getitem__",
        "decode_png\nin map",
    ),
    ("dataset", "one sample\nby index", "Dataset", "tf.data.Dataset"),
    (
        "sampler /\nbatches",
        "order, stack\ninto (B, ...)",
        "DataLoader\n(workers)",
        "shuffle, batch,\nprefetch",
    ),
    (
        "augment\n(train only)",
        "random flip,\nshift, ...",
        "transforms.v2",
        "RandomFlip,\n... layers",
    ),
    ("model", "forward,\nloss, step", "nn.Module", "keras.Model"),
]


def pipeline(path: Path) -> None:
    """The stages of an input pipeline, augmenting the training branch only."""
    fig, ax = plt.subplots(figsize=(11, 3.6))
    width, gap = 1.45, 0.45
    for i, (stage, does, torch_name, keras_name) in enumerate(STAGES):
        x = i * (width + gap)
        augment = stage.startswith("augment")
        ax.add_patch(
            FancyBboxPatch(
                (x, 0),
                width,
                1.1,
                boxstyle="round,pad=0.04",
                facecolor="#fdd0a2" if augment else "#c6dbef",
                edgecolor="black",
                linestyle="--" if augment else "-",
            )
        )
        ax.text(
            x + width / 2,
            0.78,
            stage,
            ha="center",
            va="center",
            fontsize=9.5,
            weight="bold",
        )
        ax.text(x + width / 2, 0.3, does, ha="center", va="center", fontsize=8)
        ax.text(
            x + width / 2,
            -0.3,
            torch_name,
            ha="center",
            va="center",
            fontsize=7.5,
            family="monospace",
            color="#08519c",
        )
        ax.text(
            x + width / 2,
            -0.85,
            keras_name,
            ha="center",
            va="center",
            fontsize=7.5,
            family="monospace",
            color="#a63603",
        )
        if i:
            ax.add_patch(
                FancyArrowPatch(
                    (x - gap + 0.05, 0.55),
                    (x - 0.05, 0.55),
                    arrowstyle="-|>",
                    mutation_scale=12,
                )
            )
    # validation and test batches skip the augmentation box
    left = 3 * (width + gap) + width / 2
    right = 5 * (width + gap) + width / 2
    ax.add_patch(
        FancyArrowPatch(
            (left, 1.2),
            (right, 1.2),
            connectionstyle="arc3,rad=-0.25",
            arrowstyle="-|>",
            mutation_scale=12,
            color="#555555",
        )
    )
    ax.text(
        (left + right) / 2,
        1.75,
        "validation and test: no augmentation",
        ha="center",
        fontsize=8,
        color="#555555",
    )
    ax.text(
        -0.1,
        -0.3,
        "PyTorch",
        ha="right",
        va="center",
        fontsize=8,
        color="#08519c",
    )
    ax.text(
        -0.1,
        -0.85,
        "Keras",
        ha="right",
        va="center",
        fontsize=8,
        color="#a63603",
    )
    ax.set_xlim(-0.9, len(STAGES) * (width + gap))
    ax.set_ylim(-1.2, 2.0)
    ax.axis("off")
    save(fig, path, crop=True)


if __name__ == "__main__":
    pipeline(HERE / "data-pipeline-stages.svg")
