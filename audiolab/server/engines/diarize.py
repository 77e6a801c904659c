"""Approximate speaker diarization of a transcript: who spoke each segment.

This is a small, honest baseline, not a neural diarizer. Each transcript segment gets one voice
feature, its median pitch in semitones (Praat's autocorrelation F0 through parselmouth). The
segments are then clustered by average linkage, and the dendrogram is cut at
:data:`THRESHOLD_SEMITONES`, so the number of speakers comes from the threshold rather than
being fixed in advance. It separates voices of clearly different pitch, such as a man and a
woman, or an adult and a child. Two similar voices merge into one speaker, and a turn change
inside one Whisper segment is not split. Segments with no voiced frames take the speaker of
the nearest voiced segment.

Speakers are labelled ``A``, ``B``, ... in order of first appearance, as OpenAI does. If
reference clips are given with ``names``, each cluster takes the name of the closest reference.

Example:
    >>> t = diarize(audio, whisper.transcribe(audio))          # doctest: +SKIP
    >>> [(s.speaker, s.text) for s in t.segments][:2]           # doctest: +SKIP
    [('A', ' Do you hear me?'), ('B', ' Yes.')]
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Sequence

import numpy as np

from audiolab.audio import Audio
from audiolab.server.engines import Transcript

__all__ = ["diarize", "median_pitch_semitones", "THRESHOLD_SEMITONES"]

#: Average-linkage cut: clusters whose median pitches differ by more are different speakers.
#: Within one reader, segment medians spread by about 1 semitone (90th percentile 4); between a
#: male and a female voice they differ by 6-12.
THRESHOLD_SEMITONES = 4.5
_SR = 16_000


def _pitch_track(audio: Audio) -> tuple[np.ndarray, np.ndarray]:
    import parselmouth

    x = audio.to_mono().resample(_SR).samples.astype(np.float64)
    pitch = parselmouth.Sound(x, _SR).to_pitch(time_step=0.01, pitch_floor=60.0, pitch_ceiling=600.0)
    return pitch.xs(), pitch.selected_array["frequency"]


def median_pitch_semitones(audio: Audio) -> float:
    """Median F0 of the voiced frames, in semitones above 1 Hz (NaN when nothing is voiced)."""
    _, f0 = _pitch_track(audio)
    voiced = f0[f0 > 0]
    return float(12 * np.log2(np.median(voiced))) if voiced.size else float("nan")


def _labels(values: np.ndarray) -> np.ndarray:
    """Cluster ids (0, 1, ...) in order of first appearance."""
    voiced = np.flatnonzero(~np.isnan(values))
    ids = np.zeros(len(values), dtype=int)
    if voiced.size >= 2:
        from scipy.cluster.hierarchy import fcluster, linkage

        tree = linkage(values[voiced].reshape(-1, 1), method="average", metric="euclidean")
        ids[voiced] = fcluster(tree, t=THRESHOLD_SEMITONES, criterion="distance")
    for i in np.flatnonzero(np.isnan(values)):  # unvoiced: borrow the nearest voiced neighbour
        if voiced.size:
            ids[i] = ids[voiced[np.argmin(np.abs(voiced - i))]]
    order: dict[int, int] = {}
    return np.array([order.setdefault(c, len(order)) for c in ids], dtype=int)


def _letter(i: int) -> str:
    letters = string.ascii_uppercase
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]


def diarize(audio: Audio, transcript: Transcript, *, names: Sequence[str] = (),
            references: Sequence[Audio] = ()) -> Transcript:
    """Label each segment of ``transcript`` with a speaker.

    Args:
        audio: the audio that was transcribed.
        transcript: its transcript, with timed segments.
        names: known speaker names, one per reference clip.
        references: 2-10 s clips of the known speakers, in the order of ``names``.

    Returns:
        The transcript with ``Segment.speaker`` set (``A``, ``B``, ... or a known name).
    """
    segs = transcript.segments
    if not segs:
        return transcript
    times, f0 = _pitch_track(audio)
    values = np.full(len(segs), np.nan)
    for k, s in enumerate(segs):
        sel = f0[(times >= s.start) & (times < s.end) & (f0 > 0)]
        if sel.size:
            values[k] = 12 * np.log2(np.median(sel))
    ids = _labels(values)
    labels = {c: _letter(c) for c in set(ids.tolist())}
    if names and references:
        refs = np.array([median_pitch_semitones(r) for r in references])
        for c in labels:
            centre = np.nanmedian(values[ids == c]) if np.any(~np.isnan(values[ids == c])) else np.nan
            if not np.isnan(centre) and np.any(~np.isnan(refs)):
                labels[c] = names[int(np.nanargmin(np.abs(refs - centre)))]
    new = tuple(dataclasses.replace(s, speaker=labels[int(c)]) for s, c in zip(segs, ids))
    return dataclasses.replace(transcript, segments=new)
