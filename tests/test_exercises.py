"""Answer checks: verdicts, hints, registration, the grading log, and the chapter checks
against oracles computed with PyTorch."""

from __future__ import annotations

import json
import pkgutil
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from cnncourse.exercises import Verdict, all_exercises, check, exercise, get_exercise, registry
from cnncourse.exercises import checks as checks_package
from cnncourse.exercises.answers import (
    NotAttempted,
    WrongType,
    as_bool,
    as_callable,
    as_float,
    as_int,
    as_shape,
    check_function,
    compare_float,
    compare_int,
    compare_shape,
)
from cnncourse.exercises.checks import why_convolutions as why


@pytest.fixture
def scratch_registry(monkeypatch):
    """Register test-only exercises without leaking them into other tests."""
    registry.load_checks()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    return registry._REGISTRY


# ---- the "Why convolutions" checks against oracles -----------------------------------


def torch_dense_params(in_features, out_features):
    """Oracle: nn.Linear's own parameter count."""
    return sum(p.numel() for p in nn.Linear(in_features, out_features).parameters())


def torch_conv_params(in_channels, out_channels, kernel_size):
    """Oracle: nn.Conv2d's own parameter count."""
    layer = nn.Conv2d(in_channels, out_channels, kernel_size)
    return sum(p.numel() for p in layer.parameters())


def graded(exercise_id: str, answer) -> dict:
    return registry.evaluate(get_exercise(exercise_id), lambda: answer)


@pytest.mark.parametrize(
    ("exercise_id", "right", "case", "name"),
    [
        ("why-params-dense", torch_dense_params, (784, 128), "dense_params"),
        ("why-params-conv", torch_conv_params, (1, 32, 3), "conv_params"),
    ],
)
def test_params_functions_pass_and_literals_score_zero(exercise_id, right, case, name):
    assert get_exercise(exercise_id).name == name
    assert check(exercise_id, right).passed
    record = graded(exercise_id, right)
    assert record["status"] == "pass" and record["points"] == 1, record
    literal = right(*case)  # the chapter's number, worked out by hand
    by_hand = check(exercise_id, literal)
    assert by_hand.status == "fail" and name in by_hand.message  # it asks for the function
    assert str(literal) in by_hand.message  # ...and says the number itself is right
    assert graded(exercise_id, literal)["points"] == 0
    constant = graded(exercise_id, lambda *args: literal)  # right on the chapter's case only
    assert check(exercise_id, lambda *args: literal).passed
    assert constant["status"] == "fail" and constant["points"] == 0
    assert graded(exercise_id, lambda *args: None)["status"] == "not attempted"


def test_params_functions_get_the_typical_mistakes_named():
    weights_only = check("why-params-dense", lambda i, o: i * o)
    assert weights_only.status == "fail" and "bias" in weights_only.message
    assert str(torch_dense_params(784, 128)) not in weights_only.message
    assert "bias" in check("why-params-conv", lambda i, o, k: i * o * k * k).message
    assert "one filter" in check("why-params-conv", lambda i, o, k: i * k * k).message
    shared = check("why-params-conv", lambda i, o, k: i * o * k * k * 28 * 28)
    assert "shared" in shared.message
    wrong_number = check("why-params-conv", 10)  # a wrong number: the hint, then the function
    assert wrong_number.status == "fail" and "conv_params" in wrong_number.message


def test_shuffle_pixels_answer_is_what_a_permuted_mlp_shows():
    # Oracle: permuting the first layer's input columns undoes any fixed pixel permutation,
    # so an MLP reaches exactly the same outputs on shuffled images.
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    images = torch.rand(5, 1, 28, 28)
    perm = torch.randperm(784)
    shuffled = images.flatten(1)[:, perm].reshape(5, 1, 28, 28)
    twin = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    twin.load_state_dict(mlp.state_dict())
    with torch.no_grad():
        twin[1].weight.copy_(mlp[1].weight[:, perm])
    torch.testing.assert_close(twin(shuffled), mlp(images))

    # The same construction, as the exercise's function: the grader tries other sizes.
    def unshuffle_weight(weight, perm):
        return weight[:, perm]

    assert check("why-shuffle-pixels", unshuffle_weight).passed
    graded = registry.evaluate(get_exercise("why-shuffle-pixels"), lambda: unshuffle_weight)
    assert graded["status"] == "pass"
    inverse = check("why-shuffle-pixels", lambda w, p: w[:, np.argsort(p)])
    assert inverse.status == "fail" and "other way round" in inverse.message
    assert check("why-shuffle-pixels", lambda w, p: w).status == "fail"
    assert check("why-shuffle-pixels", False).status == "fail"  # the old yes/no answer


