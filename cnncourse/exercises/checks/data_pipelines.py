"""Checks of the chapter "Data pipelines" (``book/data_pipelines.md``).

Expected values are computed from the problem each exercise poses; function and
class answers are run on small synthetic inputs built here.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Iterable

import numpy as np

from cnncourse.exercises import answers
from cnncourse.exercises.answers import (
    NotAttempted,
    WrongType,
    as_callable,
    as_int,
    check_fresh_cases,
    compare_int,
    describe,
    drawn_cases,
    judged_by,
    needs_function,
    own_arguments,
    value_of_case,
)
from cnncourse.exercises.checks._training import predicted_classes
from cnncourse.exercises.registry import chapter_value, exercise, grading

CHAPTER = "data_pipelines"

# data-float-bytes: the CIFAR-10 training set as float32 (the chapter's case of memory_bytes)
CIFAR_IMAGES, CIFAR_SHAPE, FLOAT32_BYTES = 50_000, (32, 32, 3), 4

# data-safe-digits: the options, and which keep every digit's label
DIGIT_OPTIONS = {
    "a": "mirror left-right",
    "b": "flip upside down",
    "c": "rotate by up to 10 degrees",
    "d": "rotate by 180 degrees",
    "e": "shift by up to 2 pixels",
    "f": "zoom by up to 10%",
}
SAFE_FOR_DIGITS = frozenset({"c", "e", "f"})
_WHY_UNSAFE = {
    "a": "mirror a 3 or a 7 in your head: is it still a digit?",
    "b": "turn a 7 upside down: is it still a 7?",
    "d": "turn a 6 by 180 degrees: which digit do you read?",
}

# data-csv-dataset: the folder the grader writes afresh
CSV_CLASSES = ["cat", "dog", "bird"]
CSV_ROWS, CSV_IMAGE = 12, (6, 5, 3)  # rows; (H, W, C) of every RGB file

# data-flip-each: the test batch
FLIP_BATCH = (64, 2, 5, 7)  # (B, C, H, W); odd width so no image is its own mirror


def _values(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def _sample(dataset, index: int) -> tuple | str:
    """``dataset[index]`` as ``(image tensor, label)``, or the hint that says why not."""
    import torch

    try:
        sample = dataset[index]
    except Exception as err:
        return f"dataset[{index}] failed: {type(err).__name__}: {err}"
    if sample is None:
        raise NotAttempted("__getitem__ returns None: return (image, label).")
    if not isinstance(sample, tuple | list) or len(sample) != 2:
        return f"dataset[i] must return a pair (image, label), got {describe(sample)}."
    if not isinstance(sample[0], torch.Tensor):
        return f"the image must be a torch.Tensor, got {describe(sample[0])}."
    return tuple(sample)


def memory_bytes(n: int, height: int, width: int, channels: int, dtype: str) -> int:
    """Bytes of ``n`` images of ``height x width x channels`` values of NumPy type ``dtype``."""
    return n * height * width * channels * np.dtype(dtype).itemsize


@exercise("data-float-bytes", name="memory_bytes", chapter=CHAPTER, points=1)
def _float_bytes(answer) -> str | None:
    case = (CIFAR_IMAGES, *CIFAR_SHAPE, "float32")
    got = as_int(value_of_case(answer, case, "memory_bytes"), "a number of bytes")
    values = CIFAR_IMAGES * _values(CIFAR_SHAPE)
    expected = memory_bytes(*case)
    grey = CIFAR_IMAGES * CIFAR_SHAPE[0] * CIFAR_SHAPE[1]
    verdict = compare_int(
        got,
        expected,
        known_mistakes={
            values: "that is the size as uint8, one byte a value; float32 takes more.",
            grey * FLOAT32_BYTES: "CIFAR-10 photos are in colour: count every channel.",
            grey: "count the colour channels and the bytes of one float32 value.",
            values * 8: "float32 is 32 bits; how many bytes is that?",
            expected * 8: "that is in bits: count bytes (8 bits each).",
        },
    )
    return needs_function(answer, verdict, "memory_bytes(n, height, width, channels, dtype)")


@grading("data-float-bytes")
def _float_bytes_graded(answer) -> str | None:
    """Image counts, sizes, channels and dtypes drawn at grading time."""

    def draw(rng: random.Random) -> tuple[int, int, int, int, str]:
        dtype = rng.choice(("uint8", "float16", "float32", "float64"))
        return (
            rng.randint(1, 200_000),
            rng.randint(1, 512),
            rng.randint(1, 512),
            rng.choice((1, 3, 4)),
            dtype,
        )

    edge = (7, 5, 3, 1, "uint8")  # non-square, one channel, one byte a value
    cases = [(edge, memory_bytes(*edge)), *drawn_cases(draw, memory_bytes, 5)]
    return check_fresh_cases(answer, cases, "memory_bytes", rtol=0, atol=1e-9)


def _letters(answer) -> set[str]:
    if isinstance(answer, str):
        items: Iterable = [c for c in answer if c.isalpha()]
    elif isinstance(answer, set | frozenset | list | tuple):
        items = answer
    else:
        raise WrongType(f"expected a set of letters such as {{'a', 'b'}}, got {describe(answer)}.")
    letters = set()
    for item in items:
        if not isinstance(item, str) or item.strip().lower() not in DIGIT_OPTIONS:
            raise WrongType(
                f"each entry must be one of the letters {', '.join(DIGIT_OPTIONS)}; got {item!r}."
            )
        letters.add(item.strip().lower())
    return letters


@exercise("data-safe-digits", chapter=CHAPTER, points=1)
def _safe_digits(answer) -> str | None:
    got = _letters(answer)
    if got == SAFE_FOR_DIGITS:
        return None
    if not answers.DIRECTION_HINTS:  # which letter is wrong, how many missing: feedback only
        return "that is not the set of augmentations that keep every digit's label."
    unsafe = sorted(got - SAFE_FOR_DIGITS)
    if unsafe:
        return f"({unsafe[0]}) changes some labels: {_WHY_UNSAFE[unsafe[0]]}"
    missing = len(SAFE_FOR_DIGITS - got)
    return (
        f"everything you chose is safe, but {missing} more option"
        f"{' is' if missing == 1 else 's are'} safe too: which changes does a different hand "
        "or scanner make anyway?"
    )


@exercise("data-flip-each", name="flip_each", chapter=CHAPTER, points=1)
def _flip_each(answer) -> str | None:
    import torch

    func = as_callable(answer, "a function flip_each(batch)")
    generator = torch.Generator().manual_seed(0)
    batch = torch.randint(0, 256, FLIP_BATCH, dtype=torch.uint8, generator=generator)
    original = batch.clone()
    try:
        out = func(batch)
    except NotImplementedError as err:
        raise NotAttempted("the function still raises NotImplementedError.") from err
    if out is None:
        raise NotAttempted("flip_each returns None: write its body and return the new batch.")
    if not isinstance(out, torch.Tensor):
        return f"flip_each must return a torch.Tensor, got {describe(out)}."
    if tuple(out.shape) != FLIP_BATCH:
        return f"the batch has shape {FLIP_BATCH}, your result {tuple(out.shape)}: keep the shape."
    if out.dtype != original.dtype:
        return f"the batch is {original.dtype}, your result {out.dtype}: keep the dtype."
    same = (out == original).flatten(1).all(dim=1)  # (B,)
    mirrored = (out == original.flip(-1)).flatten(1).all(dim=1)  # (B,)
    if not bool((same | mirrored).all()):
        if bool((out == original.flip(-2)).flatten(1).all(dim=1).any()):
            return (
                "some images came out upside down: mirror left-right, along the width (last) axis."
            )
        return "each image must come out either unchanged or mirrored left-right, nothing else."
    flipped = int(mirrored.sum())
    if flipped in (0, FLIP_BATCH[0]):
        return (
            f"{'all' if flipped else 'none'} of the {FLIP_BATCH[0]} images were mirrored: draw "
            "one coin per image, not one for the whole batch."
        )
    if not 12 <= flipped <= 52:  # Binomial(64, 1/2) falls outside only about once in 10^7
        return f"{flipped} of {FLIP_BATCH[0]} images were mirrored: use probability 1/2 per image."
    return None


@exercise("data-dataset", name="ImageSetSamples", chapter=CHAPTER, points=1)
def _dataset(answer) -> str | None:
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from cnncourse.data.imageset import ImageSet

    if not isinstance(answer, type):
        raise WrongType(
            f"expected a class (pass the class itself, not an instance), got {describe(answer)}."
        )
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 6, 5, 3), dtype=np.uint8)  # (N, H, W, C)
    labels = rng.integers(0, 4, 10)
    imageset = ImageSet(images, labels, ("a", "b", "c", "d"))
    try:
        dataset = answer(imageset)
        size = len(dataset)
    except Exception as err:  # shown to the student as a hint
        return f"YourDataset(imageset) or len() failed: {type(err).__name__}: {err}"
    if size == 0:
        raise NotAttempted("__len__ returns 0: return the number of samples.")
    if size != len(imageset):
        return f"len() gives {size}, but the ImageSet holds {len(imageset)} samples."
    sample = _sample(dataset, 3)
    if isinstance(sample, str):
        return sample
    image, label = sample
    expected_shape = (3, 6, 5)
    if tuple(image.shape) == (6, 5, 3):
        return "the image is (H, W, C): PyTorch wants the channels first, (C, H, W)."
    if tuple(image.shape) != expected_shape:
        return f"for (H, W, C) = (6, 5, 3) images the sample must be (3, 6, 5), got {tuple(image.shape)}."
    if image.dtype != torch.float32:
        return f"the image must be float32, got {image.dtype}."
    expected = torch.from_numpy(images[3]).permute(2, 0, 1).float() / 255
    if float(image.max()) > 1.0:
        return "the values must lie in [0, 1]: divide the uint8 pixels by 255."
    if not torch.allclose(image, expected, atol=1e-6):
        return (
            "the values do not match the ImageSet's image: check the axis order and the scaling."
        )
    if isinstance(label, bool) or not isinstance(label, int):
        return f"the label must be a Python int (int(...)), got {describe(label)}."
    if label != int(labels[3]):
        return "the label does not match the ImageSet's label for that index."
    try:
        batch_images, batch_labels = next(iter(DataLoader(dataset, batch_size=4)))
    except Exception as err:
        return f"a DataLoader over your dataset failed: {type(err).__name__}: {err}"
    if tuple(batch_images.shape) != (4, *expected_shape) or tuple(batch_labels.shape) != (4,):
        return f"a DataLoader batch came out {tuple(batch_images.shape)}, expected (4, 3, 6, 5)."
    return None


def _write_csv_folder(root, rng) -> tuple[list[int], list[str], dict]:
    """A fresh id,label folder of random RGB PNG files: (ids, labels, {id: pixels})."""
    from PIL import Image

    images = root / "images"
    images.mkdir(parents=True)
    ids = [int(i) for i in rng.choice(np.arange(100, 100_000), size=CSV_ROWS, replace=False)]
    labels = [CSV_CLASSES[int(k)] for k in rng.integers(0, len(CSV_CLASSES), CSV_ROWS)]
    pixels = {}
    for image_id in ids:
        pixels[image_id] = rng.integers(0, 256, CSV_IMAGE, dtype=np.uint8)
        Image.fromarray(pixels[image_id]).save(images / f"{image_id}.png")
    _write_rows(root / "labels.csv", ids, labels)
    return ids, labels, pixels


def _write_rows(path, ids, labels) -> None:
    lines = ["id,label", *(f"{i},{label}" for i, label in zip(ids, labels, strict=True))]
    path.write_text("\n".join(lines) + "\n")


def _bad_row_hint(answer, root, ids, labels, bad_id, bad_label, problem) -> str | None:
    """None when the class refuses a CSV with one bad row and names its id."""
    _write_rows(root / "bad.csv", [*ids, bad_id], [*labels, bad_label])
    try:
        dataset = answer(root / "bad.csv", root / "images", CSV_CLASSES)
        for index in range(len(dataset)):
            dataset[index]
    except Exception as err:
        if str(bad_id) not in str(err) and bad_label not in str(err):
            return f"a row with {problem} raised an error; let its message name the row's id."
        return None
    return f"a CSV with a row with {problem} went through: check every row in __init__."


@exercise("data-csv-dataset", name="CheckedCsvImages", chapter=CHAPTER, points=2)
def _csv_dataset(answer) -> str | None:
    import tempfile
    from pathlib import Path

    import torch

    if not isinstance(answer, type):
        raise WrongType(
            f"expected a class (pass the class itself, not an instance), got {describe(answer)}."
        )
    rng = np.random.default_rng()  # fresh files at every grading
    with tempfile.TemporaryDirectory(prefix="cnncourse-check-") as tmp:
        root = Path(tmp)
        ids, labels, pixels = _write_csv_folder(root, rng)
        try:
            dataset = answer(root / "labels.csv", root / "images", CSV_CLASSES)
            size = len(dataset)
        except Exception as err:  # shown to the student as a hint
            return f"YourDataset(csv_file, image_dir, classes) failed: {type(err).__name__}: {err}"
        if size == 0:
            raise NotAttempted("__len__ returns 0: return the number of rows.")
        if size != len(ids):
            return f"len() gives {size}, but the CSV has {len(ids)} rows."
        row = int(rng.integers(0, len(ids)))
        sample = _sample(dataset, row)
        if isinstance(sample, str):
            return sample
        image, label = sample
        height, width, channels = CSV_IMAGE
        if tuple(image.shape) == CSV_IMAGE:
            return "the image is (H, W, C): PyTorch wants the channels first, (C, H, W)."
        if tuple(image.shape) != (channels, height, width):
            return (
                f"the files are {channels}-channel {height} x {width} images, so a sample must "
                f"be ({channels}, {height}, {width}); got {tuple(image.shape)}."
            )
        if image.dtype != torch.float32:
            return f"the image must be float32, got {image.dtype}."
        if float(image.max()) > 1.0:
            return "the values must lie in [0, 1]: divide the uint8 pixels by 255."
        expected = torch.from_numpy(pixels[ids[row]]).permute(2, 0, 1).float() / 255
        if not torch.allclose(image, expected, atol=1e-6):
            return (
                f"dataset[{row}] is not the image of row {row} of the CSV: open "
                "image_dir / f'{id}.png' for the id in that row."
            )
        if isinstance(label, bool) or not isinstance(label, int):
            return f"the label must be a Python int (int(...)), got {describe(label)}."
        if label != CSV_CLASSES.index(labels[row]):
            return "the label must be the position of the row's class name in classes."
        missing = next(i for i in range(100_000, 200_000) if i not in ids)
        return _bad_row_hint(
            answer, root, ids, labels, missing, CSV_CLASSES[0], "a missing file"
        ) or _bad_row_hint(answer, root, ids, labels, ids[0], "zebra", "an unknown label")


# data-read-mirror-cost (read): the chapter's `flip_table`, the model trained without flips,
# all classes: accuracy on the photos as they are minus accuracy on the mirrored photos.
# data-rotate-experiment (experiment): the chapter's `flip_models["no flips"]` on the 10,000
# photos of `test_set` rotated by 180 degrees (a view the table lacks), all classes.
NO_FLIPS, MIRRORING = "no flips", "random mirroring"
ALL, FOOTWEAR = "all classes", "footwear"
AS_THEY_ARE, MIRRORED, UPSIDE_DOWN = "as they are", "mirrored", "upside down"
FOOTWEAR_CLASSES = ("Sandal", "Sneaker", "Ankle boot")


@exercise(
    "data-read-mirror-cost",
    name="mirror_cost_all_classes",
    chapter=CHAPTER,
    points=1,
    uses=("flip_table",),
)
def _read_mirror_cost(answer) -> str | None:
    got = answers.as_float(answer, "a difference of two accuracies")
    table = chapter_value("flip_table")

    def cost(row: str, classes: str, view: str = MIRRORED) -> float:
        return float(table.loc[row, (classes, AS_THEY_ARE)] - table.loc[row, (classes, view)])

    expected = cost(NO_FLIPS, ALL)
    return answers.compare_float(
        got,
        expected,
        rtol=0.0,
        atol=2e-3,  # the table shows three decimals
        known_mistakes=[
            (-expected, "check the sign: as they are minus mirrored."),
            (100 * expected, "give it as a fraction, not percentage points."),
            (cost(NO_FLIPS, FOOTWEAR), "that is the footwear column; read all classes."),
            (cost(MIRRORING, ALL), "that is the model trained with random mirroring."),
            (cost(NO_FLIPS, ALL, UPSIDE_DOWN), "that is the upside-down column; read mirrored."),
        ],
    )


def rotated_accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the PyTorch ``model`` on uint8 ``images`` (N, H, W, C) rotated by 180
    degrees (flipped top to bottom and left to right)."""
    predicted = predicted_classes(model, images[:, ::-1, ::-1])
    return float((predicted == np.asarray(labels)).mean())


