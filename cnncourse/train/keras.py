"""Keras helpers: compile a classifier, the standard callbacks, and Keras' history as a ``History``.

This module imports Keras (and TensorFlow) at import time; ``cnncourse.train``
loads it only when one of these names is first used.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cnncourse._frameworks import import_keras
from cnncourse.data.imageset import ImageSet
from cnncourse.train.history import History
from cnncourse.train.validate import check_hyperparameters

keras = import_keras()  # torchvision first: importing it after TensorFlow crashes


def compile_classifier(
    model: keras.Model,
    lr: float = 1e-3,
    *,
    from_logits: bool = True,
    optimizer: keras.optimizers.Optimizer | None = None,
    metrics=("accuracy",),
) -> keras.Model:
    """Compile ``model`` for integer labels: Adam(``lr``) and sparse categorical cross-entropy.

    ``from_logits=True`` matches a model whose last layer has no softmax (the PyTorch
    convention, and numerically safer); a model ending in softmax needs ``False``.
    Mixing them up trains badly without any error, so it is checked here.
    """
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr!r}; 1e-3 suits Adam.")
    last = getattr(model.layers[-1], "activation", None) if model.layers else None
    ends_in_softmax = last is keras.activations.softmax
    if from_logits and ends_in_softmax:
        raise ValueError(
            "the model's last layer applies softmax, so it outputs probabilities, but "
            "from_logits=True was asked for; pass from_logits=False or drop the softmax."
        )
    if not from_logits and model.layers and not ends_in_softmax:
        raise ValueError(
            "from_logits=False expects probabilities, but the last layer has no softmax; "
            "use from_logits=True (recommended) or end the model with activation='softmax'."
        )
    model.compile(
        optimizer=optimizer if optimizer is not None else keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        metrics=list(metrics),
    )
    return model


def standard_callbacks(
    patience: int = 3,
    checkpoint_path: str | Path | None = None,
    reduce_lr: bool = True,
    *,
    monitor: str = "val_loss",
) -> list[keras.callbacks.Callback]:
    """EarlyStopping (best weights restored), ReduceLROnPlateau and ModelCheckpoint.

    The same policy as :func:`cnncourse.train.fit` with ``early_stopping=patience``
    and ``checkpoint=...``. ``checkpoint_path`` must end in ``.keras`` (whole model)
    or ``.weights.h5`` (weights only), as Keras 3 requires.
    """
    if not isinstance(patience, int) or patience < 1:
        raise ValueError(f"patience must be an int >= 1 (epochs), got {patience!r}.")
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.EarlyStopping(
            monitor=monitor, patience=patience, restore_best_weights=True
        )
    ]
    if reduce_lr:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, factor=0.5, patience=max(1, patience // 2), min_lr=1e-6
            )
        )
    if checkpoint_path is not None:
        path = str(checkpoint_path)
        if not path.endswith((".keras", ".weights.h5")):
            raise ValueError(
                f"checkpoint_path {path!r} must end in '.keras' (whole model) or "
                "'.weights.h5' (weights only)."
            )
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                path,
                monitor=monitor,
                save_best_only=True,
                save_weights_only=path.endswith(".weights.h5"),
            )
        )
    return callbacks


class EpochTimer(keras.callbacks.Callback):
    """Adds ``seconds`` (wall-clock time of the epoch) and ``learning_rate`` to Keras' logs."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.seconds.append(time.perf_counter() - self._start)
        if logs is not None:
            logs["seconds"] = self.seconds[-1]
            logs.setdefault("learning_rate", _current_lr(self.model))


def _current_lr(model) -> float:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return float("nan")
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def history_frame(keras_history, seconds=None) -> History:
    """Keras' ``History`` (from ``model.fit``) as a :class:`~cnncourse.train.History` table.

    Same columns as the PyTorch loop: ``learning_rate`` becomes ``lr`` (the optimizer's
    final rate when not logged); ``seconds`` comes from the logs or the ``seconds`` list.
    """
    logs = dict(getattr(keras_history, "history", keras_history))
    if "loss" not in logs:
        raise ValueError(
            "expected the History returned by model.fit (with a 'loss' entry); got keys "
            f"{sorted(logs)}."
        )
    n = len(logs["loss"])
    epochs = list(getattr(keras_history, "epoch", range(n)))
    if seconds is None:
        seconds = logs.get("seconds", [np.nan] * n)
    if len(seconds) != n:
        raise ValueError(f"seconds has {len(seconds)} entries for {n} epochs.")
    model = getattr(keras_history, "model", None)
    lrs = logs.get("learning_rate", [_current_lr(model)] * n)
    rows = []
    for i in range(n):
        row = {"epoch": int(epochs[i]) + 1, "lr": lrs[i], "seconds": seconds[i]}
        for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if name in logs:
                row[name] = float(logs[name][i])
        rows.append(row)
    return History.from_rows(rows)


def fit_keras(
    model: keras.Model,
    train: ImageSet,
    val: ImageSet | None = None,
    *,
    epochs: int = 1,
    batch_size: int = 64,
    lr: float | None = None,
    callbacks=None,
    seed: int | None = None,
    verbose=None,
) -> History:
    """Keras' ``fit`` on ImageSets through ``tf.data``, returning the same History as ``fit``.

    An uncompiled model is compiled with :func:`compile_classifier` (logits, Adam at
    ``lr`` or 1e-3); for a compiled one, ``lr`` (when given) replaces its learning rate.
    ``verbose=None`` shows Keras' progress bar except in quick mode.
    """
    from cnncourse.data.tf_adapters import to_tf_dataset
    from cnncourse.runtime import is_quick, seed_everything

    check_hyperparameters(lr=1e-3 if lr is None else lr, weight_decay=0.0)
    for name, data in (("train", train), ("val", val)):
        if data is not None and not isinstance(data, ImageSet):
            raise TypeError(
                f"{name} must be an ImageSet (cnncourse.data.load), got {type(data).__name__}."
            )
        if data is not None:
            _check_against_model(model, data, name)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if seed is not None:
        seed_everything(seed, keras=True)
    if not getattr(model, "compiled", False):
        compile_classifier(model, lr if lr is not None else 1e-3)
    elif lr is not None:
        model.optimizer.learning_rate = lr
    timer = EpochTimer()
    history = model.fit(
        to_tf_dataset(train, batch_size, shuffle=True, seed=seed),
        validation_data=None if val is None else to_tf_dataset(val, 1024),
        epochs=epochs,
        shuffle=False,  # the tf.data pipeline already shuffles every epoch
        callbacks=[timer, *(callbacks or [])],
        verbose=(0 if is_quick() else "auto") if verbose is None else verbose,
    )
    return history_frame(history)


def _check_against_model(model: keras.Model, data: ImageSet, name: str) -> None:
    """Image shape and label range must fit the model, checked before any training."""
    try:
        expected = tuple(model.input_shape[1:])
        classes = int(model.output_shape[-1])
    except (AttributeError, ValueError):  # a model not built yet: Keras will check
        return
    if None not in expected and expected != tuple(data.image_shape):
        raise ValueError(
            f"{name} images are {data.image_shape} (H, W, C) but the model expects "
            f"{expected}; build it with input_shape={data.image_shape}."
        )
    if len(data) and int(data.labels.max()) >= classes:
        raise ValueError(
            f"{name} labels go up to {int(data.labels.max())} but the model has {classes} "
            f"outputs; build it with num_classes={int(data.labels.max()) + 1}."
        )
