"""Speaker diarization of a transcript: who spoke each segment, by speaker embeddings.

Each transcript segment gets a voiceprint: the 256-d speaker embedding of its audio
(:class:`audiolab.server.engines.voiceprint.VoiceEncoder`, Resemblyzer's pretrained d-vector
encoder). Then:

- the segments, and the ``known_speaker_references`` clips if any, are clustered together by
  average linkage on cosine distance, cut at :data:`CLUSTER_SIMILARITY`, so the number of
  speakers comes from the threshold rather than being fixed;
- a cluster that took in a reference is that known speaker (its segments take the closest
  reference's name when it took in several); a cluster left over then pairs with a reference
  left over when their similarity reaches :data:`LEFTOVER_SIMILARITY`; the other clusters are
  labelled ``A``, ``B``, ... in order of first appearance, as OpenAI does.

Measured (``bench/speaker_id.py``, 2026-12-04; 9 speakers: 2 human readers and 7 local TTS voices,
references of other sentences): 25/25 test utterances identified; in 8 three-speaker conversations
(48 turns, turn times given) every turn named right with all three enrolled, and with two enrolled
the third speaker's turns were left unnamed every time. A small, clean test set: real rooms,
phone audio and similar voices will do worse. Limits: a turn change inside one Whisper
segment is not split, and a segment under about a second gives a noisier voiceprint.

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
from audiolab.server.engines.voiceprint import SAME_SPEAKER, VoiceEncoder

__all__ = ["diarize", "match_speakers", "cluster_speakers", "CLUSTER_SIMILARITY"]

#: Average-linkage cut for segments of one recording. Their voiceprints share the channel and the
#: room, so one speaker's short segments agree less than a clean reference pair but two speakers
#: still differ more: on endgame_nagg_nell.wav (two voices, 15 segments of 0.9-4 s) the clusters
#: are the two voices for cuts of 0.60-0.65, and a voice splits in two from 0.70.
CLUSTER_SIMILARITY = 0.65
#: A cluster no reference joined still takes a reference no cluster took when their similarity
#: reaches this (most similar pairs first, one cluster per reference): a recording's short
#: segments sit further from a clean reference than its own segments sit from each other.
LEFTOVER_SIMILARITY = 0.55
#: Segments shorter than this carry too little voice to embed; they take a neighbour's speaker.
_MIN_SEGMENT_S = 0.3


def match_speakers(embeddings: np.ndarray, references: np.ndarray, names: Sequence[str], *,
                   threshold: float = SAME_SPEAKER) -> list[str | None]:
    """The name of the most similar reference for each embedding, or ``None`` below ``threshold``.

    Args:
        embeddings: (n, d) unit vectors.
        references: (k, d) unit vectors, one per name.
        names: the k speaker names.
    """
    if len(references) == 0:
        return [None] * len(embeddings)
    sims = np.asarray(embeddings) @ np.asarray(references).T
    best = sims.argmax(axis=1)
    return [names[int(j)] if sims[i, j] >= threshold else None for i, j in enumerate(best)]


def cluster_speakers(embeddings: np.ndarray, *, threshold: float = CLUSTER_SIMILARITY) -> np.ndarray:
    """Cluster ids (0, 1, ... in order of first appearance): average linkage on cosine distance,
    cut where the average similarity between two clusters falls below ``threshold``."""
    n = len(embeddings)
    ids = np.zeros(n, dtype=int)
    if n >= 2:
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import pdist

        dist = np.clip(pdist(np.asarray(embeddings, dtype=np.float64), metric="cosine"), 0.0, 2.0)
        ids = fcluster(linkage(dist, method="average"), t=1.0 - threshold, criterion="distance")
    order: dict[int, int] = {}
    return np.array([order.setdefault(int(c), len(order)) for c in ids], dtype=int)


def _leftovers(known: list, emb: np.ndarray, seg_ids: np.ndarray, refs: np.ndarray, names: Sequence[str]) -> None:
    """Pair the clusters no reference joined with the references no cluster took, most similar
    first, while the centroid similarity reaches :data:`LEFTOVER_SIMILARITY` (in place)."""
    used = {name for name in known if name is not None}
    free_refs = [j for j in range(len(refs)) if names[j] not in used]
    free = sorted({int(seg_ids[i]) for i, name in enumerate(known) if name is None})
    pairs = []
    for c in free:
        centre = emb[seg_ids == c].mean(axis=0)
        centre = centre / max(float(np.linalg.norm(centre)), 1e-9)
        pairs += [(float(refs[j] @ centre), c, j) for j in free_refs]
    taken_c, taken_j = set(), set()
    for sim, c, j in sorted(pairs, reverse=True):
        if sim < LEFTOVER_SIMILARITY or c in taken_c or j in taken_j:
            continue
        taken_c.add(c)
        taken_j.add(j)
        for i in np.flatnonzero(seg_ids == c):
            known[i] = names[j]


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
        The transcript with ``Segment.speaker`` set (a known name, else ``A``, ``B``, ...).

    Raises:
        EngineUnavailable: the speaker-embedding weights (``resemblyzer``) are not installed.
    """
    segs = transcript.segments
    if not segs:
        return transcript
    enc = VoiceEncoder.load()
    voiced = [k for k, s in enumerate(segs) if min(s.end, audio.duration) - s.start >= _MIN_SEGMENT_S]
    labels: list[str | None] = [None] * len(segs)
    if voiced:
        emb = np.stack([enc.embed(audio.slice(segs[k].start, min(segs[k].end, audio.duration))) for k in voiced])
        refs = np.stack([enc.embed(r) for r in references]) if names and references else emb[:0]
        # The references join the clustering as members: a cluster that takes one in is that speaker.
        clusters = cluster_speakers(np.concatenate([emb, refs]))
        seg_ids, ref_ids = clusters[:len(emb)], clusters[len(emb):]
        known: list[str | None] = [None] * len(voiced)
        for c in set(seg_ids.tolist()):
            members = np.flatnonzero(seg_ids == c)
            held = [j for j in range(len(refs)) if ref_ids[j] == c]
            if held:  # one reference, or several alike: each segment takes the closest of them
                named = match_speakers(emb[members], refs[held], [names[j] for j in held], threshold=-1.0)
                for i, name in zip(members, named):
                    known[i] = name
        _leftovers(known, emb, seg_ids, refs, names)
        letters: dict[int, str] = {}
        for i in range(len(voiced)):
            if known[i] is None:
                known[i] = letters.setdefault(int(seg_ids[i]), _letter(len(letters)))
        for k, name in zip(voiced, known):
            labels[k] = name
    for k in range(len(segs)):  # too short to embed: the nearest embedded neighbour's speaker
        if labels[k] is None:
            labels[k] = labels[min(voiced, key=lambda j: abs(j - k))] if voiced else "A"
    new = tuple(dataclasses.replace(s, speaker=label) for s, label in zip(segs, labels))
    return dataclasses.replace(transcript, segments=new)
