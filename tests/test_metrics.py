"""cnncourse.metrics: hand-computed worked examples, and torchmetrics == scikit-learn."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from conftest import ROC_AUCS, ROC_PROBS, ROC_TRUE
from sklearn import metrics as skm
from torchmetrics.functional import classification as tmf

from cnncourse import metrics

# Worked example, 3 classes, 8 samples.
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 2, 2, 2])
# Confusion matrix (rows: true class, columns: predicted class):
#   true 0 -> predicted 0, 0, 1  -> [2, 1, 0]
#   true 1 -> predicted 1, 2     -> [0, 1, 1]
#   true 2 -> predicted 2, 2, 2  -> [0, 0, 3]
CM = np.array([[2, 1, 0], [0, 1, 1], [0, 0, 3]])
# precision = diagonal / column sums (2, 2, 4):  2/2, 1/2, 3/4
# recall    = diagonal / row sums    (3, 2, 3):  2/3, 1/2, 3/3
# f1 = 2PR/(P+R): 2*1*(2/3)/(5/3) = 4/5;  1/2;  2*(3/4)*1/(7/4) = 6/7
PRECISION = np.array([1.0, 0.5, 0.75])
RECALL = np.array([2 / 3, 0.5, 1.0])
F1 = np.array([0.8, 0.5, 6 / 7])


def test_accuracy_worked_example():
    # 6 of 8 on the diagonal
    assert metrics.accuracy(Y_TRUE, Y_PRED) == pytest.approx(0.75)


def test_precision_recall_f1_per_class():
    precision, recall, f1 = metrics.precision_recall_f1(Y_TRUE, Y_PRED, average=None)
    np.testing.assert_allclose(precision, PRECISION)
    np.testing.assert_allclose(recall, RECALL)
    np.testing.assert_allclose(f1, F1)


def test_precision_recall_f1_macro_and_weighted():
    # macro: plain means. P = (1 + .5 + .75)/3 = .75; R = (2/3 + 1/2 + 1)/3 = 13/18;
    # F1 = (4/5 + 1/2 + 6/7)/3 = (56 + 35 + 60)/70/3 = 151/210
    assert metrics.precision_recall_f1(Y_TRUE, Y_PRED, "macro") == pytest.approx(
        (0.75, 13 / 18, 151 / 210)
    )
    # weighted by support (3, 2, 3): P = (3 + 1 + 2.25)/8 = 0.78125; R = (2 + 1 + 3)/8 = 0.75
    # (weighted recall is accuracy); F1 = (2.4 + 1 + 18/7)/8 = 209/280
    assert metrics.precision_recall_f1(Y_TRUE, Y_PRED, "weighted") == pytest.approx(
        (0.78125, 0.75, 209 / 280)
    )


def test_class_never_present_counts_zero_with_num_classes():
    # a 4th class that never occurs: its P = R = F1 = 0 pulls the macro mean to 3/4 of it
    _, recall, _ = metrics.precision_recall_f1(Y_TRUE, Y_PRED, "macro", num_classes=4)
    assert recall == pytest.approx((13 / 18) * 3 / 4)


def test_confusion_matrix_counts_and_normalized():
    np.testing.assert_array_equal(metrics.confusion_matrix(Y_TRUE, Y_PRED), CM)
    # rows divided by (3, 2, 3): the diagonal is each class's recall
    np.testing.assert_allclose(
        metrics.confusion_matrix(Y_TRUE, Y_PRED, normalize="true"),
        [[2 / 3, 1 / 3, 0], [0, 0.5, 0.5], [0, 0, 1]],
    )
    # columns divided by (2, 2, 4): the diagonal is each class's precision
    np.testing.assert_allclose(
        metrics.confusion_matrix(Y_TRUE, Y_PRED, normalize="pred"),
        [[1, 0.5, 0], [0, 0.5, 0.25], [0, 0, 0.75]],
    )
    padded = metrics.confusion_matrix(Y_TRUE, Y_PRED, num_classes=4)
    assert padded.shape == (4, 4) and padded[3].sum() == 0 and padded[:, 3].sum() == 0


def test_classification_report_frame():
    report = metrics.classification_report(Y_TRUE, Y_PRED, ["shirt", "bag", "boot"])
    assert list(report.index) == ["shirt", "bag", "boot", "macro avg", "weighted avg"]
    assert list(report.columns) == ["precision", "recall", "f1", "support"]
    np.testing.assert_allclose(report.loc[["shirt", "bag", "boot"], "precision"], PRECISION)
    np.testing.assert_allclose(report.loc[["shirt", "bag", "boot"], "recall"], RECALL)
    np.testing.assert_allclose(report.loc[["shirt", "bag", "boot"], "f1"], F1)
    assert report["support"].tolist() == [3, 2, 3, 8, 8]
    assert report.loc["macro avg", "f1"] == pytest.approx(151 / 210)
    assert report.loc["weighted avg", "precision"] == pytest.approx(0.78125)
    assert report.attrs["accuracy"] == pytest.approx(0.75)


def test_binary_roc_worked_example():
    # scikit-learn's doc example: positives score .35 and .8, negatives .1 and .4.
    # Pairs ranked right: .35>.1, .8>.1, .8>.4 (not .35>.4) -> AUC = 3/4.
    y, scores = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    curves = metrics.roc_curves(y, scores)
    fpr, tpr, thresholds = curves[1]
    # lowering the threshold past .8, .4, .35, .1 adds a TP, an FP, a TP, an FP
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thresholds[1:], [0.8, 0.4, 0.35, 0.1])
    assert metrics.roc_auc(y, scores) == pytest.approx(0.75)


def test_multiclass_roc_auc_worked_example():
    np.testing.assert_allclose(metrics.roc_auc(ROC_TRUE, ROC_PROBS, average=None), ROC_AUCS)
    assert metrics.roc_auc(ROC_TRUE, ROC_PROBS) == pytest.approx(ROC_AUCS.mean())
    curves = metrics.roc_curves(ROC_TRUE, ROC_PROBS)
    assert sorted(curves) == [0, 1, 2]
    for k, (fpr, tpr, _) in curves.items():
        assert fpr[0] == 0 and tpr[-1] == 1
        assert skm.auc(fpr, tpr) == pytest.approx(ROC_AUCS[k])  # area under the curve


def test_torch_tensors_are_accepted():
    assert metrics.accuracy(torch.tensor(Y_TRUE), torch.tensor(Y_PRED)) == pytest.approx(0.75)
    cm = metrics.confusion_matrix(torch.tensor(Y_TRUE), torch.tensor(Y_PRED))
    np.testing.assert_array_equal(cm, CM)
    probs = torch.tensor(ROC_PROBS, dtype=torch.float32)  # float32 rows sum to 1 within rounding
    assert metrics.roc_auc(torch.tensor(ROC_TRUE), probs) == pytest.approx(ROC_AUCS.mean())


def _sample(seed: int = 0, n: int = 300, k: int = 5):
    """Synthetic labels and softmax scores for library-agreement tests (not a result)."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y_true]  # better than chance
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y_true, probs.argmax(1), probs, k


