"""Checks of the chapter "Evaluating a classifier" (``book/evaluation.md``).

Expected values are computed from the problems the exercises pose (the counts and
boxes below), not stored, so they follow the chapter if it changes.
"""

from __future__ import annotations

from cnncourse.exercises.answers import (
    NotAttempted,
    WrongType,
    as_callable,
    as_float,
    compare_float,
    describe,
)
from cnncourse.exercises.registry import chapter_value, exercise, grading

CHAPTER = "evaluation"

# eval-precision-recall: a shirt detector flags 120 images, 90 of them shirts; 100 shirts in all.
FLAGGED, FLAGGED_RIGHT, POSITIVES = 120, 90, 100
# eval-majority-baseline: 950 sneakers and 50 sandals; the model always says "sneaker".
MAJORITY, MINORITY = 950, 50
# eval-box-iou: two boxes as (x1, y1, x2, y2) corners.
BOX_A, BOX_B = (2, 2, 10, 8), (6, 4, 14, 12)
# eval-average-precision: one class; the student's matcher against COCO's evaluator.
_GT = [[0, 0, 10, 10], [20, 20, 30, 30], [40, 0, 60, 20]]
# eval-threshold-precision and eval-bce-logits: the seed of the feedback's problems
# (grading draws its own).
FEEDBACK_SEED = 22


def f1(precision: float, recall: float) -> float:
    """The harmonic mean of precision and recall (0 when both are 0)."""
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _as_floats(answer, n: int, what: str) -> tuple[float, ...]:
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "__iter__"):
        raise WrongType(f"expected {what}, a tuple of {n} numbers, got {describe(answer)}.")
    values = tuple(as_float(v, "each value") for v in answer)
    if len(values) != n:
        raise WrongType(f"expected {what}, a tuple of {n} numbers, got {len(values)} of them.")
    return values


@exercise("eval-precision-recall", chapter=CHAPTER, points=1)
def _precision_recall(answer) -> str | None:
    precision, recall, f1_score = _as_floats(answer, 3, "(precision, recall, f1)")
    tp = FLAGGED_RIGHT
    fp, fn = FLAGGED - tp, POSITIVES - tp
    want_p, want_r = tp / (tp + fp), tp / (tp + fn)
    if (
        abs(precision - want_r) < 1e-6
        and abs(recall - want_p) < 1e-6
        and abs(want_p - want_r) > 1e-6
    ):
        return (
            "precision and recall are swapped: precision asks how many of the flagged "
            "images are shirts, recall how many of the shirts were flagged."
        )
    hint = compare_float(
        precision,
        want_p,
        rtol=1e-3,
        known_mistakes=[(tp / 1000, "precision divides by the flagged images, not by all.")],
    )
    if hint is not None:
        return f"precision: {hint}"
    hint = compare_float(recall, want_r, rtol=1e-3)
    if hint is not None:
        return f"recall: {hint} Which images could the detector have found?"
    return compare_float(
        f1_score,
        f1(want_p, want_r),
        rtol=1e-3,
        known_mistakes=[
            (
                (want_p + want_r) / 2,
                "F1 is the harmonic mean of precision and recall, not the arithmetic one.",
            )
        ],
    )


@exercise("eval-majority-baseline", chapter=CHAPTER, points=1)
def _majority_baseline(answer) -> str | None:
    accuracy, macro_f1 = _as_floats(answer, 2, "(accuracy, macro_f1)")
    total = MAJORITY + MINORITY
    hint = compare_float(accuracy, MAJORITY / total, rtol=1e-3)
    if hint is not None:
        return f"accuracy: {hint} Count the images it gets right."
    f1_majority = f1(MAJORITY / total, 1.0)  # precision: all predictions; recall: all found
    expected = (f1_majority + 0.0) / 2  # the minority class is never predicted: F1 = 0
    return compare_float(
        macro_f1,
        expected,
        rtol=1e-3,
        known_mistakes=[
            (
                f1_majority * MAJORITY / total,
                "that is the weighted average; macro gives each class the same weight.",
            ),
            (f1_majority, "that is the F1 of the sneakers alone; average over both classes."),
            (0.5, "0.5 is the macro recall; compute each class's F1 first."),
        ],
    )


