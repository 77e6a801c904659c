"""``POST /v1/audio/speech``: text to speech, OpenAI's ``CreateSpeechRequest`` on local engines.

The body is validated as OpenAI does (unknown fields, types, ``input`` 1-4096 characters,
``speed`` 0.25-4.0, ``response_format``, ``stream_format``, ``instructions`` only on models that
take them, SSE not on ``tts-1``/``tts-1-hd``), each failure a 400 naming the param. The voice
picks the engine (``registry.VOICES``); ``instructions`` become prosody through the documented
table in :mod:`audiolab.server.engines.prosody`.

Audio is always streamed, as OpenAI does: one chunk per sentence, the first as soon as the first
sentence is synthesized. Synthesis and encoding run in a worker thread through
``app.state.jobs``; a client that goes away stops the work at the next sentence. Every format is
one continuous stream at 24 kHz mono: ``pcm`` raw s16le, ``wav`` with a streaming header (sizes
0xFFFFFFFF, as OpenAI sends), ``flac``, ``mp3``, ``aac`` (ADTS) and ``opus`` (Ogg) from one
encoder across sentences. ``stream_format="sse"`` sends ``speech.audio.delta`` events (base64
of the same bytes) then ``speech.audio.done`` with usage.

Example:
    >>> lab = audiolab.connect("local")                                            # doctest: +SKIP
    >>> with lab.client.audio.speech.with_streaming_response.create(
    ...         model="gpt-4o-mini-tts", voice="coral", input="Hello there. Bye!") as r:  # doctest: +SKIP
    ...     r.stream_to_file("hello.mp3")
"""

from __future__ import annotations

import base64
import contextlib
import logging
import math
import re
import struct
from collections.abc import AsyncIterator, Iterator

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from audiolab.audio import PCM_RATE, Audio, float_to_pcm16
from audiolab.errors import AudiolabError, EngineFailure, EngineUnavailable, InvalidRequest
from audiolab.server import sse
from audiolab.server.coalesce import sharing_of
from audiolab.server.engines import ProsodyRequest
from audiolab.server.engines.prosody import from_instructions
from audiolab.server.engines.protocols import SynthesisOptions
from audiolab.server.jobs import INTERACTIVE, set_priority
from audiolab.server.registry import MODELS
from audiolab.server.response_cache import request_key
from audiolab.server.routes import engine_headers, state
from audiolab.server.validation import expect, loads_strict, missing, number, one_of, unknown, wrong_type

__all__ = ["router", "FORMATS", "StreamEncoder", "count_text_tokens", "AUDIO_TOKENS_PER_SECOND"]

log = logging.getLogger("audiolab.server.speech")
router = APIRouter(prefix="/v1")

MAX_INPUT_CHARS = 4096
MAX_INSTRUCTIONS_CHARS = 4096
SPEED_RANGE = (0.25, 4.0)
#: response_format -> Content-Type, as OpenAI labels them.
FORMATS = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
           "wav": "audio/wav", "pcm": "audio/pcm"}
STREAM_FORMATS = ("audio", "sse")
_FIELDS = ("model", "input", "voice", "instructions", "response_format", "speed", "stream_format")
# (container, codec, bits/s) for the PyAV-encoded formats
_AV = {"mp3": ("mp3", "libmp3lame", 64000), "aac": ("adts", "aac", 64000), "opus": ("ogg", "libopus", 32000),
       "flac": ("flac", "flac", None)}
#: TTS engines whose output is the same, sample for sample, for the same request (measured: three
#: runs, one hash). Piper draws VITS noise from onnxruntime's unseeded generator and eSpeak NG keeps
#: state between calls, so their renditions differ slightly from run to run.
BIT_EXACT_ENGINES = frozenset({"kokoro"})
#: Audio tokens per second of output reported in SSE usage (an estimate; OpenAI does not publish one).
AUDIO_TOKENS_PER_SECOND = 20


def count_text_tokens(text: str) -> int:
    """A tokenizer-free estimate of text tokens: words, numbers and punctuation marks, long words split.

    Example:
        >>> count_text_tokens("Hello, world!")
        4
    """
    return sum(max(1, math.ceil(len(t) / 6)) for t in re.findall(r"\w+|[^\w\s]", text))


# ---- streaming encoder --------------------------------------------------------------------

class _Sink:
    """A write-only, non-seekable file for PyAV: muxers then write headers once and never seek back."""

    def __init__(self):
        self.buf = bytearray()

    def write(self, data) -> int:
        self.buf += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self.buf)
        self.buf.clear()
        return out