@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_agrees_with_torchmetrics(average):
    y_true, y_pred, probs, k = _sample()
    t, p = torch.tensor(y_true), torch.tensor(y_pred)
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(
        tmf.multiclass_accuracy(p, t, num_classes=k, average="micro").item()
    )
    ours = metrics.precision_recall_f1(y_true, y_pred, average)
    theirs = [
        f(p, t, num_classes=k, average=average).item()
        for f in (tmf.multiclass_precision, tmf.multiclass_recall, tmf.multiclass_f1_score)
    ]
    assert ours == pytest.approx(theirs, abs=1e-6)
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y_true, y_pred), tmf.multiclass_confusion_matrix(p, t, k).numpy()
    )
    auroc = tmf.multiclass_auroc(torch.tensor(probs), t, num_classes=k, average=average)
    assert metrics.roc_auc(y_true, probs, average) == pytest.approx(auroc.item(), abs=1e-6)


def test_roc_curves_agree_with_sklearn():
    y_true, _, probs, k = _sample(seed=1)
    curves = metrics.roc_curves(torch.tensor(y_true), torch.tensor(probs))
    for c in range(k):
        fpr, tpr, _ = skm.roc_curve(y_true == c, probs[:, c])
        np.testing.assert_allclose(curves[c][0], fpr)
        np.testing.assert_allclose(curves[c][1], tpr)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: metrics.accuracy([0, 1, 2], [0, 1]), "same length"),
        (lambda: metrics.accuracy([0, -1], [0, 1]), ">= 0"),
        (lambda: metrics.classification_report([0, 3], [0, 1], ["a", "b"]), r"\[0, 1\]"),
        (lambda: metrics.confusion_matrix([0, 5], [0, 1], num_classes=3), r"\[0, 2\]"),
        (lambda: metrics.accuracy([0, 1], ROC_PROBS[:2]), "argmax"),
        (lambda: metrics.precision_recall_f1(Y_TRUE, Y_PRED, "micro"), "macro"),
        (lambda: metrics.roc_auc(ROC_TRUE, ROC_PROBS * 3), "softmax"),
        (lambda: metrics.roc_auc(ROC_TRUE, ROC_PROBS / 2), "sum to 1"),
        (lambda: metrics.roc_auc(ROC_TRUE, ROC_PROBS[:5]), "same number"),
        (lambda: metrics.roc_auc(ROC_TRUE, ROC_PROBS[None]), r"\(N, K\)"),
        (lambda: metrics.roc_curves(ROC_TRUE[:2], ROC_PROBS[:2]), r"classes \[1, 2\] never"),
    ],
)
def test_bad_classification_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_non_integer_labels_are_a_type_error():
    with pytest.raises(TypeError, match="integer class indices"):
        metrics.accuracy([0.5, 1.0], [0, 1])