@exercise("eval-box-iou", chapter=CHAPTER, points=1)
def _box_iou(answer) -> str | None:
    got = as_float(answer, "an IoU")
    ax1, ay1, ax2, ay2 = BOX_A
    bx1, by1, bx2, by2 = BOX_B
    width = max(0, min(ax2, bx2) - max(ax1, bx1))
    height = max(0, min(ay2, by2) - max(ay1, by1))
    inter = width * height
    area_a, area_b = (ax2 - ax1) * (ay2 - ay1), (bx2 - bx1) * (by2 - by1)
    return compare_float(
        got,
        inter / (area_a + area_b - inter),
        rtol=1e-3,
        known_mistakes=[
            (inter / (area_a + area_b), "the union counts the overlap once: subtract it."),
            (inter / min(area_a, area_b), "divide by the union, not by the smaller box."),
            (inter / max(area_a, area_b), "divide by the union, not by the larger box."),
        ],
    )


def _confusion_cases():
    """Label pairs of several sizes, one with a class that is never predicted."""
    import numpy as np

    rng = np.random.default_rng(10)
    cases = []
    for k, n in ((2, 40), (3, 60), (5, 200)):
        y_true = rng.integers(0, k, n)
        y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k, n))
        cases.append((k, y_true, y_pred))
    y_true = rng.integers(0, 4, 80)
    y_pred = np.where(y_true == 3, 0, y_true)  # class 3 is never predicted
    cases.append((4, y_true, y_pred))
    return cases


@exercise("eval-from-confusion", name="precision_recall", chapter=CHAPTER, points=2)
def _from_confusion(answer) -> str | None:
    import numpy as np
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    func = as_callable(answer, "the function precision_recall")
    outputs = []
    for k, y_true, y_pred in _confusion_cases():
        cm = confusion_matrix(y_true, y_pred, labels=np.arange(k))
        try:
            got = func(cm.copy())
        except NotImplementedError as err:
            raise NotAttempted("the function still raises NotImplementedError.") from err
        except Exception as err:
            return f"on a {k}x{k} matrix your function raised {type(err).__name__}: {err}"
        p, r, _, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=np.arange(k), zero_division=0
        )
        outputs.append((k, got, p, r))
    if all(got is None or got is Ellipsis for _, got, _, _ in outputs):
        raise NotAttempted("the function returns None: return (precision, recall).")
    for k, got, p, r in outputs:
        try:
            precision, recall = (np.asarray(v, dtype=float) for v in got)
        except (TypeError, ValueError):
            return (
                f"on a {k}x{k} matrix it returned {describe(got)}; return two arrays, "
                "(precision, recall), each of shape (K,)."
            )
        if precision.shape != (k,) or recall.shape != (k,):
            return f"on a {k}x{k} matrix the arrays have shapes {precision.shape} and {recall.shape}; both should be ({k},)."
        if np.isnan(precision).any() or np.isnan(recall).any():
            return (
                "some values are NaN: a class that is never predicted has no column total. "
                "Give it precision 0, as scikit-learn does with zero_division=0."
            )
        if np.allclose(precision, r) and np.allclose(recall, p) and not np.allclose(p, r):
            return (
                "precision and recall are swapped. Rows are the true classes, columns the "
                "predicted ones: which total does each metric divide by?"
            )
        if not np.allclose(precision, p, atol=1e-9):
            return f"on a {k}x{k} matrix the precision is wrong (the recall is {'right' if np.allclose(recall, r) else 'wrong too'})."
        if not np.allclose(recall, r, atol=1e-9):
            return f"on a {k}x{k} matrix the precision is right but the recall is wrong."
    return None


def _detections(boxes, scores) -> dict:
    import numpy as np

    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    return {
        "boxes": boxes,
        "scores": np.asarray(scores, float),
        "labels": np.zeros(len(boxes), int),
    }


