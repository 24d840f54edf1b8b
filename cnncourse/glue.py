"""Numbers in a chapter's prose come from the cell that computed them (myst-nb ``glue``).

A chapter writes ``glue("best_accuracy", accuracy)`` in a code cell and
``{glue:text}`best_accuracy:.1%``` in its prose; the rendered book shows the value
that cell produced, so the text never goes stale when a run changes. Where myst-nb is
not installed (Colab, a plain script) the call does nothing: the reader sees the value
in the cell's own output instead.
"""

from __future__ import annotations

from typing import Any

try:
    from myst_nb import glue as _myst_glue
except ImportError:  # Colab or a PyTorch-only install: no book toolchain
    _myst_glue = None


def glue(name: str, value: Any, *, display: bool = False) -> Any:
    """Store ``value`` under ``name`` for the book's ``{glue:text}`` roles; return ``value``.

    A NumPy or PyTorch scalar is stored as the Python number it holds: the role reads
    the stored text back as a literal to apply a format spec such as ``:.1%``, and
    ``np.float64(0.9)`` is not one.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"glue names are Python-identifier-like strings, got {name!r}.")
    if _myst_glue is not None:
        _myst_glue(name, _plain(value), display=display)
    return value


def _plain(value: Any) -> Any:
    """A zero-dimensional array or tensor (NumPy scalars too) as its Python number."""
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        return value.item()
    return value