@exercise(
    "data-rotate-experiment",
    name="rotated_accuracy_no_flips",
    chapter=CHAPTER,
    points=2,
    uses=("flip_models", "test_set"),
)
def _rotate_experiment(answer) -> str | None:
    got = answers.as_float(answer, "an accuracy between 0 and 1")
    models, test = chapter_value("flip_models"), chapter_value("test_set")
    expected = rotated_accuracy(models[NO_FLIPS], test.images, test.labels)
    # an image flipped about one axis and then rotated by 180 degrees is flipped about the other
    mirrored = rotated_accuracy(models[NO_FLIPS], test.images[:, ::-1], test.labels)
    upside_down = rotated_accuracy(models[NO_FLIPS], test.images[:, :, ::-1], test.labels)
    shoes = np.isin(test.labels, [list(test.class_names).index(n) for n in FOOTWEAR_CLASSES])
    footwear = rotated_accuracy(models[NO_FLIPS], test.images[shoes], test.labels[shoes])
    return answers.compare_float(
        got,
        expected,
        rtol=0.0,
        atol=2e-3,
        known_mistakes=[
            (mirrored, "that flips left to right only; rotate by 180 degrees (both axes)."),
            (upside_down, "that flips top to bottom only; rotate by 180 degrees (both axes)."),
            (
                rotated_accuracy(models[MIRRORING], test.images, test.labels),
                "that is the model trained with random mirroring; measure the one without flips.",
            ),
            (footwear, "that is footwear only; measure all classes."),
            (100 * expected, "give it as a fraction, not a percentage."),
        ],
    )


