"""Draw the evaluation chapter's diagram: binary heads with one logit and two.

Run with the course's Python from the repository root; writes
book/figures/evaluation-binary-heads.svg.
"""

import matplotlib.pyplot as plt
from _svg import save

FEATURES = "#9dc3e6"  # the shared convolutional features
LOGIT = "#f4b183"  # the dense layer's outputs
PROBABILITY = "#a9d18e"  # what the activation turns them into


def box(
    ax, x: float, y: float, text: str, color: str, width: float = 1.5
) -> None:
    """A rounded box centred at ``(x, y)`` with ``text`` inside."""
    ax.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        fontsize=9,
        bbox={
            "boxstyle": "round,pad=0.4",
            "fc": color,
            "ec": "black",
            "lw": 0.8,
        },
        wrap=True,
    )


def arrow(
    ax, start: tuple[float, float], end: tuple[float, float], label: str = ""
) -> None:
    """An arrow from ``start`` to ``end``, with ``label`` above its middle."""
    ax.annotate(
        "", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "lw": 1}
    )
    if label:
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.22)
        ax.text(
            *middle,
            label,
            ha="center",
            va="bottom",
            fontsize=8,
            color="#444444",
        )


def head(
    ax, y: float, title: str, logits: list[str], outputs: list[str], rule: str
) -> None:
    """One row: features -> dense -> logits -> activation -> probabilities."""
    ax.text(
        -0.3,
        y + 1.15,
        title,
        ha="left",
        va="bottom",
        fontsize=10,
        weight="bold",
    )
    box(ax, 0.7, y, "conv features\n(784 numbers)", FEATURES)
    spread = [0.0] if len(logits) == 1 else [0.45, -0.45]
    for offset, logit, output in zip(spread, logits, outputs, strict=True):
        arrow(ax, (1.55, y), (3.05, y + offset))
        box(ax, 3.6, y + offset, logit, LOGIT)
        for target in spread:  # softmax mixes both logits into each probability
            arrow(ax, (4.15, y + offset), (5.75, y + target))
        box(ax, 6.65, y + offset, output, PROBABILITY)
    ax.text(
        2.3,
        y - 0.85,
        "Linear / Dense",
        ha="center",
        fontsize=8,
        color="#444444",
    )
    ax.text(4.95, y - 0.85, rule, ha="center", fontsize=8, color="#444444")


def main() -> None:
    fig, ax = plt.subplots(figsize=(9, 5.2))
    head(
        ax,
        3.4,
        "One output: sigmoid + binary cross-entropy",
        ["$z$"],
        ["$p = \\sigma(z)$\nP(shirt)"],
        "sigmoid",
    )
    head(
        ax,
        0.4,
        "Two outputs: softmax + cross-entropy",
        ["$z_0$", "$z_1$"],
        ["P(not shirt)", "$p = e^{z_1} / (e^{z_0} + e^{z_1})$\nP(shirt)"],
        "softmax",
    )
    ax.text(
        4.2,
        -1.35,
        "$e^{z_1} / (e^{z_0} + e^{z_1}) = \\sigma(z_1 - z_0)$: "
        "the two-output head is a one-output head\n"
        "whose logit is $z = z_1 - z_0$ "
        "(weights $w_1 - w_0$, bias $b_1 - b_0$).",
        ha="center",
        va="center",
        fontsize=9,
    )
    ax.set_xlim(-0.4, 8.0)
    ax.set_ylim(-1.9, 4.9)
    ax.axis("off")
    save(fig, "evaluation-binary-heads.svg", tight_layout=True)


if __name__ == "__main__":
    main()
