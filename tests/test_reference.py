"""The reference model: the same network in both frameworks, and a recipe that trains it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from cnncourse.models import build_model, count_parameters
from cnncourse.models.reference import ReferenceNet, keras_reference
from cnncourse.train import BatchAugment, fit
from cnncourse.train.recipes import REFERENCE_RECIPE, SHORT_RECIPE


def test_reference_net_is_small_and_outputs_logits():
    model = ReferenceNet()
    convs = 1 * 16 * 9 + 16 * 32 * 9 + 32 * 64 * 9 + 64 * 96 * 9  # 3x3 kernels, no bias
    batchnorm = 2 * (16 + 32 + 64 + 96)  # scale and shift per channel
    linear = 96 * 3 * 3 * 10 + 10  # 28 -> 14 -> 7 -> 7 -> 3 after three poolings
    assert count_parameters(model) == convs + batchnorm + linear == 87_546 < 100_000
    out = model(torch.rand(5, 1, 28, 28))
    assert out.shape == (5, 10)
    rgb = ReferenceNet(in_channels=3, num_classes=4, image_size=32)
    assert rgb(torch.rand(2, 3, 32, 32)).shape == (2, 4)
    with pytest.raises(ValueError, match="in_channels=1"):
        ReferenceNet(in_channels=3)(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="at least 8 pixels"):
        ReferenceNet(image_size=4)
    with pytest.raises(ValueError, match=r"\(width, pool\) pairs"):
        ReferenceNet(blocks=(16, 32))


def test_registry_builds_the_reference_model():
    assert isinstance(build_model("reference"), ReferenceNet)


def test_recipe_is_frozen_and_feeds_fit():
    with pytest.raises(dataclasses.FrozenInstanceError):
        REFERENCE_RECIPE.epochs = 1  # type: ignore[misc]
    kwargs = REFERENCE_RECIPE.fit_kwargs()
    assert kwargs["scheduler"] == "onecycle"
    assert kwargs["fast"] is True  # the time targets rely on fit's explicit fast path
    assert kwargs["augment"] == BatchAugment(
        flip=REFERENCE_RECIPE.flip, shift=REFERENCE_RECIPE.shift
    )
    assert SHORT_RECIPE.epochs < REFERENCE_RECIPE.epochs
    # the recipe runs as is (one short epoch on synthetic stand-in tensors)
    images = torch.randint(0, 256, (256, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (256,))
    history = fit(ReferenceNet(), (images, labels), progress=False, **{**kwargs, "epochs": 1})
    assert len(history) == 1
    # the recipe's weight decay reaches the optimizer fit builds
    assert REFERENCE_RECIPE.weight_decay > 0
    assert history.attrs["config"]["optimizer"] == "AdamW"
    assert SHORT_RECIPE.fit_kwargs()["weight_decay"] == SHORT_RECIPE.weight_decay


@pytest.mark.keras
def test_keras_twin_has_the_same_shapes_and_computes_the_same_function():
    from cnncourse.interop import torch_to_keras

    torch.manual_seed(0)
    model = ReferenceNet()
    twin = keras_reference()
    assert count_parameters(twin) == count_parameters(model)
    assert count_parameters(twin, trainable_only=False) == count_parameters(
        model, trainable_only=False
    )
    # give BatchNorm non-trivial statistics, then compare in inference mode
    model.train()
    with torch.no_grad():
        model(torch.rand(64, 1, 28, 28))
    model.eval()
    torch_to_keras(model, twin)
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    expected = model(torch.from_numpy(x)).detach().numpy()
    got = np.asarray(twin(x.transpose(0, 2, 3, 1), training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