# ---- detection and segmentation ---------------------------------------------------------


def test_box_iou_worked_example():
    a = [[0, 0, 2, 2], [0, 0, 4, 4]]
    b = [[1, 1, 3, 3], [2, 2, 4, 4], [0, 0, 2, 2]]
    iou = metrics.box_iou(a, b)
    # [0,0,2,2] & [1,1,3,3]: overlap 1x1 = 1, union 4 + 4 - 1 = 7 -> 1/7
    # [0,0,2,2] & [2,2,4,4]: they only touch at a corner -> 0;  with itself -> 1
    # [0,0,4,4] (16) holds [1,1,3,3] (4) -> 4/16;  holds [2,2,4,4] and [0,0,2,2] -> 4/16 each
    np.testing.assert_allclose(iou, [[1 / 7, 0, 1], [0.25, 0.25, 0.25]])
    assert metrics.box_iou(np.zeros((0, 4)), b).shape == (0, 3)


def test_mask_iou_binary_and_per_class():
    a = np.array([[1, 1, 0], [1, 0, 0]], dtype=bool)
    b = np.array([[1, 0, 0], [1, 1, 0]], dtype=bool)
    # both: (0,0), (1,0) -> 2; either: (0,0), (0,1), (1,0), (1,1) -> 4 -> 1/2
    assert metrics.mask_iou(a, b) == pytest.approx(0.5)
    la = np.array([[0, 0, 1], [2, 2, 1]])
    lb = np.array([[0, 1, 1], [2, 0, 1]])
    # class 0: a {(0,0),(0,1)}, b {(0,0),(1,1)}       -> 1/3
    # class 1: a {(0,2),(1,2)}, b {(0,1),(0,2),(1,2)} -> 2/3
    # class 2: a {(1,0),(1,1)}, b {(1,0)}             -> 1/2
    # class 3: in neither -> undefined (NaN)
    per_class = metrics.mask_iou(la, lb, num_classes=4)
    np.testing.assert_allclose(per_class, [1 / 3, 2 / 3, 1 / 2, np.nan])
    np.testing.assert_allclose(
        per_class[:3], skm.jaccard_score(la.ravel(), lb.ravel(), labels=[0, 1, 2], average=None)
    )
    with pytest.raises(ValueError, match="num_classes"):
        metrics.mask_iou(la, lb)
    with pytest.raises(ValueError, match="same shape"):
        metrics.mask_iou(a, b[:, :2])


