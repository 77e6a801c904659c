"""The figure of a session's calls: latency per call by model, cumulative cost on a twin axis.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"model": ["tts-1", "whisper-1"], "total_s": [0.8, 1.2],
    ...                       "ttfb_s": [0.2, 1.1], "cost_usd": [0.001, 0.002]})
    >>> ax = plot_history(frame)
    >>> ax.get_title(), [t.get_text() for t in ax.get_legend().get_texts()]
    ('audiolab calls', ['tts-1', 'whisper-1'])
"""

from __future__ import annotations

from audiolab.plots.figure import new_figure

__all__ = ["plot_history"]


def plot_history(frame, *, ax=None):
    """Plot latency per call (total as dots, TTFB as rings) coloured by model, cost on a twin axis.

    Args:
        frame: ``lab.history.frame``.
        ax: a Matplotlib Axes to draw on (a new figure if None).

    Returns:
        The Axes with the latency plot (its twin holds the cumulative cost).
    """
    if ax is None:
        ax = new_figure(figsize=(8, 3.5), layout="constrained").add_subplot()
    x = range(len(frame))
    models = frame["model"].fillna("(none)")
    for i, model in enumerate(sorted(models.unique())):
        sel = models == model
        idx = [j for j, s in zip(x, sel) if s]
        colour = f"C{i % 10}"
        ax.scatter(idx, frame.loc[sel, "total_s"], color=colour, label=model, s=22)
        ax.scatter(idx, frame.loc[sel, "ttfb_s"], facecolors="none", edgecolors=colour, s=22)
    ax.set_xlabel("call")
    ax.set_ylabel("seconds (dot: total, ring: first byte)")
    if len(frame):
        ax.legend(fontsize="small", loc="upper left")
        twin = ax.twinx()
        twin.step(list(x), frame["cost_usd"].fillna(0).cumsum(), where="post", color="0.3", lw=1)
        twin.set_ylabel("cumulative cost (USD)")
    ax.set_title("audiolab calls")
    return ax
