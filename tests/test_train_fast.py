"""fit's fast path: no device reads inside an epoch, and an optional compiled training step.

On a CPU the default path must stay the textbook loop: these tests check that the fast
path and the compiled step train the same model as the plain loop, up to float rounding,
and that a failing compiler costs a warning, not the run.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import cnncourse.train.loop as loop
from cnncourse.data import to_tensors
from cnncourse.models import build_model
from cnncourse.train import TensorBatches, evaluate, fit

CUDA = torch.cuda.is_available()


def tiny(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("tiny")


def with_batch_norm(seed: int = 0) -> nn.Module:
    """A small model whose training forward moves state (BatchNorm's running statistics)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def without_seconds(history):
    return history.drop(columns="seconds")


def test_evaluate_adds_batch_losses_exactly_as_python_floats(fashion):
    _, test = fashion
    model = tiny()
    images, labels = to_tensors(test)
    loss_fn = nn.CrossEntropyLoss()
    total, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(labels), 256):
            x = images[start : start + 256].float() / 255
            y = labels[start : start + 256]
            logits = model(x)
            total += loss_fn(logits, y).item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
    scores = evaluate(model, test, batch_size=256)
    assert scores["loss"] == total / len(labels)  # bit for bit, not approximately
    assert scores["accuracy"] == correct / len(labels)


def test_fast_fit_reads_the_device_once_per_epoch_not_once_per_step(fashion, monkeypatch):
    train, test = fashion
    reads = []
    real_item = torch.Tensor.item

    def counting_item(self):
        reads.append(1)
        return real_item(self)

    counts = {}
    for batch_size in (32, 64):  # 16 and 8 steps per epoch
        reads.clear()
        monkeypatch.setattr(torch.Tensor, "item", counting_item)
        history = fit(
            tiny(),
            train.subset(512, seed=0),
            test.subset(300, seed=0),
            epochs=2,
            batch_size=batch_size,
            fast=True,
            compile=False,
            progress=False,
            seed=0,
        )
        monkeypatch.undo()
        assert len(history) == 2
        counts[batch_size] = len(reads)
    # training and validation each read their loss and accuracy sums once an epoch,
    # whatever the number of steps (the textbook Adam reads its step count every step)
    assert counts[32] == counts[64] == 2 * 4


def test_fast_path_trains_the_plain_loops_model(fashion):
    train, test = fashion
    runs = {}
    for fast in (False, True):
        model = tiny()
        history = fit(
            model,
            train.subset(512, seed=0),
            test.subset(300, seed=0),
            epochs=2,
            batch_size=64,
            fast=fast,
            compile=False,
            progress=False,
            seed=0,
        )
        runs[fast] = (history, model)
    (plain, plain_model), (fast, fast_model) = runs[False], runs[True]
    assert plain.attrs["config"]["compile"] is None and fast.attrs["config"]["compile"] is None
    for column in ("loss", "val_loss"):
        assert list(fast[column]) == pytest.approx(list(plain[column]), rel=1e-3)
    assert list(fast["val_accuracy"]) == pytest.approx(list(plain["val_accuracy"]), abs=0.01)
    for a, b in zip(plain_model.parameters(), fast_model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-3)


def test_cpu_fit_never_compiles_unless_asked(fashion, monkeypatch):
    def no_compile(*args, **kwargs):
        raise AssertionError("fit compiled the model on a CPU without being asked")

    monkeypatch.setattr(torch, "compile", no_compile)
    train = fashion[0].subset(128, seed=0)
    for fast in (None, False, True):
        history = fit(tiny(), train, batch_size=64, fast=fast, progress=False, device="cpu")
        assert history.attrs["config"]["compile"] is None


def test_compiling_is_on_request_only():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert loop._compile_mode(False, cuda) is None
    assert loop._compile_mode(False, cpu) is None
    assert loop._compile_mode(True, cpu) == "default"
    assert loop._compile_mode(True, cuda) == "reduce-overhead"
    mode = "max-autotune-no-cudagraphs"
    assert loop._compile_mode(mode, cuda) == mode


@pytest.mark.parametrize("bad", ["fastest", 1, "reduce_overhead"])
def test_a_bad_compile_value_is_refused(fashion, bad):
    with pytest.raises(ValueError, match="compile must be True, False or"):
        fit(tiny(), fashion[0].subset(64, seed=0), compile=bad, progress=False)


def test_tensor_batches_name_every_batch_size_they_yield():
    images = torch.zeros(100, 1, 4, 4, dtype=torch.uint8)
    labels = torch.zeros(100, dtype=torch.long)
    batches = TensorBatches(images, labels, batch_size=32, shuffle=True)
    assert batches.batch_sizes() == sorted({len(y) for _, y in batches}, reverse=True) == [32, 4]
    assert TensorBatches(images, labels, batch_size=50).batch_sizes() == [50]
    # 97 % 32 == 1: the shuffled pass skips the lone last image
    odd = TensorBatches(images[:97], labels[:97], batch_size=32, shuffle=True)
    assert odd.batch_sizes() == sorted({len(y) for _, y in odd}, reverse=True) == [32]


