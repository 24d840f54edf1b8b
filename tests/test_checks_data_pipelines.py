"""The exercise checks of the chapter "Data pipelines": solutions pass, mistakes get hints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from cnncourse.exercises import check, get_exercise, registry
from cnncourse.exercises.checks import data_pipelines as dp_checks


def verdict(exercise_id, answer):
    return check(exercise_id, answer)


IDS = [
    "data-float-bytes",
    "data-safe-digits",
    "data-flip-each",
    "data-dataset",
    "data-csv-dataset",
    "data-read-mirror-cost",
    "data-rotate-experiment",
    "data-validation-split",
    "data-standardise",
]


def test_all_are_registered_for_the_chapter():
    for exercise_id in IDS:
        assert get_exercise(exercise_id).chapter == "data_pipelines"
    assert get_exercise("data-read-mirror-cost").uses == ("flip_table",)
    assert get_exercise("data-rotate-experiment").uses == ("flip_models", "test_set")


@pytest.mark.parametrize("exercise_id", [i for i in IDS if i != "data-csv-dataset"])
def test_none_is_not_attempted(exercise_id):
    assert verdict(exercise_id, None).status == "not attempted"


# ---- data-float-bytes ------------------------------------------------------------------


def memory_bytes(n, height, width, channels, dtype):
    """The chapter's solution."""
    return n * height * width * channels * np.dtype(dtype).itemsize


def numpy_bytes(n, height, width, channels, dtype):
    """The oracle: the bytes NumPy's own array of that shape and type holds."""
    return np.empty((n, height, width, channels), dtype=dtype).nbytes


def grade(exercise_id, answer):
    return registry.evaluate(get_exercise(exercise_id), lambda: answer)


def test_float_bytes_function_agrees_with_numpy_and_passes_feedback_and_grading():
    for args in [(50, 32, 32, 3, "float32"), (7, 5, 3, 1, "uint8"), (2, 9, 4, 4, "float16")]:
        assert memory_bytes(*args) == numpy_bytes(*args)
    assert verdict("data-float-bytes", memory_bytes).passed
    assert verdict("data-float-bytes", numpy_bytes).passed
    graded = grade("data-float-bytes", memory_bytes)
    assert graded["status"] == "pass" and graded["points"] == 1


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda n, h, w, c, t: n * h * w * c, "uint8"),
        (lambda n, h, w, c, t: n * h * w * np.dtype(t).itemsize, "colour"),
        (lambda n, h, w, c, t: n * h * w * c * np.dtype(t).itemsize * 8, "bits"),
        (lambda n, h, w, c, t: 12, "too small"),
    ],
)
def test_float_bytes_mistakes_get_specific_hints(wrong, words):
    result = verdict("data-float-bytes", wrong)
    assert result.status == "fail" and words in result.message
    answer = str(numpy_bytes(50_000, 32, 32, 3, "float32"))
    assert answer not in result.message.replace(",", "")  # never the answer


def test_float_bytes_as_a_literal_or_a_float32_only_function_fails_grading():
    oracle = numpy_bytes(50_000, 32, 32, 3, "float32")
    plain = verdict("data-float-bytes", oracle)
    assert plain.status == "fail" and "function" in plain.message
    assert grade("data-float-bytes", oracle)["points"] == 0
    constant = grade("data-float-bytes", lambda n, h, w, c, t: oracle)
    assert constant["status"] == "fail" and constant["points"] == 0
    always_float32 = lambda n, h, w, c, t: n * h * w * c * 4  # noqa: E731
    assert verdict("data-float-bytes", always_float32).passed  # right on the chapter's case
    assert grade("data-float-bytes", always_float32)["points"] == 0  # the edge case is uint8


def test_float_bytes_wrong_type():
    result = verdict("data-float-bytes", "614400000")
    assert result.status == "fail" and "wrong type" in result.message


# ---- data-safe-digits --------------------------------------------------------------------


@pytest.mark.parametrize("answer", [{"c", "e", "f"}, ["f", "e", "c"], "c, e, f", {"C", "E", "F"}])
def test_safe_digits_solution_passes_in_any_spelling(answer):
    assert verdict("data-safe-digits", answer).passed


def test_safe_digits_unsafe_choice_is_explained():
    result = verdict("data-safe-digits", {"c", "d", "e", "f"})
    assert result.status == "fail" and "(d)" in result.message and "6" in result.message


def test_safe_digits_missing_choice_is_counted():
    result = verdict("data-safe-digits", {"c", "e"})
    assert result.status == "fail" and "1 more option" in result.message


