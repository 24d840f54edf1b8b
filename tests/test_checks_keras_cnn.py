"""Checks of "A CNN in Keras": solutions pass, typical mistakes get a hint, oracles from Keras."""

from __future__ import annotations

import random

import numpy as np
import pytest

from cnncourse._frameworks import import_keras
from cnncourse.exercises import check, get_exercise
from cnncourse.exercises.checks import keras_cnn
from cnncourse.exercises.registry import evaluate

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
        "keras-train-small",
        "keras-skew-experiment",
    ],
)
def test_none_is_not_attempted(exercise_id):
    verdict = check(exercise_id, None)
    assert verdict.status == "not attempted" and verdict.points == 0


def from_logits_for(outputs):
    outputs = np.asarray(outputs, dtype="float64")
    return not (np.allclose(outputs.sum(axis=1), 1.0, atol=1e-4) and (outputs >= 0).all())


def loss_from_logits(logits, labels):
    z = np.asarray(logits, dtype="float64")
    z = z - z.max(axis=1, keepdims=True)
    return float((np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(z)), labels]).mean())


def stopping_epoch(val_losses, patience):
    best, best_epoch, wait = float("inf"), 0, 0
    for epoch, loss in enumerate(val_losses, start=1):
        if loss < best:
            best, best_epoch, wait = loss, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                return epoch, best_epoch
    return len(val_losses), best_epoch


@pytest.mark.parametrize(
    "exercise_id, solution, literal",
    [
        ("keras-softmax-from-logits", from_logits_for, False),
        ("keras-loss-value", loss_from_logits, 0.4170300),
        ("keras-early-stopping", stopping_epoch, (7, 5)),
    ],
)
def test_grading_passes_the_function_and_fails_literals(exercise_id, solution, literal):
    ex = get_exercise(exercise_id)
    assert check(exercise_id, solution).passed
    assert evaluate(ex, lambda: solution)["status"] == "pass"
    feedback = check(exercise_id, literal)  # right for the chapter's case
    assert feedback.status == "fail" and "grade needs the function" in feedback.message
    assert evaluate(ex, lambda: literal)["points"] == 0

    def constant(*args):  # right for the chapter's case only
        return literal

    assert check(exercise_id, constant).status == "fail"  # feedback tries other inputs
    assert evaluate(ex, lambda: constant)["points"] == 0


def test_from_logits_for_agrees_with_keras_and_catches_shortcuts():
    """Oracle: Keras' loss with the value the function returns equals the loss on logits."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(6, 10)).astype("float32")
    labels = rng.integers(0, 10, size=6)
    truth = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits))
    for outputs in (logits, logits + 20, keras.ops.convert_to_numpy(keras.ops.softmax(logits))):
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits_for(outputs))
        assert float(loss(labels, outputs)) == pytest.approx(truth, rel=1e-4)
    always = check("keras-softmax-from-logits", lambda outputs: True)
    assert always.status == "fail" and "softmax" in always.message
    non_negative = check(
        "keras-softmax-from-logits", lambda out: bool((np.asarray(out) < 0).any())
    )
    assert non_negative.status == "fail" and "add up to" in non_negative.message
    exact = check("keras-softmax-from-logits", lambda out: not (np.sum(out, axis=1) == 1).all())
    assert exact.status == "fail"  # float32 rows sum to 1 only up to rounding
    assert "wrong type" in check("keras-softmax-from-logits", lambda out: "False").message
    assert "array(" not in always.message  # batches are named by their shape


def test_loss_from_logits_matches_keras_and_names_the_mistakes():
    rng = np.random.default_rng(1)
    for n, k in [(1, 3), (5, 10), (8, 4)]:
        logits = rng.uniform(-8, 8, size=(n, k)).astype("float32")
        labels = rng.integers(0, k, size=n)
        oracle = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
        assert loss_from_logits(logits, labels) == pytest.approx(float(oracle), rel=1e-5)
        assert keras_cnn.loss_from_logits(logits, labels) == pytest.approx(float(oracle), rel=1e-5)
    logits = np.array([keras_cnn.LOGITS], dtype="float32")
    label = np.array([keras_cnn.TRUE_CLASS])
    # eager Keras treats raw logits as probabilities when from_logits=False
    as_probs = float(keras.losses.SparseCategoricalCrossentropy(from_logits=False)(label, logits))
    verdict = check("keras-loss-value", as_probs)
    assert verdict.status == "fail" and "from_logits=False" in verdict.message
    probs = np.exp(logits) / np.exp(logits).sum()
    twice = float(np.log(np.exp(probs).sum()) - probs[0, keras_cnn.TRUE_CLASS])
    assert "twice" in check("keras-loss-value", lambda z, y: twice).message
    assert "natural log" in check("keras-loss-value", lambda z, y: 0.41703 / np.log(10)).message

    def summed(logits, labels):
        return loss_from_logits(logits, labels) * len(labels)

    def own_label_ignored(logits, labels):
        return loss_from_logits(logits, np.zeros_like(labels))

    assert "mean" in check("keras-loss-value", summed).message
    assert "own label" in check("keras-loss-value", own_label_ignored).message
    assert evaluate(get_exercise("keras-loss-value"), lambda: summed)["points"] == 0


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


def test_early_stopping_reference_and_solution_are_what_keras_does():
    rng = random.Random(0)
    cases = [(keras_cnn.VAL_LOSSES, keras_cnn.PATIENCE), ((1.0, 0.9, 0.9, 0.95, 0.8), 2)]
    cases += [keras_cnn._draw_losses(rng) for _ in range(12)]
    for losses, patience in cases:
        oracle = _keras_early_stopping(losses, patience)
        assert keras_cnn.early_stopping(losses, patience) == oracle
        assert stopping_epoch(losses, patience) == oracle


def test_early_stopping_mistakes_get_hints():
    def hint(pair):
        return check("keras-early-stopping", lambda losses, patience: pair).message

    stopped, restored = keras_cnn.early_stopping(keras_cnn.VAL_LOSSES, keras_cnn.PATIENCE)
    assert "not the last" in hint((stopped, stopped))
    assert "before the last epoch" in hint((9, 9))
    assert "one epoch short" in hint((stopped - 1, restored))
    assert "from 1" in hint((stopped - 1, restored - 1))
    assert "lowest" in hint((stopped, restored - 1))
    assert "two numbers" in hint((1, 2, 3))
    assert "wrong type" in hint("7, 5")

    def tie_improves(val_losses, patience):  # <= instead of <
        return stopping_epoch([x - 1e-9 * i for i, x in enumerate(val_losses)], patience)

    def last_if_no_stop(val_losses, patience):
        stopped, restored = stopping_epoch(val_losses, patience)
        return (stopped, stopped) if stopped == len(val_losses) else (stopped, restored)

    for wrong in (tie_improves, last_if_no_stop):
        assert check("keras-early-stopping", wrong).status == "fail"


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


# ---- keras-train-small: a trained Keras model, measured on held-out test images ----------


def _softmax_regression(epochs: int) -> keras.Model:
    """Flatten + Dense(10) (7,850 parameters), fitted on 5,000 training images in [0, 1]."""
    from cnncourse import data, runtime

    sample = data.load("fashion_mnist", "train").subset(5000, seed=3)
    runtime.seed_everything(0, keras=True)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    if epochs:
        x = sample.images.astype("float32") / 255
        model.fit(x, sample.labels, epochs=epochs, batch_size=128, verbose=0)
    return model


class _Subclassed(keras.Model):
    """A model class defined in the notebook: Keras cannot load it back elsewhere."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flatten, self.dense = keras.layers.Flatten(), keras.layers.Dense(10)

    def call(self, x):
        return self.dense(self.flatten(x))