class StreamEncoder:
    """Encodes consecutive clips into one continuous stream of a ``response_format``.

    ``feed(clip)`` returns the bytes ready so far (possibly empty for codecs with look-ahead);
    ``close()`` flushes the rest. Audio is resampled to 24 kHz mono with one streaming
    resampler, so sentence joins have no clicks.

    Example:
        >>> enc = StreamEncoder("wav")
        >>> head = enc.feed(Audio.from_array(np.zeros(2400, np.float32), PCM_RATE))
        >>> head[:4], len(head), len(enc.close())
        (b'RIFF', 4844, 0)
    """

    def __init__(self, fmt: str, *, sr: int = PCM_RATE):
        if fmt not in FORMATS:
            raise InvalidRequest(f"Unsupported response_format {fmt!r}.", param="response_format")
        self.fmt, self.sr = fmt, sr
        self._resampler = None
        self._in_sr: int | None = None
        self._container = self._stream = self._sink = None
        self._started = False

    def _resample(self, samples: np.ndarray, in_sr: int, last: bool) -> np.ndarray:
        if self._in_sr is None:
            self._in_sr = in_sr
        if in_sr != self._in_sr:
            raise InvalidRequest("A stream's clips must share one sample rate.", param="audio")
        if in_sr == self.sr:
            return samples
        if self._resampler is None:
            import soxr

            self._resampler = soxr.ResampleStream(in_sr, self.sr, 1, dtype="float32", quality="HQ")
        return self._resampler.resample_chunk(samples, last=last)

    def _wav_header(self) -> bytes:
        size = 0xFFFFFFFF  # unknown length: streaming header, as OpenAI sends
        return (b"RIFF" + struct.pack("<I", size) + b"WAVEfmt "
                + struct.pack("<IHHIIHH", 16, 1, 1, self.sr, self.sr * 2, 2, 16) + b"data" + struct.pack("<I", size))

    def _open_av(self):
        import av

        container, codec, bitrate = _AV[self.fmt]
        self._sink = _Sink()
        opts = {"flush_packets": "1"}
        if container == "ogg":
            opts["page_duration"] = "200000"  # µs: pages of 200 ms, shorter than a sentence gap
        self._container = av.open(self._sink, mode="w", format=container, options=opts, buffer_size=4096)
        self._stream = self._container.add_stream(codec, rate=self.sr, layout="mono")
        if bitrate:
            self._stream.bit_rate = bitrate

    def _encode(self, samples: np.ndarray | None) -> bytes:
        import av

        if self._container is None:
            self._open_av()
        if samples is None:
            self._container.mux(self._stream.encode(None))
            self._container.close()
        else:
            for i in range(0, len(samples), 4800):
                block = np.ascontiguousarray(samples[i:i + 4800], dtype=np.float32).reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
                frame.sample_rate = self.sr
                self._container.mux(self._stream.encode(frame))
        return self._sink.take()

    def _emit(self, samples: np.ndarray, *, last: bool) -> bytes:
        if self.fmt in ("pcm", "wav"):
            pcm = float_to_pcm16(samples).astype("<i2").tobytes()
            head = b"" if (self._started or self.fmt == "pcm") else self._wav_header()
            self._started = True
            return head + pcm
        out = self._encode(samples) if len(samples) else b""
        return out + (self._encode(None) if last else b"")

    def feed(self, clip: Audio) -> bytes:
        """Encode one more clip; returns the bytes now ready."""
        return self._emit(self._resample(clip.to_mono().samples, clip.sr, last=False), last=False)

    def close(self) -> bytes:
        """Flush the resampler and the encoder; returns the final bytes."""
        tail = self._resample(np.zeros(0, np.float32), self._in_sr or self.sr, last=True)
        return self._emit(tail, last=True)

    def abort(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):  # abandoning a half-written stream
                self._container.close()


# ---- request validation -------------------------------------------------------------------