# data-validation-split (build): the labels Keras' fit(validation_split=...) holds out.
# data-standardise (build): held-out images standardised with the training statistics.
SORTED_LABELS = np.repeat(np.arange(10), 60)  # class-sorted, as a folder read in order
CHAPTER_SPLIT = 0.2


def keras_held_out(labels, validation_split: float) -> np.ndarray:
    """The labels ``fit(validation_split=...)`` holds out: the last part, before shuffling."""
    split_at = math.floor(len(labels) * (1.0 - validation_split))
    return np.asarray(labels)[split_at:]


def _held_out_hint(got, labels, validation_split: float) -> str | None:
    got = np.asarray(got)
    expected = keras_held_out(labels, validation_split)
    if got.shape == expected.shape and np.array_equal(got, expected):
        return None
    first = np.asarray(labels)[: len(expected)]
    if got.shape == first.shape and np.array_equal(got, first):
        return "that is the first part; Keras holds out the LAST samples, before shuffling."
    if got.shape != expected.shape:
        return (
            f"for {len(labels)} labels and validation_split={validation_split:g} the "
            f"held-out part has a different size ({got.shape} returned): Keras splits at "
            "floor(n * (1 - validation_split))."
        )
    if np.array_equal(np.sort(got), np.sort(expected)):
        return "the right labels in another order: keep the order of the array."
    return "not the held-out labels: take the tail of the array, unshuffled."


