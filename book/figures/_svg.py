"""What every figure script shares: headless backend, repeatable SVG, one save.

Each ``<chapter>_figures.py`` draws its diagrams with matplotlib and saves them
with :func:`save`. After changing a drawing, run the script with the course's
Python (``python book/figures/pooling_figures.py``) and commit the SVG beside
it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
plt.rcParams["svg.hashsalt"] = "cnncourse"  # the same element ids on every run


def save(
    fig, name: str | Path, *, tight_layout: bool = False, crop: bool = False
) -> Path:
    """Write ``fig`` as SVG without a date stamp and close it.

    A bare name lands in HERE.
    """
    path = HERE / name if isinstance(name, str) else Path(name)
    if tight_layout:
        fig.tight_layout()
    fig.savefig(
        path,
        metadata={"Date": None},
        **({"bbox_inches": "tight"} if crop else {}),
    )
    plt.close(fig)
    return path
