"""The command line: help at every level, exit status 2 for bad arguments, and each command."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
from conftest import md5, write_notebook

from cnncourse.cli import build_parser, main
from cnncourse.data import registry as data_registry
from cnncourse.data.registry import DatasetSpec, RemoteFile

COMMANDS = ["data", "train", "student-edition", "grade", "check-notebook"]


def test_python_m_cnncourse_help():
    done = subprocess.run(
        [sys.executable, "-m", "cnncourse", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    for name in [*COMMANDS, "bench", "examples:"]:
        assert name in done.stdout


@pytest.mark.parametrize(
    "argv",
    [[name, "--help"] for name in COMMANDS]
    + [["data", "where", "--help"], ["data", "fetch", "--help"]],
)
def test_help_at_every_level(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: cnncourse " + " ".join(argv[:-1]))
    if len(argv) == 2:  # every command shows examples
        assert f"examples:\n  cnncourse {argv[0]}" in out
    else:  # the data actions say what they do
        assert {"where": "Exit status 1 if any file is missing", "fetch": "verified"}[
            argv[1]
        ] in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required: COMMAND"),
        (["nope"], "invalid choice: 'nope'"),
        (["data"], "required: ACTION"),
        (["data", "where", "imagenet"], "invalid choice: 'imagenet'"),
        (["data", "fetch"], "required: name"),
        (["train", "--model", "resnet999"], "invalid choice: 'resnet999'"),
        (["train", "--dataset", "svhn"], "invalid choice: 'svhn'"),
        (["train", "--framework", "jax"], "invalid choice: 'jax'"),
        (["train", "--epochs", "0"], "expected a positive whole number, got 0"),
        (["train", "--batch-size", "many"], "expected a positive whole number, got 'many'"),
        (["train", "--val-fraction", "1.5"], "between 0 and 1"),
        (["grade", "subs"], None),  # missing folder: a clear error, exit 2
        (["check-notebook", "missing.ipynb"], "does not exist"),
    ],
)
def test_bad_arguments_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err
    if message:
        assert message in err
    else:
        assert "does not exist" in err


# ---- data -------------------------------------------------------------------------------


@pytest.fixture
def fake_dataset(monkeypatch, fake_mnist_files, isolated_data):
    """A dataset 'fakeset' whose checksums match the conftest's fake MNIST files."""
    files, _ = fake_mnist_files
    remotes = {name: RemoteFile(name, md5(data)) for name, data in files.items()}
    spec = DatasetSpec(
        name="fakeset",
        format="idx",
        class_names=tuple(str(i) for i in range(10)),
        splits={
            "train": (
                remotes["train-images-idx3-ubyte.gz"],
                remotes["train-labels-idx1-ubyte.gz"],
            ),
            "test": (remotes["t10k-images-idx3-ubyte.gz"], remotes["t10k-labels-idx1-ubyte.gz"]),
        },
        mirrors=("http://127.0.0.1:9/",),
        image_shape=(28, 28, 1),
    )
    monkeypatch.setitem(data_registry.DATASETS, "fakeset", spec)
    return spec, files


def test_data_where_names_files_and_origin(fake_dataset, tmp_path, monkeypatch, capsys):
    spec, files = fake_dataset
    folder = tmp_path / "mydata" / "fakeset"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "mydata"))
    assert main(["data", "where", "fakeset"]) == 0
    out = capsys.readouterr().out
    for name in files:
        assert f"{folder / name}  ($CNNCOURSE_DATA)" in out
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"corrupt")  # fails its checksum
    assert main(["data", "where", "fakeset"]) == 1
    captured = capsys.readouterr()
    assert "t10k-labels-idx1-ubyte.gz" in captured.out and "checksum mismatch" in captured.out
    assert "missing" not in captured.out  # present but rejected is not "missing"
    assert "cnncourse data fetch fakeset" in captured.err


def test_data_fetch_downloads_verified_copies(fake_dataset, http_server, monkeypatch, capsys):
    spec, files = fake_dataset
    folder, url, log = http_server
    monkeypatch.setenv("CNNCOURSE_MIRRORS", url)
    assert main(["data", "fetch", "fakeset"]) == 1  # the mirror is empty
    assert "no verified copy" in capsys.readouterr().err
    for name, data in files.items():
        (folder / name).write_bytes(data)
    assert main(["data", "fetch", "fakeset"]) == 0
    out = capsys.readouterr().out
    assert out.count("(verified)") == 4 and "user cache" not in out
    assert main(["data", "where", "fakeset"]) == 0
    assert capsys.readouterr().out.count("(user cache)") == 4
    # one failed request on the empty mirror, then each file once: `where` never downloads
    assert sorted(log[1:]) == sorted(f"/{name}" for name in files)


# ---- train ------------------------------------------------------------------------------


