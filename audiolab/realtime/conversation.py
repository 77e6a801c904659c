"""Drive a Realtime API session from a clip (or a live recorder) and keep a timeline of its events.

The Realtime API is a WebSocket conversation: the client appends base64 pcm16 audio at 24 kHz,
the server's voice activity detector (VAD) marks ``speech_started`` / ``speech_stopped``, commits
the turn, and either transcribes it (a *transcription* session, ``?intent=transcription``) or
answers it with streamed audio and a transcript (a *speech-to-speech* session, ``?model=...``).
These helpers play a clip into such a session through the official SDK
(``lab.client.realtime.connect``), paced like a microphone, and record every event with the time
it was sent or received, so that a notebook can draw the events under the waveform and read the
latencies off them.

Clock: ``t = 0`` is the moment the first audio chunk is sent. With ``pace=1.0`` (real time, the
default) ``t`` is therefore also the position in the input clip, and an event plotted at ``t``
sits under the audio that caused it.

Barge-in: the server sends audio faster than real time, so the *client* knows what has really
been played. :func:`converse` simulates playback at real time from the first audio delta; when
the server reports ``speech_started`` while the reply is still "playing", it stops playback and
sends ``conversation.item.truncate`` with the milliseconds actually heard, as OpenAI's guide asks.

Example:
    >>> import audiolab
    >>> from audiolab.realtime.conversation import transcribe_realtime, converse
    >>> lab = audiolab.connect("local")                                         # doctest: +SKIP
    >>> clip = audiolab.Audio.from_file("two_cities.wav").slice(0, 5)            # doctest: +SKIP
    >>> run = transcribe_realtime(lab, clip, model="gpt-transcribe")            # doctest: +SKIP
    >>> run.transcript, run.latency["speech_stopped_to_transcript"]              # doctest: +SKIP
    >>> talk = converse(lab, clip, model="gpt-realtime-mini", voice="marin")    # doctest: +SKIP
    >>> talk.output, talk.latency["end_of_speech_to_first_audio"]                # doctest: +SKIP
"""

from __future__ import annotations

import base64
import queue
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from audiolab.audio import Audio
from audiolab.errors import BackendError, InvalidRequest, NoSpeechHeard
from audiolab.realtime.aside import Asides, aside_of
from audiolab.realtime.connection import (
    SAMPLE_RATE,
    RealtimeConnection,
    errors_of,
    silence,
    turn_detection_of,
)
from audiolab.realtime.events import (
    AUDIO_DELTA,
    COMMITTED,
    SPEECH_STARTED,
    SPEECH_STOPPED,
    TRANSCRIPT_DONE,
    TRANSCRIPT_FAILED,
)
from audiolab.realtime.timeline import RealtimeRun, TimedEvent, Timeline

__all__ = [
    "SAMPLE_RATE",
    "TimedEvent",
    "Timeline",
    "RealtimeRun",
    "transcribe_realtime",
    "converse",
    "LiveTranscription",
]

DEFAULT_SILENCE_MS = 500  # server_vad's silence_duration_ms when the session does not say


