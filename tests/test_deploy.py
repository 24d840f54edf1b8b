"""Saving, safe loading, export and prediction files (cnncourse.deploy).

Models are random (tests of the mechanics, not of accuracy); BatchNorm gets non-trivial
running statistics so that train- vs eval-mode mistakes would show.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cnncourse import deploy, models, train
from cnncourse.data import ImageSet

CLASSES = tuple(f"class{i}" for i in range(10))


def fake_images(n: int = 24, seed: int = 0) -> ImageSet:
    """Random uint8 images (N, 28, 28, 1) with labels: synthetic, for mechanics only."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8)
    return ImageSet(images, rng.integers(0, 10, size=n).astype(np.int64), CLASSES)


SMALL = ((4, True), (8, True), (8, True))  # a thin reference model: (width, pool) per block


def trained_like(blocks=SMALL) -> torch.nn.Module:
    torch.manual_seed(0)
    model = models.build_model("reference", blocks=blocks)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def logits(model, data: ImageSet) -> torch.Tensor:
    x = torch.from_numpy(data.images).permute(0, 3, 1, 2).float() / 255  # (N, C, H, W)
    with torch.no_grad():
        return model(x)


# --- PyTorch files ----------------------------------------------------------------------


def test_fit_and_save_torch_write_one_format_that_both_loaders_read(tmp_path):
    torch.manual_seed(0)
    model, data = models.build_model("tiny"), fake_images(64)
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(data.labels)
    path = tmp_path / "best.pt"
    train.fit(model, (images, labels), epochs=1, batch_size=32, checkpoint=path, progress=False)
    state = torch.load(path, weights_only=True)
    assert state["format"] == deploy.FORMAT == train.checkpoint.FORMAT
    assert state["version"] == train.checkpoint.VERSION and state["name"] == "tiny"
    assert state["epoch"] == 1 and state["optimizer"] is not None
    loaded = deploy.load_torch(path)  # fit's checkpoint rebuilds like a saved model
    assert torch.equal(logits(loaded, data), logits(model.eval(), data))
    deploy.save_torch(model, tmp_path / "saved.pt")
    info = train.load_checkpoint(tmp_path / "saved.pt")
    assert isinstance(info["model"], type(model)) and info["epoch"] is None
    with pytest.raises(ValueError, match="no optimizer state"):
        train.load_checkpoint(tmp_path / "saved.pt", optimizer=torch.optim.SGD([torch.zeros(1)]))


def test_files_of_the_earlier_layouts_still_load(tmp_path):
    model, data = trained_like(), fake_images()
    weights = model.state_dict()
    old_deploy = {"format": "cnncourse-torch-1", "name": "reference"}
    old_deploy |= {"config": dict(model.config), "state_dict": weights}
    torch.save(old_deploy, tmp_path / "deploy.pt")
    assert torch.equal(
        logits(deploy.load_torch(tmp_path / "deploy.pt"), data), logits(model, data)
    )
    old_fit = {"model": weights, "optimizer": None, "epoch": 3, "config": {"lr": 0.1}}
    torch.save(old_fit | {"metrics": {"loss": 0.5}}, tmp_path / "fit.pt")
    info = train.load_checkpoint(
        tmp_path / "fit.pt", models.build_model("reference", blocks=SMALL)
    )
    assert info["epoch"] == 3 and info["config"] == {"lr": 0.1}
    assert torch.equal(logits(info["model"].eval(), data), logits(model, data))
    torch.save({"format": deploy.FORMAT, "version": 99}, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="version 99.*update cnncourse, or re-save"):
        deploy.load_torch(tmp_path / "future.pt")


def test_torch_round_trip_rebuilds_the_model_and_predicts_identically(tmp_path):
    model, data = trained_like(), fake_images()
    path = deploy.save_torch(model, tmp_path / "sub" / "model.pt")
    loaded = deploy.load_torch(path)  # rebuilt from the stored name and config
    assert type(loaded) is type(model) and loaded.config == model.config
    assert not loaded.training
    assert torch.equal(logits(loaded, data), logits(model, data))
    into = deploy.load_torch(path, models.build_model("reference", blocks=SMALL))
    assert torch.equal(logits(into, data), logits(model, data))


