"""The shared helpers: tensors to NumPy, eval mode restored, the stopwatch."""

import numpy as np
import pytest
import torch
from torch import nn

from cnncourse._util import Stopwatch, evaluating, to_numpy


def test_to_numpy_takes_tensors_lists_and_half_precision():
    assert to_numpy([1, 2]).tolist() == [1, 2]
    half = torch.ones(2, dtype=torch.bfloat16, requires_grad=True)
    out = to_numpy(half)
    assert out.dtype == np.float32 and out.tolist() == [1.0, 1.0]
    assert to_numpy(torch.arange(3), dtype=np.float64).dtype == np.float64


def test_to_numpy_names_the_argument_it_cannot_convert():
    with pytest.raises(TypeError, match="logits must be"):
        to_numpy(object(), "logits", dtype=float)


@pytest.mark.parametrize("training", [True, False])
def test_evaluating_restores_the_mode_even_after_an_error(training):
    model = nn.Sequential(nn.Dropout(0.5)).train(training)
    with pytest.raises(ZeroDivisionError), evaluating(model):
        assert not model.training
        1 / 0  # noqa: B018
    assert model.training is training


def test_stopwatch_measures_the_block_and_refuses_before_start():
    with pytest.raises(RuntimeError, match="never started"):
        Stopwatch().seconds  # noqa: B018
    with Stopwatch() as watch:
        pass
    assert 0 <= watch.seconds < 1
