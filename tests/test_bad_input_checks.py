"""Bad input, class 4: checks bound their work and never raise; every verdict says what
was wrong with the answer."""

from __future__ import annotations

import itertools
import json
import signal
import time

import numpy as np
import pytest

from cnncourse.exercises import check, exercise, registry
from cnncourse.exercises.answers import MAX_DIMS, as_shape, describe


@pytest.fixture(autouse=True)
def scratch_registry(monkeypatch):
    """Test-only exercises, not leaked into other tests; no grading log."""
    registry.load_checks()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.delenv(registry.GRADING_LOG_ENV, raising=False)


def shape_exercise(seconds: float = registry.CHECK_SECONDS) -> str:
    @exercise("zz-shape", chapter="tests", seconds=seconds)
    def _(answer):
        return None if as_shape(answer) == (1, 8, 26, 26) else "wrong shape."

    return "zz-shape"


class Exploding:
    """An answer whose every protocol method raises."""

    def __len__(self):
        raise RuntimeError("__len__ exploded")

    def __iter__(self):
        raise RuntimeError("__iter__ exploded")

    def __array__(self, *args, **kwargs):
        raise RuntimeError("__array__ exploded")

    def __repr__(self):
        raise RuntimeError("__repr__ exploded")

    @property
    def shape(self):
        raise RuntimeError("shape exploded")


def endless():
    while True:
        yield 1


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (endless(), ["more than 16 items", "endless generator"]),
        (itertools.count(), ["more than 16 items"]),
        (np.zeros(10**7), ["ndarray of shape (10000000,)", "pass its .shape"]),
        (np.zeros((1, 8, 26, 26)), ["ndarray of shape (1, 8, 26, 26)", "pass its .shape"]),
        (list(range(10**6)), ["list [0, 1, 2, 3, 4, 5, ...]", "more than 16 items"]),
        (Exploding(), ["a Exploding (RuntimeError: __iter__ exploded)"]),
        ("(1, 8, 26, 26)", ["str"]),
    ],
)
def test_shape_answers_are_read_within_a_budget(answer, words):
    start = time.monotonic()
    verdict = check(shape_exercise(), answer)
    assert time.monotonic() - start < 2
    assert verdict.status == "fail"
    for word in words:
        assert word in verdict.message


def test_a_right_shape_still_passes():
    assert check(shape_exercise(), (1, 8, 26, 26)).passed
    assert as_shape(np.array([1, 8, 26, 26])) == (1, 8, 26, 26)
    assert len(as_shape(range(MAX_DIMS))) == MAX_DIMS


def test_describe_is_bounded_and_survives_a_broken_repr():
    assert describe(Exploding()).startswith("Exploding <Exploding instance")
    assert len(describe(list(range(10**6)))) < 60
    assert describe(np.zeros((3, 4))) == "ndarray of shape (3, 4)"


def test_a_slow_checker_is_stopped_and_the_verdict_says_so():
    @exercise("zz-slow", chapter="tests", seconds=0.5)
    def _(answer):
        for _ in answer:  # the student's endless generator, consumed by a checker
            pass

    start = time.monotonic()
    verdict = check("zz-slow", endless())
    assert time.monotonic() - start < 5
    assert verdict.status == "fail"
    assert "stopped after 0.5 s" in verdict.message and "generator" in verdict.message


def test_a_checker_that_catches_exception_cannot_swallow_the_time_limit():
    @exercise("zz-stubborn", chapter="tests", seconds=0.3)
    def _(answer):
        while True:
            try:
                time.sleep(0.05)
            except Exception:  # noqa: BLE001,S112 - what a careless checker does
                continue

    assert "stopped after 0.3 s" in check("zz-stubborn", 1).message


def test_an_outer_timer_survives_a_check():
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        check(shape_exercise(), (1, 8, 26, 26))
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0  # re-armed with the time it had left
        time.sleep(1.2)
        assert fired == [True]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_huge_answer_is_refused_unread():
    @exercise("zz-array", chapter="tests")
    def _(answer):
        raise AssertionError("the checker must not be called")

    huge = np.lib.stride_tricks.as_strided(np.zeros(1), shape=(2**20, 2**10), strides=(0, 0))
    verdict = check("zz-array", huge)  # 8 GB as NumPy counts them, 8 bytes in memory
    assert verdict.status == "fail" and "8.0 GB" in verdict.message


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (Exploding(), ["RuntimeError", "__array__ exploded"]),
        ([1, "two", 3], ["ValueError", "could not convert string to float: 'two'"]),
        (np.array([np.nan]), ["not yet"]),
    ],
)
def test_an_exception_inside_a_checker_names_what_was_wrong(answer, words):
    @exercise("zz-mean", chapter="tests")
    def _(answer):
        return None if float(np.mean(np.asarray(answer, dtype=float))) == 2.0 else "not 2."

    verdict = check("zz-mean", answer)
    assert verdict.status == "fail"
    for word in words:
        assert word in verdict.message


def test_an_exception_with_a_huge_message_is_clipped():
    @exercise("zz-loud", chapter="tests")
    def _(answer):
        raise ValueError("x" * 10**6)

    assert len(check("zz-loud", 1).message) < 400


@pytest.mark.parametrize(
    ("exercise_id", "words"),
    [
        ("why-param-dense", ["did you mean 'why-params-dense'"]),
        ("WHY-PARAMS-DENSE", ["unknown exercise id 'WHY-PARAMS-DENSE'"]),
        ("", ["unknown exercise id ''"]),
        (42, ["unknown exercise id 'int 42'", "first argument of check"]),
        (None, ["unknown exercise id 'NoneType None'"]),
    ],
)
def test_an_unknown_id_is_a_verdict_not_an_exception(exercise_id, words, tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv(registry.GRADING_LOG_ENV, str(log))
    verdict = check(exercise_id, 1)
    assert verdict.status == "fail" and verdict.max_points == 0
    for word in words:
        assert word in verdict.message
    assert not log.exists()  # a typo is feedback, not a column of the grade table
    assert check("why-params-dense", lambda i, o: i * o + o).passed  # later checks still work
    assert [json.loads(line)["id"] for line in log.read_text().splitlines()] == [
        "why-params-dense"
    ]