def transcribe_realtime(lab, audio: Audio | Iterable[Audio], *, model: str, language: str | None = None,
                        prompt: str | None = None, turn_detection: str | Mapping | None = "server_vad",
                        chunk_ms: int = 100, pace: float = 1.0, silence_s: float = 1.0,
                        timeout: float = 60.0, on_event: Callable[[dict], None] | None = None) -> RealtimeRun:
    """Stream a clip into a realtime *transcription* session and collect its transcripts.

    Args:
        lab: a :class:`~audiolab.client.lab.Lab`.
        audio: a clip (paced like a microphone) or an iterable of chunks arriving live (the
            Recorder's stream), sent as they come.
        model: the transcription model, e.g. one of ``gpt-transcribe``, ``whisper-1``.
        language: ISO-639-1 hint.
        prompt: a transcription prompt (vocabulary, spelling).
        turn_detection: ``"server_vad"`` (default), ``"semantic_vad"``, a full mapping, or None
            for one manual commit at the end.
        chunk_ms: size of each ``input_audio_buffer.append``.
        pace: 1.0 = real time; 2.0 = twice as fast; 0 = as fast as possible.
        silence_s: silence appended after the clip so that the VAD sees the turn end.
        timeout: seconds to wait for any one step.
        on_event: called with each server event (a dict) as it arrives, on the receiver thread;
            e.g. to print transcription deltas live.

    Returns:
        A :class:`RealtimeRun` with ``transcript``, ``input_transcripts`` and the latencies
        ``speech_stopped_to_transcript`` (last turn) and ``end_of_audio_to_transcript``.

    Raises:
        InvalidRequest: the backend refused the session configuration.
        BackendError: the connection broke, or nothing came back within ``timeout``.
    """
    transcription: dict[str, Any] = {"model": model}
    if language:
        transcription["language"] = language
    if prompt:
        transcription["prompt"] = prompt
    td = turn_detection_of(turn_detection)
    session = {
        "type": "transcription",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                "transcription": transcription,
                "turn_detection": td,
            }
        },
    }
    s = RealtimeConnection(lab, kind="transcription", model=model, session=session, timeout=timeout,
                 handlers=[on_event] if on_event is not None else [])
    try:
        s.stream(audio, chunk_ms=chunk_ms, pace=pace, silence_s=silence_s)
        end_of_audio = s.now()
        if td is None:
            s.send({"type": "input_audio_buffer.commit"})
        else:
            # The VAD may still be inside a turn; give it the padding it needs, then commit the rest.
            s.wait_for(lambda: s.count(SPEECH_STARTED) <= s.count(SPEECH_STOPPED),
                       "speech_stopped", timeout=timeout)
        s.wait_for(lambda: s.count(COMMITTED) >= 1 or errors_of(s), "a committed turn")
        s.wait_for(lambda: s.count(TRANSCRIPT_DONE) + s.count(TRANSCRIPT_FAILED)
                   >= s.count(COMMITTED) or errors_of(s), "the transcripts")
    finally:
        s.close()
    tl = s.timeline()
    done = tl.of(TRANSCRIPT_DONE)
    texts = tuple((e.text or "").strip() for e in done)
    latency: dict[str, float] = {}
    stops = tl.of(SPEECH_STOPPED)
    if stops and done:
        latency["speech_stopped_to_transcript"] = done[-1].t - stops[-1].t
    if done:
        latency["end_of_audio_to_transcript"] = done[-1].t - end_of_audio
    first_delta = tl.first("conversation.item.input_audio_transcription.delta")
    if first_delta is not None:
        latency["first_delta"] = first_delta
    return RealtimeRun(kind="transcription", model=model, input=s.input_audio(), timeline=tl,
                       transcript=" ".join(t for t in texts if t), input_transcripts=texts,
                       latency=MappingProxyType(latency))


class LiveTranscription:
    """A realtime transcription session fed live from a :class:`~audiolab.widgets.Recorder`.

    The session runs on a background thread, so the notebook stays responsive (the kernel must be
    idle to receive the microphone's chunks). Press record, speak, stop: the take's end closes
    the stream. Display the object to see the transcripts so far; :meth:`result` returns the
    :class:`RealtimeRun` once the session has finished.

    Args:
        lab: a :class:`~audiolab.client.lab.Lab`.
        recorder: a Recorder; its chunks are sent as they arrive.
        idle_timeout: end the stream if no chunk arrives for this long (seconds).
        **options: passed to :func:`transcribe_realtime` (``model`` is required).

    Example:
        >>> live = LiveTranscription(lab, rec, model="gpt-transcribe")   # then record  # doctest: +SKIP
        >>> live                                  # transcripts so far                  # doctest: +SKIP
        >>> run = live.result()                   # after you stopped                   # doctest: +SKIP
    """

    def __init__(self, lab, recorder, *, idle_timeout: float = 120.0, **options):
        import concurrent.futures

        self._queue: queue.Queue = queue.Queue()
        self.idle_timeout = idle_timeout
        self.transcripts: list[str] = []
        recorder.on_chunk(self._queue.put)
        recorder.on_take(lambda _take: self._queue.put(None))
        options.setdefault("pace", 0.0)

        def seen(event: dict) -> None:
            if event.get("type") == TRANSCRIPT_DONE:
                self.transcripts.append(str(event.get("transcript", "")).strip())

        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="audiolab-live")
        self._future = self._pool.submit(transcribe_realtime, lab, self._chunks(), on_event=seen, **options)
        self._pool.shutdown(wait=False)

    def _chunks(self) -> Iterator[Audio]:
        while True:
            try:
                chunk = self._queue.get(timeout=self.idle_timeout)
            except queue.Empty:
                return
            if chunk is None:
                return
            yield chunk

    def stop(self) -> None:
        """End the stream now (as if the recording had stopped)."""
        self._queue.put(None)

    @property
    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> RealtimeRun:
        """The finished session (waits for it up to ``timeout`` seconds)."""
        return self._future.result(timeout=timeout)

    def _repr_html_(self) -> str:
        import html

        state = "finished" if self.done else "listening: record, speak, then stop"
        lines = (
            "".join(f"<li>{html.escape(t)}</li>" for t in self.transcripts) or "<li><i>(nothing yet)</i></li>"
        )
        return f"<div><b>Live transcription</b> ({state})<ul>{lines}</ul></div>"


