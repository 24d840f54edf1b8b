"""Read and experiment exercises: their checks compare the student's number with what the
chapter's own variables give (``chapter_value``), in the kernel and in the grader.

Each exercise is tried on a small synthetic chapter state, with oracles written here:
the right measurement passes both the feedback check and the grader's evaluation, a
wrong one fails, and a literal that was right for another run of the chapter (another
state) scores zero.
"""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnncourse import data
from cnncourse.exercises import check, get_exercise, registry
from cnncourse.exercises.evaluate import CHAPTER_KEY, grade_answers, harvest_names
from cnncourse.exercises.registry import chapter_value, chapter_variables

cloudpickle = pytest.importorskip("cloudpickle")


def graded(exercise_id: str, answer, state: dict) -> dict:
    """The grader's record for ``answer``, the chapter state harvested as the grader does."""
    ex = get_exercise(exercise_id)
    found = {ex.id: cloudpickle.dumps(answer)}
    found |= {CHAPTER_KEY + k: cloudpickle.dumps(v) for k, v in state.items() if k in ex.uses}
    (record,) = grade_answers(pickle.loads(pickle.dumps(found)), [ex.id])
    return record


def feedback(exercise_id: str, answer, state: dict) -> registry.Verdict:
    with chapter_variables(state):
        return check(exercise_id, answer)


def history(val_accuracy, val_loss=None) -> pd.DataFrame:
    n = len(val_accuracy)
    val_loss = val_loss if val_loss is not None else [1.0] * n
    return pd.DataFrame(
        {
            "epoch": np.arange(1, n + 1),
            "loss": np.linspace(1.0, 0.1, n),
            "accuracy": np.linspace(0.5, 0.99, n),
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
        }
    )


@pytest.fixture(scope="module")
def test_tensors():
    images, labels = data.to_tensors(data.load("fashion_mnist", "test"), "cpu")
    return images, labels  # uint8 (10000, 1, 28, 28), (10000,)


# -- the mechanism -------------------------------------------------------------------------


def test_chapter_value_reads_the_given_state_then_the_notebook_namespace(monkeypatch):
    with chapter_variables({"curves": 3}):
        assert chapter_value("curves") == 3
        with pytest.raises(registry.NotAttempted, match="run the chapter's cells"):
            chapter_value("missing")
    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "curves", 4, raising=False)
    assert chapter_value("curves") == 4  # in a kernel, __main__ holds the notebook's globals


def test_harvest_names_adds_the_chapter_variables_an_exercise_uses():
    names = harvest_names(["bn-params", "bn-read-epochs"])
    assert names == {
        "bn-params": "bn_params",
        "bn-read-epochs": "bn_epochs_to_plain_best",
        "chapter:bn_history": "bn_history",
        "chapter:plain_history": "plain_history",
    }


def test_a_missing_chapter_variable_is_not_attempted_and_scores_zero():
    record = graded("bn-read-epochs", 2, {"bn_history": history([0.5, 0.9])})
    assert record["status"] == "not attempted" and record["points"] == 0
    assert "plain_history" in record["message"]


def test_uses_must_be_names():
    with pytest.raises(ValueError, match="identifiers"):
        registry.exercise("bn-zz-test", chapter="batch_norm", uses=("not a name",))


# -- batch_norm ----------------------------------------------------------------------------

BN_STATE = {
    "bn_history": history([0.80, 0.86, 0.88, 0.90]),
    "plain_history": history([0.70, 0.84, 0.87, 0.85]),
}
BN_OTHER = {
    "bn_history": history([0.80, 0.90, 0.91, 0.92]),
    "plain_history": history([0.70, 0.84, 0.85, 0.86]),
}


def test_bn_read_epochs_is_the_first_epoch_at_the_plain_best():
    # the plain network's best is 0.87 (epoch 3); with BatchNorm 0.88 first at epoch 3
    assert feedback("bn-read-epochs", 3, BN_STATE).passed
    assert graded("bn-read-epochs", 3, BN_STATE)["points"] == 1
    wrong = feedback("bn-read-epochs", 4, BN_STATE)
    assert wrong.status == "fail"
    assert graded("bn-read-epochs", 3, BN_OTHER)["points"] == 0  # 2 in that run


