"""Tests of cnncourse.interop: twins give identical logits on real images after a copy."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is first imported

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from cnncourse.data import load
from cnncourse.interop import keras_to_torch, torch_to_keras
from cnncourse.models import build_model

keras = pytest.importorskip("keras")

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def real_images():
    """32 real Fashion-MNIST test images, float32 NHWC in [0, 1]."""
    data = load("fashion_mnist", "test").subset(32, seed=1)
    return data.images.astype(np.float32) / 255  # (32, 28, 28, 1)


def _inputs(real_images, in_channels, image_size):
    """Real images shaped for a model: channels are different real images, then cropped."""
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    shifted = [np.roll(real_images, -k, axis=0) for k in range(in_channels)]  # other images
    nhwc = np.concatenate(shifted, axis=-1)[:, :height, :width, :]  # (N, H, W, C)
    return nhwc, torch.from_numpy(nhwc).permute(0, 3, 1, 2).contiguous()  # and (N, C, H, W)


def _logits(torch_model, keras_model, nhwc, nchw):
    with torch.no_grad():
        from_torch = torch_model.eval()(nchw).numpy()
    from_keras = keras.ops.convert_to_numpy(keras_model(nhwc, training=False))
    return from_torch, from_keras


def _scramble_torch_bn(model, seed):
    """Nontrivial BatchNorm state, as after training: random gamma, beta and statistics."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                for tensor, low, high in [
                    (m.weight, 0.5, 1.5),
                    (m.bias, -0.5, 0.5),
                    (m.running_mean, -0.5, 0.5),
                    (m.running_var, 0.3, 3.0),
                ]:
                    tensor.copy_(torch.empty_like(tensor).uniform_(low, high, generator=generator))


def _scramble_keras_bn(model, seed):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.gamma.shape
            layer.gamma.assign(rng.uniform(0.5, 1.5, size).astype(np.float32))
            layer.beta.assign(rng.uniform(-0.5, 0.5, size).astype(np.float32))
            layer.moving_mean.assign(rng.uniform(-0.5, 0.5, size).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.3, 3.0, size).astype(np.float32))


CASES = [
    ("tiny", {}),
    ("tiny", {"in_channels": 3, "image_size": (28, 24)}),  # flatten order matters: C > 1
    ("vgg", {}),
    ("vgg", {"batchnorm": False, "widths": (8, 16)}),
    ("mlp", {}),
    ("mlp", {"in_channels": 3, "hidden": (32,)}),  # flatten order matters: C > 1
]


@pytest.mark.parametrize(("name", "options"), CASES)
def test_torch_to_keras_gives_identical_logits(name, options, real_images):
    torch.manual_seed(0)
    torch_model = build_model(name, "torch", **options)
    _scramble_torch_bn(torch_model, seed=1)
    keras_model = build_model(name, "keras", **options)
    nhwc, nchw = _inputs(real_images, torch_model.input_shape[0], torch_model.config["image_size"])
    before_t, before_k = _logits(torch_model, keras_model, nhwc, nchw)
    assert np.abs(before_t - before_k).max() > 1e-2  # independent random inits differ

    assert torch_to_keras(torch_model, keras_model) is keras_model
    from_torch, from_keras = _logits(torch_model, keras_model, nhwc, nchw)
    assert from_torch.shape == (32, 10)
    assert np.abs(from_torch - from_keras).max() < TOLERANCE
    assert (from_torch.argmax(1) == from_keras.argmax(1)).all()


@pytest.mark.parametrize(("name", "options"), CASES)
def test_keras_to_torch_gives_identical_logits(name, options, real_images):
    keras.utils.set_random_seed(0)
    keras_model = build_model(name, "keras", **options)
    _scramble_keras_bn(keras_model, seed=2)
    torch_model = build_model(name, "torch", **options)
    nhwc, nchw = _inputs(real_images, torch_model.input_shape[0], torch_model.config["image_size"])

    assert keras_to_torch(keras_model, torch_model) is torch_model
    from_torch, from_keras = _logits(torch_model, keras_model, nhwc, nchw)
    assert np.abs(from_torch - from_keras).max() < TOLERANCE


