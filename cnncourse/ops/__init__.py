"""From-scratch NumPy versions of the CNN building blocks, for teaching.

Layout is PyTorch's ``(N, C, H, W)``. Each operation is checked against
``torch.nn.functional`` and Keras in ``tests/test_ops.py``; use the frameworks
for real training, these to see what the frameworks do.
"""

from cnncourse.ops.conv import (
    conv2d,
    conv2d_im2col,
    conv_output_size,
    correlate2d_single,
    im2col,
    same_padding,
)
from cnncourse.ops.norm import batch_norm, dropout, relu, spatial_dropout
from cnncourse.ops.pool import avg_pool2d, global_avg_pool2d, max_pool2d

__all__ = [
    "avg_pool2d",
    "batch_norm",
    "conv2d",
    "conv2d_im2col",
    "conv_output_size",
    "correlate2d_single",
    "dropout",
    "global_avg_pool2d",
    "im2col",
    "max_pool2d",
    "relu",
    "same_padding",
    "spatial_dropout",
]
