"""The PyTorch training loop: ``train_one_epoch``, ``evaluate``, ``predict`` and ``fit``.

``train_one_epoch`` is the loop chapter 7 writes out by hand (move to device,
zero_grad, forward, loss on the logits, backward, step); ``fit`` wraps it with what
every real run needs once: device and input format, validation, learning-rate
schedules, early stopping, checkpoints, mixed precision and a progress bar.

``fit`` is plain by default on a CPU: the textbook ``torch.optim.Adam`` on tensors in
the ordinary memory layout, exactly what chapter 7 writes. ``fit(..., fast=True)``
(the default on CUDA) switches on the speed-ups that change no result beyond float
rounding: fused Adam, channels-last tensors and, on CUDA, float16 mixed precision.
``compile=True`` adds a ``torch.compile``-d training step, on request only: compiling
costs time per model, which a chapter training many small models would pay each time.
A call to ``fit`` never changes anything outside the model and its data.

Neither path asks the device for a number inside an epoch: losses and correct counts
are summed where the model runs and read once, at the epoch's end. On a GPU every
such read (``.item()``) stalls the host until all queued kernels have finished.
"""

from __future__ import annotations

import copy
import sys
import time
import warnings

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from cnncourse._util import evaluating
from cnncourse.runtime import device as pick_device
from cnncourse.runtime import is_quick, seed_everything
from cnncourse.train.batches import BatchAugment, TensorBatches, as_batches, check_model_fits
from cnncourse.train.checkpoint import save_checkpoint
from cnncourse.train.history import History
from cnncourse.train.validate import check_data, check_training_inputs

SCHEDULERS = ("onecycle", "cosine", "plateau")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_compile_warnings: set[str] = set()  # each failure to compile is reported once per process


def train_one_epoch(
    model: nn.Module,
    batches,
    optimizer: torch.optim.Optimizer,
    loss_fn,
    device,
    *,
    scaler: torch.amp.GradScaler | None = None,
    clip_grad_norm: float | None = None,
    scheduler=None,
    progress=None,
) -> dict[str, float]:
    """One pass over ``batches``; returns the mean ``loss`` and ``accuracy`` over all samples
    and ``lr``, the learning rate of the last step (what Keras logs as ``learning_rate``).

    ``batches`` yields ``(images (B, C, H, W), labels (B,))``. A ``scaler`` turns on
    float16 autocast (CUDA); ``scheduler`` (optional) is stepped after every batch,
    as one-cycle and cosine schedules expect; ``progress`` is an optional tqdm bar.
    """
    model.train()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for images, labels in batches:
        images = images.to(device, non_blocking=True)  # (B, C, H, W)
        labels = labels.to(device, non_blocking=True)  # (B,)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=scaler is not None):
            logits = model(images)  # (B, K): raw scores; the loss applies log-softmax itself
            loss = loss_fn(logits, labels)
        lr = optimizer.param_groups[0]["lr"]  # the rate this step uses, before a schedule moves it
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        # sums stay on the device: no GPU -> CPU sync on every batch
        total_loss += loss.detach() * len(labels)
        correct += (logits.argmax(dim=1) == labels).sum()
        seen += len(labels)
        if progress is not None:
            progress.update(1)
    if seen == 0:
        raise ValueError("the training data yielded no batches; is it empty?")
    return {"loss": total_loss.item() / seen, "accuracy": correct.item() / seen, "lr": lr}


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _uses_channels_last(model: nn.Module) -> bool:
    return any(
        isinstance(m, nn.Conv2d)
        and m.weight.is_contiguous(memory_format=torch.channels_last)
        and not m.weight.is_contiguous()
        for m in model.modules()
    )


def _outputs(model: nn.Module, data, batch_size: int, device):
    """Yield ``(logits (B, K), labels (B,))`` in eval mode without autograd.

    ``device=None`` runs where the model's weights are; a device moves the model there.
    """
    if device is None:
        device = _model_device(model)
    else:
        device = torch.device(device)
        model.to(device)
    if isinstance(data, torch.Tensor):  # bare images: dummy labels, ignored by predict
        data = (data, torch.zeros(len(data), dtype=torch.long, device=data.device))
    batches = as_batches(
        data, batch_size=batch_size, device=device, channels_last=_uses_channels_last(model)
    )
    # eval mode: BatchNorm uses running statistics, Dropout is off; the mode comes back after
    with evaluating(model), torch.inference_mode():
        for images, labels in batches:
            yield model(images.to(device)), labels.to(device)


