"""Flip-averaged predictions: an oracle check against two plain forward passes."""

from __future__ import annotations

import pytest
import torch

from cnncourse.models import build_model, count_parameters
from cnncourse.models.tta import FlipAveraged
from cnncourse.train import evaluate, fit


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("tiny")


def test_eval_mode_averages_the_probabilities_of_image_and_mirror_image():
    model = _model()
    wrapped = FlipAveraged(model).eval()
    x = torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        expected = (model(x).softmax(-1) + model(x.flip(-1)).softmax(-1)) / 2
        out = wrapped(x)
    torch.testing.assert_close(out.softmax(-1), expected)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(6))  # log-probabilities
    # a left-right symmetric image is its own mirror: nothing changes but the scale
    symmetric = x + x.flip(-1)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(symmetric), model(symmetric).log_softmax(-1))


def test_train_mode_is_the_plain_model_and_adds_no_parameters():
    model = _model()
    wrapped = FlipAveraged(model).train()
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(wrapped(x), model(x))
    assert count_parameters(wrapped) == count_parameters(model) == 9_098
    with pytest.raises(TypeError, match="wraps a torch nn.Module"):
        FlipAveraged("tiny")


def test_fit_trains_the_inner_model_and_scores_it_flip_averaged():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (128, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (128,))
    model = _model(seed=1)
    before = model.fc.weight.detach().clone()
    wrapped = FlipAveraged(model)
    history = fit(wrapped, (images, labels), (images, labels), batch_size=32, progress=False)
    # the wrapped model itself learned (compared on the CPU: fit may have moved it to CUDA)
    assert not torch.equal(model.fc.weight.detach().cpu(), before.cpu())
    assert history["val_accuracy"].iloc[-1] == pytest.approx(
        evaluate(wrapped, (images, labels))["accuracy"]
    )
