"""Every figure audiolab draws, one module per subject; matplotlib loads only when one is drawn.

Each function takes its data first and ``ax=None``: without ``ax`` it makes its own pyplot-free
:class:`matplotlib.figure.Figure` (nothing is shown twice in Jupyter, nothing global changes);
with ``ax`` it draws there. None calls ``plt.show()``.

- :mod:`~audiolab.plots.audio`: one clip (waveform, spectrogram, word timeline, F0 contours);
- :mod:`~audiolab.plots.asr`: ASR evaluations (WER with intervals, error types, alignments, latency);
- :mod:`~audiolab.plots.voice`: voice comparisons (features, instruction deltas, preferences);
- :mod:`~audiolab.plots.realtime`: a Realtime session's events under its waveform;
- :mod:`~audiolab.plots.usage`: a session's calls, latency and cost;
- :mod:`~audiolab.plots.table`: :func:`readable`, the tables students read (no Python tuples or paths);
- :mod:`~audiolab.plots.figure`: :func:`new_figure` and the shared styling.

Example:
    >>> from audiolab import plots
    >>> from audiolab.eval.datasets import real_speech
    >>> fig = plots.plot_audio(real_speech()[0].audio.slice(0, 1), spectrogram=False)
    >>> fig.axes[0].get_xlabel()
    'time (s)'
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["asr", "audio", "figure", "realtime", "table", "usage", "voice"],
    submod_attrs={
        "figure": ["new_figure"],
        "audio": ["plot_audio", "plot_timeline", "plot_f0_contours"],
        "asr": ["plot_wer", "plot_sdi", "plot_wer_vs_snr", "plot_wer_vs_rtfx", "plot_utterance_strip",
                "top_substitutions", "plot_alignment", "plot_latency_cdf"],
        "voice": ["plot_voice_features", "plot_bradley_terry", "plot_feature_deltas", "plot_win_rates",
                  "style_by_vibe_and_voice", "FEATURE_LABELS"],
        "realtime": ["plot_events"],
        "usage": ["plot_history"],
        "table": ["readable"],
    },
)
