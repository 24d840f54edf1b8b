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