def _validation_problem(rng: random.Random) -> tuple[np.ndarray, float]:
    """Labels (sorted or not) and a validation_split fraction."""
    labels = np.array([rng.randrange(10) for _ in range(rng.randint(10, 500))])
    if rng.random() < 0.5:
        labels = np.sort(labels)
    return labels, round(rng.uniform(0.05, 0.6), 3)


@exercise("data-validation-split", name="keras_held_out", chapter=CHAPTER, points=1)
def _validation_split(answer) -> str | None:
    case = (SORTED_LABELS.copy(), CHAPTER_SPLIT)
    return answers.check_function(
        as_callable(answer),
        [(case, own_arguments(*case))],
        compare=judged_by(_held_out_hint),
        name="keras_held_out",
    )


@grading("data-validation-split")
def _validation_split_graded(answer) -> str | None:
    """Label arrays (sorted or not) and split fractions drawn at grading time."""
    edge = (np.arange(7), 0.3)  # 7 * 0.7 = 4.9: the split point rounds down
    cases = [(edge, own_arguments(*edge)), *drawn_cases(_validation_problem, own_arguments, 5)]
    return answers.check_function(
        as_callable(answer), cases, compare=judged_by(_held_out_hint), name="keras_held_out"
    )


def standardised(train: np.ndarray, images: np.ndarray, ddof: int = 0) -> np.ndarray:
    """``images`` (N, H, W, C) minus the per-channel mean of ``train``, divided by its
    per-channel standard deviation (population, ``ddof=0``, as Keras' Normalization)."""
    train = np.asarray(train, dtype=np.float64)
    mean, std = train.mean(axis=(0, 1, 2)), train.std(axis=(0, 1, 2), ddof=ddof)
    return (np.asarray(images, dtype=np.float64) - mean) / std