def _bn_classifier(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    train_x, train_y = data.to_tensors(data.load("fashion_mnist", "train").subset(2000, seed=seed))
    model = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(784), nn.Linear(784, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(30):
        opt.zero_grad()
        F.cross_entropy(model(train_x.float() / 255), train_y).backward()
        opt.step()
    return model.eval()


def _train_mode_oracle(model, order, batch_size, tensors) -> float:
    images, labels = tensors
    model = nn.Sequential(*[m for m in model]).train()  # the same layers, training mode
    hits = 0
    with torch.no_grad():
        for chunk in np.array_split(order, np.arange(batch_size, len(order), batch_size)):
            idx = torch.as_tensor(chunk)
            hits += int((model(images[idx].float() / 255).argmax(1) == labels[idx]).sum())
    model.eval()
    return hits / len(order)


def test_bn_forgot_eval_measures_batches_of_32_in_training_mode(test_tensors):
    model = _bn_classifier(0)
    order = np.random.default_rng(0).permutation(10_000)[:640]
    state = {"bn_model": model, "order": order}
    expected = _train_mode_oracle(model, order, 32, test_tensors)
    running = model[1].running_mean.clone()
    assert feedback("bn-forgot-eval", expected, state).passed
    assert graded("bn-forgot-eval", expected, state)["points"] == 2
    assert torch.equal(model[1].running_mean, running)  # the check used a copy
    assert feedback("bn-forgot-eval", expected + 0.05, state).status == "fail"
    other = {"bn_model": _bn_classifier(1), "order": order[::-1].copy()}
    other_value = _train_mode_oracle(other["bn_model"], other["order"], 32, test_tensors)
    if abs(other_value - expected) > 0.01:  # a literal from another run
        assert graded("bn-forgot-eval", expected, other)["points"] == 0


# -- dropout -------------------------------------------------------------------------------


def test_drop_read_best_epoch_reads_the_validation_loss():
    state = {"plain_history": history([0.7, 0.8, 0.85, 0.84], val_loss=[0.9, 0.5, 0.6, 0.7])}
    assert feedback("drop-read-best-epoch", 2, state).passed
    assert graded("drop-read-best-epoch", 2, state)["points"] == 1
    by_accuracy = feedback("drop-read-best-epoch", 3, state)
    assert by_accuracy.status == "fail" and "ACCURACY" in by_accuracy.message
    by_train_loss = feedback("drop-read-best-epoch", 4, state)
    assert by_train_loss.status == "fail" and "TRAINING" in by_train_loss.message
    other = {"plain_history": history([0.7, 0.8, 0.85, 0.84], val_loss=[0.9, 0.6, 0.5, 0.7])}
    assert graded("drop-read-best-epoch", 2, other)["points"] == 0


def _dropout_net(seed: int, p: float) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 64),
        nn.BatchNorm1d(64),
        nn.ReLU(),
        nn.Dropout(p),
        nn.Linear(64, 10),
    ).eval()


def _changed_oracle(model, dataset, passes: int) -> float:
    images, _ = data.to_tensors(dataset, "cpu")
    x = images.float() / 255
    with torch.no_grad():
        reference = model(x).argmax(1)
        model[4].train()  # the Dropout layer alone
        torch.manual_seed(123)
        changed = np.mean(
            [(model(x).argmax(1) != reference).float().mean().item() for _ in range(passes)]
        )
        model[4].eval()
    return float(changed)


def test_drop_left_on_measures_changed_predictions_with_masks_of_its_own():
    validation = data.load("fashion_mnist", "test").subset(1000, seed=0)
    model = _dropout_net(0, 0.2)
    state = {"dropout_model": model, "validation": validation}
    honest = _changed_oracle(model, validation, 5)  # five passes, as the exercise says
    assert honest > 0.05  # a measurable effect: 0 is a wrong answer here
    assert feedback("drop-left-on", honest, state).passed
    assert graded("drop-left-on", honest, state)["points"] == 2
    assert not model.training and not model[4].training  # the check used a copy
    nothing = feedback("drop-left-on", 0.0, state)
    assert nothing.status == "fail" and "training mode" in nothing.message
    stronger = {"dropout_model": _dropout_net(0, 0.6), "validation": validation}
    assert graded("drop-left-on", honest, stronger)["points"] == 0  # another run's literal


# -- pooling -------------------------------------------------------------------------------


def _small_cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 13 * 13, 10)
    ).eval()


def _kept_oracle(model, s: int, tensors) -> float:
    """Shift with padding and cropping (another way than the check's slicing)."""
    x = tensors[0][:1000].float() / 255
    with torch.no_grad():
        base = model(x).argmax(1)
        kept = []
        for dx, dy in [(s, 0), (-s, 0), (0, s), (0, -s)]:
            padded = F.pad(x, (s, s, s, s))
            moved = padded[:, :, s - dy : s - dy + 28, s - dx : s - dx + 28]
            kept.append((model(moved).argmax(1) == base).float().mean().item())
    return float(np.mean(kept))


