"""cnncourse.ops against the oracles: torch.nn.functional and Keras (TensorFlow backend).

Keras works on (N, H, W, C) with kernels (kh, kw, C, O); ``nhwc``/``nchw`` and
``keras_kernel`` do the transposes. Keras is imported inside the tests that need it.
"""

from __future__ import annotations

import itertools
import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # before anything imports TensorFlow

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse import ops

TOL = {"rtol": 1e-5, "atol": 1e-5}


def nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # (N, C, H, W) -> (N, H, W, C)


def nchw(x) -> np.ndarray:
    return np.asarray(x).transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)


def keras_kernel(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))  # (O, C, kh, kw) -> (kh, kw, C, O)


def t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))


def randn(*shape, seed: int = 0, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


# --------------------------------------------------------------------------- convolution

KERNELS = [(1, 1), (3, 3), (2, 3), (5, 4)]
STRIDES = [1, 2, (2, 1)]
PADDINGS = [0, 1, (2, 1), "valid", "same"]
DILATIONS = [1, 2, (1, 2)]
CONV_GRID = list(itertools.product(KERNELS, STRIDES, PADDINGS, DILATIONS))
# PyTorch refuses padding="same" with stride > 1; TensorFlow refuses stride > 1 with dilation > 1.
TORCH_GRID = [c for c in CONV_GRID if not (c[2] == "same" and c[1] != 1)]
KERAS_GRID = [c for c in CONV_GRID if c[1] == 1 or c[3] == 1]


def conv_case(kernel, seed=0):
    x = randn(2, 3, 11, 10, seed=seed)  # (N, C, H, W), odd/even sizes on purpose
    w = randn(4, 3, *kernel, seed=seed + 1)  # (O, C, kh, kw)
    b = randn(4, seed=seed + 2)
    return x, w, b


# PyTorch warns that even kernels with padding="same" copy the input; not our concern here.
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize(("kernel", "stride", "padding", "dilation"), TORCH_GRID)
def test_conv2d_matches_torch(kernel, stride, padding, dilation):
    x, w, b = conv_case(kernel)
    kw = {"stride": stride, "padding": padding, "dilation": dilation}
    expected = F.conv2d(t(x), t(w), t(b), **kw).numpy()
    for conv in (ops.conv2d, ops.conv2d_im2col):
        got = conv(x, w, b, **kw)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, **TOL)


@pytest.mark.parametrize(("kernel", "stride", "padding", "dilation"), KERAS_GRID)
def test_conv2d_matches_keras(keras, kernel, stride, padding, dilation):
    x, w, b = conv_case(kernel, seed=3)
    if isinstance(padding, str):
        x_in, mode = x, padding
    else:  # Keras has only "valid"/"same": add integer zero padding by hand, then "valid"
        ph, pw = padding if isinstance(padding, tuple) else (padding, padding)
        x_in, mode = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))), "valid"
    y = keras.ops.conv(
        nhwc(x_in), keras_kernel(w), strides=stride, padding=mode, dilation_rate=dilation
    )
    expected = nchw(y) + b[None, :, None, None]
    for conv in (ops.conv2d, ops.conv2d_im2col):
        got = conv(x, w, b, stride=stride, padding=padding, dilation=dilation)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, **TOL)


def test_conv2d_matches_keras_conv2d_layer(keras):
    x, w, b = conv_case((3, 3), seed=5)
    layer = keras.layers.Conv2D(4, 3, strides=2, padding="same")
    layer.build((None, 11, 10, 3))
    layer.set_weights([keras_kernel(w), b])
    expected = nchw(layer(nhwc(x)))
    np.testing.assert_allclose(ops.conv2d(x, w, b, stride=2, padding="same"), expected, **TOL)


@pytest.mark.parametrize(("kernel", "stride", "padding", "dilation"), CONV_GRID[::3])
def test_direct_equals_im2col(kernel, stride, padding, dilation):
    x, w, b = conv_case(kernel, seed=7)
    x, w = x.astype(np.float64), w.astype(np.float64)
    kw = {"stride": stride, "padding": padding, "dilation": dilation}
    np.testing.assert_allclose(
        ops.conv2d(x, w, b, **kw), ops.conv2d_im2col(x, w, b, **kw), rtol=1e-12, atol=1e-12
    )


# unfold takes integer padding only; "same"/"valid" are covered by the conv tests.
UNFOLD_GRID = [c for c in CONV_GRID if not isinstance(c[2], str)][::4]


