"""Checks of the chapter "Evaluating a classifier" (``book/evaluation.md``).

Expected values are computed from the problems the exercises pose (the counts and
boxes below), not stored, so they follow the chapter if it changes.
"""

from __future__ import annotations

import math
import random

from cnncourse.exercises.answers import (
    NotAttempted,
    WrongType,
    as_callable,
    as_float,
    check_function,
    compare_float,
    describe,
    drawn_cases,
    judged_by,
    needs_function,
    own_arguments,
    value_of_case,
)
from cnncourse.exercises.registry import chapter_value, exercise, grading

CHAPTER = "evaluation"

# eval-precision-recall: a shirt detector flags 120 images, 90 of them shirts; 100 shirts in all.
FLAGGED, FLAGGED_RIGHT, POSITIVES = 120, 90, 100
COUNTS = (FLAGGED_RIGHT, FLAGGED - FLAGGED_RIGHT, POSITIVES - FLAGGED_RIGHT)  # (tp, fp, fn)
# eval-majority-baseline: 950 sneakers (class 0) and 50 sandals (class 1).
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


def precision_recall_f1_from_counts(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """``(precision, recall, f1)`` from the true positives, false positives, false negatives."""
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return precision, recall, f1(precision, recall)


def _counts_hint(answer, tp: int, fp: int, fn: int) -> str | None:
    precision, recall, f1_score = _as_floats(answer, 3, "(precision, recall, f1)")
    want_p, want_r, want_f = precision_recall_f1_from_counts(tp, fp, fn)
    if (
        math.isclose(precision, want_r, rel_tol=1e-6)
        and math.isclose(recall, want_p, rel_tol=1e-6)
        and not math.isclose(want_p, want_r, rel_tol=1e-6)
    ):
        return (
            "precision and recall are swapped: precision asks how many of the flagged "
            "images are positives, recall how many of the positives were flagged."
        )
    jaccard = (tp / (tp + fp + fn), "dividing by tp + fp + fn counts the misses too.")
    hint = compare_float(
        precision,
        want_p,
        rtol=1e-6,
        known_mistakes=[
            *([(tp / fp, "precision divides by all flagged images: tp + fp.")] if fp else []),
            jaccard,
        ],
    )
    if hint is not None:
        return f"precision: {hint}"
    hint = compare_float(
        recall,
        want_r,
        rtol=1e-6,
        known_mistakes=[
            *(
                [(tp / fn, "recall divides by all positives, found or missed: tp + fn.")]
                if fn
                else []
            ),
            jaccard,
        ],
    )
    if hint is not None:
        return f"recall: {hint} Which images could the detector have found?"
    hint = compare_float(
        f1_score,
        want_f,
        rtol=1e-6,
        known_mistakes=[
            (
                (want_p + want_r) / 2,
                "F1 is the harmonic mean of precision and recall, not the arithmetic one.",
            )
        ],
    )
    return None if hint is None else f"f1: {hint}"


PRF_NAME, PRF_SIGNATURE = (
    "precision_recall_f1_from_counts",
    "precision_recall_f1_from_counts(tp, fp, fn)",
)


@exercise("eval-precision-recall", name=PRF_NAME, chapter=CHAPTER, points=1)
def _precision_recall(answer) -> str | None:
    hint = _counts_hint(value_of_case(answer, COUNTS, PRF_NAME), *COUNTS)
    return needs_function(answer, hint, PRF_SIGNATURE)


@grading("eval-precision-recall")
def _precision_recall_graded(answer) -> str | None:
    """Counts drawn at grading time, one without false positives, one without misses."""

    def draw(rng: random.Random) -> tuple[int, int, int]:
        return rng.randint(1, 1000), rng.randint(1, 1000), rng.randint(1, 1000)

    def perfect_precision(rng: random.Random) -> tuple[int, int, int]:
        return rng.randint(1, 1000), 0, rng.randint(1, 1000)

    def perfect_recall(rng: random.Random) -> tuple[int, int, int]:
        return rng.randint(1, 1000), rng.randint(1, 1000), 0

    cases = [
        *drawn_cases(draw, own_arguments, 4),
        *drawn_cases(perfect_precision, own_arguments, 1),
        *drawn_cases(perfect_recall, own_arguments, 1),
    ]
    func = as_callable(answer, f"the function {PRF_SIGNATURE}")
    return check_function(func, cases, compare=judged_by(_counts_hint), name=PRF_NAME)


def majority_baseline(labels) -> tuple[float, float]:
    """``(accuracy, macro_f1)`` of always answering the most frequent label (the macro
    average over the labels that occur; a class never predicted has F1 0)."""
    import numpy as np

    _, counts = np.unique(np.asarray(labels), return_counts=True)
    accuracy = counts.max() / counts.sum()
    return float(accuracy), f1(float(accuracy), 1.0) / len(counts)


def _majority_hint(answer, labels) -> str | None:
    import numpy as np

    accuracy, macro_f1 = _as_floats(answer, 2, "(accuracy, macro_f1)")
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    want_accuracy, want_macro = majority_baseline(labels)
    hint = compare_float(
        accuracy,
        want_accuracy,
        rtol=1e-6,
        known_mistakes=[
            (counts.min() / counts.sum(), "that is always answering the rarest class."),
            (1 / len(counts), "that is guessing each class equally often."),
        ],
    )
    if hint is not None:
        return f"accuracy: {hint} Count the images that the most frequent answer gets right."
    f1_majority = f1(want_accuracy, 1.0)  # precision: its share of all answers; recall: 1
    hint = compare_float(
        macro_f1,
        want_macro,
        rtol=1e-6,
        known_mistakes=[
            (
                f1_majority * want_accuracy,
                "that is the weighted average; macro gives each class the same weight.",
            ),
            (f1_majority, "that is the F1 of the most frequent class alone; average over all."),
            (1 / len(counts), "that is the macro recall; compute each class's F1 first."),
        ],
    )
    return None if hint is None else f"macro_f1: {hint}"


@exercise("eval-majority-baseline", name="majority_baseline", chapter=CHAPTER, points=1)
def _majority_baseline(answer) -> str | None:
    import numpy as np

    labels = np.array([0] * MAJORITY + [1] * MINORITY)
    hint = _majority_hint(value_of_case(answer, (labels.copy(),), "majority_baseline"), labels)
    return needs_function(answer, hint, "majority_baseline(labels)")


def _draw_labels(rng: random.Random, counts: list[int]):
    """Shuffled labels ``0..K-1`` with these counts."""
    import numpy as np

    labels = [k for k, count in enumerate(counts) for _ in range(count)]
    rng.shuffle(labels)
    return (np.array(labels),)


@grading("eval-majority-baseline")
def _majority_baseline_graded(answer) -> str | None:
    """Label sets drawn at grading time: 2 to 10 classes, skewed, one with a tie on top."""

    def skewed(rng: random.Random):
        k = rng.randint(2, 10)
        return _draw_labels(rng, [rng.randint(1, 60) * rng.choice((1, 1, 8)) for _ in range(k)])

    def tied(rng: random.Random):
        top, k = rng.randint(20, 80), rng.randint(3, 6)
        return _draw_labels(rng, [top, top] + [rng.randint(1, top - 1) for _ in range(k - 2)])

    cases = [*drawn_cases(skewed, own_arguments, 5), *drawn_cases(tied, own_arguments, 1)]
    func = as_callable(answer, "the function majority_baseline(labels)")
    return check_function(func, cases, compare=judged_by(_majority_hint), name="majority_baseline")


def iou(a, b) -> float:
    """The IoU of two ``(x1, y1, x2, y2)`` boxes."""
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / (_area(a) + _area(b) - inter)


def _area(box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _iou_hint(answer, a, b) -> str | None:
    got = as_float(answer, "an IoU")
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0, width) * max(0, height)
    area_a, area_b = _area(a), _area(b)
    mistakes = [
        (inter / (area_a + area_b), "the union counts the overlap once: subtract it."),
        (inter / min(area_a, area_b), "divide by the union, not by the smaller box."),
        (inter / max(area_a, area_b), "divide by the union, not by the larger box."),
        (
            width * height / (area_a + area_b - width * height),
            "where boxes do not overlap, clamp the overlap's width and its height at 0, "
            "each of them: two negative sides make a positive area.",
        ),
    ]
    plus_one = [max(0, side + 1) for side in (width, height)]
    areas_plus_one = [(box[2] - box[0] + 1) * (box[3] - box[1] + 1) for box in (a, b)]
    inter_plus_one = plus_one[0] * plus_one[1]
    mistakes.append(
        (
            inter_plus_one / (sum(areas_plus_one) - inter_plus_one),
            "the corners are coordinates, not pixel indices: a width is x2 - x1, without + 1.",
        )
    )
    return compare_float(got, iou(a, b), rtol=1e-6, known_mistakes=mistakes)


# Boxes the feedback tries after the chapter's pair: apart on both axes, side by side, touching
# along an edge, one inside the other.
SHAPED_BOXES = [
    ((0, 0, 4, 4), (6, 7, 9, 12)),
    ((0, 0, 4, 6), (5, 2, 9, 8)),
    ((1, 1, 5, 5), (5, 2, 8, 4)),
    ((0, 0, 12, 10), (3, 2, 7, 6)),
]


@exercise("eval-box-iou", name="box_iou", chapter=CHAPTER, points=1)
def _box_iou(answer) -> str | None:
    hint = _iou_hint(value_of_case(answer, (BOX_A, BOX_B), "box_iou"), BOX_A, BOX_B)
    if hint is None and callable(answer):
        cases = [(boxes, boxes) for boxes in SHAPED_BOXES]
        hint = check_function(answer, cases, compare=judged_by(_iou_hint), name="box_iou")
    return needs_function(answer, hint, "box_iou(a, b)")


def _box(rng: random.Random, x: float, y: float) -> tuple[float, float, float, float]:
    """A box with its top-left corner at ``(x, y)`` and sides of 1 to 20."""
    return (x, y, x + rng.randint(1, 20), y + rng.randint(1, 20))


@grading("eval-box-iou")
def _box_iou_graded(answer) -> str | None:
    """Boxes drawn at grading time: overlapping, apart, touching, nested, fractional."""

    def overlapping(rng: random.Random):
        a = _box(rng, rng.randint(0, 50), rng.randint(0, 50))
        return a, _box(rng, rng.randint(a[0] - 5, a[2] - 1), rng.randint(a[1] - 5, a[3] - 1))

    def apart(rng: random.Random):
        a = _box(rng, rng.randint(0, 50), rng.randint(0, 50))
        return a, _box(rng, a[2] + rng.randint(1, 9), a[3] + rng.randint(1, 9))

    def touching(rng: random.Random):
        a = _box(rng, rng.randint(0, 50), rng.randint(0, 50))
        return a, _box(rng, a[2], rng.randint(a[1], a[3] - 1))

    def nested(rng: random.Random):
        x1, y1 = rng.randint(0, 50), rng.randint(0, 50)
        outer = (x1, y1, x1 + rng.randint(4, 30), y1 + rng.randint(4, 30))
        inner_x, inner_y = rng.randint(x1 + 1, outer[2] - 2), rng.randint(y1 + 1, outer[3] - 2)
        inner = (
            inner_x,
            inner_y,
            rng.randint(inner_x + 1, outer[2]),
            rng.randint(inner_y + 1, outer[3]),
        )
        return (inner, outer) if rng.random() < 0.5 else (outer, inner)

    def fractional(rng: random.Random):
        x, y = round(rng.uniform(0, 50), 2), round(rng.uniform(0, 50), 2)
        a = (x, y, x + round(rng.uniform(0.5, 20), 2), y + round(rng.uniform(0.5, 20), 2))
        bx = round(rng.uniform(a[0] - 5, a[2] - 0.1), 2)
        by = round(rng.uniform(a[1] - 5, a[3] - 0.1), 2)
        return a, (
            bx,
            by,
            bx + round(rng.uniform(0.5, 20), 2),
            by + round(rng.uniform(0.5, 20), 2),
        )

    cases = [
        *drawn_cases(overlapping, own_arguments, 2),
        *(
            case
            for kind in (apart, touching, nested, fractional)
            for case in drawn_cases(kind, own_arguments, 1)
        ),
    ]
    func = as_callable(answer, "the function box_iou(a, b)")
    return check_function(func, cases, compare=judged_by(_iou_hint), name="box_iou")


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


# eval-read-report (read): the lowest precision among the ten classes of the chapter's
# classification report.
@exercise(
    "eval-read-report",
    name="lowest_precision",
    chapter=CHAPTER,
    points=1,
    uses=("report", "CLASS_NAMES"),
)
def _read_report(answer) -> str | None:
    got = as_float(answer, "a precision between 0 and 1")
    report = chapter_value("report")
    classes = report.loc[list(chapter_value("CLASS_NAMES"))]
    return compare_float(
        got,
        float(classes["precision"].min()),
        rtol=0.0,
        atol=5e-4 + 1e-9,  # the report shows three decimals
        known_mistakes=[
            (
                float(classes.loc[classes["recall"].idxmin(), "precision"]),
                "that is the precision of the class with the lowest recall; the lowest "
                "precision belongs to another class. Read down the precision column.",
            ),
            (
                float(classes["recall"].min()),
                "that is the lowest recall; the question asks for the lowest precision.",
            ),
            (float(classes["f1"].min()), "that is the lowest F1; read the precision column."),
            (
                float(report.loc["macro avg", "precision"]),
                "that is the macro average; find the lowest of the ten classes' rows.",
            ),
            (float(classes["precision"].max()), "that is the highest precision, not the lowest."),
        ],
    )


# eval-recall-target (experiment): the chapter's threshold search for another recall target,
# recomputed from its validation and test scores.
NEW_TARGET_RECALL = 0.8


def threshold_for_recall(val_scores, val_labels, recall: float) -> float:
    """The highest validation score ``t`` at which ``scores >= t`` reaches ``recall``."""
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    _, curve_recall, thresholds = precision_recall_curve(np.asarray(val_labels), val_scores)
    return float(thresholds[curve_recall[:-1] >= recall].max())


def precision_recall_at(scores, labels, threshold: float) -> tuple[float, float]:
    """``(precision, recall)`` of calling ``scores >= threshold`` positive."""
    import numpy as np
    from sklearn.metrics import precision_score, recall_score

    labels, flagged = np.asarray(labels), np.asarray(scores) >= threshold
    return (
        float(precision_score(labels, flagged, zero_division=0)),
        float(recall_score(labels, flagged, zero_division=0)),
    )


@exercise(
    "eval-recall-target",
    name="test_precision_at_recall_80",
    chapter=CHAPTER,
    points=2,
    uses=("p_val", "shirt_val", "test_scores", "shirt_test", "TARGET_RECALL"),
)
def _recall_target(answer) -> str | None:
    import numpy as np

    got = as_float(answer, "a precision between 0 and 1")
    p_val, shirt_val = np.asarray(chapter_value("p_val")), np.asarray(chapter_value("shirt_val"))
    scores, shirts = (
        np.asarray(chapter_value("test_scores")),
        np.asarray(chapter_value("shirt_test")),
    )
    threshold = threshold_for_recall(p_val, shirt_val, NEW_TARGET_RECALL)
    precision, recall = precision_recall_at(scores, shirts, threshold)
    chapter_threshold = threshold_for_recall(p_val, shirt_val, chapter_value("TARGET_RECALL"))
    on_test = threshold_for_recall(scores, shirts, NEW_TARGET_RECALL)
    return compare_float(
        got,
        precision,
        rtol=0.0,
        atol=5e-4 + 1e-9,  # the same scores: only rounding to three decimals differs
        known_mistakes=[
            (
                precision_recall_at(scores, shirts, chapter_threshold)[0],
                "that is the chapter's threshold, chosen for a recall of "
                f"{chapter_value('TARGET_RECALL')}; search again for {NEW_TARGET_RECALL}.",
            ),
            (
                precision_recall_at(scores, shirts, on_test)[0],
                "that threshold was chosen on the test scores; choose it on the validation "
                "scores (p_val, shirt_val), then apply it to the test scores once.",
            ),
            (
                precision_recall_at(p_val, shirt_val, threshold)[0],
                "that is the precision on the validation images; apply the threshold to "
                "the test scores.",
            ),
            (recall, "that is the test recall; the question asks for the test precision."),
            (
                precision_recall_at(scores, shirts, 0.5)[0],
                "that is the default threshold 0.5; choose the threshold for the new recall.",
            ),
        ],
    )
