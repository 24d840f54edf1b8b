"""Test-time augmentation: predict from an image and its mirror image, and average.

A model trained with random left-right flips has learned that a mirrored shirt is
still a shirt, so at test time the mirror image is a second, slightly different
opinion about the same photo. Averaging the two predicted probability vectors costs
one more forward pass per prediction and typically removes a few of the model's mistakes.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class FlipAveraged(nn.Module):
    """Wraps ``model``: in eval mode it averages the class probabilities for ``x`` and for
    ``x`` flipped left-right; in train mode it is ``model`` unchanged.

    The output stays logits: the log of the averaged probabilities, so softmax gives
    the averaged probabilities back and ``CrossEntropyLoss`` scores them directly.

    So ``fit(FlipAveraged(model), train, test)`` trains ``model`` as usual and reports
    flip-averaged test accuracy. Only sensible when a mirrored image keeps its label
    (clothes, animals), not for digits or text. Adds no parameters.

    Input ``(N, C, H, W)`` floats; output ``(N, num_classes)`` logits.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"FlipAveraged wraps a torch nn.Module, got {type(model).__name__}.")
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)  # (N, K)
        if self.training:
            return logits
        mirrored = self.model(x.flip(-1))  # (N, K): the mirror image reverses the width axis
        log_probs = torch.stack([logits.log_softmax(-1), mirrored.log_softmax(-1)])  # (2, N, K)
        return torch.logsumexp(log_probs, dim=0) - math.log(2)  # log of the mean probability
