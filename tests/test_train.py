"""The PyTorch loop on real Fashion-MNIST subsets: it learns, stops, checkpoints, repeats."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch
from torch import nn

from cnncourse.data import to_dataloader, to_tensors
from cnncourse.models import build_model
from cnncourse.train import (
    COLUMNS,
    BatchAugment,
    History,
    TensorBatches,
    default_optimizer,
    evaluate,
    fit,
    load_checkpoint,
    make_scheduler,
    predict,
    train_one_epoch,
)
from cnncourse.train.loop import _show_progress


def tiny(seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("tiny", **kwargs)


def test_fit_learns_on_real_data(fashion):
    train, test = fashion
    model = tiny()
    history = fit(model, train, test, epochs=3, batch_size=64, progress=False, seed=0)
    assert isinstance(history, History)
    assert list(history.columns) == list(COLUMNS)
    assert list(history["epoch"]) == [1, 2, 3]
    assert history["val_accuracy"].iloc[-1] > 0.6  # chance is 0.1
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert (history["seconds"] > 0).all() and (history["lr"] == 1e-3).all()
    # the last row's val metrics are what evaluate() reports for the final model
    scores = evaluate(model, test)
    assert scores["accuracy"] == pytest.approx(history["val_accuracy"].iloc[-1])
    assert scores["loss"] == pytest.approx(history["val_loss"].iloc[-1], rel=1e-5)


def test_same_seed_gives_the_same_run_twice_on_cpu(fashion):
    train, test = fashion
    runs = []
    for _ in range(2):
        model = tiny(seed=123)  # a different init: fit's seed must take over
        history = fit(
            model,
            train.subset(1000),
            test,
            epochs=2,
            batch_size=64,
            augment=BatchAugment(shift=2),
            progress=False,
            seed=7,
            device="cpu",
        )
        runs.append(history.drop(columns="seconds"))
    assert runs[0].equals(runs[1])
    other = fit(tiny(), train.subset(1000), test, epochs=2, batch_size=64, progress=False, seed=8)
    assert not other.drop(columns="seconds").equals(runs[0])


def test_train_one_epoch_is_the_textbook_loop(fashion):
    train, _ = fashion
    images, labels = to_tensors(train.subset(256))
    model = tiny()
    reference = copy.deepcopy(model)
    batches = TensorBatches(images, labels, batch_size=64)  # fixed order
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    stats = train_one_epoch(model, batches, optimizer, nn.CrossEntropyLoss(), torch.device("cpu"))
    # the same steps written out by hand
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    losses, correct = [], 0
    for start in range(0, 256, 64):
        x = images[start : start + 64].float() / 255
        y = labels[start : start + 64]
        ref_optimizer.zero_grad()
        logits = reference(x)
        loss = nn.functional.cross_entropy(logits, y)
        loss.backward()
        ref_optimizer.step()
        losses.append(loss.item())
        correct += (logits.argmax(1) == y).sum().item()
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert stats["loss"] == pytest.approx(np.mean(losses), rel=1e-5)
    assert stats["accuracy"] == correct / 256


def _clipped_sgd_step(train, clip: float, scaler=None, model=None) -> float:
    """The norm of one plain SGD step of lr 1 on 64 images: the clipped gradient's norm."""
    images, labels = to_tensors(train.subset(64))
    model = model if model is not None else tiny()
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    train_one_epoch(
        model,
        TensorBatches(images, labels, batch_size=64),
        torch.optim.SGD(model.parameters(), lr=1.0),
        nn.CrossEntropyLoss(),
        torch.device("cpu"),
        scaler=scaler,
        clip_grad_norm=clip,
    )
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    return (after - before).norm().item()


def test_clip_grad_norm_bounds_the_step(fashion):
    train, _ = fashion
    # one plain SGD step of lr 1 moves the weights by exactly the clipped gradient
    assert _clipped_sgd_step(train, clip=1e-3) == pytest.approx(1e-3, rel=1e-3)


def test_mixed_precision_clips_the_true_gradients_not_the_scaled_ones(fashion):
    # fit's CUDA path (float16 autocast + GradScaler), run on the CPU, which supports both
    train, _ = fashion
    model = tiny()
    dtypes = []
    model.conv1.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
    scaler = torch.amp.GradScaler("cpu")  # scales the loss by 65,536
    step = _clipped_sgd_step(train, clip=1e-3, scaler=scaler, model=model)
    assert dtypes == [torch.float16]  # autocast was on
    assert scaler.get_scale() == 65536.0  # no inf/nan step was skipped
    # clipping the scaled gradient would leave a step 65,536 times too short
    assert step == pytest.approx(1e-3, rel=1e-2)