def test_layouts_per_key_and_round_trip():
    torch.manual_seed(0)
    torch_model = build_model("tiny", in_channels=3)
    keras_model = torch_to_keras(torch_model, build_model("tiny", "keras", in_channels=3))
    conv1 = keras.ops.convert_to_numpy(keras_model.get_layer("conv1").kernel)  # (kh, kw, I, O)
    weight = torch_model.conv1.weight.detach().numpy()  # (O, I, kh, kw)
    assert conv1.shape == (3, 3, 3, 8)
    assert conv1[0, 2, 1, 5] == weight[5, 1, 0, 2]
    # Keras flattens (H, W, C), PyTorch (C, H, W): Keras row (h*7 + w)*16 + c is PyTorch column
    # c*49 + h*7 + w of the first linear layer after the flatten.
    fc = keras.ops.convert_to_numpy(keras_model.get_layer("fc").kernel)  # (784, 10)
    fc_weight = torch_model.fc.weight.detach().numpy()  # (10, 784)
    h, w, c = 2, 5, 11
    np.testing.assert_array_equal(fc[(h * 7 + w) * 16 + c], fc_weight[:, c * 49 + h * 7 + w])

    back = keras_to_torch(keras_model, build_model("tiny", in_channels=3))
    for key, value in torch_model.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key


def test_vgg_copy_moves_batchnorm_statistics_and_settings_agree():
    torch_model = build_model("vgg")
    _scramble_torch_bn(torch_model, seed=3)
    keras_model = build_model("vgg", "keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the builders' eps and momentum agree: no warning
        torch_to_keras(torch_model, keras_model)
    bn = keras_model.get_layer("block2_bn1")
    expected = torch_model.features.block2.bn1.running_var.numpy()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.moving_variance), expected)


@pytest.mark.parametrize("direction", ["torch_to_keras", "keras_to_torch"])
def test_mismatched_pair_raises_and_names_the_layers(direction):
    tiny, vgg = build_model("tiny"), build_model("vgg", "keras")
    with pytest.raises(ValueError, match=r"not twins: PyTorch has 3 weight layers") as error:
        if direction == "torch_to_keras":
            torch_to_keras(tiny, vgg)
        else:
            keras_to_torch(vgg, tiny)
    assert "conv1 (Conv2d)" in str(error.value) and "block1_bn1 (BatchNormalization)" in str(
        error.value
    )


def test_shape_mismatch_names_the_layer_and_writes_nothing():
    keras_model = build_model("tiny", "keras", image_size=32)
    kernel = keras.ops.convert_to_numpy(keras_model.get_layer("conv1").kernel).copy()
    message = r"layer 3 \(PyTorch 'fc' Linear <-> Keras 'fc' Dense\): PyTorch \(10, 784\)"
    with pytest.raises(ValueError, match=message):
        torch_to_keras(build_model("tiny"), keras_model)
    unchanged = keras.ops.convert_to_numpy(keras_model.get_layer("conv1").kernel)
    np.testing.assert_array_equal(unchanged, kernel)  # checked before any copy


def _keras_conv_bn(padding="same", use_bias=True, **bn_options):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding=padding, use_bias=use_bias, name="conv")(inputs)
    return keras.Model(inputs, keras.layers.BatchNormalization(name="bn", **bn_options)(x))


def test_settings_that_change_outputs_but_not_shapes_warn():
    torch_model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4))
    with pytest.warns(UserWarning, match=r"'1'.*'bn'.*epsilon 1e-05 \(PyTorch\) vs 0.001"):
        torch_to_keras(torch_model, _keras_conv_bn())  # Keras' default BN epsilon and momentum
    with pytest.warns(UserWarning, match=r"padding \(1, 1\) \(PyTorch\) vs 'valid'"):
        torch_to_keras(torch_model, _keras_conv_bn("valid", epsilon=1e-5, momentum=0.9))


def test_missing_bias_and_unsupported_layers_are_named():
    with pytest.raises(ValueError, match=r"'0' Conv2d .*the PyTorch layer has no bias"):
        torch_to_keras(
            nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)),
            _keras_conv_bn(epsilon=1e-5, momentum=0.9),
        )
    with pytest.raises(TypeError, match=r"'1' \(LayerNorm\) holds weights"):
        torch_to_keras(nn.Sequential(nn.Conv2d(1, 4, 3), nn.LayerNorm(6)), _keras_conv_bn())