def evaluate(model: nn.Module, data, *, batch_size: int = 1024, device=None, loss_fn=None) -> dict:
    """Mean ``loss`` and ``accuracy`` of ``model`` on ``data`` (ImageSet, tensor pair or DataLoader)."""
    data = check_data(data, "evaluate")  # int32 labels become int64, bad images are named
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    # the sums stay on the device and are read once; float64 (where the device has it)
    # adds the per-batch losses exactly as Python floats would
    total_loss, correct, seen = None, None, 0
    for logits, labels in _outputs(model, data, batch_size, device):
        batch_loss = loss_fn(logits.float(), labels).detach()
        wide = torch.float32 if batch_loss.device.type == "mps" else torch.float64
        batch_loss = batch_loss.to(wide) * len(labels)
        hits = (logits.argmax(dim=1) == labels).sum()
        total_loss = batch_loss if total_loss is None else total_loss + batch_loss
        correct = hits if correct is None else correct + hits
        seen += len(labels)
    if seen == 0:
        raise ValueError("evaluate got no samples; is the data empty?")
    return {"loss": total_loss.item() / seen, "accuracy": correct.item() / seen}


def predict(
    model: nn.Module, data, *, batch_size: int = 1024, device=None
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted labels ``(N,)`` and softmax probabilities ``(N, K)`` as NumPy arrays.

    ``data`` may also be a bare image tensor ``(N, C, H, W)``; its labels are not needed.
    """
    probs = [
        torch.softmax(logits.float(), dim=1).cpu()  # (B, K)
        for logits, _ in _outputs(model, data, batch_size, device)
    ]
    probabilities = torch.cat(probs).numpy()
    return probabilities.argmax(axis=1), probabilities


def _show_progress(progress: bool) -> bool:
    if not progress or is_quick():
        return False
    return "ipykernel" in sys.modules or sys.stderr.isatty()


def make_scheduler(
    scheduler, optimizer: torch.optim.Optimizer, lr: float, epochs: int, steps: int
):
    """The learning-rate schedule ``fit`` uses: returns ``(scheduler, per_batch)``.

    ``scheduler`` is a name from ``SCHEDULERS``, a ``torch.optim.lr_scheduler`` object
    built on ``optimizer``, or ``None``; ``steps`` is the number of batches per epoch.
    ``per_batch`` says whether to step it after every batch (one-cycle, cosine, cyclic)
    rather than once per epoch.
    """
    sched = torch.optim.lr_scheduler
    if scheduler is None:
        return None, False
    if scheduler == "onecycle":
        return sched.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps), True
    if scheduler == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=epochs * steps), True
    if scheduler == "plateau":
        return sched.ReduceLROnPlateau(optimizer, factor=0.5, patience=1), False
    if not isinstance(scheduler, sched.LRScheduler | sched.ReduceLROnPlateau):
        raise TypeError(
            f"scheduler must be one of {SCHEDULERS}, a torch.optim.lr_scheduler object or None; "
            f"got {type(scheduler).__name__}."
        )
    if scheduler.optimizer is not optimizer:
        raise ValueError(
            "the scheduler was built on another optimizer than the one fit uses: pass that "
            "optimizer too, fit(..., optimizer=opt, scheduler=StepLR(opt, ...))."
        )
    per_batch = isinstance(scheduler, sched.OneCycleLR | sched.CyclicLR)
    return scheduler, per_batch


def default_optimizer(
    model: nn.Module, lr: float = 1e-3, weight_decay: float = 0.0, *, fused: bool | None = None
) -> torch.optim.Optimizer:
    """The optimizer ``fit`` builds when none is given: Adam at ``lr``, or AdamW when
    ``weight_decay`` > 0 (decoupled decay, as Keras' ``Adam(weight_decay=...)``).

    ``fused`` picks PyTorch's fused implementation, one kernel that updates every
    parameter instead of a dozen small tensor operations per parameter tensor: the same
    update up to float rounding, in less time. ``None`` fuses wherever the parameters
    allow it (floating point, on CPU or CUDA); ``False`` gives the textbook ``Adam``.
    ``fit(fast=True)`` asks for the fused one, plain ``fit`` on a CPU for the textbook one.
    """
    _check_weight_decay(weight_decay)
    params = list(model.parameters())
    can_fuse = bool(params) and all(
        p.is_floating_point() and p.device.type in {"cpu", "cuda"} for p in params
    )
    if fused and not can_fuse:
        raise ValueError(
            "fused=True needs floating-point parameters on a CPU or CUDA device; "
            "pass fused=None to fuse only where possible."
        )
    use_fused = can_fuse if fused is None else bool(fused)
    if weight_decay > 0:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=use_fused or None)
    return torch.optim.Adam(params, lr=lr, fused=use_fused or None)


def _check_weight_decay(weight_decay) -> None:
    if (
        not isinstance(weight_decay, int | float)
        or isinstance(weight_decay, bool)
        or weight_decay < 0
    ):
        raise ValueError(
            f"weight_decay must be a number >= 0, got {weight_decay!r}; 0.05 is a usual AdamW value."
        )


def _check_fit_args(
    epochs, batch_size, lr, weight_decay, optimizer, early_stopping, clip_grad_norm, scheduler, val
) -> None:
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if not isinstance(lr, int | float) or lr <= 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}; 1e-3 suits Adam.")
    _check_weight_decay(weight_decay)
    if optimizer is not None and weight_decay:
        raise ValueError(
            "weight_decay configures the default optimizer; with your own optimizer, set it "
            "there instead, e.g. torch.optim.AdamW(model.parameters(), lr, weight_decay=0.05)."
        )
    if early_stopping is not None:
        if (
            not isinstance(early_stopping, int)
            or isinstance(early_stopping, bool)
            or early_stopping < 1
        ):
            raise ValueError(
                f"early_stopping is a patience in epochs (int >= 1), got {early_stopping!r}."
            )
        if val is None:
            raise ValueError("early_stopping watches val_loss: pass val= (e.g. train.split(0.1)).")
    if clip_grad_norm is not None and clip_grad_norm <= 0:
        raise ValueError(f"clip_grad_norm must be positive, got {clip_grad_norm!r}.")
    if isinstance(scheduler, str) and scheduler not in SCHEDULERS:
        raise ValueError(
            f"unknown scheduler {scheduler!r}; choose one of {SCHEDULERS}, a torch scheduler or None."
        )


def _compile_mode(compile, device: torch.device) -> str | None:
    """The ``torch.compile`` mode ``fit`` trains with, or ``None`` for the eager model."""
    if compile is None or compile is False:
        return None
    if compile is True:
        # CUDA graphs replay a whole step's kernels in one launch: the win for small models
        return "reduce-overhead" if device.type == "cuda" else "default"
    return compile


def _check_compile(compile) -> None:
    if compile is None or isinstance(compile, bool) or compile in COMPILE_MODES:
        return
    raise ValueError(
        f"compile must be True, False or a torch.compile mode {COMPILE_MODES}, got {compile!r}."
    )


def _example_batches(batches, device: torch.device):
    """One batch ``(images, labels)`` of every shape the training loop will see.

    For :class:`TensorBatches` that is the full batch and the smaller last one, built the
    way its iterator builds them (float, same memory format); a DataLoader gives its first.
    """
    if not isinstance(batches, TensorBatches):
        images, labels = next(iter(batches))
        yield images.to(device), labels.to(device)
        return
    for size in batches.batch_sizes():
        images = batches.images[:size]
        images = images.float().div_(255) if images.dtype == torch.uint8 else images.clone()
        if batches.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        yield images, batches.labels[:size]


def compiled_for_training(
    model: nn.Module, batches, loss_fn, device: torch.device, mode: str, *, amp: bool = False
) -> nn.Module:
    """``torch.compile(model, mode=mode)``, compiled now, or ``model`` itself if that fails.

    ``torch.compile`` compiles lazily, at the first forward and the first backward, so a
    missing compiler would only surface inside the training loop. Here one training
    forward and backward per batch shape (``dynamic=False``: one graph per shape, as
    CUDA graphs need) run before training; the weights, BatchNorm statistics, gradients
    and random state they touch are put back, so the run that follows is the one an eager
    model would have had. When compiling fails, a warning names the error (once per
    process) and the eager ``model`` is returned. The compiled module shares ``model``'s
    parameters: the optimizer, checkpoints and evaluation keep using ``model``.
    """
    saved = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
    was_training = model.training
    try:
        compiled = torch.compile(model, mode=mode, dynamic=False)
        compiled.train()
        for images, labels in _example_batches(batches, device):
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                loss = loss_fn(compiled(images), labels)
            loss.backward()
    except Exception as err:  # the compiler stack raises many kinds: any of them means eager
        message = (
            f"torch.compile(mode={mode!r}) failed, so fit trains the model uncompiled "
            f"(pass compile=False to skip the attempt): {type(err).__name__}: {err}"
        )
        if message not in _compile_warnings:
            _compile_warnings.add(message)
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        compiled = model
    finally:
        model.load_state_dict(saved)  # copies in place: the parameters stay the same tensors
        for param in model.parameters():
            param.grad = None
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        model.train(was_training)
    return compiled


def fit(
    model: nn.Module,
    train,
    val=None,
    *,
    epochs: int = 1,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn=None,
    scheduler=None,
    augment: BatchAugment | None = None,
    device=None,
    early_stopping: int | None = None,
    checkpoint=None,
    clip_grad_norm: float | None = None,
    fast: bool | None = None,
    amp: bool | None = None,
    channels_last: bool | None = None,
    compile: bool | str = False,
    progress: bool = True,
    seed: int | None = None,
) -> History:
    """Train ``model`` and return its :class:`History` (one row per epoch).

    Parameters
    ----------
    train, val : ImageSet, (images, labels) tensors or DataLoader
        Images uint8 ``(N, C, H, W)`` (or an ImageSet's ``(N, H, W, C)``). ImageSets and
        tensors take the fast path (:class:`TensorBatches`); a DataLoader is used as is.
    lr : float
        Learning rate of the default optimizer; the peak of the named schedules.
    weight_decay : float
        Decoupled weight decay of the default optimizer (AdamW when > 0); it shrinks
        every weight a little at each step, which regularises like a penalty on their size.
    optimizer : torch optimizer, optional
        Default :func:`default_optimizer`: ``Adam(model.parameters(), lr)`` (AdamW when
        ``weight_decay`` > 0), fused when ``fast``.
    scheduler : "onecycle", "cosine", "plateau", a torch scheduler or None
        Named schedules peak at / start from ``lr``; one-cycle and cosine step per batch,
        "plateau" halves ``lr`` when ``val_loss`` stalls for an epoch.
    augment : BatchAugment, optional
        Per-sample augmentation of each training batch.
    early_stopping : int, optional
        Stop when ``val_loss`` has not improved for this many epochs, then restore the
        best weights (as Keras' ``EarlyStopping(restore_best_weights=True)``).
    checkpoint : path, optional
        Save the best model, optimizer, epoch and config there (by ``val_loss``, or by
        ``loss`` without ``val``), in the one checkpoint format of
        :mod:`cnncourse.train.checkpoint`; read it back with ``load_checkpoint``.
    fast : bool, optional
        The speed-ups that change results only by float rounding: fused Adam for the
        default optimizer, channels-last memory format for convolutional models (it
        moves the model's weights in place) and, on CUDA, float16 mixed precision.
        ``None`` means on for CUDA and off elsewhere, so a CPU run is the textbook loop;
        ``fast=True`` is the benchmark's choice.
    amp, channels_last : bool, optional
        Override one part of ``fast``: float16 autocast (CUDA only) and the memory format.
        ``None`` follows ``fast``.
    compile : bool or str
        Train through ``torch.compile(model)``: fused kernels, and on CUDA one CUDA-graph
        replay per step instead of many small launches. Off by default (each new model
        pays the compile time); ``True`` compiles (mode "reduce-overhead" on CUDA,
        "default" elsewhere); a string from ``COMPILE_MODES`` picks the mode.
        The first epoch's seconds include the compile time. If compiling fails, ``fit``
        warns and trains the eager model (see :func:`compiled_for_training`).
    progress : bool
        A tqdm bar per epoch, shown in terminals and notebooks, hidden in quick mode.
    seed : int, optional
        Seeds PyTorch, NumPy and the shuffle order, for repeatable runs.
    """
    _check_fit_args(
        epochs,
        batch_size,
        lr,
        weight_decay,
        optimizer,
        early_stopping,
        clip_grad_norm,
        scheduler,
        val,
    )
    if fast is not None and not isinstance(fast, bool):
        raise ValueError(f"fast must be True, False or None (on for CUDA only), got {fast!r}.")
    _check_compile(compile)
    train, val = check_training_inputs(
        train, val, lr=lr, weight_decay=weight_decay, custom_optimizer=optimizer is not None
    )
    if seed is not None:
        seed_everything(seed)
    device = pick_device(device) if not isinstance(device, torch.device) else device
    if fast is None:
        fast = device.type == "cuda"
    compile_mode = _compile_mode(compile, device)
    if amp is None:
        amp = bool(fast) and device.type == "cuda"
    elif amp and device.type != "cuda":
        raise ValueError(
            f"amp=True needs a CUDA device (float16 autocast); this run is on {device}."
        )
    if channels_last is None:
        has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
        channels_last = bool(fast) and has_conv and device.type in {"cpu", "cuda"}
    model.to(device)
    train_batches = as_batches(
        train,
        batch_size=batch_size,
        device=device,
        shuffle=True,
        augment=augment,
        channels_last=channels_last,
        seed=seed,
    )
    check_model_fits(model, train_batches, "training")
    val_batches = None
    if val is not None:
        val_batches = as_batches(val, batch_size=1024, device=device, channels_last=channels_last)
        check_model_fits(model, val_batches, "validation")
    if channels_last:  # after the probe, which also materialises lazy layers
        model.to(memory_format=torch.channels_last)
    if optimizer is None:
        optimizer = default_optimizer(model, lr, weight_decay, fused=None if fast else False)
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    scheduler, per_batch = make_scheduler(scheduler, optimizer, lr, epochs, len(train_batches))
    scaler = torch.amp.GradScaler(device.type) if amp else None
    config = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": float(lr),
        "seed": seed,
        "optimizer": type(optimizer).__name__,
        "scheduler": None if scheduler is None else type(scheduler).__name__,
        "augment": repr(augment),
        "fast": bool(fast),
        "amp": bool(amp),
        "channels_last": bool(channels_last),
        "compile": compile_mode,
        "device": str(device),
    }
    show = _show_progress(progress)
    rows, best, best_state, waited = [], float("inf"), None, 0
    stepped = model  # the module the training steps call: model, or its compiled twin
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        if epoch == 1 and compile_mode is not None:  # inside the clock: compiling costs time
            stepped = compiled_for_training(
                model, train_batches, loss_fn, device, compile_mode, amp=bool(amp)
            )
            config["compile"] = compile_mode if stepped is not model else None
        bar = _progress_bar(len(train_batches), f"epoch {epoch}/{epochs}") if show else None
        row = {"epoch": epoch}
        row.update(
            train_one_epoch(
                stepped,
                train_batches,
                optimizer,
                loss_fn,
                device,
                scaler=scaler,
                clip_grad_norm=clip_grad_norm,
                scheduler=scheduler if per_batch else None,
                progress=bar,
            )
        )
        if val_batches is not None:
            scores = evaluate(model, val_batches, device=device, loss_fn=loss_fn)
            row.update(val_loss=scores["loss"], val_accuracy=scores["accuracy"])
        watched = row.get("val_loss", row["loss"])
        if scheduler is not None and not per_batch:
            is_plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
            scheduler.step(watched) if is_plateau else scheduler.step()
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        if bar is not None:
            bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k not in {"epoch", "lr"}})
            bar.close()
        if watched < best:
            best, waited = watched, 0
            if early_stopping is not None:
                best_state = copy.deepcopy(model.state_dict())
            if checkpoint is not None:
                save_checkpoint(
                    checkpoint, model, optimizer, epoch=epoch, config=config, metrics=row
                )
        else:
            waited += 1
            if early_stopping is not None and waited >= early_stopping:
                break
    if best_state is not None:
        model.load_state_dict(best_state)  # keep the best epoch, not the last
    history = History.from_rows(rows)
    history.attrs.update(stopped_early=len(rows) < epochs, config=config)
    return history


def _progress_bar(total: int, description: str):
    return tqdm(total=total, desc=description, leave=True, dynamic_ncols=True)
