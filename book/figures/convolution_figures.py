"""Draw the diagrams of the chapter "Convolution" as SVG files beside this file.

Run with the course's Python: ``python book/figures/convolution_figures.py``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from _svg import save


def grid(
    ax, x0: float, y0: float, n: int, padding: int = 0, fc: str = "0.93"
) -> None:
    """An n x n grid of unit squares (top row first).

    ``padding`` rings of dashed zeros surround it.
    """
    total = n + 2 * padding
    for r in range(total):
        for c in range(total):
            inside = padding <= r < padding + n and padding <= c < padding + n
            ax.add_patch(
                plt.Rectangle(
                    (x0 + c, y0 + total - 1 - r),
                    1,
                    1,
                    fc=fc if inside else "white",
                    ec="0.45" if inside else "0.7",
                    lw=0.8,
                    ls="-" if inside else "--",
                )
            )
            if not inside:
                ax.text(
                    x0 + c + 0.5,
                    y0 + total - 0.5 - r,
                    "0",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="0.6",
                )


def window(ax, x0, y0, total, row, col, k, colour, style="-"):
    """Outline the k x k window whose top left cell is (row, col).

    The cell is one of a grid drawn by ``grid``.
    """
    ax.add_patch(
        plt.Rectangle(
            (x0 + col, y0 + total - row - k),
            k,
            k,
            fill=False,
            ec=colour,
            lw=2.5,
            ls=style,
        )
    )


def cell(ax, x0, y0, total, row, col, colour):
    """Fill one cell of a grid drawn by ``grid``."""
    ax.add_patch(
        plt.Rectangle(
            (x0 + col, y0 + total - 1 - row), 1, 1, fc=colour, alpha=0.7
        )
    )


def sliding_window() -> None:
    """A 5 x 5 input padded by 1, a 3 x 3 kernel at stride 1 and at stride 2."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    for ax, stride in zip(axes, (1, 2), strict=True):
        n_out = (5 + 2 - 3) // stride + 1
        grid(ax, 0, 0, 5, padding=1)
        grid(ax, 9.5, (7 - n_out) / 2, n_out)
        for (r, c), colour, style in [
            ((0, 0), "tab:orange", "-"),
            ((0, 1), "tab:blue", "--"),
        ]:
            window(ax, 0, 0, 7, r * stride, c * stride, 3, colour, style)
            cell(ax, 9.5, (7 - n_out) / 2, n_out, r, c, colour)
        ax.annotate(
            "",
            xy=(9.2, 3.5),
            xytext=(7.3, 3.5),
            arrowprops={"arrowstyle": "->", "lw": 1.5},
        )
        ax.text(
            8.25, 3.8, "3 x 3\nkernel", ha="center", va="bottom", fontsize=9
        )
        ax.set_title(
            f"padding 1, stride {stride}: 5 x 5 -> {n_out} x {n_out}",
            fontsize=11,
        )
        ax.text(
            3.5,
            -0.6,
            f"next window: {stride} pixel{'s' if stride > 1 else ''} right",
            ha="center",
            va="top",
            fontsize=9,
            color="tab:blue",
        )
        ax.set_xlim(-0.3, 15.3)
        ax.set_ylim(-1.6, 7.3)
        ax.set_aspect("equal")
        ax.axis("off")
    save(fig, "convolution-sliding-window.svg")


def slab(ax, x0, y0, w, h, depth, colour, label=None, step=0.45):
    """``depth`` stacked squares drawn back to front.

    Each is offset from the last, like a 3-D block of channels.
    """
    for d in reversed(range(depth)):
        ax.add_patch(
            plt.Rectangle(
                (x0 + d * step, y0 + d * step),
                w,
                h,
                fc=colour[d % len(colour)],
                ec="black",
                lw=0.8,
            )
        )
    if label:
        ax.text(
            x0 + (w + (depth - 1) * step) / 2,
            y0 - 0.35,
            label,
            ha="center",
            va="top",
            fontsize=9,
        )


RGB = ["#e9a3a3", "#a3d9a3", "#a3b8e9"]


def channels() -> None:
    """Left: O filters of C_in x k x k make O maps. Right: a 1 x 1 conv."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    ax = axes[0]
    slab(ax, 0, 1, 4, 4, 3, RGB, "input: C_in = 3 channels\n(3, H, W)")
    outputs = ["#f4c27a", "#b9a3e9"]
    slab(ax, 10.2, 1, 3, 3, 2, outputs, None, step=0.8)
    for i, (y, target) in enumerate([(1.0, (10.1, 2.0)), (3.8, (11.4, 4.4))]):
        slab(ax, 6.2, y, 1.2, 1.2, 3, RGB, None, step=0.25)
        ax.add_patch(
            plt.Rectangle(
                (6.05, y - 0.15), 2.0, 2.0, fill=False, ec=outputs[i], lw=2.5
            )
        )
        ax.text(
            7.0,
            y - 0.4,
            f"filter {i + 1}: 3 x 3 x 3",
            ha="center",
            va="top",
            fontsize=8,
        )
        ax.annotate(
            "",
            xy=target,
            xytext=(8.1, y + 0.8),
            arrowprops={"arrowstyle": "->", "lw": 1.2},
        )
    ax.text(
        11.7,
        0.6,
        "output: O = 2 maps\n(2, H, W)",
        ha="center",
        va="top",
        fontsize=9,
    )
    ax.text(
        6.8,
        6.6,
        "weights (O, C_in, k, k) = (2, 3, 3, 3)\n"
        "each filter sums over all input channels",
        ha="center",
        fontsize=9,
    )
    ax.set_title("A layer holds O filters of shape C_in x k x k", fontsize=11)
    ax.set_xlim(-0.5, 14.6)
    ax.set_ylim(-1, 7.6)

    ax = axes[1]
    slab(ax, 0, 1, 4, 4, 3, RGB, "input: 3 channels")
    for d in range(3):  # one pixel's column through the three channels
        ax.add_patch(
            plt.Rectangle(
                (1.5 + d * 0.45, 2.5 + d * 0.45),
                0.5,
                0.5,
                fc="tab:orange",
                ec="black",
                lw=0.8,
                zorder=5 - d,
            )
        )
    ax.text(
        7.0, 4.6, "1 x 1 x 3 filter:\nw_r, w_g, w_b", ha="center", fontsize=9
    )
    ax.annotate(
        "",
        xy=(9.6, 3.2),
        xytext=(3.2, 3.2),
        arrowprops={"arrowstyle": "->", "lw": 1.2, "color": "tab:orange"},
    )
    ax.add_patch(
        plt.Rectangle((9.8, 1.2), 3.5, 3.5, fc="0.93", ec="black", lw=0.8)
    )
    ax.add_patch(
        plt.Rectangle(
            (11.3, 2.95), 0.5, 0.5, fc="tab:orange", ec="black", lw=0.8
        )
    )
    ax.text(
        11.55, 0.8, "output map: same H x W", ha="center", va="top", fontsize=9
    )
    ax.text(
        6.8,
        6.6,
        "each output pixel = w_r r + w_g g + w_b b + bias\n"
        "at the same position: a dense layer across channels",
        ha="center",
        fontsize=9,
    )
    ax.set_title(
        "A 1 x 1 convolution mixes channels, not neighbours", fontsize=11
    )
    ax.set_xlim(-0.5, 14.6)
    ax.set_ylim(-1, 7.6)
    for ax in axes:
        ax.set_aspect("equal")
        ax.axis("off")
    save(fig, "convolution-channels.svg")


def main() -> None:
    sliding_window()
    channels()


if __name__ == "__main__":
    main()
