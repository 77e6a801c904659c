"""What the server calls on an engine, and the options it passes: one Protocol and one option set
per engine kind. No HTTP here.

Every option set is a frozen dataclass whose fields are exactly the keyword options of the engine
method. A route (or a Realtime session) builds one from the request it checked and calls
``engine.transcribe(audio, **options.kwargs())``; a new engine (Kokoro, a bigger LLM) implements
the method with the same keyword options and defaults. ``tests/server/test_engine_protocols.py``
checks every engine class of :data:`audiolab.server.registry.ENGINES` against its Protocol, and
each Protocol against its option set, so they cannot drift apart.

Example:
    >>> TranscribeOptions(language="fr", beam_size=1).kwargs()["language"]
    'fr'
    >>> sorted(VadOptions().kwargs())
    ['min_speech_ms', 'prefix_padding_ms', 'sample_rate', 'silence_duration_ms', 'threshold']
    >>> PROTOCOLS["stt"].__name__, OPTIONS["stt"]["transcribe"].__name__
    ('SpeechToText', 'TranscribeOptions')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from audiolab.audio import PCM_RATE, Audio
from audiolab.server.engines import NEUTRAL_PROSODY, ChatDelta, ProsodyRequest, Transcript

__all__ = [
    "TranscribeOptions",
    "SynthesisOptions",
    "ChatOptions",
    "VadOptions",
    "SpeechToText",
    "TextToSpeech",
    "ChatModel",
    "VoiceActivity",
    "PROTOCOLS",
    "OPTIONS",
]


class _Options:
    def kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments of the engine method (shallow: values are not copied)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class TranscribeOptions(_Options):
    """Options of :meth:`SpeechToText.transcribe` and :meth:`SpeechToText.stream`.

    ``task`` is ``"transcribe"`` or ``"translate"`` (to English); ``hotwords`` biases decoding
    (OpenAI's ``keywords``); ``vad`` cuts the audio into speech chunks first (OpenAI's
    ``chunking_strategy`` as VAD options); ``beam_size`` overrides the engine's beam (1: greedy);
    ``fallback=False`` skips Whisper's temperature fallback (a streaming decoder that decodes the
    same audio again a moment later would rather have a quick answer than a retried one).
    """

    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    task: str = "transcribe"
    word_timestamps: bool = False
    logprobs: bool = False
    hotwords: str | None = None
    vad: Mapping | None = None
    beam_size: int | None = None
    fallback: bool = True


@dataclass(frozen=True)
class SynthesisOptions(_Options):
    """Options of :meth:`TextToSpeech.synthesize`: the voice (a ``registry.VoiceSpec``), OpenAI's
    ``speed`` (2.0 takes half as long) and the prosody asked for (from ``instructions``)."""

    voice: Any
    speed: float = 1.0
    prosody: ProsodyRequest = NEUTRAL_PROSODY


@dataclass(frozen=True)
class ChatOptions(_Options):
    """Options of :meth:`ChatModel.chat`, as Chat Completions names them.

    ``logprobs`` is the number of top alternatives per token (``top_logprobs``), or ``None`` for
    no log probabilities.
    """

    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    stop: Sequence[str] | None = None
    seed: int | None = None
    tools: Sequence[dict] | None = None
    tool_choice: str | dict = "auto"
    response_format: dict | None = None
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    logprobs: int | None = None


@dataclass(frozen=True)
class VadOptions(_Options):
    """Options of :meth:`VoiceActivity.stream`, as a Realtime session's ``turn_detection`` sets them."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    min_speech_ms: int = 64
    sample_rate: int = PCM_RATE


@runtime_checkable
class SpeechToText(Protocol):
    """Speech to text (Whisper, PocketSphinx). Keyword options: :class:`TranscribeOptions`."""

    def transcribe(
        self,
        audio: Audio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float = 0.0,
        task: str = "transcribe",
        word_timestamps: bool = False,
        logprobs: bool = False,
        hotwords: str | None = None,
        vad: Mapping | None = None,
        beam_size: int | None = None,
        fallback: bool = True,
    ) -> Transcript:
        """The whole clip's transcript."""
        ...

    def stream(
        self,
        audio: Audio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float = 0.0,
        task: str = "transcribe",
        word_timestamps: bool = False,
        logprobs: bool = False,
        hotwords: str | None = None,
        vad: Mapping | None = None,
        beam_size: int | None = None,
        fallback: bool = True,
    ) -> Iterator[Transcript]:
        """One :class:`Transcript` per segment, as each is decoded (options are checked on the call)."""
        ...


@runtime_checkable
class TextToSpeech(Protocol):
    """Text to speech (Piper, eSpeak NG). Keyword options: :class:`SynthesisOptions`."""

    def synthesize(
        self, text: str, *, voice: Any, speed: float = 1.0, prosody: ProsodyRequest = NEUTRAL_PROSODY
    ) -> Iterator[Audio]:
        """One :class:`Audio` per piece of ``text`` (see :mod:`audiolab.server.text_pieces`), each as soon
        as it is ready."""
        ...


@runtime_checkable
class ChatModel(Protocol):
    """A chat model (llama.cpp). Keyword options: :class:`ChatOptions`."""

    def chat(
        self,
        messages: Sequence[dict],
        *,
        max_tokens: int | None = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        tools: Sequence[dict] | None = None,
        tool_choice: str | dict = "auto",
        response_format: dict | None = None,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        logprobs: int | None = None,
    ) -> Iterator[ChatDelta]:
        """Text deltas, then one final :class:`ChatDelta` with the finish reason and token counts."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in the model's vocabulary."""
        ...


@runtime_checkable
class VoiceActivity(Protocol):
    """Voice activity detection (Silero). Keyword options: :class:`VadOptions`."""

    def stream(
        self,
        *,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 500,
        min_speech_ms: int = 64,
        sample_rate: int = PCM_RATE,
    ) -> Any:
        """A stream that turns fed samples into ``speech_started`` / ``speech_stopped`` events."""
        ...


#: Engine kind (a ``ModelSpec.kind``, or ``"vad"``) -> its Protocol.
PROTOCOLS: Mapping[str, type] = {
    "stt": SpeechToText,
    "tts": TextToSpeech,
    "chat": ChatModel,
    "vad": VoiceActivity,
}
#: Engine kind -> {method name: the option set of its keyword options}.
OPTIONS: Mapping[str, Mapping[str, type]] = {
    "stt": {"transcribe": TranscribeOptions, "stream": TranscribeOptions},
    "tts": {"synthesize": SynthesisOptions},
    "chat": {"chat": ChatOptions},
    "vad": {"stream": VadOptions},
}
