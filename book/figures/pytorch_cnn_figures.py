"""Draws the diagrams of the chapter "A CNN in PyTorch" as SVG files.

Run: python book/figures/pytorch_cnn_figures.py
"""

from pathlib import Path

from _svg import HERE
from _tensor_row import tensor_row

# (label of the tensor, shape, box height, colour); the boxes' heights follow
# the spatial size, their widths the number of channels.
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
    tensor_row(path, TENSORS, OPS)


if __name__ == "__main__":
    whole_cnn(HERE / "pytorch-cnn-shapes.svg")