def test_mixed_precision_training_learns(fashion):
    train, _ = fashion
    images, labels = to_tensors(train.subset(1024))
    model = tiny()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu")
    losses = [
        train_one_epoch(
            model,
            TensorBatches(images, labels, batch_size=64, shuffle=True, seed=epoch),
            optimizer,
            nn.CrossEntropyLoss(),
            torch.device("cpu"),
            scaler=scaler,
        )["loss"]
        for epoch in range(3)
    ]
    assert losses[2] < 0.8 * losses[0], losses


def test_early_stopping_stops_and_restores_the_best_weights(fashion):
    train, test = fashion
    # validation labels shifted by one class: the better the model learns the real
    # labels, the worse its validation loss, so patience runs out after the first epoch
    wrong = type(test)(test.images, (test.labels + 1) % 10, test.class_names)
    model = tiny()
    history = fit(
        model, train, wrong, epochs=10, batch_size=64, early_stopping=1, progress=False, seed=0
    )
    assert len(history) < 10 and history.attrs["stopped_early"]
    best = history.best("val_loss")
    assert evaluate(model, wrong)["loss"] == pytest.approx(best["val_loss"], rel=1e-5)


def test_checkpoint_round_trip(fashion, tmp_path):
    train, test = fashion
    path = tmp_path / "run" / "best.pt"
    model = tiny()
    history = fit(model, train, test, epochs=1, batch_size=64, checkpoint=path, progress=False)
    assert path.is_file() and not list(path.parent.glob(".*.tmp"))
    fresh = tiny(seed=99)
    optimizer = torch.optim.Adam(fresh.parameters(), lr=1e-3)
    info = load_checkpoint(path, fresh, optimizer)
    assert info["epoch"] == 1 and info["config"]["batch_size"] == 64
    assert info["metrics"]["val_accuracy"] == pytest.approx(history["val_accuracy"].iloc[0])
    for key, value in model.state_dict().items():  # fit may have moved model to CUDA
        torch.testing.assert_close(fresh.state_dict()[key].cpu(), value.cpu())
    assert len(optimizer.state) == len(list(fresh.parameters()))  # Adam moments restored
    # both on the CPU: the same weights give the same probabilities there, whatever fit used
    np.testing.assert_array_equal(
        predict(fresh, test, device="cpu")[1], predict(model, test, device="cpu")[1]
    )


