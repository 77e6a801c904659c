"""Voice measures for TTS evaluation: F0 contour and range, speaking rate, pauses, loudness.

F0 comes from Praat's autocorrelation pitch tracker through ``parselmouth`` (fast, and the
reference tool of phoneticians), not ``librosa.pyin``. Loudness is integrated loudness in LUFS
(ITU-R BS.1770-4) from ``pyloudnorm``. Syllables are counted as intensity peaks that are voiced
and stand out by at least 2 dB from the dip before them (de Jong & Wempe, 2009, "Praat script
to detect syllable nuclei").

Example:
    >>> from audiolab.eval.datasets import real_speech
    >>> p = prosody(real_speech()[0].audio)      # doctest: +SKIP
    >>> round(p.f0_mean_hz), p.speaking_rate_unit  # doctest: +SKIP
    (106, 'words/s')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from audiolab.audio import Audio

__all__ = ["ProsodyFeatures", "prosody", "f0_contour", "loudness", "syllable_nuclei"]

F0_FLOOR_HZ = 75.0
F0_CEILING_HZ = 600.0
SILENCE_BELOW_PEAK_DB = 25.0  # frames quieter than (loudest - 25 dB) are silence
MIN_PAUSE_S = 0.2
MIN_DIP_DB = 2.0
_STEP = 0.01


@dataclass(frozen=True)
class ProsodyFeatures:
    """Prosodic summary of one clip.

    Attributes:
        f0_mean_hz: mean F0 over voiced frames (Praat autocorrelation, speaker-adapted range).
        f0_range_semitones: 12·log2(p95 / p5) of voiced F0: a robust pitch range.
        speaking_rate: ``speaking_rate_unit`` per second over the speech span (first to last
            non-silent frame, pauses included).
        speaking_rate_unit: ``"words/s"`` when the text is known (``Audio.text`` or ``text=``),
            else ``"syllables/s"`` (voiced intensity peaks, de Jong & Wempe 2009).
        articulation_rate: the same count per second of speech with pauses removed.
        pause_ratio: share of the speech span spent in silences of at least 0.2 s.
        lufs: integrated loudness (ITU-R BS.1770), NaN for clips under 0.4 s.
        duration: clip length in seconds.
        voiced_ratio: share of frames with an F0.
    """

    f0_mean_hz: float
    f0_range_semitones: float
    speaking_rate: float
    speaking_rate_unit: str
    articulation_rate: float
    pause_ratio: float
    lufs: float
    duration: float
    voiced_ratio: float

    def to_dict(self) -> dict:
        return asdict(self)


def _sound(audio: Audio):
    import parselmouth

    mono = audio.to_mono()
    return parselmouth.Sound(np.asarray(mono.samples, dtype=np.float64), sampling_frequency=mono.sr)


def f0_contour(audio: Audio, *, fmin: float | None = None, fmax: float | None = None,
               time_step: float = _STEP) -> tuple[np.ndarray, np.ndarray]:
    """F0 track of a clip: ``(times_s, f0_hz)`` with NaN where the frame is unvoiced.

    Without ``fmin``/``fmax`` the range adapts to the speaker in two passes (De Looze & Hirst,
    2008): a first track over 75-600 Hz, then a second over 0.75·q25 to 1.5·q75 of the first,
    which removes most octave jumps.

    Example:
        >>> import numpy as np
        >>> from audiolab.audio import Audio
        >>> tone = Audio.from_array(0.5 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000), 16000)
        >>> t, f0 = f0_contour(tone)
        >>> round(float(np.nanmedian(f0)))
        220
    """
    snd = _sound(audio)
    if snd.duration < 0.1:
        return np.zeros(0), np.zeros(0)

    def track(lo: float, hi: float):
        pitch = snd.to_pitch_ac(time_step=time_step, pitch_floor=lo, pitch_ceiling=hi)
        f0 = np.array(pitch.selected_array["frequency"], dtype=float)
        f0[f0 <= 0] = np.nan
        return np.array(pitch.xs(), dtype=float), f0

    t, f0 = track(fmin or F0_FLOOR_HZ, fmax or F0_CEILING_HZ)
    voiced = f0[np.isfinite(f0)]
    if fmin is None and fmax is None and voiced.size >= 10:
        q25, q75 = np.percentile(voiced, [25, 75])
        t, f0 = track(max(0.75 * q25, 40.0), min(1.5 * q75, 1000.0))
    return t, f0


def loudness(audio: Audio) -> float:
    """Integrated loudness in LUFS (pyloudnorm, ITU-R BS.1770-4); NaN under 0.4 s.

    Example:
        >>> import numpy as np
        >>> from audiolab.audio import Audio
        >>> sine = Audio.from_array(0.1 * np.sin(2 * np.pi * 1000 * np.arange(48000) / 48000), 48000)
        >>> round(loudness(sine))
        -23
    """
    import pyloudnorm

    if audio.duration < 0.4:
        return float("nan")
    with np.errstate(divide="ignore"):
        return float(pyloudnorm.Meter(audio.sr).integrated_loudness(np.asarray(audio.samples, np.float64)))


def _intensity(audio: Audio) -> tuple[np.ndarray, np.ndarray]:
    snd = _sound(audio)
    if snd.duration < 0.1:
        return np.zeros(0), np.zeros(0)
    inten = snd.to_intensity(minimum_pitch=50.0, time_step=_STEP, subtract_mean=False)
    return np.array(inten.xs(), dtype=float), np.array(inten.values[0], dtype=float)


def syllable_nuclei(audio: Audio, *, min_dip_db: float = MIN_DIP_DB) -> np.ndarray:
    """Times (s) of syllable nuclei: voiced intensity peaks above the silence threshold.

    Example:
        >>> syllable_nuclei(real_speech()[0].audio).size   # doctest: +SKIP
        13
    """
    t, db = _intensity(audio)
    if not t.size:
        return np.zeros(0)
    thr = np.percentile(db, 99) - SILENCE_BELOW_PEAK_DB
    peaks = [i for i in range(1, len(db) - 1) if db[i] > db[i - 1] and db[i] >= db[i + 1] and db[i] > thr]
    kept: list[int] = []
    for p in peaks:
        if kept:
            dip = db[kept[-1]:p + 1].min()
            if db[p] - dip < min_dip_db:
                if db[p] > db[kept[-1]]:
                    kept[-1] = p  # the same syllable, with a higher top
                continue
        kept.append(p)
    pt, f0 = f0_contour(audio)
    if not pt.size:
        return np.zeros(0)
    voiced = np.interp(t[kept], pt, np.isfinite(f0).astype(float)) > 0.5 if kept else np.zeros(0, bool)
    return t[kept][voiced] if kept else np.zeros(0)


def _speech_span(audio: Audio) -> tuple[float, float]:
    """(speech span seconds, pause seconds inside it)."""
    t, db = _intensity(audio)
    if not t.size:
        return audio.duration, 0.0
    loud = db > np.percentile(db, 99) - SILENCE_BELOW_PEAK_DB
    if not loud.any():
        return 0.0, 0.0
    first, last = (int(i) for i in np.flatnonzero(loud)[[0, -1]])
    span = (last - first + 1) * _STEP
    pause, run = 0.0, 0
    for v in loud[first:last + 1]:
        if not v:
            run += 1
        else:
            if run * _STEP >= MIN_PAUSE_S:
                pause += run * _STEP
            run = 0
    return span, pause


def prosody(audio: Audio, *, text: str | None = None) -> ProsodyFeatures:
    """Measure F0 mean and range, speaking rate, pause ratio and loudness of a clip.

    Args:
        audio: the clip (any rate; stereo is averaged).
        text: what is said; defaults to ``audio.text``. With a text, speaking rate is in
            words/s (words counted after Whisper's normaliser); without, in syllables/s.

    Example:
        >>> p = prosody(real_speech()[0].audio)   # doctest: +SKIP
        >>> p.speaking_rate_unit                  # doctest: +SKIP
        'words/s'
    """
    _, f0 = f0_contour(audio)
    voiced = f0[np.isfinite(f0)]
    if voiced.size >= 2:
        p5, p95 = np.percentile(voiced, [5, 95])
        f0_mean, f0_range = float(voiced.mean()), float(12 * np.log2(p95 / p5))
    else:
        f0_mean = f0_range = float("nan")
    span, pause = _speech_span(audio)
    text = text if text is not None else audio.text
    if text:
        from audiolab.eval.metrics import normalize

        count, unit = len(normalize(text).split()), "words/s"
    else:
        count, unit = int(syllable_nuclei(audio).size), "syllables/s"
    return ProsodyFeatures(
        f0_mean_hz=f0_mean, f0_range_semitones=f0_range,
        speaking_rate=float(count / span) if span > 0 else float("nan"), speaking_rate_unit=unit,
        articulation_rate=float(count / (span - pause)) if span - pause > 0 else float("nan"),
        pause_ratio=float(pause / span) if span > 0 else float("nan"), lufs=loudness(audio),
        duration=audio.duration, voiced_ratio=float(np.isfinite(f0).mean()) if f0.size else 0.0,
    )
