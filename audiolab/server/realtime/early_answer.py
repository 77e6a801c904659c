"""The realtime session's side of a speculative answer: start it on an early transcript, hand it over, drop it.

:class:`EarlyAnswers` is a mixin of :class:`~audiolab.server.realtime.session.RealtimeSession`.
When the transcript of a turn that has gone silent is ready before ``speech_stopped``, the
session prepares the answer (:class:`~audiolab.server.realtime.speculation.SpeculativeAnswer`);
the response that follows takes it with :meth:`EarlyAnswers.take_answer` if it answers exactly
the same messages, and every change to the turn drops it.
"""

from __future__ import annotations

import asyncio
import logging

from audiolab.errors import AudiolabError
from audiolab.server.realtime.conversation import Item
from audiolab.server.realtime.response import ResponseParams, chat_stream, prompt_messages, speech_stream
from audiolab.server.realtime.speculation import SpeculativeAnswer
from audiolab.server.realtime.work import Work

__all__ = ["EarlyAnswers"]

log = logging.getLogger("audiolab.server.realtime")


class EarlyAnswers:
    """Mixin: ``self._answer`` (the prepared answer or None), ``_speculation``, ``_turn``, ``conversation``."""

    def _soon(self, fn, *args) -> None:
        """Call ``fn(*args)`` from a task of its own (a done callback has none, and cancel scopes need one)."""
        async def call():
            fn(*args)

        task = asyncio.get_running_loop().create_task(call())
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)

    def _prepare_answer(self, work: Work) -> None:
        """The speculative transcript is ready: if the turn is still silent, start answering it too."""
        if (self.closed or self._speculation is None or self._speculation[1] is not work or self._turn is None
                or self.active is not None or work.task.cancelled() or work.task.exception() is not None):
            return
        result = work.task.result()
        if result is None or not result.text.strip():
            return
        try:
            params = ResponseParams.parse(None, self)
        except AudiolabError:
            return
        if params.modalities != ["audio"]:
            return
        items = list(self.conversation.items)
        if any(i.audio is not None and i.role() == "user" and i.heard is None for i in items):
            return  # an earlier turn is still being transcribed: its response would see other messages
        turn = Item(wire={"id": self._turn[0], "object": "realtime.item", "type": "message", "status": "completed",
                          "role": "user", "content": [{"type": "input_audio"}]}, heard=result.text.strip())
        log.debug("realtime: speculative answer to %r", result.text.strip())
        self._answer = SpeculativeAnswer(
            session=self, messages=prompt_messages(self, params, items + [turn]),
            key=SpeculativeAnswer.key_of(params.modalities, params.voice, params.speed, params.output_format,
                                         params.max_output_tokens),
            chat=lambda messages: chat_stream(self, params, messages),
            speak=lambda sentence: speech_stream(self, params, sentence))

    def _drop_answer(self) -> None:
        if self._answer is not None:
            log.debug("realtime: speculative answer dropped")
            self._answer.cancel()
            self._answer = None

    def take_answer(self, messages: list[dict], key: tuple) -> SpeculativeAnswer | None:
        """The prepared answer if it answers exactly ``messages`` with ``key``'s parameters; else drop it."""
        answer, self._answer = self._answer, None
        if answer is not None and answer.matches(messages, key):
            log.debug("realtime: the response replays the speculative answer")
            return answer
        if answer is not None:
            log.debug("realtime: the speculative answer does not match the response: dropped")
            answer.cancel()
        return None