def test_pool_read_stability_reads_the_stride_2_column_at_2_pixels():
    table = pd.DataFrame(
        {"max pooling": [0.95, 0.9, 0.8], "stride 2": [0.9, 0.7, 0.6]},
        index=["shift 1", "shift 2", "shift 3"],
    )
    state = {"stability": table}
    assert feedback("pool-read-stability", 0.7, state).passed
    assert graded("pool-read-stability", 0.7, state)["points"] == 1
    column = feedback("pool-read-stability", 0.9, state)
    assert column.status == "fail" and "stride-2 column" in column.message
    assert feedback("pool-read-stability", 0.6, state).status == "fail"
    other = {"stability": table.assign(**{"stride 2": [0.9, 0.75, 0.6]})}
    assert graded("pool-read-stability", 0.7, other)["points"] == 0


def test_pool_shift_experiment_recomputes_the_lead_at_5_pixels(test_tensors):
    trained = {"max pooling": _small_cnn(0), "stride 2": _small_cnn(1)}
    state = {"trained": trained}
    lead = _kept_oracle(trained["max pooling"], 5, test_tensors) - _kept_oracle(
        trained["stride 2"], 5, test_tensors
    )
    assert feedback("pool-shift-experiment", lead, state).passed
    assert graded("pool-shift-experiment", lead, state)["points"] == 2
    if abs(lead) > 0.01:
        sign = feedback("pool-shift-experiment", -lead, state)
        assert sign.status == "fail" and "sign" in sign.message
    at_3 = _kept_oracle(trained["max pooling"], 3, test_tensors) - _kept_oracle(
        trained["stride 2"], 3, test_tensors
    )
    if abs(at_3 - lead) > 0.002:  # the table's shift, not the experiment's
        assert feedback("pool-shift-experiment", at_3, state).status == "fail"
    swapped = {"trained": {"max pooling": trained["stride 2"], "stride 2": trained["max pooling"]}}
    if abs(lead) > 0.002:
        assert graded("pool-shift-experiment", lead, swapped)["points"] == 0


# -- pytorch_cnn ---------------------------------------------------------------------------


def test_torch_read_mode_reads_eval_minus_train_run_1():
    table = pd.DataFrame(
        {
            "eval mode": [0.8, 0.85],
            "train mode, run 1": [0.8, 0.7812],
            "train mode, run 2": [0.8, 0.7901],
        },
        index=["tiny", "vgg"],
    )
    state = {"mode_table": table}
    drop = 0.85 - 0.7812
    assert feedback("torch-read-mode", drop, state).passed
    assert graded("torch-read-mode", round(drop, 4), state)["points"] == 1
    sign = feedback("torch-read-mode", -drop, state)
    assert sign.status == "fail" and "sign" in sign.message
    run_2 = feedback("torch-read-mode", 0.85 - 0.7901, state)
    assert run_2.status == "fail" and "run 2" in run_2.message
    other = {"mode_table": table.assign(**{"train mode, run 1": [0.8, 0.8]})}
    assert graded("torch-read-mode", drop, other)["points"] == 0


def test_torch_flip_experiment_mirrors_left_to_right(test_tensors):
    images, labels = test_tensors[0][:2000], test_tensors[1][:2000]
    model = _small_cnn(0)
    state = {"tiny": model, "test_images": images, "test_labels": labels}
    with torch.no_grad():
        mirrored = model(images.flip(-1).float() / 255).argmax(1)
    expected = (mirrored == labels).float().mean().item()
    assert feedback("torch-flip-experiment", expected, state).passed
    assert graded("torch-flip-experiment", expected, state)["points"] == 2
    assert feedback("torch-flip-experiment", expected + 0.01, state).status == "fail"
    other = {"tiny": _small_cnn(5), "test_images": images, "test_labels": labels}
    with torch.no_grad():
        other_hits = other["tiny"](images.flip(-1).float() / 255).argmax(1) == labels
    assert abs(other_hits.float().mean().item() - expected) > 0.002
    assert graded("torch-flip-experiment", expected, other)["points"] == 0


# -- why_convolutions ----------------------------------------------------------------------


def _results(cnn_shuffled: float) -> pd.DataFrame:
    table = pd.DataFrame(
        {"original pixels": [0.86, 0.88], "shuffled pixels": [0.855, cnn_shuffled]},
        index=["MLP", "tiny CNN"],
    )
    table["change"] = table["shuffled pixels"] - table["original pixels"]
    return table


def test_why_read_change_reads_the_cnns_row():
    state = {"results": _results(0.71)}
    assert feedback("why-read-change", -0.17, state).passed
    assert graded("why-read-change", round(0.71 - 0.88, 3), state)["points"] == 1
    sign = feedback("why-read-change", 0.17, state)
    assert sign.status == "fail" and "sign" in sign.message
    mlp = feedback("why-read-change", -0.005, state)
    assert mlp.status == "fail" and "MLP" in mlp.message
    assert graded("why-read-change", -0.17, {"results": _results(0.75)})["points"] == 0


