"""Comparing two frameworks fairly: one data order, lines of code, Adam's epsilon, backends.

The Keras-versus-PyTorch chapter trains the same model in both frameworks and puts
accuracy, time and code size side by side. The pieces that make such a comparison
fair and measurable:

- :func:`epoch_orders` draws the shuffle order of every epoch once, so both
  frameworks see the same batches in the same order;
- :func:`count_code_lines` counts the lines of code of a function (no blank lines,
  comments or docstrings);
- :func:`torch_eps_matching_keras` is the PyTorch Adam ``eps`` that reproduces
  one step of Keras' Adam, which adds epsilon *before* the bias correction;
- :func:`run_with_keras_backend` runs a script in a fresh Python process with
  another Keras backend (the backend is fixed when Keras is first imported).

Timing is :class:`cnncourse._util.Stopwatch` and output gaps are
:func:`cnncourse._util.max_abs_difference`, both public as ``cnncourse.interop.*``.
Nothing here imports PyTorch, TensorFlow or Keras.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import tokenize
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

KERAS_BACKENDS = ("tensorflow", "torch", "jax", "numpy")

# tokens that carry no code: layout, comments and the stream markers
_NOT_CODE = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}


def epoch_orders(n: int, epochs: int, seed: int = 0) -> list[np.ndarray]:
    """One random order of ``range(n)`` per epoch, the same for every framework.

    Parameters
    ----------
    n : number of training samples.
    epochs : number of epochs (one permutation each).
    seed : seeds NumPy's generator; the same seed gives the same orders.

    Returns
    -------
    list of ``epochs`` int64 arrays of shape ``(n,)``, each a permutation of ``0..n-1``.
    Index a batch as ``order[start : start + batch_size]`` in both frameworks.
    """
    for name, value in (("n", n), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(epochs)]


def count_code_lines(code: Callable | type | str) -> int:
    """Lines of code of a function, class or source string.

    Counts every physical line that holds code, so a call spread over three lines
    counts three; blank lines, comment-only lines and docstrings are not counted.

    Parameters
    ----------
    code : a function, method or class (its source is read with ``inspect``; this works
        for functions defined in notebook cells too), or Python source text.
    """
    if isinstance(code, str):
        source = code
    elif inspect.isfunction(code) or inspect.ismethod(code) or inspect.isclass(code):
        try:
            source = inspect.getsource(code)
        except (OSError, TypeError) as err:
            raise ValueError(
                f"cannot read the source of {code!r} ({err}); pass its source text instead."
            ) from err
    else:
        raise TypeError(
            f"count_code_lines expects a function, a class or source text, got "
            f"{type(code).__name__}."
        )
    source = textwrap.dedent(source)
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ValueError(f"the code is not valid Python (line {err.lineno}: {err.msg}).") from err
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = node.body[0] if node.body else None
            is_doc = (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            )
            if is_doc:
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in _NOT_CODE:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstrings)


def torch_eps_matching_keras(epsilon: float, beta_2: float, step: int) -> float:
    """The ``eps`` for step ``step`` of ``torch.optim.Adam`` that equals Keras' Adam step.

    Both divide the first moment by ``sqrt(second moment) + epsilon`` but at different
    places: PyTorch adds ``eps`` after bias-correcting the second moment, Keras adds
    ``epsilon`` before (the paper's "epsilon hat"). At step ``t`` they agree when

    .. math:: \\varepsilon_\\text{torch} = \\varepsilon_\\text{keras} / \\sqrt{1 - \\beta_2^t},

    about 32 times Keras' value at the first step, approaching it after a few thousand.

    Parameters
    ----------
    epsilon : Keras' ``epsilon`` (default 1e-7).
    beta_2 : the second-moment decay, the same in both (default 0.999).
    step : the optimizer step, counting from 1.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ValueError(f"step counts optimizer steps from 1; got {step!r}.")
    if not 0 < beta_2 < 1:
        raise ValueError(f"beta_2 must lie strictly between 0 and 1 (e.g. 0.999), got {beta_2!r}.")
    if epsilon < 0:
        raise ValueError(f"epsilon must be non-negative, got {epsilon!r}.")
    return epsilon / math.sqrt(1.0 - beta_2**step)


def run_with_keras_backend(
    source: str,
    backend: str = "torch",
    *,
    args: Sequence[str] = (),
    timeout: float = 300,
) -> dict:
    """Run Python ``source`` in a new process with ``KERAS_BACKEND=backend``; return its result.

    Keras picks its backend once, when it is first imported, so a notebook that already
    uses TensorFlow can try the PyTorch backend only in another process. The script
    reports back by printing one JSON object as the last line of its standard output.

    Parameters
    ----------
    source : the script's Python source.
    backend : "tensorflow", "torch", "jax" or "numpy".
    args : command-line arguments, available to the script as ``sys.argv[1:]``.
    timeout : seconds before the process is stopped.

    Returns
    -------
    dict : the JSON object the script printed last.
    """
    if backend not in KERAS_BACKENDS:
        raise ValueError(f"unknown Keras backend {backend!r}; choose one of {KERAS_BACKENDS}.")
    if not isinstance(source, str) or not source.strip():
        raise TypeError("source must be the script's Python source as a non-empty str.")
    env = {**os.environ, "KERAS_BACKEND": backend}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory(prefix="cnncourse-backend-") as folder:
        script = Path(folder) / "script.py"
        script.write_text(source)
        try:
            done = subprocess.run(
                [sys.executable, str(script), *map(str, args)],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(
                f"the script did not finish within {timeout:g} s with KERAS_BACKEND={backend}; "
                "give it more time (timeout=...) or make it do less."
            ) from err
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(
            f"the script failed (exit code {done.returncode}) with KERAS_BACKEND={backend}. "
            f"Last lines of its error output:\n{tail}"
        )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = None
    if not isinstance(result, dict):
        last = lines[-1][:200] if lines else "(nothing)"
        raise ValueError(
            "the script must print one JSON object as its last line, e.g. "
            f"print(json.dumps({{'backend': keras.backend.backend()}})); it printed {last!r}."
        )
    return result
