"""CMU PocketSphinx speech-to-text: the classical HMM/GMM baseline, US English only.

It decodes 16 kHz mono 16-bit audio with the en-us acoustic model, dictionary and language model
bundled in the ``pocketsphinx`` wheel. Word timings come from the decoder's segmentation
(100 frames per second); segments are cut at pauses of :data:`PAUSE_S` or more.

Example:
    >>> from audiolab.server.settings import Settings
    >>> engine = PocketSphinxEngine(Settings())                            # doctest: +SKIP
    >>> engine.transcribe(Audio.from_file("beckett.wav")).text             # doctest: +SKIP
    'ever try it at the files ...'
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator, Mapping

from audiolab.audio import Audio
from audiolab.errors import EngineFailure, EngineUnavailable, InvalidRequest
from audiolab.server.engines import Segment, TokenLogprob, Transcript, Word

__all__ = ["PocketSphinxEngine", "PAUSE_S", "SAMPLE_RATE"]

SAMPLE_RATE = 16_000
#: A silence at least this long starts a new segment.
PAUSE_S = 0.3
_FILLERS = re.compile(r"^(<s>|</s>|<sil>|\[.*\]|\+\+.*\+\+)$")
_ALT = re.compile(r"\(\d+\)$")  # "them(2)": an alternative pronunciation of "them"


class PocketSphinxEngine:
    """A shared PocketSphinx decoder (one utterance at a time: the decoder is stateful).

    Args:
        settings: server settings (unused; PocketSphinx needs no cache).

    Raises:
        EngineUnavailable: the ``pocketsphinx`` package is not installed.
    """

    languages = ("en",)

    def __init__(self, settings=None, **_options):
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise EngineUnavailable("pocketsphinx is not installed: pip install pocketsphinx",
                                    package="pocketsphinx") from exc
        self._decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
        self._frate = int(self._decoder.config["frate"])
        self._lock = threading.Lock()

    def transcribe(self, audio: Audio, *, language: str | None = None, prompt: str | None = None,
                   temperature: float = 0.0, task: str = "transcribe", word_timestamps: bool = False,
                   logprobs: bool = False, hotwords: str | None = None, vad: Mapping | None = None,
                   beam_size: int | None = None, fallback: bool = True) -> Transcript:
        """Decode a whole clip (:class:`~audiolab.server.engines.protocols.SpeechToText`).

        ``prompt``, ``temperature``, ``hotwords``, ``vad``, ``beam_size`` and ``fallback`` have no PocketSphinx
        equivalent here and are ignored; words are always timed. ``logprobs`` gives one entry per recognised word
        (the decoder's
        posterior), as PocketSphinx has no sub-word tokens.

        Raises:
            InvalidRequest: a language other than English, or ``task="translate"``.
        """
        if task != "transcribe":
            raise InvalidRequest("pocketsphinx cannot translate; use a whisper model.", param="model",
                                 code="unsupported_task")
        if language is not None and language.strip().lower() not in self.languages:
            raise InvalidRequest(f"pocketsphinx only knows English ('en'), not {language!r}.",
                                 param="language", code="unsupported_language")
        pcm = audio.to_mono().resample(SAMPLE_RATE).to_pcm16()
        with self._lock:
            try:
                self._decoder.start_utt()
                self._decoder.process_raw(pcm, full_utt=True)
                self._decoder.end_utt()
                raw = [(s.word, s.start_frame / self._frate, (s.end_frame + 1) / self._frate, s.prob)
                       for s in self._decoder.seg()]
            except RuntimeError as exc:
                raise EngineFailure(f"pocketsphinx failed on this audio: {exc}") from exc
        segments = self._segments(raw, audio.duration)
        text = "".join(s.text for s in segments).strip()
        lps = None
        if logprobs:
            lps = tuple(TokenLogprob(token=" " + w.word, logprob=math.log(max(w.probability or 0.0, 1e-12)),
                                     bytes=tuple((" " + w.word).encode()))
                        for s in segments for w in s.words)
        return Transcript(text=text, language="en", duration=audio.duration, segments=segments, logprobs=lps)

    def stream(self, audio: Audio, *, language: str | None = None, prompt: str | None = None,
               temperature: float = 0.0, task: str = "transcribe", word_timestamps: bool = False,
               logprobs: bool = False, hotwords: str | None = None, vad: Mapping | None = None,
               beam_size: int | None = None, fallback: bool = True) -> Iterator[Transcript]:
        """One :class:`Transcript` per segment. PocketSphinx decodes the clip in one pass here,
        so errors surface on this call, and the iterator then hands the segments out."""
        whole = self.transcribe(audio, language=language, task=task, logprobs=logprobs)
        lps = list(whole.logprobs or ())
        parts = []
        for seg in whole.segments:
            mine = tuple(lps[: len(seg.words)]) if whole.logprobs is not None else None
            del lps[: len(seg.words)]
            parts.append(Transcript(text=seg.text, language="en", duration=whole.duration, segments=(seg,),
                                    logprobs=mine))
        return iter(parts)

    @staticmethod
    def _segments(raw: list[tuple[str, float, float, float]], duration: float) -> tuple[Segment, ...]:
        groups: list[list[Word]] = [[]]
        for word, start, end, prob in raw:
            if _FILLERS.match(word):
                if word == "<sil>" and end - start >= PAUSE_S and groups[-1]:
                    groups.append([])
                continue
            groups[-1].append(Word(_ALT.sub("", word), round(start, 3), round(min(end, duration), 3), float(prob)))
        out = []
        for words in (g for g in groups if g):
            text = "".join(" " + w.word for w in words)
            avg = sum(math.log(max(w.probability, 1e-12)) for w in words) / len(words)
            out.append(Segment(id=len(out), start=words[0].start, end=words[-1].end, text=text,
                               avg_logprob=avg, words=tuple(words)))
        return tuple(out)