class BrokenCompiled(nn.Module):
    """What a compiler that fails at the first call looks like to fit: it runs the
    model (moving BatchNorm statistics and the random state) and then raises."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        self.model(x)
        torch.rand(3)
        raise RuntimeError("no C++ compiler found")


def test_a_failing_compile_warns_once_and_trains_the_eager_model(fashion, monkeypatch):
    monkeypatch.setattr(loop, "_compile_warnings", set())
    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: BrokenCompiled(model))
    train, test = fashion[0].subset(200, seed=0), fashion[1].subset(100, seed=0)
    kwargs = dict(epochs=2, batch_size=64, progress=False, seed=0)
    eager_model = with_batch_norm()
    eager = fit(eager_model, train, test, compile=False, **kwargs)
    model = with_batch_norm()
    with pytest.warns(RuntimeWarning, match="no C.. compiler found") as caught:
        history = fit(model, train, test, compile=True, **kwargs)
    assert len(caught) == 1
    assert "compile=False" in str(caught[0].message)  # the message names the way out
    assert history.attrs["config"]["compile"] is None
    # the failed attempt left no trace: the same run, weights and statistics as eager
    assert without_seconds(history).equals(without_seconds(eager))
    for (name, a), (_, b) in zip(
        eager_model.state_dict().items(), model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert all(p.grad is not None for p in model.parameters())  # trained after the attempt
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same failure again: no second warning
        fit(with_batch_norm(), train, compile=True, **kwargs)


def test_compiled_step_trains_the_eager_model(fashion, monkeypatch):
    """The real torch.compile machinery (graph capture, autograd), on the aot_eager backend
    so that the test compiles in seconds; the slow test below runs the real compiler."""
    real_compile = torch.compile
    calls = []

    def quick_compile(model, *, mode, dynamic):
        calls.append((mode, dynamic))
        torch._dynamo.reset()
        return real_compile(model, backend="aot_eager", dynamic=dynamic)

    monkeypatch.setattr(torch, "compile", quick_compile)
    train, test = fashion[0].subset(200, seed=0), fashion[1].subset(100, seed=0)
    kwargs = dict(epochs=2, batch_size=64, progress=False, seed=0, fast=True)
    eager_model, model = with_batch_norm(), with_batch_norm()
    eager = fit(eager_model, train, test, compile=False, **kwargs)
    history = fit(model, train, test, compile=True, **kwargs)
    assert calls == [("default", False)]
    assert history.attrs["config"]["compile"] == "default"
    for column in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert list(history[column]) == pytest.approx(list(eager[column]), rel=1e-4, abs=1e-6)
    for (name, a), (_, b) in zip(
        eager_model.state_dict().items(), model.state_dict().items(), strict=True
    ):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), name


@pytest.mark.slow  # inductor writes and builds C++ kernels: minutes on a small CPU
def test_inductor_compiled_fit_matches_eager_on_cpu(fashion):
    torch._dynamo.reset()
    train, test = fashion[0].subset(256, seed=0), fashion[1].subset(100, seed=0)
    kwargs = dict(epochs=1, batch_size=64, progress=False, seed=0, fast=True)
    eager = fit(with_batch_norm(), train, test, compile=False, **kwargs)
    with_compile = fit(with_batch_norm(), train, test, compile=True, **kwargs)
    assert with_compile.attrs["config"]["compile"] == "default"  # compiled, no fallback
    for column in ("loss", "val_loss"):
        assert list(with_compile[column]) == pytest.approx(list(eager[column]), rel=1e-3)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_training_steps_do_not_synchronise(fashion):
    """On CUDA, the synchronisations of one epoch do not grow with its number of steps."""
    images, labels = to_tensors(fashion[0].subset(512, seed=0), "cuda")
    counts = {}
    for batch_size in (32, 64):
        model = tiny().cuda()
        optimizer = loop.default_optimizer(model, fused=True)
        scaler = torch.amp.GradScaler("cuda")
        batches = TensorBatches(images, labels, batch_size=batch_size, shuffle=True, seed=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                loop.train_one_epoch(
                    model,
                    batches,
                    optimizer,
                    nn.CrossEntropyLoss(),
                    torch.device("cuda"),
                    scaler=scaler,
                )
            finally:
                torch.cuda.set_sync_debug_mode("default")
        counts[batch_size] = sum("synchroniz" in str(w.message) for w in caught)
    assert counts[32] == counts[64]


@pytest.mark.slow
@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_fit_compiles_on_request_and_learns(fashion):
    train, test = fashion
    history = fit(
        tiny(), train, test, epochs=2, batch_size=256, progress=False, seed=0, compile=True
    )
    assert history.attrs["config"]["compile"] == "reduce-overhead"
    assert history["val_accuracy"].iloc[-1] > 0.6
