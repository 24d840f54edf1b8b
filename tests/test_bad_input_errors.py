"""Bad input, class 2: a failure the user causes ends in one message from the package that
names the file or argument, what is wrong and the fix; the CLI prints no traceback for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cnncourse import cli
from cnncourse.cli import main
from cnncourse.data import DataFileRejectedWarning, DataFormatError, DataNotFoundError, fetch, load
from cnncourse.train import evaluate, fit
from cnncourse.train.validate import TrainingInputError

ROOT = Path(__file__).resolve().parents[1]


def test_int32_labels_train_instead_of_crashing_in_the_loss():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    images = torch.randint(0, 256, (12, 1, 4, 4), dtype=torch.uint8)
    labels = (torch.arange(12) % 3).int()
    history = fit(model, (images, labels), epochs=1, batch_size=4, progress=False, device="cpu")
    assert len(history) == 1
    assert evaluate(model, (images, labels.long()))["accuracy"] >= 0


def test_a_dataloader_with_int32_labels_gets_the_fix_not_a_torch_error():
    images = torch.rand(8, 1, 4, 4)
    loader = DataLoader(TensorDataset(images, torch.arange(8, dtype=torch.int32) % 3), 4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    with pytest.raises(TrainingInputError, match=r"int32.*dtype=torch.long"):
        fit(model, loader, progress=False, device="cpu")


def _unreadable(monkeypatch, path: Path) -> None:
    """Make reading ``path`` fail as a file without read permission does (root ignores chmod)."""
    real = fetch.file_digest

    def digest(candidate, *args, **kwargs):
        if Path(candidate) == path:
            raise PermissionError(13, "Permission denied", str(path))
        return real(candidate, *args, **kwargs)

    monkeypatch.setattr(fetch, "file_digest", digest)


def test_an_unreadable_file_is_named_and_the_good_fallback_is_still_used(
    tiny_test_set, monkeypatch
):
    spec, files, env, cache = tiny_test_set
    cache.mkdir(parents=True)
    env.mkdir(parents=True)
    for name, blob in files.items():
        (env / name).write_bytes(blob)
        (cache / name).write_bytes(blob)
    locked = env / "t10k-images-idx3-ubyte.gz"
    _unreadable(monkeypatch, locked)
    with pytest.warns(DataFileRejectedWarning, match="cannot be read: Permission denied") as w:
        data = load(spec, "test", download=False)
    assert len(data) == 5
    assert str(locked) in str(w[0].message) and "chmod a+r" in str(w[0].message)


def test_an_unreadable_file_without_fallback_gives_one_package_error(tiny_test_set, monkeypatch):
    spec, files, env, _ = tiny_test_set
    env.mkdir(parents=True)
    for name, blob in files.items():
        (env / name).write_bytes(blob)
    locked = env / "t10k-labels-idx1-ubyte.gz"
    _unreadable(monkeypatch, locked)
    with pytest.raises(DataNotFoundError) as err:
        load(spec, "test", download=False)
    message = str(err.value)
    assert f"Permission denied; make it readable (chmod a+r) or remove it): {locked}" in message
    assert "cnncourse data fetch tiny_set" in message


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnncourse", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        timeout=300,
    )


def test_train_without_data_prints_one_message_and_no_traceback(tmp_path):
    done = _cli(
        "train",
        "--dataset",
        "mnist",
        env={
            "CNNCOURSE_CACHE": str(tmp_path / "cache"),
            "CNNCOURSE_DATA": str(tmp_path / "nothing"),
            "CNNCOURSE_MIRRORS": "http://127.0.0.1:9/",  # a closed port: refused at once
        },
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("cnncourse: mnist: no verified copy of train-images")
    assert "cnncourse data fetch mnist" in done.stderr


def test_data_where_tells_rejected_from_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CNNCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "env"))
    folder = tmp_path / "env" / "mnist"
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"junk")
    assert main(["data", "where", "mnist"]) == 1
    out = capsys.readouterr()
    lines = out.out.splitlines()
    rejected = next(i for i, line in enumerate(lines) if "train-images" in line)
    assert "rejected: no verified copy" in lines[rejected]
    assert "checksum mismatch" in lines[rejected + 1]
    assert str(folder / "train-images-idx3-ubyte.gz") in lines[rejected + 1]
    assert any("t10k-images" in line and line.endswith("missing") for line in lines)
    assert "present but rejected" in out.err


@pytest.mark.parametrize(
    ("error", "status", "shown"),
    [
        (DataFormatError("x.gz: not an IDX file (bad magic number)."), 2, "not an IDX file"),
        (TrainingInputError("lr must be a finite number, got inf"), 2, "lr must be a finite"),
        (DataNotFoundError("mnist: no verified copy of a.gz was found."), 1, "no verified copy"),
        (PermissionError(13, "Permission denied", "grades.csv"), 2, "cannot use grades.csv"),
    ],
)
def test_the_cli_prints_user_errors_as_one_line(monkeypatch, capsys, error, status, shown):
    def fail(argv):
        raise error

    monkeypatch.setattr(cli, "_run", fail)
    assert main(["data", "where"]) == status
    err = capsys.readouterr().err
    assert err.startswith("cnncourse: ") and shown in err and "Traceback" not in err


def test_a_bug_in_the_package_keeps_its_traceback(monkeypatch):
    def fail(argv):
        raise KeyError("internal")

    monkeypatch.setattr(cli, "_run", fail)
    with pytest.raises(KeyError):
        main(["data", "where"])


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["train", "--lr", "inf"], "--lr: expected a positive, finite number, got inf"),
        (["train", "--lr", "nan"], "--lr: expected a positive, finite number, got nan"),
        (["train", "--epochs", "0"], "--epochs: expected a positive whole number, got 0"),
        (["train", "--seed", "-1"], "--seed: expected a seed in [0, 2**32), got -1"),
        (["train", "--limit", "5"], "--limit 5 is too small"),
        (["grade", "/nonexistent/folder"], "submissions folder /nonexistent/folder"),
    ],
)
def test_bad_arguments_exit_2_with_one_message(capsys, args, shown):
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 2
    assert shown in capsys.readouterr().err


def test_a_quick_mode_value_that_means_nothing_is_a_bad_argument(capsys, monkeypatch):
    monkeypatch.setenv("CNNCOURSE_QUICK", "maybe")
    with pytest.raises(SystemExit) as done:
        main(["train"])
    assert done.value.code == 2
    assert "CNNCOURSE_QUICK='maybe' is not understood" in capsys.readouterr().err


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8])
def test_evaluate_takes_labels_of_any_integer_type(dtype):
    torch.manual_seed(0)
    images, labels = torch.rand(12, 1, 4, 4), torch.arange(12) % 3
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    expected = evaluate(model, (images, labels), device="cpu")
    assert evaluate(model, (images, labels.to(dtype)), device="cpu") == expected


def test_evaluate_refuses_unscaled_float_images():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    images = torch.rand(4, 1, 4, 4) * 255
    with pytest.raises(TrainingInputError, match="Divide by 255"):
        evaluate(model, (images, torch.zeros(4, dtype=torch.long)), device="cpu")