def _truth(boxes) -> dict:
    import numpy as np

    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    return {"boxes": boxes, "labels": np.zeros(len(boxes), int)}


def _ap_cases() -> list[tuple[str, list, list, float]]:
    """Named one-class problems ``(what, preds, targets, iou_threshold)``, each testing
    one rule of the matching: duplicates, the threshold, ranking across images."""
    import numpy as np

    cases = [
        ("every true box found once", [_detections(_GT, [0.9, 0.8, 0.7])], [_truth(_GT)], 0.5),
        (
            "a duplicate of a box already found",
            [_detections([_GT[0], _GT[0], [20, 20, 30, 28]], [0.9, 0.8, 0.7])],
            [_truth(_GT[:2])],
            0.5,
        ),
        (
            "a detection that overlaps too little (IoU 0.5 at threshold 0.75)",
            [_detections([[0, 0, 10, 5], _GT[1]], [0.9, 0.6])],
            [_truth(_GT[:2])],
            0.75,
        ),
        (
            "detections of two images ranked together",
            [_detections([_GT[0], [50, 50, 60, 60]], [0.9, 0.5]), _detections([_GT[1]], [0.7])],
            [_truth(_GT[:1]), _truth(_GT[1:])],
            0.5,
        ),
    ]
    rng = np.random.default_rng(17)
    for threshold in (0.5, 0.7):  # jittered copies, duplicates and misses over five images
        preds, targets = [], []
        for _ in range(5):
            truth = rng.uniform(0, 60, (3, 2)).repeat(2, axis=1)[:, [0, 2, 1, 3]]
            truth[:, 2:] += rng.uniform(8, 20, (3, 2))
            picked = truth[rng.integers(0, 3, 4)] + rng.normal(0, 2.5, (4, 4))
            picked[:, 2:] = np.maximum(picked[:, 2:], picked[:, :2] + 1)
            preds.append(_detections(picked, rng.uniform(0, 1, 4)))
            targets.append(_truth(truth))
        cases.append(
            (f"random boxes over five images, threshold {threshold}", preds, targets, threshold)
        )
    return cases


@exercise("eval-average-precision", name="average_precision", chapter=CHAPTER, points=3)
def _average_precision(answer) -> str | None:
    from cnncourse.metrics import mean_average_precision

    func = as_callable(answer, "the function average_precision")
    results = []
    for what, preds, targets, threshold in _ap_cases():
        try:
            got = func(preds, targets, threshold)
        except NotImplementedError as err:
            raise NotAttempted("the function still raises NotImplementedError.") from err
        except Exception as err:
            return f"on {what} your function raised {type(err).__name__}: {err}"
        results.append((what, got, preds, targets, threshold))
    if all(got is None or got is Ellipsis for _, got, *_ in results):
        raise NotAttempted("the function returns None: return the AP, a float.")
    for what, got, preds, targets, threshold in results:
        expected = mean_average_precision(preds, targets, iou_thresholds=(threshold,))["map"]
        try:
            hint = compare_float(as_float(got, "the AP"), expected, rtol=1e-4, atol=1e-4)
        except WrongType as err:
            return f"on {what}: {err}"
        if hint is not None:
            return f"on {what} (COCO's evaluator gives {expected:.4f}): {hint}"
    return None


def _score_problems(rng) -> list[tuple[object, object, float]]:
    """``(scores, labels, precision)`` problems of several sizes: overlapping positives and
    negatives, one with tied scores, each with a target some threshold reaches."""
    import numpy as np

    # ranked labels 1 1 0 0 1 1 1 1 0 ...: precision dips to 1/2 and climbs back to 3/4
    dip = np.array([1, 1, 0, 0, 1, 1, 1, 1] + [0] * 12 + [1] * 2 + [0] * 6)
    problems = [(np.linspace(0.95, 0.05, len(dip)), dip, 0.7)]
    for n, positives, separation, target, decimals in (
        (60, 0.3, 1.0, 0.8, None),
        (400, 0.1, 1.5, 0.7, None),
        (1000, 0.2, 1.0, 0.75, None),
        (300, 0.25, 1.2, 0.8, 1),  # scores rounded to one decimal: ties
    ):
        labels = (rng.random(n) < positives).astype(int)
        labels[0] = 1  # a positive on top: precision 1 is always reachable
        logits = rng.normal(size=n) + separation * labels
        logits[0] = logits.max() + 1.0
        scores = 1 / (1 + np.exp(-logits))
        if decimals is not None:  # ties, with the top positive alone above them
            scores = np.round(scores * 0.9, decimals)
            scores[0] = 1.0
        problems.append((scores, labels, float(target + rng.uniform(-0.05, 0.05))))
    return problems


