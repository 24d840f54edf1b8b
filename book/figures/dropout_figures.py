"""Draw the dropout diagram: thinned networks in training, the full one at test.

Run with the course's Python from the repository root; writes
book/figures/dropout-thinned-networks.svg.
"""

import matplotlib.pyplot as plt
import numpy as np
from _svg import save

LAYERS = (3, 5, 5, 2)  # units per layer: input, two hidden layers, output


def draw_network(
    ax, x0: float, dropped: set[tuple[int, int]], title: str
) -> None:
    """A small fully connected network; units in ``dropped`` are crossed out."""
    positions = {}
    for layer, units in enumerate(LAYERS):
        for unit in range(units):
            positions[layer, unit] = (x0 + layer * 0.7, (units - 1) / 2 - unit)
    for layer in range(len(LAYERS) - 1):
        for a in range(LAYERS[layer]):
            for b in range(LAYERS[layer + 1]):
                alive = (layer, a) not in dropped and (
                    layer + 1,
                    b,
                ) not in dropped
                (xa, ya), (xb, yb) = (
                    positions[layer, a],
                    positions[layer + 1, b],
                )
                ax.plot(
                    [xa, xb],
                    [ya, yb],
                    color="black" if alive else "#dddddd",
                    lw=0.6 if alive else 0.4,
                    zorder=1,
                )
    for key, (x, y) in positions.items():
        gone = key in dropped
        ax.scatter(
            [x],
            [y],
            s=110,
            zorder=2,
            edgecolors="black",
            c="white" if gone else "#9dc3e6",
        )
        if gone:
            ax.plot(
                [x - 0.12, x + 0.12],
                [y - 0.25, y + 0.25],
                color="#c00000",
                lw=1.5,
                zorder=3,
            )
            ax.plot(
                [x - 0.12, x + 0.12],
                [y + 0.25, y - 0.25],
                color="#c00000",
                lw=1.5,
                zorder=3,
            )
    ax.text(x0 + 1.05, 2.9, title, ha="center", fontsize=9)


def main() -> None:
    rng = np.random.default_rng(3)
    fig, ax = plt.subplots(figsize=(11, 3.4))
    for i in range(3):
        dropped = {
            (layer, unit)
            for layer in (1, 2)
            for unit in range(LAYERS[layer])
            if rng.random() < 0.4
        }
        draw_network(
            ax, i * 2.9, dropped, f"training step {i + 1}:\na thinned network"
        )
    ax.axvline(8.05, color="grey", ls="--", lw=1)
    draw_network(
        ax, 8.6, set(), "inference: the full network,\nsame weights, run once"
    )
    ax.set_xlim(-0.4, 11.0)
    ax.set_ylim(-2.8, 3.7)
    ax.axis("off")
    save(fig, "dropout-thinned-networks.svg", tight_layout=True)


if __name__ == "__main__":
    main()
