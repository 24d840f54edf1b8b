"""Metrics for classifiers, detectors and segmenters: a thin layer over scikit-learn,
torchmetrics and torchvision.

Inputs may be NumPy arrays, lists or PyTorch tensors; results are floats, NumPy
arrays or a pandas DataFrame. Bad input is refused before any work with a message
that says what was expected.
"""

from cnncourse.metrics.classification import (
    accuracy,
    classification_report,
    confusion_matrix,
    precision_recall_f1,
    roc_auc,
    roc_curves,
)
from cnncourse.metrics.detection import (
    COCO_IOU_THRESHOLDS,
    box_iou,
    mask_iou,
    mean_average_precision,
)

__all__ = [
    "COCO_IOU_THRESHOLDS",
    "accuracy",
    "box_iou",
    "classification_report",
    "confusion_matrix",
    "mask_iou",
    "mean_average_precision",
    "precision_recall_f1",
    "roc_auc",
    "roc_curves",
]
