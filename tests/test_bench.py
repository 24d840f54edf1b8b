"""The benchmark in benchmarks/ (not part of the package): each section writes tidy wide
rows, the report merges devices and renders the appendix tables, the committed results read
back as one numeric row per loop, recipe and chapter."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT

from cnncourse import runtime
from cnncourse.data import ImageSet

# The benchmark runs Keras and reads the book's caches: it needs the keras and book extras.
pytestmark = pytest.mark.keras
pytest.importorskip("jupyter_cache", reason="the benchmark needs the book extra")
pytest.importorskip("keras", reason="the benchmark needs the keras extra")

sys.path.insert(0, str(ROOT / "benchmarks"))
import nbformat  # noqa: E402
import run_benchmark  # noqa: E402
from cnncourse_bench import accuracy, chapters, report, throughput  # noqa: E402
from jupyter_cache import get_cache  # noqa: E402
from jupyter_cache.base import CacheBundleIn  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
NUMERIC = {  # columns that must read back as numbers
    "throughput": ["images_per_s", "best_images_per_s", "median_epoch_s", "best_epoch_s",
                   "warmup_epoch_s", "epochs", "epochs_timed", "batch_size", "train_images"],
    "accuracy": ["parameters", "seconds_to_92_5", "seconds_to_93_5", "final_accuracy",
                 "final_single_view_accuracy", "total_s", "epochs", "batch_size", "lr",
                 "weight_decay", "shift_px", "erase_px", "train_images", "test_images", "seed"],
    "chapters": ["full_s", "quick_s"],
}  # fmt: skip


def fake_images(n: int, seed: int = 0) -> ImageSet:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
    return ImageSet(images, rng.integers(0, 10, n).astype(np.int64), tuple("abcdefghij"))


def fake_cache(folder, seconds: dict[str, float]):
    """A real jupyter-cache holding one executed notebook per chapter, as a book build leaves."""
    cache = get_cache(folder)
    for chapter, secs in seconds.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"print({secs!r})")])
        bundle = CacheBundleIn(nb, f"/repo/book/{chapter}.md", data={"execution_seconds": secs})
        cache.cache_notebook_bundle(bundle, check_validity=False)
    return folder


def assert_tidy(path, section: str, rows: int | None = None):
    table = pd.read_csv(path)
    assert list(table.columns[: len(report.COLUMNS[section])]) == list(report.COLUMNS[section])
    assert rows is None or len(table) == rows
    assert not table.duplicated([report.KEYS[section], "device"]).any()  # one row per key
    for column in NUMERIC[section]:
        assert pd.api.types.is_numeric_dtype(table[column]), (section, column)
    return table


# ---- the committed results ---------------------------------------------------------------


@pytest.mark.parametrize("section", report.SECTIONS)
def test_committed_results_are_tidy_and_their_tables_match(section):
    table = assert_tidy(RESULTS / f"{section}.csv", section)
    assert len(table) >= 2 and set(table["device"]) <= {"cpu", "cuda", "mps"}
    # the appendix's Markdown is made from the CSV, never edited by hand
    assert (RESULTS / f"{section}.md").read_text() == report.markdown(section, table)
    runs = json.loads((RESULTS / "machine.json").read_text())
    for kind in table["device"].unique():
        assert {"cpu", "cores", "torch", "device_name", "date"} <= set(runs[section][kind])


def test_committed_throughput_has_one_row_per_loop():
    table = pd.read_csv(RESULTS / "throughput.csv")
    for _, rows in table.groupby("device"):
        assert sorted(rows["loop"]) == sorted(throughput.LOOPS)
    assert (
        (table["images_per_s"] * table["median_epoch_s"]).round().eq(table["train_images"]).all()
    )


# ---- sections on tiny data ---------------------------------------------------------------


def test_the_loops_take_turns_and_rows_are_tidy(tmp_path):
    calls = []

    def runner(name):
        def run_epoch():
            calls.append(name)
            return 2.0 if len(calls) <= 3 else 1.0  # the first round warms up, slower

        return run_epoch

    names = throughput.LOOPS
    train = fake_images(100)
    rows = throughput.throughput(
        train, epochs=3, device="cpu", runners={n: runner(n) for n in names}
    )
    assert calls == list(names) * 3  # interleaved, not three epochs in a row
    assert [r["loop"] for r in rows] == list(names)
    assert all(r["epochs_timed"] == 2 and r["images_per_s"] == 100.0 for r in rows)
    assert all(r["warmup_epoch_s"] == 2.0 and r["layer_order"] == "conv-relu-pool" for r in rows)
    report.write_section(tmp_path, "throughput", rows, report.machine("cpu"))
    assert_tidy(tmp_path / "throughput.csv", "throughput", rows=3)
    md = (tmp_path / "throughput.md").read_text()
    assert "cpu, median epochs: fit / naive loop **1.00x**, fit / Keras fit **1.00x**" in md


def test_each_loop_trains_its_own_model_and_fit_runs_fast():
    runners = throughput.epoch_runners(fake_images(256), batch_size=64, seed=0, device="cpu")
    fit_epoch = runners["cnncourse.train.fit (PyTorch)"]
    seconds = [fit_epoch() for _ in range(2)]
    assert all(s > 0 for s in seconds)
    cells = [cell.cell_contents for cell in fit_epoch.__closure__]
    (optimizer,) = [c for c in cells if isinstance(c, torch.optim.Optimizer)]
    # Adam counted the steps of BOTH epochs: the state carried over between rounds
    assert all(int(s["step"]) == 2 * 4 for s in optimizer.state.values())
    assert runners["naive DataLoader loop (PyTorch)"]() > 0


def test_time_to_accuracy_writes_one_row_per_recipe(tmp_path):
    train, test = fake_images(256, seed=1), fake_images(128, seed=2)
    recipe = run_benchmark.Recipe(epochs=1, batch_size=128, lr=3e-3, flip_test=True)
    rows = accuracy.time_to_accuracy(train, test, [("tiny", recipe)], device="cpu")
    (row,) = rows
    # the model the recorded runs trained: the same parameter count as the committed rows
    assert row["parameters"] == pd.read_csv(RESULTS / "accuracy.csv")["parameters"].iloc[0]
    assert row["seconds_to_93_5"] is None  # random labels: never reached
    assert row["test_predictions"] == "flip-averaged" and row["total_s"] > 0
    report.write_section(tmp_path, "accuracy", rows, report.machine("cpu"))
    table = assert_tidy(tmp_path / "accuracy.csv", "accuracy", rows=1)
    assert table["seconds_to_93_5"].isna().all()
    assert "not reached" in (tmp_path / "accuracy.md").read_text()


def test_chapter_times_come_from_both_builds_caches(tmp_path):
    full = fake_cache(tmp_path / "full", {"convolution": 120.0, "dropout": 300.0})
    quick = fake_cache(tmp_path / "quick", {"convolution": 12.5})
    rows = chapters.book_times({"full": full, "quick": quick})
    report.write_section(tmp_path / "out", "chapters", rows, report.machine("cpu"))
    table = assert_tidy(tmp_path / "out" / "chapters.csv", "chapters", rows=2)
    assert table.set_index("chapter")["full_s"].to_dict() == {
        "convolution": 120.0,
        "dropout": 300.0,
    }
    assert np.isnan(table.set_index("chapter").loc["dropout", "quick_s"])
    md = (tmp_path / "out" / "chapters.md").read_text()
    assert "| dropout | cpu | 300.0 | not built |" in md and "| total | cpu | 420.0 | 12.5 |" in md
    assert chapters.book_times({"full": tmp_path / "none"}) == []
    assert not (tmp_path / "none").exists()  # looking did not create an empty cache


def test_a_new_run_replaces_its_device_rows_and_keeps_the_others(tmp_path):
    def rows(device, seconds):
        return [
            {"chapter": "x", "device": device, "full_s": seconds, "quick_s": 1.0,
             "device_name": device.upper(), "date": "2026-01-01T00:00:00"}
        ]  # fmt: skip

    report.write_section(tmp_path, "chapters", rows("cpu", 10.0), {"date": "a"})
    report.write_section(tmp_path, "chapters", rows("cuda", 2.0), {"date": "b"})
    report.write_section(tmp_path, "chapters", rows("cpu", 11.0), {"date": "c"})
    table = pd.read_csv(tmp_path / "chapters.csv")
    assert table.set_index("device")["full_s"].to_dict() == {"cuda": 2.0, "cpu": 11.0}
    runs = json.loads((tmp_path / "machine.json").read_text())["chapters"]
    assert runs["cpu"]["date"] == "c" and runs["cuda"]["date"] == "b"
    assert not list(tmp_path.glob(".*"))  # no temporary file left beside the tables
    with pytest.raises(ValueError, match="quick_s"):
        report.write_section(tmp_path, "chapters", [{"chapter": "y", "device": "cpu"}], {})


# ---- the command line ----------------------------------------------------------------------


def test_quick_run_writes_to_a_temporary_folder_and_tunes_the_allocator(
    tmp_path, monkeypatch, capsys
):
    tuned = []
    monkeypatch.setattr(runtime, "tune_cpu_allocator", lambda: tuned.append(True) or True)
    monkeypatch.setattr(run_benchmark.tempfile, "mkdtemp", lambda prefix: str(tmp_path / "tmp"))
    full = fake_cache(tmp_path / "full", {"pooling": 30.0})
    before = (RESULTS / "chapters.csv").read_text()
    argv = ["--quick", "--only", "chapters", "--full-cache", str(full)]
    assert run_benchmark.main([*argv, "--quick-cache", str(tmp_path / "none")]) == 0
    assert tuned == [True]  # the benchmark process tunes malloc itself; fit no longer does
    assert (tmp_path / "tmp" / "chapters.csv").is_file()
    assert (RESULTS / "chapters.csv").read_text() == before
    assert str(tmp_path / "tmp") in capsys.readouterr().out


def test_bad_options_are_refused(capsys):
    with pytest.raises(SystemExit):
        run_benchmark.main(["--epochs", "0"])
    assert "expected a positive whole number, got 0" in capsys.readouterr().err