def test_train_torch_on_a_small_limit(capsys):
    from cnncourse.data import DataNotFoundError, locate

    try:
        locate("fashion_mnist")
    except DataNotFoundError:
        pytest.skip("Fashion-MNIST is not installed here")
    argv = ["train", "--model", "tiny", "--framework", "torch", "--epochs", "1"]
    assert main([*argv, "--batch-size", "32", "--limit", "200", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert (
        "tiny (torch, 9,098 parameters) on fashion_mnist: 180 train / 20 validation / 200 test"
        in out
    )
    header = next(line for line in out.splitlines() if line.strip().startswith("epoch"))
    assert header.split() == [
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
    ]
    assert "test: loss" in out


@pytest.mark.keras
def test_train_keras_on_a_small_limit():
    from cnncourse.data import DataNotFoundError, locate

    try:
        locate("fashion_mnist")
    except DataNotFoundError:
        pytest.skip("Fashion-MNIST is not installed here")
    pytest.importorskip("keras")
    argv = ["train", "--framework", "keras", "--epochs", "1", "--limit", "100"]
    done = subprocess.run(  # its own process: TensorFlow stays out of the test process
        [sys.executable, "-m", "cnncourse", *argv, "--batch-size", "32"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        "tiny (keras, 9,098 parameters) on fashion_mnist: 90 train / 10 validation" in done.stdout
    )
    assert "val_accuracy" in done.stdout and "test: loss" in done.stdout


# ---- exercises --------------------------------------------------------------------------


def test_student_edition_command(tmp_path, capsys):
    from test_student import SENTINEL, write_fake_book

    root = write_fake_book(tmp_path / "repo")
    out = tmp_path / "student"
    assert main(["student-edition", str(out), "--book", str(root), "--chapters", "ch_one"]) == 0
    printed = capsys.readouterr().out
    assert str(out / "book" / "ch_one.ipynb") in printed and "jupyter-book build" in printed
    assert SENTINEL not in (out / "book" / "ch_one.ipynb").read_text()
    with pytest.raises(SystemExit) as exit_info:
        main(["student-edition", str(out), "--book", str(root), "--chapters", "ch_nine"])
    assert exit_info.value.code == 2
    assert "ch_nine" in capsys.readouterr().err


def notebook(path, *cells):
    pytest.importorskip("nbformat")
    return write_notebook(path, *cells)


def test_grade_command_writes_the_csv(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    notebook(
        subs / "ann.ipynb",
        'conv_params = lambda i, o, k: i * o * k * k + o\ncheck("why-params-conv", conv_params)',
    )
    notebook(subs / "ben.ipynb", 'check("why-params-conv", 320)')  # check() alone earns nothing
    out = tmp_path / "grades.csv"
    args = ["grade", str(subs), "--out", str(out), "--timeout", "60", "--jobs", "2"]
    assert main([*args, "--chapter", "why_convolutions"]) == 0
    assert out.read_text().splitlines() == [
        "student,why-cnn-shuffled-test,why-flatten-size,why-params-conv,why-params-dense,"
        "why-read-change,why-shuffle-pixels,total,status",
        "ann,0,0,1,0,0,0,1,ok",
        "ben,0,0,0,0,0,0,0,ok",
    ]
    assert "ann: ok (1 points" in capsys.readouterr().out


def test_check_notebook_prints_verdicts_and_strict_mode(tmp_path, capsys):
    solved = notebook(
        tmp_path / "solved.ipynb",
        'conv_params = None\ncheck("why-params-conv", conv_params)',  # the stub first
        "conv_params = lambda i, o, k: i * o * k * k + o\ndense_params = lambda i, o: i * o + o\n"
        "unshuffle_weight = lambda w, p: w[:, p]\n"
        "flatten_size = lambda h, w: 16 * (h // 4) * (w // 4)",
        # then the answers: the grader reads the names at the end
        # the chapter's own state the read and experiment exercises are checked against
        "import pandas as pd, torch\nfrom cnncourse import data, models, train\n"
        "torch.manual_seed(0)\ncnn = models.build_model('tiny')\n"
        "shuffled_test = data.load('fashion_mnist', 'test').subset(300, seed=0)\n"
        "results = pd.DataFrame({'original pixels': [0.8, 0.85], 'shuffled pixels': [0.8, 0.6]},\n"
        "                       index=['MLP', 'tiny CNN'])\n"
        "results['change'] = results['shuffled pixels'] - results['original pixels']",
        "cnn_shuffle_change = results.loc['tiny CNN', 'change']\n"
        "cnn_on_shuffled_test = train.evaluate(cnn, shuffled_test)['accuracy']",
    )
    stub = notebook(
        tmp_path / "stub.ipynb", 'why_params_conv = None\ncheck("why-params-conv", None)'
    )
    broken = notebook(tmp_path / "broken.ipynb", "raise RuntimeError('boom')")
    assert main(["check-notebook", str(solved), "--strict"]) == 0
    out = capsys.readouterr().out
    assert "why-params-conv" in out and "pass" in out and "ok; 7/7 points" in out
    assert main(["check-notebook", str(stub)]) == 0
    assert main(["check-notebook", str(stub), "--strict"]) == 1
    assert "not attempted" in capsys.readouterr().out
    assert main(["check-notebook", str(broken)]) == 1
    assert "error: RuntimeError: boom" in capsys.readouterr().out


# ---- bench ------------------------------------------------------------------------------


def test_bench_points_to_the_checkout(capsys):
    # the benchmark left the installed package: any old invocation gets one line saying where
    assert main(["bench", "--quick", "--out", "x"]) == 1
    assert (
        capsys.readouterr().err.strip()
        == "The benchmark runs from a checkout of the repository: make bench (or python benchmarks/run_benchmark.py --help)."
    )


def test_parser_choices_come_from_the_registries():
    from cnncourse.models import MODEL_NAMES

    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    choices = {a.dest: a.choices for a in train._actions if a.choices}
    assert list(choices["model"]) == list(MODEL_NAMES)
    assert set(choices["dataset"]) == set(data_registry.DATASETS)
    assert dataclasses.is_dataclass(data_registry.DATASETS["fashion_mnist"])
