"""Every plot renders to PNG (Agg) and draws what its data says."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from audiolab import plots
from audiolab.audio import Audio
from audiolab.eval.datasets import real_speech
from audiolab.eval.metrics import score, summarize
from audiolab.eval.preference import bradley_terry
from audiolab.eval.prosody import prosody

PNG = b"\x89PNG\r\n\x1a\n"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    data = buf.getvalue()
    assert data.startswith(PNG) and len(data) > 1000
    return data


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """An evaluate()-shaped frame: two systems, clean plus white and babble noise, real references."""
    ds = real_speech()
    rng = np.random.default_rng(0)
    rows = []
    conds = [("clean", None, np.nan)] + [
        (f"{k}@{s}dB", k, s) for k in ("white", "babble") for s in (20, 10, 0)
    ]
    for model, base, lat in (("small", 0.02, 0.3), ("tiny", 0.12, 0.1)):
        for name, noise, snr in conds:
            p = base + (0 if np.isnan(snr) else (20 - snr) / 50)
            for u in ds:
                hyp = " ".join(w if rng.random() > p else "zz" for w in u.text.split())
                s = score(u.text, hyp, n_boot=0)
                rows.append(
                    dict(
                        clip_id=u.id,
                        model=model,
                        condition=name,
                        reference=u.text,
                        hypothesis=hyp,
                        wer=s.wer,
                        substitutions=s.substitutions,
                        deletions=s.deletions,
                        insertions=s.insertions,
                        hits=s.hits,
                        ref_words=s.ref_words,
                        audio_seconds=u.audio.duration,
                        latency_s=lat * (1 + rng.random()),
                        cost_usd=0.0,
                        synthetic=False,
                        error=None,
                        speaker=u.speaker,
                        noise=noise,
                        snr_db=snr,
                    )
                )
    return pd.DataFrame(rows)


def test_importing_plots_does_not_import_matplotlib():
    code = "import sys, audiolab.plots; print('matplotlib' in sys.modules)"
    assert subprocess.check_output([sys.executable, "-c", code], text=True).strip() == "False"


def test_plot_audio_draws_waveform_and_spectrogram():
    clip = real_speech()[0].audio
    fig = plots.plot_audio(clip)
    _png(fig)
    wave, spec = fig.axes[:2]
    assert wave.get_xlim()[1] == pytest.approx(clip.duration)
    assert spec.get_ylabel() == "frequency (Hz)" and spec.images
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    assert clip.plot(ax=ax) is ax.figure  # Audio.plot draws into a given axes


def test_plot_timeline_draws_words_segments_and_events():
    clip = real_speech()[0].audio
    words = [{"word": "It", "start": 0.3, "end": 0.5}, {"word": "was", "start": 0.5, "end": 0.8}]
    fig = plots.plot_timeline(clip, words=words, segments=[{"text": clip.text, "start": 0.3, "end": 3.8}],
                              events=[(0.3, "speech_started"), (3.9, "speech_stopped")])
    _png(fig)
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"It", "was", "speech_started", "speech_stopped"} <= texts
    lines = [ln for ln in fig.axes[0].lines if ln.get_linestyle() == "--"]
    assert sorted(ln.get_xdata()[0] for ln in lines) == [0.3, 3.9]


def test_plot_wer_bars_match_corpus_wer_with_ci(frame):
    clean = frame[frame["condition"] == "clean"]
    fig = plots.plot_wer(clean)
    _png(fig)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx(summarize(clean, by=["model"])["wer"].tolist())
    grid = plots.plot_wer(frame)
    _png(grid)
    assert len(grid.axes[0].patches) == frame.groupby(["model", "condition"]).ngroups
    scores = {"a": score(["the cat sat"], ["the bat sat"]), "b": score(["the cat sat"], ["the cat sat"])}
    assert [p.get_height() for p in plots.plot_wer(scores).axes[0].patches] == pytest.approx([1 / 3, 0.0])


def test_plot_sdi_stacks_to_the_wer(frame):
    clean = frame[frame["condition"] == "clean"]
    fig = plots.plot_sdi(clean)
    _png(fig)
    patches = fig.axes[0].patches
    n = len(patches) // 3
    totals = [sum(patches[i + k * n].get_height() for k in range(3)) for i in range(n)]
    assert totals == pytest.approx(summarize(clean, by=["model"])["wer"].tolist())


def test_plot_wer_vs_snr_has_a_line_per_model_and_noise_with_clean_last(frame):
    fig = plots.plot_wer_vs_snr(frame)
    _png(fig)
    ax = fig.axes[0]
    assert len(ax.lines) == 2 * 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "10", "20", "clean"]
    for line in ax.lines:
        y = line.get_ydata()
        assert y[0] > y[-1]  # 0 dB is worse than clean in this frame


def test_plot_wer_vs_rtfx_places_each_model(frame):
    fig = plots.plot_wer_vs_rtfx(frame)
    _png(fig)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert {t.get_text() for t in ax.texts} == {"small", "tiny"}


def test_plot_utterance_strip_shows_every_utterance(frame):
    clean = frame[frame["condition"] == "clean"]
    fig = plots.plot_utterance_strip(clean)
    _png(fig)
    points = sum(len(c.get_offsets()) for c in fig.axes[0].collections if hasattr(c, "get_offsets"))
    assert points >= len(clean)


def test_top_substitutions_counts_pairs_by_hand():
    df = pd.DataFrame({"model": ["m"] * 3, "reference": ["the cat sat", "the cat ran", "a dog"],
                       "hypothesis": ["the bat sat", "the bat ran", "a log"]})
    top = plots.top_substitutions(df)
    assert top.iloc[0][["ref", "hyp", "count"]].tolist() == ["cat", "bat", 2]
    assert top.iloc[1][["ref", "hyp", "count"]].tolist() == ["dog", "log", 1]


def test_plot_alignment_colours_each_operation(frame):
    fig = plots.plot_alignment("The cat sat.", "the bat sat down")
    _png(fig)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["the", "cat→bat", "sat", "[+down]"]
    worst = plots.plot_alignment(frame, n=3)
    _png(worst)
    titles = [t.get_text() for t in worst.axes[0].texts if "WER" in t.get_text()]
    assert len(titles) == 3


def test_plot_latency_cdf_reaches_one(frame):
    fig = plots.plot_latency_cdf(frame)
    _png(fig)
    ends = [line.get_ydata()[-1] for line in fig.axes[0].lines if len(line.get_ydata()) > 2]
    assert ends == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("kind", ["parallel", "radar"])
def test_plot_voice_features_scales_each_feature(kind):
    feats = {u.id: prosody(u.audio) for u in real_speech().subset(3)}
    fig = plots.plot_voice_features(feats, kind=kind)
    _png(fig)
    ys = np.concatenate([line.get_ydata() for line in fig.axes[0].lines if line.get_label() in feats])
    assert ys.min() == pytest.approx(0.0) and ys.max() == pytest.approx(1.0)


def test_plot_f0_contours_draws_each_track():
    sr = 16000
    t = np.arange(sr) / sr
    tone = Audio.from_array((0.4 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), sr)
    fig = plots.plot_f0_contours({"tone": tone, "speech": real_speech()[1].audio})
    _png(fig)
    lines = {ln.get_label(): ln for ln in fig.axes[0].lines}
    assert np.nanmedian(lines["tone"].get_ydata()) == pytest.approx(180, rel=0.02)
    assert 70 < np.nanmedian(lines["speech"].get_ydata()) < 250


def test_plot_bradley_terry_puts_the_strongest_on_top():
    votes = {"a": ["piper"] * 6 + ["espeak"] * 4, "b": ["espeak"] * 6 + ["sapi"] * 4,
             "winner": ["piper"] * 5 + ["espeak"] + ["espeak"] * 4}
    bt = bradley_terry(votes, n_boot=100)
    fig = plots.plot_bradley_terry(bt)
    _png(fig)
    labels = [t.get_text().split(" ")[0] for t in fig.axes[0].get_yticklabels()]
    assert labels[::-1] == bt.ranking()