def test_safe_digits_grade_gives_no_hint_which_letter():
    for wrong in ({"c", "d", "e", "f"}, {"c", "e"}):
        graded = grade("data-safe-digits", wrong)
        assert graded["status"] == "fail" and graded["points"] == 0
        assert "(d)" not in graded["message"] and "more option" not in graded["message"]
        assert not verdict("data-safe-digits", wrong).passed
    assert grade("data-safe-digits", {"c", "e", "f"})["points"] == 1


def test_safe_digits_rejects_unknown_letters():
    result = verdict("data-safe-digits", {"c", "z"})
    assert result.status == "fail" and "wrong type" in result.message


# ---- data-flip-each ----------------------------------------------------------------------


def solution_flip_each(batch):
    coins = torch.rand(len(batch)) < 0.5
    return torch.where(coins[:, None, None, None], batch.flip(-1), batch)


def test_flip_each_solution_passes():
    torch.manual_seed(0)
    assert verdict("data-flip-each", solution_flip_each).passed


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda b: v2.RandomHorizontalFlip(p=1.0)(b), "one coin per image"),
        (lambda b: b.clone(), "one coin per image"),
        (
            lambda b: torch.where((torch.rand(len(b)) < 0.5)[:, None, None, None], b.flip(-2), b),
            "upside down",
        ),
        (lambda b: b.float(), "dtype"),
        (lambda b: b[:, 0], "shape"),
        (
            lambda b: torch.where((torch.arange(len(b)) < 3)[:, None, None, None], b.flip(-1), b),
            "probability",
        ),
        (lambda b: b.numpy(), "torch.Tensor"),
    ],
)
def test_flip_each_mistakes_get_hints(wrong, words):
    result = verdict("data-flip-each", wrong)
    assert result.status == "fail" and words in result.message, result.message


def test_flip_each_stub_is_not_attempted():
    def stub(batch):
        return None

    assert verdict("data-flip-each", stub).status == "not attempted"


# ---- data-dataset ------------------------------------------------------------------------