@pytest.mark.parametrize(("kernel", "stride", "padding", "dilation"), UNFOLD_GRID)
def test_im2col_matches_torch_unfold(kernel, stride, padding, dilation):
    x = randn(2, 3, 11, 10, seed=9)
    expected = F.unfold(t(x), kernel, dilation=dilation, padding=padding, stride=stride).numpy()
    got = ops.im2col(x, *kernel, stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_array_equal(got, expected)


def test_correlate2d_single_matches_torch_and_keras(keras):
    image = randn(7, 9, seed=11)
    kernel = randn(3, 2, seed=12)
    got = ops.correlate2d_single(image, kernel)
    torch_out = F.conv2d(t(image[None, None]), t(kernel[None, None]))[0, 0].numpy()
    keras_out = np.asarray(keras.ops.conv(image[None, :, :, None], kernel[:, :, None, None]))
    assert got.shape == (5, 8)
    np.testing.assert_allclose(got, torch_out, **TOL)
    np.testing.assert_allclose(got, keras_out[0, :, :, 0], **TOL)
    np.testing.assert_allclose(got, ops.conv2d(image[None, None], kernel[None, None])[0, 0], **TOL)


def test_conv2d_of_uint8_images_gives_float():
    x = np.random.default_rng(0).integers(0, 256, (1, 1, 6, 6), dtype=np.uint8)
    w = np.ones((1, 1, 2, 2), np.float32)
    y = ops.conv2d(x, w)
    assert y.dtype == np.float32
    assert y[0, 0, 0, 0] == x[0, 0, :2, :2].astype(int).sum()


SIZES = [1, 5, 8, 28]
SIZE_GRID = [
    (n, k, s, p, d)
    for n, k, s, p, d in itertools.product(SIZES, [1, 2, 3, 5], [1, 2, 3], [0, 1, 2], [1, 2])
    if d * (k - 1) + 1 <= n + 2 * p
]


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "dilation"), SIZE_GRID)
def test_conv_output_size_matches_torch_shapes(size, kernel, stride, padding, dilation):
    x = torch.zeros(1, 1, size, 1)
    w = torch.zeros(1, 1, kernel, 1)
    y = F.conv2d(x, w, stride=(stride, 1), padding=(padding, 0), dilation=(dilation, 1))
    assert ops.conv_output_size(size, kernel, stride, padding, dilation) == y.shape[2]


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_output_size_matches_keras_shapes(keras, padding):
    for size, kernel, stride in itertools.product([5, 8, 28], [1, 2, 3, 5], [1, 2, 3]):
        if padding == "valid" and kernel > size:
            continue
        y = keras.ops.conv(
            np.zeros((1, size, 1, 1), np.float32),
            np.zeros((kernel, 1, 1, 1), np.float32),
            strides=(stride, 1),
            padding=padding,
        )
        assert ops.conv_output_size(size, kernel, stride, padding) == y.shape[1], (size, kernel)


def test_conv_output_size_errors_agree_with_torch():
    with pytest.raises(ValueError, match="kernel covers 5 pixels .* padded input has only 4"):
        ops.conv_output_size(2, 3, padding=1, dilation=2)
    with pytest.raises(RuntimeError):  # PyTorch refuses the same combination
        F.conv2d(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 3, 3), padding=1, dilation=2)
    for bad, match in [
        ({"stride": 0}, "stride must be >= 1"),
        ({"padding": -1}, "padding must be >= 0"),
        ({"dilation": 0}, "dilation must be >= 1"),
        ({"padding": "full"}, "'valid' or 'same'"),
    ]:
        with pytest.raises(ValueError, match=match):
            ops.conv_output_size(8, 3, **bad)
    with pytest.raises(TypeError, match="integer"):
        ops.conv_output_size(8, 2.5)
    assert ops.conv_output_size(28, 3) == 26
    assert ops.conv_output_size(28, 3, padding="same", stride=2) == 14


def test_conv2d_input_errors():
    x, w, _ = conv_case((3, 3))
    with pytest.raises(
        ValueError,
        match=r"channel mismatch: x has shape \(2, 3, 11, 10\).*"
        r"weight has shape \(4, 2, 3, 3\)",
    ):
        ops.conv2d(x, w[:, :2])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\), got shape \(3, 11, 10\).*x\[None\]"):
        ops.conv2d(x[0], w)
    with pytest.raises(ValueError, match=r"weight must have shape \(O, C, kh, kw\)"):
        ops.conv2d_im2col(x, w[0])
    with pytest.raises(ValueError, match="groups=1 only"):
        ops.conv2d(x, w, groups=3)
    with pytest.raises(ValueError, match=r"bias must be \(4,\)"):
        ops.conv2d(x, w, np.zeros(3))
    with pytest.raises(ValueError, match="no window fits"):
        ops.conv2d(x[:, :, :2, :2], w)
    with pytest.raises(TypeError, match="real numbers"):
        ops.conv2d(x.astype(object), w)
    with pytest.raises(ValueError, match="kernel .* is larger than image"):
        ops.correlate2d_single(np.zeros((2, 2)), np.zeros((3, 3)))


