"""The event timeline of a Realtime session: what was sent and received, when, and a plot of it.

:func:`audiolab.realtime.conversation.transcribe_realtime` and
:func:`~audiolab.realtime.conversation.converse` return a :class:`RealtimeRun`; its
:class:`Timeline` holds one :class:`TimedEvent` per WebSocket event, timed from the first audio
chunk sent (``t = 0``). Paced in real time, ``t`` is also the position in the input clip, so
:func:`audiolab.plots.plot_events` can draw the events under the waveform.

Example:
    >>> from audiolab.realtime.timeline import Timeline, TimedEvent
    >>> tl = Timeline((TimedEvent(0.4, "input_audio_buffer.speech_started"),
    ...                TimedEvent(2.1, "input_audio_buffer.speech_stopped")))
    >>> tl.first("input_audio_buffer.speech_stopped")
    2.1
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from audiolab.audio import Audio

__all__ = ["TIMELINE_ROWS", "TimedEvent", "Timeline", "RealtimeRun"]

# Events worth a row of their own on a timeline plot, in the order they usually happen.
TIMELINE_ROWS = (
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.completed",
    "response.created",
    "response.output_audio_transcript.delta",
    "response.output_audio.delta",
    "conversation.item.truncate",
    "response.done",
    "error",
)


@dataclass(frozen=True)
class TimedEvent:
    """One event of a session, sent (``direction="client"``) or received (``"server"``).

    Attributes:
        t: seconds since the first audio chunk was sent.
        type: the event type, e.g. ``input_audio_buffer.speech_started``.
        direction: ``"server"`` or ``"client"``.
        item_id, response_id: the ids the event carries, if any.
        audio_ms: ``audio_start_ms`` / ``audio_end_ms`` of VAD events (position in the input buffer).
        text: a text delta or transcript the event carries.
        audio_bytes: size of the decoded audio payload (audio deltas and appends).
        data: the rest of the event, with audio payloads removed.
    """

    t: float
    type: str
    direction: str = "server"
    item_id: str | None = None
    response_id: str | None = None
    audio_ms: int | None = None
    text: str | None = None
    audio_bytes: int = 0
    data: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Timeline:
    """The events of one session, in the order they happened."""

    events: tuple[TimedEvent, ...]

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self):
        return iter(self.events)

    def of(self, type: str, *, direction: str | None = None) -> list[TimedEvent]:
        """Events of one type (optionally only those sent or received)."""
        return [e for e in self.events if e.type == type and (direction is None or e.direction == direction)]

    def first(self, type: str, *, after: float = float("-inf")) -> float | None:
        """Time of the first event of ``type`` at or after ``after``; None if there is none."""
        for e in self.events:
            if e.type == type and e.t >= after:
                return e.t
        return None

    def types(self) -> list[str]:
        """Event types received from the server, in order, consecutive repeats collapsed."""
        out: list[str] = []
        for e in self.events:
            if e.direction == "server" and (not out or out[-1] != e.type):
                out.append(e.type)
        return out

    def to_frame(self):
        """A pandas DataFrame, one row per event (audio appends left out)."""
        import pandas as pd

        rows = [
            {
                "t": e.t,
                "direction": e.direction,
                "type": e.type,
                "item_id": e.item_id,
                "response_id": e.response_id,
                "audio_ms": e.audio_ms,
                "text": e.text,
                "audio_bytes": e.audio_bytes,
            }
            for e in self.events
            if e.type != "input_audio_buffer.append"
        ]
        return pd.DataFrame(rows, columns=["t", "direction", "type", "item_id", "response_id", "audio_ms",
                                           "text", "audio_bytes"])


@dataclass(frozen=True)
class RealtimeRun:
    """What one realtime session did.

    Attributes:
        kind: ``"transcription"`` or ``"realtime"`` (speech-to-speech).
        model: the session's model (the transcription model for transcription sessions).
        input: the audio sent, silence padding included, at 24 kHz.
        timeline: every event sent and received.
        transcript: transcription sessions: the completed input transcripts joined; speech-to-speech:
            the assistant's spoken transcript (of the last completed response).
        input_transcripts: one per committed user turn, when input transcription was on.
        output: the assistant's audio of every response, concatenated (None for transcription).
        responses: one mapping per ``response.done``: id, status, reason, transcript, audio
            (an :class:`Audio`), usage, and the times it was created, first spoke and finished.
        latency: named latencies in seconds (see :func:`transcribe_realtime` and :func:`converse`).
        asides: ``{label: answer}`` of the out-of-band questions asked about the user's turn
            (``converse(..., asides=...)``).
    """

    kind: str
    model: str | None
    input: Audio
    timeline: Timeline
    transcript: str
    input_transcripts: tuple[str, ...] = ()
    output: Audio | None = None
    responses: tuple[Mapping[str, Any], ...] = ()
    latency: Mapping[str, float] = field(default_factory=dict)
    asides: Mapping[str, str] = field(default_factory=dict)

    def plot(self, *, ax=None):
        """The input waveform with the event timeline under it; see :func:`audiolab.plots.plot_events`."""
        from audiolab.plots.realtime import plot_events

        return plot_events(self, ax=ax)

    def _repr_html_(self) -> str:
        lat = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in self.latency.items())
        return (
            f"<div><b>Realtime {html.escape(self.kind)} session</b> ({html.escape(str(self.model))}): "
            f"{len(self.timeline)} events; {html.escape(lat)}<br><i>{html.escape(self.transcript)}</i></div>"
        )
