"""The in-memory batch path and per-sample batch augmentation (no training here)."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import v2

from cnncourse.train.batches import BatchAugment, TensorBatches, as_batches, check_tensors


def _asymmetric_batch(b: int = 256) -> torch.Tensor:
    """Synthetic test input: the same left-right asymmetric uint8 image repeated ``b`` times."""
    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    image[0, 5:20, 2:9] = 200  # a bar near the left edge
    return image.expand(b, -1, -1, -1).clone()


def test_flip_is_drawn_per_sample():
    torch.manual_seed(0)
    batch = _asymmetric_batch()
    out = BatchAugment(flip=True, shift=0)(batch)
    same = (out == batch).flatten(1).all(dim=1)
    flipped = (out == batch.flip(-1)).flatten(1).all(dim=1)
    assert bool((same | flipped).all()), "every image is either kept or mirrored"
    # per-sample coins: some images flipped and some not, about half each
    assert 0.35 < flipped.float().mean().item() < 0.65


def test_torchvision_v2_on_a_batch_draws_one_coin_for_all():
    """Why BatchAugment exists: v2 transforms treat a batch as ONE sample."""
    torch.manual_seed(0)
    batch = _asymmetric_batch(64)
    outcomes = set()
    for _ in range(20):
        out = v2.RandomHorizontalFlip(p=0.5)(batch)
        flipped = (out == batch.flip(-1)).flatten(1).all(dim=1)
        assert bool(flipped.all()) or not bool(flipped.any())  # all or nothing
        outcomes.add(bool(flipped.all()))
    assert outcomes == {True, False}


def test_shift_is_a_per_sample_crop_of_the_zero_padded_image():
    torch.manual_seed(1)
    s = 2
    batch = torch.randint(1, 256, (64, 1, 28, 28), dtype=torch.uint8)
    out = BatchAugment(flip=False, shift=s)(batch)
    assert out.shape == batch.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(batch, (s, s, s, s))
    offsets = set()
    for i in range(len(batch)):
        matches = [
            (dy, dx)
            for dy in range(2 * s + 1)
            for dx in range(2 * s + 1)
            if torch.equal(out[i], padded[i, :, dy : dy + 28, dx : dx + 28])
        ]
        assert len(matches) == 1, f"sample {i} is not a crop of its padded image"
        offsets.add(matches[0])
    assert len(offsets) >= 10, "offsets are drawn per sample, not once per batch"


def test_augment_keeps_float_batches_and_channels():
    torch.manual_seed(2)
    batch = torch.rand(8, 3, 16, 16)
    out = BatchAugment(flip=True, shift=3)(batch)
    assert out.shape == (8, 3, 16, 16) and out.dtype == torch.float32
    # a crop of a flip keeps every pixel value it shows: values stay within the input's range
    assert out.min() >= 0 and out.max() <= batch.max()


def test_erase_blacks_out_one_square_per_image_at_its_own_place():
    torch.manual_seed(3)
    batch = torch.full((64, 2, 28, 28), 200, dtype=torch.uint8)
    out = BatchAugment(flip=False, erase=6)(batch)
    holes = out[:, 0] == 0  # (B, H, W)
    assert torch.equal(holes, out[:, 1] == 0), "every channel loses the same square"
    sizes = holes.sum(dim=(1, 2))
    # a whole 6x6 square inside the image, clipped to at least 3x3 at a corner
    assert sizes.max() == 36 and sizes.min() >= 9
    for hole in holes:  # the hole is a rectangle: its rows times its columns
        rows, cols = hole.any(dim=1).sum(), hole.any(dim=0).sum()
        assert hole.sum() == rows * cols
    centres = {tuple(torch.nonzero(h).float().mean(0).round().tolist()) for h in holes}
    assert len(centres) > 20, "holes are placed per image, not once per batch"
    assert (out[~holes[:, None].expand_as(out)] == 200).all()  # nothing else changes


def test_augment_rejects_bad_settings():
    with pytest.raises(ValueError, match="shift must be a non-negative int"):
        BatchAugment(shift=-1)
    with pytest.raises(ValueError, match="erase must be a non-negative int"):
        BatchAugment(erase=2.5)
    with pytest.raises(ValueError, match="too large"):
        BatchAugment(erase=29)(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="too large"):
        BatchAugment(shift=28)(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        BatchAugment()(torch.zeros(1, 28, 28))


def test_tensor_batches_cover_every_sample_once_per_epoch():
    n = 1000
    images = torch.arange(n, dtype=torch.uint8).repeat_interleave(4).reshape(n, 1, 2, 2)
    labels = torch.arange(n)
    batches = TensorBatches(images, labels, batch_size=128, shuffle=True, seed=0)
    assert len(batches) == 8
    epochs = []
    for _ in range(2):
        seen = torch.cat([y for _, y in batches])
        assert sorted(seen.tolist()) == list(range(n))
        epochs.append(seen)
    assert not torch.equal(epochs[0], epochs[1]), "a new order every epoch"
    x, y = next(iter(batches))
    assert x.dtype == torch.float32 and x.min() >= 0.0 and x.max() <= 1.0
    # images and labels stay paired through the shuffle: pixel value == label % 256 / 255
    assert torch.allclose(x[:, 0, 0, 0], (y % 256).float() / 255)


def test_same_seed_same_order_and_channels_last():
    images = torch.randint(0, 256, (300, 3, 8, 8), dtype=torch.uint8)
    labels = torch.randint(0, 10, (300,))
    a = TensorBatches(images, labels, 64, shuffle=True, seed=5, channels_last=True)
    b = TensorBatches(images, labels, 64, shuffle=True, seed=5)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(ya, yb) and torch.equal(xa, xb)
        assert xa.is_contiguous(memory_format=torch.channels_last)
        assert not xa.is_contiguous()


def test_input_checks_say_what_is_wrong():
    images = torch.zeros(10, 1, 28, 28, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"labels must have shape \(10,\)"):
        check_tensors(images, torch.zeros(9, dtype=torch.long))
    with pytest.raises(ValueError, match="integer class indices"):
        check_tensors(images, torch.zeros(10))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        check_tensors(
            torch.zeros(10, 28, 28, dtype=torch.uint8), torch.zeros(10, dtype=torch.long)
        )
    with pytest.raises(TypeError, match="to_tensors"):
        check_tensors(images.numpy(), torch.zeros(10, dtype=torch.long))
    with pytest.raises(TypeError, match="ImageSet"):
        as_batches([1, 2, 3], batch_size=4, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="batch_size"):
        TensorBatches(images, torch.zeros(10, dtype=torch.long), batch_size=0)


def test_augment_is_not_silently_dropped_for_a_dataloader():
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(4, 1, 2, 2)))
    with pytest.raises(ValueError, match="Dataset transform"):
        as_batches(loader, batch_size=2, device=torch.device("cpu"), augment=BatchAugment())


def test_a_last_training_batch_of_one_image_is_skipped():
    images = torch.zeros(129, 1, 4, 4, dtype=torch.uint8)
    labels = torch.arange(129)
    train = TensorBatches(images, labels, 64, shuffle=True, seed=0)
    assert len(train) == 2 and sum(len(y) for _, y in train) == 128
    evaluation = TensorBatches(images, labels, 64)  # evaluation keeps every image
    assert len(evaluation) == 3 and sum(len(y) for _, y in evaluation) == 129
