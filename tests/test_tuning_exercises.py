"""The new checks of "Tuning, saving and deploying": the log-uniform sampler and the
submission file pass when right and fail, with a hint, on the typical mistakes; their
grading checks draw inputs of their own."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cnncourse.exercises import check, registry
from cnncourse.exercises.checks import tuning_deploying as chapter
from cnncourse.exercises.registry import get_exercise


def log_uniform(low, high, n, rng):
    return 10 ** rng.uniform(np.log10(low), np.log10(high), size=n)


def submission(logits, path):
    labels = np.asarray(logits).argmax(axis=1)
    pd.DataFrame({"id": np.arange(len(labels)), "label": labels}).to_csv(path, index=False)


def graded(exercise_id: str, answer) -> str:
    return registry.evaluate(get_exercise(exercise_id), lambda: answer)["status"]


def test_log_uniform_passes_and_is_graded_on_fresh_ranges():
    assert check("deploy-log-uniform", log_uniform).passed
    assert graded("deploy-log-uniform", log_uniform) == "pass"
    assert check("deploy-log-uniform", None).status == "not attempted"


def test_log_uniform_mistakes_fail_with_hints():
    linear = check("deploy-log-uniform", lambda lo, hi, n, rng: rng.uniform(lo, hi, size=n))
    assert linear.status == "fail" and "linear scale" in linear.message
    natural = check(
        "deploy-log-uniform",
        lambda lo, hi, n, rng: 10 ** rng.uniform(math.log(lo), math.log(hi), n),
    )
    assert natural.status == "fail" and "outside" in natural.message
    global_rng = check(
        "deploy-log-uniform",
        lambda lo, hi, n, rng: 10 ** np.random.uniform(np.log10(lo), np.log10(hi), n),  # noqa: NPY002
    )
    assert global_rng.status == "fail" and "rng" in global_rng.message
    short = check("deploy-log-uniform", lambda lo, hi, n, rng: log_uniform(lo, hi, n - 1, rng))
    assert short.status == "fail" and "n =" in short.message
    # a fixed list of values (one range's answer) fails the grader's own ranges
    fixed = log_uniform(1e-4, 1e-1, 4000, np.random.default_rng(0))
    assert graded("deploy-log-uniform", lambda lo, hi, n, rng: fixed[:n]) == "fail"
    assert graded("deploy-log-uniform", 1e-3) == "fail"


def test_submission_passes_and_is_graded_on_fresh_logits():
    assert check("deploy-submission", submission).passed
    assert graded("deploy-submission", submission) == "pass"
    assert check("deploy-submission", lambda logits, path: None).status == "not attempted"


def test_submission_mistakes_fail_with_hints():
    def with_index(logits, path):
        labels = np.asarray(logits).argmax(axis=1)
        pd.DataFrame({"id": np.arange(len(labels)), "label": labels}).to_csv(path)

    assert "index=False" in check("deploy-submission", with_index).message

    def wrong_axis(logits, path):
        labels = np.asarray(logits).argmax(axis=0)
        pd.DataFrame({"id": np.arange(len(labels)), "label": labels}).to_csv(path, index=False)

    assert check("deploy-submission", wrong_axis).status == "fail"

    def argmin(logits, path):
        labels = np.asarray(logits).argmin(axis=1)
        pd.DataFrame({"id": np.arange(len(labels)), "label": labels}).to_csv(path, index=False)

    wrong = check("deploy-submission", argmin)
    assert wrong.status == "fail" and "arg-max" in wrong.message

    def from_one(logits, path):
        labels = np.asarray(logits).argmax(axis=1)
        ids = np.arange(1, len(labels) + 1)
        pd.DataFrame({"id": ids, "label": labels}).to_csv(path, index=False)

    assert "positions" in check("deploy-submission", from_one).message
    assert graded("deploy-submission", from_one) == "fail"


def test_cosine_lr_grader_draws_fresh_steps():
    def cosine_lr(step, total, max_lr):
        return max_lr * (1 + math.cos(math.pi * step / total)) / 2

    assert graded("deploy-cosine-lr", cosine_lr) == "pass"
    # right only on the chapter's fixed cases: a lookup table of their answers
    table = {case: cosine_lr(*case) for case in chapter.COSINE_CASES}
    assert check("deploy-cosine-lr", lambda *case: table[case]).passed
    assert graded("deploy-cosine-lr", lambda *case: table.get(case, 0.0)) == "fail"
