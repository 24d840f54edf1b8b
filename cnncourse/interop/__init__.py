"""Between PyTorch and Keras: copy weights between twins, and compare the two fairly.

- :func:`torch_to_keras` / :func:`keras_to_torch` (:mod:`cnncourse.interop.weights`)
  copy every weight of a model into its twin in the other framework, so both compute
  the same logits;
- :func:`epoch_orders`, :func:`count_code_lines`, :func:`torch_eps_matching_keras` and
  :func:`run_with_keras_backend` (:mod:`cnncourse.interop.fairness`) make a comparison
  of the two frameworks fair and measurable;
- :class:`Stopwatch` times a block and :func:`max_abs_difference` says how far two
  outputs are apart (both from :mod:`cnncourse._util`, which every layer shares).

Keras is imported only when a function needs it (through ``cnncourse._frameworks``).
"""

from cnncourse._util import Stopwatch, max_abs_difference
from cnncourse.interop.fairness import (
    KERAS_BACKENDS,
    count_code_lines,
    epoch_orders,
    run_with_keras_backend,
    torch_eps_matching_keras,
)
from cnncourse.interop.weights import keras_to_torch, torch_to_keras

__all__ = [
    "KERAS_BACKENDS",
    "Stopwatch",
    "count_code_lines",
    "epoch_orders",
    "keras_to_torch",
    "max_abs_difference",
    "run_with_keras_backend",
    "torch_eps_matching_keras",
    "torch_to_keras",
]
