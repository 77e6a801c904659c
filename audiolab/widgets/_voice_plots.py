"""Voice Lab's comparison charts that :mod:`audiolab.plots` has no twin for.

Feature changes against the neutral reading, the A/B win-rate heatmap, and the colour/line
style coding of the overlaid F0 contours. Like :mod:`audiolab.plots`, figures are made with
:class:`matplotlib.figure.Figure` (not pyplot), so Jupyter never shows one twice.

Example:
    >>> import pandas as pd
    >>> m = pd.DataFrame([[float("nan"), 0.75], [0.25, float("nan")]], index=["x", "y"], columns=["x", "y"])
    >>> plot_win_rates(m).get_title()
    'Win rate (row vs column)'
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_feature_deltas", "plot_win_rates", "style_by_vibe_and_voice", "FEATURE_LABELS"]

FEATURE_LABELS = {
    "f0_mean_hz": "mean F0 (Hz)",
    "f0_range_semitones": "F0 range (st)",
    "speaking_rate": "rate (words/s)",
    "pause_ratio": "pause ratio",
    "lufs": "loudness (LUFS)",
    "duration_s": "duration (s)",
}
_STYLES = ("-", "--", ":", "-.")


def _tab10(i: int):
    import matplotlib

    return matplotlib.colormaps["tab10"](i % 10)


def style_by_vibe_and_voice(ax, vibes: list[str], voices: list[str]) -> None:
    """Recolour the lines of ``ax`` (one per take, in order): colour per instruction, style per voice."""
    colours = {v: _tab10(i) for i, v in enumerate(dict.fromkeys(vibes))}
    styles = {v: _STYLES[i % len(_STYLES)] for i, v in enumerate(dict.fromkeys(voices))}
    for line, vibe, voice in zip(ax.get_lines(), vibes, voices):
        line.set_color(colours[vibe])
        line.set_linestyle(styles[voice])
    if ax.get_legend() is not None:
        ax.legend(fontsize="x-small", ncol=2, frameon=False, loc="upper right")


def plot_feature_deltas(deltas, *, baseline: str = "neutral", features=None):
    """One small panel per feature: each instruction's change against ``baseline``.

    Bars are the mean over voices (and models); dots are the individual voices.

    Args:
        deltas: the table from :meth:`VoiceLab.deltas` (voice, model, vibe, feature columns).

    Returns:
        The Figure.
    """
    from audiolab.plots import new_figure

    features = [f for f in (features or FEATURE_LABELS) if f in deltas.columns]
    vibes = list(dict.fromkeys(deltas["vibe"]))
    fig = new_figure(figsize=(2.3 * len(features), 2.9), layout="constrained")
    axes = fig.subplots(1, len(features), squeeze=False)[0]
    x = np.arange(len(vibes))
    for ax, feat in zip(axes, features):
        means = [deltas.loc[deltas["vibe"] == v, feat].mean() for v in vibes]
        ax.bar(x, means, color=[_tab10(i + 1) for i in range(len(vibes))], alpha=0.7)
        for i, v in enumerate(vibes):
            pts = deltas.loc[deltas["vibe"] == v, feat].to_numpy(dtype=float)
            ax.plot(np.full(len(pts), i), pts, "k.", ms=4)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, vibes, rotation=45, ha="right", fontsize="small")
        ax.set_title(f"Δ {FEATURE_LABELS.get(feat, feat)}", fontsize="small")
    fig.suptitle(f"How each instruction moves each feature, against '{baseline}'", fontsize="medium")
    return fig


def plot_win_rates(matrix, *, ax=None):
    """A heatmap of :func:`audiolab.eval.preference.win_rate_matrix` (row beat column); returns the Axes."""
    if ax is None:
        from audiolab.plots import new_figure

        size = 1.5 + 0.6 * len(matrix)
        ax = new_figure(figsize=(size + 2.5, size), layout="constrained").add_subplot()
    values = matrix.to_numpy(dtype=float)
    im = ax.imshow(values, cmap="RdBu", vmin=0, vmax=1)
    ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=45, ha="right", fontsize="x-small")
    ax.set_yticks(range(len(matrix.index)), matrix.index, fontsize="x-small")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.0%}", ha="center", va="center", fontsize="x-small")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, label="row wins")
    ax.set_title("Win rate (row vs column)")
    return ax