# --------------------------------------------------------------------------- pooling

POOL_GRID = [
    (k, s, p)
    for k, s, p in itertools.product([2, 3, (2, 3)], [None, 1, 2, (1, 2)], [0, 1, (1, 0)])
    if all(
        pi <= ki // 2 for pi, ki in zip(np.broadcast_to(p, 2), np.broadcast_to(k, 2), strict=True)
    )
]


@pytest.mark.parametrize(("kernel", "stride", "padding"), POOL_GRID)
def test_pooling_matches_torch(kernel, stride, padding):
    x = randn(2, 3, 9, 8, seed=21)
    kw = {"kernel_size": kernel, "stride": stride, "padding": padding}
    np.testing.assert_allclose(
        ops.max_pool2d(x, kernel, stride, padding), F.max_pool2d(t(x), **kw).numpy(), **TOL
    )
    np.testing.assert_allclose(
        ops.avg_pool2d(x, kernel, stride, padding), F.avg_pool2d(t(x), **kw).numpy(), **TOL
    )


@pytest.mark.parametrize(("kernel", "stride", "padding"), POOL_GRID[::2])
def test_pooling_matches_keras(keras, kernel, stride, padding):
    x = randn(2, 3, 9, 8, seed=22) + 5.0  # positive, so that padding never wins the max
    ph, pw = np.broadcast_to(padding, 2)
    pads = ((0, 0), (0, 0), (ph, ph), (pw, pw))
    # Keras has no integer padding: pad by hand (-inf for max, zeros counted for average).
    x_max, x_avg = nhwc(np.pad(x, pads, constant_values=-np.inf)), nhwc(np.pad(x, pads))
    stride_k = kernel if stride is None else stride
    expected_max = nchw(keras.ops.max_pool(x_max, kernel, stride_k, padding="valid"))
    expected_avg = nchw(keras.ops.average_pool(x_avg, kernel, stride_k, padding="valid"))
    np.testing.assert_allclose(ops.max_pool2d(x, kernel, stride, padding), expected_max, **TOL)
    np.testing.assert_allclose(ops.avg_pool2d(x, kernel, stride, padding), expected_avg, **TOL)


def test_pooling_matches_keras_layers(keras):
    x = randn(2, 3, 28, 28, seed=23)
    max_layer = keras.layers.MaxPooling2D(2)
    avg_layer = keras.layers.AveragePooling2D(3, strides=2)
    gap_layer = keras.layers.GlobalAveragePooling2D()
    np.testing.assert_allclose(ops.max_pool2d(x, 2), nchw(max_layer(nhwc(x))), **TOL)
    np.testing.assert_allclose(ops.avg_pool2d(x, 3, 2), nchw(avg_layer(nhwc(x))), **TOL)
    np.testing.assert_allclose(ops.global_avg_pool2d(x), gap_layer(nhwc(x)), **TOL)
    torch_gap = F.adaptive_avg_pool2d(t(x), 1).numpy()[:, :, 0, 0]
    np.testing.assert_allclose(ops.global_avg_pool2d(x), torch_gap, **TOL)
    assert ops.global_avg_pool2d(x).shape == (2, 3)


def test_avg_pool_counts_padding_like_torch_default():
    x = np.ones((1, 1, 4, 4), np.float32)
    y = ops.avg_pool2d(x, 3, stride=1, padding=1)
    assert y[0, 0, 0, 0] == pytest.approx(4 / 9)  # corner: 4 real pixels divided by 9
    assert y[0, 0, 1, 1] == pytest.approx(1.0)


def test_max_pool_keeps_uint8_and_pads_with_lowest():
    x = np.zeros((1, 1, 4, 4), np.uint8)
    y = ops.max_pool2d(x, 3, stride=1, padding=1)
    assert y.dtype == np.uint8
    assert (y == 0).all()


