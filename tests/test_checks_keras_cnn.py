"""Checks of "A CNN in Keras": solutions pass, typical mistakes get a hint, oracles from Keras."""

from __future__ import annotations

import numpy as np
import pytest

from cnncourse._frameworks import import_keras
from cnncourse.exercises import check
from cnncourse.exercises.checks import keras_cnn

pytestmark = pytest.mark.keras
pytest.importorskip("keras")
keras = import_keras()


@pytest.mark.parametrize(
    "exercise_id",
    [
        "keras-softmax-from-logits",
        "keras-loss-value",
        "keras-early-stopping",
        "keras-rescaling-model",
    ],
)
def test_none_is_not_attempted(exercise_id):
    verdict = check(exercise_id, None)
    assert verdict.status == "not attempted" and verdict.points == 0


def test_softmax_from_logits():
    assert check("keras-softmax-from-logits", False).passed
    wrong = check("keras-softmax-from-logits", True)
    assert wrong.status == "fail" and "softmax" in wrong.message
    assert "wrong type" in check("keras-softmax-from-logits", "False").message


def test_loss_value_matches_keras_and_names_the_mistakes():
    logits = np.array([keras_cnn.LOGITS], dtype="float32")
    label = np.array([keras_cnn.TRUE_CLASS])
    oracle = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(label, logits))
    assert check("keras-loss-value", oracle).passed
    assert check("keras-loss-value", round(oracle, 3)).passed
    # eager Keras treats raw logits as probabilities when from_logits=False
    as_probs = float(keras.losses.SparseCategoricalCrossentropy(from_logits=False)(label, logits))
    verdict = check("keras-loss-value", as_probs)
    assert verdict.status == "fail" and "from_logits=False" in verdict.message
    # softmax applied twice, computed by hand: on the TensorFlow backend Keras notices a
    # softmax output and quietly uses its logits, so it cannot serve as the oracle here
    probs = np.exp(logits) / np.exp(logits).sum()
    twice = float(np.log(np.exp(probs).sum()) - probs[0, keras_cnn.TRUE_CLASS])
    assert "twice" in check("keras-loss-value", twice).message
    probability = float(keras.ops.softmax(logits)[0, 0])
    assert "negative log" in check("keras-loss-value", probability).message
    assert "natural log" in check("keras-loss-value", oracle / np.log(10)).message
    assert str(round(oracle, 3)) not in check("keras-loss-value", 1.0).message


def _keras_early_stopping(val_losses, patience):
    """Drive Keras' own EarlyStopping with the logged losses: (last epoch run, restored)."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    callback = keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
    callback.set_model(model)
    callback.on_train_begin()
    last = 0
    for epoch, loss in enumerate(val_losses):
        model.layers[0].kernel.assign([[float(epoch)]])  # weights remember the epoch
        callback.on_epoch_end(epoch, {"val_loss": loss})
        last = epoch + 1
        if getattr(model, "stop_training", False):
            break
    callback.on_train_end()
    return last, int(model.get_weights()[0][0, 0]) + 1


def test_early_stopping_answer_is_what_keras_does():
    oracle = _keras_early_stopping(keras_cnn.VAL_LOSSES, keras_cnn.PATIENCE)
    assert oracle == keras_cnn.early_stopping(keras_cnn.VAL_LOSSES, keras_cnn.PATIENCE)
    for losses, patience in [((1.0, 0.9, 0.95, 0.8, 0.85, 0.9), 2), ((1.0, 0.9, 0.8), 1)]:
        assert _keras_early_stopping(losses, patience) == keras_cnn.early_stopping(
            losses, patience
        )
    stopped, restored = oracle
    assert check("keras-early-stopping", oracle).passed
    assert check("keras-early-stopping", list(oracle)).passed
    assert "not the last" in check("keras-early-stopping", (stopped, stopped)).message
    assert "before the last epoch" in check("keras-early-stopping", (9, 9)).message
    assert "one epoch short" in check("keras-early-stopping", (stopped - 1, restored)).message
    assert "from 1" in check("keras-early-stopping", (stopped - 1, restored - 1)).message
    assert "lowest" in check("keras-early-stopping", (stopped, restored - 1)).message
    assert "two numbers" in check("keras-early-stopping", (1, 2, 3)).message
    assert "wrong type" in check("keras-early-stopping", "7, 5").message


def _tiny_layers():
    return [
        keras.layers.Conv2D(8, 3, padding="same"),
        keras.layers.ReLU(),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 3, padding="same"),
        keras.layers.ReLU(),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
    ]


def test_rescaling_model_solution_passes_and_mistakes_get_hints():
    solution = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / 255),
            *_tiny_layers(),
            keras.layers.Dense(10),
        ]
    )
    assert check("keras-rescaling-model", solution).passed
    no_rescaling = keras.Sequential(
        [keras.Input((28, 28, 1)), *_tiny_layers(), keras.layers.Dense(10)]
    )
    assert "Rescaling" in check("keras-rescaling-model", no_rescaling).message
    softmax_head = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / 255),
            *_tiny_layers(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    assert "softmax" in check("keras-rescaling-model", softmax_head).message
    unscaled = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1.0),
            *_tiny_layers(),
            keras.layers.Dense(10),
        ]
    )
    assert "1/255" in check("keras-rescaling-model", unscaled).message
    wider = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, 3, padding="same"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    assert "parameters" in check("keras-rescaling-model", wider).message
    functional = keras.Model(solution.inputs, solution.outputs)
    assert "Sequential" in check("keras-rescaling-model", functional).message
    assert "wrong type" in check("keras-rescaling-model", "model").message
