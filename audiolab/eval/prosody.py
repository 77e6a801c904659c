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

__all__ = ["ProsodyFeatures", "prosody", "f0_contour", "is_voiced", "loudness", "syllable_nuclei"]

F0_FLOOR_HZ = 60.0  # echo, ash: deep voices that reach 65 Hz
F0_CEILING_HZ = 500.0
#: Praat's autocorrelation settings (its defaults for speech), stated so no run can differ.
PITCH_SETTINGS = {"very_accurate": False, "max_number_of_candidates": 15, "silence_threshold": 0.03,
                  "voicing_threshold": 0.45, "octave_cost": 0.01, "octave_jump_cost": 0.35,
                  "voiced_unvoiced_cost": 0.14}
MIN_VOICED_SHARE = 0.3  # of the audible frames, below which a clip has "no pitch" (whisper)
MIN_VOICING_STRENGTH = 0.7  # median autocorrelation peak of the voiced frames, likewise
SILENCE_BELOW_PEAK_DB = 25.0  # frames quieter than (loudest - 25 dB) are silence
MIN_PAUSE_S = 0.2
MIN_DIP_DB = 2.0
_STEP = 0.01


@dataclass(frozen=True)
class ProsodyFeatures:
    """Prosodic summary of one clip.

    Attributes:
        f0_mean_hz: mean F0 over voiced frames (Praat autocorrelation, fixed 60-500 Hz);
            NaN ("no pitch", shown as "–") for whispered or unvoiced clips.
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

    The tracker's settings are fixed (:data:`PITCH_SETTINGS`, over ``fmin``-``fmax``, 60-500 Hz by
    default), so a clip gives the same track in every run and in any order. A clip without a
    voice (whisper, noise: :func:`is_voiced` is false) has no pitch: every frame is NaN.

    Example:
        >>> import numpy as np
        >>> from audiolab.audio import Audio
        >>> tone = Audio.from_array(0.5 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000), 16000)
        >>> t, f0 = f0_contour(tone)
        >>> round(float(np.nanmedian(f0)))
        220
        >>> noise = Audio.from_array(0.1 * np.random.default_rng(0).standard_normal(16000), 16000)
        >>> bool(np.isfinite(f0_contour(noise)[1]).any())
        False
    """
    t, f0, strength = _track(audio, fmin or F0_FLOOR_HZ, fmax or F0_CEILING_HZ, time_step)
    if t.size and not _voiced(audio, t, f0, strength):
        f0 = np.full_like(f0, np.nan)
    return t, f0


def _track(audio: Audio, lo: float, hi: float, time_step: float):
    """Praat's autocorrelation track with the fixed settings: (times, f0 with NaN, strength)."""
    snd = _sound(audio)
    if snd.duration < max(0.1, 3 / lo):
        return np.zeros(0), np.zeros(0), np.zeros(0)
    pitch = snd.to_pitch_ac(time_step=time_step, pitch_floor=lo, pitch_ceiling=hi, **PITCH_SETTINGS)
    sel = pitch.selected_array
    f0 = np.array(sel["frequency"], dtype=float)
    f0[f0 <= 0] = np.nan
    return np.array(pitch.xs(), dtype=float), f0, np.array(sel["strength"], dtype=float)


def _voiced(audio: Audio, t: np.ndarray, f0: np.ndarray, strength: np.ndarray) -> bool:
    """Whether a track shows a voice: enough of the audible frames voiced, and voiced strongly.

    Whispered TTS (Piper, Kokoro: alloy, echo, coral, sage) has 4-14 % of its audible frames
    "voiced" at a median autocorrelation strength of 0.56-0.61; the same voices speaking normally
    or calmly 61-81 % at 0.81-0.97.
    """
    voiced = np.isfinite(f0)
    if voiced.sum() < 2:
        return False
    ti, db = _intensity(audio)
    audible = np.interp(t, ti, db) > np.percentile(db, 99) - SILENCE_BELOW_PEAK_DB if ti.size else voiced
    share = voiced[audible].mean() if audible.any() else 0.0
    return bool(share >= MIN_VOICED_SHARE and np.median(strength[voiced]) >= MIN_VOICING_STRENGTH)


def is_voiced(audio: Audio) -> bool:
    """Whether the clip is voiced speech (or a periodic tone) rather than whisper or noise.

    Example:
        >>> import numpy as np
        >>> from audiolab.audio import Audio
        >>> is_voiced(Audio.from_array(0.1 * np.random.default_rng(0).standard_normal(16000), 16000))
        False
    """
    t, f0, strength = _track(audio, F0_FLOOR_HZ, F0_CEILING_HZ, _STEP)
    return bool(t.size) and _voiced(audio, t, f0, strength)


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
    pt, f0, _ = _track(audio, F0_FLOOR_HZ, F0_CEILING_HZ, _STEP)  # whispered syllables count too
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
