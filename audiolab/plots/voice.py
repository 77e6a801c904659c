"""Figures that compare voices: measured features, F0 contours by instruction, preference results.

Example:
    >>> import pandas as pd
    >>> m = pd.DataFrame([[float("nan"), 0.75], [0.25, float("nan")]], index=["x", "y"], columns=["x", "y"])
    >>> plot_win_rates(m).get_title()
    'Win rate (row vs column)'
    >>> feats = pd.DataFrame({"f0_mean_hz": [110.0, 180.0], "lufs": [-20.0, -18.0]}, index=["joe", "amy"])
    >>> fig = plot_voice_features(feats)
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['joe', 'amy']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from audiolab.plots.figure import _COLORS, _clean, _new, new_figure

__all__ = ["plot_voice_features", "plot_bradley_terry", "plot_feature_deltas", "plot_win_rates",
           "style_by_vibe_and_voice", "FEATURE_LABELS"]

FEATURE_LABELS = {
    "f0_mean_hz": "mean F0 (Hz)",
    "f0_range_semitones": "F0 range (st)",
    "speaking_rate": "rate (words/s)",  # prosody(text=...) counts words; VoiceLab always passes the text
    "pause_ratio": "pause ratio",
    "lufs": "loudness (LUFS)",
    "duration_s": "duration (s)",
}
_STYLES = ("-", "--", ":", "-.")


def _tab10(i: int):
    import matplotlib

    return matplotlib.colormaps["tab10"](i % 10)


def style_by_vibe_and_voice(ax, vibes: list[str], voices: list[str]) -> None:
    """Recolour the lines of ``ax`` (one per take, in order): colour per instruction, style per voice.

    The legend then has one entry per instruction (its colour) and one per voice (its line style),
    not one per line, and sits outside the axes, right of the traces.

    Example:
        >>> from audiolab.plots.figure import new_figure
        >>> ax = new_figure().add_subplot()
        >>> for _ in range(4):
        ...     _ = ax.plot([0, 1], [100, 120])
        >>> style_by_vibe_and_voice(ax, ["calm", "whisper", "calm", "whisper"], ["alloy", "alloy", "coral", "coral"])
        >>> [t.get_text() for t in ax.get_legend().get_texts()]
        ['instruction', 'calm', 'whisper', 'voice', 'alloy', 'coral']
    """
    from matplotlib.lines import Line2D

    colours = {v: _tab10(i) for i, v in enumerate(dict.fromkeys(vibes))}
    styles = {v: _STYLES[i % len(_STYLES)] for i, v in enumerate(dict.fromkeys(voices))}
    for line, vibe, voice in zip(ax.get_lines(), vibes, voices):
        line.set_color(colours[vibe])
        line.set_linestyle(styles[voice])
    heading = lambda text: Line2D([], [], linestyle="none", label=text)  # noqa: E731
    handles = ([heading("instruction")] + [Line2D([], [], color=c, lw=2, label=v) for v, c in colours.items()]
               + [heading("voice")] + [Line2D([], [], color="0.25", ls=st, lw=1.5, label=v)
                                       for v, st in styles.items()])
    legend = ax.legend(handles=handles, fontsize="small", frameon=False, loc="upper left",
                       bbox_to_anchor=(1.01, 1.0), handlelength=2.2)
    for text in legend.get_texts():
        if text.get_text() in ("instruction", "voice") and text.get_text() not in colours | styles:
            text.set_fontweight("bold")


def plot_feature_deltas(deltas, *, baseline: str = "neutral", features=None):
    """One small panel per feature: each instruction's change against ``baseline``.

    Bars are the mean over voices (and models); dots are the individual voices.

    Args:
        deltas: the table from :meth:`VoiceLab.deltas` (voice, model, vibe, feature columns).

    Returns:
        The Figure.
    """
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


def _feature_table(features):
    import pandas as pd

    if isinstance(features, Mapping):
        rows = {k: (v.to_dict() if hasattr(v, "to_dict") else dict(v)) for k, v in features.items()}
        features = pd.DataFrame.from_dict(rows, orient="index")
    return features.select_dtypes("number").dropna(axis=1, how="all")


def plot_voice_features(features, *, ax=None, kind: str = "parallel"):
    """Compare voices on their measured features, min-max scaled per feature.

    Args:
        features: a DataFrame indexed by voice with numeric columns, or ``{voice: ProsodyFeatures}``.
        kind: ``"parallel"`` (parallel coordinates, raw ranges written under each axis) or
            ``"radar"``.
    """
    t = _feature_table(features)
    lo, hi = t.min(), t.max()
    scaled = (t - lo) / (hi - lo).replace(0, 1)
    cols = list(t.columns)
    if kind == "radar":
        fig, ax = _new(ax=ax, figsize=(5.0, 5.0), polar=True)
        ang = np.linspace(0, 2 * np.pi, len(cols), endpoint=False)
        for i, (name, row) in enumerate(scaled.iterrows()):
            v = row.to_numpy(float)
            ax.plot(np.r_[ang, ang[:1]], np.r_[v, v[:1]], color=_COLORS[i % len(_COLORS)], label=str(name))
            ax.fill(np.r_[ang, ang[:1]], np.r_[v, v[:1]], color=_COLORS[i % len(_COLORS)], alpha=0.08)
        ax.set_xticks(ang, cols, fontsize=8)
        ax.set_yticklabels([])
    else:
        fig, ax = _new(ax=ax, figsize=(max(5.0, 1.3 * len(cols)), 3.6))
        for i, (name, row) in enumerate(scaled.iterrows()):
            ax.plot(
                range(len(cols)), row.to_numpy(float), "-o", color=_COLORS[i % len(_COLORS)], label=str(name)
            )
        ax.set_xticks(range(len(cols)), [f"{c}\n{lo[c]:.3g}–{hi[c]:.3g}" for c in cols], fontsize=7)
        ax.set_yticks([0, 1], ["min", "max"])
        for k in range(len(cols)):
            ax.axvline(k, color="#bbbbbb", linewidth=0.8, zorder=0)
        _clean(ax)
    ax.legend(frameon=False, fontsize=8, loc="upper right", bbox_to_anchor=(1.0, 1.15), ncols=min(len(t), 4))
    return fig


def plot_bradley_terry(result: Any, *, ax=None):
    """Forest plot of Bradley-Terry strengths with 95% bootstrap intervals, strongest on top."""
    df = result.to_frame().iloc[::-1].reset_index(drop=True)
    fig, ax = _new(ax=ax, figsize=(5.5, 0.45 * len(df) + 1.2))
    ax.errorbar(df["score"], range(len(df)), xerr=[np.clip(df["score"] - df["ci_low"], 0, None),
                                                  np.clip(df["ci_high"] - df["score"], 0, None)],
                fmt="o", color=_COLORS[0], capsize=3)
    ax.axvline(0, color="#888888", linewidth=0.8, linestyle="--")
    ax.set_yticks(range(len(df)), [f"{r.item} ({r.wins:g}/{r.games})" for r in df.itertuples()])
    ax.set_xlabel("Bradley–Terry strength (log-odds vs. average)")
    _clean(ax)
    ax.grid(False, axis="y")
    return fig