class _Playback:
    """Simulated real-time playback of the assistant's audio, for barge-in truncation."""

    def __init__(self):
        self.s: RealtimeConnection | None = None  # set once the session is open
        self.start: float | None = None  # session time playback of the current item started
        self.item_id: str | None = None
        self.received_ms = 0.0
        self.stopped = False

    def on_event(self, event: dict) -> None:
        etype = event.get("type")
        if etype == AUDIO_DELTA:
            if event.get("item_id") != self.item_id:
                self.item_id, self.start, self.received_ms, self.stopped = (
                    event.get("item_id"),
                    self.s.now(),
                    0.0,
                    False,
                )
            self.received_ms += len(event.get("delta", "")) * 3 / 4 / 2 / SAMPLE_RATE * 1000
        elif etype == SPEECH_STARTED and self.item_id and not self.stopped:
            played = (self.s.now() - (self.start or 0.0)) * 1000
            if played < self.received_ms:  # the user talks over audio still playing: barge-in
                self.stopped = True
                self.s.send(
                    {
                        "type": "conversation.item.truncate",
                        "item_id": self.item_id,
                        "content_index": 0,
                        "audio_end_ms": int(played),
                    }
                )


def converse(lab, audio: Audio | Iterable[Audio], *, model: str, voice: str | None = None,
             instructions: str | None = None, transcription_model: str | None = None,
             turn_detection: str | Mapping | None = "server_vad", interrupt: Audio | None = None,
             interrupt_after_s: float = 0.3, output_modalities: tuple[str, ...] = ("audio",),
             max_output_tokens: int | None = None, chunk_ms: int = 100, pace: float = 1.0,
             silence_s: float = 1.0, timeout: float = 60.0, asides: Mapping[str, str] | None = None,
             on_event: Callable[[dict], None] | None = None) -> RealtimeRun:
    """Speak a clip into a speech-to-speech session and collect the spoken answer and its timeline.

    Args:
        lab: a :class:`~audiolab.client.lab.Lab`.
        audio: the user's turn: a clip (paced like a microphone) or live chunks.
        model: a realtime model id, e.g. ``gpt-realtime-mini``.
        voice: the assistant's voice.
        instructions: the system instructions of the session.
        transcription_model: also transcribe the user's audio with this model (shown on the
            timeline as ``conversation.item.input_audio_transcription.*``).
        turn_detection: ``"server_vad"`` (default), ``"semantic_vad"``, a mapping, or None for a
            manual ``input_audio_buffer.commit`` + ``response.create``.
        interrupt: a second clip spoken ``interrupt_after_s`` after the first audio delta of the
            answer (barge-in). The reply being played is truncated, and the session answers the
            interruption.
        output_modalities: ``("audio",)`` (audio with its transcript) or ``("text",)``.
        max_output_tokens: cap on the answer's length.
        asides: ``{label: question}`` asked out of band about each committed user turn while it is
            answered (:mod:`~audiolab.realtime.aside`); the answers are in ``run.asides``.
        chunk_ms, pace, silence_s, timeout, on_event: as in :func:`transcribe_realtime`.

    Returns:
        A :class:`RealtimeRun`; ``latency`` holds ``end_of_speech_to_first_audio`` (the user's
        wait: from the moment the clip's speech ended, as the VAD placed it, to the first audio
        delta), ``speech_stopped_to_first_audio`` (the server's share), ``vad_endpointing`` (from
        the end of speech to the ``speech_stopped`` event) and ``response_total``.

    Raises:
        InvalidRequest: the backend refused the session configuration.
        BackendError: the connection broke, or nothing came back within ``timeout``.
    """
    td = turn_detection_of(turn_detection, create_response=True)
    if interrupt is not None and (td is None or pace <= 0):
        raise InvalidRequest(
            "Barge-in needs turn detection (server_vad or semantic_vad) and real-time pacing (pace > 0).",
            param="interrupt",
        )
    session: dict[str, Any] = {"type": "realtime", "output_modalities": list(output_modalities),
                               "audio": {"input": {"format": {"type": "audio/pcm", "rate": SAMPLE_RATE},
                                                   "turn_detection": td},
                                         "output": {"format": {"type": "audio/pcm", "rate": SAMPLE_RATE}}}}
    if voice:
        session["audio"]["output"]["voice"] = voice
    if transcription_model:
        session["audio"]["input"]["transcription"] = {"model": transcription_model}
    if instructions:
        session["instructions"] = instructions
    if max_output_tokens:
        session["max_output_tokens"] = max_output_tokens
    playback, aside = _Playback(), Asides(asides or {})
    s = RealtimeConnection(lab, kind="realtime", model=model, session=session, timeout=timeout,
                 handlers=[playback.on_event, aside.on_event] + ([on_event] if on_event is not None else []))
    playback.s = aside.s = s
    expected = 1 + (interrupt is not None)
    try:
        s.stream(audio, chunk_ms=chunk_ms, pace=pace, silence_s=0.0 if interrupt is not None else silence_s)
        if td is None:
            s.send({"type": "input_audio_buffer.commit"})
            s.send({"type": "response.create"})
        if td is not None and interrupt is None:
            _expect_speech(s)
        if interrupt is not None:
            # Keep the line open with silence (as a microphone would) until the answer starts playing,
            # then talk over it.
            deadline = time.perf_counter() + timeout
            while s.count(AUDIO_DELTA) == 0 and not errors_of(s):
                if time.perf_counter() > deadline:
                    raise BackendError(f"No audio answer within {timeout:.0f} s to interrupt.")
                s.paced_append(silence(chunk_ms), pace)
            talk_at = s.timeline().first(AUDIO_DELTA) + interrupt_after_s
            while s.sent_s < talk_at:
                s.paced_append(silence(chunk_ms), pace)
            s.stream(interrupt, chunk_ms=chunk_ms, pace=pace, silence_s=silence_s)
        s.wait_for(lambda: _answers(s, "response.done") >= expected or errors_of(s), "response.done")
        # A response cancelled by the barge-in is followed by the answer to the interruption.
        if interrupt is not None:
            s.wait_for(lambda: _answers(s, "response.done") >= _answers(s, "response.created") or errors_of(s),
                       "the last response.done")
        s.wait_for(lambda: aside.settled(s.raw), "the asides' response.done")
    finally:
        s.close()
    return _speech_run(s, model)


