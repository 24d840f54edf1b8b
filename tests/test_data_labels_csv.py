"""data.export_labelled_images / read_labels_csv: the id,label CSV layout and its bad rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cnncourse import data
from cnncourse._errors import InputError

CLASSES = ("cat", "dog", "T-shirt/top")


def small_set(channels: int = 1) -> data.ImageSet:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 5, 4, channels), dtype=np.uint8)
    return data.ImageSet(images, np.arange(12) % 3, CLASSES)


@pytest.mark.parametrize("channels", [1, 3])
def test_export_then_read_round_trips_pixels_and_labels(tmp_path, channels):
    images = small_set(channels)
    root = data.export_labelled_images(images, tmp_path / "kaggle", per_class=2)
    table = pd.read_csv(root / "labels.csv")
    assert list(table.columns) == ["id", "label"]
    assert list(table["id"]) == [0, 1, 2, 3, 4, 5]  # two per class, in id order
    checked = data.read_labels_csv(root / "labels.csv", root / "images", CLASSES)
    np.testing.assert_array_equal(checked["target"], images.labels[:6])
    for path, image_id in zip(checked["path"], table["id"], strict=True):
        pixels = np.asarray(Image.open(path))
        expected = images.images[image_id]
        np.testing.assert_array_equal(pixels, expected[..., 0] if channels == 1 else expected)


def test_export_refuses_a_folder_that_holds_files(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(FileExistsError, match="already holds files"):
        data.export_labelled_images(small_set(), tmp_path)


def write_rows(tmp_path, rows: str):
    root = data.export_labelled_images(small_set(), tmp_path / "kaggle")
    (root / "labels.csv").write_text("id,label\n" + rows)
    return root


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("0,cat\n1,dog\n99,cat\n", ["line 4", "'99'", "99.png", "delete the row"]),
        ("0,cat\n1,dgo\n", ["line 3", "'dgo'", "'dog'", "Correct the label"]),
        ("0,cat\n1,\n", ["line 3", "unknown label ''"]),  # empty: unknown, never NaN
    ],
    ids=["missing-file", "unknown-label", "empty-label"],
)
def test_a_bad_row_names_its_line_and_the_fix(tmp_path, rows, expected):
    root = write_rows(tmp_path, rows)
    with pytest.raises(data.LabelsCsvError) as caught:
        data.read_labels_csv(root / "labels.csv", root / "images", CLASSES)
    message = str(caught.value)
    assert all(part in message for part in expected), message
    assert isinstance(caught.value, InputError) and isinstance(caught.value, ValueError)


def test_ids_keep_leading_zeros_and_a_wrong_header_is_named(tmp_path):
    root = write_rows(tmp_path, "")
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(root / "images" / "007.png")
    (root / "labels.csv").write_text("id,label\n007,dog\n")
    table = data.read_labels_csv(root / "labels.csv", root / "images", CLASSES)
    assert table["path"].iloc[0].endswith("007.png") and table["target"].iloc[0] == 1
    (root / "labels.csv").write_text("image,class\n007,dog\n")
    with pytest.raises(data.LabelsCsvError, match="rename its header to id,label"):
        data.read_labels_csv(root / "labels.csv", root / "images", CLASSES)