def torch_flatten_size(height, width):
    """Oracle: the features the tiny model's flatten produces, from a forward pass."""
    from cnncourse.models import build_model

    model = build_model("tiny", image_size=(height, width))
    flatten = next(m for m in model.modules() if isinstance(m, nn.Flatten))
    seen = {}
    flatten.register_forward_hook(lambda mod, inp, out: seen.update(shape=out.shape))
    model(torch.zeros(1, 1, height, width))
    return seen["shape"][1]


@pytest.mark.parametrize(("height", "width"), [(28, 28), (32, 20), (4, 7), (65, 100)])
def test_flatten_rule_matches_a_forward_pass_of_the_tiny_model(height, width):
    oracle = torch_flatten_size(height, width)
    assert why.tiny_flatten_size(height, width) == oracle
    assert why.flatten_size(why.tiny_feature_stack(), height, width=width) == oracle


def test_flatten_size_function_passes_and_mistakes_get_hints():
    assert check("why-flatten-size", torch_flatten_size).passed
    graded = registry.evaluate(get_exercise("why-flatten-size"), lambda: torch_flatten_size)
    assert graded["status"] == "pass" and graded["points"] == 1
    no_pool = check("why-flatten-size", lambda h, w: 16 * h * w)
    assert no_pool.status == "fail" and "pool" in no_pool.message
    no_channels = check("why-flatten-size", lambda h, w: torch_flatten_size(h, w) // 16)
    assert "channels" in no_channels.message
    other = check("why-flatten-size", lambda h, w: 3)
    assert other.status == "fail" and "too small" in other.message


def test_flatten_size_as_a_literal_fails_feedback_and_grading():
    oracle = torch_flatten_size(28, 28)
    plain = check("why-flatten-size", oracle)
    assert plain.status == "fail" and "function" in plain.message
    ex = get_exercise("why-flatten-size")
    assert registry.evaluate(ex, lambda: oracle)["points"] == 0
    constant = registry.evaluate(ex, lambda: lambda h, w: oracle)
    assert constant["status"] == "fail" and "too" not in constant["message"]


def test_flatten_rule_fallback_agrees_with_the_model():
    assert why.flatten_size(why._TINY_FALLBACK) == why.flatten_size(why.tiny_feature_stack())
    assert why.output_size(28, 3, 1, 0) == 26 and why.output_size(28, 2, 2) == 14


# ---- verdicts for every kind of answer ------------------------------------------------


@pytest.mark.parametrize("answer", [None, ...])
def test_not_attempted(answer, capsys):
    verdict = check("why-flatten-size", answer)
    assert verdict.status == "not attempted" and not verdict.passed and verdict.points == 0
    assert "replace None with your answer" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "expected_words"),
    [("784", "drop the quotes"), (True, "bool"), ([1, 2], "int"), (3.5, "int")],
)
def test_wrong_type_says_what_is_expected(answer, expected_words):
    verdict = check("why-flatten-size", answer)
    assert verdict.status == "fail"
    assert "wrong type" in verdict.message and "an int" in verdict.message
    assert expected_words in verdict.message