def _answers(s: RealtimeConnection, etype: str) -> int:
    """How many ``etype`` events belong to the conversation's own responses (not to asides)."""
    return sum(1 for e in s.raw if e["type"] == etype and not aside_of(e))


#: After the take (and its trailing silence) is sent, how long the VAD may take to report speech.
NO_SPEECH_GRACE_S = 3.0


def _expect_speech(s: RealtimeConnection) -> None:
    """Raise :class:`NoSpeechHeard` at once if the server's VAD found no speech in the take: with
    turn detection no turn starts without it, and waiting for an answer would only time out."""
    try:
        s.wait_for(lambda: s.count("input_audio_buffer.speech_started") > 0 or errors_of(s),
                   "input_audio_buffer.speech_started", timeout=NO_SPEECH_GRACE_S)
    except BackendError:
        if s.closed:
            raise
        seconds = f" in {s.sent_s:.1f} s of audio" if s.sent_s else ""
        raise NoSpeechHeard(f"No speech was heard in your take{seconds}: the server's voice activity detection "
                            "found none, so no turn began. Check the microphone (muted, too far away, or the "
                            "wrong input device?) and record again.", code="no_speech") from None


def _silence_ms(s: RealtimeConnection) -> float:
    """The server VAD's silence window, as the backend reported it in ``session.updated``."""
    for event in reversed(s.raw):
        if event["type"] == "session.updated":
            session = event.get("session") or {}
            td = ((session.get("audio") or {}).get("input") or {}).get("turn_detection") or {}
            if td.get("type") == "server_vad":
                return float(td.get("silence_duration_ms") or DEFAULT_SILENCE_MS)
            return 0.0
    return float(DEFAULT_SILENCE_MS)


