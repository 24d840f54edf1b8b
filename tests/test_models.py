"""Tests of cnncourse.models: shapes, hand-counted parameters, twins agree, clear errors."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is first imported

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from cnncourse.data import load
from cnncourse.models import MLP, MODEL_NAMES, TinyCNN, VGGNet, build_model, count_parameters

# Counted by hand for 1x28x28 inputs and 10 classes. A 3x3 conv from I to O channels has
# 9*I*O weights (+ O biases); a linear layer from F to O has F*O + O; BatchNorm has
# gamma and beta (trainable) and a running mean and variance (not trainable) per channel.
TINY = (9 * 1 * 8 + 8) + (9 * 8 * 16 + 16) + (16 * 7 * 7 * 10 + 10)  # 80 + 1168 + 7850
VGG_CONVS = 9 * (1 * 32 + 32 * 32 + 32 * 64 + 64 * 64 + 64 * 128 + 128 * 128)  # no bias: BN
VGG_BN_CHANNELS = 2 * (32 + 64 + 128)  # two BatchNorms per block
VGG = VGG_CONVS + 2 * VGG_BN_CHANNELS + (128 * 10 + 10)  # GAP -> linear head
VGG_ALL = VGG + 2 * VGG_BN_CHANNELS  # + running mean and variance
VGG_NO_BN = VGG_CONVS + VGG_BN_CHANNELS + (128 * 10 + 10)  # conv biases come back
MLP_COUNT = (784 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10)


def test_hand_counts_are_the_numbers_the_docstrings_print():
    assert TINY == 9_098
    assert (VGG, VGG_ALL, VGG_NO_BN) == (288_170, 289_066, 287_722)
    assert MLP_COUNT == 235_146


@pytest.mark.parametrize(
    ("name", "options", "trainable", "total"),
    [
        ("tiny", {}, TINY, TINY),
        ("vgg", {}, VGG, VGG_ALL),
        ("vgg", {"batchnorm": False}, VGG_NO_BN, VGG_NO_BN),
        ("mlp", {}, MLP_COUNT, MLP_COUNT),
        ("mlp", {"hidden": ()}, 784 * 10 + 10, 784 * 10 + 10),
    ],
)
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_parameter_counts_match_the_hand_count(name, options, trainable, total, framework):
    model = build_model(name, framework, **options)
    assert count_parameters(model) == trainable
    assert count_parameters(model, trainable_only=False) == total


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("tiny", {"in_channels": 3, "num_classes": 5, "image_size": 32}),
        ("tiny", {"in_channels": 2, "image_size": (30, 21)}),
        (
            "vgg",
            {"in_channels": 3, "image_size": (32, 40), "widths": (16, 32), "batchnorm": False},
        ),
        ("mlp", {"in_channels": 3, "num_classes": 100, "image_size": 16, "hidden": 64}),
    ],
)
@pytest.mark.keras
def test_twins_have_the_same_count_for_any_input(name, options):
    torch_model = build_model(name, "torch", **options)
    keras_model = build_model(name, "keras", **options)
    assert count_parameters(torch_model) == count_parameters(keras_model) > 0
    assert count_parameters(torch_model, False) == count_parameters(keras_model, False)
    # The same function of the input: same output shape for a batch of the right size.
    c, h, w = torch_model.input_shape
    out_t = torch_model.eval()(torch.zeros(2, c, h, w))
    out_k = keras_model(np.zeros((2, h, w, c), np.float32), training=False)
    assert tuple(out_t.shape) == tuple(out_k.shape) == (2, torch_model.num_classes)


@pytest.fixture(scope="module")
def keras():
    """Keras, for the tests that build a twin (they are skipped where it is not installed)."""
    return pytest.importorskip("keras")


@pytest.fixture(scope="module")
def real_batch():
    """Eight real Fashion-MNIST test images as floats in [0, 1], NCHW, and their labels."""
    data = load("fashion_mnist", "test").subset(8, seed=0)
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).float() / 255  # (8, 1, 28, 28)
    return images, torch.from_numpy(data.labels)


def test_tiny_cnn_shapes_by_hand_on_real_images(real_batch):
    images, _ = real_batch
    model = TinyCNN().eval()
    seen = {}
    for name in ("conv1", "pool1", "conv2", "pool2", "flatten"):
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: seen.__setitem__(name, tuple(out.shape))
        )
    logits = model(images)
    # padding 1 keeps 28x28 through each conv; each pool halves: 28 -> 14 -> 7.
    assert seen == {
        "conv1": (8, 8, 28, 28),
        "pool1": (8, 8, 14, 14),
        "conv2": (8, 16, 14, 14),
        "pool2": (8, 16, 7, 7),
        "flatten": (8, 16 * 7 * 7),
    }
    assert logits.shape == (8, 10)
    assert torch.isfinite(logits).all()


# the tiny CNN's layers in the order forward calls them: the textbook conv -> ReLU -> pool
TINY_CALL_ORDER = ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2")


def test_tiny_cnn_runs_conv_relu_pool_in_the_textbook_order(real_batch):
    images, _ = real_batch
    model = TinyCNN()
    order = []
    for name, layer in model.named_children():
        layer.register_forward_hook(
            lambda _m, _i, out, name=name: order.append((name, tuple(out.shape[1:])))
        )
    model(images)
    assert [name for name, _ in order] == [*TINY_CALL_ORDER, "flatten", "fc"]
    # each ReLU sees the full-resolution convolution output, before its pooling halves it
    assert dict(order)["relu1"] == (8, 28, 28) and dict(order)["relu2"] == (16, 14, 14)


@pytest.mark.keras
def test_keras_tiny_twin_has_the_same_order():
    names = [layer.name for layer in build_model("tiny", "keras").layers]
    assert names == ["images", *TINY_CALL_ORDER, "flatten", "fc"]


@pytest.mark.parametrize("name", ["tiny", "vgg", "mlp"])
def test_models_return_logits_not_probabilities(name, real_batch, keras):
    images, _ = real_batch
    torch.manual_seed(0)
    torch_model = build_model(name).eval()
    keras_model = build_model(name, "keras")
    last = list(torch_model.modules())[-1]
    assert isinstance(last, nn.Linear)  # no softmax after the head
    assert keras_model.layers[-1].activation is keras.activations.linear
    logits = torch_model(images)
    assert not torch.allclose(logits.sum(dim=1), torch.ones(8))
    assert (logits < 0).any()


def test_wrong_shape_names_the_expected_shape_and_the_fix():
    model = TinyCNN()
    with pytest.raises(ValueError) as error:
        model(torch.zeros(2, 3, 32, 32))
    message = str(error.value)
    assert "expected (N, 1, 28, 28) images, got (N, 3, 32, 32)" in message
    assert "in_channels=3, image_size=32" in message
    with pytest.raises(ValueError, match=r"channels-last .*permute\(0, 3, 1, 2\)"):
        model(torch.zeros(2, 28, 28, 1))
    with pytest.raises(ValueError, match=r"image_size=\(28, 20\)"):
        VGGNet()(torch.zeros(2, 1, 28, 20))
    with pytest.raises(ValueError, match=r"x\[None\]"):
        MLP()(torch.zeros(1, 28, 28))
    with pytest.raises(TypeError, match=r"x.float\(\) / 255"):
        model(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


@pytest.mark.keras
def test_keras_twin_rejects_a_wrong_shape_with_the_expected_shape():
    model = build_model("vgg", "keras")  # global pooling would silently accept 32x32
    with pytest.raises(ValueError, match=r"28, 28, 1"):
        model(np.zeros((2, 32, 32, 1), np.float32))


def test_build_model_lists_the_choices():
    with pytest.raises(ValueError, match="tiny, vgg, mlp, reference"):
        build_model("resnet")
    with pytest.raises(ValueError, match="torch, keras"):
        build_model("tiny", "jax")
    assert MODEL_NAMES == ("tiny", "vgg", "mlp", "reference")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"in_channels": 0}, "in_channels must be a positive int"),
        ({"image_size": 4}, "at least 8 pixels"),  # three 2x2 poolings
        ({"image_size": (28, 28, 1)}, r"int \(square images\) or \(height, width\)"),
        ({"dropout": 1.5}, r"dropout must be a float in \[0, 1\)"),
        ({"widths": ()}, "at least one width"),
    ],
)
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_bad_arguments_fail_before_building(options, match, framework):
    with pytest.raises(ValueError, match=match):
        build_model("vgg", framework, **options)


def test_vgg_dropout_and_batchnorm_switches(real_batch, keras):
    images, _ = real_batch
    torch.manual_seed(0)
    plain = VGGNet(dropout=0.0, batchnorm=False, widths=(8, 16)).train()  # small: fast
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert all(m.bias is not None for m in plain.modules() if isinstance(m, nn.Conv2d))
    assert torch.equal(plain(images), plain(images))  # no dropout: training is deterministic
    noisy = VGGNet(dropout=0.5, widths=(8, 16)).train()
    assert all(m.bias is None for m in noisy.modules() if isinstance(m, nn.Conv2d))
    assert not torch.equal(noisy(images), noisy(images))
    noisy.eval()
    assert torch.equal(noisy(images), noisy(images))  # dropout is off at inference
    assert noisy.head_dropout.p == 0.5 and VGGNet(head_dropout=0.1).head_dropout.p == 0.1
    keras_plain = build_model("vgg", "keras", batchnorm=False)
    assert not any(isinstance(la, keras.layers.BatchNormalization) for la in keras_plain.layers)


@pytest.mark.keras
def test_count_parameters_skips_frozen_layers_in_both_frameworks():
    torch_model, keras_model = TinyCNN(), build_model("tiny", "keras")
    torch_model.conv1.requires_grad_(False)
    keras_model.get_layer("conv1").trainable = False
    assert count_parameters(torch_model) == count_parameters(keras_model) == TINY - 80
    assert count_parameters(torch_model, trainable_only=False) == TINY
    assert count_parameters(keras_model, trainable_only=False) == TINY
    with pytest.raises(TypeError, match="got list"):
        count_parameters([1, 2, 3])


@pytest.mark.parametrize("model", [TinyCNN(3, 4, (20, 24)), VGGNet(widths=(8,), dropout=0.1)])
def test_config_rebuilds_the_same_model(model):
    rebuilt = build_model(model.name, **model.config)
    assert type(rebuilt) is type(model)
    assert count_parameters(rebuilt) == count_parameters(model)
    assert rebuilt.config == model.config


def test_torch_models_do_not_import_tensorflow():
    code = (
        "import sys; from cnncourse.models import TinyCNN, build_model; build_model('vgg'); "
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_registry_holds_real_callables_and_the_public_face_builds_from_it():
    from cnncourse.models import REGISTRY, keras_tiny_cnn

    assert tuple(REGISTRY) == MODEL_NAMES
    assert REGISTRY["tiny"] == (TinyCNN, keras_tiny_cnn)
    for torch_class, keras_builder in REGISTRY.values():
        assert callable(torch_class) and callable(keras_builder)


def test_model_modules_import_nothing_upward_or_from_the_public_face():
    import ast
    from pathlib import Path

    import cnncourse.models as package

    for path in Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)] + [
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        ]
        assert not [m for m in imported if m and m.startswith("cnncourse.train")], path.name
        if path.name != "__init__.py":
            assert "cnncourse.models" not in imported, f"{path.name} imports the public face"


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [
        ("cnncourse.models.torch_models", "TinyCNN", TinyCNN),
        ("cnncourse.models.torch_models", "VGGNet", VGGNet),
        ("cnncourse.models.keras_models", "keras_mlp", None),
        ("cnncourse.models.reference", "Recipe", None),
    ],
)
def test_old_import_paths_warn_and_still_work(old, name, new):
    import importlib

    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=f"{old}.{name} (moved|was renamed) to"):
        value = getattr(module, name)
    if new is not None:
        assert value is new
    else:
        assert callable(value)
