"""``History``: one row per epoch, the same table for the PyTorch loop and for Keras.

Both :func:`cnncourse.train.fit` and :func:`cnncourse.train.keras.history_frame`
return it, so learning curves, comparisons and exercise checks never care which
framework trained the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")

# metrics where a smaller value is better; everything else is maximised
_MINIMISE = {"loss", "val_loss", "seconds"}


class History(pd.DataFrame):
    """A :class:`pandas.DataFrame` with the columns ``epoch, loss, accuracy, val_loss,
    val_accuracy, lr, seconds`` (``val_*`` are NaN without validation data).

    ``epoch`` counts from 1; ``lr`` is the learning rate of the epoch's last step
    (as Keras logs it);
    ``seconds`` is the wall-clock time of the epoch, validation included.
    """

    @property
    def _constructor(self):
        # slices and copies of a History stay Histories (pandas' subclassing protocol)
        return History

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, float]]) -> History:
        """Build from one mapping per epoch; missing columns become NaN, extra keys are an error."""
        rows = list(rows)
        for row in rows:
            extra = set(row) - set(COLUMNS)
            if extra:
                raise ValueError(
                    f"unknown History columns {sorted(extra)}; the columns are {list(COLUMNS)}."
                )
        frame = cls(
            {name: [row.get(name, np.nan) for row in rows] for name in COLUMNS},
            columns=list(COLUMNS),
        )
        frame = frame.astype({name: "float64" for name in COLUMNS if name != "epoch"})
        return frame.astype({"epoch": "int64"})

    def best(self, metric: str = "val_accuracy") -> pd.Series:
        """The row (an epoch) with the best value of ``metric``.

        Losses and ``seconds`` are minimised, accuracies maximised. Raises when
        the metric was never recorded (e.g. ``val_accuracy`` without validation data).
        """
        if metric not in self.columns:
            raise ValueError(f"unknown metric {metric!r}; choose one of {list(self.columns)}.")
        values = self[metric]
        if len(values) == 0 or values.isna().all():
            hint = " (pass validation data to fit)" if metric.startswith("val_") else ""
            raise ValueError(f"no values were recorded for {metric!r}{hint}.")
        position = values.idxmin() if metric in _MINIMISE else values.idxmax()
        return pd.Series(self.loc[position], name=position)

    @property
    def total_seconds(self) -> float:
        """Wall-clock time of all epochs together."""
        return float(self["seconds"].sum())
