"""The plain values engines take and return. No HTTP here.

An engine family (``whisper``, ``piper``, ...) is a class constructed as
``Engine(settings, **options)`` by :class:`audiolab.server.registry.Registry`, once, and shared by
all requests. Its methods are ordinary blocking Python; the routes run them off the event loop.
What each kind of engine implements, and the options it is called with, is in
:mod:`audiolab.server.engines.protocols`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Word",
    "Segment",
    "TokenLogprob",
    "Transcript",
    "ProsodyRequest",
    "NEUTRAL_PROSODY",
    "ChatDelta",
]


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float | None = None


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    bytes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Segment:
    """One decoded segment, with the fields of OpenAI's ``TranscriptionSegment``."""

    id: int
    start: float
    end: float
    text: str
    tokens: tuple[int, ...] = ()
    seek: int = 0
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0
    words: tuple[Word, ...] = ()
    speaker: str | None = None


@dataclass(frozen=True)
class Transcript:
    """What a speech-to-text engine returns."""

    text: str
    language: str
    duration: float
    segments: tuple[Segment, ...] = ()
    logprobs: tuple[TokenLogprob, ...] | None = None
    partial: bool = False  # the decode budget ran out: the text covers the audio up to the last segment

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)

    @classmethod
    def join(cls, parts, *, duration: float, language: str | None = None) -> Transcript:
        """One transcript from the parts an engine's ``stream()`` yields (one segment each), in order."""
        parts = list(parts)
        segments = tuple(s for p in parts for s in p.segments)
        logprobs = None
        if parts and all(p.logprobs is not None for p in parts):
            logprobs = tuple(lp for p in parts for lp in p.logprobs)
        extra = {"partial": True} if any(getattr(p, "partial", False) for p in parts) else {}
        return cls(text="".join(s.text for s in segments).strip(), language=parts[0].language if parts else
                   (language or "en"), duration=duration, segments=segments, logprobs=logprobs, **extra)


@dataclass(frozen=True)
class ProsodyRequest:
    """Prosody asked of a TTS engine: multipliers around the voice's own settings.

    ``rate`` scales speaking rate, ``pitch`` is a frequency ratio, ``volume`` a gain ratio,
    ``pause`` scales silences between phrases; ``breathy`` asks for a whisper-like voice.
    """

    rate: float = 1.0
    pitch: float = 1.0
    volume: float = 1.0
    pause: float = 1.0
    pitch_range: float = 1.0
    breathy: bool = False


#: The prosody of a voice left as it is (every multiplier 1): the default of every engine.
NEUTRAL_PROSODY = ProsodyRequest()


@dataclass(frozen=True)
class ChatDelta:
    """A piece of a chat answer: text, or a finish reason with token counts at the end."""

    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: tuple = field(default=())
    logprobs: tuple = field(default=())  # per-token records (engines.llm.TokenChoice) when asked for
