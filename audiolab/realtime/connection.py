"""The WebSocket side of :mod:`audiolab.realtime.conversation`: one session, its threads and its clock.

A receiver thread records every server event (with its time) while the caller's thread sends
audio, paced like a microphone. Nothing here is public: use
:func:`~audiolab.realtime.conversation.transcribe_realtime` and
:func:`~audiolab.realtime.conversation.converse`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterable
from types import MappingProxyType

import numpy as np

from audiolab.audio import PCM_RATE, Audio
from audiolab.errors import BackendError, InvalidRequest
from audiolab.realtime.events import APPEND, AUDIO_DELTA
from audiolab.realtime.timeline import TimedEvent, Timeline

SAMPLE_RATE = PCM_RATE  # the Realtime API's pcm16 rate, both directions: audio.PCM_RATE


def silence(chunk_ms: int) -> Audio:
    return Audio.from_array(np.zeros(int(SAMPLE_RATE * chunk_ms / 1000), np.float32), SAMPLE_RATE)


def _compact(event: dict) -> tuple[dict, int]:
    """Strip base64 audio from an event, keeping its size."""
    data = dict(event)
    nbytes = 0
    for key in ("delta", "audio"):
        if key in data and isinstance(data[key], str) and (
                event.get("type") in (AUDIO_DELTA, APPEND)):
            nbytes = len(data[key]) * 3 // 4
            data.pop(key)
    return data, nbytes


def _text_of(event: dict) -> str | None:
    for key in ("delta", "transcript", "text"):
        value = event.get(key)
        if isinstance(value, str) and event.get("type") != AUDIO_DELTA:
            return value
    return None


def chunks_of(audio: Audio | Iterable[Audio], chunk_ms: int) -> tuple[Iterable[Audio], bool]:
    """(chunks to send, whether the source is a finished clip that can be paced)."""
    if isinstance(audio, Audio):
        clip = audio.to_mono().resample(SAMPLE_RATE) if audio.sr != SAMPLE_RATE else audio.to_mono()
        step = max(1, int(SAMPLE_RATE * chunk_ms / 1000))
        samples = np.asarray(clip.samples)
        parts = [Audio.from_array(samples[i:i + step], SAMPLE_RATE) for i in range(0, len(samples), step)]
        return parts, True
    if isinstance(audio, (str, bytes)) or not isinstance(audio, Iterable):
        raise InvalidRequest(
            "audio must be an Audio or an iterable of Audio chunks (e.g. from the Recorder).", param="audio"
        )
    return audio, False


class RealtimeConnection:
    """One WebSocket session: a receiver thread records events; the caller's thread sends."""

    def __init__(self, lab, *, kind: str, model: str | None, session: dict, timeout: float, handlers=()):
        self.kind = kind
        self.model = model
        self.timeout = timeout
        self.events: list[TimedEvent] = []
        self.raw: list[dict] = []
        self.t0: float | None = None
        self.cond = threading.Condition()
        self.sent_audio: list[np.ndarray] = []
        self.sent_s = 0.0  # seconds of audio appended so far
        self.sent_marks: list[tuple[float, float]] = []  # (session time, seconds sent) after each append
        self.handlers: list = list(handlers)  # callables(event_dict) run on the receiver thread
        if kind == "transcription":
            manager = lab.client.realtime.connect(extra_query={"intent": "transcription"})
        else:
            manager = lab.client.realtime.connect(model=model)
        self.conn = manager.enter()
        self.closed = False
        self.error: BaseException | None = None
        self.receiver = threading.Thread(target=self._receive, name="audiolab-realtime-recv", daemon=True)
        self.receiver.start()
        self.send({"type": "session.update", "session": session})
        self.wait_for(
            lambda: any(e["type"] in ("session.updated", "error") for e in self.raw), "session.updated"
        )
        errors = [e for e in self.raw if e["type"] == "error"]
        if errors:
            self.close()
            err = errors[0].get("error") or {}
            raise InvalidRequest(f"The realtime session refused its configuration: {err.get('message')}",
                                 param=err.get("param"), code=err.get("code"))

    def now(self) -> float:
        return 0.0 if self.t0 is None else time.perf_counter() - self.t0

    def _record(self, event: dict, direction: str) -> None:
        data, nbytes = _compact(event)
        item_id = event.get("item_id")
        if item_id is None and isinstance(event.get("item"), dict):
            item_id = event["item"].get("id")
        response_id = event.get("response_id")
        if response_id is None and isinstance(event.get("response"), dict):
            response_id = event["response"].get("id")
        item = TimedEvent(
            t=self.now(),
            type=str(event.get("type")),
            direction=direction,
            item_id=item_id,
            response_id=response_id,
            audio_ms=event.get("audio_start_ms", event.get("audio_end_ms")),
            text=_text_of(event),
            audio_bytes=nbytes,
            data=MappingProxyType(data),
        )
        with self.cond:
            self.events.append(item)
            if direction == "server":
                self.raw.append(event)
            self.cond.notify_all()

    def _receive(self) -> None:
        try:
            while True:
                event = json.loads(self.conn.recv_bytes())
                self._record(event, "server")
                for handler in self.handlers:
                    handler(event)
        except BaseException as exc:  # the socket closed (normally, by close()) or broke
            with self.cond:
                if not self.closed:
                    self.error = exc
                self.closed = True
                self.cond.notify_all()

    def send(self, event: dict) -> None:
        if event["type"] != APPEND:
            self._record(event, "client")
        self.conn.send(event)

    def append(self, chunk: Audio) -> None:
        if self.t0 is None:
            self.t0 = time.perf_counter()
        if chunk.sr != SAMPLE_RATE:
            chunk = chunk.to_mono().resample(SAMPLE_RATE)
        chunk = chunk.to_mono()
        self.sent_audio.append(np.asarray(chunk.samples))
        event = {"type": APPEND, "audio": base64.b64encode(chunk.to_pcm16()).decode("ascii")}
        self._record(event, "client")
        self.conn.send(event)

    def stream(self, audio, *, chunk_ms: int, pace: float, silence_s: float = 0.0) -> None:
        """Send a clip (paced) or live chunks (as they come), then ``silence_s`` of silence."""
        parts, pacable = chunks_of(audio, chunk_ms)
        for chunk in parts:
            self.paced_append(chunk, pace if pacable else 0.0)
        self.pad(silence_s, chunk_ms=chunk_ms, pace=pace)

    def pad(self, seconds: float, *, chunk_ms: int, pace: float) -> None:
        quiet = silence(chunk_ms)
        for _ in range(int(round(seconds * 1000 / chunk_ms))):
            self.paced_append(quiet, pace)

    def paced_append(self, chunk: Audio, pace: float) -> None:
        """Append ``chunk`` once the wall clock reaches its position in the stream (/ ``pace``)."""
        if pace > 0 and self.t0 is not None:
            delay = self.sent_s / pace - self.now()
            if delay > 0:
                time.sleep(delay)
        if self.error is not None:
            raise BackendError(f"The realtime connection broke: {self.error}") from self.error
        self.append(chunk)
        self.sent_s += chunk.duration
        self.sent_marks.append((self.now(), self.sent_s))

    def sent_at(self, position_s: float) -> float:
        """Session time at which the audio at ``position_s`` (in the input stream) was sent."""
        for t, upto in self.sent_marks:
            if upto >= position_s - 1e-6:
                return t
        return self.sent_marks[-1][0] if self.sent_marks else 0.0

    def wait_for(self, predicate, what: str, *, timeout: float | None = None) -> None:
        deadline = time.perf_counter() + (self.timeout if timeout is None else timeout)
        with self.cond:
            while not predicate():
                if self.closed:
                    raise BackendError(
                        f"The realtime connection closed while waiting for {what}: {self.error}"
                    )
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise BackendError(f"No {what} from the realtime backend within {self.timeout:.0f} s.")
                self.cond.wait(left)

    def count(self, type: str) -> int:
        return sum(1 for e in self.raw if e["type"] == type)

    def close(self) -> None:
        with self.cond:
            self.closed = True
        with contextlib.suppress(Exception):  # already closed by the server
            self.conn.close()
        self.receiver.join(timeout=5)

    def input_audio(self) -> Audio:
        samples = np.concatenate(self.sent_audio) if self.sent_audio else np.zeros(0, np.float32)
        return Audio.from_array(samples, SAMPLE_RATE, source="realtime input")

    def timeline(self) -> Timeline:
        with self.cond:
            return Timeline(tuple(self.events))


def turn_detection_of(value, *, create_response: bool | None = None):
    if value is None:
        return None
    if isinstance(value, str):
        value = {"type": value}
    value = dict(value)
    if create_response is not None and value.get("type") in ("server_vad", "semantic_vad"):
        value.setdefault("create_response", create_response)
        value.setdefault("interrupt_response", True)
    return value


def errors_of(s: RealtimeConnection) -> list[dict]:
    return [e.get("error") or {} for e in s.raw if e["type"] == "error"]
