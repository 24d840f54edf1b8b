"""Bad input, class 3: the same command with the same seed gives the same numbers (CPU, bit
for bit, in fresh processes); quick mode and --limit say what they cut."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnncourse.cli import QUICK_LIMIT, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["train", "--limit", "300", "--epochs", "1", "--batch-size", "32", "--device", "cpu"]


def _numbers(stdout: str) -> list[str]:
    """The printed lines without the history's wall-clock ``seconds`` column."""
    lines = []
    for line in stdout.splitlines():
        fields = line.split()
        if fields and fields[0].isdigit():  # a history row: epoch ... seconds
            fields = fields[:-1]
        lines.append(" ".join(fields))
    return lines


def _train_in_fresh_process(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cnncourse", *TINY, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "CNNCOURSE_QUICK": "0"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_same_command_same_seed_same_numbers_in_fresh_processes(capsys, monkeypatch):
    first = _train_in_fresh_process("--seed", "0")
    second = _train_in_fresh_process("--seed", "0")
    assert "test: loss" in first
    assert _numbers(first) == _numbers(second)
    monkeypatch.setenv("CNNCOURSE_QUICK", "0")
    assert main([*TINY, "--seed", "1"]) == 0  # another seed: other weights, other numbers
    other = capsys.readouterr().out
    assert _numbers(other)[-1] != _numbers(first)[-1]


def test_limit_says_what_it_cuts(capsys, monkeypatch):
    monkeypatch.setenv("CNNCOURSE_QUICK", "0")
    assert main([*TINY, "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert (
        "--limit 300: 300 of 60000 training images (then 30 held out for validation), "
        "300 of 10000 test images." in out
    )


def test_quick_mode_cuts_like_the_chapters_and_says_so(capsys, monkeypatch):
    monkeypatch.setenv("CNNCOURSE_QUICK", "1")
    assert main(["train", "--epochs", "1", "--batch-size", "256", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"quick mode (CNNCOURSE_QUICK=1): --limit {QUICK_LIMIT}" in out
    assert f"{QUICK_LIMIT} of 60000 training images" in out


def test_an_explicit_limit_wins_over_quick_mode(capsys, monkeypatch):
    monkeypatch.setenv("CNNCOURSE_QUICK", "1")
    assert main([*TINY, "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "quick mode" not in out and "300 of 60000 training images" in out


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("--limit", ["training split", "test", "quick mode"]),
        ("--seed", ["initialisation", "--limit draw", "validation split", "shuffle"]),
        ("--val-fraction", ["held out for validation"]),
        ("--lr", ["Adam"]),
    ],
)
def test_the_help_says_what_each_option_touches(option, words):
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    (action,) = [a for a in train._actions if option in a.option_strings]
    for word in words:
        assert word in action.help


def test_a_diverging_run_does_not_exit_0(capsys, monkeypatch):
    monkeypatch.setenv("CNNCOURSE_QUICK", "0")
    with pytest.warns(UserWarning, match="diverge"):
        status = main([*TINY, "--lr", "1e30", "--seed", "0"])
    captured = capsys.readouterr()
    assert status == 1 and "training diverged" in captured.err