def test_why_cnn_shuffled_test_recomputes_the_accuracy(test_tensors):
    shuffled_test = data.load("fashion_mnist", "test").subset(500, seed=0)
    model = _small_cnn(0)
    images, labels = data.to_tensors(shuffled_test, "cpu")
    with torch.no_grad():
        expected = (model(images.float() / 255).argmax(1) == labels).float().mean().item()
    state = {"cnn": model, "shuffled_test": shuffled_test, "results": _results(0.71)}
    assert feedback("why-cnn-shuffled-test", expected, state).passed
    assert graded("why-cnn-shuffled-test", expected, state)["points"] == 2
    original = feedback("why-cnn-shuffled-test", 0.88, state)
    assert original.status == "fail" and "shuffled_test" in original.message
    retrained = feedback("why-cnn-shuffled-test", 0.71, state)
    assert retrained.status == "fail" and "trained on shuffled" in retrained.message
    other = dict(state, cnn=_small_cnn(3))
    with torch.no_grad():
        other_value = (other["cnn"](images.float() / 255).argmax(1) == labels).float().mean()
    assert abs(other_value.item() - expected) > 0.002
    assert graded("why-cnn-shuffled-test", expected, other)["points"] == 0


# -- keras_cnn and keras_vs_pytorch ---------------------------------------------------------


def test_keras_read_shirts_names_the_most_frequent_other_class():
    test = data.load("fashion_mnist", "test")
    names = list(test.class_names)
    shirt, coat = names.index("Shirt"), names.index("Coat")
    predicted = test.labels.copy()  # right everywhere, except:
    shirts = np.flatnonzero(test.labels == shirt)
    predicted[shirts[:50]] = coat
    predicted[shirts[50:80]] = names.index("Pullover")
    state = {"predicted": predicted}
    assert feedback("keras-read-shirts", "Coat", state).passed
    assert graded("keras-read-shirts", "coat", state)["points"] == 1
    itself = feedback("keras-read-shirts", "Shirt", state)
    assert itself.status == "fail" and "OTHER" in itself.message
    assert feedback("keras-read-shirts", "Pullover", state).status == "fail"
    assert feedback("keras-read-shirts", "Jumper", state).status == "fail"
    assert feedback("keras-read-shirts", coat, state).status == "fail"  # a name, not an index
    predicted[shirts[80:200]] = names.index("T-shirt/top")
    assert graded("keras-read-shirts", "Coat", {"predicted": predicted})["points"] == 0


@pytest.mark.keras
def test_keras_skew_experiment_counts_the_predictions_raw_pixels_change():
    pytest.importorskip("keras")
    from cnncourse._frameworks import import_keras

    keras = import_keras()
    test = data.load("fashion_mnist", "test").subset(1000, seed=0)

    def tiny(seed: int):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                keras.layers.Conv2D(4, 3, activation="relu"),
                keras.layers.MaxPooling2D(2),
                keras.layers.Flatten(),
                keras.layers.Dense(10),
            ]
        )
        rng = np.random.default_rng(seed)
        for layer in (model.layers[0], model.layers[-1]):  # zero biases: nothing would change
            layer.bias.assign(rng.normal(0, 0.3, layer.bias.shape).astype("float32"))
        return model

    def changed(model) -> tuple:  # predict() in batches of 256, uint8 in: Keras casts
        raw = model.predict(test.images, batch_size=256, verbose=0).argmax(1)
        scaled = model.predict(test.images / 255, batch_size=256, verbose=0).argmax(1)
        return float((raw != scaled).mean()), raw, scaled

    model = tiny(0)
    state = {"pipeline_model": model, "test_set": test}
    expected, raw, scaled = changed(model)
    assert 0.01 < expected < 0.99  # a measurable effect
    assert feedback("keras-skew-experiment", expected, state).passed
    assert graded("keras-skew-experiment", expected, state)["points"] == 2
    drop = float((scaled == test.labels).mean() - (raw == test.labels).mean())
    if abs(drop - expected) > 0.002:
        accuracy = feedback("keras-skew-experiment", drop, state)
        assert accuracy.status == "fail" and "change in accuracy" in accuracy.message
    count = feedback("keras-skew-experiment", expected * len(test), state)
    assert count.status == "fail" and "count" in count.message
    other = {"pipeline_model": tiny(1), "test_set": test}
    assert abs(changed(other["pipeline_model"])[0] - expected) > 0.002
    assert graded("keras-skew-experiment", expected, other)["points"] == 0


