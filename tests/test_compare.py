"""cnncourse.interop (fairness helpers): data orders, the stopwatch, lines of code, output gaps, Adam's epsilon
against both frameworks, and a script run on the PyTorch backend of Keras."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from cnncourse.interop import (
    Stopwatch,
    count_code_lines,
    epoch_orders,
    max_abs_difference,
    run_with_keras_backend,
    torch_eps_matching_keras,
)

# ---- epoch_orders ----------------------------------------------------------------------


def test_epoch_orders_are_reproducible_permutations_that_change_every_epoch():
    orders = epoch_orders(50, 3, seed=7)
    assert len(orders) == 3
    for order in orders:
        assert order.shape == (50,)
        assert sorted(order.tolist()) == list(range(50))
    assert not np.array_equal(orders[0], orders[1])
    again = epoch_orders(50, 3, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(orders, again, strict=True))
    assert not np.array_equal(epoch_orders(50, 1, seed=8)[0], orders[0])


@pytest.mark.parametrize(
    ("n", "epochs", "seed"), [(0, 1, 0), (5, 0, 0), (5, 1, -1), (5.0, 1, 0), (True, 1, 0)]
)
def test_epoch_orders_rejects_bad_sizes(n, epochs, seed):
    with pytest.raises(ValueError, match="must be"):
        epoch_orders(n, epochs, seed)


# ---- Stopwatch ---------------------------------------------------------------------------


def test_stopwatch_measures_the_block_and_stays_fixed_afterwards():
    with Stopwatch() as watch:
        time.sleep(0.05)
        assert watch.seconds >= 0.04  # running time inside the block
    measured = watch.seconds
    assert 0.05 <= measured < 2.0
    time.sleep(0.02)
    assert watch.seconds == measured
    assert "s)" in repr(watch)


def test_stopwatch_not_started_says_how_to_use_it():
    with pytest.raises(RuntimeError, match="with Stopwatch"):
        Stopwatch().seconds  # noqa: B018


# ---- count_code_lines --------------------------------------------------------------------


def _example(a, b):
    """A docstring

    over three lines.
    """
    # a comment line is not code

    total = (
        a  # a trailing comment does not matter
        + b
    )
    text = """a string
    that is code"""
    return total, text


def test_count_code_lines_skips_blanks_comments_and_docstrings():
    # def, total ( a + b ) over 4 lines, the 2-line string, return
    assert count_code_lines(_example) == 1 + 4 + 2 + 1


def test_count_code_lines_reads_source_text_and_classes():
    source = '''
    class Model:
        """Doc."""

        def forward(self, x):
            # why: nothing
            return x
    '''
    assert count_code_lines(source) == 3

    class Local:
        def method(self):
            return 1

    assert count_code_lines(Local) == 3
    assert count_code_lines(Local().method) == 2


def test_count_code_lines_rejects_what_it_cannot_read():
    with pytest.raises(TypeError, match="function, a class or source text"):
        count_code_lines(42)
    with pytest.raises(ValueError, match="not valid Python"):
        count_code_lines("def broken(:\n    pass")
    with pytest.raises(ValueError, match="cannot read the source"):
        count_code_lines(eval("lambda: 1"))  # no file to read the source from


# ---- max_abs_difference ------------------------------------------------------------------


@pytest.mark.keras
def test_max_abs_difference_accepts_torch_numpy_and_keras():
    from cnncourse._frameworks import import_keras

    keras = import_keras()
    a = torch.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    b = np.array([[1.0, -2.5], [0.5, 3.25]])
    assert max_abs_difference(a, b) == pytest.approx(0.5)
    assert max_abs_difference(keras.ops.convert_to_tensor(b), b) == 0.0


def test_max_abs_difference_explains_a_layout_mismatch():
    with pytest.raises(ValueError, match=r"permute\(0, 2, 3, 1\)"):
        max_abs_difference(np.zeros((2, 1, 28, 28)), np.zeros((2, 28, 28, 1)))
    with pytest.raises(ValueError, match="cannot compare shapes"):
        max_abs_difference(np.zeros(3), np.zeros(4))
    with pytest.raises(TypeError, match="a must be a NumPy array, a list or a tensor of numbers"):
        max_abs_difference({"a": 1}, np.zeros(1))


# ---- torch_eps_matching_keras: oracle against both optimizers ------------------------------


def _adam_runs(torch_eps, steps: int = 4, keras_eps: float = 1e-7):
    """The same parameter and gradients through PyTorch's and Keras' Adam."""
    from cnncourse._frameworks import import_keras

    keras = import_keras()
    rng = np.random.default_rng(0)
    start = rng.standard_normal(64).astype("float32")
    # gradients as small as epsilon: where its placement matters
    grads = [1e-6 * rng.standard_normal(64).astype("float32") for _ in range(steps)]
    param = torch.nn.Parameter(torch.from_numpy(start.copy()))
    optimizer = torch.optim.Adam([param], lr=1e-3, eps=1e-8)
    variable = keras.Variable(start.copy())
    keras_adam = keras.optimizers.Adam(1e-3, epsilon=keras_eps)
    for step, grad in enumerate(grads, start=1):
        optimizer.param_groups[0]["eps"] = torch_eps(step)
        param.grad = torch.from_numpy(grad.copy())
        optimizer.step()
        keras_adam.apply_gradients([(keras.ops.convert_to_tensor(grad), variable)])
    return param.detach().numpy() - start, keras.ops.convert_to_numpy(variable) - start


@pytest.mark.keras
def test_torch_eps_matching_keras_reproduces_keras_adam_steps():
    torch_moves, keras_moves = _adam_runs(lambda t: torch_eps_matching_keras(1e-7, 0.999, t))
    np.testing.assert_allclose(torch_moves, keras_moves, rtol=1e-3, atol=1e-9)
    # the same nominal epsilon does NOT give the same steps
    plain_torch, plain_keras = _adam_runs(lambda t: 1e-7)
    assert np.abs(plain_torch - plain_keras).max() > 10 * np.abs(torch_moves - keras_moves).max()


def test_torch_eps_matching_keras_values_and_bad_input():
    assert torch_eps_matching_keras(1e-7, 0.999, 1) == pytest.approx(1e-7 / np.sqrt(0.001))
    assert torch_eps_matching_keras(1e-7, 0.999, 100_000) == pytest.approx(1e-7, rel=1e-6)
    with pytest.raises(ValueError, match="step"):
        torch_eps_matching_keras(1e-7, 0.999, 0)
    with pytest.raises(ValueError, match="beta_2"):
        torch_eps_matching_keras(1e-7, 1.0, 1)
    with pytest.raises(ValueError, match="non-negative"):
        torch_eps_matching_keras(-1.0, 0.999, 1)


# ---- run_with_keras_backend ----------------------------------------------------------------


def test_run_with_keras_backend_runs_keras_on_pytorch():
    script = (
        "import json, sys\n"
        "import keras, torch\n"
        "layer = keras.layers.Dense(3)\n"
        "out = layer(keras.ops.ones((2, 4)))\n"
        "print('some chatter first')\n"
        "print(json.dumps({'backend': keras.backend.backend(), 'arg': sys.argv[1],\n"
        "    'module': isinstance(layer, torch.nn.Module), 'tensor': type(out).__name__,\n"
        "    'tf': 'tensorflow' in sys.modules}))\n"
    )
    result = run_with_keras_backend(script, "torch", args=["hello"], timeout=300)
    assert result == {
        "backend": "torch",
        "arg": "hello",
        "module": True,
        "tensor": "Tensor",
        "tf": False,
    }


def test_run_with_keras_backend_reports_failures():
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        run_with_keras_backend("1 / 0\n", "torch")
    with pytest.raises(ValueError, match="one JSON object"):
        run_with_keras_backend("print('no json here')\n", "torch")
    with pytest.raises(RuntimeError, match="did not finish"):
        run_with_keras_backend("import time\ntime.sleep(5)\n", "torch", timeout=0.5)
    with pytest.raises(ValueError, match="unknown Keras backend"):
        run_with_keras_backend("print(1)", "theano")
    with pytest.raises(TypeError, match="non-empty str"):
        run_with_keras_backend("   ", "torch")
