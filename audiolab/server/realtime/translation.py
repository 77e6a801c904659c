"""A Realtime translation session (``wss /v1/realtime/translations``): speech in, translated
transcript and speech out, continuously.

Client events: ``session.update``, ``session.input_audio_buffer.append`` (base64 PCM16, 24 kHz,
mono) and ``session.close``. Server events: ``session.created``, ``session.updated``,
``session.input_transcript.delta``, ``session.output_transcript.delta``,
``session.output_audio.delta``, ``session.closed`` and ``error``.

How the local server does it::

    append -> input buffer -> Silero VAD (pauses end a window)
    window, re-decoded every STEP_MS as it grows -> whisper (task=translate, or transcribe; the
        source language from the guesses of the passes so far, SourceLanguage)
        -> Agreement (words two passes agree on; a window's last pass whole) -> transcript deltas
    English out: whisper's translate task. Other languages: the source transcript, cut into
        pieces (PieceCutter), each translated by the chat model as its tokens arrive.
    output text -> PieceCutter -> TTS in the language's voice -> session.output_audio.delta

Every engine call goes through the job runner at interactive priority, as a realtime turn does,
and the session holds a runner reservation while it is open. Three tasks run per session (the
decoder, the chat translator, the speaker), each a :class:`~audiolab.server.realtime.work.Work`,
so closing the session leaves nothing running. ``session.close`` flushes: the last window is
decoded whole, the rest is translated and spoken, then ``session.closed`` is sent.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging

import anyio.to_thread
import numpy as np

from audiolab.audio import PCM_RATE, Audio, float_to_pcm16, pcm16_to_float
from audiolab.errors import AudiolabError, InvalidRequest
from audiolab.server.engines.protocols import ChatOptions, SynthesisOptions, TranscribeOptions, VadOptions
from audiolab.server.jobs import INTERACTIVE
from audiolab.server.realtime.agreement import Agreement
from audiolab.server.realtime.events import error_event, event
from audiolab.server.realtime.input_buffer import InputBuffer
from audiolab.server.realtime.source_language import SourceLanguage
from audiolab.server.realtime.translation_config import DEFAULT_MODEL, TranslationConfig
from audiolab.server.realtime.work import Work
from audiolab.server.registry import CHAT_MODEL, TRANSLATION_VOICES
from audiolab.server.text_pieces import PieceCutter, ends_sentence, spoken_text
from audiolab.server.validation import loads_strict, missing

__all__ = ["TranslationSession", "FIRST_PASS_MS", "STEP_MS", "MAX_WINDOW_MS"]

log = logging.getLogger("audiolab.server.realtime")

FRAME_MS = 200  # elapsed_ms advances in engine frames of this size, as OpenAI's does
FIRST_PASS_MS = 1000  # audio in a window before its first decode; a word goes out once two passes agree
STEP_MS = 500  # new audio between two decodes of a growing window
MAX_WINDOW_MS = 10_000  # a window is ended (decoded whole) by then even without a pause
PAUSE_MS = 300  # the silence that ends a window (a sentence or clause: interpreters cut there too)
_KEEP_IDLE_MS = 400  # audio kept before speech starts (the VAD's prefix)
_DELTA_SAMPLES = PCM_RATE // 2  # at most half a second of audio per output_audio.delta
_PROMPT_CHARS = 200  # whisper's context: the end of what was sent before the window (its own words
# as a prompt made whisper skip them: 'Today we' sent, the next pass began at 'talk about')
_LANGUAGES = {"en": "English", "es": "Spanish", "fr": "French", "de": "German"}
_CLIENT_EVENTS = ("session.update", "session.input_audio_buffer.append", "session.close")


def _frame(ms: int) -> int:
    return ms // FRAME_MS * FRAME_MS


class TranslationSession:
    """One translation session (see the module doc); the route feeds it frames and sends what it emits.

    Args:
        model: the ``?model=`` of the URL (``gpt-realtime-translate``).
        registry, jobs: the app's engine registry and job runner.
        emit: called with each server event (a dict), in order.
    """

    def __init__(self, *, model: str | None, registry, jobs, emit):
        self.registry, self.jobs, self.emit = registry, jobs, emit
        registry.resolve(model or DEFAULT_MODEL, "translation")  # raises UnsupportedModel
        self.config = TranslationConfig(model or DEFAULT_MODEL)
        self.buffer = InputBuffer()
        self.finished = asyncio.Event()  # session.closed was sent (or the session failed)
        self._wake = asyncio.Event()
        self._closing = False
        self._speech = False  # the VAD hears speech now
        self._heard = False  # the current window holds speech
        self._cut_ms: int | None = None  # a pause ended the window here
        self._speech_start_ms = -1  # where the VAD last heard speech start
        self._decoded_ms = 0  # end of the audio of the last decode
        self._language = SourceLanguage()
        self._source = Agreement()  # input transcript
        self._target = Agreement()  # output transcript (whisper's translation into English)
        self._source_cut = PieceCutter()  # source text -> pieces for the chat model
        self._target_cut = PieceCutter()  # output text -> pieces to speak
        self._chat_queue: asyncio.Queue = asyncio.Queue()
        self._speak_queue: asyncio.Queue = asyncio.Queue()
        self._out_text = ""
        self._engines: dict = {}
        self._work: list[Work] = []
        self._reservation = None
        self._vad = None

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the engines, send ``session.created`` and start the session's tasks."""
        self._reservation = self.jobs.reserve()
        await self._engine("stt")
        vad = await anyio.to_thread.run_sync(self.registry.engine, "vad")
        self._vad = vad.stream(**VadOptions(silence_duration_ms=PAUSE_MS, prefix_padding_ms=_KEEP_IDLE_MS).kwargs())
        self.emit(event("session.created", session=self.config.wire()))
        self._work = [Work(self._decode_loop(), name="translation-decode"),
                      Work(self._chat_loop(), name="translation-chat"),
                      Work(self._speak_loop(), name="translation-speak")]

    async def close(self) -> None:
        """Cancel the session's work and wait for it (engine calls in flight finish first)."""
        for w in self._work:
            w.cancel()
        await asyncio.gather(*(w.task for w in self._work), return_exceptions=True)
        if self._reservation is not None:
            self._reservation.release()

    async def _engine(self, kind: str, voice=None):
        if kind == "stt":
            model = (self.config.transcription or {}).get("model", self.config.model)
            spec, _ = self.registry.resolve(model, ("stt", "translation"))
            key, load = ("stt", spec.id), functools.partial(self.registry.engine_for, spec)
        elif kind == "chat":
            spec, _ = self.registry.resolve(CHAT_MODEL, "chat")
            key, load = ("chat", spec.id), functools.partial(self.registry.engine_for, spec)
        else:
            key, load = (kind,), functools.partial(self.registry.engine, kind)
        if key not in self._engines:
            self._engines[key] = await anyio.to_thread.run_sync(load)
        return self._engines[key]

    # --- client events -----------------------------------------------------------------------
    async def handle_text(self, text: str) -> None:
        """Handle one text frame: a JSON client event. Mistakes get an ``error`` event."""
        client_id = None
        try:
            try:
                data = loads_strict(text)
            except ValueError as exc:
                raise InvalidRequest(f"Invalid JSON in the client event: {exc}.", code="invalid_json") from None
            if not isinstance(data, dict):
                raise InvalidRequest("A client event must be a JSON object.", code="invalid_event")
            client_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
            etype = data.get("type")
            if etype == "input_audio_buffer.append":  # the speech-to-speech name, accepted too
                etype = "session.input_audio_buffer.append"
            if etype not in _CLIENT_EVENTS:
                raise InvalidRequest(f"Invalid value: {etype!r}. Supported values are: "
                                     + ", ".join(f"'{t}'" for t in _CLIENT_EVENTS) + ".",
                                     param="type", code="invalid_value")
            if self._closing:
                raise InvalidRequest("The session is closing: no more events are accepted.", param="type",
                                     code="session_closing")
            if etype == "session.update":
                if "session" not in data:
                    raise missing("session")
                self.config.update(data["session"], self.registry)
                self.emit(event("session.updated", session=self.config.wire()))
            elif etype == "session.close":
                self._closing = True
                self._wake.set()
            else:
                self._append(data)
        except AudiolabError as exc:
            self.emit(error_event(exc, client_event_id=client_id))

    def handle_binary(self) -> None:
        self.emit(error_event(InvalidRequest(
            "Binary frames are not supported: send JSON text frames, with audio as base64 in "
            "session.input_audio_buffer.append.", code="invalid_event")))

    def _append(self, data: dict) -> None:
        if "audio" not in data:
            raise missing("audio")
        start = self.buffer.end_ms
        samples = self.buffer.append(data["audio"], "audio/pcm")
        if not samples.size:
            return
        for e in self._vad.feed(pcm16_to_float(samples)):
            if e.type == "speech_started":
                self._speech = self._heard = True
                self._speech_start_ms = e.ms
            else:
                self._speech = False
                self._cut_ms = max(e.ms, start)
        if not self._heard:  # nothing said yet in this window: keep only the VAD's prefix
            self.buffer.drop_before(self.buffer.end_ms - _KEEP_IDLE_MS)
            self._decoded_ms = self.buffer.start_sample * 1000 // PCM_RATE
        self._wake.set()

    # --- decoding ----------------------------------------------------------------------------
    def _next_step(self) -> str | None:
        """What the decoder should do now: ``"end"`` the window, ``"pass"`` over it, or nothing."""
        start_ms = self.buffer.start_sample * 1000 // PCM_RATE
        if self._heard and (self._closing or self._cut_ms is not None
                            or self.buffer.end_ms - start_ms >= MAX_WINDOW_MS):
            return "end"
        if (self._heard and self.buffer.end_ms - start_ms >= FIRST_PASS_MS
                and self.buffer.end_ms - self._decoded_ms >= STEP_MS):
            return "pass"
        return None

    async def _decode_loop(self) -> None:
        try:
            while True:
                step = self._next_step()
                if step is None:
                    if self._closing:
                        break
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                try:
                    await self._decode(final=step == "end")
                except AudiolabError as exc:
                    self.emit(error_event(exc))
                    if step == "end":
                        self._end_window(self.buffer.end_ms)
            await self._chat_queue.put(None)  # flush downstream, then say goodbye
            await asyncio.gather(*(w.task for w in self._work[1:]))
            self.emit(event("session.closed"))
        except Exception:  # a bug must not leave the client waiting for session.closed
            log.exception("translation session failed")
            self.emit(error_event(AudiolabError("The translation session failed on the server.")))
        finally:
            self.finished.set()

    async def _decode(self, *, final: bool) -> None:
        start_ms = self.buffer.start_sample * 1000 // PCM_RATE
        closing_all = self._closing or self._cut_ms is None
        end_ms = self.buffer.end_ms if not final or closing_all else self._cut_ms
        end_ms = max(start_ms, end_ms)
        samples = self.buffer.peek(start_ms, end_ms)
        if samples.size < PCM_RATE // 10:  # nothing worth decoding (a pause right after the last cut)
            if final:
                self._end_window(end_ms)
            return
        self._decoded_ms = self.buffer.end_ms
        elapsed = _frame(end_ms)
        english = self.config.language == "en"
        want_source = not english or (self.config.transcription is not None and final)
        if english:
            result = await self._whisper(samples, "translate", self._target.before_window, final=final)
            delta = self._target.finish(result.text) if final else self._target.update(result.text)
            if delta:
                self._output(delta, elapsed)
        if want_source:
            result = await self._whisper(samples, "transcribe", self._source.before_window, final=final,
                                         detect=not english)
            delta = self._source.finish(result.text) if final else self._source.update(result.text)
            if delta:
                if self.config.transcription is not None:
                    self.emit(event("session.input_transcript.delta", delta=delta, elapsed_ms=elapsed))
                if not english:
                    for piece in self._source_cut.feed(delta):
                        await self._chat_queue.put((piece, elapsed))
        if final:
            if not english:
                for piece in self._source_cut.finish():
                    await self._chat_queue.put((piece, elapsed))
            else:
                self._flush_speech(elapsed)
            self._end_window(end_ms)

    def _end_window(self, end_ms: int) -> None:
        self.buffer.drop_before(end_ms)
        # Audio keeps arriving while a window is decoded: a pause heard meanwhile cuts the next
        # window, and speech heard meanwhile belongs to it (else a whole sentence was dropped).
        later_cut = self._cut_ms is not None and self._cut_ms > end_ms
        self._cut_ms = self._cut_ms if later_cut else None
        rest = not (self._closing and end_ms >= self.buffer.end_ms)  # closing: no more audio comes
        self._heard = rest and (self._speech or later_cut or self._speech_start_ms >= end_ms)
        self._target.reset_window()
        self._source.reset_window()

    async def _whisper(self, samples: np.ndarray, task: str, context: str, *, final: bool, detect: bool = True):
        """One greedy decode of a window, without Whisper's temperature fallback: on unclear audio
        (eSpeak) the fallback doubled or tripled a pass, and on a repetition loop ("and the and
        the") a window's last pass took 44 s, still looping.

        With ``detect``, the pass first adds whisper's language probabilities for the window to
        :class:`SourceLanguage` and decodes in the language it then chooses; both steps run in one
        worker thread, so the window is encoded once."""
        engine = await self._engine("stt")
        audio = Audio.from_array(samples, PCM_RATE)
        language = self._language

        def decode():
            code = language.best
            if detect and language.code is None:
                code = language.choose(engine.language_probabilities(audio), audio.duration, final=final)
            options = TranscribeOptions(task=task, language=code, beam_size=1, fallback=False,
                                        prompt=context[-_PROMPT_CHARS:] or None)
            return engine.transcribe(audio, **options.kwargs())

        return await self.jobs.run(decode, priority=INTERACTIVE)

    # --- output text and speech --------------------------------------------------------------
    def _output(self, delta: str, elapsed: int) -> None:
        """Send output transcript text and queue the pieces it completes for speech."""
        self._out_text += delta
        self.emit(event("session.output_transcript.delta", delta=delta, elapsed_ms=elapsed))
        for piece in self._target_cut.feed(delta):
            self._speak_queue.put_nowait((piece, elapsed, self.config.language))
        if ends_sentence(delta):  # sent text is never taken back: a finished sentence can be spoken now
            self._flush_speech(elapsed)

    def _flush_speech(self, elapsed: int) -> None:
        for piece in self._target_cut.finish():
            self._speak_queue.put_nowait((piece, elapsed, self.config.language))
        self._target_cut = PieceCutter()

    async def _chat_loop(self) -> None:
        """Source pieces -> the chat model's translation, streamed as output transcript deltas."""
        while True:
            item = await self._chat_queue.get()
            if item is None:
                break
            piece, elapsed = item
            try:
                await self._translate_piece(piece, elapsed)
            except AudiolabError as exc:
                self.emit(error_event(exc))
            self._flush_speech(elapsed)
        await self._speak_queue.put(None)

    async def _translate_piece(self, piece: str, elapsed: int) -> None:
        target = self.config.language
        if target == "en":  # the language was changed to English meanwhile: whisper translates from now on
            return
        if self._language.best == target:  # nothing to translate
            self._output((" " if self._out_text else "") + piece.strip(), elapsed)
            return
        llm = await self._engine("chat")
        source = _LANGUAGES.get(self._language.best or "", "the speaker's language")
        messages = [{"role": "system", "content": f"You translate {source} into {_LANGUAGES[target]}. Reply with "
                                                  "the translation of the user's text only, nothing else."},
                    {"role": "user", "content": piece}]
        chat = functools.partial(llm.chat, messages, **ChatOptions(max_tokens=200, temperature=0.0).kwargs())
        first = True
        async for d in self.jobs.generate(llm, chat, priority=INTERACTIVE):
            text = d.text
            if first and text.strip():
                text = (" " if self._out_text else "") + text.lstrip()
                first = False
            elif first:
                continue
            self._output(text, elapsed)

    async def _speak_loop(self) -> None:
        """Pieces of output text -> speech in the output language's voice, as output_audio deltas."""
        while True:
            item = await self._speak_queue.get()
            if item is None:
                break
            piece, elapsed, language = item
            try:
                async for chunk in self._speak(piece, language):
                    self.emit(event("session.output_audio.delta", delta=chunk, sample_rate=PCM_RATE,
                                    channels=1, format="pcm16", elapsed_ms=elapsed))
            except AudiolabError as exc:
                self.emit(error_event(exc))

    async def _speak(self, piece: str, language: str):
        voice = self.registry.voice(TRANSLATION_VOICES[language])
        tts = await self._engine(voice.engine)

        def speak():  # in a worker thread
            spoken = spoken_text(piece)
            if not spoken:
                return
            for clip in tts.synthesize(spoken, **SynthesisOptions(voice=voice).kwargs()):
                pcm = float_to_pcm16(clip.to_mono().resample(PCM_RATE).samples).astype("<i2").tobytes()
                yield [base64.b64encode(pcm[i:i + 2 * _DELTA_SAMPLES]).decode()
                       for i in range(0, len(pcm), 2 * _DELTA_SAMPLES)]

        async for chunks in self.jobs.iterate(speak, priority=INTERACTIVE, engine=voice.engine):
            for chunk in chunks:
                yield chunk