class Solution(Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        pixels = torch.from_numpy(self.images.images[index]).permute(2, 0, 1)
        return pixels.float() / 255, int(self.images.labels[index])


class ChannelsLast(Solution):
    def __getitem__(self, index):
        return torch.from_numpy(self.images.images[index]).float() / 255, int(
            self.images.labels[index]
        )


class Unscaled(Solution):
    def __getitem__(self, index):
        image, label = super().__getitem__(index)
        return image * 255, label


class TensorLabel(Solution):
    def __getitem__(self, index):
        image, label = super().__getitem__(index)
        return image, torch.tensor(label)


class Stub(Dataset):
    def __init__(self, images):
        pass

    def __len__(self):
        return 0

    def __getitem__(self, index):
        return None


def test_dataset_solution_passes():
    assert verdict("data-dataset", Solution).passed


def test_dataset_package_class_passes():
    from cnncourse.data import ImageSetDataset

    assert verdict("data-dataset", ImageSetDataset).passed


@pytest.mark.parametrize(
    "wrong, words",
    [(ChannelsLast, "channels first"), (Unscaled, "[0, 1]"), (TensorLabel, "Python int")],
)
def test_dataset_mistakes_get_hints(wrong, words):
    result = verdict("data-dataset", wrong)
    assert result.status == "fail" and words in result.message, result.message


def test_dataset_stub_and_instances():
    assert verdict("data-dataset", Stub).status == "not attempted"
    result = verdict("data-dataset", Solution(None))
    assert result.status == "fail" and "the class itself" in result.message


# ---- data-csv-dataset ----------------------------------------------------------------------


class CheckedCsvImages(Dataset):
    """The chapter's solution: rows checked by data.read_labels_csv, one file per sample."""

    def __init__(self, csv_file, image_dir, classes):
        from cnncourse import data

        self.table = data.read_labels_csv(csv_file, image_dir, classes)

    def __len__(self):
        return len(self.table)

    def __getitem__(self, index):
        from PIL import Image

        with Image.open(self.table["path"][index]) as file:
            image = v2.functional.pil_to_tensor(file)
        return image.float() / 255, int(self.table["target"][index])


class Unchecked(CheckedCsvImages):
    """Reads the rows without checking them: a bad row goes through __init__."""

    def __init__(self, csv_file, image_dir, classes):
        import pandas as pd

        table = pd.read_csv(csv_file)
        self.table = table.assign(
            path=[f"{image_dir}/{i}.png" for i in table["id"]],
            target=[classes.index(c) if c in classes else 0 for c in table["label"]],
        )

    def __getitem__(self, index):
        try:
            return super().__getitem__(index)
        except FileNotFoundError:
            return torch.zeros(3, 6, 5), 0


class ChannelsLast(CheckedCsvImages):
    def __getitem__(self, index):
        image, label = super().__getitem__(index)
        return image.permute(1, 2, 0), label


class WrongRow(CheckedCsvImages):
    def __getitem__(self, index):
        return super().__getitem__((index + 1) % len(self))


class SilentError(CheckedCsvImages):
    def __init__(self, csv_file, image_dir, classes):
        try:
            super().__init__(csv_file, image_dir, classes)
        except ValueError as err:
            raise ValueError("bad CSV") from err


class Empty(Dataset):
    def __init__(self, csv_file, image_dir, classes):
        pass

    def __len__(self):
        return 0

    def __getitem__(self, index):
        return None


def test_csv_dataset_solution_passes_on_fresh_folders():
    for _ in range(3):
        assert verdict("data-csv-dataset", CheckedCsvImages).passed


@pytest.mark.parametrize(
    "wrong, words",
    [
        (Unchecked, "went through"),
        (ChannelsLast, "(C, H, W)"),
        (WrongRow, "not the image of row"),
        (SilentError, "name the row's id"),
    ],
)
def test_csv_dataset_mistakes_get_specific_hints(wrong, words):
    result = verdict("data-csv-dataset", wrong)
    assert result.status == "fail" and words in result.message, result.message


def test_csv_dataset_stub_and_instances():
    assert verdict("data-csv-dataset", Empty).status == "not attempted"
    assert verdict("data-csv-dataset", Empty("a", "b", [])).status == "fail"


def graded(exercise_id: str, answer) -> dict:
    return registry.evaluate(get_exercise(exercise_id), lambda: answer)


def keras_held_out(labels, validation_split):
    return labels[math.floor(len(labels) * (1 - validation_split)) :]


@pytest.mark.parametrize(
    ("n", "split"), [(7, 0.3), (600, 0.2), (101, 0.33), (50, 0.1), (333, 0.55)]
)
def test_the_held_out_part_is_what_keras_holds_out(n, split):
    array_slicing = pytest.importorskip("keras.src.trainers.data_adapters.array_slicing")
    labels = np.arange(n)
    _, (held_out,) = array_slicing.train_validation_split((labels,), split)
    assert np.array_equal(np.asarray(held_out), dp_checks.keras_held_out(labels, split))


def test_validation_split_grades_a_function_not_the_chapters_answer():
    assert check("data-validation-split", keras_held_out).passed
    assert graded("data-validation-split", keras_held_out)["points"] == 1
    head = check("data-validation-split", lambda labels, s: labels[: len(labels) // 5])
    assert head.status == "fail" and "LAST" in head.message

    # right whenever n * split is a whole number, as in the chapter's case; not in general
    def rounded_the_other_way(labels, s):
        return labels[len(labels) - int(len(labels) * s) :]

    assert check("data-validation-split", rounded_the_other_way).passed
    assert graded("data-validation-split", rounded_the_other_way)["points"] == 0
    literal = keras_held_out(dp_checks.SORTED_LABELS.copy(), dp_checks.CHAPTER_SPLIT)
    assert graded("data-validation-split", lambda labels, s: literal)["points"] == 0
    assert check("data-validation-split", lambda labels, s: None).status == "not attempted"


def standardise_with(train, images):
    return (images - train.mean(axis=(0, 1, 2))) / train.std(axis=(0, 1, 2))


def test_standardise_uses_the_training_statistics_per_channel():
    assert check("data-standardise", standardise_with).passed
    assert graded("data-standardise", standardise_with)["points"] == 1

    def unbiased(train, images):  # torch's default std (n - 1)
        return (images - train.mean(axis=(0, 1, 2))) / train.std(axis=(0, 1, 2), ddof=1)

    assert graded("data-standardise", unbiased)["points"] == 1
    leak = check("data-standardise", lambda train, images: standardise_with(images, images))
    assert leak.status == "fail" and "TRAINING" in leak.message
    pooled = check("data-standardise", lambda t, i: (i - t.mean()) / t.std())
    assert pooled.status == "fail" and "per channel" in pooled.message
    centred = check("data-standardise", lambda t, i: i - t.mean(axis=(0, 1, 2)))
    assert centred.status == "fail" and "divide" in centred.message
    fixed = standardise_with(*dp_checks._standardise_cases(np.random.default_rng(0), 1)[0][0])
    assert graded("data-standardise", lambda train, images: fixed)["points"] == 0
