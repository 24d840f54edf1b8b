"""The benchmark's command line and report (the timed sections run in benchmarks/, not here)."""

from __future__ import annotations

import csv

import pytest

from cnncourse import bench


def test_book_section_reads_the_times_csv_and_writes_markdown_and_csv(tmp_path):
    times = tmp_path / "times.csv"
    times.write_text("chapter,seconds\nbook/convolution,12.5\nbook/dropout,30\n")
    out = tmp_path / "results"
    assert bench.main(["--only", "book", "--out", str(out), "--book-times", str(times)]) == 0
    md = (out / "latest.md").read_text()
    assert "| book/convolution | 12.5 |" in md and "- cpu_count:" in md and "- date:" in md
    rows = list(csv.DictReader((out / "latest.csv").open()))
    assert {"section": "book", "row": "1", "key": "seconds", "value": "30.0"} in rows


def test_missing_times_csv_is_reported_not_invented(tmp_path):
    out = tmp_path / "results"
    bench.main(["--only", "book", "--out", str(out), "--book-times", str(tmp_path / "none.csv")])
    assert "not measured" in (out / "latest.md").read_text()


def test_bad_times_csv_and_bad_options_are_refused(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,minutes\nx,1\n")
    with pytest.raises(ValueError, match="'chapter' and 'seconds'"):
        bench.book_times(bad)
    with pytest.raises(SystemExit):
        bench.main(["--epochs", "0"])
    assert "must be at least 1" in capsys.readouterr().err


def test_report_states_the_speed_ratios(tmp_path):
    rows = [
        {"loop": "naive DataLoader loop (PyTorch)", "images_per_s": 1000.0},
        {"loop": "cnncourse.train.fit (PyTorch)", "images_per_s": 3000.0},
        {"loop": "Keras fit (TensorFlow)", "images_per_s": 2000.0},
    ]
    md_path, _ = bench.write_report(tmp_path, {"throughput": rows}, {"date": "today"})
    text = md_path.read_text()
    assert "fit / naive loop: **3.00x**" in text and "fit / Keras fit: **1.50x**" in text
