"""Keras helpers: compile, callbacks, and Keras' history in the same table as the PyTorch loop."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytestmark = pytest.mark.keras

keras = pytest.importorskip("keras")

from cnncourse.models import build_model  # noqa: E402
from cnncourse.train import COLUMNS, fit  # noqa: E402
from cnncourse.train.keras import (  # noqa: E402
    compile_classifier,
    fit_keras,
    history_frame,
    standard_callbacks,
)


def test_fit_keras_learns_and_returns_the_same_table_as_torch(fashion):
    train, test = fashion
    history = fit_keras(
        build_model("tiny", "keras"), train, test, epochs=3, batch_size=64, lr=1e-3, seed=0
    )
    torch_history = fit(build_model("tiny"), train, test, epochs=1, batch_size=64, progress=False)
    assert list(history.columns) == list(COLUMNS) == list(torch_history.columns)
    assert dict(history.dtypes) == dict(torch_history.dtypes)
    assert list(history["epoch"]) == [1, 2, 3]
    assert history["val_accuracy"].iloc[-1] > 0.5  # chance is 0.1
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert (history["seconds"] > 0).all()
    assert history["lr"].tolist() == pytest.approx([1e-3] * 3)


def test_standard_callbacks_stop_early_and_restore(fashion, tmp_path):
    train, test = fashion
    wrong = type(test)(test.images, (test.labels + 1) % 10, test.class_names)
    path = tmp_path / "best.keras"
    callbacks = standard_callbacks(patience=1, checkpoint_path=path)
    kinds = [type(c).__name__ for c in callbacks]
    assert kinds == ["EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint"]
    assert callbacks[0].restore_best_weights
    model = build_model("tiny", "keras")
    history = fit_keras(model, train, wrong, epochs=8, batch_size=64, callbacks=callbacks, seed=0)
    assert len(history) < 8
    assert path.is_file()
    best = history.best("val_loss")
    loss, _ = model.evaluate(
        wrong.images.astype("float32") / 255, wrong.labels, batch_size=1024, verbose=0
    )
    assert loss == pytest.approx(best["val_loss"], rel=1e-4)
    restored = keras.models.load_model(path)
    assert restored.evaluate(
        wrong.images.astype("float32") / 255, wrong.labels, batch_size=1024, verbose=0
    )[0] == pytest.approx(best["val_loss"], rel=1e-4)


def test_history_frame_reads_a_plain_keras_history(fashion):
    train, _ = fashion
    model = compile_classifier(build_model("tiny", "keras"), lr=2e-3)
    x, y = train.images[:256].astype("float32") / 255, train.labels[:256]
    raw = model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    table = history_frame(raw, seconds=[1.0, 2.0])
    assert list(table.columns) == list(COLUMNS)
    assert table["lr"].tolist() == pytest.approx([2e-3, 2e-3])  # read from the optimizer
    assert table["val_loss"].isna().all() and table["seconds"].tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="seconds has 1 entries for 2 epochs"):
        history_frame(raw, seconds=[1.0])


def test_bad_input_is_refused_with_a_hint(fashion, tmp_path):
    train, _ = fashion
    softmax_model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    with pytest.raises(ValueError, match="from_logits=False"):
        compile_classifier(softmax_model)
    with pytest.raises(ValueError, match="num_classes=10"):
        fit_keras(build_model("tiny", "keras", num_classes=5), train)
    with pytest.raises(ValueError, match="input_shape"):
        fit_keras(build_model("tiny", "keras", in_channels=3), train)
    with pytest.raises(TypeError, match="ImageSet"):
        fit_keras(build_model("tiny", "keras"), (train.images, train.labels))
    with pytest.raises(ValueError, match=".weights.h5"):
        standard_callbacks(checkpoint_path=tmp_path / "model.h5")