async def _parse_body(request: Request) -> dict:
    raw = await request.body()
    try:
        body = loads_strict(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise InvalidRequest("We could not parse the JSON body of your request. The API expects a JSON "
                             "object (Content-Type: application/json).", code="invalid_json")
    return body


def _validate(body: dict) -> dict:
    extra = [k for k in body if k not in _FIELDS]
    if extra:
        raise unknown(extra[0])
    for name in ("model", "input", "voice"):
        if body.get(name) is None:
            raise missing(name)
    for name in ("model", "input", "instructions", "response_format", "stream_format"):
        if body.get(name) is not None:
            expect(body[name], str, name, "a string")
    text = body["input"]
    if not text.strip():
        raise InvalidRequest("Invalid 'input': string too short. Expected a string with minimum length 1 "
                             "(not only whitespace).", param="input", code="string_below_min_length")
    if len(text) > MAX_INPUT_CHARS:
        raise InvalidRequest(f"Invalid 'input': string too long. Expected a string with maximum length "
                             f"{MAX_INPUT_CHARS}, but got a string with length {len(text)} instead.",
                             param="input", code="string_above_max_length")
    instructions = body.get("instructions")
    if instructions is not None and len(instructions) > MAX_INSTRUCTIONS_CHARS:
        raise InvalidRequest(f"Invalid 'instructions': string too long. Expected a string with maximum length "
                             f"{MAX_INSTRUCTIONS_CHARS}, but got a string with length {len(instructions)} instead.",
                             param="instructions", code="string_above_max_length")
    speed = body.get("speed")
    speed = 1.0 if speed is None else number(speed, "speed", lo=SPEED_RANGE[0], hi=SPEED_RANGE[1])
    fmt = one_of(body.get("response_format") or "mp3", FORMATS, "response_format")
    stream_format = one_of(body.get("stream_format") or "audio", STREAM_FORMATS, "stream_format")
    voice = body["voice"]
    if not (isinstance(voice, str) or (isinstance(voice, dict) and isinstance(voice.get("id"), str))):
        raise wrong_type("voice", "a string or an object with an 'id'", voice)
    return {"model": body["model"], "input": text, "voice": voice, "instructions": instructions,
            "format": fmt, "speed": float(speed), "stream_format": stream_format}


# ---- synthesis ----------------------------------------------------------------------------

def _produce(registry, voice, text: str, *, speed: float, prosody: ProsodyRequest,
             fmt: str) -> Iterator[tuple[bytes, float]]:
    """Blocking: (encoded bytes, seconds of audio) per sentence, then the encoder's tail."""
    engine = registry.engine(voice.engine)
    encoder = StreamEncoder(fmt)
    done = False
    try:
        options = SynthesisOptions(voice=voice, speed=speed, prosody=prosody)
        for clip in engine.synthesize(text, **options.kwargs()):
            yield encoder.feed(clip), clip.duration
        tail = encoder.close()
        done = True
        yield tail, 0.0
    finally:
        if not done:
            encoder.abort()


async def _body(listeners, first, chunks: AsyncIterator, *, events: bool, input_tokens: int):
    """The response body; stops the engine once ``listeners.is_disconnected()`` (every client gone)."""
    seconds = 0.0
    try:
        item = first
        while item is not None:
            data, dur = item
            seconds += dur
            if data:
                delta = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}
                yield sse.frame(delta) if events else data
            if await listeners.is_disconnected():
                return  # the finally below stops the engine
            item = await anext(chunks, None)
        if events:
            out_tokens = math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)
            usage = {"input_tokens": input_tokens, "output_tokens": out_tokens,
                     "total_tokens": input_tokens + out_tokens}
            yield sse.frame({"type": "speech.audio.done", "usage": usage})
    except Exception as exc:  # the 200 went out: say so in-band (SSE) and stop
        log.exception("speech synthesis failed mid-stream")
        if events:
            err = exc if isinstance(exc, AudiolabError) else EngineFailure(f"Speech synthesis failed: {exc}")
            yield sse.frame({"type": "error", "error": err.to_openai()["error"]})
    finally:
        await chunks.aclose()


@router.post("/audio/speech")
async def create_speech(request: Request):
    st = state(request)
    req = _validate(await _parse_body(request))
    registry = st.registry
    spec, alias = registry.resolve(req["model"], "tts")
    voice = registry.voice(req["voice"])
    if req["instructions"] is not None and alias is not None and not alias.instructions:
        raise InvalidRequest(f"The model '{alias.id}' does not support 'instructions'; use gpt-4o-mini-tts.",
                             param="instructions", code="unsupported_parameter")
    if req["stream_format"] == "sse" and alias is not None and not alias.sse:
        raise InvalidRequest(f"stream_format 'sse' is not supported for the model '{alias.id}'; use "
                             "gpt-4o-mini-tts or stream_format 'audio'.", param="stream_format",
                             code="unsupported_value")
    # The voice decides the engine; report the local model that actually speaks.
    served = spec if spec.engine == voice.engine else next(
        m for m in MODELS.values() if m.kind == "tts" and m.engine == voice.engine)
    if not registry.available(served):
        raise EngineUnavailable(f"The voice '{voice.id}' needs {served.pip}, which is not installed. "
                                "Run `make lab` to install the local engines.", package=served.pip)
    prosody = from_instructions(req["instructions"])
    # Speech is listened to as it arrives (every format streams, as OpenAI's does): it goes ahead
    # of bulk work (file transcriptions, eval loops), whatever the format.
    set_priority(INTERACTIVE)
    events = req["stream_format"] == "sse"

    async def make(listeners):
        chunks = st.jobs.iterate(lambda: _produce(registry, voice, req["input"], speed=req["speed"],
                                                  prosody=prosody, fmt=req["format"]), engine=voice.engine)
        try:
            first = await anext(chunks, None)  # errors before any audio still get a proper status
        except BaseException:
            await chunks.aclose()
            raise
        input_tokens = count_text_tokens(req["input"]) + count_text_tokens(req["instructions"] or "")
        headers = {**engine_headers(served), "x-audiolab-voice": voice.id}
        body = _body(listeners, first, chunks, events=events, input_tokens=input_tokens)
        if events:
            return sse.response(body, headers=headers)
        return StreamingResponse(body, media_type=FORMATS[req["format"]],
                                 headers={**headers, "cache-control": "no-cache"})

    # Identical requests share one synthesis: always with a bit-exact engine, and with the others
    # when settings.share_speech says that one rendition may answer them.
    key = None
    if served.engine in BIT_EXACT_ENGINES or st.settings.share_speech:
        key = request_key("speech", {**req, "voice": voice.id, "served": served.id})
    return await sharing_of(st).respond("speech", key, make, request=request)
