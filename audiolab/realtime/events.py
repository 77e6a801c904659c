"""Realtime API event names the client reads or sends, in one place.

The names are OpenAI's (GA dialect); the beta dialect's spellings that a client may still meet
are listed beside them, so a meter counts both.

Example:
    >>> AUDIO_DELTA in AUDIO_DELTAS
    True
    >>> sorted(n for n in FIRST_BYTE if "transcript" in n)
    ['response.audio_transcript.delta', 'response.output_audio_transcript.delta']
"""

from __future__ import annotations

__all__ = [
    "AUDIO_DELTA",
    "AUDIO_DELTAS",
    "FIRST_BYTE",
    "TRANSCRIPT_DELTA",
    "TRANSCRIPT_DONE",
    "TRANSCRIPT_FAILED",
    "SPEECH_STARTED",
    "SPEECH_STOPPED",
    "COMMITTED",
    "APPEND",
    "COMMIT",
    "RESPONSE_CREATE",
    "RESPONSE_CREATED",
    "RESPONSE_DONE",
    "TRUNCATE",
    "SESSION_UPDATE",
    "SESSION_UPDATED",
]

# Client -> server.
APPEND = "input_audio_buffer.append"
COMMIT = "input_audio_buffer.commit"
RESPONSE_CREATE = "response.create"
TRUNCATE = "conversation.item.truncate"
SESSION_UPDATE = "session.update"

# Server -> client.
SESSION_UPDATED = "session.updated"
SPEECH_STARTED = "input_audio_buffer.speech_started"
SPEECH_STOPPED = "input_audio_buffer.speech_stopped"
COMMITTED = "input_audio_buffer.committed"
TRANSCRIPT_DELTA = "conversation.item.input_audio_transcription.delta"
TRANSCRIPT_DONE = "conversation.item.input_audio_transcription.completed"
TRANSCRIPT_FAILED = "conversation.item.input_audio_transcription.failed"
RESPONSE_CREATED = "response.created"
RESPONSE_DONE = "response.done"
AUDIO_DELTA = "response.output_audio.delta"
#: An audio chunk of the answer, in the GA and the beta spelling.
AUDIO_DELTAS = (AUDIO_DELTA, "response.audio.delta")
#: Any first piece of an answer (audio, text or transcript): the time to first byte.
FIRST_BYTE = (*AUDIO_DELTAS, "response.output_text.delta", "response.text.delta",
              "response.output_audio_transcript.delta", "response.audio_transcript.delta")
