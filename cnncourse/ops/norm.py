"""ReLU, batch normalization and dropout from scratch in NumPy, layout ``(N, C, H, W)``.

Batch norm and dropout behave differently in training and in evaluation; here that
is an explicit keyword (``training=``) instead of hidden layer state, and batch norm
*returns* its new running statistics instead of updating them in place.
"""

from __future__ import annotations

import numpy as np

from cnncourse.ops.conv import _float_dtype


def _numeric(x, name: str = "x") -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    return x


def relu(x) -> np.ndarray:
    """``max(x, 0)`` elementwise, any shape; the dtype is kept."""
    x = _numeric(x)
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def _channel_vector(v, name: str, c: int, x_shape) -> np.ndarray:
    v = _numeric(v, name)
    if v.shape != (c,):
        raise ValueError(
            f"{name} must have shape ({c},), one value per channel of x {x_shape}; "
            f"got shape {v.shape}."
        )
    return v


def batch_norm(
    x,
    gamma,
    beta,
    running_mean,
    running_var,
    *,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Batch normalization of ``x (N, C, H, W)`` (or ``(N, C)``), one mean/variance per channel.

    ``y = gamma * (x - mean) / sqrt(var + eps) + beta``. In training, ``mean`` and
    ``var`` are the batch's own statistics over N, H and W (biased variance, divided
    by the count ``m``), and the running statistics move toward them::

        new_running_mean = (1 - momentum) * running_mean + momentum * mean
        new_running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)

    (PyTorch's convention: the running variance uses the *unbiased* estimate). In
    evaluation the running statistics normalize and are returned unchanged.

    Keras' ``BatchNormalization(momentum=0.99)`` is the same update written the other
    way round, ``moving = momentum * moving + (1 - momentum) * batch``, so
    Keras momentum = 1 - PyTorch momentum (0.99 <-> 0.01; PyTorch's default 0.1 is
    Keras 0.9). Keras also updates its moving variance with the *biased* batch
    variance and defaults to ``epsilon=1e-3`` (PyTorch: ``eps=1e-5``).

    Parameters
    ----------
    x : array (N, C, H, W) or (N, C)
    gamma, beta : array (C,) or None
        Learned scale and shift; None means 1 and 0 (``affine=False``).
    running_mean, running_var : array (C,) or None
        None in training means "do not track" (both results are then None);
        evaluation needs them.
    training : bool
        Batch statistics (True) or running statistics (False).
    momentum : float in [0, 1]
    eps : float > 0, added to the variance so a constant channel does not divide by 0.

    Returns
    -------
    (y, new_running_mean, new_running_var) : y like x, the other two (C,).
    """
    x = _numeric(x)
    if x.ndim not in (2, 4):
        raise ValueError(f"x must have shape (N, C, H, W) or (N, C), got shape {x.shape}.")
    _check_training(training)
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must lie in [0, 1] (PyTorch convention), got {momentum}.")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}.")
    c = x.shape[1]
    dtype = _float_dtype(x)
    gamma = np.ones(c, dtype) if gamma is None else _channel_vector(gamma, "gamma", c, x.shape)
    beta = np.zeros(c, dtype) if beta is None else _channel_vector(beta, "beta", c, x.shape)
    if (running_mean is None) != (running_var is None):
        raise ValueError("give both running_mean and running_var, or neither.")
    tracking = running_mean is not None
    if tracking:
        running_mean = _channel_vector(running_mean, "running_mean", c, x.shape)
        running_var = _channel_vector(running_var, "running_var", c, x.shape)

    axes = (0, *range(2, x.ndim))  # every axis but the channel axis
    shape = (1, c) + (1,) * (x.ndim - 2)  # broadcasts a (C,) vector over x
    if training:
        m = x.size // c  # values per channel
        if m < 2:
            raise ValueError(
                f"training batch norm needs more than 1 value per channel, x has shape "
                f"{x.shape}; use a larger batch or training=False."
            )
        mean = x.mean(axis=axes, dtype=dtype)  # (C,)
        var = x.var(axis=axes, dtype=dtype)  # (C,) biased: divided by m
        if tracking:
            new_mean = (1 - momentum) * running_mean + momentum * mean
            new_var = (1 - momentum) * running_var + momentum * var * (m / (m - 1))
        else:
            new_mean = new_var = None
    else:
        if not tracking:
            raise ValueError(
                "evaluation (training=False) normalizes with running_mean and running_var; "
                "they were None. Pass the statistics collected during training."
            )
        mean, var = running_mean, running_var
        new_mean, new_var = running_mean.copy(), running_var.copy()
    x_hat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    y = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    return y.astype(dtype, copy=False), new_mean, new_var


def _check_training(training) -> None:
    # A keyword that must be a real bool: training="False" would silently train.
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"training must be True or False, got {training!r}.")


def _check_p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise TypeError(f"p must be a number in [0, 1), got {type(p).__name__} {p!r}.")
    if not 0.0 <= p < 1.0:
        raise ValueError(
            f"p is the probability of dropping a unit and must lie in [0, 1), got {p}. "
            "(p=1 would drop everything and divide by 0 when rescaling.)"
        )
    return float(p)


def _generator(rng) -> np.random.Generator:
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(
        f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}."
    )


def _apply_mask(x: np.ndarray, keep: np.ndarray, p: float) -> np.ndarray:
    # Inverted dropout: scale the survivors by 1/(1-p) now, so the expected value
    # of every unit is unchanged and evaluation needs no rescaling at all.
    return (x * keep / (1.0 - p)).astype(_float_dtype(x), copy=False)


def dropout(x, p: float, *, training: bool, rng=None) -> np.ndarray:
    """Inverted dropout: zero each value with probability ``p``, scale the rest by ``1/(1-p)``.

    Any shape. In evaluation (``training=False``) or with ``p=0`` it returns an
    unchanged copy of ``x``. ``rng`` is a ``numpy.random.Generator``, an int seed,
    or None (fresh randomness).
    """
    x = _numeric(x)
    p = _check_p(p)
    _check_training(training)
    if not training or p == 0.0:
        return x.copy()
    keep = _generator(rng).random(x.shape) >= p  # True with probability 1 - p
    return _apply_mask(x, keep, p)


def spatial_dropout(x, p: float, *, training: bool, rng=None) -> np.ndarray:
    """Dropout of whole channels of ``x (N, C, H, W)``: each feature map is kept or zeroed.

    Neighbouring pixels of a feature map are strongly correlated, so zeroing single
    pixels barely regularises a conv layer; dropping the map does
    (``torch.nn.functional.dropout2d``, Keras ``SpatialDropout2D``). Scaling and
    evaluation behaviour as in :func:`dropout`.
    """
    x = _numeric(x)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got shape {x.shape}.")
    p = _check_p(p)
    _check_training(training)
    if not training or p == 0.0:
        return x.copy()
    keep = _generator(rng).random((x.shape[0], x.shape[1], 1, 1)) >= p  # (N, C, 1, 1)
    return _apply_mask(x, keep, p)
