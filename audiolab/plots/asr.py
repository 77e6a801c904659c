"""Figures of ASR evaluations: WER bars and curves, error types, alignments, latency.

They read the tidy frame of :func:`audiolab.eval.runner.evaluate` (or its
:func:`~audiolab.eval.metrics.summarize` table, or a ``{name: Score}`` dict) and show 95%
bootstrap intervals as error bars. Every function takes its data first and ``ax=None``, makes a
pyplot-free Figure when no ``ax`` is given, and never calls ``plt.show()``.

Example:
    >>> from audiolab.eval.metrics import score
    >>> scores = {"a": score(["the cat sat"], ["the cat sat"]), "b": score(["the cat sat"], ["a cat"])}
    >>> fig = plot_wer(scores)
    >>> fig.axes[0].get_ylabel()
    'WER (95% CI)'
    >>> plot_sdi(scores).axes[0].get_legend_handles_labels()[1]
    ['S', 'D', 'I']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from audiolab.plots.figure import _COLORS, _OP_COLORS, _clean, _new, _percent

__all__ = [
    "plot_wer", "plot_sdi", "plot_wer_vs_snr", "plot_wer_vs_rtfx", "plot_utterance_strip",
    "top_substitutions", "plot_alignment", "plot_latency_cdf",
]


def _summary(data, by: Sequence[str]):
    """A summarize()-shaped table from an evaluate() frame, a summary, or a {name: Score} dict."""
    import pandas as pd

    from audiolab.eval.metrics import summarize

    if isinstance(data, Mapping):
        return pd.DataFrame(
            [
                {
                    by[0]: name,
                    "wer": s.wer,
                    "ci_low": s.ci[0],
                    "ci_high": s.ci[1],
                    "substitutions": s.substitutions,
                    "deletions": s.deletions,
                    "insertions": s.insertions,
                    "ref_words": s.ref_words,
                }
                for name, s in data.items()
            ]
        )
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
    ax.set_xticks(
        range(len(s)), labels, rotation=30 if len(s) > 4 else 0, ha="right" if len(s) > 4 else "center"
    )
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
        ax.errorbar(
            r["rtfx"],
            r["wer"],
            yerr=[[max(r["wer"] - r["ci_low"], 0)], [max(r["ci_high"] - r["wer"], 0)]],
            fmt="o",
            color=_COLORS[i % len(_COLORS)],
            capsize=3,
        )
        ax.annotate(
            str(r["model"]), (r["rtfx"], r["wer"]), xytext=(5, 5), textcoords="offset points", fontsize=8
        )
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
    for i, (_, g) in enumerate(ok.groupby(by, sort=False)):
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
        pairs = [
            (f"{r['clip_id']} · {r.get('model', '')} · WER {r['wer']:.0%}", r["reference"], r["hypothesis"])
            for _, r in worst.iterrows()
        ]
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
