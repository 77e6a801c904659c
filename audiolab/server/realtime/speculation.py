"""An answer prepared before its turn is committed: the chat model's deltas and the first sentence's speech.

With server VAD, a realtime session transcribes a turn once it has been silent for a moment
(see :mod:`~audiolab.server.realtime.session`). When that transcript is ready before
``speech_stopped``, the session also starts the answer: a :class:`SpeculativeAnswer` runs the
chat model on the messages the response *would* see, and has the TTS engine speak the first
sentence, both in worker threads through the job runner. It emits no event and touches neither
the conversation nor the session configuration: everything stays inside this object.

When the turn is committed and its response starts, the response takes the answer only if its
own messages and audio parameters are exactly the ones speculated on
(:meth:`SpeculativeAnswer.matches`); it then replays the recorded deltas and audio through its
normal event path, so the events are the same as without speculation, only sooner. If the
speaker resumes, or anything else changes, the answer is cancelled and dropped.

Example:
    >>> SpeculativeAnswer.key_of(["audio"], "alloy", 1.0, {"type": "audio/pcm", "rate": 24000}, "inf")
    (('audio',), 'alloy', 1.0, 'audio/pcm', 'inf')
"""

from __future__ import annotations

import asyncio
import logging

import anyio

from audiolab.server.text_pieces import first_piece

__all__ = ["SpeculativeAnswer"]

log = logging.getLogger("audiolab.server.realtime")


class SpeculativeAnswer:
    """The chat answer to ``messages`` and the speech of its first sentence, computed ahead of time.

    Args:
        session: the :class:`~audiolab.server.realtime.session.RealtimeSession` (engines, jobs, spawning).
        messages: the chat messages the committed turn's response is expected to send.
        key: :meth:`key_of` the response parameters speculated on.
        chat: ``chat(messages)``, an async iterator of :class:`~audiolab.server.engines.ChatDelta`.
        speak: ``speak(sentence)``, an async iterator of ``(pcm, chunks)`` for one sentence.
    """

    def __init__(self, *, session, messages: list[dict], key: tuple, chat, speak):
        self.messages = messages
        self.key = key
        self.deltas: list = []  # every ChatDelta, in order
        self.finished = False  # the chat stream ended (or failed: then ``failed`` is set)
        self.failed: BaseException | None = None
        self.sentence: str | None = None  # the first sentence, once cut
        self.audio: list = []  # (pcm, chunks) of the first sentence
        self.audio_finished = False
        self.audio_failed = False
        self._changed = asyncio.Event()
        self._chat, self._speak = chat, speak
        self.work = session._spawn(self._run())

    @staticmethod
    def key_of(modalities, voice, speed, output_format: dict, max_output_tokens) -> tuple:
        """What, besides the messages, must be equal for a response to use the answer."""
        return tuple(modalities), voice, speed, output_format.get("type"), max_output_tokens

    def matches(self, messages: list[dict], key: tuple) -> bool:
        return not self.work.task.cancelled() and self.failed is None and messages == self.messages and key == self.key

    def cancel(self) -> None:
        self.work.cancel()

    def _notify(self) -> None:
        self._changed.set()

    async def changed(self) -> None:
        """Wait until something new is recorded (or the work ends)."""
        await self._changed.wait()
        self._changed.clear()

    async def _run(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                text = ""
                try:
                    async for delta in self._chat(self.messages):
                        self.deltas.append(delta)
                        self._notify()
                        if self.sentence is None and delta.text:
                            text += delta.text
                            sentence, _ = first_piece(text)  # where the response's cutter cuts
                            if sentence is not None:
                                self.sentence = sentence
                                tg.start_soon(self._say, sentence)
                except Exception as exc:  # the response then answers on its own
                    self.failed = exc
                    log.debug("speculative answer failed: %s", exc)
                if self.sentence is None and self.failed is None and text.strip():
                    self.sentence = text.strip()  # a one-sentence answer ends with the stream
                    tg.start_soon(self._say, self.sentence)
                self.finished = True
                self._notify()
        finally:
            self.finished = True
            if not self.audio_finished:
                self.audio_failed = True
            self.audio_finished = True
            self._notify()

    async def _say(self, sentence: str) -> None:
        try:
            async for piece in self._speak(sentence):
                self.audio.append(piece)
                self._notify()
        except Exception as exc:  # the response speaks the sentence itself
            self.audio_failed = True
            log.debug("speculative speech failed: %s", exc)
        finally:
            self.audio_finished = True
            self._notify()