def lowest_threshold_for_precision(scores, labels, precision: float) -> float:
    """The oracle: the lowest score ``t`` at which ``scores >= t`` has this precision."""
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    curve_precision, _, thresholds = precision_recall_curve(labels, scores)
    return float(thresholds[np.flatnonzero(curve_precision[:-1] >= precision)].min())


def _judge_threshold(answer, rng) -> str | None:
    import numpy as np

    func = as_callable(answer, "the function threshold_for_precision")
    results = []
    for scores, labels, target in _score_problems(rng):
        try:
            got = func(scores.copy(), labels.copy(), target)
        except NotImplementedError as err:
            raise NotAttempted("the function still raises NotImplementedError.") from err
        except Exception as err:
            return f"on {len(scores)} scores your function raised {type(err).__name__}: {err}"
        results.append((scores, labels, target, got))
    if all(got is None or got is Ellipsis for *_, got in results):
        raise NotAttempted("the function returns None: return the threshold, a float.")
    for scores, labels, target, got in results:
        where = f"on {len(scores)} scores with target precision {target:.3f}"
        try:
            threshold = as_float(got, "a threshold")
        except WrongType as err:
            return f"{where}: {err}"
        flagged = scores >= threshold
        expected = scores >= lowest_threshold_for_precision(scores, labels, target)
        if np.array_equal(flagged, expected):
            continue
        found = int((flagged & (labels == 1)).sum())
        reached = found / flagged.sum() if flagged.any() else 0.0
        if reached < target:
            return (
                f"{where}: predicting scores >= your threshold gives precision "
                f"{reached:.3f}, below the target. Is the comparison >=, as the exercise says?"
            )
        return (
            f"{where}: your threshold reaches the precision, but a lower one reaches it too "
            "and finds more positives. Precision does not fall steadily as the threshold "
            "drops: look at every threshold, not only until the first one that misses."
        )
    return None


@exercise("eval-threshold-precision", name="threshold_for_precision", chapter=CHAPTER, points=2)
def _threshold_for_precision(answer) -> str | None:
    import numpy as np

    return _judge_threshold(answer, np.random.default_rng(FEEDBACK_SEED))


@grading("eval-threshold-precision")
def _threshold_for_precision_graded(answer) -> str | None:
    """Scores and labels drawn at grading time."""
    import numpy as np

    return _judge_threshold(answer, np.random.default_rng())


def _logit_problems(rng) -> list[tuple[object, object]]:
    """``(logits, targets)`` pairs: moderate logits, then logits so large that a sigmoid
    rounds to exactly 0 or 1."""
    problems = []
    for n, scale in ((8, 2.0), (200, 5.0), (50, 120.0)):
        logits = rng.normal(0.0, scale, n)
        targets = (rng.random(n) < 0.5).astype(float)
        problems.append((logits, targets))
    return problems