# One class, two images, three ground-truth boxes, four detections.
TARGETS = [
    {"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "labels": [0, 0]},
    {"boxes": [[0, 0, 10, 10]], "labels": [0]},
]
PREDS = [
    {
        # d1 exact hit on g1 (IoU 1); d3 the same box again (a duplicate);
        # d4 covers 10x8 of g2's 10x10 (IoU 0.8)
        "boxes": [[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 28]],
        "scores": [0.9, 0.7, 0.6],
        "labels": [0, 0, 0],
    },
    # d2 covers the top half of g3: IoU 50/100 = 0.5
    {"boxes": [[0, 0, 10, 5]], "scores": [0.8], "labels": [0]},
]
# Ranked by score: d1 (.9), d2 (.8), d3 (.7), d4 (.6); 3 ground-truth boxes.
# IoU >= 0.5:  TP TP FP TP -> recall 1/3 2/3 2/3 1, precision 1 1 2/3 3/4
#   envelope (best precision at this recall or beyond): 1 1 3/4 3/4
#   11-point: recall levels 0..0.6 (7) -> 1, 0.7..1.0 (4) -> 3/4: (7 + 3)/11 = 10/11
#   101-point: levels 0..0.66 (67) -> 1, 0.67..1.00 (34) -> 3/4: (67 + 25.5)/101
# IoU >= 0.75: d2 (IoU .5) is now a miss: TP FP FP TP
#   recall 1/3 1/3 1/3 2/3, precision 1 1/2 1/3 1/2 -> envelope 1 1/2 1/2 1/2
#   101-point: levels 0..0.33 (34) -> 1, 0.34..0.66 (33) -> 1/2, above 2/3 -> 0: 50.5/101
# IoU 0.50:0.95 (COCO): d1 and d3 are exact (IoU 1), d4 has IoU 0.8, d2 0.5. At
#   0.5: 92.5/101; 0.55..0.8 (6 thresholds): as at 0.75, 50.5/101; 0.85..0.95 (3): d1 only,
#   recall 1/3 at precision 1 -> 34/101.
AP50_101, AP75_101 = 92.5 / 101, 50.5 / 101
COCO_MAP = (92.5 + 6 * 50.5 + 3 * 34) / 101 / 10


@pytest.mark.parametrize(("interpolation", "ap50"), [("11", 10 / 11), ("101", AP50_101)])
def test_average_precision_worked_example(interpolation, ap50):
    result = metrics.mean_average_precision(
        PREDS, TARGETS, iou_thresholds=(0.5,), interpolation=interpolation
    )
    assert result["map"] == pytest.approx(ap50)
    assert result["map_50"] == pytest.approx(ap50)
    assert np.isnan(result["map_75"])  # 0.75 was not asked for
    assert result["map_per_class"] == {0: pytest.approx(ap50)}


def test_coco_map_over_all_ten_thresholds():
    result = metrics.mean_average_precision(PREDS, TARGETS)
    assert result["map"] == pytest.approx(COCO_MAP)
    assert result["map_50"] == pytest.approx(AP50_101)
    assert result["map_75"] == pytest.approx(AP75_101)


def test_mean_average_precision_over_thresholds_and_classes():
    result = metrics.mean_average_precision(PREDS, TARGETS, iou_thresholds=(0.5, 0.75))
    assert result["map_50"] == pytest.approx(AP50_101)
    assert result["map_75"] == pytest.approx(AP75_101)
    assert result["map"] == pytest.approx((AP50_101 + AP75_101) / 2)
    # Add class 1 (ground truth, never detected: AP 0) and class 2 (detected, no ground
    # truth: AP undefined, left out of the mean as COCO does).
    targets = [dict(TARGETS[0]), {"boxes": [[0, 0, 10, 10], [50, 50, 60, 60]], "labels": [0, 1]}]
    preds = [
        {
            "boxes": [*PREDS[0]["boxes"], [70, 70, 80, 80]],
            "scores": [*PREDS[0]["scores"], 0.95],
            "labels": [0, 0, 0, 2],
        },
        PREDS[1],
    ]
    result = metrics.mean_average_precision(preds, targets, iou_thresholds=(0.5,))
    assert result["map_per_class"][0] == pytest.approx(AP50_101)
    assert result["map_per_class"][1] == 0.0
    assert np.isnan(result["map_per_class"][2])
    assert result["map"] == pytest.approx((AP50_101 + 0) / 2)


def test_max_detections_keeps_top_scores_per_image():
    # one detection an image: d1 (TP) and d2 (TP at IoU .5) -> recall 1/3, 2/3 at
    # precision 1, g2 never found -> 101-point AP: levels 0..0.66 (67) -> 1: 67/101
    result = metrics.mean_average_precision(
        PREDS, TARGETS, iou_thresholds=(0.5,), max_detections=1
    )
    assert result["map"] == pytest.approx(67 / 101)


def test_mean_average_precision_accepts_tensors():
    as_tensors = [{k: torch.tensor(v) for k, v in item.items()} for item in PREDS]
    result = metrics.mean_average_precision(as_tensors, TARGETS, iou_thresholds=(0.5,))
    assert result["map"] == pytest.approx(AP50_101)


def test_map_is_computed_by_the_coco_evaluator(monkeypatch):
    # faster-coco-eval (a dependency) gives the hand-derived COCO number; without any COCO
    # evaluator the call is refused with the install line instead of a traceback
    result = metrics.mean_average_precision(PREDS, TARGETS, backend="faster_coco_eval")
    assert result["map"] == pytest.approx(COCO_MAP)
    assert metrics.mean_average_precision(PREDS, TARGETS, backend="torchmetrics") == result
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install faster-coco-eval"):
        metrics.mean_average_precision(PREDS, TARGETS)


def test_faster_coco_eval_is_installed():
    # the package depends on it: mAP must never silently lack its evaluator
    assert importlib.util.find_spec("faster_coco_eval") is not None


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"preds": PREDS[:1]}, ValueError, "same images"),
        ({"preds": [{"boxes": [[0, 0, 1, 1]], "labels": [0]}] * 2}, ValueError, "scores"),
        ({"targets": [{"boxes": [[5, 0, 1, 1]], "labels": [0]}] * 2}, ValueError, "x1 <= x2"),
        ({"targets": [{"boxes": [[0, 0, 1]], "labels": [0]}] * 2}, ValueError, r"\(N, 4\)"),
        ({"targets": TARGETS[0]}, TypeError, "one dict an image"),
        ({"iou_thresholds": (0.0,)}, ValueError, r"\(0, 1\]"),
        ({"interpolation": "all"}, ValueError, "'101'"),
        ({"backend": "cnncourse"}, ValueError, "COCO's evaluator only"),
    ],
)
def test_bad_detection_input_is_refused(kwargs, error, message):
    arguments = {"preds": PREDS, "targets": TARGETS, **kwargs}
    with pytest.raises(error, match=message):
        metrics.mean_average_precision(**arguments)
