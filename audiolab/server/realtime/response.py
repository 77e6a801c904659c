"""One model response of a Realtime session: chat model, then speech, streamed as GA server events.

A :class:`ResponseRun` is started by ``response.create`` or by server VAD at the end of a turn. It
waits for the transcripts of the audio in its context, streams the chat model's answer, cuts it
into pieces (:class:`~audiolab.server.text_pieces.PieceCutter`, as Chat Completions audio does)
and has the TTS engine speak each one while the model writes the next (the LLM runs in one
worker thread, TTS in another). Events follow OpenAI's order::

    response.created
    response.output_item.added → conversation.item.added → response.content_part.added
    (response.output_audio_transcript.delta, response.output_audio.delta ...)  or  response.output_text.delta ...
    response.output_audio.done → response.output_audio_transcript.done   (or response.output_text.done)
    response.content_part.done → response.output_item.done → conversation.item.done
    response.done  (status completed / cancelled / incomplete / failed, status_details, usage)

An out-of-band response (``conversation: "none"``) emits no ``conversation.item.*`` events and
leaves the conversation untouched. A cancelled response (``response.cancel`` or a barge-in) still
closes every part it opened, then reports ``cancelled`` with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import math
from dataclasses import dataclass, field

import anyio
import numpy as np

from audiolab.audio import PCM_RATE, float_to_pcm16, pcm16_to_float
from audiolab.errors import AudiolabError, EngineFailure, InvalidRequest
from audiolab.server.engines.protocols import ChatOptions, SynthesisOptions
from audiolab.server.jobs import INTERACTIVE
from audiolab.server.realtime import g711
from audiolab.server.realtime.conversation import Item
from audiolab.server.realtime.events import (
    audio_tokens,
    error_details,
    event,
    new_id,
    response_object,
    text_tokens,
    usage,
)
from audiolab.server.realtime.speculation import SpeculativeAnswer
from audiolab.server.text_pieces import PieceCutter, spoken_text

__all__ = ["ResponseParams", "ResponseRun", "prompt_messages", "chat_stream", "speech_stream", "DEFAULT_MAX_TOKENS"]

log = logging.getLogger("audiolab.server.realtime")

#: Tokens the local model may write when the client leaves ``max_output_tokens`` at ``"inf"``.
DEFAULT_MAX_TOKENS = 120
TEMPERATURE = 0.7
#: Conversation text kept in the prompt under truncation "auto" (about 1500 tokens of SmolLM2's 2048).
CONTEXT_CHARS = 6000
_DELTA_SAMPLES = PCM_RATE // 2  # at most half a second of audio per response.output_audio.delta


@dataclass
class ResponseParams:
    """A validated ``response.create`` (defaults from the session)."""

    modalities: list[str]
    voice: object
    speed: float
    output_format: dict
    instructions: str | None
    max_output_tokens: object
    out_of_band: bool = False
    input_items: list[Item] | None = None  # None: the whole default conversation
    metadata: dict | None = None

    @classmethod
    def parse(cls, raw, session) -> ResponseParams:
        """Validate the ``response`` object of ``response.create`` against ``session``'s configuration.

        Raises:
            InvalidRequest: a field of the wrong type or value; ``param`` names it.
        """
        cfg = session.config
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise InvalidRequest("Invalid type for 'response': expected an object.", param="response",
                                 code="invalid_type")
        known = {"audio", "conversation", "input", "instructions", "max_output_tokens", "metadata", "output_modalities",
                 "tools", "tool_choice", "prompt", "reasoning", "parallel_tool_calls"}
        for key in raw:
            if key not in known:
                raise InvalidRequest(f"Unknown parameter: 'response.{key}'.", param=f"response.{key}",
                                     code="unknown_parameter")
        out = cfg.audio_output
        params = cls(modalities=list(cfg.data["output_modalities"]), voice=out["voice"], speed=out.get("speed", 1.0),
                     output_format=dict(out["format"]), instructions=cfg.data["instructions"],
                     max_output_tokens=cfg.data["max_output_tokens"])
        if "output_modalities" in raw:
            if raw["output_modalities"] not in (["audio"], ["text"]):
                raise InvalidRequest("Invalid 'response.output_modalities': use ['audio'] or ['text'].",
                                     param="response.output_modalities", code="invalid_value")
            params.modalities = list(raw["output_modalities"])
        audio = raw.get("audio") or {}
        audio_out = audio.get("output") or {} if isinstance(audio, dict) else None
        if not isinstance(audio_out, dict):
            raise InvalidRequest("Invalid type for 'response.audio': expected {'output': {...}}.",
                                 param="response.audio", code="invalid_type")
        if "voice" in audio_out:
            session.registry.voice(audio_out["voice"])  # raises for an unknown voice
            params.voice = audio_out["voice"]
        if "format" in audio_out:
            from audiolab.server.realtime.config import audio_format

            params.output_format = audio_format(audio_out["format"], "response.audio.output.format")
        if "instructions" in raw:
            if not isinstance(raw["instructions"], str):
                raise InvalidRequest("Invalid type for 'response.instructions': expected a string.",
                                     param="response.instructions", code="invalid_type")
            params.instructions = raw["instructions"]
        if "max_output_tokens" in raw:
            m = raw["max_output_tokens"]
            if m != "inf" and (not isinstance(m, int) or isinstance(m, bool) or not 1 <= m <= 4096):
                raise InvalidRequest("Invalid 'response.max_output_tokens': an integer from 1 to 4096, or 'inf'.",
                                     param="response.max_output_tokens", code="invalid_value")
            params.max_output_tokens = m
        if "metadata" in raw and raw["metadata"] is not None:
            md = raw["metadata"]
            pairs_ok = isinstance(md, dict) and all(
                isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512 for k, v in md.items())
            if not pairs_ok or len(md) > 16:
                raise InvalidRequest("Invalid 'response.metadata': up to 16 string pairs (keys up to 64 characters, "
                                     "values up to 512).", param="response.metadata", code="invalid_value")
            params.metadata = dict(md)
        conversation = raw.get("conversation", "auto")
        if conversation not in ("auto", "none"):
            raise InvalidRequest("Invalid value for 'response.conversation': use 'auto' or 'none'.",
                                 param="response.conversation", code="invalid_value")
        params.out_of_band = conversation == "none"
        if "input" in raw and raw["input"] is not None:
            if not isinstance(raw["input"], list):
                raise InvalidRequest("Invalid type for 'response.input': expected an array.", param="response.input",
                                     code="invalid_type")
            items = []
            for i, entry in enumerate(raw["input"]):
                if isinstance(entry, dict) and entry.get("type") == "item_reference":
                    items.append(session.conversation.get(entry.get("id"), param=f"response.input[{i}].id"))
                else:
                    items.append(Item.from_wire(entry, param=f"response.input[{i}]", decode_audio=session.decode_audio))
            params.input_items = items
        return params


@dataclass(eq=False)
class ResponseRun:
    """A response in flight. ``start()`` schedules it; ``cancel(reason)`` ends it as ``cancelled``."""

    session: object
    params: ResponseParams
    id: str = field(default_factory=lambda: new_id("resp"))
    task: asyncio.Task | None = None
    _scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    status: str = "in_progress"
    cancel_reason: str | None = None
    muted: bool = False
    item: Item | None = None
    _part_open: bool = False
    _text: str = ""
    _out_samples: int = 0
    _tokens: dict = field(default_factory=lambda: {"prompt": 0, "completion": 0, "input_audio": 0})
    _finish_reason: str | None = None
    _prompt_text: str = ""
    answer: SpeculativeAnswer | None = None  # an answer prepared before the turn was committed
    first_audio_ms: int | None = None  # the input audio clock when its first audio was sent (idle timeout)

    def answer_key(self) -> tuple:
        p = self.params
        return SpeculativeAnswer.key_of(p.modalities, p.voice, p.speed, p.output_format, p.max_output_tokens)

    @property
    def audio(self) -> bool:
        return self.params.modalities == ["audio"]

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"realtime-{self.id}")

    def cancel(self, reason: str | None) -> None:
        """End the response as ``cancelled`` with ``reason``; ``None`` (session closing) ends it silently.

        The engines' current step (one token, one sentence) finishes first: nothing keeps running.
        """
        if self.task is not None and not self.task.done() and not self._scope.cancel_called:
            self.cancel_reason = reason
            self._scope.cancel()

    def _emit(self, type_: str, **fields) -> None:
        self.session.emit(event(type_, **fields))

    def _response(self, **extra) -> dict:
        p = self.params
        return response_object(self.id, conversation_id=None if p.out_of_band else self.session.conversation.id,
                               output_modalities=p.modalities, max_output_tokens=p.max_output_tokens,
                               voice=p.voice, output_format=p.output_format, metadata=p.metadata, **extra)

    async def _run(self) -> None:
        try:
            self._emit("response.created", response=self._response())
            with self._scope:
                await self._generate()
            if self._scope.cancelled_caught:
                if self.cancel_reason is not None:  # else the session is closing: nobody is listening
                    self._finish("cancelled", reason=self.cancel_reason)
                return
            limited = self._finish_reason == "length" and self.params.max_output_tokens != "inf"
            self._finish("incomplete" if limited else "completed", reason="max_output_tokens" if limited else None)
        except AudiolabError as exc:
            self._finish("failed", error=exc)
        except Exception as exc:  # an engine crash fails this response, not the session
            log.exception("realtime response %s failed", self.id)
            self._finish("failed", error=EngineFailure(f"The response failed: {type(exc).__name__}."))
        finally:
            if self.answer is not None:
                self.answer.cancel()  # nothing left to replay: stop it (it is done already unless cancelled)
            self.session.response_finished(self)

    async def _generate(self) -> None:
        context = self.params.input_items
        context = list(self.session.conversation.items) if context is None else context
        await self.session.await_transcripts(context)
        self._tokens["input_audio"] = sum(audio_tokens(len(i.audio) / PCM_RATE)
                                          for i in context if i.audio is not None)
        messages = prompt_messages(self.session, self.params, context)
        self._prompt_text = " ".join(m["content"] for m in messages)
        if self.audio and not self.params.out_of_band:
            self.answer = self.session.take_answer(messages, self.answer_key())
        self._open_item()
        if self.audio:
            await self._speak(messages)
        else:
            await self._write(messages)

    def _open_item(self) -> None:
        self.item = Item(wire={"id": new_id("item"), "object": "realtime.item", "type": "message",
                               "status": "in_progress", "role": "assistant", "content": []})
        self._emit("response.output_item.added", response_id=self.id, output_index=0, item=self.item.to_wire())
        if not self.params.out_of_band:
            previous = self.session.conversation.insert(self.item)
            self._emit("conversation.item.added", previous_item_id=previous, item=self.item.to_wire())
        part = {"type": "audio", "transcript": ""} if self.audio else {"type": "text", "text": ""}
        self.item.wire["content"] = [{"type": "output_audio", "transcript": ""} if self.audio
                                     else {"type": "output_text", "text": ""}]
        if self.audio:
            self.item.audio = np.zeros(0, dtype=np.int16)
        self._emit("response.content_part.added", response_id=self.id, item_id=self.item.id, output_index=0,
                   content_index=0, part=part)
        self._part_open = True

    def _where(self) -> dict:
        return {"response_id": self.id, "item_id": self.item.id, "output_index": 0, "content_index": 0}

    async def _chat(self, messages):
        source = self._replay_deltas() if self.answer is not None else chat_stream(self.session, self.params, messages)
        async for delta in source:
            if delta.finish_reason is not None:
                self._finish_reason = delta.finish_reason
                self._tokens["prompt"] = delta.prompt_tokens
                self._tokens["completion"] = delta.completion_tokens
            if delta.text:
                yield delta.text

    async def _write(self, messages) -> None:
        async for text in self._chat(messages):
            self._text += text
            self.item.wire["content"][0]["text"] = self._text
            self._emit("response.output_text.delta", **self._where(), delta=text)

    async def _speak(self, messages) -> None:
        # The model writes (one worker thread) while finished sentences are spoken (another).
        send, receive = anyio.create_memory_object_stream(math.inf)
        failures: list[Exception] = []

        async def think():
            try:
                async with send:
                    cutter = PieceCutter()
                    async for text in self._chat(messages):
                        for piece in cutter.feed(text):
                            send.send_nowait(piece)
                    for piece in cutter.finish():
                        send.send_nowait(piece)
            except Exception as exc:  # re-raised below, outside the task group
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(think)
            try:
                async with receive:
                    async for sentence in receive:
                        await self._say(sentence)
            except Exception as exc:  # re-raised below, outside the task group
                failures.append(exc)
                tg.cancel_scope.cancel()
        if failures:
            raise failures[0]

    async def _replay_deltas(self):
        """The speculative answer's chat deltas, as they were (and are still being) recorded."""
        answer, i = self.answer, 0
        while True:
            while i < len(answer.deltas):
                i += 1
                yield answer.deltas[i - 1]
            if answer.finished:
                break
            await answer.changed()
        if answer.failed is not None:
            raise answer.failed

    async def _replay_audio(self, sentence: str):
        """The speculative speech of the first sentence, or live synthesis if there is none."""
        answer, i = self.answer, 0
        if answer is None or sentence != answer.sentence:
            async for piece in speech_stream(self.session, self.params, sentence):
                yield piece
            return
        while True:
            while i < len(answer.audio):
                i += 1
                yield answer.audio[i - 1]
            if answer.audio_finished:
                break
            await answer.changed()
        if answer.audio_failed:
            if i:
                raise EngineFailure("Speech synthesis failed mid-sentence.")
            async for piece in speech_stream(self.session, self.params, sentence):
                yield piece

    async def _say(self, sentence: str) -> None:
        said = False
        async for pcm, chunks in self._replay_audio(sentence):
            if not said:
                self._transcript_delta(sentence)
                said = True
            if self.first_audio_ms is None:
                self.first_audio_ms = self.session.buffer.end_ms
            self.item.audio = np.concatenate([self.item.audio, pcm])
            self._out_samples += pcm.size
            self.session.config.voice_locked = True
            if not self.muted:
                for chunk in chunks:
                    self._emit("response.output_audio.delta", **self._where(), delta=chunk)
        if not said:
            self._transcript_delta(sentence)
        self.item.spoken.append((self._out_samples * 1000 // PCM_RATE, sentence))

    def _transcript_delta(self, sentence: str) -> None:
        delta = (" " if self._text else "") + sentence
        self._text += delta
        self.item.wire["content"][0]["transcript"] = self._text
        self._emit("response.output_audio_transcript.delta", **self._where(), delta=delta)

    def _finish(self, status: str, *, reason: str | None = None, error: AudiolabError | None = None) -> None:
        self.status = status
        if self._part_open:
            where = self._where()
            if self.audio:
                self._emit("response.output_audio.done", **where)
                self._emit("response.output_audio_transcript.done", **where, transcript=self._text)
                part = {"type": "audio", "transcript": self._text}
            else:
                self._emit("response.output_text.done", **where, text=self._text)
                part = {"type": "text", "text": self._text}
            self._emit("response.content_part.done", **where, part=part)
            self._part_open = False
        output = []
        if self.item is not None:
            self.item.wire["status"] = "completed" if status == "completed" else "incomplete"
            wire = self.item.to_wire()
            output = [wire]
            self._emit("response.output_item.done", response_id=self.id, output_index=0, item=wire)
            if not self.params.out_of_band and self.item in self.session.conversation.items:
                self._emit("conversation.item.done", previous_item_id=self._previous_id(), item=wire)
        details = None
        if status != "completed":
            details = {"type": status, "reason": reason}
            if error is not None:
                details = {"type": "failed", "error": error_details(error)}
        # A response cut short never got the model's own counts: estimate them from the text.
        prompt = self._tokens["prompt"] or text_tokens(self._prompt_text)
        completion = self._tokens["completion"] or text_tokens(self._text)
        self._emit("response.done", response=self._response(
            status=status, status_details=details, output=output,
            usage=usage(input_text=prompt, input_audio=self._tokens["input_audio"], output_text=completion,
                        output_audio=audio_tokens(self._out_samples / PCM_RATE, output=True))))

    def _previous_id(self) -> str | None:
        items = self.session.conversation.items
        i = items.index(self.item)
        return items[i - 1].id if i else None


def prompt_messages(session, params: ResponseParams, context: list[Item]) -> list[dict]:
    """The chat messages of a response over ``context`` (transcripts already in), truncated as configured."""
    budget = None if session.config.data.get("truncation") == "disabled" else CONTEXT_CHARS
    return session.conversation.messages(params.instructions, context, max_chars=budget)


async def chat_stream(session, params: ResponseParams, messages):
    """The session's chat model answering ``messages``: ChatDeltas, made in a worker thread."""
    llm = await session.engine("llm")
    cap = DEFAULT_MAX_TOKENS if params.max_output_tokens == "inf" else params.max_output_tokens
    options = ChatOptions(max_tokens=cap, temperature=TEMPERATURE)
    chat = functools.partial(llm.chat, messages, **options.kwargs())
    async for delta in session.jobs.generate(llm, chat, priority=INTERACTIVE):
        yield delta


async def speech_stream(session, params: ResponseParams, sentence: str):
    """``(pcm, base64 chunks)`` per piece of ``sentence`` spoken in ``params``' voice, made in a worker thread."""
    voice = session.registry.voice(params.voice)
    tts = await session.engine(voice.engine)
    speed, fmt = params.speed, params.output_format["type"]

    def speak():  # in a worker thread: synthesis, resampling and encoding
        spoken = spoken_text(sentence)
        if not spoken:
            return
        for clip in tts.synthesize(spoken, **SynthesisOptions(voice=voice, speed=speed).kwargs()):
            pcm = float_to_pcm16(clip.to_mono().resample(PCM_RATE).samples)
            yield pcm, list(_encode(pcm, fmt))

    async for piece in session.jobs.iterate(speak, priority=INTERACTIVE, engine=voice.engine):
        yield piece


def _encode(pcm: np.ndarray, fmt: str):
    """Base64 deltas of int16 24 kHz samples in the output format (G.711 goes down to 8 kHz first)."""
    if fmt in g711.FORMATS:
        import soxr

        pcm8k = soxr.resample(pcm16_to_float(pcm), PCM_RATE, g711.SAMPLE_RATE)
        data = g711.encode(float_to_pcm16(pcm8k), fmt)
        step = _DELTA_SAMPLES // 3
    else:
        data, step = pcm.astype("<i2").tobytes(), _DELTA_SAMPLES * 2
    for i in range(0, len(data), step):
        yield base64.b64encode(data[i:i + step]).decode()
