"""Checks of the chapter "Evaluating a classifier": solutions pass, mistakes get hints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier

from cnncourse.exercises import check, registry
from cnncourse.exercises.checks import evaluation as ev
from cnncourse.metrics import box_iou


def grade(exercise_id, answer):
    return registry.evaluate(registry.get_exercise(exercise_id), lambda: answer)


def sklearn_counts(tp, fp, fn):
    """Oracle: scikit-learn on label vectors that realise the counts."""
    y_true = np.array([1] * tp + [0] * fp + [1] * fn)
    y_pred = np.array([1] * tp + [1] * fp + [0] * fn)
    return tuple(skm.precision_recall_fscore_support(y_true, y_pred, average="binary")[:3])


def test_precision_recall_function_matches_sklearn_in_feedback_and_grading():
    assert check("eval-precision-recall", sklearn_counts).passed
    assert check("eval-precision-recall", lambda *c: list(np.float32(sklearn_counts(*c)))).passed
    graded = grade("eval-precision-recall", sklearn_counts)
    assert graded["status"] == "pass" and graded["points"] == 1
    rng = np.random.default_rng(0)
    for tp, fp, fn in [(5, 0, 3), (5, 3, 0), *rng.integers(1, 300, (20, 3)).tolist()]:
        assert np.allclose(
            ev.precision_recall_f1_from_counts(tp, fp, fn), sklearn_counts(tp, fp, fn)
        )


def test_precision_recall_mistakes_get_hints():
    def mistake(which):
        def func(tp, fp, fn):
            p, r, f = sklearn_counts(tp, fp, fn)
            return {
                "swapped": (r, p, f),
                "arithmetic": (p, r, (p + r) / 2),
                "over_fp": (tp / fp, r, f),
                "over_fn": (p, tp / fn, f),
                "off": (p, r + 0.05, f),
            }[which]

        return func

    assert "swapped" in check("eval-precision-recall", mistake("swapped")).message
    assert "harmonic" in check("eval-precision-recall", mistake("arithmetic")).message
    assert "tp + fp" in check("eval-precision-recall", mistake("over_fp")).message
    assert "tp + fn" in check("eval-precision-recall", mistake("over_fn")).message
    assert check("eval-precision-recall", mistake("off")).status == "fail"
    assert "tuple of 3" in check("eval-precision-recall", lambda *c: c[:2]).message
    assert check("eval-precision-recall", None).status == "not attempted"
    assert check("eval-precision-recall", lambda tp, fp, fn: None).status == "not attempted"
    assert grade("eval-precision-recall", mistake("arithmetic"))["points"] == 0


def test_precision_recall_as_a_literal_fails_feedback_and_grading():
    literal = sklearn_counts(*ev.COUNTS)
    plain = check("eval-precision-recall", literal)
    assert plain.status == "fail" and "function" in plain.message
    assert grade("eval-precision-recall", literal)["points"] == 0
    constant = grade("eval-precision-recall", lambda tp, fp, fn: literal)
    assert constant["status"] == "fail" and constant["points"] == 0


def dummy_baseline(labels):
    """Oracle: scikit-learn's most-frequent DummyClassifier, scored by scikit-learn."""
    x = np.zeros((len(labels), 1))
    pred = DummyClassifier(strategy="most_frequent").fit(x, labels).predict(x)
    accuracy = skm.accuracy_score(labels, pred)
    return accuracy, skm.f1_score(labels, pred, average="macro", zero_division=0)


def test_majority_baseline_function_matches_sklearn_in_feedback_and_grading():
    assert check("eval-majority-baseline", dummy_baseline).passed
    graded = grade("eval-majority-baseline", dummy_baseline)
    assert graded["status"] == "pass" and graded["points"] == 1
    rng = np.random.default_rng(1)
    for k in (2, 3, 7, 10):
        labels = rng.integers(0, k, 200) * rng.integers(0, 2, 200)  # class 0 on top, skewed
        assert np.allclose(ev.majority_baseline(labels), dummy_baseline(labels))
    tied = np.array([0, 1, 1, 2, 2, 3])
    assert np.allclose(ev.majority_baseline(tied), dummy_baseline(tied))


