"""Shared figure plumbing for :mod:`audiolab.plots`: a pyplot-free Figure, colours, axes styling.

Example:
    >>> fig, ax = _new()
    >>> type(fig).__name__, ax is fig.axes[0]
    ('Figure', True)
    >>> _new(ax=ax)[1] is ax
    True
    >>> _get({"start": 1.5}, "start"), _get(object(), "start", 0.0)
    (1.5, 0.0)
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["new_figure"]

_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


_OP_COLORS = {"equal": "#222222", "substitute": "#E69F00", "delete": "#C0392B", "insert": "#009E73"}

_INLINE_SHELLS: set[int] = set()


def new_figure(**kwargs):
    """A pyplot-free ``Figure`` that still shows inline in IPython, with no ``%matplotlib`` needed.

    The library never touches pyplot's global state; instead, the first figure made inside an
    IPython kernel registers the PNG formatter that displays Figures.
    """
    from matplotlib.figure import Figure

    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        shell = None
    if shell is not None and id(shell) not in _INLINE_SHELLS:
        from IPython.core.pylabtools import select_figure_formats

        select_figure_formats(shell, {"png"})
        _INLINE_SHELLS.add(id(shell))
    return Figure(**kwargs)


def _new(nrows: int = 1, *, figsize=(7.0, 3.2), ax=None, polar: bool = False, **kw):
    """(figure, axes): the given ``ax`` and its figure, or a new constrained-layout Figure."""
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(figsize=figsize, layout="constrained")
    if nrows == 1:
        return fig, fig.add_subplot(projection="polar" if polar else None)
    return fig, fig.subplots(nrows, 1, **kw)


def _clean(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(True, axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def _percent():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def _rect(xy, w, h, color):
    from matplotlib.patches import Rectangle

    return Rectangle(xy, w, h, facecolor=color, alpha=0.35, edgecolor="none")


def _get(item, name, default=None):
    return item.get(name, default) if isinstance(item, Mapping) else getattr(item, name, default)
