"""Figures of one clip: waveform and spectrogram, word/segment timeline, F0 contours.

Plots depend on :class:`~audiolab.audio.Audio`, never the reverse: ``Audio.plot`` calls
:func:`plot_audio` here, which needs nothing from :mod:`audiolab.eval`.

Example:
    >>> from audiolab.eval.datasets import real_speech
    >>> clip = real_speech()[0].audio.slice(0, 2)
    >>> fig = plot_audio(clip)
    >>> [a.get_ylabel() for a in fig.axes]
    ['amplitude', 'frequency (Hz)']
    >>> fig = plot_timeline(clip, words=[{"word": "It", "start": 0.1, "end": 0.3}], events=[(0.5, "stop")])
    >>> len(fig.axes)
    2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from audiolab.plots.figure import _COLORS, _clean, _get, _new, _rect

__all__ = ["plot_audio", "plot_timeline", "plot_f0_contours", "spectrogram_db", "TOP_DB"]


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
    """Waveform, and below it a spectrogram in dB (when the figure is new).

    The spectrogram is ``librosa.amplitude_to_db(|STFT|, ref=max, top_db=80)``: 0 dB is the
    loudest bin of the clip and the colour scale spans the 80 dB below it, with a labelled colorbar.

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
    db = spectrogram_db(audio)
    image = spec.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=-TOP_DB, vmax=0,
                        extent=(0, max(audio.duration, 1e-3), 0, audio.sr / 2), interpolation="nearest")
    # An inset colorbar keeps the spectrogram as wide as the waveform above it (shared time axis).
    bar = fig.colorbar(image, cax=spec.inset_axes((1.01, 0, 0.015, 1)))
    bar.set_label("level (dB below the loudest)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    spec.set_ylim(0, min(audio.sr / 2, 8000))
    spec.set_xlim(0, max(audio.duration, 1e-3))
    spec.set_ylabel("frequency (Hz)")
    spec.set_xlabel("time (s)")
    wave.set_title(title or (audio.text if audio.text and len(audio.text) < 90 else "") or "")
    return fig


#: The spectrogram's dynamic range: quieter bins than this below the loudest are drawn as the floor.
TOP_DB = 80.0


def spectrogram_db(audio, *, window_s: float = 0.025):
    """``|STFT|`` in dB relative to the clip's loudest bin, floored at ``-TOP_DB`` (frequency × frames).

    Example:
        >>> from audiolab.eval.datasets import real_speech
        >>> db = spectrogram_db(real_speech()[0].audio.slice(0, 1))
        >>> float(db.max()), float(db.min()) >= -TOP_DB
        (0.0, True)
    """
    import librosa

    x = audio.to_mono().samples.astype(np.float32)
    nfft = 1 << int(np.ceil(np.log2(window_s * audio.sr)))
    if len(x) < nfft:
        x = np.pad(x, (0, nfft - len(x)))
    magnitude = np.abs(librosa.stft(x, n_fft=nfft, hop_length=nfft // 4))
    return librosa.amplitude_to_db(magnitude, ref=np.max, top_db=TOP_DB)


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
    for t, label in events or []:
        for a in (wave, lane):
            a.axvline(float(t), color=_COLORS[3], linewidth=1, linestyle="--")
        wave.annotate(str(label), (float(t), 1.0), xycoords=("data", "axes fraction"), rotation=90,
                      fontsize=7, va="top", ha="right", color=_COLORS[3])
    lane.set_xlabel("time (s)")
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