def test_majority_baseline_averages_are_told_apart_and_a_literal_fails_grading():
    def averaged(how):
        def func(labels):
            x = np.zeros((len(labels), 1))
            pred = DummyClassifier(strategy="most_frequent").fit(x, labels).predict(x)
            f1 = skm.f1_score(labels, pred, average=how, zero_division=0)
            return skm.accuracy_score(labels, pred), f1

        return func

    assert "weighted" in check("eval-majority-baseline", averaged("weighted")).message
    macro_recall = check("eval-majority-baseline", lambda y: (dummy_baseline(y)[0], 0.5))
    assert "macro recall" in macro_recall.message
    assert "accuracy" in check("eval-majority-baseline", lambda y: (0.5, 0.5)).message

    def over_two_classes(labels):  # right on the chapter's two classes only
        accuracy, macro = dummy_baseline(labels)
        return accuracy, macro * len(set(labels.tolist())) / 2

    assert check("eval-majority-baseline", over_two_classes).passed
    assert grade("eval-majority-baseline", over_two_classes)["points"] == 0  # 3+ classes drawn
    literal = dummy_baseline(np.array([0] * ev.MAJORITY + [1] * ev.MINORITY))
    plain = check("eval-majority-baseline", literal)
    assert plain.status == "fail" and "function" in plain.message
    assert grade("eval-majority-baseline", literal)["points"] == 0
    assert grade("eval-majority-baseline", lambda labels: literal)["points"] == 0
    assert check("eval-majority-baseline", lambda labels: "0.95").status == "fail"
    assert check("eval-majority-baseline", ...).status == "not attempted"


def torchvision_iou(a, b):
    """Oracle: torchvision.ops.box_iou on one pair."""
    boxes = torch.tensor([a, b], dtype=torch.float64)
    return torchvision.ops.box_iou(boxes[:1], boxes[1:])[0, 0].item()


def test_box_iou_function_matches_torchvision_in_feedback_and_grading():
    assert check("eval-box-iou", torchvision_iou).passed
    graded = grade("eval-box-iou", torchvision_iou)
    assert graded["status"] == "pass" and graded["points"] == 1
    for a, b in [(ev.BOX_A, ev.BOX_B), *ev.SHAPED_BOXES]:
        assert ev.iou(a, b) == pytest.approx(torchvision_iou(a, b), abs=1e-12)
    apart = [(a, b) for a, b in ev.SHAPED_BOXES if a[2] < b[0] and a[3] < b[1]]
    touching = [(a, b) for a, b in ev.SHAPED_BOXES if a[2] == b[0]]
    nested = [
        (a, b)
        for a, b in ev.SHAPED_BOXES
        if a[0] <= b[0] and a[1] <= b[1] and b[2] <= a[2] and b[3] <= a[3]
    ]
    assert apart and touching and nested


def test_box_iou_mistakes_get_hints_and_a_literal_fails_grading():
    def sides(a, b, *, clamp="each", plus=0):
        w = min(a[2], b[2]) - max(a[0], b[0]) + plus
        h = min(a[3], b[3]) - max(a[1], b[1]) + plus
        overlap = {"each": max(0, w) * max(0, h), "product": max(0, w * h), "none": w * h}[clamp]
        area_a = (a[2] - a[0] + plus) * (a[3] - a[1] + plus)
        area_b = (b[2] - b[0] + plus) * (b[3] - b[1] + plus)
        return overlap, area_a, area_b

    def union_without_subtracting(a, b):
        overlap, area_a, area_b = sides(a, b)
        return overlap / (area_a + area_b)

    def over_smaller(a, b):
        overlap, area_a, area_b = sides(a, b)
        return overlap / min(area_a, area_b)

    def iou_with(**how):
        def func(a, b):
            overlap, area_a, area_b = sides(a, b, **how)
            return overlap / (area_a + area_b - overlap)

        return func

    assert check("eval-box-iou", iou_with()).passed
    assert "subtract" in check("eval-box-iou", union_without_subtracting).message
    assert "smaller box" in check("eval-box-iou", over_smaller).message
    for clamp in ("none", "product"):  # right on the chapter's pair, wrong on boxes apart
        unclamped = check("eval-box-iou", iou_with(clamp=clamp))
        assert "clamp" in unclamped.message
        assert grade("eval-box-iou", iou_with(clamp=clamp))["points"] == 0
    assert "+ 1" in check("eval-box-iou", iou_with(plus=1)).message
    assert check("eval-box-iou", lambda a, b: 0.5).status == "fail"
    assert "float" in check("eval-box-iou", lambda a, b: "1/6").message
    assert check("eval-box-iou", None).status == "not attempted"
    oracle = box_iou([ev.BOX_A], [ev.BOX_B])[0, 0]
    plain = check("eval-box-iou", oracle)
    assert plain.status == "fail" and "function" in plain.message
    assert grade("eval-box-iou", oracle)["points"] == 0
    assert grade("eval-box-iou", lambda a, b: oracle)["points"] == 0


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