class _Payload:
    """Pickles to a call of os.mkdir: loading it with full pickle runs that call."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_a_checkpoint_carrying_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "extra": _Payload(str(marker))}, path)
    with pytest.raises(ValueError, match="refused"):
        load_checkpoint(path, tiny())
    assert not marker.exists()
    # the payload is real: full unpickling would have executed it
    torch.load(path, weights_only=False)
    assert marker.is_dir()


def test_predict_and_evaluate_agree_with_torch(fashion):
    _, test = fashion
    model = tiny()
    model.train()
    labels, probs = predict(model, test, batch_size=300)
    assert model.training, "predict restores the training mode"
    images, targets = to_tensors(test)
    with torch.no_grad():
        logits = model.eval()(images.float() / 255)
    np.testing.assert_allclose(probs, torch.softmax(logits, 1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, probs.argmax(1))
    scores = evaluate(model, (images, targets), batch_size=300)
    assert scores["loss"] == pytest.approx(
        nn.functional.cross_entropy(logits, targets).item(), rel=1e-5
    )
    assert scores["accuracy"] == pytest.approx((labels == test.labels).mean())
    np.testing.assert_array_equal(predict(model, images)[0], labels)  # bare images work too


def test_fit_accepts_a_dataloader_and_tensors(fashion):
    train, test = fashion
    loader = to_dataloader(train, 64, shuffle=True, seed=0)
    history = fit(tiny(), loader, to_tensors(test), epochs=2, progress=False, seed=0)
    assert history["val_accuracy"].iloc[-1] > 0.5


def test_schedulers(fashion):
    train, _ = fashion
    small = train.subset(512)
    onecycle = fit(
        tiny(), small, epochs=2, batch_size=64, lr=0.01, scheduler="onecycle", progress=False
    )
    assert onecycle["lr"].iloc[-1] < 1e-4  # annealed to almost nothing
    model = tiny()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    step = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(model, small, epochs=3, optimizer=optimizer, scheduler=step, progress=False)
    assert list(history["lr"]) == pytest.approx([1e-2, 5e-3, 2.5e-3])  # stepped once an epoch


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive int"),
        ({"batch_size": -1}, "batch_size must be a positive int"),
        ({"lr": 0}, "lr must be a positive number"),
        ({"early_stopping": 2}, "pass val="),
        ({"scheduler": "linear"}, "unknown scheduler"),
        ({"amp": True, "device": "cpu"}, "amp=True needs a CUDA device"),
    ],
)
def test_bad_arguments_are_refused(fashion, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit(tiny(), fashion[0], progress=False, **kwargs)


def test_data_that_does_not_fit_the_model_is_refused_before_training(fashion):
    train, _ = fashion
    model = tiny(num_classes=5)
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match=r"labels span \[0, 9\].*num_classes=10"):
        fit(model, train, progress=False)
    with pytest.raises(ValueError, match="in_channels=1"):
        fit(tiny(in_channels=3), train, progress=False)
    rgb = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(10))
    with pytest.raises(ValueError, match="expects 3 input channels"):
        fit(rgb, train, progress=False)
    for key, value in model.state_dict().items():  # fit may have moved model to CUDA
        assert torch.equal(value.cpu(), before[key].cpu()), "nothing was trained"


def test_history_best_and_progress_switch(monkeypatch):
    history = History.from_rows(
        [
            {"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 0.9, "val_accuracy": 0.6},
            {"epoch": 2, "loss": 0.5, "accuracy": 0.8, "val_loss": 1.1, "val_accuracy": 0.7},
        ]
    )
    assert history.best("val_accuracy")["epoch"] == 2
    assert history.best("val_loss")["epoch"] == 1
    with pytest.raises(ValueError, match="unknown metric"):
        history.best("f1")
    with pytest.raises(ValueError, match="unknown History columns"):
        History.from_rows([{"epoch": 1, "f1": 0.3}])
    no_val = History.from_rows([{"epoch": 1, "loss": 1.0}])
    with pytest.raises(ValueError, match="pass validation data"):
        no_val.best("val_accuracy")
    monkeypatch.setenv("CNNCOURSE_QUICK", "1")
    assert not _show_progress(True)


def test_a_scheduler_on_another_optimizer_is_refused(fashion):
    model = tiny()
    other = torch.optim.SGD(model.parameters(), lr=0.1)
    step = torch.optim.lr_scheduler.StepLR(other, step_size=1)
    with pytest.raises(ValueError, match="another optimizer"):
        fit(model, fashion[0], scheduler=step, progress=False)
    with pytest.raises(TypeError, match="lr_scheduler"):
        fit(model, fashion[0], scheduler=0.5, progress=False)


def test_make_scheduler_says_when_to_step():
    weight = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([weight], lr=0.1)
    onecycle, per_batch = make_scheduler("onecycle", optimizer, 0.1, epochs=2, steps=5)
    assert per_batch and onecycle.total_steps == 10
    assert make_scheduler("plateau", optimizer, 0.1, epochs=2, steps=5)[1] is False
    assert make_scheduler(None, optimizer, 0.1, epochs=2, steps=5) == (None, False)
    step = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    assert make_scheduler(step, optimizer, 0.1, epochs=2, steps=5) == (step, False)


def test_default_optimizer_is_fused_adam_and_steps_like_the_textbook_adam():
    model, twin = tiny(seed=1), tiny(seed=1)
    fused = default_optimizer(model, lr=1e-2)
    assert fused.defaults["fused"] and fused.defaults["lr"] == 1e-2
    plain = torch.optim.Adam(twin.parameters(), lr=1e-2)  # the for-loop implementation
    images = torch.rand(8, 1, 28, 28)
    labels = torch.arange(8) % 10
    for net, optimizer in ((model, fused), (twin, plain)):
        for _ in range(3):
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(images), labels).backward()
            optimizer.step()
    for (name, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert not torch.equal(p, tiny(seed=1).get_parameter(name))  # it did move
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_weight_decay_gives_adamw_that_shrinks_weights_without_gradient():
    model = tiny(seed=1)
    optimizer = default_optimizer(model, lr=0.1, weight_decay=0.5)
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["fused"]
    before = model.fc.weight.detach().clone()
    for p in model.parameters():  # zero gradients: Adam alone would not move anything
        p.grad = torch.zeros_like(p)
    optimizer.step()
    # decoupled decay: w <- w * (1 - lr * weight_decay), whatever the gradient
    torch.testing.assert_close(model.fc.weight.detach(), before * (1 - 0.1 * 0.5))
    assert type(default_optimizer(model, lr=0.1)) is torch.optim.Adam
    with pytest.raises(ValueError, match="weight_decay must be a number >= 0"):
        default_optimizer(model, weight_decay=-0.1)


def test_fit_refuses_weight_decay_beside_its_own_optimizer():
    model = tiny()
    images = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
    own = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="set it there instead"):
        fit(model, (images, torch.arange(8) % 10), optimizer=own, weight_decay=0.05)
    with pytest.raises(ValueError, match="weight_decay must be"):
        fit(model, (images, torch.arange(8) % 10), weight_decay="a lot")


def test_fit_without_an_optimizer_trains_with_the_default_one(fashion, monkeypatch):
    import cnncourse.train.loop as loop

    built = []

    def recording(model, lr, weight_decay, *, fused):
        built.append(default_optimizer(model, lr, weight_decay, fused=fused))
        return built[-1]

    monkeypatch.setattr(loop, "default_optimizer", recording)
    train, _ = fashion
    fit(tiny(), train.subset(256, seed=0), epochs=1, batch_size=64, lr=0.01, progress=False)
    fit(tiny(), train.subset(64, seed=0), batch_size=64, weight_decay=0.05, progress=False)
    optimizer, decaying = built
    assert isinstance(decaying, torch.optim.AdamW) and decaying.defaults["weight_decay"] == 0.05
    assert not optimizer.defaults["fused"] and optimizer.param_groups[0]["lr"] == 0.01
    assert all(int(state["step"]) == 4 for state in optimizer.state.values())  # 256 / 64 steps


def _conv_weights_channels_last(model: nn.Module) -> bool:
    weight = model.conv2.weight  # conv1 has one input channel: both layouts coincide
    return weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def test_fit_is_plain_on_cpu_and_fast_only_when_asked(fashion, monkeypatch):
    import ctypes

    import cnncourse.runtime as runtime

    def no_allocator_tuning(*args, **kwargs):
        raise AssertionError("fit must not change the process's memory allocator")

    monkeypatch.setattr(runtime, "_allocator_tuned", False)
    monkeypatch.setattr(ctypes, "CDLL", no_allocator_tuning)
    train = fashion[0].subset(128, seed=0)
    plain_model = tiny()
    plain = fit(plain_model, train, batch_size=64, progress=False, seed=0)
    assert plain.attrs["config"]["fast"] is False
    assert plain.attrs["config"]["channels_last"] is False
    assert not _conv_weights_channels_last(plain_model)
    assert plain.attrs["config"]["optimizer"] == "Adam"
    fast_model = tiny()
    fast = fit(fast_model, train, batch_size=64, progress=False, seed=0, fast=True)
    assert fast.attrs["config"]["fast"] is True and fast.attrs["config"]["channels_last"]
    assert _conv_weights_channels_last(fast_model)
    # the same training up to float rounding: the speed-ups change no result
    assert fast["loss"].iloc[0] == pytest.approx(plain["loss"].iloc[0], rel=1e-3)
    assert not runtime._allocator_tuned
    with pytest.raises(ValueError, match="fast must be True, False or None"):
        fit(tiny(), train, fast="yes", progress=False)


def test_fast_fit_builds_the_fused_optimizer(fashion, monkeypatch):
    import cnncourse.train.loop as loop

    asked = []

    def recording(model, lr, weight_decay, *, fused):
        asked.append(fused)
        return default_optimizer(model, lr, weight_decay, fused=fused)

    monkeypatch.setattr(loop, "default_optimizer", recording)
    train = fashion[0].subset(64, seed=0)
    fit(tiny(), train, batch_size=64, progress=False)
    fit(tiny(), train, batch_size=64, progress=False, fast=True)
    fit(tiny(), train, batch_size=64, progress=False, fast=True, channels_last=False)
    assert asked == [False, None, None]
    assert not default_optimizer(tiny(), fused=False).defaults["fused"]
