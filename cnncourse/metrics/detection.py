"""Detection and segmentation metrics: box IoU, mask IoU and mean average precision.

Boxes are ``(x1, y1, x2, y2)`` corners in pixels ("xyxy"). Predictions and targets
for :func:`mean_average_precision` use torchvision's detection format, one dict an
image: ``{"boxes": (D, 4), "scores": (D,), "labels": (D,)}`` for predictions and
``{"boxes": (G, 4), "labels": (G,)}`` for targets.

mAP comes from torchmetrics' ``MeanAveragePrecision`` on a maintained COCO evaluator
(``faster-coco-eval``, a dependency of the package; ``pycocotools`` works too), so the
numbers are the ones COCO's own tools report. This module checks the input and
turns the result into plain floats.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torchmetrics.detection import MeanAveragePrecision
from torchmetrics.functional.classification import (
    binary_jaccard_index,
    multiclass_jaccard_index,
)
from torchvision.ops import box_iou as torchvision_box_iou

from cnncourse._util import to_numpy

Interpolation = Literal["101", "11"]
Backend = Literal["auto", "faster_coco_eval", "pycocotools"]
COCO_IOU_THRESHOLDS = tuple(np.round(np.linspace(0.5, 0.95, 10), 2).tolist())
_COCO_BACKENDS = ("faster_coco_eval", "pycocotools")


def _boxes(values, name: str) -> np.ndarray:
    """Checked float64 boxes ``(N, 4)`` with ``x1 <= x2`` and ``y1 <= y2``."""
    boxes = to_numpy(values, name).astype(np.float64)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(
            f"{name} must have shape (N, 4) holding (x1, y1, x2, y2); got {boxes.shape}."
        )
    if np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1]):
        raise ValueError(
            f"{name} must be corners (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2; "
            "convert (x, y, w, h) boxes with torchvision.ops.box_convert(b, 'xywh', 'xyxy')."
        )
    return boxes


def box_iou(boxes_a, boxes_b) -> np.ndarray:
    """Intersection over union of every pair of boxes.

    Parameters
    ----------
    boxes_a : array-like, shape (N, 4)
    boxes_b : array-like, shape (M, 4)
        Corners ``(x1, y1, x2, y2)``.

    Returns
    -------
    numpy.ndarray, shape (N, M)
        ``iou[i, j]`` of ``boxes_a[i]`` and ``boxes_b[j]``, from
        :func:`torchvision.ops.box_iou`.
    """
    a, b = _boxes(boxes_a, "boxes_a"), _boxes(boxes_b, "boxes_b")
    return torchvision_box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()  # (N, M)


def mask_iou(mask_a, mask_b, num_classes: int | None = None):
    """Intersection over union of two segmentation masks.

    Parameters
    ----------
    mask_a, mask_b : array-like, shape (H, W) or (N, H, W)
        Binary masks (bool or 0/1) when ``num_classes`` is None; otherwise label
        maps of class indices in ``[0, num_classes)``.
    num_classes : int, optional
        K, for label maps.

    Returns
    -------
    float for binary masks; numpy.ndarray of shape (K,) for label maps, one IoU a
    class (torchmetrics' Jaccard index). A class absent from both masks has IoU
    NaN: there is nothing to overlap, so its score is undefined, not 0 or 1.
    """
    a, b = to_numpy(mask_a, "mask_a"), to_numpy(mask_b, "mask_b")
    if a.shape != b.shape:
        raise ValueError(
            f"mask_a and mask_b must have the same shape; got {a.shape} and {b.shape}."
        )
    if a.ndim not in (2, 3):
        raise ValueError(f"masks must have shape (H, W) or (N, H, W); got {a.shape}.")
    for name, mask in (("mask_a", a), ("mask_b", b)):
        if mask.dtype.kind not in "iub":
            raise TypeError(f"{name} must hold integers or booleans; got dtype {mask.dtype}.")
        top = 2 if num_classes is None else num_classes
        if mask.size and (mask.min() < 0 or mask.max() >= top):
            hint = " Pass num_classes=K for a label map." if num_classes is None else ""
            raise ValueError(
                f"{name} must hold values in [0, {top - 1}]; found {mask.max()}.{hint}"
            )
    ta, tb = torch.as_tensor(a.astype(np.int64)), torch.as_tensor(b.astype(np.int64))
    nan = float("nan")
    if num_classes is None:
        return float(binary_jaccard_index(ta, tb, zero_division=nan))
    per_class = multiclass_jaccard_index(
        ta, tb, num_classes=num_classes, average="none", zero_division=nan
    )
    return per_class.numpy().astype(np.float64)  # (K,)


def _images(items, name: str, keys: tuple[str, ...]) -> list[dict[str, np.ndarray]]:
    """Checked list of per-image dicts of NumPy arrays."""
    if isinstance(items, dict) or not isinstance(items, Sequence):
        raise TypeError(
            f"{name} must be a list with one dict an image; got {type(items).__name__}."
        )
    checked = []
    for i, item in enumerate(items):
        missing = [key for key in keys if key not in item]
        if missing:
            raise ValueError(
                f"{name}[{i}] lacks the keys {missing}; each dict needs {list(keys)}."
            )
        entry = {"boxes": _boxes(item["boxes"], f"{name}[{i}]['boxes']")}
        for key in keys[1:]:
            entry[key] = to_numpy(item[key], f"{name}[{i}][{key!r}]").reshape(-1)
            if len(entry[key]) != len(entry["boxes"]):
                raise ValueError(
                    f"{name}[{i}] has {len(entry['boxes'])} boxes but {len(entry[key])} {key}."
                )
        entry["labels"] = entry["labels"].astype(np.int64)
        checked.append(entry)
    return checked


def _coco_backend(backend: str) -> str:
    """The installed COCO evaluator to use for ``backend``, or a clear refusal."""
    if backend == "torchmetrics":  # the earlier name of this same path
        backend = "auto"
    if backend not in ("auto", *_COCO_BACKENDS):
        raise ValueError(
            f"backend must be 'auto', 'faster_coco_eval' or 'pycocotools'; got {backend!r}. "
            "mAP is computed by COCO's evaluator only; 'auto' picks the installed one."
        )
    wanted = _COCO_BACKENDS if backend == "auto" else (backend,)
    for name in wanted:
        if importlib.util.find_spec(name) is not None:
            return name
    raise ModuleNotFoundError(
        f"mean_average_precision needs {' or '.join(wanted)}; install it with "
        f"pip install {wanted[0].replace('_', '-')} (cnncourse depends on faster-coco-eval)."
    )


def mean_average_precision(
    preds,
    targets,
    iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS,
    *,
    interpolation: Interpolation = "101",
    max_detections: int = 100,
    backend: Backend = "auto",
) -> dict:
    """Mean average precision of box detections, COCO-style by default.

    For each class and IoU threshold, detections of all images are ranked by
    score; a detection is a true positive when it overlaps a not-yet-matched
    ground-truth box of its class by at least the threshold. AP is the area
    under the resulting precision-recall curve's upper envelope, read at fixed
    recall levels; mAP averages AP over classes that have ground truth and over
    the thresholds. The evaluation itself is COCO's, through torchmetrics.

    Parameters
    ----------
    preds : list of dict, one an image
        ``"boxes"`` (D, 4) xyxy, ``"scores"`` (D,), ``"labels"`` (D,).
    targets : list of dict, one an image
        ``"boxes"`` (G, 4) xyxy, ``"labels"`` (G,).
    iou_thresholds : sequence of float
        COCO's 0.50, 0.55, ..., 0.95 by default; ``(0.5,)`` gives mAP@0.5.
    interpolation : {"101", "11"}
        Mean envelope precision at 101 recall levels (COCO) or at 11 (PASCAL VOC 2007).
    max_detections : int
        Highest-scoring detections kept per image and class (COCO: 100).
    backend : {"auto", "faster_coco_eval", "pycocotools"}
        The COCO evaluator; ``"auto"`` takes the first one installed.

    Returns
    -------
    dict
        ``"map"`` (over ``iou_thresholds``), ``"map_50"`` and ``"map_75"`` (NaN
        when that threshold is not in ``iou_thresholds``), ``"map_per_class"``
        ``{label: AP averaged over thresholds}`` (NaN for a class with no ground truth).
    """
    if interpolation not in ("101", "11"):
        raise ValueError(
            f"interpolation must be '101' (COCO) or '11' (VOC 2007); got {interpolation!r}. "
            "COCO's evaluator reads precision at fixed recall levels, so the all-point "
            "area of VOC 2010 is not offered: use '101'."
        )
    thresholds = np.asarray(iou_thresholds, dtype=np.float64).reshape(-1)
    if len(thresholds) == 0 or thresholds.min() <= 0 or thresholds.max() > 1:
        raise ValueError(f"iou_thresholds must be values in (0, 1]; got {list(iou_thresholds)}.")
    if max_detections < 1:
        raise ValueError(f"max_detections must be at least 1; got {max_detections}.")
    preds = _images(preds, "preds", ("boxes", "scores", "labels"))
    targets = _images(targets, "targets", ("boxes", "labels"))
    if len(preds) != len(targets):
        raise ValueError(
            f"preds and targets must list the same images; got {len(preds)} and {len(targets)}."
        )
    metric = MeanAveragePrecision(
        box_format="xyxy",
        iou_type="bbox",
        iou_thresholds=[float(t) for t in thresholds],
        rec_thresholds=np.linspace(0.0, 1.0, int(interpolation)).tolist(),
        max_detection_thresholds=[1, min(10, max_detections), max_detections],
        class_metrics=True,
        backend=_coco_backend(backend),
    )
    metric.warn_on_many_detections = False  # max_detections is the caller's choice
    as_tensors = [  # copies: torch refuses to share read-only arrays (e.g. from pandas)
        {k: torch.from_numpy(np.array(v)) for k, v in item.items()} for item in [*preds, *targets]
    ]
    metric.update(as_tensors[: len(preds)], as_tensors[len(preds) :])
    out = metric.compute()

    def value(x) -> float:  # torchmetrics marks "undefined" with -1; NaN says so plainly
        return float("nan") if float(x) < 0 else float(x)

    def mean_at(threshold: float, key: str) -> float:
        return value(out[key]) if np.isclose(thresholds, threshold).any() else float("nan")

    per_class = torch.atleast_1d(out["map_per_class"]).tolist()
    classes = torch.atleast_1d(out["classes"]).tolist()
    return {
        "map": value(out["map"]),
        "map_50": mean_at(0.5, "map_50"),
        "map_75": mean_at(0.75, "map_75"),
        "map_per_class": {int(c): value(v) for c, v in zip(classes, per_class, strict=True)},
    }