def test_numpy_and_torch_scalars_are_accepted():
    assert check("why-flatten-size", lambda h, w: np.int64(16 * (h // 4) * (w // 4))).passed
    assert check("why-flatten-size", lambda h, w: torch.tensor(16 * (h // 4) * (w // 4))).passed
    assert check("why-flatten-size", lambda h, w: 16.0 * (h // 4) * (w // 4)).passed


def test_exception_in_checker_becomes_a_fail(scratch_registry):
    @exercise("test-broken", chapter="test")
    def _(answer):
        return answer.no_such_attribute

    verdict = check("test-broken", 1)
    assert verdict.status == "fail"
    assert "AttributeError" in verdict.message


def test_checker_may_return_bools(scratch_registry):
    exercise("test-bool", chapter="test", points=2)(lambda a: a == 3)
    passed, failed = check("test-bool", 3), check("test-bool", 4)
    assert passed.passed and passed.points == 2 and "2 points" in passed.message
    assert failed.status == "fail" and failed.points == 0 and failed.max_points == 2


def test_verdict_reprs():
    verdict = Verdict("why-params-dense", "pass", "correct! (1 point)", 1.0, 1.0)
    assert repr(verdict) == "Verdict('why-params-dense', status='pass', points=1/1)"
    assert str(verdict).endswith("why-params-dense: correct! (1 point)")
    assert "<code>why-params-dense</code>" in verdict._repr_html_()
    assert "`why-params-dense`" in verdict._repr_markdown_()
    assert "&lt;b&gt;" in Verdict("x", "fail", "<b>", 0, 1)._repr_html_()


# ---- registry --------------------------------------------------------------------------


def test_unknown_id_lists_close_ids():
    verdict = check("why-param-dense", 1)  # a typo is a verdict, never an exception
    assert verdict.status == "fail" and "did you mean 'why-params-dense'" in verdict.message
    with pytest.raises(ValueError, match="known ids"):
        get_exercise("zzzz")


def test_bad_registrations_are_refused(scratch_registry):
    with pytest.raises(ValueError, match="not valid"):
        exercise("Bad_Id", chapter="test")
    with pytest.raises(ValueError, match="points must be positive"):
        exercise("test-zero", chapter="test", points=0)
    with pytest.raises(ValueError, match="already registered"):
        exercise("why-params-dense", chapter="test")(lambda a: None)


def test_every_checks_module_loads_and_registers_its_chapter():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry.load_checks()
    modules = [
        m.name for m in pkgutil.iter_modules(checks_package.__path__) if not m.name.startswith("_")
    ]
    assert "why_convolutions" in modules
    for name in modules:
        found = all_exercises(chapter=name)
        assert found, f"checks/{name}.py registers no exercise for chapter {name!r}"
        assert all(e.checker.__module__.endswith(f".checks.{name}") for e in found)
    ids = {e.id for e in all_exercises("why_convolutions")}
    assert ids == {
        "why-params-dense",
        "why-params-conv",
        "why-shuffle-pixels",
        "why-flatten-size",
        "why-read-change",
        "why-cnn-shuffled-test",
    }


def test_loading_every_check_stays_light():
    # A student kernel imports the checks on the first check(): no framework may load.
    code = (
        "import sys; from cnncourse.exercises.registry import load_checks; load_checks(); "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_grading_log_gets_one_json_line_per_check(tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv(registry.GRADING_LOG_ENV, str(log))
    check("why-params-dense", lambda i, o: i * o + o)
    check("why-params-conv", None)
    check("why-shuffle-pixels", lambda w, p: w)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records == [
        {"id": "why-params-dense", "status": "pass", "points": 1.0, "max_points": 1.0},
        {"id": "why-params-conv", "status": "not attempted", "points": 0.0, "max_points": 1.0},
        {"id": "why-shuffle-pixels", "status": "fail", "points": 0.0, "max_points": 1.0},
    ]


# ---- answer helpers --------------------------------------------------------------------


def test_scalar_readers():
    assert as_int(np.int32(7)) == 7 and as_int(torch.tensor([7])) == 7 and as_int(7.0) == 7
    assert as_float(np.float32(0.5)) == 0.5 and as_float(torch.tensor(0.25)) == 0.25
    assert as_bool(torch.tensor(True)) is True
    for reader, bad in [(as_int, "7"), (as_int, np.zeros(3)), (as_float, "x"), (as_bool, 1)]:
        with pytest.raises(WrongType):
            reader(bad)


def test_shapes_and_callables():
    assert as_shape(torch.Size([1, 8, 26, 26])) == (1, 8, 26, 26)
    assert as_shape([2, np.int64(3)]) == (2, 3)
    with pytest.raises(WrongType, match="tuple of ints"):
        as_shape("(1, 2)")
    with pytest.raises(WrongType, match="without calling it"):
        as_callable(3)
    assert compare_shape((1, 8, 26, 26), (1, 8, 26, 26)) is None
    assert "dimension 2" in compare_shape((1, 8, 25, 26), (1, 8, 26, 26))
    assert "3 dimensions" in compare_shape((8, 26, 26), (1, 8, 26, 26))


def test_comparisons():
    assert compare_int(5, 5) is None and "too large" in compare_int(6, 5)
    assert compare_int(4, 5, known_mistakes={4: "off by one"}) == "off by one"
    assert compare_float(0.1 + 0.2, 0.3) is None
    assert "too small" in compare_float(0.2, 0.3)
    assert compare_float(0.25, 0.3, rtol=0.01, known_mistakes=[(0.25, "halved")]) == "halved"
    assert "NaN" in compare_float(float("nan"), 0.3)


def test_check_function_runs_the_students_function():
    def rule(n, k, p, s):
        return (n + 2 * p - k) // s + 1

    cases = [((28, 3, 0, 1), 26), ((28, 3, 1, 1), 28), ((28, 2, 0, 2), 14)]
    assert check_function(rule, cases) is None
    assert "(28, 3, 1, 1)" in check_function(lambda n, k, p, s: n - k + 1, cases)
    assert "ZeroDivisionError" in check_function(lambda n, k, p, s: n // 0, cases)
    assert "wrong type" in check_function(lambda n, k, p, s: "26", cases)
    with pytest.raises(NotAttempted):
        check_function(lambda n, k, p, s: None, cases)

    def stub(n, k, p, s):
        raise NotImplementedError

    with pytest.raises(NotAttempted):
        check_function(stub, cases)


def test_function_stub_is_not_attempted_through_check(scratch_registry):
    exercise("test-rule", chapter="test")(lambda f: check_function(f, [((2,), 4)]))
    assert check("test-rule", lambda x: None).status == "not attempted"
    assert check("test-rule", lambda x: x * 2).passed
    assert check("test-rule", 4).status == "fail"


# ---- the book's exercises use registered checks, and their solutions pass ----------------

ROOT = Path(__file__).resolve().parents[1]
CHECK_CALL = re.compile(r"""check\(\s*["']([^"']+)["']""")


def book_chapters() -> list[Path]:
    from cnncourse.exercises.student import toc_files

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    paths = [ROOT / f"{doc}.md" for doc in toc_files(toc)]
    return [p for p in paths if p.is_file() and "{exercise-start}" in p.read_text()]


@pytest.mark.parametrize("path", book_chapters(), ids=lambda p: p.stem)
def test_book_exercises_have_registered_checks_and_passing_solutions(path):
    jupytext = pytest.importorskip("jupytext")  # the book extra reads the chapters

    from cnncourse.exercises.student import solution_blocks, strip_solutions

    text = path.read_text()
    solutions = solution_blocks(text)
    stub_ids = CHECK_CALL.findall(strip_solutions(text))
    solution_ids = CHECK_CALL.findall("".join(solutions))
    for exercise_id in {*stub_ids, *solution_ids}:
        get_exercise(exercise_id)  # ValueError names close ids on a typo
    assert set(stub_ids) <= set(solution_ids), "every checked exercise needs a solution"

    # Solutions run after the chapter's imports cell (np, torch, ...), as in the notebook.
    cells = jupytext.reads(text, fmt="md:myst").cells
    imports = next(
        c.source for c in cells if c.cell_type == "code" and "from cnncourse" in c.source
    )
    verdicts: list[Verdict] = []
    for block in solutions:
        code = "\n".join(
            c.source for c in jupytext.reads(block, fmt="md:myst").cells if c.cell_type == "code"
        )
        namespace: dict = {}
        try:
            exec(compile(imports, f"{path.name} imports", "exec"), namespace)
            namespace["check"] = lambda i, a: verdicts.append(check(i, a)) or verdicts[-1]
            exec(compile(code, f"{path.name} solution", "exec"), namespace)
        except NameError:
            continue  # the solution builds on the chapter's variables: nbval runs it
        except ModuleNotFoundError as error:
            if error.name not in {"keras", "tensorflow"}:
                raise
            pytest.skip(f"{path.stem}: a solution needs Keras (pip install cnncourse[keras])")
        assert all(v.passed for v in verdicts), [str(v) for v in verdicts if not v.passed]
        for exercise_id in set(CHECK_CALL.findall(code)):  # the grader's own check passes too
            ex = get_exercise(exercise_id)
            assert ex.name in namespace, f"the solution of {exercise_id} defines no {ex.name}"
            record = registry.evaluate(ex, lambda ex=ex, ns=namespace: ns[ex.name])
            assert record["status"] == "pass", f"{exercise_id}: {record['message']}"


def test_grading_checks_fail_a_stub_and_a_wrong_function():
    for exercise_id in ("pool-receptive-field-function", "conv-strided-loop"):
        ex = get_exercise(exercise_id)
        assert registry.evaluate(ex, lambda: None)["status"] == "not attempted"
        assert registry.evaluate(ex, lambda: 16)["status"] == "fail"  # a literal is no function
    wrong = registry.evaluate(
        get_exercise("pool-receptive-field-function"),
        lambda: lambda layers: 1 + sum(k - 1 for k, _ in layers),  # ignores the jump
    )
    assert wrong["status"] == "fail" and wrong["points"] == 0


def test_every_exercise_name_is_left_for_the_student_to_define():
    """A name the chapter binds before its exercises would score without the student."""
    for path in book_chapters():
        before = path.read_text().split("## Exercises")[0]
        for ex in all_exercises(path.stem):
            bound = re.compile(rf"^\s*(def {ex.name}\b|class {ex.name}\b|{ex.name}\s*=)", re.M)
            assert not bound.search(before), f"{path.name} defines {ex.name} before its exercises"


def test_grading_gives_no_direction_hints(monkeypatch):
    record = registry.evaluate(get_exercise("why-params-dense"), lambda: 3)
    assert record["status"] == "fail"
    assert "too small" not in record["message"] and "too large" not in record["message"]