def test_kvp_read_softmax_cost_subtracts_the_two_pytorch_rows():
    index = pd.MultiIndex.from_tuples(
        [
            ("PyTorch", "logits", "logits"),
            ("PyTorch", "probabilities", "logits"),
            ("Keras", "logits", "logits"),
        ],
        names=["framework", "model outputs", "loss expects"],
    )
    table = pd.DataFrame(
        {"training loss": [0.6, 1.5, 0.6], "test accuracy": [0.812, 0.745, 0.811]}, index=index
    )
    state = {"softmax_table": table}
    assert feedback("kvp-read-softmax-cost", 0.812 - 0.745, state).passed
    assert graded("kvp-read-softmax-cost", 0.067, state)["points"] == 1
    sign = feedback("kvp-read-softmax-cost", -0.067, state)
    assert sign.status == "fail" and "sign" in sign.message
    assert feedback("kvp-read-softmax-cost", 0.812 - 0.811, state).status == "fail"
    other = {"softmax_table": table.assign(**{"test accuracy": [0.812, 0.70, 0.811]})}
    assert graded("kvp-read-softmax-cost", 0.067, other)["points"] == 0


# -- convolution ---------------------------------------------------------------------------


def test_conv_blur_twice_recomputes_the_roughness_with_torch():
    photo = np.random.default_rng(0).random((40, 40))
    gauss = np.array([1, 4, 6, 4, 1]) / 16
    state = {"photo": photo, "KERNELS": {"blur": np.outer(gauss, gauss)}}
    kernel = torch.from_numpy(np.outer(gauss, gauss))[None, None]
    once = F.conv2d(torch.from_numpy(photo)[None, None], kernel, padding=2)
    twice = F.conv2d(once, kernel, padding=2)[0, 0].numpy()

    def rough(image):
        return float(np.abs(np.diff(image[4:-4, 4:-4], axis=1)).mean())

    assert feedback("conv-blur-twice", rough(twice), state).passed
    assert graded("conv-blur-twice", rough(twice), state)["points"] == 2
    assert rough(once[0, 0].numpy()) > 1.1 * rough(twice)  # the mistake is far enough off
    single = feedback("conv-blur-twice", rough(once[0, 0].numpy()), state)
    assert single.status == "fail" and "once" in single.message
    other = dict(state, photo=np.random.default_rng(1).random((40, 40)) ** 2)
    assert graded("conv-blur-twice", rough(twice), other)["points"] == 0


# -- data_pipelines --------------------------------------------------------------------------


def _flip_table(values: dict) -> pd.DataFrame:
    """The chapter's table: rows the two trainings, columns (classes, view)."""
    table = pd.Series(values).unstack([1, 2])
    table = table[["footwear", "all classes"]]
    table.index.name = "trained with"
    return table


def _flip_values(no_flips_mirrored_all: float) -> dict:
    values = {}
    for training, shift in (("no flips", 0.0), ("random mirroring", 0.01)):
        for classes, base in (("footwear", 0.91), ("all classes", 0.80)):
            values[(training, classes, "as they are")] = base - shift
            values[(training, classes, "mirrored")] = base - 0.05 if shift else base - 0.6
            values[(training, classes, "upside down")] = base - 0.45
    values[("no flips", "all classes", "mirrored")] = no_flips_mirrored_all
    return values


def test_data_read_mirror_cost_reads_the_no_flips_row_all_classes():
    state = {"flip_table": _flip_table(_flip_values(0.561))}
    cost = 0.80 - 0.561
    assert feedback("data-read-mirror-cost", cost, state).passed
    assert graded("data-read-mirror-cost", round(cost, 3), state)["points"] == 1
    sign = feedback("data-read-mirror-cost", -cost, state)
    assert sign.status == "fail" and "sign" in sign.message
    shoes = feedback("data-read-mirror-cost", 0.6, state)
    assert shoes.status == "fail" and "footwear" in shoes.message
    mirroring = feedback("data-read-mirror-cost", 0.04, state)
    assert mirroring.status == "fail" and "random mirroring" in mirroring.message
    upside = feedback("data-read-mirror-cost", 0.45, state)
    assert upside.status == "fail" and "upside-down" in upside.message
    other = {"flip_table": _flip_table(_flip_values(0.62))}
    assert graded("data-read-mirror-cost", cost, other)["points"] == 0


def _rotated_oracle(model, test) -> float:
    """Rotate with torch.rot90 (another way than the check's two flips)."""
    images = torch.from_numpy(test.images).permute(0, 3, 1, 2)
    rotated = torch.rot90(images, 2, dims=(2, 3)).float() / 255
    with torch.no_grad():
        predicted = model.eval()(rotated).argmax(1).numpy()
    return float((predicted == test.labels).mean())


