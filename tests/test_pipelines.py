"""The data chapter's tools in cnncourse.data: memory arithmetic, throughput, changed images,
augmentation samples, a drawn digit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from cnncourse import data
from cnncourse.data import ImageSet, to_dataloader
from cnncourse.train import BatchAugment, TensorBatches


def small_imageset(n: int = 50, seed: int = 0) -> ImageSet:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
    return ImageSet(images, rng.integers(0, 10, n), tuple(str(i) for i in range(10)))


# ---- memory arithmetic ----------------------------------------------------------------


def test_dataset_bytes_matches_numpy_nbytes():
    for shape, dtype in (((28, 28, 1), "uint8"), ((3, 32, 32), "float32"), ((5, 7), np.float64)):
        expected = np.zeros((13, *shape), dtype=dtype).nbytes
        assert data.dataset_bytes(13, shape, dtype) == expected


def test_dataset_bytes_fashion_mnist_numbers():
    assert data.dataset_bytes(70_000, (28, 28, 1)) == 54_880_000
    assert data.dataset_bytes(70_000, (28, 28, 1), "float32") == 4 * 54_880_000


@pytest.mark.parametrize(
    "args, error",
    [
        ((-1, (28, 28)), ValueError),
        ((2.5, (28, 28)), ValueError),
        ((10, ()), ValueError),
        ((10, (28, 0)), ValueError),
        ((10, (28, 28), "not-a-dtype"), TypeError),
    ],
)
def test_dataset_bytes_rejects_bad_input(args, error):
    with pytest.raises(error):
        data.dataset_bytes(*args)


@pytest.mark.parametrize(
    "value, text",
    [(0, "0 B"), (999, "999 B"), (54_880_000, "54.9 MB"), (1_000, "1 kB"), (193e9, "193 GB")],
)
def test_format_bytes(value, text):
    assert data.format_bytes(value) == text


def test_format_bytes_rejects_bad_input():
    with pytest.raises(ValueError):
        data.format_bytes(-1)
    with pytest.raises(TypeError):
        data.format_bytes("12")


# ---- throughput -------------------------------------------------------------------------


def test_measure_throughput_counts_every_image_of_a_dataloader():
    loader = to_dataloader(small_imageset(50), batch_size=16)
    result = data.measure_throughput(loader, name="loader")
    assert (result.images, result.batches, result.name) == (50, 4, "loader")
    assert 0 < result.first_batch_seconds <= result.seconds
    assert result.images_per_second == pytest.approx(50 / result.seconds)


def test_measure_throughput_stops_at_max_images_on_an_endless_stream():
    def endless():
        while True:
            yield np.zeros((8, 2, 2)), np.zeros(8)

    result = data.measure_throughput(endless(), max_images=20)
    assert (result.images, result.batches) == (24, 3)


def test_measure_throughput_reads_bare_batches_and_dicts():
    bare = [torch.zeros(5, 1, 2, 2), torch.zeros(3, 1, 2, 2)]
    assert data.measure_throughput(bare).images == 8
    assert data.measure_throughput([{"image": np.zeros((4, 2))}]).images == 4


def test_measure_throughput_errors():
    with pytest.raises(ValueError, match="no batches"):
        data.measure_throughput([])
    with pytest.raises(ValueError):
        data.measure_throughput([np.zeros((2, 2))], max_images=0)
    with pytest.raises(TypeError, match="leading batch axis"):
        data.measure_throughput([3])
    with pytest.raises(TypeError, match="iterable"):
        data.measure_throughput(5)


def test_throughput_table_rows_and_relative_column():
    a = data.Throughput("a", 100, 2, 2.0, 0.5)
    b = data.Throughput("b", 100, 2, 0.5, 0.1)
    table = data.throughput_table([a, b])
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", "images/s"] == 50 and table.loc["b", "images/s"] == 200
    assert table.loc["b", "relative"] == 4
    with pytest.raises(TypeError):
        data.throughput_table([])


# ---- changed images -----------------------------------------------------------------------


def test_changed_mask_flags_exactly_the_modified_images():
    batch = torch.arange(4 * 6, dtype=torch.uint8).reshape(4, 1, 2, 3)
    after = batch.clone()
    after[2, 0, 1, 1] += 1
    assert data.changed_mask(batch, after).tolist() == [False, False, True, False]


def test_changed_mask_shows_the_batched_transform_pitfall():
    """v2 on a batch draws ONE coin for all images; BatchAugment draws one per image."""
    torch.manual_seed(0)
    batch = torch.randint(0, 256, (32, 1, 8, 8), dtype=torch.uint8)
    v2_counts = {
        int(data.changed_mask(batch, v2.RandomHorizontalFlip()(batch)).sum()) for _ in range(20)
    }
    assert v2_counts <= {0, 32} and v2_counts == {0, 32}
    per_sample = [
        int(data.changed_mask(batch, BatchAugment(flip=True)(batch)).sum()) for _ in range(20)
    ]
    assert all(0 < c < 32 for c in per_sample)


def test_changed_mask_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        data.changed_mask(np.zeros((2, 3, 3)), np.zeros((3, 3, 3)))


# ---- augmentation samples -----------------------------------------------------------------


def test_augment_samples_with_a_torchvision_transform_is_repeatable():
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    flip = v2.RandomHorizontalFlip(p=1.0)
    out = data.augment_samples(flip, image, 3)
    assert out.shape == (3, 20, 30, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], image[:, ::-1])
    crop = v2.RandomCrop(10)
    first = data.augment_samples(crop, image, 4, seed=1)
    second = data.augment_samples(crop, image, 4, seed=1)
    assert first.shape == (4, 10, 10, 3)
    np.testing.assert_array_equal(first, second)


def test_augment_samples_scales_float_outputs_back_to_uint8():
    image = np.full((4, 4), 200, dtype=np.uint8)
    to_float = v2.ToDtype(torch.float32, scale=True)
    out = data.augment_samples(to_float, image, 2)
    assert out.shape == (2, 4, 4, 1)
    assert (out == 200).all()


def test_augment_samples_rejects_bad_input():
    with pytest.raises(ValueError):
        data.augment_samples(v2.RandomHorizontalFlip(), np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(ValueError):
        data.augment_samples(v2.RandomHorizontalFlip(), np.zeros((4, 4), dtype=np.uint8), 0)
    with pytest.raises(TypeError):
        data.augment_samples("flip", np.zeros((4, 4), dtype=np.uint8))


@pytest.mark.keras
def test_augment_samples_with_a_keras_layer_draws_per_image():
    from cnncourse._frameworks import import_keras

    keras = import_keras()
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    out = data.augment_samples(keras.layers.RandomFlip("horizontal", seed=0), image, 32, seed=0)
    assert out.shape == (32, 16, 16, 3) and out.dtype == np.uint8
    flipped = [bool((o == image[:, ::-1]).all()) for o in out]
    kept = [bool((o == image).all()) for o in out]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 0 < sum(flipped) < 32  # one coin per image, unlike transforms.v2 on a batch


# ---- synthetic digit ----------------------------------------------------------------------


def test_synthetic_digit_six_upside_down_looks_like_a_nine():
    six = data.synthetic_digit(6).astype(float)
    nine = data.synthetic_digit(9).astype(float)
    assert six.shape == (28, 28, 1) and data.synthetic_digit(6).dtype == np.uint8
    assert six.max() > 200 and six[0].max() == 0  # white ink on a black frame

    def corr(a, b):
        return np.corrcoef(a.ravel(), b.ravel())[0, 1]

    rotated = six[::-1, ::-1]
    assert corr(rotated, nine) > 0.9 > corr(rotated, six)


def test_synthetic_digit_rejects_bad_input():
    for bad in ("12", "x", -1):
        with pytest.raises(ValueError):
            data.synthetic_digit(bad)
    with pytest.raises(ValueError):
        data.synthetic_digit(3, size=4)


def test_tensor_batches_are_measurable():
    images = torch.zeros(10, 1, 4, 4, dtype=torch.uint8)
    result = data.measure_throughput(TensorBatches(images, torch.zeros(10, dtype=torch.long), 4))
    assert (result.images, result.batches) == (10, 3)