def test_pooling_errors():
    x = randn(1, 2, 6, 6)
    with pytest.raises(ValueError, match=r"at most half the kernel \(2, 2\)"):
        ops.max_pool2d(x, 2, padding=2)
    with pytest.raises(RuntimeError):  # PyTorch has the same rule
        F.max_pool2d(t(x), 2, padding=2)
    with pytest.raises(ValueError, match="no window fits"):
        ops.avg_pool2d(x, 7)
    with pytest.raises(ValueError, match="'same' pooling"):
        ops.max_pool2d(x, 2, padding="same")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ops.global_avg_pool2d(x[0])
    with pytest.raises(ValueError, match="stride must be >= 1"):
        ops.avg_pool2d(x, 2, stride=0)


# --------------------------------------------------------------------------- relu


def test_relu_matches_torch_and_keras(keras):
    x = randn(2, 3, 5, 5, seed=31)
    np.testing.assert_array_equal(ops.relu(x), F.relu(t(x)).numpy())
    np.testing.assert_array_equal(ops.relu(x), np.asarray(keras.ops.relu(x)))
    assert ops.relu(x).dtype == np.float32
    with pytest.raises(TypeError, match="real numbers"):
        ops.relu(np.array(["a"]))


# --------------------------------------------------------------------------- batch norm


@pytest.mark.parametrize("momentum", [0.1, 0.5, 1.0])
def test_batch_norm_train_and_eval_match_torch(momentum):
    c = 3
    bn = torch.nn.BatchNorm2d(c, momentum=momentum, eps=1e-5).double()
    gamma, beta = randn(c, seed=41, dtype=np.float64), randn(c, seed=42, dtype=np.float64)
    with torch.no_grad():
        bn.weight.copy_(t(gamma))
        bn.bias.copy_(t(beta))
    mean, var = np.zeros(c), np.ones(c)
    bn.train()
    for step in range(3):  # the running statistics follow several batches
        x = randn(4, c, 5, 6, seed=43 + step, dtype=np.float64) * (step + 1) + step
        y, mean, var = ops.batch_norm(x, gamma, beta, mean, var, training=True, momentum=momentum)
        np.testing.assert_allclose(y, bn(t(x)).detach().numpy(), **TOL)
        np.testing.assert_allclose(mean, bn.running_mean.numpy(), **TOL)
        np.testing.assert_allclose(var, bn.running_var.numpy(), **TOL)
    bn.eval()
    x = randn(2, c, 5, 6, seed=49, dtype=np.float64)
    y, mean2, var2 = ops.batch_norm(x, gamma, beta, mean, var, training=False)
    np.testing.assert_allclose(y, bn(t(x)).detach().numpy(), **TOL)
    np.testing.assert_array_equal(mean2, mean)  # evaluation leaves the statistics alone
    np.testing.assert_array_equal(var2, var)


def test_batch_norm_2d_input_matches_torch_batchnorm1d():
    x = randn(8, 5, seed=51)
    bn = torch.nn.BatchNorm1d(5)
    y, mean, var = ops.batch_norm(x, None, None, np.zeros(5), np.ones(5), training=True)
    np.testing.assert_allclose(y, bn(t(x)).detach().numpy(), **TOL)
    np.testing.assert_allclose(mean, bn.running_mean.numpy(), **TOL)
    np.testing.assert_allclose(var, bn.running_var.numpy(), **TOL)


def test_batch_norm_matches_keras_with_converted_momentum(keras):
    c, torch_momentum = 3, 0.1
    x = randn(4, c, 5, 6, seed=61) * 2.0 + 1.0
    gamma, beta = randn(c, seed=62), randn(c, seed=63)
    mean0, var0 = randn(c, seed=64), np.abs(randn(c, seed=65)) + 0.5
    layer = keras.layers.BatchNormalization(momentum=1 - torch_momentum, epsilon=1e-5)
    layer.build((None, 5, 6, c))
    layer.set_weights([gamma, beta, mean0, var0])
    y_keras = nchw(layer(nhwc(x), training=True))
    y, mean, var = ops.batch_norm(
        x, gamma, beta, mean0, var0, training=True, momentum=torch_momentum
    )
    np.testing.assert_allclose(y, y_keras, **TOL)
    np.testing.assert_allclose(mean, layer.moving_mean.numpy(), **TOL)
    # Keras moves its variance with the biased batch variance; we follow PyTorch (unbiased).
    m = x.size // c
    keras_var = (1 - torch_momentum) * var0 + torch_momentum * x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(layer.moving_variance.numpy(), keras_var, **TOL)
    ours_var = (1 - torch_momentum) * var0 + torch_momentum * x.var(axis=(0, 2, 3)) * m / (m - 1)
    np.testing.assert_allclose(var, ours_var, **TOL)
    y_eval, _, _ = ops.batch_norm(x, gamma, beta, mean, var, training=False)
    layer.set_weights([gamma, beta, mean, var])
    np.testing.assert_allclose(y_eval, nchw(layer(nhwc(x), training=False)), **TOL)


