"""Figures for the book: image grids, learning curves, confusion matrices, ROC curves,
feature maps, filters and kernel responses. Matplotlib only.

Every function returns a :class:`matplotlib.figure.Figure` and shows nothing: left as
the last line of a notebook cell it is drawn once; elsewhere use ``display(fig)`` or
``fig.savefig(path)``. Figures are detached from pyplot, so they work headless (Agg)
and do not pile up when made in a loop.
"""

from cnncourse.plots._common import RIGHT_COLOR, WRONG_COLOR
from cnncourse.plots.curves import plot_confusion_matrix, plot_history, plot_roc
from cnncourse.plots.images import show_augmentations, show_images, show_misclassified
from cnncourse.plots.layers import (
    filter_response,
    plot_feature_maps,
    plot_filters,
    plot_kernel_response,
)

__all__ = [
    "RIGHT_COLOR",
    "WRONG_COLOR",
    "filter_response",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "plot_kernel_response",
    "plot_roc",
    "show_augmentations",
    "show_images",
    "show_misclassified",
]
