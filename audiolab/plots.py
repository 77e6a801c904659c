"""Publication-clean matplotlib figures for audio, ASR evaluations and voice comparisons.

Every function takes its data first and ``ax=None``: without ``ax`` it makes its own
:class:`matplotlib.figure.Figure` (not through pyplot, so nothing is shown twice in Jupyter and
nothing global changes); with ``ax`` it draws there. Each returns the Figure and never calls
``plt.show()``. matplotlib is imported only when a function runs.

The evaluation plots read the tidy frame of :func:`audiolab.eval.runner.evaluate` (or its
:func:`~audiolab.eval.metrics.summarize` table, or a ``{name: Score}`` dict) and show 95%
bootstrap intervals as error bars.

Example:
    >>> from audiolab.eval.datasets import real_speech
    >>> fig = plot_audio(real_speech()[0].audio)
    >>> fig.savefig("clip.png")   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "new_figure",
    "plot_audio", "plot_timeline", "plot_wer", "plot_sdi", "plot_wer_vs_snr", "plot_wer_vs_rtfx",
    "plot_utterance_strip", "top_substitutions", "plot_alignment", "plot_latency_cdf",
    "plot_voice_features", "plot_f0_contours", "plot_bradley_terry",
]

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


def _draw_wave(ax, audio, *, max_points: int = 4000) -> None:
    x = audio.to_mono().samples
    t = np.arange(len(x)) / audio.sr
    if len(x) > max_points:  # min/max envelope keeps peaks visible on long clips
        k = int(np.ceil(len(x) / max_points))
        n = len(x) // k * k
        blocks = x[:n].reshape(-1, k)
        tb = t[:n:k]
        ax.fill_between(tb, blocks.min(1), blocks.max(1), color=_COLORS[0], linewidth=0)
    else:
        ax.plot(t, x, color=_COLORS[0], linewidth=0.6)
    ax.set_xlim(0, max(audio.duration, 1e-3))
    ax.set_ylabel("amplitude")
    _clean(ax)


def plot_audio(audio, *, ax=None, spectrogram: bool = True, title: str | None = None):
    """Waveform, and below it a log-power spectrogram (when the figure is new).

    Example:
        >>> fig = plot_audio(real_speech()[0].audio)   # doctest: +SKIP
    """
    if ax is not None or not spectrogram:
        fig, ax = _new(ax=ax)
        _draw_wave(ax, audio)
        ax.set_xlabel("time (s)")
        if title:
            ax.set_title(title)
        return fig
    fig, (wave, spec) = _new(2, figsize=(8.0, 4.5), sharex=True, gridspec_kw={"height_ratios": [1, 1.6]})
    _draw_wave(wave, audio)
    x = audio.to_mono().samples.astype(np.float64)
    nfft = 1 << int(np.ceil(np.log2(0.025 * audio.sr)))
    with np.errstate(divide="ignore"):  # digital silence has zero power: -inf dB is drawn as the floor
        spec.specgram(x + 1e-9, NFFT=nfft, Fs=audio.sr, noverlap=nfft * 3 // 4, cmap="magma", scale="dB")
    spec.set_ylim(0, min(audio.sr / 2, 8000))
    spec.set_xlim(0, max(audio.duration, 1e-3))  # specgram's extent overhangs by half a window
    spec.set_ylabel("frequency (Hz)")
    spec.set_xlabel("time (s)")
    wave.set_title(title or (audio.text if audio.text and len(audio.text) < 90 else "") or "")
    return fig


def _get(item, name, default=None):
    return item.get(name, default) if isinstance(item, Mapping) else getattr(item, name, default)


def plot_timeline(audio, *, words=None, segments=None, events=None, ax=None):
    """Waveform with word and segment spans drawn underneath and events as marked lines.

    Args:
        words: items with ``word``, ``start``, ``end`` (OpenAI ``TranscriptionWord`` or dicts).
        segments: items with ``text``, ``start``, ``end``.
        events: ``[(t_seconds, label), ...]``, e.g. VAD starts or first-audio times.

    Example:
        >>> plot_timeline(clip, words=tr.words, events=[(0.42, "speech_started")])   # doctest: +SKIP
    """
    if ax is None:
        fig, (wave, lane) = _new(2, figsize=(9.0, 3.8), sharex=True, gridspec_kw={"height_ratios": [1.3, 1]})
    else:
        fig, wave = ax.figure, ax
        lane = ax.inset_axes([0, -0.55, 1, 0.45], sharex=ax)
    _draw_wave(wave, audio)
    lane.set_ylim(0, 2)
    lane.set_yticks([0.5, 1.5], ["segments", "words"])
    for side in ("top", "right", "left"):
        lane.spines[side].set_visible(False)
    for row, items, key in ((1.5, words or [], "word"), (0.5, segments or [], "text")):
        for k, it in enumerate(items):
            s, e = float(_get(it, "start", 0.0)), float(_get(it, "end", 0.0))
            lane.add_patch(_rect((s, row - 0.4), max(e - s, 1e-3), 0.8, _COLORS[(k % 2) + 1]))
            label = str(_get(it, key, "")).strip()
            if row < 1 and len(label) > 40:
                label = label[:38] + "…"
            lane.text((s + e) / 2, row, label, ha="center", va="center", fontsize=7, clip_on=True)
    for k, (t, label) in enumerate(events or []):
        for a in (wave, lane):
            a.axvline(float(t), color=_COLORS[3], linewidth=1, linestyle="--")
        wave.annotate(str(label), (float(t), 1.0), xycoords=("data", "axes fraction"), rotation=90,
                      fontsize=7, va="top", ha="right", color=_COLORS[3])
    lane.set_xlabel("time (s)")
    return fig


def _rect(xy, w, h, color):
    from matplotlib.patches import Rectangle

    return Rectangle(xy, w, h, facecolor=color, alpha=0.35, edgecolor="none")


def _summary(data, by: Sequence[str]):
    """A summarize()-shaped table from an evaluate() frame, a summary, or a {name: Score} dict."""
    import pandas as pd

    from audiolab.eval.metrics import summarize

    if isinstance(data, Mapping):
        return pd.DataFrame([{by[0]: name, "wer": s.wer, "ci_low": s.ci[0], "ci_high": s.ci[1],
                              "substitutions": s.substitutions, "deletions": s.deletions,
                              "insertions": s.insertions, "ref_words": s.ref_words} for name, s in data.items()])
    if "clip_id" in data.columns:
        by = [b for b in by if b in data.columns]
        return summarize(data, by=by)
    return data


def plot_wer(df_or_scores, *, ax=None):
    """Corpus WER as bars with 95% CI: models × conditions, the longer list on the x axis.

    Example:
        >>> plot_wer(df)   # doctest: +SKIP
    """
    s = _summary(df_or_scores, ["model", "condition"]).reset_index(drop=True)
    dims = [c for c in ("model", "condition") if c in s.columns] or [s.columns[0]]
    levels = {d: list(dict.fromkeys(s[d])) for d in dims}
    x_dim = max(dims, key=lambda d: len(levels[d]))
    hue_dim = next((d for d in dims if d != x_dim and len(levels[d]) > 1), None)
    xs, hues = levels[x_dim], (levels[hue_dim] if hue_dim else [None])
    fig, ax = _new(ax=ax, figsize=(max(4.0, len(xs) * (0.45 + 0.3 * len(hues)) + 1.5), 3.4))
    width = 0.8 / len(hues)
    for j, hue in enumerate(hues):
        sub = s if hue is None else s[s[hue_dim] == hue]
        pos = [xs.index(v) + (j - (len(hues) - 1) / 2) * width for v in sub[x_dim]]
        wer = sub["wer"].to_numpy(float)
        err = np.vstack([wer - sub["ci_low"].to_numpy(float), sub["ci_high"].to_numpy(float) - wer])
        bars = ax.bar(pos, wer, width * 0.9, yerr=np.nan_to_num(np.clip(err, 0, None)), capsize=3,
                      color=_COLORS[j % len(_COLORS)], label=None if hue is None else str(hue))
        if len(hues) * len(xs) <= 16:
            ax.bar_label(bars, labels=[f"{w:.1%}" for w in wer], fontsize=7, padding=2)
    ax.set_xticks(range(len(xs)), [str(v) for v in xs], rotation=30 if len(xs) > 5 else 0,
                  ha="right" if len(xs) > 5 else "center")
    ax.set_ylabel("WER (95% CI)")
    ax.yaxis.set_major_formatter(_percent())
    if hue_dim:
        ax.legend(fontsize=8, frameon=False, ncols=min(len(hues), 4))
    _clean(ax)
    return fig


def _percent():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def plot_sdi(df_or_scores, *, ax=None):
    """Stacked bars of substitution, deletion and insertion rates (each ÷ reference words)."""
    s = _summary(df_or_scores, ["model", "condition"])
    fig, ax = _new(ax=ax, figsize=(max(4.0, 0.9 * len(s) + 2), 3.4))
    label_cols = [c for c in ("model", "condition") if c in s and s[c].nunique() > 1] or [s.columns[0]]
    labels = [" / ".join(str(r[c]) for c in label_cols) for _, r in s.iterrows()]
    bottom = np.zeros(len(s))
    n = s["ref_words"].to_numpy(float)
    for k, (col, name) in enumerate((("substitutions", "S"), ("deletions", "D"), ("insertions", "I"))):
        rate = np.divide(s[col].to_numpy(float), n, out=np.zeros(len(s)), where=n > 0)
        ax.bar(range(len(s)), rate, 0.6, bottom=bottom, label=name, color=_COLORS[k])
        bottom += rate
    ax.set_xticks(range(len(s)), labels, rotation=30 if len(s) > 4 else 0, ha="right" if len(s) > 4 else "center")
    ax.set_ylabel("errors / reference words")
    ax.yaxis.set_major_formatter(_percent())
    ax.legend(frameon=False, fontsize=8)
    _clean(ax)
    return fig


def plot_wer_vs_snr(df, *, ax=None):
    """WER against SNR, one line per model (colour) and noise type (line style), with CI bands.

    The clean condition is drawn at the right end, labelled "clean".
    """
    from audiolab.eval.metrics import summarize

    fig, ax = _new(ax=ax, figsize=(6.5, 3.6))
    s = summarize(df, by=["model", "condition", "noise", "snr_db"])
    snrs = sorted(v for v in s["snr_db"].dropna().unique())
    clean_x = (max(snrs) if snrs else 0) + 10
    clean = s[s["snr_db"].isna()]
    styles = ("-", "--", ":", "-.")
    for i, model in enumerate(dict.fromkeys(s["model"])):
        for j, noise in enumerate([n for n in dict.fromkeys(s["noise"]) if isinstance(n, str)] or [None]):
            sub = s[(s["model"] == model) & (s["noise"] == noise)].sort_values("snr_db")
            c = clean[clean["model"] == model]
            x = np.r_[sub["snr_db"].to_numpy(float), [clean_x] * len(c)]
            y = np.r_[sub["wer"].to_numpy(float), c["wer"].to_numpy(float)]
            lo = np.r_[sub["ci_low"].to_numpy(float), c["ci_low"].to_numpy(float)]
            hi = np.r_[sub["ci_high"].to_numpy(float), c["ci_high"].to_numpy(float)]
            color = _COLORS[i % len(_COLORS)]
            ax.plot(x, y, styles[j % 4], marker="o", color=color, label=f"{model} · {noise or 'clean'}")
            ax.fill_between(x, lo, hi, color=color, alpha=0.12, linewidth=0)
    ticks = snrs + [clean_x]
    ax.set_xticks(ticks, [f"{v:g}" for v in snrs] + ["clean"])
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("WER")
    ax.yaxis.set_major_formatter(_percent())
    ax.legend(frameon=False, fontsize=8)
    _clean(ax)
    return fig


def plot_wer_vs_rtfx(df, *, ax=None):
    """Accuracy against speed: corpus WER (with CI) against RTFx (log scale), one point per model."""
    from audiolab.eval.metrics import summarize

    fig, ax = _new(ax=ax, figsize=(5.5, 3.6))
    s = summarize(df, by=["model"])
    for i, r in s.iterrows():
        ax.errorbar(r["rtfx"], r["wer"], yerr=[[max(r["wer"] - r["ci_low"], 0)], [max(r["ci_high"] - r["wer"], 0)]],
                    fmt="o", color=_COLORS[i % len(_COLORS)], capsize=3)
        ax.annotate(str(r["model"]), (r["rtfx"], r["wer"]), xytext=(5, 5), textcoords="offset points", fontsize=8)
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlabel("RTFx (audio s / wall s, higher is faster)")
    ax.set_ylabel("WER")
    ax.yaxis.set_major_formatter(_percent())
    _clean(ax)
    return fig


def plot_utterance_strip(df, *, ax=None, by: str = "model"):
    """Per-utterance WER as jittered points per model, with the corpus WER as a bar."""
    fig, ax = _new(ax=ax, figsize=(max(4.0, 1.2 * df[by].nunique() + 2), 3.6))
    rng = np.random.default_rng(0)
    ok = df[df["error"].isna()] if "error" in df else df
    for i, (name, g) in enumerate(ok.groupby(by, sort=False)):
        w = g["wer"].to_numpy(float)
        ax.scatter(i + rng.uniform(-0.18, 0.18, len(w)), w, s=14, alpha=0.7, color=_COLORS[i % len(_COLORS)])
        corpus = (g["substitutions"] + g["deletions"] + g["insertions"]).sum() / max(g["ref_words"].sum(), 1)
        ax.hlines(corpus, i - 0.3, i + 0.3, color="black", linewidth=2)
    ax.set_xticks(range(ok[by].nunique()), [str(n) for n in dict.fromkeys(ok[by])])
    ax.set_ylabel("utterance WER (bar: corpus)")
    ax.yaxis.set_major_formatter(_percent())
    _clean(ax)
    return fig


def top_substitutions(df, *, n: int = 20, language: str = "en"):
    """The most frequent word substitutions (after normalisation): columns ref, hyp, count (and model)."""
    import pandas as pd

    from audiolab.eval.metrics import word_diff

    counts: dict[tuple, int] = {}
    ok = df[df["hypothesis"].notna()] if "hypothesis" in df else df
    for _, r in ok.iterrows():
        for op in word_diff(r["reference"], r["hypothesis"], language=language):
            if op.op == "substitute":
                key = (r.get("model"), op.ref, op.hyp)
                counts[key] = counts.get(key, 0) + 1
    out = pd.DataFrame([{"model": m, "ref": a, "hyp": b, "count": c} for (m, a, b), c in counts.items()],
                       columns=["model", "ref", "hyp", "count"])
    if out["model"].isna().all():
        out = out.drop(columns="model")
    return out.sort_values("count", ascending=False, kind="stable", ignore_index=True).head(n)


def plot_alignment(ref, hyp=None, *, ax=None, n: int = 5, language: str = "en"):
    """Coloured word alignment: substitutions orange (ref→hyp), deletions red, insertions green.

    Args:
        ref: a reference string (with ``hyp``), or an evaluate() frame: then its ``n``
            worst utterances are drawn, one block each.
    """
    from audiolab.eval.metrics import word_diff

    if hasattr(ref, "columns"):
        worst = ref[ref["hypothesis"].notna()].sort_values("wer", ascending=False).head(n)
        pairs = [(f"{r['clip_id']} · {r.get('model', '')} · WER {r['wer']:.0%}", r["reference"], r["hypothesis"])
                 for _, r in worst.iterrows()]
    else:
        pairs = [("", ref, hyp or "")]
    rows = [(title, word_diff(r, h, language=language)) for title, r, h in pairs]
    size = 8.0
    width_in = ax.get_position().width * ax.figure.get_figwidth() if ax is not None else 9.0
    cols = max(20, int(width_in * 72 / (0.6 * size)) - 2)  # monospace: a glyph is ~0.6 em wide
    lines = sum(1 + max(1, int(np.ceil(sum(len(_tok(o)) + 1 for o in ops) / cols))) for _, ops in rows)
    fig, ax = _new(ax=ax, figsize=(width_in, 0.2 * lines + 0.3))
    ax.set_axis_off()
    y, step = 1.0, 1.0 / max(lines, 1)
    for title, ops in rows:
        if title:
            ax.text(0, y, title, fontsize=size, weight="bold", va="top", transform=ax.transAxes)
            y -= step
        col = 0
        for o in ops:
            tok = _tok(o)
            if col + len(tok) > cols:
                col, y = 0, y - step
            ax.text(col / cols, y, tok, fontsize=size, family="monospace", va="top", color=_OP_COLORS[o.op],
                    transform=ax.transAxes, weight="normal" if o.op == "equal" else "bold")
            col += len(tok) + 1
        y -= step
    return fig


def _tok(op) -> str:
    return {"equal": op.ref, "substitute": f"{op.ref}→{op.hyp}", "delete": f"[-{op.ref}]",
            "insert": f"[+{op.hyp}]"}[op.op]


def plot_latency_cdf(df, *, ax=None, by: str = "model"):
    """Empirical CDF of request latency per model, with p50 and p90 marked."""
    fig, ax = _new(ax=ax, figsize=(5.5, 3.4))
    ok = df[df["latency_s"].notna()]
    for i, (name, g) in enumerate(ok.groupby(by, sort=False)):
        lat = np.sort(g["latency_s"].to_numpy(float))
        color = _COLORS[i % len(_COLORS)]
        ax.step(lat, np.arange(1, len(lat) + 1) / len(lat), where="post", color=color,
                label=f"{name} (p50 {np.percentile(lat, 50):.2f} s, p90 {np.percentile(lat, 90):.2f} s)")
        ax.plot(np.percentile(lat, [50, 90]), [0.5, 0.9], "o", color=color, markersize=4)
    ax.set_xlabel("latency (s)")
    ax.set_ylabel("share of requests")
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False, fontsize=8)
    _clean(ax)
    return fig


def _feature_table(features):
    import pandas as pd

    if isinstance(features, Mapping):
        rows = {k: (v.to_dict() if hasattr(v, "to_dict") else dict(v)) for k, v in features.items()}
        features = pd.DataFrame.from_dict(rows, orient="index")
    return features.select_dtypes("number").dropna(axis=1, how="all")


def plot_voice_features(features, *, ax=None, kind: str = "parallel"):
    """Compare voices on their measured features, min-max scaled per feature.

    Args:
        features: a DataFrame indexed by voice with numeric columns, or ``{voice: Prosody}``.
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
            ax.plot(range(len(cols)), row.to_numpy(float), "-o", color=_COLORS[i % len(_COLORS)], label=str(name))
        ax.set_xticks(range(len(cols)), [f"{c}\n{lo[c]:.3g}–{hi[c]:.3g}" for c in cols], fontsize=7)
        ax.set_yticks([0, 1], ["min", "max"])
        for k in range(len(cols)):
            ax.axvline(k, color="#bbbbbb", linewidth=0.8, zorder=0)
        _clean(ax)
    ax.legend(frameon=False, fontsize=8, loc="upper right", bbox_to_anchor=(1.0, 1.15), ncols=min(len(t), 4))
    return fig


def plot_f0_contours(audios_or_contours, *, ax=None, labels: Sequence[str] | None = None):
    """F0 tracks over time (Praat via parselmouth), one line per clip or ``(times, f0)`` pair."""
    from audiolab.eval.prosody import f0_contour

    items = audios_or_contours
    if isinstance(items, Mapping):
        labels, items = list(items.keys()), list(items.values())
    elif not isinstance(items, (list, tuple)) or (len(items) == 2 and isinstance(items[0], np.ndarray)):
        items = [items]
    fig, ax = _new(ax=ax, figsize=(7.0, 3.2))
    for i, it in enumerate(items):
        t, f0 = it if isinstance(it, tuple) else f0_contour(it)
        name = labels[i] if labels else (_get(getattr(it, "meta", {}), "voice") or f"clip {i + 1}")
        ax.plot(t, f0, color=_COLORS[i % len(_COLORS)], linewidth=1.4, label=str(name))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("F0 (Hz)")
    ax.legend(frameon=False, fontsize=8)
    _clean(ax)
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