def test_channels_last_model_saved_by_fit_round_trips(tmp_path):
    model, data = trained_like(), fake_images()
    model.to(memory_format=torch.channels_last)  # what train.fit does on CPU
    deploy.save_torch(model, tmp_path / "m.pt")
    assert torch.equal(logits(deploy.load_torch(tmp_path / "m.pt"), data), logits(model, data))


def test_bare_state_dict_needs_a_model(tmp_path):
    model = trained_like()
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="without the model's name"):
        deploy.load_torch(tmp_path / "bare.pt")
    loaded = deploy.load_torch(tmp_path / "bare.pt", models.build_model("reference", blocks=SMALL))
    assert torch.equal(logits(loaded, fake_images()), logits(model, fake_images()))


class _WritesMarker:
    """Unpickling this would call open(marker, "w"): a stand-in for any code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned.txt"
    evil = {
        "format": deploy.FORMAT,
        "name": "reference",
        "config": {},
        "state_dict": {"w": _WritesMarker(marker)},
    }
    torch.save(evil, tmp_path / "evil.pt")
    assert not marker.exists()
    with pytest.raises(ValueError, match="refused to load") as caught:
        deploy.load_torch(tmp_path / "evil.pt")
    assert "open" in str(caught.value)  # names what the file asked for
    assert not marker.exists()
    # the oracle: torch without the safety net would have run it
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def test_weights_of_another_model_give_a_clear_error(tmp_path):
    deploy.save_torch(trained_like(), tmp_path / "ref.pt")
    with pytest.raises(ValueError, match="do not fit this TinyCNN.*build_model\\('reference'"):
        deploy.load_torch(tmp_path / "ref.pt", models.build_model("tiny"))
    # same class, other widths: the first key whose shape differs, and the call that fits
    with pytest.raises(ValueError, match="do not fit") as caught:
        deploy.load_torch(tmp_path / "ref.pt", models.build_model("reference"))
    message = str(caught.value)
    assert "'features.conv1.weight' is (4, 1, 3, 3) in the file but (16, 1, 3, 3)" in message
    assert (
        f"build_model('reference', in_channels=1, num_classes=10, image_size=28, blocks={SMALL!r})"
        in message
    )


@pytest.mark.parametrize("content", [b"", b"hello, not a model", "truncate"])
def test_unreadable_files_give_a_clear_error(tmp_path, content):
    path = tmp_path / "broken.pt"
    if content == "truncate":
        deploy.save_torch(trained_like(), path)
        content = path.read_bytes()[:200]
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a readable PyTorch file.*Re-save the model"):
        deploy.load_torch(path)


def test_bad_paths_and_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="found nothing.*save_checkpoint"):
        deploy.load_torch(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="found a folder"):
        deploy.load_torch(tmp_path)
    with pytest.raises(IsADirectoryError):
        deploy.save_torch(trained_like(), tmp_path)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        deploy.save_torch({"not": "a model"}, tmp_path / "x.pt")
    torch.save({"epochs": 3}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not model weights"):
        deploy.load_torch(tmp_path / "other.pt")
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


# --- PyTorch export ---------------------------------------------------------------------


def test_exported_program_matches_for_any_batch_size(tmp_path):
    model, data = trained_like(), fake_images(30)
    x = torch.from_numpy(data.images).permute(0, 3, 1, 2).float() / 255
    path = deploy.export_torch(model, tmp_path / "model.pt2", x[:4])
    exported = deploy.load_torch_export(path)
    with torch.no_grad():
        for n in (1, 7, 30):
            torch.testing.assert_close(exported(x[:n]), model(x[:n]), rtol=0, atol=1e-6)
    assert model.training is False


def test_export_restores_training_mode_and_checks_arguments(tmp_path):
    model = trained_like().train()
    x = torch.rand(4, 1, 28, 28)
    deploy.export_torch(model, tmp_path / "m.pt2", x)
    assert model.training  # exported in eval mode, then switched back
    with pytest.raises(ValueError, match="N >= 2"):
        deploy.export_torch(model, tmp_path / "m.pt2", x[:1])
    with pytest.raises(ValueError, match=".pt2"):
        deploy.export_torch(model, tmp_path / "m.pt", x)
    with pytest.raises(FileNotFoundError, match="export_torch"):
        deploy.load_torch_export(tmp_path / "none.pt2")


# --- predictions ------------------------------------------------------------------------


def test_predict_proba_agrees_with_train_predict():
    model, data = trained_like(), fake_images(50)
    _, oracle = train.predict(model, data, batch_size=16)
    got = deploy.predict_proba(model, data, batch_size=7)
    assert got.shape == (50, 10)
    np.testing.assert_allclose(got, oracle, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1, atol=1e-6)
    with pytest.raises(TypeError, match="ImageSet"):
        deploy.predict_proba(model, data.images)


def test_compare_predictions():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10), size=100)
    same = deploy.compare_predictions(p, p.astype(np.float32))
    assert same.ok and same.label_agreement == 1.0 and same.max_abs_diff < 1e-7
    q = p.copy()
    q[3] = q[3][::-1]
    other = deploy.compare_predictions(p, q)
    assert not other.ok and other.max_abs_diff == pytest.approx(np.abs(p[3] - q[3]).max())
    assert "DIFFERENT" in str(other)
    with pytest.raises(ValueError, match="same shape"):
        deploy.compare_predictions(p, p[:50])
    with pytest.raises(ValueError, match="NaN"):
        deploy.compare_predictions(p, np.full_like(p, np.nan))


def test_predictions_csv_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(10), size=20)
    table = deploy.predictions_to_csv(
        tmp_path / "out" / "preds.csv", p, CLASSES, ids=range(100, 120)
    )
    read = pd.read_csv(tmp_path / "out" / "preds.csv")
    assert list(read.columns) == list(deploy.CSV_COLUMNS)
    assert read["id"].tolist() == list(range(100, 120))
    np.testing.assert_array_equal(read["label"], p.argmax(1))
    assert read["class_name"].tolist() == [CLASSES[i] for i in p.argmax(1)]
    np.testing.assert_allclose(read["probability"], p.max(1), atol=1e-6)
    pd.testing.assert_frame_equal(read[["id", "label"]], table[["id", "label"]], check_dtype=False)


def test_predictions_csv_writes_the_submission_columns_a_plain_loop_writes(tmp_path):
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(10), size=30)
    deploy.predictions_to_csv(tmp_path / "helper.csv", p, CLASSES, columns=("id", "label"))
    by_hand = pd.DataFrame({"id": np.arange(30), "label": p.argmax(axis=1)})
    by_hand.to_csv(tmp_path / "by_hand.csv", index=False)
    assert (tmp_path / "helper.csv").read_bytes() == (tmp_path / "by_hand.csv").read_bytes()
    assert (tmp_path / "helper.csv").read_text().startswith("id,label\n")
    for bad in ("id", (), ("id", "score")):
        with pytest.raises(ValueError, match="columns must be"):
            deploy.predictions_to_csv(tmp_path / "x.csv", p, CLASSES, columns=bad)
    assert not (tmp_path / "x.csv").exists()


def test_predictions_csv_rejects_bad_input(tmp_path):
    p = np.full((4, 10), 0.1)
    with pytest.raises(ValueError, match="logits"):
        deploy.predictions_to_csv(tmp_path / "x.csv", np.log(p) * 3, CLASSES)
    with pytest.raises(ValueError, match=r"\(N, 10\)"):
        deploy.predictions_to_csv(tmp_path / "x.csv", p[:, :5], CLASSES)
    with pytest.raises(ValueError, match="unique"):
        deploy.predictions_to_csv(tmp_path / "x.csv", p, CLASSES, ids=[1, 1, 2, 3])
    assert not (tmp_path / "x.csv").exists()


def test_predictions_csv_is_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "preds.csv"
    path.write_text("old,complete,file\n")
    real = pd.DataFrame.to_csv

    def crash_half_way(self, target, **kwargs):
        real(self.head(2), target, **kwargs)  # part of the rows reach the disk ...
        raise OSError("disk full")  # ... then the write fails

    monkeypatch.setattr(pd.DataFrame, "to_csv", crash_half_way)
    with pytest.raises(OSError, match="disk full"):
        deploy.predictions_to_csv(path, np.full((5, 10), 0.1), CLASSES)
    assert path.read_text() == "old,complete,file\n"  # the reader still sees the old file
    assert os.listdir(tmp_path) == ["preds.csv"]  # and no temporary file is left


# --- Keras ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras_model():
    from cnncourse.interop import torch_to_keras

    twin = models.build_model("reference", "keras", blocks=SMALL)
    return torch_to_keras(trained_like(), twin)


def test_keras_round_trip_and_export_predict_identically(tmp_path, keras_model):
    data = fake_images(20)
    original = deploy.predict_proba(keras_model, data, batch_size=8)
    path = deploy.save_keras(keras_model, tmp_path / "model.keras")
    loaded = deploy.load_keras(path)
    # the same batches: identical bits (another batch size may round differently)
    reloaded = deploy.predict_proba(loaded, data, batch_size=8)
    assert deploy.compare_predictions(original, reloaded).max_abs_diff == 0
    exported = deploy.load_keras_export(deploy.export_keras(keras_model, tmp_path / "saved"))
    served = deploy.predict_proba(exported, data, batch_size=6)
    assert deploy.compare_predictions(original, served, atol=1e-6).ok
    # the Keras twin and the PyTorch original agree too (weights copied by interop)
    torch_probs = deploy.predict_proba(trained_like(), data)
    assert deploy.compare_predictions(torch_probs, original, atol=1e-5).ok
    deploy.export_keras(keras_model, tmp_path / "saved")  # replacing an export works
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


@pytest.mark.keras
def test_keras_lambda_layer_is_refused_in_safe_mode(tmp_path):
    from cnncourse._frameworks import import_keras

    keras = import_keras()
    marker = tmp_path / "ran.txt"
    inputs = keras.Input((4,))
    # the path is a constant of the lambda's bytecode (a closure would not serialise)
    writes_marker = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")  # noqa: S307
    outputs = keras.layers.Lambda(writes_marker)(inputs)
    model = keras.Model(inputs, outputs)
    deploy.save_keras(model, tmp_path / "lambda.keras")
    marker.unlink(missing_ok=True)  # building the model ran the lambda once, on symbols
    with pytest.raises(ValueError, match="refused to load.*Lambda"):
        deploy.load_keras(tmp_path / "lambda.keras")
    assert not marker.exists()
    # the oracle: without safe mode, loading alone runs the file's code
    keras.saving.load_model(tmp_path / "lambda.keras", safe_mode=False)
    assert marker.exists()


def test_keras_bad_paths(tmp_path, keras_model):
    with pytest.raises(ValueError, match=".keras files"):
        deploy.save_keras(keras_model, tmp_path / "model.h5")
    with pytest.raises(FileNotFoundError, match="save_keras"):
        deploy.load_keras(tmp_path / "missing.keras")
    with pytest.raises(TypeError, match="keras.Model"):
        deploy.save_keras(trained_like(), tmp_path / "m.keras")
    with pytest.raises(FileNotFoundError, match="export_keras"):
        deploy.load_keras_export(tmp_path)
    (tmp_path / "text.keras").write_text("not a model")
    with pytest.raises(ValueError, match="not a readable .keras file"):
        deploy.load_keras(tmp_path / "text.keras")
    deploy.save_keras(keras_model, tmp_path / "whole.keras")
    (tmp_path / "cut.keras").write_bytes((tmp_path / "whole.keras").read_bytes()[:500])
    with pytest.raises(ValueError, match="not a readable .keras file"):
        deploy.load_keras(tmp_path / "cut.keras")
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("notes.txt", "a zip, but no model")
    with pytest.raises(ValueError, match="not a Keras model"):
        deploy.load_keras(tmp_path / "other.keras")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        deploy.export_keras(keras_model, tmp_path / "file")
