"""The benchmark's command line and report (the timed sections run in benchmarks/, not here)."""

from __future__ import annotations

import csv

import pytest
import torch

from cnncourse import bench


def _cache(folder, seconds: dict[str, float]):
    """A real jupyter-cache holding one executed notebook per chapter, as a book build leaves."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("jupyter_cache")  # the book extra
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(folder)
    for chapter, secs in seconds.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"print({secs!r})")])
        bundle = CacheBundleIn(nb, f"/repo/book/{chapter}.md", data={"execution_seconds": secs})
        cache.cache_notebook_bundle(bundle, check_validity=False)
    return folder


def test_book_section_reads_chapter_times_from_both_builds_caches(tmp_path):
    full = _cache(tmp_path / "full", {"convolution": 120.0, "dropout": 300.0})
    quick = _cache(tmp_path / "quick", {"convolution": 12.5})
    out = tmp_path / "results"
    argv = ["--only", "book", "--out", str(out), "--full-cache", str(full)]
    assert bench.main([*argv, "--quick-cache", str(quick)]) == 0
    md = (out / "latest.md").read_text()
    assert "| convolution | 120.0 | 12.5 |" in md and "| dropout | 300.0 | not built |" in md
    assert "| total | 420.0 | 12.5 |" in md and "- cpu_count:" in md and "- date:" in md
    rows = list(csv.DictReader((out / "latest.csv").open()))
    assert {"section": "book", "row": "1", "key": "full_s", "value": "300.0"} in rows
    assert {"section": "book", "row": "1", "key": "quick_s", "value": ""} in rows


def test_missing_build_is_reported_not_invented(tmp_path):
    out = tmp_path / "results"
    argv = ["--only", "book", "--out", str(out), "--full-cache", str(tmp_path / "none")]
    bench.main([*argv, "--quick-cache", str(tmp_path / "none")])
    assert "not measured" in (out / "latest.md").read_text()
    assert not (tmp_path / "none").exists()  # looking did not create an empty cache


def test_a_section_rerun_alone_keeps_the_others(tmp_path):
    speed = [{"loop": "naive DataLoader loop (PyTorch)", "images_per_s": 1000.0}]
    bench.write_section(tmp_path, "throughput", speed, {"date": "monday"})
    bench.write_section(tmp_path, "book", [{"chapter": "x", "full_s": 1.0}], {"date": "tuesday"})
    md_path, csv_path = bench.write_latest(tmp_path)
    text = md_path.read_text()
    assert text.index("## Loop throughput") < text.index("## Chapter execution times")
    assert "- date: monday" in text and "- date: tuesday" in text
    rows = list(csv.DictReader(csv_path.open()))
    assert {"section": "throughput", "row": "context", "key": "date", "value": "monday"} in rows
    assert not list(tmp_path.glob(".*"))  # no temporary file left beside the tables


def test_a_new_run_moves_the_previous_tables_to_history(tmp_path):
    bench.write_section(tmp_path, "book", [{"chapter": "x", "full_s": 1.0}], {"date": "T1:00"})
    bench.write_section(tmp_path, "book", [{"chapter": "x", "full_s": 2.0}], {"date": "T2:00"})
    assert "| x | 2 |" in (tmp_path / "book.md").read_text()
    assert "| x | 1 |" in (tmp_path / "history" / "book-T1-00.md").read_text()
    assert (tmp_path / "history" / "book-T1-00.csv").is_file()
    assert "book-T2" not in " ".join(p.name for p in (tmp_path / "history").iterdir())


def test_bad_options_are_refused(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--epochs", "0"])
    assert "must be at least 1" in capsys.readouterr().err


def test_report_states_the_speed_ratios(tmp_path):
    rows = [
        {
            "loop": "naive DataLoader loop (PyTorch)",
            "images_per_s": 1000.0,
            "best_images_per_s": 1100.0,
        },
        {
            "loop": "cnncourse.train.fit (PyTorch)",
            "images_per_s": 3000.0,
            "best_images_per_s": 4400.0,
        },
        {"loop": "Keras fit (TensorFlow)", "images_per_s": 2000.0, "best_images_per_s": 2200.0},
    ]
    md_path = bench.write_section(tmp_path, "throughput", rows, {"date": "today"})
    text = md_path.read_text()
    assert "median epochs: fit / naive loop: **3.00x**; fit / Keras fit: **1.50x**" in text
    assert "best epochs: fit / naive loop: **4.00x**; fit / Keras fit: **2.00x**" in text


def test_time_to_accuracy_reports_each_target_first_and_none_when_missed():
    from cnncourse.data import load
    from cnncourse.models.reference import Recipe

    images = load("fashion_mnist", "test")
    train, test = images.subset(512, seed=0), images.subset(256, seed=1)
    recipe = Recipe(epochs=2, batch_size=128, lr=3e-3, flip=True, shift=1)
    (row,) = bench.time_to_accuracy(train, test, [("tiny run", recipe)])
    assert list(row)[:4] == ["recipe", "parameters", "s_to_92.5%", "s_to_93.5%"]
    assert row["parameters"] == 87_546
    assert row["s_to_93.5%"] is None  # 512 images and two epochs do not get there
    assert len(row["epoch_accuracies"].split()) == 2 and row["total_s"] > 0
    assert 0.1 < row["final_test_accuracy"] <= 1.0
    # one view per image: the separate single-view evaluation is the same number
    assert row["test_predictions"] == "single view"
    assert row["final_single_view_accuracy"] == pytest.approx(row["final_test_accuracy"])


def test_time_to_accuracy_judges_a_flip_test_recipe_on_flip_averaged_predictions(monkeypatch):
    from cnncourse.data import load
    from cnncourse.models.reference import Recipe
    from cnncourse.models.tta import FlipAveraged
    from cnncourse.train import fit

    fitted = []

    def recording_fit(model, *args, **kwargs):
        fitted.append(model)
        return fit(model, *args, **kwargs)

    monkeypatch.setattr("cnncourse.train.fit", recording_fit)  # what time_to_accuracy imports
    images = load("fashion_mnist", "test")
    train, test = images.subset(256, seed=0), images.subset(128, seed=1)
    recipe = Recipe(epochs=1, batch_size=128, lr=3e-3, flip_test=True)
    (row,) = bench.time_to_accuracy(train, test, [("flipped", recipe)])
    (model,) = fitted
    assert isinstance(model, FlipAveraged)
    assert row["test_predictions"] == "flip-averaged" and row["parameters"] == 87_546
    assert 0.0 < row["final_single_view_accuracy"] <= 1.0


def test_the_loops_take_turns_epoch_by_epoch(monkeypatch):
    calls = []

    def runner(name):
        def run_epoch():
            calls.append(name)
            return 2.0 if len(calls) <= 3 else 1.0  # the first round warms up, slower

        return run_epoch

    loops = {name: runner(name) for name in ("naive", "fit", "keras")}
    monkeypatch.setattr(bench, "_epoch_runners", lambda *args: loops)
    rows = bench.throughput(list(range(100)), epochs=3)
    assert calls == ["naive", "fit", "keras"] * 3  # interleaved, not three epochs in a row
    assert [row["loop"] for row in rows] == ["naive", "fit", "keras"]
    assert all(row["epochs_timed"] == 2 and row["images_per_s"] == 100.0 for row in rows)


@pytest.mark.keras  # the runners include Keras fit
def test_each_loop_keeps_training_its_own_model_across_rounds():
    from cnncourse.data import load

    train = load("fashion_mnist", "test").subset(256, seed=0)
    runners = bench._epoch_runners(train, batch_size=64, seed=0)
    fit_epoch = runners["cnncourse.train.fit (PyTorch)"]
    seconds = [fit_epoch() for _ in range(2)]
    assert all(s > 0 for s in seconds)
    cells = [cell.cell_contents for cell in fit_epoch.__closure__]
    (optimizer,) = [c for c in cells if isinstance(c, torch.optim.Optimizer)]
    # Adam counted the steps of BOTH epochs: the state carried over between rounds
    assert all(int(s["step"]) == 2 * 4 for s in optimizer.state.values())
