"""Checks of the chapter "Evaluating a classifier": solutions pass, mistakes get hints."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from cnncourse.exercises import check
from cnncourse.exercises.checks import evaluation as ev
from cnncourse.metrics import box_iou


def test_precision_recall_oracle_passes_and_mistakes_get_hints():
    # oracle: scikit-learn on label vectors that realise the problem's counts
    tp, fp, fn = ev.FLAGGED_RIGHT, ev.FLAGGED - ev.FLAGGED_RIGHT, ev.POSITIVES - ev.FLAGGED_RIGHT
    tn = 1000 - tp - fp - fn
    y_true = np.array([1] * tp + [0] * fp + [1] * fn + [0] * tn)
    y_pred = np.array([1] * tp + [1] * fp + [0] * fn + [0] * tn)
    oracle = skm.precision_recall_fscore_support(y_true, y_pred, average="binary")[:3]
    assert check("eval-precision-recall", oracle).passed
    assert check("eval-precision-recall", list(np.float32(oracle))).passed
    p, r, f = oracle
    assert "swapped" in check("eval-precision-recall", (r, p, f)).message
    assert "harmonic" in check("eval-precision-recall", (p, r, (p + r) / 2)).message
    assert "flagged" in check("eval-precision-recall", (0.09, r, f)).message
    assert check("eval-precision-recall", (p, r + 0.05, f)).status == "fail"
    assert "tuple of 3" in check("eval-precision-recall", (p, r)).message
    assert check("eval-precision-recall", None).status == "not attempted"


def test_majority_baseline_oracle_passes_and_averages_are_told_apart():
    y = np.array([0] * ev.MAJORITY + [1] * ev.MINORITY)
    pred = np.zeros_like(y)
    accuracy = skm.accuracy_score(y, pred)
    macro = skm.f1_score(y, pred, average="macro", zero_division=0)
    weighted = skm.f1_score(y, pred, average="weighted", zero_division=0)
    assert check("eval-majority-baseline", (accuracy, macro)).passed
    assert "weighted" in check("eval-majority-baseline", (accuracy, weighted)).message
    assert "macro recall" in check("eval-majority-baseline", (accuracy, 0.5)).message
    assert "accuracy" in check("eval-majority-baseline", (0.5, macro)).message
    assert check("eval-majority-baseline", "0.95").status == "fail"
    assert check("eval-majority-baseline", ...).status == "not attempted"


def test_box_iou_oracle_passes_and_mistakes_get_hints():
    oracle = box_iou([ev.BOX_A], [ev.BOX_B])[0, 0]  # torchvision's box_iou
    assert check("eval-box-iou", oracle).passed
    assert check("eval-box-iou", 1 / 6).passed
    assert "subtract" in check("eval-box-iou", 16 / 112).message
    assert "smaller box" in check("eval-box-iou", 16 / 48).message
    assert check("eval-box-iou", 0.5).status == "fail"
    assert "float" in check("eval-box-iou", "1/6").message
    assert check("eval-box-iou", None).status == "not attempted"


def solution(cm):
    cm = np.asarray(cm, dtype=float)
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    return precision, recall


def test_from_confusion_solution_passes_and_typical_mistakes_fail():
    assert check("eval-from-confusion", solution).passed
    swapped = check("eval-from-confusion", lambda cm: solution(cm)[::-1])
    assert "swapped" in swapped.message

    def nan_for_unpredicted(cm):
        cm = np.asarray(cm, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(cm) / cm.sum(axis=0), np.diag(cm) / cm.sum(axis=1)

    assert "zero_division" in check("eval-from-confusion", nan_for_unpredicted).message
    wrong_shape = check("eval-from-confusion", lambda cm: (np.diag(cm), np.diag(cm)[:1]))
    assert "shapes" in wrong_shape.message
    assert "raised ZeroDivisionError" in check("eval-from-confusion", lambda cm: 1 / 0).message
    assert check("eval-from-confusion", lambda cm: None).status == "not attempted"
    assert check("eval-from-confusion", 3).status == "fail"


def test_chapter_cases_include_a_class_never_predicted():
    cases = ev._confusion_cases()
    assert any(not np.isin(np.arange(k), y_pred).all() for k, _, y_pred in cases)


def average_precision(preds, targets, iou_threshold, *, keep_duplicates=False, area="101"):
    """The chapter's solution: COCO's greedy matching, then the 101-point AP. The keyword
    arguments make the two classic mistakes: a true box found twice, the all-point area."""
    scored, num_true = [], 0
    for pred, target in zip(preds, targets, strict=True):
        num_true += len(target["boxes"])
        order = np.argsort(-np.asarray(pred["scores"]), kind="stable")
        ious = box_iou(np.asarray(pred["boxes"])[order], target["boxes"])  # (D, G)
        matched = set()
        for d, score in enumerate(np.asarray(pred["scores"])[order]):
            free = [g for g in range(ious.shape[1]) if keep_duplicates or g not in matched]
            best = max(free, key=lambda g: ious[d, g], default=None)
            hit = best is not None and ious[d, best] >= iou_threshold
            if hit:
                matched.add(best)
            scored.append((score, hit))
    scored.sort(key=lambda pair: -pair[0])
    hits = np.array([hit for _, hit in scored], dtype=float)
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    recall = np.cumsum(hits) / num_true
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    if area == "all":
        return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * envelope))
    at = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
    return float(np.mean([envelope[i] if i < len(hits) else 0.0 for i in at]))


def test_average_precision_solution_agrees_with_coco_and_mistakes_fail():
    # the oracle is the COCO evaluator (faster-coco-eval through torchmetrics), in the check
    assert check("eval-average-precision", average_precision).passed
    duplicates = check(
        "eval-average-precision",
        lambda p, t, th: average_precision(p, t, th, keep_duplicates=True),
    )
    assert duplicates.status == "fail" and "duplicate" in duplicates.message
    all_point = check(
        "eval-average-precision", lambda p, t, th: average_precision(p, t, th, area="all")
    )
    assert all_point.status == "fail" and "COCO's evaluator gives" in all_point.message
    assert check("eval-average-precision", lambda p, t, th: None).status == "not attempted"
    assert "raised" in check("eval-average-precision", lambda p, t, th: 1 / 0).message


def threshold_for_precision(scores, labels, precision, *, stop_at_first_miss=False):
    """Oracle from scikit-learn's curve; the keyword makes the classic mistake of walking
    down the ranking only until precision first drops below the target."""
    curve_precision, _, thresholds = skm.precision_recall_curve(labels, scores)
    reached = curve_precision[:-1] >= precision  # thresholds ascend
    if not stop_at_first_miss:
        return thresholds[reached].min()
    first_miss = np.flatnonzero(~reached)
    return thresholds[first_miss.max() + 1] if len(first_miss) else thresholds.min()


def test_threshold_for_precision_oracle_passes_and_mistakes_fail():
    assert check("eval-threshold-precision", threshold_for_precision).passed
    midpoint = check(  # any threshold between two neighbouring scores flags the same images
        "eval-threshold-precision",
        lambda s, y, p: threshold_for_precision(s, y, p) - 1e-9,
    )
    assert midpoint.passed
    stopped = check(
        "eval-threshold-precision",
        lambda s, y, p: threshold_for_precision(s, y, p, stop_at_first_miss=True),
    )
    assert "not only until the first" in stopped.message
    strict = check(  # flags one image fewer than asked: scores > t instead of >= t
        "eval-threshold-precision",
        lambda s, y, p: np.sort(s)[
            np.searchsorted(np.sort(s), threshold_for_precision(s, y, p)) - 1
        ],
    )
    assert strict.status == "fail"
    assert "below the target" in check("eval-threshold-precision", lambda s, y, p: 0.0).message
    assert check("eval-threshold-precision", lambda s, y, p: None).status == "not attempted"
    assert "raised" in check("eval-threshold-precision", lambda s, y, p: 1 / 0).message


def test_threshold_for_precision_grading_draws_fresh_problems():
    from cnncourse.exercises.registry import evaluate, get_exercise

    ex = get_exercise("eval-threshold-precision")
    assert evaluate(ex, lambda: threshold_for_precision)["status"] == "pass"
    first = ev._score_problems(np.random.default_rng())[1][0]
    second = ev._score_problems(np.random.default_rng())[1][0]
    assert not np.array_equal(first, second)
    feedback = ev._score_problems(np.random.default_rng(ev.FEEDBACK_SEED))

    def memorised(scores, labels, precision):  # answers the feedback problems only
        for s, y, p in feedback:
            if np.array_equal(s, scores):
                return threshold_for_precision(s, y, p)
        return 0.5

    assert check("eval-threshold-precision", memorised).passed
    assert evaluate(ex, lambda: memorised)["status"] == "fail"


def test_bce_with_logits_oracle_passes_and_mistakes_get_hints():
    import torch

    def oracle(z, y):
        return torch.nn.functional.binary_cross_entropy_with_logits(
            torch.from_numpy(z), torch.from_numpy(y)
        ).item()

    def naive(z, y):
        with np.errstate(all="ignore"):
            p = 1 / (1 + np.exp(-z))
            return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    def clipped(z, y):
        p = np.clip(1 / (1 + np.exp(-np.clip(z, -500, 500))), 1e-7, 1 - 1e-7)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    assert check("eval-bce-logits", oracle).passed
    assert check("eval-bce-logits", lambda z, y: np.mean(np.logaddexp(0, z) - y * z)).passed
    assert "logaddexp" in check("eval-bce-logits", naive).message
    assert "clipping" in check("eval-bce-logits", clipped).message
    assert "sum" in check("eval-bce-logits", lambda z, y: oracle(z, y) * len(z)).message
    assert "sign" in check("eval-bce-logits", lambda z, y: -oracle(z, y)).message
    assert check("eval-bce-logits", lambda z, y: None).status == "not attempted"
    assert check("eval-bce-logits", "0.69").status == "fail"

    from cnncourse.exercises.registry import evaluate, get_exercise

    ex = get_exercise("eval-bce-logits")
    assert evaluate(ex, lambda: oracle)["status"] == "pass"
    assert evaluate(ex, lambda: naive)["status"] == "fail"


FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
FASHION += ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def predictions(seed: int) -> dict:
    """A chapter state: test labels and predictions that confuse tops with tops and dresses."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 10, 2000)
    y_pred = y_true.copy()
    tops = np.array([0, 2, 4, 6])
    confused = rng.random(2000) < 0.25
    y_pred[confused] = rng.choice([*tops, 3], confused.sum())  # a top or a dress
    wrong = rng.random(2000) < 0.05
    y_pred[wrong] = rng.integers(0, 10, wrong.sum())
    return {"y_true": y_true, "y_pred": y_pred, "CLASS_NAMES": FASHION}


