"""The state machine of one Realtime WebSocket session: client events in, server events out.

:class:`RealtimeSession` owns the configuration, the input audio buffer and its VAD stream, the
conversation and the responses in flight. Client events are handled one at a time, in arrival
order; each handler is quick (decoding, VAD scoring: well under a millisecond per 100 ms chunk)
and hands slow work (speech-to-text, the chat model, speech synthesis) to tasks that run the
engines in worker threads through the server's :class:`~audiolab.server.jobs.JobRunner`.

Every mistake becomes an ``error`` event naming the client ``event_id`` and the ``param`` at
fault; the socket stays open. :meth:`close` cancels every task, so a client that disconnects
mid-response leaves nothing running.

To answer quickly after ``speech_stopped``, a realtime session that creates responses starts
transcribing *speculatively* once a turn has been silent for 160 ms: if the speaker does not
resume, the committed turn reuses that result instead of starting from scratch when
``silence_duration_ms`` has elapsed. If that transcript is ready while the turn is still silent,
the answer is started too (:class:`~audiolab.server.realtime.speculation.SpeculativeAnswer`: the
chat model and the first sentence's speech, emitting nothing); the response replays it if its
messages are exactly the ones answered, and it is dropped as soon as the speaker goes on
(:mod:`~audiolab.server.realtime.early_answer`). Server VAD's ``idle_timeout_ms`` is
:mod:`~audiolab.server.realtime.idle`.
"""

from __future__ import annotations

import asyncio
import logging

import anyio.to_thread

from audiolab.audio import PCM_RATE, pcm16_to_float
from audiolab.errors import AudiolabError, InvalidRequest
from audiolab.server.realtime.config import SessionConfig
from audiolab.server.realtime.conversation import Conversation, Item
from audiolab.server.realtime.early_answer import EarlyAnswers
from audiolab.server.realtime.events import error_event, event, new_id
from audiolab.server.realtime.idle import IdleTimeout
from audiolab.server.realtime.incremental import TurnPieces
from audiolab.server.realtime.input_buffer import InputBuffer
from audiolab.server.realtime.response import (
    ResponseParams,
    ResponseRun,
)
from audiolab.server.realtime.speculation import SpeculativeAnswer
from audiolab.server.realtime.transcription import InputTranscription
from audiolab.server.realtime.work import Work
from audiolab.server.validation import loads_strict, missing, require

__all__ = ["RealtimeSession"]

log = logging.getLogger("audiolab.server.realtime")

_MIN_COMMIT_MS = 100
_SPECULATE_AFTER_MS = 160
_IDLE_KEEP_MS = 1000  # idle audio kept beyond prefix padding, for a turn whose onset is found late


