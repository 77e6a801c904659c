"""Server VAD's ``idle_timeout_ms``: after a long silence, commit it and let the model prompt the user.

OpenAI documents the timeout as counted from the moment the last response's audio has finished
playing (``response.done`` plus the playback time of its audio). When that long passes with no
speech, the server sends ``input_audio_buffer.timeout_triggered`` with ``audio_start_ms`` (where
the silence began) and ``audio_end_ms`` (now), commits the silent audio as an ``input_audio``
item (``input_audio_buffer.committed`` with the event's ``item_id``) and, with
``create_response``, starts a response over the conversation so far.

Times here are on the session's audio clock (milliseconds of audio appended), the clock of every
``audio_*_ms`` field: a client streaming its microphone advances it in real time, and a client
that sends no audio is not timed out. The playback of an answer is assumed to start when its
first audio was sent and to run at real time (``output_audio_buffer.clear`` stops it). Between
turns the input buffer keeps only its last second or so of audio (prefix padding), so the
committed item holds that tail of the silence, not all of it.
"""

from __future__ import annotations

from audiolab.audio import PCM_RATE
from audiolab.server.realtime.events import event, new_id
from audiolab.server.realtime.response import ResponseParams

__all__ = ["IdleTimeout"]


class IdleTimeout:
    """Mixin of :class:`~audiolab.server.realtime.session.RealtimeSession`.

    ``self._idle_from_ms`` is where the current silence began on the audio clock, or ``None``
    while a turn is being spoken or answered.
    """

    _idle_from_ms: int | None = None

    def _idle_timeout_ms(self) -> int | None:
        td = self.config.turn_detection or {}
        if self.kind != "realtime" or td.get("type") != "server_vad":
            return None
        return td.get("idle_timeout_ms")

    def _idle_after(self, run) -> None:
        """``run`` (a response in the default conversation) is done: the silence starts when it has played."""
        played = self.buffer.end_ms
        if run.first_audio_ms is not None and not run.muted and run.item is not None and run.item.audio is not None:
            played = max(played, run.first_audio_ms + len(run.item.audio) * 1000 // PCM_RATE)
        self._idle_from_ms = played

    def _check_idle(self) -> None:
        """Called after each append: trigger the timeout if the silence has lasted ``idle_timeout_ms``."""
        timeout = self._idle_timeout_ms()
        if (timeout is None or self._idle_from_ms is None or self._turn is not None or self.active is not None
                or self._auto_pending or self.buffer.end_ms - self._idle_from_ms < timeout):
            return
        start, end, item_id = self._idle_from_ms, self.buffer.end_ms, new_id("item")
        self._idle_from_ms = end  # from here on, unless a response restarts the count when it has played
        self.emit(event("input_audio_buffer.timeout_triggered", audio_start_ms=start, audio_end_ms=end,
                        item_id=item_id))
        committed = self._commit(start_ms=start, end_ms=end, item_id=item_id)
        if committed and (self.config.turn_detection or {}).get("create_response"):
            self._start_response(ResponseParams.parse(None, self))