def _speech_run(s: RealtimeConnection, model: str) -> RealtimeRun:
    tl = s.timeline()
    responses = []
    for done in s.raw:
        if done["type"] != "response.done" or aside_of(done):
            continue
        resp = done.get("response") or {}
        rid = resp.get("id")
        deltas = [e for e in s.raw if e["type"] == AUDIO_DELTA and e.get("response_id") == rid]
        pcm = b"".join(base64.b64decode(e.get("delta", "")) for e in deltas)
        clip = Audio.from_bytes(pcm, "pcm", sr=SAMPLE_RATE) if pcm else None
        said = "".join(
            e.get("delta", "")
            for e in s.raw
            if e["type"] == "response.output_audio_transcript.delta" and e.get("response_id") == rid
        )
        if not said:
            said = "".join(e.get("delta", "") for e in s.raw
                           if e["type"] == "response.output_text.delta" and e.get("response_id") == rid)
        times = [e.t for e in tl.events if e.response_id == rid and e.direction == "server"]
        audio_times = [e.t for e in tl.events if e.response_id == rid and e.type == AUDIO_DELTA]
        responses.append(
            MappingProxyType(
                {
                    "id": rid,
                    "status": resp.get("status"),
                    "reason": (resp.get("status_details") or {}).get("reason"),
                    "transcript": said,
                    "audio": clip,
                    "usage": resp.get("usage"),
                    "t_created": min(times) if times else None,
                    "t_first_audio": min(audio_times) if audio_times else None,
                    "t_done": max(times) if times else None,
                }
            )
        )
    clips = [r["audio"] for r in responses if r["audio"] is not None]
    output = Audio.concat(clips).replace(source="realtime output") if clips else None
    completed = [r for r in responses if r["status"] == "completed"] or responses
    inputs = tuple((e.text or "").strip() for e in tl.of(TRANSCRIPT_DONE))
    latency: dict[str, float] = {}
    stops = tl.of(SPEECH_STOPPED)
    first_audio = tl.first(AUDIO_DELTA)
    if stops and first_audio is not None:
        stop = stops[0]
        latency["speech_stopped_to_first_audio"] = first_audio - stop.t
        if stop.audio_ms is not None and s.t0 is not None:
            # audio_end_ms includes the VAD's silence window (OpenAI documents it so): the speech
            # itself ended silence_duration_ms earlier, and that audio left the client at sent_at().
            end_of_speech = s.sent_at(max(0.0, (stop.audio_ms - _silence_ms(s)) / 1000.0))
            latency["vad_endpointing"] = stop.t - end_of_speech
            latency["end_of_speech_to_first_audio"] = first_audio - end_of_speech
    if responses and responses[0]["t_done"] is not None and stops:
        latency["response_total"] = responses[0]["t_done"] - stops[0].t
    return RealtimeRun(kind="realtime", model=model, input=s.input_audio(), timeline=tl,
                       transcript=completed[-1]["transcript"] if completed else "", input_transcripts=inputs,
                       output=output, responses=tuple(responses), latency=MappingProxyType(latency),
                       asides=MappingProxyType(Asides.answers(s.raw)))
