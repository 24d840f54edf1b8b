"""Training recipes: the settings that make "the reference run" mean one thing everywhere.

A :class:`Recipe` is how to train a model, not the model: epochs, batch, learning rate
and schedule, augmentation, weight decay, test-time flips. :data:`SHORT_RECIPE` and
:data:`REFERENCE_RECIPE` train :class:`cnncourse.models.reference.ReferenceNet` for the
benchmark's two accuracy targets; ``fit(model, train, test, **recipe.fit_kwargs())``
runs one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from cnncourse.models.tta import FlipAveraged
from cnncourse.train.batches import BatchAugment


@dataclass(frozen=True)
class Recipe:
    """How to train the reference model: pass ``**recipe.fit_kwargs()`` to ``cnncourse.train.fit``.

    Attributes
    ----------
    epochs, batch_size, lr : int, int, float
        The run's length, batch and peak learning rate (Adam).
    scheduler : str
        The learning-rate schedule's name for ``fit`` (one-cycle: warm up, then anneal).
    flip, shift, erase : bool, int, int
        Per-sample augmentation (``BatchAugment``): random left-right flips, random
        shifts of up to ``shift`` pixels, a black ``erase`` x ``erase`` square.
    weight_decay : float
        Decoupled weight decay (AdamW when > 0; see ``default_optimizer``).
    flip_test : bool
        Judge the model by flip-averaged predictions
        (:class:`~cnncourse.models.tta.FlipAveraged`): wrap it with :meth:`for_testing`.
    fast : bool
        Train with ``fit(..., fast=True)`` (fused Adam, channels-last): the time targets
        are met that way on a CPU.
    """

    epochs: int
    batch_size: int
    lr: float
    scheduler: str = "onecycle"
    flip: bool = True
    shift: int = 0
    erase: int = 0
    weight_decay: float = 0.0
    flip_test: bool = False
    fast: bool = True

    def for_testing(self, model: nn.Module) -> nn.Module:
        """``model`` as this recipe evaluates it: flip-averaged when ``flip_test``, else as is."""
        return FlipAveraged(model) if self.flip_test else model

    def augment(self) -> BatchAugment | None:
        """The :class:`~cnncourse.train.BatchAugment` of this recipe (``None`` without one)."""
        if not (self.flip or self.shift or self.erase):
            return None
        return BatchAugment(flip=self.flip, shift=self.shift, erase=self.erase)

    def fit_kwargs(self) -> dict:
        """Keyword arguments for ``cnncourse.train.fit``."""
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "scheduler": self.scheduler,
            "augment": self.augment(),
            "fast": self.fast,
        }

    def as_dict(self) -> dict:
        """The recipe's fields as a plain dict, for a results table."""
        return asdict(self)


# The long run, for the 93.5%-in-10-minutes target, judged on flip-averaged predictions;
# benchmarks/results/ holds its runs.
REFERENCE_RECIPE = Recipe(
    epochs=30,
    batch_size=128,
    lr=3e-3,
    scheduler="onecycle",
    flip=True,
    shift=1,
    weight_decay=0.1,
    flip_test=True,
)
# The short run, for the 92.5%-in-3-minutes target.
SHORT_RECIPE = Recipe(epochs=12, batch_size=128, lr=3e-3, scheduler="onecycle", flip=True, shift=0)