def test_batch_norm_errors():
    x = randn(4, 3, 2, 2)
    ones, zeros = np.ones(3), np.zeros(3)
    with pytest.raises(ValueError, match=r"gamma must have shape \(3,\).*got shape \(2,\)"):
        ops.batch_norm(x, np.ones(2), zeros, zeros, ones, training=True)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) or \(N, C\)"):
        ops.batch_norm(x[0], ones, zeros, zeros, ones, training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ops.batch_norm(x[:1, :, :1, :1], ones, zeros, zeros, ones, training=True)
    with pytest.raises(ValueError, match="momentum must lie in"):
        ops.batch_norm(x, ones, zeros, zeros, ones, training=True, momentum=0.99 + 1)
    with pytest.raises(ValueError, match="running_mean and running_var"):
        ops.batch_norm(x, ones, zeros, None, None, training=False)
    with pytest.raises(TypeError, match="training must be True or False"):
        ops.batch_norm(x, ones, zeros, zeros, ones, training="no")


# --------------------------------------------------------------------------- dropout


def _kept_or_dropped(y: np.ndarray, x: np.ndarray, p: float) -> np.ndarray:
    """Assert every value is 0 or x / (1 - p); return the mask of kept values."""
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), **TOL)
    return kept


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_statistics(p):
    x = np.abs(randn(200, 500, seed=71)) + 0.1  # nonzero, so that a 0 means dropped
    y = ops.dropout(x, p, training=True, rng=0)
    kept = _kept_or_dropped(y, x, p)
    assert kept.mean() == pytest.approx(1 - p, abs=0.01)  # 100,000 draws: sd ~ 0.0016
    assert y.mean() == pytest.approx(x.mean(), rel=0.02)  # inverted dropout keeps the mean
    np.testing.assert_array_equal(y, ops.dropout(x, p, training=True, rng=0))  # seeded
    np.testing.assert_array_equal(ops.dropout(x, p, training=False), x)
    np.testing.assert_array_equal(ops.dropout(x, 0.0, training=True, rng=0), x)


def test_dropout_behaves_like_torch_and_keras(keras):
    p = 0.3
    x = np.abs(randn(100, 400, seed=72)) + 0.1
    ours = _kept_or_dropped(ops.dropout(x, p, training=True, rng=1), x, p).mean()
    torch_kept = _kept_or_dropped(F.dropout(t(x), p, training=True).numpy(), x, p).mean()
    layer = keras.layers.Dropout(p, seed=1)
    keras_kept = _kept_or_dropped(np.asarray(layer(x, training=True)), x, p).mean()
    assert abs(ours - torch_kept) < 0.01 and abs(ours - keras_kept) < 0.01
    np.testing.assert_array_equal(
        np.asarray(layer(x, training=False)), ops.dropout(x, p, training=False)
    )
    np.testing.assert_array_equal(
        F.dropout(t(x), p, training=False).numpy(), ops.dropout(x, p, training=False)
    )


def test_spatial_dropout_drops_whole_channels_like_torch_and_keras(keras):
    p = 0.5
    x = np.abs(randn(64, 16, 4, 4, seed=73)) + 0.1
    outputs = {
        "ours": ops.spatial_dropout(x, p, training=True, rng=2),
        "torch": F.dropout2d(t(x), p, training=True).numpy(),
        "keras": nchw(keras.layers.SpatialDropout2D(p, seed=2)(nhwc(x), training=True)),
    }
    for name, y in outputs.items():
        kept = _kept_or_dropped(y, x, p)
        per_channel = kept.reshape(64, 16, -1)
        assert (per_channel.all(-1) | ~per_channel.any(-1)).all(), name  # all or nothing
        assert per_channel.all(-1).mean() == pytest.approx(1 - p, abs=0.06), name
    np.testing.assert_array_equal(ops.spatial_dropout(x, p, training=False), x)


def test_dropout_errors():
    x = randn(2, 3, 4, 4)
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"must lie in \[0, 1\)"):
            ops.dropout(x, p, training=True)
    with pytest.raises(TypeError, match="p must be a number"):
        ops.dropout(x, "0.5", training=True)
    with pytest.raises(TypeError, match="rng must be"):
        ops.dropout(x, 0.5, training=True, rng="seed")
    with pytest.raises(TypeError, match="training must be True or False"):
        ops.dropout(x, 0.5, training=None)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ops.spatial_dropout(x[0], 0.5, training=True)