class RealtimeSession(EarlyAnswers, IdleTimeout, InputTranscription):
    """One WebSocket session.

    Args:
        kind: ``"realtime"`` or ``"transcription"``.
        model: the URL's model id (realtime sessions).
        registry: the server's model registry.
        jobs: the server's job runner.
        emit: called with each server event (a dict), in order; it must not block.
    """

    def __init__(self, *, kind: str, model: str | None, registry, jobs, emit):
        self.kind = kind
        self.registry = registry
        self.jobs = jobs
        self._emit = emit
        self.closed = False
        self.config = SessionConfig(kind, model, registry=registry)
        self.conversation = Conversation()
        self.buffer = InputBuffer()
        self.vad = None
        self._vad_engine = None
        self._vad_offset_ms = 0
        self._turn: tuple[str, int] | None = None  # (item_id, audio_start_ms) of the turn in progress
        self._speculation: tuple[int, Work] | None = None
        self._pieces: TurnPieces | None = None  # the turn in progress, transcribed at its pauses
        self._answer: SpeculativeAnswer | None = None  # prepared on the speculative transcript
        self._callbacks: set[asyncio.Task] = set()
        self.responses: set[ResponseRun] = set()
        self.active: ResponseRun | None = None  # the response writing into the default conversation
        self.last_response: ResponseRun | None = None
        self._auto_pending = False
        self._tasks: set[Work] = set()
        self._warming: asyncio.Task | None = None
        self._reservation = None
        self._engines: dict = {}

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the VAD, announce ``session.created``, and warm the engines in the background."""
        self._reservation = self.jobs.reserve()  # bulk work leaves a slot for this session's turns
        self._vad_engine = await anyio.to_thread.run_sync(self.registry.engine, "vad")
        self._configure_vad()
        self.emit(event("session.created", session=self.config.wire()))
        # Loading an engine is server-wide and cannot be interrupted; close() does not wait for it.
        self._warming = asyncio.create_task(self._warm())

    async def close(self) -> None:
        """Cancel every response and background task, and wait until they (and their threads) have stopped."""
        self.closed = True
        if self._reservation is not None:
            self._reservation.release()
        if self._warming is not None:
            self._warming.cancel()
        for run in self.responses:
            run.cancel(None)
        for work in self._tasks:
            work.cancel()
        tasks = [r.task for r in self.responses if r.task is not None] + [w.task for w in self._tasks]
        await asyncio.gather(*tasks, return_exceptions=True)

    def emit(self, ev: dict) -> None:
        if not self.closed:
            self._emit(ev)

    def _spawn(self, coro) -> Work:
        work = Work(coro)
        self._tasks.add(work)
        work.task.add_done_callback(lambda _: self._tasks.discard(work))
        return work

    async def _warm(self) -> None:
        try:
            await self._stt_engine()
            if self.kind == "realtime":
                await self.engine("llm")
                await self.engine(self.registry.voice(self.config.audio_output["voice"]).engine)
        except Exception as exc:  # reported again, as an event, when the engine is needed
            log.warning("realtime warm-up: %s", exc)

    # --- engines -----------------------------------------------------------------------------
    async def engine(self, family: str):
        """The shared engine of ``family`` (``"llm"``: the session model's), loaded off the event loop."""
        if family == "llm":
            spec, _ = self.registry.resolve(self.config.data["model"], ("realtime", "chat"))
            key, load = ("llm", spec.id), (lambda: self.registry.engine_for(spec))
        else:
            key, load = (family,), (lambda: self.registry.engine(family))
        if key not in self._engines:
            self._engines[key] = await anyio.to_thread.run_sync(load)
        return self._engines[key]

    # --- client events -----------------------------------------------------------------------
    async def handle_text(self, text: str) -> None:
        """Handle one text frame: a JSON client event."""
        try:
            data = loads_strict(text)
        except ValueError as exc:
            self.error(InvalidRequest(f"Invalid JSON in the client event: {exc}.", code="invalid_json"))
            return
        if not isinstance(data, dict):
            self.error(InvalidRequest("A client event must be a JSON object.", code="invalid_event"))
            return
        client_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
        etype = data.get("type")
        if not isinstance(etype, str):
            self.error(InvalidRequest("The 'type' field is missing.", param="type", code="invalid_event"), client_id)
            return
        handler = _HANDLERS.get(etype)
        if handler is None:
            self.error(InvalidRequest(f"Invalid value: '{etype}'. Supported values are: "
                                      + ", ".join(f"'{t}'" for t in _HANDLERS) + ".",
                                      param="type", code="invalid_value"), client_id)
            return
        try:
            handler(self, data)
        except AudiolabError as exc:
            self.error(exc, client_id)

    def handle_binary(self) -> None:
        self.error(InvalidRequest("Binary frames are not supported: send JSON text frames, with audio as base64 in "
                                  "input_audio_buffer.append.", code="invalid_event"))

    def error(self, exc: AudiolabError, client_event_id: str | None = None) -> None:
        self.emit(error_event(exc, client_event_id=client_event_id))

    def _session_update(self, data: dict) -> None:
        if "session" not in data:
            raise missing("session")
        before = self.config.vad_options()
        self.config.update(data["session"])
        if self.config.vad_options() != before:
            self._configure_vad()
        self.emit(event("session.updated", session=self.config.wire()))

    def _append(self, data: dict) -> None:
        samples = self.buffer.append(require(data, "audio"), self.config.input_format)
        if self.vad is None or not samples.size:
            return
        for e in self.vad.feed(pcm16_to_float(samples)):
            if e.type == "speech_started":
                self._speech_started(self._vad_offset_ms + e.ms)
            else:
                self._speech_stopped(self._vad_offset_ms + e.ms, self._vad_offset_ms + e.speech_ms)
        if self._turn is None:
            self.buffer.drop_before(self.buffer.end_ms - self.vad.prefix_padding_ms - _IDLE_KEEP_MS)
            self._check_idle()
        else:
            self._speculate()

    def _commit_event(self, data: dict) -> None:
        self._commit()
        if self.vad is not None:
            self.vad.reset()

    def _clear(self, data: dict) -> None:
        self.buffer.clear()
        self._turn = None
        self._drop_answer()
        if self.vad is not None:
            self.vad.reset()
        self.emit(event("input_audio_buffer.cleared"))

    def _item_create(self, data: dict) -> None:
        self._realtime_only("conversation.item.create")
        item = Item.from_wire(data.get("item"), decode_audio=self.decode_audio)
        previous = self.conversation.insert(item, previous_item_id=data.get("previous_item_id"))
        self.emit(event("conversation.item.added", previous_item_id=previous, item=item.to_wire()))
        self.emit(event("conversation.item.done", previous_item_id=previous, item=item.to_wire()))

    def _item_retrieve(self, data: dict) -> None:
        item = self.conversation.get(require(data, "item_id"))
        self.emit(event("conversation.item.retrieved", item=item.to_wire(with_audio=True)))

    def _item_delete(self, data: dict) -> None:
        item_id = require(data, "item_id")
        self.conversation.delete(item_id)
        self.emit(event("conversation.item.deleted", item_id=item_id))

    def _item_truncate(self, data: dict) -> None:
        item = self.conversation.get(require(data, "item_id"))
        content_index = require(data, "content_index", int, "an integer")
        audio_end_ms = require(data, "audio_end_ms", int, "an integer")
        Conversation.truncate(item, content_index=content_index, audio_end_ms=audio_end_ms)
        self.emit(event("conversation.item.truncated", item_id=item.id, content_index=content_index,
                        audio_end_ms=audio_end_ms))

    def _response_create(self, data: dict) -> None:
        self._realtime_only("response.create")
        params = ResponseParams.parse(data.get("response"), self)
        if not params.out_of_band and self.active is not None:
            raise InvalidRequest(f"Conversation already has an active response in progress: {self.active.id}. Wait "
                                 "for response.done (or send response.cancel) before creating another.",
                                 code="conversation_already_has_active_response")
        self._start_response(params)

    def _response_cancel(self, data: dict) -> None:
        rid = data.get("response_id")
        run = self.active if rid is None else next((r for r in self.responses if r.id == rid), None)
        if run is None or run.cancel_reason is not None:
            which = f" with id '{rid}'." if rid else "."
            raise InvalidRequest("Cancellation failed: no active response found" + which,
                                 param="response_id" if rid else None, code="response_cancel_not_active")
        run.cancel("client_cancelled")

    def _output_clear(self, data: dict) -> None:
        run = self.active or next(iter(self.responses), None) or self.last_response
        if run is None or not run.audio:
            raise InvalidRequest("There is no output audio to clear.", code="output_audio_buffer_empty")
        run.muted = True
        self.emit(event("output_audio_buffer.cleared", response_id=run.id))

    def _realtime_only(self, what: str) -> None:
        if self.kind != "realtime":
            raise InvalidRequest(f"{what} is not supported in a transcription session.", param="type",
                                 code="invalid_value")

    # --- turns ---------------------------------------------------------------------------------
    def _configure_vad(self) -> None:
        options = self.config.vad_options()
        self._turn, self._speculation = None, None
        self._drop_answer()
        if options is None:
            self.vad = None
            return
        self.vad = self._vad_engine.stream(**options, sample_rate=PCM_RATE)
        self._vad_offset_ms = self._idle_from_ms = self.buffer.end_ms

    def _speech_started(self, audio_start_ms: int) -> None:
        item_id = new_id("item")
        self._turn, self._idle_from_ms = (item_id, audio_start_ms), None
        self._speculation = None
        self._pieces = TurnPieces(start_ms=audio_start_ms)
        self._drop_answer()  # the speaker resumed: the turn is not what was answered
        self.emit(event("input_audio_buffer.speech_started", audio_start_ms=audio_start_ms, item_id=item_id))
        td = self.config.turn_detection or {}
        if self.kind == "realtime" and td.get("interrupt_response") and self.active is not None:
            self.active.cancel("turn_detected")

    def _speech_stopped(self, audio_end_ms: int, speech_end_ms: int) -> None:
        if self._turn is None:
            return
        (item_id, start_ms), self._idle_from_ms = self._turn, audio_end_ms
        self.emit(event("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=item_id))
        reuse = None
        if self._speculation is not None and self._speculation[0] == speech_end_ms - self._vad_offset_ms:
            reuse = self._speculation[1]
        self._keep_piece(speech_end_ms - self._vad_offset_ms)
        self._speculation = None
        if reuse is None:
            self._drop_answer()
            pieces = self._pieces
            if pieces is not None and pieces.pieces:  # only the audio since the last kept pause is left
                tail = self.buffer.peek(pieces.cut_ms, audio_end_ms).copy()
                reuse = self._spawn(self._run_tail(pieces, tail, audio_end_ms))
        self._pieces = None
        committed = self._commit(start_ms=start_ms, end_ms=audio_end_ms, item_id=item_id, transcript=reuse)
        td = self.config.turn_detection or {}
        if committed and self.kind == "realtime" and td.get("create_response"):
            if self.active is None:
                self._start_response(ResponseParams.parse(None, self))  # it takes the speculative answer, if any
                return
            self._auto_pending = True
        self._drop_answer()  # no response starts now: whatever answers this turn later will see other messages

    def _speculate(self) -> None:
        td = self.config.turn_detection or {}
        if self.kind != "realtime" or not td.get("create_response"):
            return  # only a response waits on the transcript; elsewhere a wasted run just costs CPU
        paused = self.vad.paused_at_ms
        if self._answer is not None and (self._speculation is None or paused != self._speculation[0]):
            self._drop_answer()  # the speaker went on: the answer was to a turn that did not end there
        self._keep_piece(paused)
        if (paused is None or self.vad.silence_duration_ms < 2 * _SPECULATE_AFTER_MS
                or self.vad.position_ms - paused < _SPECULATE_AFTER_MS
                or (self._speculation is not None and (self._speculation[0] == paused
                                                       or not self._speculation[1].done()))):
            return
        end_ms = self._vad_offset_ms + paused + _SPECULATE_AFTER_MS
        samples = self.buffer.peek(self._pieces.cut_ms, end_ms).copy()
        work = self._spawn(self._run_tail(self._pieces, samples, end_ms))
        self._speculation = (paused, work)
        self._drop_answer()
        work.task.add_done_callback(lambda _: self._soon(self._prepare_answer, work))

    def _commit(self, *, start_ms=None, end_ms=None, item_id=None, transcript=None) -> bool:
        available = self.buffer.peek(start_ms, end_ms).size * 1000 // PCM_RATE
        if available < _MIN_COMMIT_MS and item_id is not None:  # a VAD turn too short to keep
            self.buffer.drop_before(end_ms)
            self._turn = None
            return False
        if available < _MIN_COMMIT_MS:
            raise InvalidRequest(f"Error committing input audio buffer: buffer too small. Expected at least "
                                 f"{_MIN_COMMIT_MS}ms of audio, but buffer only has {available:.2f}ms of audio.",
                                 code="input_audio_buffer_commit_empty")
        samples = self.buffer.take(start_ms, end_ms)
        self._turn = None
        item = Item(wire={"id": item_id or new_id("item"), "object": "realtime.item", "type": "message",
                          "status": "completed", "role": "user",
                          "content": [{"type": "input_audio"}]}, audio=samples)
        previous = self.conversation.insert(item)
        self.emit(event("input_audio_buffer.committed", previous_item_id=previous, item_id=item.id))
        self.emit(event("conversation.item.added", previous_item_id=previous, item=item.to_wire()))
        self.emit(event("conversation.item.done", previous_item_id=previous, item=item.to_wire()))
        item.transcript = transcript or self._spawn(self._run_stt(samples))
        if self.config.transcription is not None:
            self._spawn(self._report_transcript(item))
        return True

    # --- responses -------------------------------------------------------------------------------
    def _start_response(self, params: ResponseParams) -> None:
        run = ResponseRun(self, params)
        if not params.out_of_band:
            self.active = run
        self.responses.add(run)
        run.start()

    def response_finished(self, run: ResponseRun) -> None:
        self.responses.discard(run)
        self.last_response = run
        if self.active is run:
            self.active = None
            self._idle_after(run)
            if self._auto_pending and not self.closed:
                self._auto_pending = False
                self._start_response(ResponseParams.parse(None, self))


_HANDLERS = {
    "session.update": RealtimeSession._session_update,
    "input_audio_buffer.append": RealtimeSession._append,
    "input_audio_buffer.commit": RealtimeSession._commit_event,
    "input_audio_buffer.clear": RealtimeSession._clear,
    "conversation.item.create": RealtimeSession._item_create,
    "conversation.item.retrieve": RealtimeSession._item_retrieve,
    "conversation.item.delete": RealtimeSession._item_delete,
    "conversation.item.truncate": RealtimeSession._item_truncate,
    "response.create": RealtimeSession._response_create,
    "response.cancel": RealtimeSession._response_cancel,
    "output_audio_buffer.clear": RealtimeSession._output_clear,
}