def test_train_small_passes_a_trained_model_on_fresh_samples_and_fails_the_rest():
    trained = _softmax_regression(3)
    assert check("keras-train-small", trained).passed
    graded = evaluate(get_exercise("keras-train-small"), lambda: trained)
    assert graded["status"] == "pass" and graded["points"] == 3
    untrained = check("keras-train-small", _softmax_regression(0))
    assert untrained.status == "fail" and "held-out" in untrained.message
    big = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(32),
            keras.layers.Dense(10),
        ]
    )
    over = check("keras-train-small", big)
    assert over.status == "fail" and "25,450 parameters" in over.message
    assert "budget is 20,000" in over.message
    five = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(5)]
    )
    assert "(N, 10)" in check("keras-train-small", five).message
    unbuilt = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10)])
    assert "no weights" in check("keras-train-small", unbuilt).message
    assert check("keras-train-small", 0.9).status == "fail"  # a claimed accuracy is no model
    torch_model = pytest.importorskip("torch").nn.Linear(784, 10)
    assert "Keras model" in check("keras-train-small", torch_model).message


def test_train_small_raw_pixel_model_fails_on_scaled_images():
    """A model that rescales inside gets images already in [0, 1]: it sees black ones."""
    trained = _softmax_regression(3)
    rescaling = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 255), trained]
    )
    verdict = check("keras-train-small", rescaling)
    assert verdict.status == "fail" and "scaling" in verdict.message


def test_train_small_wants_a_model_that_can_be_read_back():
    model = _Subclassed()
    model(np.zeros((1, 28, 28, 1), "float32"))
    verdict = check("keras-train-small", model)
    assert verdict.status == "fail" and "functional" in verdict.message


def test_train_small_through_the_grader_end_to_end(tmp_path):
    """A notebook trains a Keras model with fit; the grader pickles it out of the kernel
    and measures it in its own process on test images it draws."""
    pytest.importorskip("nbclient")
    from conftest import write_notebook

    from cnncourse.exercises.grade import run_notebook

    notebook = write_notebook(
        tmp_path / "student.ipynb",
        "import keras\n"
        "from cnncourse import data\n"
        "s = data.load('fashion_mnist', 'train').subset(5000, seed=3)\n"
        "keras.utils.set_random_seed(0)\n"
        "small_keras_model = keras.Sequential([keras.Input((28, 28, 1)),\n"
        "    keras.layers.Flatten(), keras.layers.Dense(10)])\n"
        "small_keras_model.compile(keras.optimizers.Adam(0.01),\n"
        "    keras.losses.SparseCategoricalCrossentropy(from_logits=True))\n"
        "small_keras_model.fit(s.images / 255, s.labels, epochs=3, batch_size=128, verbose=0)\n"
        "check('keras-train-small', small_keras_model)",
        setup="import torchvision\nfrom cnncourse.exercises import check",
    )
    result = run_notebook(notebook, timeout=240, exercises=["keras-train-small"])
    assert result.status == "ok", result.status
    (record,) = result.verdicts
    assert record["status"] == "pass" and record["points"] == 3, record
