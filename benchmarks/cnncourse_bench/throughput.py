"""Section ``throughput``: training images/s of the tiny CNN, three loops taking turns.

(a) the tutorial loop: a per-sample ``Dataset`` with a ToTensor-like transform and a
``DataLoader``; (b) ``cnncourse.train.fit(..., fast=True)`` on the split held as one
uint8 tensor; (c) Keras ``fit`` over ``tf.data``. The loops take turns, one epoch each
per round, so a slow spell of a shared machine lands on all three; the figures come
from the epochs after each loop's warm-up epoch.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable

import torch
from torchvision.transforms import v2

from cnncourse.data import to_dataloader, to_tensors
from cnncourse.models import build_model
from cnncourse.runtime import seed_everything
from cnncourse.train import default_optimizer, fit
from cnncourse.train.keras import fit_keras

from .report import device_kind, device_name

LOOPS = (
    "naive DataLoader loop (PyTorch)",
    "cnncourse.train.fit (PyTorch)",
    "Keras fit (TensorFlow)",
)
LAYER_ORDER = "conv-relu-pool"  # TinyCNN's order in both twins, as the chapters teach


def naive_epoch(model, loader, optimizer, loss_fn, device) -> float:
    """One epoch of the tutorial loop; returns seconds."""
    model.train()
    start = time.perf_counter()
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def epoch_runners(train, batch_size: int, seed: int, device) -> dict[str, Callable[[], float]]:
    """One callable per loop that trains its own model one more epoch and returns seconds."""
    seed_everything(seed, keras=True)
    naive_model = build_model("tiny").to(device)
    to_tensor = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    loader = to_dataloader(train, batch_size, shuffle=True, transform=to_tensor, seed=seed)
    naive_optimizer = torch.optim.Adam(naive_model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def naive() -> float:
        return naive_epoch(naive_model, loader, naive_optimizer, loss_fn, device)

    fit_data = to_tensors(train, device)  # moved to the device once, not every round
    return {
        LOOPS[0]: naive,
        LOOPS[1]: fit_epochs(build_model("tiny"), fit_data, batch_size, device=device),
        LOOPS[2]: keras_epochs(build_model("tiny", "keras"), train, batch_size),
    }


def fit_epochs(
    model, data, batch_size: int = 64, lr: float = 1e-3, *, device
) -> Callable[[], float]:
    """A callable that trains ``model`` one more epoch with ``fit(..., fast=True)`` and
    returns its seconds; the optimizer is made once, so its state carries over."""
    model = model.to(device)
    optimizer = default_optimizer(model, lr=lr)

    def run_epoch() -> float:
        history = fit(
            model,
            data,
            epochs=1,
            batch_size=batch_size,
            optimizer=optimizer,
            device=device,
            fast=True,
            progress=False,
        )
        return float(history["seconds"].iloc[0])

    return run_epoch


def keras_epochs(model, train, batch_size: int = 64, lr: float = 1e-3) -> Callable[[], float]:
    """A callable that trains a Keras ``model`` one more epoch and returns its seconds."""

    def run_epoch() -> float:
        history = fit_keras(model, train, epochs=1, batch_size=batch_size, lr=lr, verbose=0)
        return float(history["seconds"].iloc[0])

    return run_epoch


def throughput(
    train, *, epochs: int, device, batch_size: int = 64, seed: int = 0, runners=None
) -> list[dict]:
    """One row per loop: images/s over the median and the best timed epoch, and more."""
    runners = runners or epoch_runners(train, batch_size, seed, device)
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(epochs):
        for name, run_epoch in runners.items():
            seconds[name].append(run_epoch())
    date = dt.datetime.now().isoformat(timespec="seconds")
    rows = []
    for name, times in seconds.items():
        timed = times[1:] if len(times) > 1 else times  # the first epoch warms up
        median, best = statistics.median(timed), min(timed)
        rows.append(
            {
                "loop": name,
                "device": device_kind(device),
                "images_per_s": len(train) / median,
                "best_images_per_s": len(train) / best,
                "median_epoch_s": median,
                "best_epoch_s": best,
                "warmup_epoch_s": times[0],
                "epochs": len(times),
                "epochs_timed": len(timed),
                "batch_size": batch_size,
                "train_images": len(train),
                "layer_order": LAYER_ORDER,
                "device_name": device_name(device),
                "date": date,
            }
        )
    return rows