def test_data_rotate_experiment_measures_the_no_flips_model_on_rotated_photos():
    test = data.load("fashion_mnist", "test").subset(1000, seed=0)
    models = {"no flips": _small_cnn(0), "random mirroring": _small_cnn(1)}
    state = {"flip_models": models, "test_set": test}
    expected = _rotated_oracle(models["no flips"], test)
    assert feedback("data-rotate-experiment", expected, state).passed
    assert graded("data-rotate-experiment", expected, state)["points"] == 2
    other_model = _rotated_oracle(models["random mirroring"], test)
    assert abs(other_model - expected) > 0.002
    wrong_model = feedback("data-rotate-experiment", other_model, state)
    assert wrong_model.status == "fail" and "without flips" in wrong_model.message
    mirrored = data.ImageSet(
        np.ascontiguousarray(test.images[:, ::-1]), test.labels, test.class_names
    )  # upside down: rotated by 180 degrees it is the mirrored view
    mirror_only = _rotated_oracle(models["no flips"], mirrored)
    if abs(mirror_only - expected) > 0.002:
        one_axis = feedback("data-rotate-experiment", mirror_only, state)
        assert one_axis.status == "fail" and "left to right only" in one_axis.message
    swapped = {"no flips": models["random mirroring"], "random mirroring": models["no flips"]}
    swapped = {"flip_models": swapped, "test_set": test}
    assert graded("data-rotate-experiment", expected, swapped)["points"] == 0


# -- evaluation ----------------------------------------------------------------------------


