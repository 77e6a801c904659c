"""Transcribing a Realtime session's input audio: the part of
:class:`~audiolab.server.realtime.session.RealtimeSession` that turns committed (or speculated) user
audio into text, reports it as ``conversation.item.input_audio_transcription.*`` events, and makes
sure a response's context is transcribed before the chat model reads it.

:class:`InputTranscription` is mixed into the session class; it uses the session's ``config``,
``registry``, ``jobs``, ``kind``, ``emit``, ``_spawn``, the engine cache ``_engines`` and the
turn in progress (``_pieces``, ``_speculation``). The engine is
called with :class:`~audiolab.server.engines.protocols.TranscribeOptions`.
"""

from __future__ import annotations

import asyncio

import anyio.to_thread
import numpy as np

from audiolab.audio import PCM_RATE, Audio
from audiolab.errors import AudiolabError
from audiolab.server.engines.protocols import TranscribeOptions
from audiolab.server.jobs import INTERACTIVE
from audiolab.server.realtime.conversation import Item
from audiolab.server.realtime.events import error_details, event, transcription_usage
from audiolab.server.realtime.incremental import TurnPieces
from audiolab.server.realtime.input_buffer import InputBuffer

__all__ = ["InputTranscription"]


class InputTranscription:
    """Input-audio transcription, mixed into :class:`~audiolab.server.realtime.session.RealtimeSession`."""

    async def _stt_engine(self):
        model, _ = self.config.stt_model()
        spec, _ = self.registry.resolve(model, "stt")
        key = ("stt", spec.id)
        if key not in self._engines:
            self._engines[key] = await anyio.to_thread.run_sync(self.registry.engine_for, spec)
        return self._engines[key]

    def decode_audio(self, audio_b64) -> np.ndarray:
        """Base64 audio of an item's content in the session's input format, as int16 at 24 kHz."""
        return InputBuffer().decode(audio_b64, self.config.input_format)

    def _keep_piece(self, paused: int | None) -> None:
        """The speaker went on after the last speculated pause: keep its transcript as a piece of the turn."""
        last = self._speculation
        if (
            self._pieces is not None
            and last is not None
            and last[0] != paused
            and last[1].done()
            and self._pieces.keep_offer()
            and self.jobs.metrics is not None
        ):
            self.jobs.metrics.turn_pieces.inc()

    async def _run_tail(self, pieces: TurnPieces, samples: np.ndarray, end_ms: int):
        """Transcribe the turn from its last kept pause to ``end_ms``; returns the whole turn's transcript."""
        frozen = pieces.copy()
        tail = await self._run_stt(samples, prompt=frozen.prompt)
        pieces.offer(tail, start_ms=frozen.cut_ms, end_ms=end_ms)
        return frozen.join(tail)

    async def _run_stt(self, samples: np.ndarray, *, prompt: str = ""):
        """Transcribe input audio. A realtime session decodes greedily (beam size 1; an engine
        without a beam ignores it): a response waits for this transcript, and on short turns greedy
        search is about 15% quicker for the same words. Transcription sessions keep the engine's beam
        search."""
        engine = await self._stt_engine()
        _, opts = self.config.stt_model()
        if self.kind == "realtime":
            opts = {**opts, "beam_size": 1}
        if prompt:  # the turn so far, as Whisper's context for the rest of it
            opts = {**opts, "prompt": " ".join(p for p in (opts.get("prompt"), prompt) if p)}
        options = TranscribeOptions(**opts)
        return await self.jobs.run(
            engine.transcribe, Audio.from_array(samples, PCM_RATE), **options.kwargs(), priority=INTERACTIVE
        )

    async def _report_transcript(self, item: Item) -> None:
        model, _ = self.config.stt_model()
        try:
            result = await asyncio.shield(item.transcript.task)
        except AudiolabError as exc:
            self.emit(
                event(
                    "conversation.item.input_audio_transcription.failed",
                    item_id=item.id,
                    content_index=0,
                    error=error_details(exc, param=True),
                )
            )
            return
        if result is None:  # cancelled: the session is closing
            return
        text = result.text.strip()
        item.heard = text
        item.wire["content"][0]["transcript"] = text
        pieces = [s.text for s in result.segments if s.text.strip()] or [text]
        for i, piece in enumerate(pieces):
            self.emit(
                event(
                    "conversation.item.input_audio_transcription.delta",
                    item_id=item.id,
                    content_index=0,
                    delta=piece if i else piece.lstrip(),
                )
            )
        self.emit(
            event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item.id,
                content_index=0,
                transcript=text,
                usage=transcription_usage(model, seconds=len(item.audio) / PCM_RATE, transcript=text),
            )
        )

    async def await_transcripts(self, items: list[Item]) -> None:
        """Make sure every user audio item in ``items`` has ``heard`` text (transcribing if needed)."""
        pending = []
        for item in items:
            if item.audio is not None and item.role() == "user" and item.heard is None:
                if item.transcript is None:
                    item.transcript = self._spawn(self._run_stt(item.audio))
                pending.append(item)
        results = await asyncio.gather(
            *(asyncio.shield(i.transcript.task) for i in pending), return_exceptions=True
        )
        for item, result in zip(pending, results):
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result
            item.heard = "" if isinstance(result, Exception) or result is None else result.text.strip()