def _judge_bce(answer, rng) -> str | None:
    import math

    import torch

    func = as_callable(answer, "the function bce_with_logits")
    results = []
    for logits, targets in _logit_problems(rng):
        try:
            got = func(logits.copy(), targets.copy())
        except NotImplementedError as err:
            raise NotAttempted("the function still raises NotImplementedError.") from err
        except Exception as err:
            return f"on {len(logits)} logits your function raised {type(err).__name__}: {err}"
        results.append((logits, targets, got))
    if all(got is None or got is Ellipsis for *_, got in results):
        raise NotAttempted("the function returns None: return the mean loss, a float.")
    for logits, targets, got in results:
        where = f"on {len(logits)} logits (largest |z| {abs(logits).max():.0f})"
        try:
            loss = as_float(got, "the mean loss")
        except WrongType as err:
            return f"{where}: {err}"
        expected = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.from_numpy(logits), torch.from_numpy(targets)
        ).item()
        clipped = torch.sigmoid(torch.from_numpy(logits)).clamp(1e-7, 1 - 1e-7)
        clipped_loss = torch.nn.functional.binary_cross_entropy(
            clipped, torch.from_numpy(targets)
        ).item()
        if not math.isfinite(loss):
            return (
                f"{where} the loss is {loss}: for a large |z| the sigmoid rounds to exactly 0 "
                "or 1 and its log is -inf. Write log(sigmoid(z)) as -log(1 + exp(-z)) and "
                "compute that without overflow (np.logaddexp(0, -z))."
            )
        hint = compare_float(
            loss,
            expected,
            rtol=1e-6,
            atol=1e-9,
            known_mistakes=[
                (expected * len(logits), "that is the sum over the examples; take the mean."),
                (-expected, "the sign is flipped: the loss is minus the log-likelihood."),
                (
                    clipped_loss,
                    "clipping the probability caps the loss of a confident mistake; compute "
                    "the log of the sigmoid from the logit itself, without clipping.",
                ),
            ],
        )
        if hint is not None:
            return f"{where}: {hint}"
    return None


@exercise("eval-bce-logits", name="bce_with_logits", chapter=CHAPTER, points=2)
def _bce_with_logits(answer) -> str | None:
    import numpy as np

    return _judge_bce(answer, np.random.default_rng(FEEDBACK_SEED))


@grading("eval-bce-logits")
def _bce_with_logits_graded(answer) -> str | None:
    """Logits and targets drawn at grading time."""
    import numpy as np

    return _judge_bce(answer, np.random.default_rng())


# eval-merge-tops (experiment): the chapter's test predictions re-scored with the four
# upper-body classes merged into one.
TOPS = ("T-shirt/top", "Pullover", "Coat", "Shirt")


def merged_accuracy(y_true, y_pred, class_names, merged=TOPS) -> float:
    """Accuracy once every class named in ``merged`` counts as one class."""
    import numpy as np

    ids = [list(class_names).index(name) for name in merged]

    def merge(labels):
        labels = np.asarray(labels)
        return np.where(np.isin(labels, ids), ids[0], labels)

    return float(np.mean(merge(y_true) == merge(y_pred)))


@exercise(
    "eval-merge-tops",
    name="eval_merged_accuracy",
    chapter=CHAPTER,
    points=2,
    uses=("y_true", "y_pred", "CLASS_NAMES"),
)
def _merge_tops(answer) -> str | None:
    import numpy as np

    got = as_float(answer, "an accuracy between 0 and 1")
    y_true, y_pred = np.asarray(chapter_value("y_true")), np.asarray(chapter_value("y_pred"))
    names = chapter_value("CLASS_NAMES")
    expected = merged_accuracy(y_true, y_pred, names)
    ids = [list(names).index(name) for name in TOPS]
    only_pred = float(np.mean(np.where(np.isin(y_pred, ids), ids[0], y_pred) == y_true))
    return compare_float(
        got,
        expected,
        rtol=0.0,
        atol=5e-4,  # the same labels, relabelled: only rounding to 3 decimals differs
        known_mistakes=[
            (
                float(np.mean(y_true == y_pred)),
                "that is the accuracy of the ten classes; merge the four tops first.",
            ),
            (
                only_pred,
                "merge the true labels as well as the predictions: a shirt is then a top "
                "on both sides.",
            ),
            (
                merged_accuracy(y_true, y_pred, names, (*TOPS, "Dress")),
                "merge the four upper-body classes only; the dress stays a class of its own.",
            ),
            (1 - expected, "that is the error rate; the exercise asks for the accuracy."),
        ],
    )