def test_merge_tops_is_the_block_summed_confusion_matrix_and_mistakes_get_hints():
    from cnncourse.exercises.registry import chapter_variables, evaluate, get_exercise

    state = predictions(0)
    y_true, y_pred = state["y_true"], state["y_pred"]
    # oracle: scikit-learn's confusion matrix, the 4 x 4 block of the tops counted as right
    cm = skm.confusion_matrix(y_true, y_pred, labels=np.arange(10))
    tops = [FASHION.index(c) for c in ev.TOPS]
    right = np.trace(cm) + cm[np.ix_(tops, tops)].sum() - cm[tops, tops].sum()
    oracle = right / cm.sum()
    ten_classes = skm.accuracy_score(y_true, y_pred)
    assert oracle > ten_classes + 0.05  # the state confuses tops: the merge matters
    ex = get_exercise("eval-merge-tops")
    with chapter_variables(state):
        assert check("eval-merge-tops", oracle).passed
        assert check("eval-merge-tops", round(oracle, 3)).passed  # as printed
        assert "ten classes" in check("eval-merge-tops", ten_classes).message
        only_pred = np.mean(np.where(np.isin(y_pred, tops), 0, y_pred) == y_true)
        assert "true labels" in check("eval-merge-tops", only_pred).message
        with_dress = skm.accuracy_score(
            np.where(np.isin(y_true, [*tops, 3]), 0, y_true),
            np.where(np.isin(y_pred, [*tops, 3]), 0, y_pred),
        )
        assert "dress" in check("eval-merge-tops", with_dress).message
        assert "error rate" in check("eval-merge-tops", 1 - oracle).message
        assert check("eval-merge-tops", None).status == "not attempted"
        assert check("eval-merge-tops", "0.9").status == "fail"
    assert evaluate(ex, lambda: oracle, lambda: state)["points"] == 2
    assert evaluate(ex, lambda: ten_classes, lambda: state)["points"] == 0
    # a number right for another run of the chapter scores zero on this one
    assert evaluate(ex, lambda: oracle, lambda: predictions(1))["points"] == 0