def _standardise_hint(got, train: np.ndarray, images: np.ndarray) -> str | None:
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"return an array of the images' shape, not {describe(got)}."
    if got.shape != images.shape:
        return f"return an array of the images' shape {images.shape}, not {got.shape}."

    def near(reference: np.ndarray) -> bool:
        return bool(np.allclose(got, reference, rtol=1e-4, atol=1e-5))

    if near(standardised(train, images)) or near(standardised(train, images, ddof=1)):
        return None  # either convention of the standard deviation
    if near(standardised(images, images)):
        return (
            "those are the held-out images' own statistics: use the TRAINING images' "
            "mean and standard deviation, so nothing leaks from the held-out images."
        )
    flat = np.asarray(train, dtype=np.float64)
    if near((images - flat.mean()) / flat.std()):
        return "one mean and one std for all channels; compute one pair per channel."
    if near(images - flat.mean(axis=(0, 1, 2))):
        return "subtracting the mean is half the job: divide by the standard deviation."
    return "not standardised per channel with the training statistics."


def _standardise_cases(rng: np.random.Generator, count: int) -> list[tuple[tuple, tuple]]:
    cases = []
    for _ in range(count):
        channels, size = int(rng.integers(1, 5)), int(rng.integers(2, 9))
        scale, shift = rng.uniform(0.2, 2.0, channels), rng.uniform(-1.0, 1.0, channels)
        train = rng.random((int(rng.integers(3, 12)), size, size, channels)) * scale + shift
        images = rng.random((int(rng.integers(2, 6)), size, size, channels)) * 2.0 + 0.5
        cases.append(((train, images), own_arguments(train, images)))
    return cases


@exercise("data-standardise", name="standardise_with", chapter=CHAPTER, points=1)
def _standardise(answer) -> str | None:
    cases = _standardise_cases(np.random.default_rng(0), 2)
    return answers.check_function(
        as_callable(answer), cases, compare=judged_by(_standardise_hint), name="standardise_with"
    )


@grading("data-standardise")
def _standardise_graded(answer) -> str | None:
    """Training and held-out arrays with their own channel counts, drawn at grading time."""
    cases = _standardise_cases(np.random.default_rng(secrets.randbits(64)), 5)
    return answers.check_function(
        as_callable(answer), cases, compare=judged_by(_standardise_hint), name="standardise_with"
    )
