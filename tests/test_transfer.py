"""cnncourse.train.transfer: base/head split, freezing (BatchNorm included), new heads, both frameworks."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from cnncourse.models import build_model, count_parameters
from cnncourse.train import fit, transfer


@pytest.fixture(scope="module")
def few_images(fashion_train):
    """300 real Fashion-MNIST training images of five classes, relabelled 0..4."""
    return fashion_train.only_classes([0, 2, 4, 6, 8], relabel=True).subset(300, seed=0)


def small_vgg(num_classes: int = 5, seed: int = 0, framework: str = "torch"):
    if framework == "torch":
        torch.manual_seed(seed)
    return build_model("vgg", framework, num_classes=num_classes, widths=(8, 16), dropout=0.0)


def state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the state: ``fit`` may move the model to CUDA, the copy stays comparable."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


@pytest.mark.parametrize(
    ("name", "kwargs", "head"),
    [
        ("tiny", {}, ["fc"]),
        ("vgg", {"widths": (8, 16)}, ["head_dropout", "fc"]),
        ("reference", {"blocks": ((8, True), (16, True))}, ["fc"]),
    ],
)
def test_split_model_computes_the_same_function_with_shared_layers(name, kwargs, head):
    torch.manual_seed(0)
    model = build_model(name, num_classes=7, **kwargs).eval()
    parts = transfer.split_model(model)
    assert [n for n, _ in parts.head.named_children()] == head
    assert parts.num_features == model.fc.in_features
    x = torch.rand(4, 1, 28, 28)
    parts.eval()
    torch.testing.assert_close(parts(x), model(x))
    assert parts.base(x).shape == (4, model.fc.in_features)  # features (N, F)
    # shared, not copied: the parts' parameters are the model's own objects
    assert {id(p) for p in parts.parameters()} == {id(p) for p in model.parameters()}


def test_split_model_refuses_what_it_cannot_split():
    with pytest.raises(ValueError, match="last child module is an nn.Linear"):
        transfer.split_model(build_model("mlp"))  # one Sequential child

    class Skip(nn.Module):  # its forward is not "children in order"
        def __init__(self):
            super().__init__()
            self.input_shape = (1, 4, 4)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(16, 2)

        def forward(self, x):
            return self.fc(self.flatten(x) * 2)

    with pytest.raises(ValueError, match="does not compute the same function"):
        transfer.split_model(Skip())
    with pytest.raises(TypeError, match="torch.nn.Module"):
        transfer.split_model("vgg")


def test_with_new_head_copies_the_base_and_starts_frozen():
    pretrained = small_vgg(num_classes=5)
    model = transfer.with_new_head(pretrained, 3, dropout=0.2)
    assert model.base_frozen
    assert [type(m) for m in model.head] == [nn.Dropout, nn.Linear]
    assert model.head.fc.out_features == 3 and model.num_features == 16
    # a deep copy: equal values, other tensors
    for (name, p), q in zip(
        model.base.named_parameters(), pretrained.features.parameters(), strict=True
    ):
        assert torch.equal(p, q) and p is not q, name
    head_size = 16 * 3 + 3
    assert count_parameters(model) == head_size
    assert sum(p.numel() for p in transfer.trainable_parameters(model)) == head_size
    table = transfer.parameter_table(model)
    assert list(table.index) == ["base", "head", "total"]
    assert table.loc["head", "trainable"] == head_size and table.loc["base", "trainable"] == 0
    assert table.loc["total", "parameters"] == count_parameters(model, trainable_only=False) - sum(
        b.numel() for b in model.buffers() if b.is_floating_point()
    )
    model.unfreeze_base()
    assert not model.base_frozen
    assert transfer.parameter_table(model).loc["base", "trainable"] > 0


def test_with_new_head_rejects_bad_arguments():
    pretrained = small_vgg()
    with pytest.raises(ValueError, match="num_classes"):
        transfer.with_new_head(pretrained, 1)
    with pytest.raises(ValueError, match="dropout"):
        transfer.with_new_head(pretrained, 3, dropout=1.5)
    with pytest.raises(TypeError, match="trainable = False"):

        class FakeKerasLayer:
            trainable = True

        transfer.freeze(FakeKerasLayer())


def test_frozen_base_keeps_weights_and_batchnorm_statistics(few_images):
    model = transfer.with_new_head(small_vgg(), 5)
    base_before, head_before = state(model.base), state(model.head)
    optimizer = torch.optim.Adam(transfer.trainable_parameters(model), lr=1e-2)
    fit(model, few_images, epochs=1, batch_size=50, optimizer=optimizer, progress=False, seed=0)
    assert changed(base_before, state(model.base)) == set()  # weights AND running stats
    assert changed(head_before, state(model.head)) == {"fc.weight", "fc.bias"}


def test_requires_grad_alone_does_not_protect_batchnorm(few_images):
    """The pitfall BaseAndHead avoids: a frozen BatchNorm in train mode still updates."""
    model = small_vgg()
    transfer.freeze(model.features)
    before = state(model.features)
    optimizer = torch.optim.Adam(transfer.trainable_parameters(model), lr=1e-2)
    fit(model, few_images, epochs=1, batch_size=50, optimizer=optimizer, progress=False, seed=0)
    moved = changed(before, state(model.features))
    assert moved and all("running" in k or "num_batches" in k for k in moved), moved


@pytest.mark.parametrize("base_training", [False, True])
def test_fine_tuning_trains_the_base_and_base_training_decides_the_statistics(
    few_images, base_training
):
    model = transfer.with_new_head(small_vgg(), 5, freeze_base=False, base_training=base_training)
    before = state(model.base)
    fit(model, few_images, epochs=1, batch_size=50, lr=1e-3, progress=False, seed=0)
    moved = changed(before, state(model.base))
    assert any(k.endswith("conv1.weight") for k in moved)
    assert any("running_mean" in k for k in moved) == base_training
    model.train()
    assert model.base.training == base_training and model.head.training


def test_keras_split_model_shares_layers_and_gives_the_features():
    keras = pytest.importorskip("keras")
    model = small_vgg(framework="keras")
    base, head = transfer.keras_split_model(model)
    assert [layer.name for layer in head] == ["head_dropout", "fc"]
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a base built on a one-item input list warns per call
        features = keras.ops.convert_to_numpy(base(x, training=False))  # (3, 16)
    assert features.shape == (3, 16)
    fc = model.get_layer("fc")
    logits = features @ keras.ops.convert_to_numpy(fc.kernel) + keras.ops.convert_to_numpy(fc.bias)
    np.testing.assert_allclose(
        logits, keras.ops.convert_to_numpy(model(x, training=False)), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="Dense head"):
        transfer.keras_split_model(keras.Sequential([keras.Input((4,)), keras.layers.ReLU()]))


def test_keras_new_head_is_the_twin_of_the_torch_one(few_images):
    keras = pytest.importorskip("keras")
    from cnncourse.interop import torch_to_keras

    torch_model = transfer.with_new_head(small_vgg(), 3)
    keras_pretrained = small_vgg(framework="keras")
    keras_model = transfer.keras_with_new_head(keras_pretrained, 3)
    base = keras_model.get_layer("base")
    assert not base.trainable
    # the clone holds the pretrained values in its own variables
    for a, b in zip(base.weights, keras_pretrained.weights, strict=False):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    torch_table = transfer.parameter_table(torch_model)
    keras_table = transfer.parameter_table(keras_model)
    assert keras_table.loc["total"].tolist() == torch_table.loc["total"].tolist()
    assert keras_table.loc["fc", "trainable"] == torch_table.loc["head", "trainable"]
    # same layers in the same order: interop copies the weights and the logits agree
    torch_to_keras(torch_model, keras_model)
    x = few_images.images[:8]
    expected = torch_model.eval()(torch.as_tensor(x).permute(0, 3, 1, 2).float() / 255)
    got = keras_model(x.astype("float32") / 255, training=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(got), expected.detach().numpy(), rtol=1e-4, atol=1e-4
    )


def test_keras_frozen_base_keeps_weights_and_moving_statistics(few_images):
    keras = pytest.importorskip("keras")
    model = transfer.keras_with_new_head(small_vgg(framework="keras"), 5)
    base = model.get_layer("base")
    before = [w.numpy().copy() for w in base.weights]
    fc_before = model.get_layer("fc").kernel.numpy().copy()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x = few_images.images.astype("float32") / 255
    model.fit(x, few_images.labels, epochs=1, batch_size=50, verbose=0)
    for a, b in zip(before, base.weights, strict=True):
        np.testing.assert_array_equal(a, b.numpy())
    assert not np.array_equal(fc_before, model.get_layer("fc").kernel.numpy())
    # unfreezing (and compiling again) trains the base but keeps its moving statistics
    base.trainable = True
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, few_images.labels, epochs=1, batch_size=50, verbose=0)
    after = {w.path: w.numpy() for w in base.weights}
    for w, old in zip(base.weights, before, strict=True):
        moved = not np.array_equal(old, after[w.path])
        assert moved == ("moving" not in w.path), w.path


def test_parameter_table_rejects_other_objects():
    with pytest.raises(TypeError, match="keras.Model"):
        transfer.parameter_table(copy.copy)


def test_keras_transfer_model_survives_a_keras_file(tmp_path):
    keras = pytest.importorskip("keras")
    model = transfer.keras_with_new_head(small_vgg(framework="keras"), 3, dropout=0.1)
    path = tmp_path / "transfer.keras"
    model.save(path)
    transfer.inference_mode_class()  # registers InferenceMode for loading
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(1).random((2, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-6
    )
    assert not loaded.get_layer("base").trainable