def _predictions(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Predictions whose lowest precision (class 2) and lowest recall (class 6) differ:
    many images of class 6 are called class 2."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 10, 3000)
    y_pred = np.where(rng.random(3000) < 0.85, y_true, rng.integers(0, 10, 3000))
    y_pred[(y_true == 6) & (rng.random(3000) < 0.4)] = 2
    return y_true, y_pred


def _report_state(seed: int) -> dict:
    from cnncourse import metrics

    names = [f"class {k}" for k in range(10)]
    report = metrics.classification_report(*_predictions(seed), names)
    return {"report": report, "CLASS_NAMES": names}


def test_eval_read_report_reads_the_lowest_precision_of_the_ten_classes():
    from sklearn.metrics import precision_recall_fscore_support

    state = _report_state(0)
    names, report = state["CLASS_NAMES"], state["report"]
    precision = report.loc[names, "precision"].to_numpy()
    assert int(np.argmin(precision)) == 2 and int(report.loc[names, "recall"].argmin()) == 6
    y_true, y_pred = _predictions(0)  # oracle: scikit-learn on the same predictions
    oracle = precision_recall_fscore_support(y_true, y_pred, labels=np.arange(10))[0].min()
    assert feedback("eval-read-report", oracle, state).passed
    assert graded("eval-read-report", round(oracle, 3), state)["points"] == 1
    of_lowest_recall = feedback("eval-read-report", precision[6], state)
    assert of_lowest_recall.status == "fail" and "another class" in of_lowest_recall.message
    recall = feedback("eval-read-report", report.loc[names, "recall"].min(), state)
    assert recall.status == "fail" and "lowest recall" in recall.message
    macro = feedback("eval-read-report", report.loc["macro avg", "precision"], state)
    assert macro.status == "fail" and "macro" in macro.message
    assert feedback("eval-read-report", None, state).status == "not attempted"
    other = _report_state(1)
    assert abs(other["report"].loc[names, "precision"].min() - oracle) > 0.001
    assert graded("eval-read-report", oracle, other)["points"] == 0  # another run's literal


def _scores_state(seed: int) -> dict:
    """Validation and test scores of a one-in-ten positive class, as the chapter holds them."""
    rng = np.random.default_rng(seed)

    def scores(n):
        labels = rng.random(n) < 0.1
        logits = rng.normal(size=n) + 1.6 * labels - 1.5
        return (1 / (1 + np.exp(-logits))).astype(np.float32), labels

    p_val, shirt_val = scores(1200)
    test_scores, shirt_test = scores(4000)
    return {
        "p_val": p_val,
        "shirt_val": torch.from_numpy(shirt_val),
        "test_scores": test_scores,
        "shirt_test": torch.from_numpy(shirt_test),
        "TARGET_RECALL": 0.9,
    }


def _highest_threshold(scores, labels, recall: float) -> float:
    """Oracle: try every distinct score from the top down; the first that reaches wins."""
    labels = np.asarray(labels)
    for t in np.unique(scores)[::-1]:
        if (labels & (scores >= t)).sum() / labels.sum() >= recall:
            return float(t)
    raise AssertionError("no threshold reaches the recall")


def _precision(scores, labels, threshold: float) -> float:
    labels, flagged = np.asarray(labels), scores >= threshold
    return float((labels & flagged).sum() / flagged.sum())


def test_eval_recall_target_chooses_on_validation_and_scores_the_test_set():
    state = _scores_state(0)
    val, val_labels = state["p_val"], state["shirt_val"].numpy()
    test, test_labels = state["test_scores"], state["shirt_test"].numpy()
    threshold = _highest_threshold(val, val_labels, 0.8)
    oracle = _precision(test, test_labels, threshold)
    assert feedback("eval-recall-target", oracle, state).passed
    assert graded("eval-recall-target", round(oracle, 3), state)["points"] == 2
    chapter_target = _precision(test, test_labels, _highest_threshold(val, val_labels, 0.9))
    on_test = _precision(test, test_labels, _highest_threshold(test, test_labels, 0.8))
    on_val = _precision(val, val_labels, threshold)
    recall = float((test_labels & (test >= threshold)).sum() / test_labels.sum())
    mistakes = {
        chapter_target: "chapter's threshold",
        on_test: "chosen on the test scores",
        on_val: "precision on the validation images",
        recall: "test recall",
    }
    for value, words in mistakes.items():
        assert abs(value - oracle) > 0.001, words  # each mistake is told apart
        verdict = feedback("eval-recall-target", value, state)
        assert verdict.status == "fail" and words in verdict.message, verdict.message
        assert graded("eval-recall-target", value, state)["points"] == 0
    assert feedback("eval-recall-target", None, state).status == "not attempted"
    other = _scores_state(1)
    other_oracle = _precision(
        other["test_scores"],
        other["shirt_test"].numpy(),
        _highest_threshold(other["p_val"], other["shirt_val"].numpy(), 0.8),
    )
    assert abs(other_oracle - oracle) > 0.001
    assert graded("eval-recall-target", oracle, other)["points"] == 0


# -- transfer_learning ---------------------------------------------------------------------

WAYS = (
    "from scratch",
    "clothes, frozen",
    "clothes, fine-tuned",
    "handwriting, frozen",
    "handwriting, fine-tuned",
)


def _curves(seed: int) -> dict:
    """Learning curves of two draws, indexed by epoch from 1, shaped like the chapter's:
    scratch climbs slowly, the handwriting base fast, the clothes base stalls low."""
    rng = np.random.default_rng(seed)
    epochs = pd.RangeIndex(1, 81, name="epoch")
    rates = {"from scratch": 0.04, "handwriting, frozen": 0.3, "handwriting, fine-tuned": 0.3}
    tops = {"from scratch": 0.8, "handwriting, frozen": 0.94, "handwriting, fine-tuned": 0.95}
    curves = {}
    for draw in (0, 1):
        columns = {}
        for way in WAYS:
            rate, top = rates.get(way, 0.2), tops.get(way, 0.65)
            noise = rng.normal(0, 0.01, len(epochs))
            columns[way] = np.clip(top * (1 - np.exp(-rate * np.arange(1, 81))) + noise, 0, 1)
        curves[draw] = pd.DataFrame(columns, index=epochs)
    return curves


def _first_epoch_at(curves: dict, way: str, level: float) -> int:
    """Oracle: walk the epochs, average the draws by hand."""
    for epoch in curves[0].index:
        if np.mean([curves[d].loc[epoch, way] for d in curves]) >= level:
            return int(epoch)
    raise AssertionError("never reached")


def test_transfer_read_epochs_averages_the_draws_and_counts_from_1():
    curves = _curves(0)
    state = {"torch_curves": curves}
    level = np.mean([curves[d]["from scratch"].iloc[-1] for d in curves])
    oracle = _first_epoch_at(curves, "handwriting, frozen", level)
    assert 1 < oracle < 40
    assert feedback("transfer-read-epochs", oracle, state).passed
    assert graded("transfer-read-epochs", oracle, state)["points"] == 1
    off_by_one = feedback("transfer-read-epochs", oracle - 1, state)
    assert off_by_one.status == "fail" and "count from 1" in off_by_one.message
    scratch = _first_epoch_at(curves, "from scratch", level)
    own = feedback("transfer-read-epochs", scratch, state)
    assert own.status == "fail" and "from scratch gets there" in own.message
    assert feedback("transfer-read-epochs", 80, state).status == "fail"
    assert feedback("transfer-read-epochs", None, state).status == "not attempted"
    other = _curves(3)
    other_level = np.mean([other[d]["from scratch"].iloc[-1] for d in other])
    for draw in other.values():  # this run's frozen base climbs more slowly
        draw["handwriting, frozen"] = draw["handwriting, frozen"].shift(5, fill_value=0.1)
    assert _first_epoch_at(other, "handwriting, frozen", other_level) != oracle
    assert graded("transfer-read-epochs", oracle, {"torch_curves": other})["points"] == 0


@pytest.fixture(scope="module")
def one_label_setup():
    from cnncourse import models

    pool = data.upscaled_digits("pool")
    test = data.upscaled_digits("test").subset(300, seed=0)
    return {
        "handwriting": models.load_pretrained("vgg_mnist_digits"),
        "clothes": models.load_pretrained("vgg_fashion_mnist"),
        "digits_pool": pool,
        "digits_test": test,
        "HEAD_LR": 1e-2,
        "EPOCHS": 40,
        "BATCH_SIZE": 32,
    }


def _frozen_run(base, pool, test, labels_per_class: int, runs=(40, 40)) -> float:
    """Oracle: the chapter's frozen run for the draw with seed 0, written out as there."""
    from cnncourse import train
    from cnncourse.train import transfer

    rng = np.random.default_rng(0)
    picks = [
        rng.choice(np.flatnonzero(pool.labels == k), labels_per_class, replace=False)
        for k in range(10)
    ]
    few = pool.take(np.sort(np.concatenate(picks)))
    torch.manual_seed(0)
    model = transfer.with_new_head(base, 10, dropout=0.25)
    head_only = torch.optim.Adam(transfer.trainable_parameters(model), 1e-2)
    for epochs in runs:
        train.fit(
            model, few, val=test, epochs=epochs, optimizer=head_only, batch_size=32,
            device="cpu", seed=0, progress=False,
        )  # fmt: skip
    return float(train.evaluate(model, test, device="cpu")["accuracy"])


def test_transfer_one_label_retrains_the_head_and_tells_three_labels_apart(one_label_setup):
    setup = one_label_setup
    base, pool, test = setup["handwriting"], setup["digits_pool"], setup["digits_test"]
    oracle = _frozen_run(base, pool, test, 1)
    one_run = _frozen_run(base, pool, test, 1, runs=(80,))
    three = _frozen_run(base, pool, test, 3)
    assert abs(three - oracle) > 0.01  # one label per digit changes the result
    results = pd.DataFrame({"handwriting, frozen": [three, 0.9]}, index=[0, 1])
    state = {k: v for k, v in setup.items() if k != "clothes"} | {"torch_results": results}
    torch_state = torch.get_rng_state()
    assert feedback("transfer-one-label", oracle, state).passed
    assert torch.equal(torch.get_rng_state(), torch_state)  # the notebook's draws go on
    assert feedback("transfer-one-label", one_run, state).passed  # one run of 80 epochs
    assert graded("transfer-one-label", round(oracle, 3), state)["points"] == 2
    three_labels = feedback("transfer-one-label", three, state)
    assert three_labels.status == "fail" and "three labels" in three_labels.message
    assert graded("transfer-one-label", three, state)["points"] == 0
    assert feedback("transfer-one-label", None, state).status == "not attempted"
    other = dict(state, handwriting=setup["clothes"])  # another base: another number
    assert abs(_frozen_run(setup["clothes"], pool, test, 1) - oracle) > 0.05
    assert graded("transfer-one-label", oracle, other)["points"] == 0


def test_one_label_tolerance_stays_below_half_the_gap_to_three_labels():
    from cnncourse.exercises.checks import transfer_learning as tl

    assert tl.one_label_tolerance([0.9], 0.95, 200) == 1.5 / 200  # room for 1.5 images
    assert tl.one_label_tolerance([0.9], 0.95, 898) == 0.005
    close = tl.one_label_tolerance([0.9, 0.905], 0.908, 200)
    assert close == pytest.approx(0.0015) and close < 0.908 - 0.905


# -- tuning_deploying ----------------------------------------------------------------------


def _search(accuracies, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "lr": 10 ** rng.uniform(-4, -1, len(accuracies)),
            "weight_decay": 10 ** rng.uniform(-4, -1, len(accuracies)),
            "val_accuracy": accuracies,
        }
    )
    return table.sort_values("val_accuracy", ascending=False, ignore_index=True)


