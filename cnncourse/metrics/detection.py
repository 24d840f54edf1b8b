"""Detection and segmentation metrics: box IoU, mask IoU and mean average precision.

Boxes are ``(x1, y1, x2, y2)`` corners in pixels ("xyxy"). Predictions and targets
for :func:`mean_average_precision` use torchvision's detection format, one dict an
image: ``{"boxes": (D, 4), "scores": (D,), "labels": (D,)}`` for predictions and
``{"boxes": (G, 4), "labels": (G,)}`` for targets.

torchmetrics' ``MeanAveragePrecision`` needs ``pycocotools`` or ``faster-coco-eval``.
Where neither is installed, :func:`mean_average_precision` computes the same COCO
numbers itself (same matching, same 101-point interpolation), and it also offers
PASCAL VOC's all-point and 11-point areas, which COCO tools do not.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Literal

import numpy as np

from cnncourse.metrics.classification import to_numpy

# torch, torchvision and torchmetrics are imported inside the functions that use
# them: torchmetrics alone takes seconds to import, and classification metrics
# should not pay for it.

Interpolation = Literal["101", "11", "all"]
COCO_IOU_THRESHOLDS = tuple(np.round(np.linspace(0.5, 0.95, 10), 2).tolist())
_COCO_BACKENDS = ("pycocotools", "faster_coco_eval")


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
    import torch
    from torchvision.ops import box_iou as torchvision_box_iou

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
    import torch
    from torchmetrics.functional.classification import (
        binary_jaccard_index,
        multiclass_jaccard_index,
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


def _match(ious: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """COCO's greedy matching: ``tp[t, d]`` for detections sorted by falling score.

    Each detection takes the still-free ground-truth box it overlaps most, if
    that IoU reaches the threshold; a box matched once cannot be matched again,
    so a duplicate detection counts as a false positive.
    """
    num_det, num_gt = ious.shape
    tp = np.zeros((len(thresholds), num_det), dtype=bool)
    for t, threshold in enumerate(thresholds):
        free = np.ones(num_gt, dtype=bool)
        for d in range(num_det):
            candidates = np.flatnonzero(free & (ious[d] >= min(threshold, 1 - 1e-10)))
            if len(candidates):
                best = candidates[ious[d, candidates] == ious[d, candidates].max()][-1]
                free[best] = False
                tp[t, d] = True
    return tp


def _area(recall: np.ndarray, precision: np.ndarray, interpolation: Interpolation) -> float:
    """Area under one precision-recall curve (points in falling-score order)."""
    if len(recall) == 0:
        return 0.0
    # the envelope: the best precision reachable at this recall or any higher one
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    if interpolation == "all":  # PASCAL VOC 2010+: exact area under the envelope
        steps = np.diff(np.concatenate([[0.0], recall]))
        return float(np.sum(steps * envelope))
    # COCO (101 points) and VOC 2007 (11 points): mean envelope at fixed recall levels
    levels = np.linspace(0.0, 1.0, int(interpolation))
    at = np.searchsorted(recall, levels, side="left")
    return float(np.mean(np.where(at < len(recall), envelope[np.minimum(at, len(recall) - 1)], 0)))


def _average_precisions(preds, targets, thresholds, interpolation, max_detections):
    """AP table ``(T, K)`` (NaN where a class has no ground truth) and its classes."""
    classes = np.unique(np.concatenate([x["labels"] for x in [*preds, *targets]] + [[]]))
    classes = classes.astype(np.int64)
    ap = np.full((len(thresholds), len(classes)), np.nan)
    for k, label in enumerate(classes):
        scores, hits, num_gt = [], [], 0
        for pred, target in zip(preds, targets, strict=True):
            gt = target["boxes"][target["labels"] == label]
            own = pred["labels"] == label
            order = np.argsort(-pred["scores"][own], kind="mergesort")[:max_detections]
            det, det_scores = pred["boxes"][own][order], pred["scores"][own][order]
            hits.append(_match(box_iou(det, gt), thresholds))  # IoUs (D, G)
            scores.append(det_scores)
            num_gt += len(gt)
        if num_gt == 0:
            continue  # AP is undefined without ground truth; COCO leaves it out of the mean
        order = np.argsort(-np.concatenate(scores), kind="mergesort")
        tp = np.concatenate(hits, axis=1)[:, order]  # (T, D) over all images
        tp_sum, fp_sum = np.cumsum(tp, axis=1), np.cumsum(~tp, axis=1)
        for t in range(len(thresholds)):
            recall = tp_sum[t] / num_gt
            precision = tp_sum[t] / np.maximum(tp_sum[t] + fp_sum[t], 1)
            ap[t, k] = _area(recall, precision, interpolation)
    return ap, classes


def _with_torchmetrics(preds, targets, thresholds, interpolation, max_detections, backend):
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(
        box_format="xyxy",
        iou_type="bbox",
        iou_thresholds=[float(t) for t in thresholds],
        rec_thresholds=np.linspace(0.0, 1.0, int(interpolation)).tolist(),
        max_detection_thresholds=[1, min(10, max_detections), max_detections],
        class_metrics=True,
        backend=backend,
    )
    as_tensors = [{k: torch.as_tensor(v) for k, v in item.items()} for item in [*preds, *targets]]
    metric.update(as_tensors[: len(preds)], as_tensors[len(preds) :])
    out = metric.compute()

    def value(x) -> float:  # torchmetrics marks "undefined" with -1; we use NaN
        return float("nan") if float(x) < 0 else float(x)

    per_class = torch.atleast_1d(out["map_per_class"]).tolist()
    classes = torch.atleast_1d(out["classes"]).tolist()
    return {
        "map": value(out["map"]),
        "map_50": value(out["map_50"]),
        "map_75": value(out["map_75"]),
        "map_per_class": {int(c): value(v) for c, v in zip(classes, per_class, strict=True)},
    }


def mean_average_precision(
    preds,
    targets,
    iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS,
    *,
    interpolation: Interpolation = "101",
    max_detections: int = 100,
    backend: Literal["auto", "torchmetrics", "cnncourse"] = "auto",
) -> dict:
    """Mean average precision of box detections, COCO-style by default.

    For each class and IoU threshold, detections of all images are ranked by
    score; a detection is a true positive when it overlaps a not-yet-matched
    ground-truth box of its class by at least the threshold. AP is the area
    under the resulting precision-recall curve; mAP averages AP over classes
    that have ground truth and over the thresholds.

    Parameters
    ----------
    preds : list of dict, one an image
        ``"boxes"`` (D, 4) xyxy, ``"scores"`` (D,), ``"labels"`` (D,).
    targets : list of dict, one an image
        ``"boxes"`` (G, 4) xyxy, ``"labels"`` (G,).
    iou_thresholds : sequence of float
        COCO's 0.50, 0.55, ..., 0.95 by default; ``(0.5,)`` gives PASCAL VOC's mAP@0.5.
    interpolation : {"101", "11", "all"}
        Mean precision at 101 recall levels (COCO), at 11 levels (VOC 2007), or
        the exact area under the precision envelope (VOC 2010 and later).
    max_detections : int
        Highest-scoring detections kept per image and class (COCO: 100).
    backend : {"auto", "torchmetrics", "cnncourse"}
        ``"auto"`` uses torchmetrics' ``MeanAveragePrecision`` where
        ``pycocotools`` or ``faster-coco-eval`` is installed and the
        interpolation is one COCO tools support ("101", "11"), else this module's
        implementation, which follows the same rules.

    Returns
    -------
    dict
        ``"map"`` (over ``iou_thresholds``), ``"map_50"`` and ``"map_75"`` (NaN
        when that threshold is not in ``iou_thresholds``), ``"map_per_class"``
        ``{label: AP averaged over thresholds}`` (NaN for a class with no ground truth).
    """
    if interpolation not in ("101", "11", "all"):
        raise ValueError(f"interpolation must be '101', '11' or 'all'; got {interpolation!r}.")
    if backend not in ("auto", "torchmetrics", "cnncourse"):
        raise ValueError(
            f"backend must be 'auto', 'torchmetrics' or 'cnncourse'; got {backend!r}."
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
    installed = [name for name in _COCO_BACKENDS if importlib.util.find_spec(name)]
    if backend == "torchmetrics" and (not installed or interpolation == "all"):
        raise ValueError(
            "backend='torchmetrics' needs pycocotools or faster-coco-eval (pip install "
            "pycocotools) and interpolation '101' or '11'; or use backend='cnncourse'."
        )
    if backend != "cnncourse" and installed and interpolation != "all":
        return _with_torchmetrics(
            preds, targets, thresholds, interpolation, max_detections, installed[0]
        )

    ap, classes = _average_precisions(preds, targets, thresholds, interpolation, max_detections)
    valid = ~np.isnan(ap)

    def mean_at(threshold: float) -> float:
        rows = np.flatnonzero(np.isclose(thresholds, threshold))
        if len(rows) == 0 or not valid[rows[0]].any():
            return float("nan")
        return float(np.nanmean(ap[rows[0]]))

    with np.errstate(invalid="ignore"):  # all-NaN columns stay NaN without a warning
        per_class = np.where(valid.any(axis=0), np.nansum(ap, axis=0) / valid.sum(axis=0), np.nan)
    return {
        "map": float(ap[valid].mean()) if valid.any() else float("nan"),
        "map_50": mean_at(0.5),
        "map_75": mean_at(0.75),
        "map_per_class": {int(c): float(v) for c, v in zip(classes, per_class, strict=True)},
    }