def test_deploy_read_search_subtracts_the_best_trials_of_the_two_rounds():
    coarse = _search([0.61, 0.7483333, 0.52, 0.7316667, 0.69, 0.3], 0)
    fine = _search([0.7366667, 0.7616667, 0.745, 0.7533333], 1)
    state = {"coarse": coarse, "fine": fine}
    oracle = max(fine["val_accuracy"]) - max(coarse["val_accuracy"])  # 0.7617 - 0.7483
    assert feedback("deploy-read-search", oracle, state).passed
    as_shown = round(fine["val_accuracy"].max(), 4) - round(coarse["val_accuracy"].max(), 4)
    assert graded("deploy-read-search", as_shown, state)["points"] == 1
    sign = feedback("deploy-read-search", -oracle, state)
    assert sign.status == "fail" and "sign" in sign.message
    medians = feedback(
        "deploy-read-search", fine.val_accuracy.median() - coarse.val_accuracy.median(), state
    )
    assert medians.status == "fail" and "medians" in medians.message
    bottom = feedback("deploy-read-search", 0.7366667 - 0.3, state)
    assert bottom.status == "fail" and "top row" in bottom.message
    assert feedback("deploy-read-search", None, state).status == "not attempted"
    worse = {"coarse": coarse, "fine": _search([0.7366667, 0.74, 0.745], 1)}
    assert graded("deploy-read-search", oracle, worse)["points"] == 0  # another run's literal
    assert feedback(
        "deploy-read-search", 0.745 - 0.7483333, worse
    ).passed  # negative: it did worse
